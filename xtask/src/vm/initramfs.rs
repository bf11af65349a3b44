//! Builds the guest's initramfs: busybox with its applet links, the `/init`
//! script and guest helper scripts (kept in `xtask/guest/`), the kernel
//! modules the bench needs, the project's guest binaries, and a non-root
//! user (uid 1000) for permission tests.

use crate::error::{Context, Result};
use crate::vm::assets::KernelTree;
use crate::vm::cpio::CpioWriter;
use crate::vm::kmod::ModuleIndex;
use std::collections::BTreeSet;
use std::fs::{self, File};
use std::io::BufWriter;
use std::path::{Path, PathBuf};
use std::process::Command;

/// Module sets installed in `/etc/modules.d/`, loadable with
/// `load-kernel-driver SET`. `vfio` is loaded at boot.
pub const MODULE_SETS: &[(&str, &[&str])] = &[
    (
        "vfio",
        &[
            "irqbypass",
            "vfio",
            "vfio_iommu_type1",
            "vfio_virqfd",
            "vfio-pci-core",
            "vfio-pci",
        ],
    ),
    ("e1000", &["e1000"]),
    ("e1000e", &["e1000e"]),
    ("igb", &["igb"]),
    ("pktgen", &["pktgen"]),
    ("tun", &["tun"]),
    ("bridge", &["bridge"]),
];

/// Guest scripts: (path in the guest, contents).
const SCRIPTS: &[(&str, &str)] = &[
    ("init", include_str!("../../guest/init.sh")),
    (
        "bin/guest-agent",
        include_str!("../../guest/guest-agent.sh"),
    ),
    (
        "bin/load-kernel-driver",
        include_str!("../../guest/load-kernel-driver.sh"),
    ),
    ("bin/bind-vfio", include_str!("../../guest/bind-vfio.sh")),
    (
        "bin/unbind-vfio",
        include_str!("../../guest/unbind-vfio.sh"),
    ),
    ("bin/list-nics", include_str!("../../guest/list-nics.sh")),
    ("bin/pci-netdev", include_str!("../../guest/pci-netdev.sh")),
    ("bin/as-user", include_str!("../../guest/as-user.sh")),
];

const PASSWD: &str = "root:x:0:0:root:/root:/bin/sh\nuser:x:1000:1000:user:/home/user:/bin/sh\n";
const GROUP: &str = "root:x:0:\nuser:x:1000:\n";

/// Archive writer that creates parent directories on demand.
struct Tree {
    cpio: CpioWriter<BufWriter<File>>,
    dirs: BTreeSet<String>,
}

impl Tree {
    fn dir(&mut self, path: &str) -> Result<()> {
        let mut prefix = String::new();
        for part in path.split('/').filter(|p| !p.is_empty()) {
            if !prefix.is_empty() {
                prefix.push('/');
            }
            prefix.push_str(part);
            if self.dirs.insert(prefix.clone()) {
                let perm = if prefix == "tmp" { 0o1777 } else { 0o755 };
                self.cpio.dir(&prefix, perm)?;
            }
        }
        Ok(())
    }

    fn parent(&mut self, path: &str) -> Result<()> {
        match path.rsplit_once('/') {
            Some((parent, _)) => self.dir(parent),
            None => Ok(()),
        }
    }

    fn file(&mut self, path: &str, perm: u32, data: &[u8]) -> Result<()> {
        self.parent(path)?;
        Ok(self.cpio.file(path, perm, data)?)
    }

    fn symlink(&mut self, path: &str, target: &str) -> Result<()> {
        self.parent(path)?;
        Ok(self.cpio.symlink(path, target)?)
    }
}

/// Busybox applet names, from `busybox --list` (the static binary runs on the host).
fn busybox_applets(busybox: &Path) -> Result<Vec<String>> {
    let out = Command::new(busybox)
        .arg("--list")
        .output()
        .context("running busybox --list")?;
    Ok(String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_string)
        .collect())
}

/// Writes the initramfs for `kernel` with `binaries` (`(name, host path)`,
/// installed as `/bin/<name>`) and returns its path.
pub fn build(kernel: &KernelTree, binaries: &[(String, PathBuf)]) -> Result<PathBuf> {
    let out_path = crate::vm::assets::guest_dir().join("initramfs.cpio");
    let tmp_path = out_path.with_extension(format!("cpio.tmp.{}", std::process::id()));
    let file = File::create(&tmp_path).with_context(|| tmp_path.display().to_string())?;
    let mut t = Tree {
        cpio: CpioWriter::new(BufWriter::new(file)),
        dirs: BTreeSet::new(),
    };

    for d in [
        "bin",
        "dev",
        "etc/modules.d",
        "proc",
        "sys",
        "tmp",
        "run",
        "root",
        "home/user",
        "mnt",
        "var",
    ] {
        t.dir(d)?;
    }
    t.cpio.char_dev("dev/console", 0o600, 5, 1)?;
    t.cpio.char_dev("dev/null", 0o666, 1, 3)?;

    t.file("bin/busybox", 0o755, &fs::read(&kernel.busybox)?)?;
    let scripts: BTreeSet<&str> = SCRIPTS
        .iter()
        .map(|(p, _)| p.trim_start_matches("bin/"))
        .collect();
    for applet in busybox_applets(&kernel.busybox)? {
        if applet != "busybox"
            && !scripts.contains(applet.as_str())
            && !binaries.iter().any(|(n, _)| *n == applet)
        {
            t.symlink(&format!("bin/{applet}"), "busybox")?;
        }
    }
    for (path, text) in SCRIPTS {
        t.file(path, 0o755, text.as_bytes())?;
    }
    t.file("etc/passwd", 0o644, PASSWD.as_bytes())?;
    t.file("etc/group", 0o644, GROUP.as_bytes())?;

    let index = ModuleIndex::new(&kernel.modules_dir())?;
    let mut installed = BTreeSet::new();
    for (set, names) in MODULE_SETS {
        let mut list = String::new();
        for m in index.resolve(names)? {
            let rel = format!("{}/{}", kernel.version, m.rel_path.display());
            list.push_str(&format!("{} {rel}\n", m.name));
            if installed.insert(rel.clone()) {
                let data = fs::read(kernel.modules_dir().join(&m.rel_path))?;
                t.file(&format!("lib/modules/{rel}"), 0o644, &data)?;
            }
        }
        t.file(&format!("etc/modules.d/{set}"), 0o644, list.as_bytes())?;
    }

    for (name, path) in binaries {
        let data =
            fs::read(path).with_context(|| format!("reading guest binary {}", path.display()))?;
        t.file(&format!("bin/{name}"), 0o755, &data)?;
    }
    t.cpio.finish()?;
    fs::rename(&tmp_path, &out_path)?;
    Ok(out_path)
}
