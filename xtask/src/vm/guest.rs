//! A QEMU guest running the bench initramfs, driven through the guest agent.
//!
//! One boot serves many commands: [`Guest::run`] runs a shell command and
//! collects its output and exit status, [`Guest::spawn`] starts one in the
//! background and returns a [`Job`] to follow. Each emulated NIC is wired to
//! a UDP socket on 127.0.0.1 that the host uses as the NIC's link peer.

pub use super::config::{nic_pci, GuestConfig, Link, Nic, NicConfig, Placement};
use super::job::JobHost;
pub use super::job::{Job, JobResult};
use crate::error::{Context, Error, Result};
use crate::vm::assets;
use crate::vm::console::{Console, WaitError};
use crate::vm::qemu::{qemu_args, shell_quote, QemuArgs};
use crate::vm::qmp::Qmp;
use crate::{bail, ensure};
use std::fs::File;
use std::io::Write;
use std::os::fd::AsRawFd;
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

/// Marks the diagnostics section of an error message.
pub const DIAGNOSTICS_MARKER: &str = "--- guest console";

/// Assets shared by every boot of this process.
struct Prepared {
    qemu: &'static str,
    vmlinuz: PathBuf,
    initramfs: PathBuf,
    /// The bench's initramfs with DPDK appended, built on first use.
    with_dpdk: OnceLock<PathBuf>,
}

/// Builds the guest binaries and the initramfs once per process.
fn prepare() -> Result<&'static Prepared> {
    static PREPARED: OnceLock<Prepared> = OnceLock::new();
    if let Some(p) = PREPARED.get() {
        return Ok(p);
    }
    let qemu = assets::ensure_qemu()?;
    let kernel = assets::ensure_kernel()?;
    let binaries = assets::build_guest_binaries()?;
    let initramfs = crate::vm::initramfs::build(&kernel, &binaries)?;
    Ok(PREPARED.get_or_init(|| Prepared {
        qemu,
        vmlinuz: kernel.vmlinuz,
        initramfs,
        with_dpdk: OnceLock::new(),
    }))
}

/// A running guest. Dropping it kills QEMU.
pub struct Guest {
    child: Child,
    stdin: Mutex<ChildStdin>,
    console: Arc<Console>,
    stderr: Arc<Mutex<String>>,
    nics: Vec<Nic>,
    qmp: Mutex<Qmp>,
    qmp_path: PathBuf,
    next_id: AtomicU64,
    command_line: String,
    trace_path: Option<PathBuf>,
    boot_time: Duration,
}

