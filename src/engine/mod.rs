//! The compute core. Nothing here imports egui, eframe or rfd.

pub mod data;
pub mod export;
pub mod float;
pub mod rng;
pub mod theory;

pub use float::{Float, Precision};
pub use rng::Rng;
pub mod bench;
pub mod central_flow;
pub mod config;
pub mod eigen;
pub mod error;
pub mod estimate;
pub mod figure;
pub mod lanczos;
pub mod lobpcg;
pub mod model;
pub mod network;
pub mod plot;
pub mod presets;
pub mod probe;
pub mod run_folder;
pub mod session;
pub mod sgemm;
pub mod vecops;
pub mod worker;

/// Keep freed large buffers in the heap for reuse. glibc hands blocks above its mmap threshold
/// (128 KiB at first) back to the kernel when they are freed, so every parameter-sized vector
/// an eigensolver allocates (5 MB on CIFAR-5k) faulted its pages in again: about an eighth of
/// a warm block solve's time went to page faults (perf, on this 2-core VM). The threshold is
/// raised to glibc's maximum (32 MiB) and trimming to 512 MiB. Call once at start-up, before
/// other threads; does nothing where the C library is not glibc.
pub fn reuse_large_allocations() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    #[allow(unsafe_code)]
    // SAFETY: mallopt only changes allocator tunables; it is called before any other thread.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 32 << 20);
        libc::mallopt(libc::M_TRIM_THRESHOLD, 512 << 20);
    }
}
