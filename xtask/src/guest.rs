//! A QEMU guest running the bench initramfs, driven through the guest agent.
//!
//! One boot serves many commands: [`Guest::run`] runs a shell command and
//! collects its output and exit status, [`Guest::spawn`] starts one in the
//! background and returns a [`Job`] to follow. Each emulated NIC is wired to
//! a UDP socket on 127.0.0.1 that the host uses as the NIC's link peer.

use crate::assets;
use crate::console::{Console, WaitError};
use crate::error::{Context, Error, Result};
use crate::frame::Mac;
pub use crate::job::{Job, JobResult};
use crate::qemu::{qemu_args, shell_quote, QemuArgs};
use crate::qmp::Qmp;
use crate::{bail, ensure};
use std::fs::File;
use std::io::Write;
use std::net::UdpSocket;
use std::os::fd::AsRawFd;
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

/// Marks the diagnostics section of an error message.
pub const DIAGNOSTICS_MARKER: &str = "--- guest console";

/// One emulated NIC to add to the guest.
#[derive(Clone, Debug)]
pub struct NicConfig {
    /// QEMU device model: `e1000`, `e1000-82544gc`, `e1000-82545em`, `e1000e` or `igb`.
    pub model: String,
    /// The NIC's MAC address.
    pub mac: Mac,
}

/// What carries a NIC's frames between QEMU and the host (`-netdev dgram`
/// on an inherited socket either way).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Link {
    /// A pair of connected UDP sockets on 127.0.0.1.
    #[default]
    Udp,
    /// An `AF_UNIX` datagram socket pair.
    Unix,
}

impl Link {
    /// How the report names it.
    pub fn describe(self) -> &'static str {
        match self {
            Link::Udp => "UDP on loopback (a connected pair of UDP sockets on 127.0.0.1)",
            Link::Unix => "a Unix-domain datagram socket pair",
        }
    }
}

/// How to boot a guest.
#[derive(Clone, Debug)]
pub struct GuestConfig {
    /// NICs, placed at guest PCI slots 3, 4, 5, ... in order.
    pub nics: Vec<NicConfig>,
    /// PCI addresses to bind to vfio-pci at boot; `None` binds every NIC.
    pub bind: Option<Vec<String>>,
    /// How long the boot may take until the agent is ready.
    pub boot_timeout: Duration,
    /// QEMU trace pattern (`-trace`), e.g. `e1000e_*`; output goes to a file.
    pub trace: Option<String>,
    /// Send QEMU's trace output to a file even with no event enabled at
    /// boot, so that events enabled later ([`Guest::trace_events`]) land there.
    pub trace_log: bool,
    /// Whether the machine has the emulated Intel IOMMU (and the kernel uses it).
    pub iommu: bool,
    /// Where the NICs sit on the PCI topology.
    pub placement: Placement,
    /// Virtual CPUs (`-smp`).
    pub cpus: usize,
    /// Whether the initramfs carries DPDK's `dpdk-testpmd` and iproute2's
    /// `ip` as `ip-iproute2` (the bench's and the SR-IOV suite's; every
    /// other guest boots without them).
    pub dpdk: bool,
    /// The NICs' links.
    pub link: Link,
}

impl GuestConfig {
    /// A guest with one NIC of each given model (MACs `52:54:00:12:34:56`, `...:57`, ...),
    /// all bound to vfio-pci.
    pub fn with_nics(models: &[&str]) -> GuestConfig {
        GuestConfig {
            nics: models
                .iter()
                .enumerate()
                .map(|(i, m)| NicConfig {
                    model: m.to_string(),
                    mac: Mac::nic(i),
                })
                .collect(),
            bind: None,
            iommu: true,
            placement: Placement::Slots,
            boot_timeout: Duration::from_secs(90),
            trace: None,
            trace_log: false,
            cpus: 1,
            dpdk: false,
            link: Link::Udp,
        }
    }

    /// The same guest with no NIC bound to vfio-pci (for kernel-driver tests).
    pub fn unbound(mut self) -> GuestConfig {
        self.bind = Some(Vec::new());
        self
    }
}

/// Guest PCI address of NIC `index`.
pub fn nic_pci(index: usize) -> String {
    Placement::Slots.pci(index)
}

/// Where the NICs sit on the guest's PCI topology.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Placement {
    /// NIC `i` in its own slot `3 + i` of the root bus (each its own IOMMU group).
    #[default]
    Slots,
    /// NIC `i` is function `i` of one multifunction device in slot 3: they
    /// share an IOMMU group.
    Functions,
    /// NIC `i` behind its own `pcie-root-port` (bus `i + 1`): hot-pluggable,
    /// so `device_del` removes it.
    RootPorts,
    /// Every NIC in slot `1 + i` behind one PCIe-to-PCI bridge (bus 1): the
    /// bridge aliases their requester IDs, so they share one IOMMU group.
    BehindPciBridge,
}

impl Placement {
    /// The guest PCI address of NIC `index`.
    pub fn pci(self, index: usize) -> String {
        match self {
            Placement::Slots => format!("0000:00:{:02x}.0", 3 + index),
            Placement::Functions => format!("0000:00:03.{index}"),
            Placement::RootPorts => format!("0000:{:02x}:00.0", 1 + index),
            Placement::BehindPciBridge => format!("0000:01:{:02x}.0", 1 + index),
        }
    }

    /// The `-device` arguments that put NIC `index` there (after `model,netdev=..,mac=..`),
    /// preceded by any bridge it needs.
    pub fn device_args(self, index: usize) -> (Option<String>, String) {
        match self {
            Placement::Slots => (None, format!("addr={:#x}", 3 + index)),
            Placement::Functions => {
                let multi = if index == 0 { ",multifunction=on" } else { "" };
                (None, format!("addr=0x3.{index}{multi}"))
            }
            Placement::RootPorts => (
                Some(format!(
                    "pcie-root-port,id=rp{index},chassis={},slot={},addr={:#x}",
                    1 + index,
                    1 + index,
                    3 + index
                )),
                format!("bus=rp{index}"),
            ),
            Placement::BehindPciBridge => (
                (index == 0).then(|| "pcie-pci-bridge,id=br0,addr=0x3".to_string()),
                format!("bus=br0,addr={:#x}", 1 + index),
            ),
        }
    }
}

/// A NIC of a running guest and the host end of its link.
#[derive(Debug)]
pub struct Nic {
    /// QEMU device model.
    pub model: String,
    /// Guest PCI address, e.g. `0000:00:03.0`.
    pub pci: String,
    /// The NIC's MAC address.
    pub mac: Mac,
    /// QEMU device id (`nicN`), for QMP `device_del`.
    pub device_id: String,
    /// QEMU netdev id (`nN`), for QMP `set_link`.
    pub netdev_id: String,
    /// Host socket: every datagram sent on it is one frame into the NIC; every
    /// frame the NIC transmits arrives as one datagram.
    pub socket: UdpSocket,
}

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
    let initramfs = crate::initramfs::build(&kernel, &binaries)?;
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
                    let p = crate::bench::dpdk::bench_initramfs(&prepared.initramfs)?;
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
        Ok(Guest {
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
        })
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

    /// The console demultiplexer (for [`Job`]).
    pub(crate) fn console_state(&self) -> &Console {
        &self.console
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