impl Guest {
    /// Boots a guest and waits until its agent is ready.
    pub fn boot(config: GuestConfig) -> Result<Guest> {
        static BOOTS: AtomicU64 = AtomicU64::new(0);
        let prepared = prepare()?;
        let initramfs = if config.dpdk {
            match prepared.with_dpdk.get() {
                Some(p) => p.clone(),
                None => {
                    let p = crate::vm::dpdk::bench_initramfs(&prepared.initramfs)?;
                    prepared.with_dpdk.get_or_init(|| p).clone()
                }
            }
        } else {
            prepared.initramfs.clone()
        };
        let seq = BOOTS.fetch_add(1, Ordering::Relaxed);
        let tag = format!("{}-{seq}", std::process::id());
        let qmp_path = std::env::temp_dir().join(format!("xtask-qmp-{tag}.sock"));
        let _ = std::fs::remove_file(&qmp_path);

        let QemuArgs {
            args,
            nics,
            trace_path,
            link_ends,
        } = qemu_args(&config, &prepared.vmlinuz, &initramfs, &qmp_path, &tag)?;
        let command_line = format!(
            "{} {}",
            prepared.qemu,
            args.iter()
                .map(|a| shell_quote(a))
                .collect::<Vec<_>>()
                .join(" ")
        );
        let mut cmd = Command::new(prepared.qemu);
        cmd.args(&args).stdin(Stdio::piped()).stdout(Stdio::piped());
        // A process group of its own: Ctrl-C at the terminal reaches xtask
        // alone, which decides (`shell` passes it to the guest command; the
        // other commands die, and PR_SET_PDEATHSIG below takes QEMU along).
        cmd.process_group(0);
        match &trace_path {
            Some(p) => cmd.stderr(File::create(p).with_context(|| p.display().to_string())?),
            None => cmd.stderr(Stdio::piped()),
        };
        // The link ends QEMU inherits lose close-on-exec in the child only,
        // so a QEMU started concurrently by another thread never gets them.
        let inherit: Vec<i32> = link_ends.iter().map(|fd| fd.as_raw_fd()).collect();
        // SAFETY: prctl and fcntl are async-signal-safe, and the closure
        // allocates nothing. QEMU dies with the thread that started it, even
        // if xtask is killed without running destructors.
        unsafe {
            cmd.pre_exec(move || {
                if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                for &fd in &inherit {
                    if libc::fcntl(fd, libc::F_SETFD, 0) != 0 {
                        return Err(std::io::Error::last_os_error());
                    }
                }
                Ok(())
            });
        }
        let started = Instant::now();
        let mut child = cmd
            .spawn()
            .with_context(|| format!("starting {command_line}"))?;
        // QEMU holds its ends now.
        drop(link_ends);
        let echo = std::env::var_os("XTASK_CONSOLE").is_some();
        let console = Console::spawn_reader(child.stdout.take().expect("piped"), echo);
        let stderr = Arc::new(Mutex::new(String::new()));
        if let Some(mut err) = child.stderr.take() {
            let sink = Arc::clone(&stderr);
            std::thread::spawn(move || {
                let mut buf = [0u8; 4096];
                while let Ok(n @ 1..) = std::io::Read::read(&mut err, &mut buf) {
                    sink.lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .push_str(&String::from_utf8_lossy(&buf[..n]));
                }
            });
        }
        let stdin = Mutex::new(child.stdin.take().expect("piped"));
        let ready = console.wait_until(config.boot_timeout, |s| s.ready.then_some(()));
        let boot_time = started.elapsed();
        let qmp = match ready {
            Ok(()) => Qmp::connect(&qmp_path),
            Err(WaitError::Timeout) => Err(Error::msg(format!(
                "guest not ready after {:?}",
                config.boot_timeout
            ))),
            Err(WaitError::Closed) => Err(Error::msg("QEMU exited during boot")),
        };
        let qmp = match qmp {
            Ok(q) => q,
            Err(e) => {
                let _ = child.kill();
                let _ = child.wait();
                let _ = std::fs::remove_file(&qmp_path);
                let err = stderr.lock().unwrap_or_else(|e| e.into_inner()).clone();
                bail!("{e}\n{}", diagnostics(&console, &err, &command_line));
            }
        };
        let guest = Guest {
            child,
            stdin,
            console,
            stderr,
            nics,
            qmp: Mutex::new(qmp),
            qmp_path,
            next_id: AtomicU64::new(1),
            command_line,
            trace_path,
            boot_time,
        };
        guest.check_clock()?;
        Ok(guest)
    }

    /// Fails unless the guest's clock is the TSC, as on a real machine:
    /// on the HPET every clock read is an emulated register read under
    /// QEMU's big lock, which would slow the drivers measured here (and the
    /// wake from an interrupt most) for a reason no deployment shares.
    fn check_clock(&self) -> Result<()> {
        let clock = self.run_ok(
            "cat /sys/devices/system/clocksource/clocksource0/current_clocksource",
            Duration::from_secs(10),
        )?;
        let clock = clock.output().trim().to_string();
        ensure!(
            clock == "tsc",
            "the guest's clock is `{clock}`, not `tsc`: see `CLOCK` in xtask/src/vm/qemu.rs"
        );
        Ok(())
    }

    /// QEMU's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// NIC `index` (in [`GuestConfig::nics`] order).
    pub fn nic(&self, index: usize) -> &Nic {
        &self.nics[index]
    }

    /// All NICs.
    pub fn nics(&self) -> &[Nic] {
        &self.nics
    }

    /// How long the boot took until the agent was ready.
    pub fn boot_time(&self) -> Duration {
        self.boot_time
    }

    /// The QEMU command line.
    pub fn command_line(&self) -> &str {
        &self.command_line
    }

    /// Where QEMU's trace output goes, when tracing.
    pub fn trace_path(&self) -> Option<&PathBuf> {
        self.trace_path.as_ref()
    }

    /// The full console text so far.
    pub fn console(&self) -> String {
        self.console.lock().text.clone()
    }

