//! `cargo xtask setup [--dry-run]`: installs on the host what the bench
//! needs and the project does not fetch into `target/` by itself. Only this
//! command changes the host; `demo`, `test`, `run`, `shell`, `bench` and
//! `soak` check first and say what is missing ([`require`]).
//!
//! | what | for | how |
//! |---|---|---|
//! | QEMU 10 (`igb` model) | every guest | apt, from bookworm-backports (adds the source) |
//! | valgrind | `static::unit_tests_under_valgrind` | apt |
//! | iperf3 | the host's end of the iperf3 scenarios | apt |
//! | tshark | the pcap checks of the CLI scenarios (skipped without it) | apt |
//! | clippy, rustfmt | `static::clippy`, `static::fmt` | rustup |
//! | cargo-fuzz | `static::fuzz` | cargo install |
//!
//! The guest kernel, busybox and DPDK are not installed: they are
//! downloaded with `apt-get download` and unpacked under `target/guest/`.

use crate::bail;
use crate::error::{Context, Result};
use crate::vm::assets::{is_root, qemu_has_igb, run};
use std::io::{BufRead, IsTerminal, Write};
use std::process::Command;

/// Where the backports source for a recent QEMU is written.
const BACKPORTS_SOURCES: &str = "/etc/apt/sources.list.d/bookworm-backports.sources";

/// The deb822 source of bookworm-backports.
const BACKPORTS: &str = "Types: deb\nURIs: http://deb.debian.org/debian\nSuites: bookworm-backports\n\
                         Components: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n";

/// Who needs a requirement.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Need {
    /// Booting a guest (`demo`, `run`, `shell`, `bench`, `soak`, the scenarios).
    Guest,
    /// The static checks of `cargo xtask test`.
    Checks,
    /// The end-to-end scenarios (host-side programs they run).
    Scenarios,
    /// Nice to have: a check is skipped, saying so, without it.
    Optional,
}

