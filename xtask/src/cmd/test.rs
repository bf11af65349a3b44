//! `cargo xtask test [--vm-only] [FILTER]`: the test runner.
//!
//! Runs the static checks (`cargo fmt --check`, `cargo clippy`, `cargo test`)
//! as tests named `static::*`, then the end-to-end scenarios of
//! [`crate::scenarios::suites`], booting one guest per suite. Only tests whose
//! name contains FILTER run. Prints one line per test and ends with the line
//! `N passed, N failed`.

use crate::error::{Error, Result};
use crate::scenarios::suite::Scenario;
use crate::vm::guest::{Guest, GuestConfig, DIAGNOSTICS_MARKER};
use std::process::Command;
use std::time::{Duration, Instant};

/// Pass/fail bookkeeping and reporting.
#[derive(Default)]
struct Tally {
    passed: usize,
    failed: Vec<String>,
}

impl Tally {
    fn report(&mut self, name: &str, took: Duration, result: &Result<()>) {
        match result {
            Ok(()) => {
                self.passed += 1;
                println!("test {name} ... ok ({:.1}s)", took.as_secs_f64());
            }
            Err(e) => {
                self.failed.push(name.to_string());
                println!("test {name} ... FAILED ({:.1}s)", took.as_secs_f64());
                for line in format!("{e:#}").lines() {
                    println!("    {line}");
                }
            }
        }
    }
}

/// Runs a cargo command as a test, showing its output only if it fails.
fn cargo_check(args: &[&str]) -> Result<()> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let out = Command::new(cargo)
        .args(args)
        .current_dir(crate::vm::assets::workspace_root())
        .output()?;
    if out.status.success() {
        return Ok(());
    }
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let lines: Vec<&str> = text.lines().collect();
    let tail = lines[lines.len().saturating_sub(60)..].join("\n");
    Err(Error::msg(format!(
        "`cargo {}` failed ({}):\n{tail}",
        args.join(" "),
        out.status
    )))
}

const STATIC_CHECKS: &[(&str, &[&str])] = &[
    (
        "static::fmt",
        &["fmt", "--all", "--check", "--", "--color", "never"],
    ),
    (
        "static::clippy",
        &[
            "clippy",
            "--workspace",
            "--all-targets",
            "--quiet",
            "--",
            "-D",
            "warnings",
        ],
    ),
    (
        "static::clippy_model_and_fuzzing",
        &[
            "clippy",
            "-p",
            "vfio-e1000",
            "--all-targets",
            "--features",
            "model,fuzzing",
            "--quiet",
            "--",
            "-D",
            "warnings",
        ],
    ),
    ("static::unit_tests", &["test", "--workspace", "--quiet"]),
    // Miri needs a nightly toolchain, which these machines cannot get:
    // valgrind's memcheck runs the unit tests instead (the rings, the pool
    // and its counts, the model's DMA into the driver's memory).
    (
        "static::unit_tests_under_valgrind",
        &[
            "--config",
            "target.x86_64-unknown-linux-gnu.runner=['valgrind', '--error-exitcode=9', '-q']",
            "test",
            "-p",
            "vfio-e1000",
            "--lib",
            "--quiet",
        ],
    ),
    ("static::fuzz", &["xtask", "fuzz", "--seconds", "20"]),
    (
        "static::package",
        &["package", "-p", "vfio-e1000", "--allow-dirty", "--quiet"],
    ),
    (
        "static::docs",
        &[
            "rustdoc",
            "-p",
            "vfio-e1000",
            "--all-features",
            "--quiet",
            "--",
            "-D",
            "warnings",
        ],
    ),
];

/// A check that runs one of the bench's commands.
type CommandCheck = fn() -> Result<()>;

/// The bench's own commands as a newcomer runs them, each in a process of
/// its own (they boot their own guest).
const COMMAND_CHECKS: &[(&str, CommandCheck)] = &[
    ("cmd::demo_echoes_every_frame", demo_echoes_every_frame),
    ("cmd::shell_runs_commands_with_host_traffic", shell_session),
];

/// `cargo xtask demo` ends with the line the README promises.
fn demo_echoes_every_frame() -> Result<()> {
    let out = Command::new(std::env::current_exe()?)
        .arg("demo")
        .output()?;
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stderr),
        String::from_utf8_lossy(&out.stdout)
    );
    crate::ensure!(
        out.status.success()
            && text.contains("demo: 200/200 frames echoed by 82574L at 0000:00:03.0"),
        "`cargo xtask demo` exited {}:\n{text}",
        out.status
    );
    Ok(())
}

