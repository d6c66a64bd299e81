//! The command line: `run` (headless training), `simulate` (theory), `bench`, `presets`;
//! without a subcommand the desktop app opens.

use clap::{Parser, Subcommand};

#[derive(Parser, Debug)]
#[command(
    name = "eos-explorer",
    version,
    about = "Watch gradient descent find the edge of stability",
    long_about = "Without a subcommand, opens the desktop app on the embedded digits demo.\n\
                  Subcommands run the same engine headless."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// List the presets (shared by the app's menu and `--preset`).
    Presets,
}

/// Run the parsed command; returns the process exit code.
pub fn dispatch(cli: Cli) -> anyhow::Result<i32> {
    match cli.command {
        Some(Command::Presets) => {
            println!("(presets are being written)");
            Ok(0)
        }
        None => {
            println!("the desktop app is not built yet; try `eos-explorer --help`");
            Ok(0)
        }
    }
}