/// How a requirement is installed.
enum Install {
    /// `apt-get install -t bookworm-backports PKG` after adding the source.
    Backports(&'static str),
    /// `apt-get install --no-install-recommends PKG`.
    Apt(&'static str),
    /// `rustup component add NAME`.
    Rustup(&'static str),
    /// `cargo install --locked NAME`.
    Cargo(&'static str),
}

/// One thing the bench needs on the host.
struct Requirement {
    what: &'static str,
    need: Need,
    present: fn() -> bool,
    install: Install,
}

/// Whether `program args` runs and exits 0.
fn runs(program: &str, args: &[&str]) -> bool {
    Command::new(program)
        .args(args)
        .output()
        .is_ok_and(|o| o.status.success())
}

const REQUIREMENTS: &[Requirement] = &[
    Requirement {
        what: "QEMU with the igb model",
        need: Need::Guest,
        present: qemu_has_igb,
        install: Install::Backports("qemu-system-x86"),
    },
    Requirement {
        what: "valgrind",
        need: Need::Checks,
        present: || runs("valgrind", &["--version"]),
        install: Install::Apt("valgrind"),
    },
    Requirement {
        what: "clippy",
        need: Need::Checks,
        present: || runs("cargo", &["clippy", "--version"]),
        install: Install::Rustup("clippy"),
    },
    Requirement {
        what: "rustfmt",
        need: Need::Checks,
        present: || runs("cargo", &["fmt", "--version"]),
        install: Install::Rustup("rustfmt"),
    },
    Requirement {
        what: "cargo-fuzz",
        need: Need::Checks,
        present: || runs("cargo", &["fuzz", "--version"]),
        install: Install::Cargo("cargo-fuzz"),
    },
    Requirement {
        what: "iperf3",
        need: Need::Scenarios,
        present: || runs("iperf3", &["--version"]),
        install: Install::Apt("iperf3"),
    },
    Requirement {
        what: "tshark",
        need: Need::Optional,
        present: || runs("tshark", &["--version"]),
        install: Install::Apt("tshark"),
    },
];

impl Install {
    /// The commands, as a user would type them.
    fn commands(&self) -> Vec<String> {
        match self {
            Install::Backports(pkg) => vec![
                format!("cat > {BACKPORTS_SOURCES} <<'END'\n{BACKPORTS}END"),
                "apt-get update".into(),
                format!("apt-get install -y -t bookworm-backports {pkg}"),
            ],
            Install::Apt(pkg) => vec![format!("apt-get install -y --no-install-recommends {pkg}")],
            Install::Rustup(c) => vec![format!("rustup component add {c}")],
            Install::Cargo(c) => vec![format!("cargo install --locked {c}")],
        }
    }

    fn needs_root(&self) -> bool {
        matches!(self, Install::Backports(_) | Install::Apt(_))
    }

    fn run(&self) -> Result<()> {
        let apt = |args: &[&str]| {
            run(Command::new("apt-get")
                .env("DEBIAN_FRONTEND", "noninteractive")
                .args(args))
        };
        match self {
            Install::Backports(pkg) => {
                std::fs::write(BACKPORTS_SOURCES, BACKPORTS).context(BACKPORTS_SOURCES)?;
                apt(&["update", "-q"])?;
                apt(&["install", "-y", "-q", "-t", "bookworm-backports", pkg])?;
            }
            Install::Apt(pkg) => {
                if *pkg == "tshark" {
                    // Do not ask whether non-root users may capture.
                    let mut debconf = Command::new("debconf-set-selections")
                        .stdin(std::process::Stdio::piped())
                        .spawn()?;
                    debconf.stdin.take().expect("piped").write_all(
                        b"wireshark-common wireshark-common/install-setuid boolean false\n",
                    )?;
                    debconf.wait()?;
                }
                if apt(&["install", "-y", "-q", "--no-install-recommends", pkg]).is_err() {
                    apt(&["update", "-q"])?;
                    apt(&["install", "-y", "-q", "--no-install-recommends", pkg])?;
                }
            }
            Install::Rustup(c) => {
                run(Command::new("rustup").args(["component", "add", c]))?;
            }
            Install::Cargo(c) => {
                run(Command::new("cargo").args(["install", "--locked", "--quiet", c]))?;
            }
        }
        Ok(())
    }
}

/// The requirements of `needs` that are missing.
fn missing(needs: &[Need]) -> Vec<&'static Requirement> {
    REQUIREMENTS
        .iter()
        .filter(|r| needs.contains(&r.need) && !(r.present)())
        .collect()
}

/// Installs `reqs`; fails on the first needed one that cannot be
/// installed (an optional one only says so: its check is skipped).
fn install(reqs: &[&Requirement]) -> Result<()> {
    for r in reqs {
        eprintln!(
            "setup: installing {} ({})",
            r.what,
            r.install.commands().join("; ")
        );
        let result = r
            .install
            .run()
            .with_context(|| format!("installing {}", r.what))
            .and_then(|()| {
                crate::ensure!(
                    (r.present)(),
                    "{} is still missing after installing it",
                    r.what
                );
                Ok(())
            });
        match result {
            Err(e) if r.need == Need::Optional => {
                eprintln!("setup: {e:#}; the checks that use it will say they skipped")
            }
            other => other?,
        }
    }
    Ok(())
}

/// Checks that what `needs` asks for is on the host. If something is
/// missing, asks whether to install it when a root user is at a terminal;
/// otherwise fails, naming what is missing and `cargo xtask setup`.
pub fn require(needs: &[Need]) -> Result<()> {
    let missing = missing(needs);
    if missing.is_empty() {
        return Ok(());
    }
    let names: Vec<&str> = missing.iter().map(|r| r.what).collect();
    let interactive = std::io::stdin().is_terminal() && std::io::stderr().is_terminal();
    if interactive && is_root() {
        eprint!(
            "xtask: missing on this host: {}. Install now, as `cargo xtask setup` would? [y/N] ",
            names.join(", ")
        );
        let mut answer = String::new();
        std::io::stdin().lock().read_line(&mut answer)?;
        if answer.trim().eq_ignore_ascii_case("y") {
            return install(&missing);
        }
    }
    bail!(
        "missing on this host: {}; `cargo xtask setup` installs {} (as root; \
         `cargo xtask setup --dry-run` prints the commands)",
        names.join(", "),
        if names.len() == 1 { "it" } else { "them" }
    )
}

/// Entry point; returns the exit status.
pub fn main(args: &[String]) -> Result<i32> {
    let dry_run = match args {
        [] => false,
        [a] if a == "--dry-run" => true,
        _ => bail!("usage: cargo xtask setup [--dry-run]"),
    };
    let missing = missing(&[Need::Guest, Need::Checks, Need::Scenarios, Need::Optional]);
    for r in REQUIREMENTS {
        let state = if missing.iter().any(|m| std::ptr::eq(*m, r)) {
            "missing"
        } else {
            "present"
        };
        println!("setup: {:<24} {state}", r.what);
    }
    if missing.is_empty() {
        println!("setup: nothing to do");
        return Ok(0);
    }
    if dry_run || (!is_root() && missing.iter().any(|r| r.install.needs_root())) {
        if !dry_run {
            println!("setup: not root; as root, run:");
        }
        for r in &missing {
            for c in r.install.commands() {
                println!("{c}");
            }
        }
        return Ok(if dry_run { 0 } else { 1 });
    }
    install(&missing)?;
    println!("setup: done");
    Ok(0)
}
