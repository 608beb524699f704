//! `microvm`: the command line of the micro-VM launcher.
//!
//! The VM commands (run, doctor, initramfs) arrive with the microvm issues; until then
//! `microvm` says so plainly instead of pretending.

use clap::Parser;

/// A tiny KVM micro-VM launcher built on the rust-vmm crates.
#[derive(Parser)]
#[command(name = "microvm", version, about, long_about = None)]
struct Cli {}

fn main() {
    let _ = Cli::parse();
    eprintln!("microvm: no VM commands yet; they arrive with the microvm issues (see README)");
    std::process::exit(1);
}
