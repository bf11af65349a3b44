//! Host-side assets the bench needs: QEMU with the `igb` device model, a
//! Debian guest kernel with its modules, a static busybox, and the guest
//! builds of the project's binaries.
//!
//! Everything downloaded is cached under `target/guest/`; a second run reuses
//! the unpacked tree without touching apt at all.

use crate::error::{Context, Result};
use crate::{bail, ensure};
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The Debian suite the guest kernel and busybox come from.
const SUITE: &str = "bookworm";
/// The QEMU binary the guests run on.
pub const QEMU: &str = "qemu-system-x86_64";
/// Rust target of the guest binaries (linked statically).
pub const GUEST_TARGET: &str = "x86_64-unknown-linux-gnu";

/// The workspace root (the parent of the `xtask` crate).
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask lives inside the workspace")
        .to_path_buf()
}

/// `target/guest/`: the cache and scratch directory of the bench.
pub fn guest_dir() -> PathBuf {
    let dir = workspace_root().join("target").join("guest");
    let _ = fs::create_dir_all(&dir);
    dir
}

/// Runs a command, failing with its stderr if it does not exit 0.
pub(crate) fn run(cmd: &mut Command) -> Result<String> {
    let out = cmd.output().with_context(|| format!("running {cmd:?}"))?;
    if !out.status.success() {
        bail!(
            "{cmd:?} failed ({}):\n{}{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Whether this process runs as root.
pub fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

/// Whether `qemu-system-x86_64` exists and knows the `igb` device.
pub fn qemu_has_igb() -> bool {
    Command::new(QEMU)
        .args(["-device", "help"])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).contains("name \"igb\""))
        .unwrap_or(false)
}

/// The QEMU binary, if it is installed and has the `igb` model; otherwise
/// says that `cargo xtask setup` installs it. Changes nothing on the host.
pub fn ensure_qemu() -> Result<&'static str> {
    ensure!(
        qemu_has_igb(),
        "{QEMU} is missing or lacks the igb device model (QEMU 10 from bookworm-backports has it): \
         run `cargo xtask setup` as root, or see `cargo xtask setup --dry-run` for the commands"
    );
    Ok(QEMU)
}

/// The unpacked Debian kernel package and busybox.
#[derive(Clone, Debug)]
pub struct KernelTree {
    /// Root of the unpacked packages.
    pub root: PathBuf,
    /// Kernel release, e.g. `6.1.0-50-amd64`.
    pub version: String,
    /// The kernel image.
    pub vmlinuz: PathBuf,
    /// The static busybox binary.
    pub busybox: PathBuf,
}

impl KernelTree {
    /// `lib/modules/<version>` inside the tree.
    pub fn modules_dir(&self) -> PathBuf {
        self.root.join("lib/modules").join(&self.version)
    }

    /// Looks for an unpacked tree at `root`.
    fn find(root: &Path) -> Option<KernelTree> {
        let busybox = root.join("bin/busybox");
        let entry = fs::read_dir(root.join("boot"))
            .ok()?
            .flatten()
            .find(|e| e.file_name().to_string_lossy().starts_with("vmlinuz-"))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        let version = name.trim_start_matches("vmlinuz-").to_string();
        (busybox.is_file() && root.join("lib/modules").join(&version).is_dir()).then(|| {
            KernelTree {
                root: root.to_path_buf(),
                version,
                vmlinuz: entry.path(),
                busybox,
            }
        })
    }
}

/// Names a directory laid out as the unpacked packages are (`boot/vmlinuz-*`,
/// `lib/modules/<release>/` with the VFIO modules, `bin/busybox`), to boot
/// the guest with that kernel instead of Debian bookworm's.
pub const ROOTFS_ENV: &str = "XTASK_GUEST_ROOTFS";
/// Names the Debian suite whose `linux-image-amd64` the guest boots
/// (default: bookworm), for a host whose apt knows another one.
pub const SUITE_ENV: &str = "XTASK_GUEST_SUITE";

