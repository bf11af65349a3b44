//! `cargo xtask`: the project's test bench.
//!
//! Commands:
//! - `test [--vm-only] [FILTER]`: static checks, unit tests, then end-to-end
//!   scenarios in QEMU guests (see [`test`]).
//! - `bench [--model M]... [--quick]`: driver vs kernel benchmark, written to
//!   `bench/results/` (see [`bench`]).
//! - `demo`: the echo demo on an emulated 82574L (see [`demo`]).
//! - `run [...] -- CMD`: boot a guest and run one command (see [`run`]).
//! - `soak [--minutes N]`: a long echo with faults in the middle (see [`soak`]).
//! - `fuzz [--seconds N] [TARGET]...`: the fuzz targets of `fuzz/` (see [`fuzz`]).
//! - `assets`: only prepare QEMU, the guest kernel and the initramfs.
//! - `man [DIR]`, `completions [DIR]`: the `e1000` man pages and shell
//!   completions (see [`docs`]).

use std::process::ExitCode;
use xtask::cmd::{demo, docs, fuzz, run, soak, test};
use xtask::vm::{assets, initramfs};
use xtask::{bench, error};

/// Usage text of every command.
const USAGE: &str = "usage:\n  cargo xtask test [--vm-only] [FILTER]\n  cargo xtask demo [--count N]\n  cargo xtask bench [--model M]... [--quick] [--out DIR]\n  \
                     cargo xtask run [--model M]... [--bind PCI|none]... [--trace PATTERN] [--timeout SECS] -- <command>\n  \
                     cargo xtask soak [--minutes N] [--model M] [--rate R]\n  cargo xtask fuzz [--seconds N] [TARGET]...\n  cargo xtask assets\n  cargo xtask man [DIR]\n  cargo xtask completions [DIR]";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("run") => run::main(&args[1..]),
        Some("test") => test::main(&args[1..]),
        Some("demo") => demo::main(&args[1..]),
        Some("bench") => bench::main(&args[1..]),
        Some("soak") => soak::main(&args[1..]),
        Some("fuzz") => fuzz::main(&args[1..]),
        Some("assets") => assets_main(),
        Some("man") => docs::man(&args[1..]),
        Some("completions") => docs::completions(&args[1..]),
        _ => {
            eprintln!("{USAGE}");
            return ExitCode::from(2);
        }
    };
    match result {
        Ok(code) => ExitCode::from(code.clamp(0, 255) as u8),
        Err(e) => {
            eprintln!("xtask: error: {e:#}");
            ExitCode::FAILURE
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