    /// Whether QEMU is still running.
    pub fn is_alive(&self) -> bool {
        !self.console.lock().closed
    }

    /// Console tail, QEMU stderr and command line, for error reports.
    pub fn diagnostics(&self) -> String {
        let err = self
            .stderr
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        diagnostics(&self.console, &err, &self.command_line)
    }

    /// An error carrying `message` and the diagnostics.
    pub fn error(&self, message: impl std::fmt::Display) -> Error {
        Error::msg(format!("{message}\n{}", self.diagnostics()))
    }

    /// Starts `command` (one line of shell) in the background.
    pub fn spawn(&self, command: &str) -> Result<Job<'_>> {
        ensure!(
            !command.chars().any(|c| c.is_control()) && command.len() < 4000,
            "guest command must be one line of printable text under 4000 bytes: {command:?}"
        );
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let mut stdin = self.stdin.lock().unwrap_or_else(|e| e.into_inner());
        stdin
            .write_all(format!("bg {id} {command}\n").as_bytes())
            .context("writing to the guest console")?;
        stdin.flush()?;
        Ok(Job::new(self, id, command))
    }

    /// Runs `command` and waits for it to end.
    pub fn run(&self, command: &str, timeout: Duration) -> Result<JobResult> {
        self.spawn(command)?.wait(timeout)
    }

    /// Runs `command`, failing unless it exits 0.
    pub fn run_ok(&self, command: &str, timeout: Duration) -> Result<JobResult> {
        let r = self.run(command, timeout)?;
        ensure!(
            r.status == 0,
            "guest command `{command}` exited {}:\n{}",
            r.status,
            r.output()
        );
        Ok(r)
    }

    /// The IOMMU group number of the guest's PCI device `pci`.
    pub fn iommu_group(&self, pci: &str) -> Result<String> {
        let link = format!("/sys/bus/pci/devices/{pci}/iommu_group");
        let r = self.run_ok(
            &format!("basename $(readlink {link})"),
            Duration::from_secs(10),
        )?;
        Ok(r.output().trim().to_string())
    }

    /// Sends one QMP command (a JSON object on one line) and returns the reply.
    pub fn qmp(&self, command: &str) -> Result<String> {
        self.qmp
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .execute(command)
    }

    /// Turns QEMU trace events on or off while the guest runs (QMP
    /// `trace-event-set-state`); their lines go to [`Guest::trace_path`].
    pub fn trace_events(&self, names: &[&str], enable: bool) -> Result<()> {
        for name in names {
            self.qmp(&format!(
                r#"{{"execute":"trace-event-set-state","arguments":{{"name":"{name}","enable":{enable}}}}}"#
            ))?;
        }
        Ok(())
    }

    /// Sets the link state of NIC `index` through QMP.
    pub fn set_link(&self, index: usize, up: bool) -> Result<()> {
        let name = &self.nics[index].netdev_id;
        self.qmp(&format!(
            r#"{{"execute":"set_link","arguments":{{"name":"{name}","up":{up}}}}}"#
        ))?;
        Ok(())
    }

    /// Powers the guest off and waits for QEMU to exit.
    pub fn shutdown(mut self) -> Result<()> {
        let _ = self
            .stdin
            .get_mut()
            .unwrap_or_else(|e| e.into_inner())
            .write_all(b"quit\n");
        match self
            .console
            .wait_until(Duration::from_secs(20), |s| s.closed.then_some(()))
        {
            Ok(()) => Ok(()),
            Err(_) => Err(self.error("guest did not power off")),
        }
    }
}

impl JobHost for Guest {
    fn agent_console(&self) -> &Console {
        &self.console
    }

    fn diagnosed(&self, message: String) -> Error {
        self.error(message)
    }
}

impl Drop for Guest {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_file(&self.qmp_path);
    }
}

fn diagnostics(console: &Console, stderr: &str, command_line: &str) -> String {
    let stderr = stderr.trim();
    let stderr = if stderr.is_empty() {
        String::new()
    } else {
        format!("--- qemu stderr ---\n{stderr}\n")
    };
    format!("{DIAGNOSTICS_MARKER} (last 40 lines) ---\n{}\n{stderr}--- qemu command ---\n{command_line}", console.tail(40))
}
