//! eos-explorer: the desktop app (no arguments) and the headless command line.

mod cli;

use clap::Parser;

fn main() {
    eos_explorer::engine::reuse_large_allocations();
    let args = cli::Cli::parse();
    match cli::dispatch(args) {
        Ok(code) => std::process::exit(code),
        Err(e) => {
            eprintln!("error: {}", cli::render_error(&e));
            std::process::exit(1);
        }
    }
}