/// What to do when the guest kernel cannot be had, for the error message.
fn kernel_help(suite: &str) -> String {
    format!(
        "the guest boots Debian's linux-image-amd64 from suite {suite}, fetched with apt-get download: \
         on a host whose apt does not know {suite} (trixie, Ubuntu), either add a {suite} source \
         (Types: deb / URIs: http://deb.debian.org/debian / Suites: {suite} / Components: main), \
         or set {SUITE_ENV}=SUITE to a suite it knows whose kernel has the VFIO modules, \
         or set {ROOTFS_ENV}=DIR to an unpacked kernel and busybox (DIR/boot/vmlinuz-*, \
         DIR/lib/modules/RELEASE/, DIR/bin/busybox)"
    )
}

/// Returns the guest kernel tree: the one `XTASK_GUEST_ROOTFS` names, or
/// the cached download, downloading and unpacking the packages on first
/// use.
pub fn ensure_kernel() -> Result<KernelTree> {
    if let Some(dir) = std::env::var_os(ROOTFS_ENV) {
        let dir = PathBuf::from(dir);
        return KernelTree::find(&dir).ok_or_else(|| {
            anyhow::anyhow!(
                "{ROOTFS_ENV}={}: no boot/vmlinuz-*, lib/modules/<release>/ and bin/busybox there",
                dir.display()
            )
        });
    }
    let suite = std::env::var(SUITE_ENV).unwrap_or_else(|_| SUITE.to_string());
    let dir = guest_dir();
    let root = dir.join("rootfs");
    if let Some(tree) = KernelTree::find(&root) {
        return Ok(tree);
    }
    let deps =
        run(Command::new("apt-cache").args(["depends", &format!("linux-image-amd64/{suite}")]))
            .with_context(|| kernel_help(&suite))?;
    let image = deps
        .lines()
        .filter_map(|l| l.trim().strip_prefix("Depends:"))
        .map(str::trim)
        .find(|p| p.starts_with("linux-image-"))
        .ok_or_else(|| {
            anyhow::anyhow!(
                "apt-cache names no linux-image-* dependency for linux-image-amd64/{suite}; {}",
                kernel_help(&suite)
            )
        })?
        .to_string();
    let debs = dir.join("debs");
    fs::create_dir_all(&debs)?;
    eprintln!("xtask: downloading {image} and busybox-static");
    let download = || {
        run(Command::new("apt-get")
            .current_dir(&debs)
            .args(["download", &image, "busybox-static"]))
    };
    if download().is_err() {
        run(Command::new("apt-get").arg("update")).context("apt-get update")?;
        download().with_context(|| kernel_help(&suite))?;
    }
    let staging = dir.join(format!("rootfs.tmp.{}", std::process::id()));
    let _ = fs::remove_dir_all(&staging);
    fs::create_dir_all(&staging)?;
    for deb in fs::read_dir(&debs)?.flatten() {
        let name = deb.file_name().to_string_lossy().into_owned();
        let wanted = name.starts_with(&format!("{image}_")) || name.starts_with("busybox-static_");
        if wanted && name.ends_with(".deb") {
            run(Command::new("dpkg-deb")
                .arg("-x")
                .arg(deb.path())
                .arg(&staging))?;
        }
    }
    let _ = fs::remove_dir_all(&root);
    fs::rename(&staging, &root)?;
    KernelTree::find(&root)
        .ok_or_else(|| anyhow::anyhow!("unpacked packages lack vmlinuz, modules or busybox"))
}

/// A binary of the workspace to build statically and install in the guest.
#[derive(Clone, Debug)]
pub struct GuestBinary {
    /// Cargo package.
    pub package: &'static str,
    /// Binary (or example) name in the workspace.
    pub bin: &'static str,
    /// Name in the guest's `/bin` (examples get an `example-` prefix where
    /// their name is a shell command's, e.g. `echo`).
    pub guest_name: &'static str,
    /// Whether it is one of the package's examples rather than a binary.
    pub example: bool,
}

