//! `cargo xtask fuzz [--seconds N] [TARGET]...`: runs the fuzz targets in
//! `fuzz/` (see its README) for N seconds each (default 30), starting from
//! the committed seed corpus, and fails if one finds a crash. `cargo xtask
//! test` runs it for 20 s each. Needs `cargo install cargo-fuzz` (without
//! it, skipped with a message, except under CI, where it fails); libFuzzer's instrumentation flags are
//! unstable rustc flags, allowed on the stable toolchain here with
//! `RUSTC_BOOTSTRAP=1` (no sanitizer: the targets hold no unsafe code of
//! their own, and the driver's is checked by its tests).

use crate::vm::assets::workspace_root;
use anyhow::{bail, Context};
use std::process::Command;

/// Usage of the command.
pub const USAGE: &str = "cargo xtask fuzz [--seconds N] [TARGET]...";

/// Every target in `fuzz/fuzz_targets/`.
pub const TARGETS: &[&str] = &["rx_writeback", "wire"];

/// Runs the command; returns the exit status.
pub fn main(args: &[String]) -> crate::error::Result<i32> {
    let mut seconds = 30u32;
    let mut targets = Vec::new();
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--seconds" => {
                seconds = it
                    .next()
                    .and_then(|v| v.parse().ok())
                    .with_context(|| format!("--seconds needs a number; usage: {USAGE}"))?
            }
            t if TARGETS.contains(&t) => targets.push(t),
            other => bail!("unknown argument {other}; targets: {TARGETS:?}; usage: {USAGE}"),
        }
    }
    if targets.is_empty() {
        targets = TARGETS.to_vec();
    }
    let fuzz_dir = workspace_root().join("fuzz");
    let installed = Command::new("cargo")
        .args(["fuzz", "--version"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !installed {
        if std::env::var_os("CI").is_some() {
            bail!("cargo-fuzz is not installed: cargo install cargo-fuzz");
        }
        // `cargo xtask test` on a developer's machine: say so, do not fail.
        println!("fuzz: SKIPPED: cargo-fuzz is not installed (cargo install cargo-fuzz)");
        return Ok(0);
    }
    for target in targets {
        // Work on a copy of the seeds, so that a run adds nothing to the repository.
        let corpus = crate::vm::assets::guest_dir().join(format!("fuzz-corpus-{target}"));
        let _ = std::fs::remove_dir_all(&corpus);
        std::fs::create_dir_all(&corpus)?;
        for seed in std::fs::read_dir(fuzz_dir.join("corpus").join(target))? {
            let seed = seed?.path();
            std::fs::copy(&seed, corpus.join(seed.file_name().expect("a file")))?;
        }
        println!("fuzz: {target} for {seconds} s");
        let status = Command::new("cargo")
            .current_dir(&fuzz_dir)
            .env("RUSTC_BOOTSTRAP", "1")
            .args(["fuzz", "run", "--sanitizer", "none", target])
            .arg(&corpus)
            .args(["--", &format!("-max_total_time={seconds}")])
            .status()
            .context("running cargo fuzz")?;
        if !status.success() {
            println!("fuzz: {target} FAILED (the input is in fuzz/artifacts/{target}/)");
            return Ok(1);
        }
        println!("fuzz: {target} ok");
    }
    Ok(0)
}