/// `cargo xtask shell` typed at: a background `e1000 echo`, `:ping` from the
/// host, a foreground command interrupted with Ctrl-C (SIGINT to xtask),
/// then `:quit`.
fn shell_session() -> Result<()> {
    use std::io::{BufRead, BufReader, Write};
    let mut child = Command::new(std::env::current_exe()?)
        .arg("shell")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()?;
    let mut stdin = child.stdin.take().expect("piped");
    let (tx, rx) = std::sync::mpsc::channel::<String>();
    let stdout = child.stdout.take().expect("piped");
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(|l| l.ok()) {
            let _ = tx.send(line);
        }
    });
    let mut seen = Vec::new();
    let mut expect = |want: &str, within: Duration| -> Result<()> {
        let deadline = Instant::now() + within;
        while let Some(left) = deadline.checked_duration_since(Instant::now()) {
            match rx.recv_timeout(left) {
                Ok(line) => {
                    let found = line.contains(want);
                    seen.push(line);
                    if found {
                        return Ok(());
                    }
                }
                Err(_) => break,
            }
        }
        crate::bail!(
            "the shell never printed {want:?}; it printed:\n{}",
            seen.join("\n")
        )
    };
    let session = (|| -> Result<()> {
        expect("try: e1000 info", Duration::from_secs(300))?;
        writeln!(stdin, "e1000 echo 0000:00:03.0 &")?;
        expect("[1] echo: ready on 0000:00:03.0", Duration::from_secs(60))?;
        writeln!(stdin, ":ping 20")?;
        expect("20/20 echoed, 0 lost", Duration::from_secs(30))?;
        writeln!(stdin, "sleep 600")?;
        std::thread::sleep(Duration::from_secs(3));
        // SAFETY: kill has no memory effects; the pid is our child's.
        unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
        expect("(exited 130)", Duration::from_secs(30))?;
        writeln!(stdin, ":quit")?;
        Ok(())
    })();
    if session.is_err() {
        let _ = child.kill();
    }
    let status = child.wait()?;
    session?;
    crate::ensure!(status.success(), "the shell exited {status} after :quit");
    Ok(())
}

/// Entry point; returns the process exit status.
pub fn main(args: &[String]) -> Result<i32> {
    let mut vm_only = false;
    let mut filter = String::new();
    for a in args {
        match a.as_str() {
            "--vm-only" => vm_only = true,
            f if !f.starts_with('-') && filter.is_empty() => filter = f.to_string(),
            other => crate::bail!(
                "unknown argument {other}; usage: cargo xtask test [--vm-only] [FILTER]"
            ),
        }
    }
    let started = Instant::now();
    let mut tally = Tally::default();
    if !vm_only {
        for (name, cmd) in STATIC_CHECKS.iter().filter(|(n, _)| n.contains(&filter)) {
            let t = Instant::now();
            let result = cargo_check(cmd);
            tally.report(name, t.elapsed(), &result);
        }
    }
    for suite in crate::scenarios::suites() {
        let selected: Vec<&Scenario> = suite
            .scenarios
            .iter()
            .filter(|s| s.name.contains(&filter))
            .collect();
        if !selected.is_empty() {
            run_suite(&suite.config, &selected, &mut tally);
        }
    }
    for (name, check) in COMMAND_CHECKS {
        if name.contains(&filter) {
            let t = Instant::now();
            let result = check();
            tally.report(name, t.elapsed(), &result);
        }
    }
    if !tally.failed.is_empty() {
        println!("failed: {}", tally.failed.join(" "));
    }
    println!("took {:.1}s", started.elapsed().as_secs_f64());
    println!("{} passed, {} failed", tally.passed, tally.failed.len());
    Ok(if tally.failed.is_empty() { 0 } else { 1 })
}

/// Boots `config` and runs `scenarios` in it, rebooting if a scenario kills the guest.
fn run_suite(config: &GuestConfig, scenarios: &[&Scenario], tally: &mut Tally) {
    let models: Vec<&str> = config.nics.iter().map(|n| n.model.as_str()).collect();
    let mut config = config.clone();
    if let Ok(pattern) = std::env::var("XTASK_TRACE") {
        config.trace = Some(pattern);
    }
    let mut guest: Option<Guest> = None;
    for scenario in scenarios {
        if guest.as_ref().is_some_and(|g| !g.is_alive()) {
            guest = None;
        }
        if guest.is_none() {
            let t = Instant::now();
            match Guest::boot(config.clone()) {
                Ok(g) => {
                    println!(
                        "boot [{}] ... ready in {:.1}s",
                        models.join(", "),
                        g.boot_time().as_secs_f64()
                    );
                    if let Some(p) = g.trace_path() {
                        println!("    QEMU trace output: {}", p.display());
                    }
                    guest = Some(g);
                }
                Err(e) => {
                    println!("boot [{}] ... FAILED", models.join(", "));
                    tally.report(&scenario.name, t.elapsed(), &Err(e));
                    let skipped = Err(Error::msg("not run: the guest failed to boot (see above)"));
                    for rest in scenarios
                        .iter()
                        .skip_while(|s| s.name != scenario.name)
                        .skip(1)
                    {
                        tally.report(&rest.name, Duration::ZERO, &skipped);
                    }
                    return;
                }
            }
        }
        let g = guest.as_mut().expect("booted");
        let t = Instant::now();
        let result = (scenario.run)(g).map_err(|e| {
            if format!("{e:#}").contains(DIAGNOSTICS_MARKER) {
                e
            } else {
                g.error(e)
            }
        });
        tally.report(&scenario.name, t.elapsed(), &result);
    }
}
