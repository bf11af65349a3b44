//! `cargo xtask`: the project's test bench.
//!
//! Commands:
//! - `setup [--dry-run]`: install what the bench needs on the host (the
//!   only command that changes the host; see [`setup`]).
//! - `test [--vm-only] [FILTER]`: static checks, unit tests, then end-to-end
//!   scenarios in QEMU guests (see [`test`]).
//! - `bench [--model M]... [--quick]`: driver vs kernel benchmark, written to
//!   `bench/results/` (see [`bench`]).
//! - `demo`: the echo demo on an emulated 82574L (see [`demo`]).
//! - `run [...] -- CMD`: boot a guest and run one command (see [`run`]).
//! - `shell [--model M]...`: boot a guest and type commands into it, with
//!   host-side traffic on demand (see [`shell`]).
//! - `soak [--minutes N]`: a long echo with faults in the middle (see [`soak`]).
//! - `fuzz [--seconds N] [TARGET]...`: the fuzz targets of `fuzz/` (see [`fuzz`]).
//! - `assets`: only prepare QEMU, the guest kernel and the initramfs.
//! - `man [DIR]`, `completions [DIR]`: the `e1000` man pages and shell
//!   completions (see [`docs`]).

use std::process::ExitCode;
use xtask::cmd::setup::{self, Need};
use xtask::cmd::{demo, docs, fuzz, run, shell, soak, test};
use xtask::vm::{assets, initramfs};
use xtask::{bench, error};

/// Usage text of every command.
const USAGE: &str = "usage:\n  cargo xtask setup [--dry-run]\n  cargo xtask test [--vm-only] [FILTER]\n  cargo xtask demo [--count N]\n  cargo xtask shell [--model M]...\n  cargo xtask bench [--model M]... [--quick] [--out DIR]\n  \
                     cargo xtask run [--model M]... [--bind PCI|none]... [--trace PATTERN] [--timeout SECS] -- <command>\n  \
                     cargo xtask soak [--minutes N] [--model M] [--rate R]\n  cargo xtask fuzz [--seconds N] [TARGET]...\n  cargo xtask assets\n  cargo xtask man [DIR]\n  cargo xtask completions [DIR]";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let needs: &[Need] = match args.first().map(String::as_str) {
        Some("test") if args.iter().any(|a| a == "--vm-only") => &[Need::Guest, Need::Scenarios],
        Some("test") => &[Need::Guest, Need::Scenarios, Need::Checks],
        Some("run" | "shell" | "demo" | "bench" | "soak" | "assets") => &[Need::Guest],
        _ => &[],
    };
    let result = setup::require(needs).and_then(|()| dispatch(&args));
    match result {
        Ok(code) => ExitCode::from(code.clamp(0, 255) as u8),
        Err(e) => {
            eprintln!("xtask: error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// Runs the command `args` names; exit status 2 for an unknown one.
fn dispatch(args: &[String]) -> error::Result<i32> {
    let rest = args.get(1..).unwrap_or_default();
    match args.first().map(String::as_str) {
        Some("setup") => setup::main(rest),
        Some("run") => run::main(rest),
        Some("shell") => shell::main(rest),
        Some("test") => test::main(rest),
        Some("demo") => demo::main(rest),
        Some("bench") => bench::main(rest),
        Some("soak") => soak::main(rest),
        Some("fuzz") => fuzz::main(rest),
        Some("assets") => assets_main(),
        Some("man") => docs::man(rest),
        Some("completions") => docs::completions(rest),
        _ => {
            eprintln!("{USAGE}");
            Ok(2)
        }
    }
}

/// Prepares every asset and reports where they are.
fn assets_main() -> error::Result<i32> {
    let qemu = assets::ensure_qemu()?;
    let kernel = assets::ensure_kernel()?;
    let binaries = assets::build_guest_binaries()?;
    let initramfs = initramfs::build(&kernel, &binaries)?;
    println!(
        "qemu: {qemu}\nkernel: {}\ninitramfs: {}",
        kernel.vmlinuz.display(),
        initramfs.display()
    );
    Ok(0)
}