/// The project binaries every guest gets.
pub const GUEST_BINARIES: &[GuestBinary] = &[
    GuestBinary {
        package: "e1000-cli",
        bin: "e1000",
        guest_name: "e1000",
        example: false,
    },
    // The kernel-driver baseline of `cargo xtask bench`.
    GuestBinary {
        package: "bench-guest",
        bin: "afpacket-echo",
        guest_name: "afpacket-echo",
        example: false,
    },
    // The library's async example, run by the scenarios.
    GuestBinary {
        package: "vfio-e1000",
        bin: "tokio_echo",
        guest_name: "tokio_echo",
        example: true,
    },
    // The library's echo and packet-generator examples, run by the scenarios.
    GuestBinary {
        package: "vfio-e1000",
        bin: "echo",
        guest_name: "example-echo",
        example: true,
    },
    GuestBinary {
        package: "vfio-e1000",
        bin: "pktgen",
        guest_name: "example-pktgen",
        example: true,
    },
    // The library's IEEE 1588 example, run by the scenarios.
    GuestBinary {
        package: "vfio-e1000",
        bin: "ptp",
        guest_name: "example-ptp",
        example: true,
    },
    // The library's close-and-reopen example, run by the scenarios.
    GuestBinary {
        package: "vfio-e1000",
        bin: "reopen",
        guest_name: "reopen",
        example: true,
    },
    // The library's forwarding, capture and smoltcp UDP server examples.
    GuestBinary {
        package: "vfio-e1000",
        bin: "forward",
        guest_name: "example-forward",
        example: true,
    },
    GuestBinary {
        package: "vfio-e1000",
        bin: "pcap",
        guest_name: "example-pcap",
        example: true,
    },
    GuestBinary {
        package: "vfio-e1000",
        bin: "udp_responder",
        guest_name: "example-udp-responder",
        example: true,
    },
];

/// Builds the guest binaries (release, statically linked) and returns
/// `(name, path)` pairs.
///
/// With `XTASK_GUEST_BIN_DIR` set, nothing is built: the binaries are taken
/// from that directory (prebuilt static binaries, e.g. from CI artifacts).
pub fn build_guest_binaries() -> Result<Vec<(String, PathBuf)>> {
    if let Some(dir) = std::env::var_os("XTASK_GUEST_BIN_DIR") {
        let dir = PathBuf::from(dir);
        return GUEST_BINARIES
            .iter()
            .map(|b| {
                let path = dir.join(b.bin);
                ensure!(
                    path.is_file(),
                    "XTASK_GUEST_BIN_DIR has no {}",
                    path.display()
                );
                Ok((b.guest_name.to_string(), path))
            })
            .collect();
    }
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.current_dir(workspace_root())
        .args(["build", "--quiet", "--release", "--target", GUEST_TARGET])
        .env("RUSTFLAGS", "-C target-feature=+crt-static")
        .env_remove("CARGO_ENCODED_RUSTFLAGS");
    for b in GUEST_BINARIES {
        let kind = if b.example { "--example" } else { "--bin" };
        cmd.args(["-p", b.package, kind, b.bin]);
    }
    // The guest's `e1000` carries the test hooks the scenarios use; the
    // smoltcp example needs the library's smoltcp device.
    cmd.args(["--features", "e1000-cli/fault-injection,vfio-e1000/smoltcp"]);
    let status = cmd.status().context("running cargo build for the guest")?;
    ensure!(
        status.success(),
        "building the guest binaries failed ({status})"
    );
    let out = workspace_root()
        .join("target")
        .join(GUEST_TARGET)
        .join("release");
    Ok(GUEST_BINARIES
        .iter()
        .map(|b| {
            let dir = if b.example {
                out.join("examples")
            } else {
                out.clone()
            };
            (b.guest_name.to_string(), dir.join(b.bin))
        })
        .collect())
}
