//! DPDK's `dpdk-testpmd` (and iproute2's full `ip`, and iperf3) for the guest: Debian
//! bookworm's packages fetched
//! with `apt-get download` and unpacked with `dpkg-deb -x` under
//! `target/guest/dpdk/` (never installed on the host), then the binaries, the
//! two PMDs testpmd loads with `-d` and their shared-library closure (glibc
//! included: the guest is otherwise static busybox) packed into a cpio
//! archive. The bench and the SR-IOV suite boot with that archive appended
//! to the usual initramfs; the other guests never carry it.
//!
//! The closure is found by reading `DT_NEEDED` from the ELF files and
//! following the `Depends` of exactly the packages that provided a file to
//! it, until every needed library is found.

use crate::error::{Context, Result};
use crate::vm::assets::{guest_dir, run};
use crate::vm::cpio::CpioWriter;
use crate::{bail, ensure};
use std::collections::{BTreeMap, BTreeSet};
use std::fs::{self, File};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::process::Command;

/// The packages asked for by name: testpmd (in `dpdk-dev`), the PMDs,
/// iproute2 for its full `ip` (busybox's has no `vf` commands), and iperf3
/// for ordinary programs' traffic through `e1000 tap`.
pub const PACKAGES: &[&str] = &[
    "dpdk-dev",
    "librte-net-e1000-23",
    "librte-mempool-ring23",
    "iproute2",
    "iperf3",
];
/// iperf3, inside the unpacked packages and in the guest.
const IPERF3: &str = "usr/bin/iperf3";
/// iproute2's `ip`, inside the unpacked packages.
const IPROUTE2_IP: &str = "bin/ip";
/// Where the guest gets it, beside busybox's `ip`.
pub const GUEST_IPROUTE2_IP: &str = "bin/ip-iproute2";
/// The binary, inside the unpacked packages.
const TESTPMD: &str = "usr/bin/dpdk-testpmd";
/// Where Debian puts the drivers DPDK loads at run time.
const PMD_DIR: &str = "usr/lib/x86_64-linux-gnu/dpdk/pmds-23.0";
/// Where the guest gets the two PMDs: not Debian's directory, which EAL
/// would scan and load on its own on top of `-d`.
pub const GUEST_PMD_DIR: &str = "opt/dpdk-pmds";
/// The PMDs testpmd loads with `-d` (it links `librte_bus_pci` already:
/// loading that one twice aborts).
pub const PMDS: &[&str] = &["librte_net_e1000.so.23", "librte_mempool_ring.so.23"];
/// Library directories searched for a `DT_NEEDED` name, in order.
const LIB_DIRS: &[&str] = &[
    "lib/x86_64-linux-gnu",
    "usr/lib/x86_64-linux-gnu",
    "lib64",
    "usr/lib/x86_64-linux-gnu/dpdk/pmds-23.0",
];
/// The guest directory the libraries are installed in (glibc's default path).
const GUEST_LIB: &str = "lib/x86_64-linux-gnu";

/// Mbufs in testpmd's pool: enough for its rings ([`RING`] descriptors
/// each way) and per-lcore caches, small for a 1 GiB guest.
pub const MBUFS: u32 = 4096;
/// Descriptors per RX and per TX ring that testpmd is given: the same as
/// `e1000`'s default rings (the library's `Config::default`), so that a
/// comparison is ring for ring. Left to itself, testpmd 22.11 configured
/// 256 on the 82574L (its start-up lines print `RX desc=256`).
pub const RING: u32 = 512;
/// Frames per RX/TX burst of testpmd's forwarding core (its default).
pub const BURST: u32 = 32;

/// The `dpdk-testpmd` command for the ports `pcis` in forwarding mode
/// `fwd` (`txonly`, `macswap`, `io`), with `extra` testpmd options: the main
/// lcore on CPU 0 and one forwarding lcore on CPU 1, `--in-memory` on the
/// guest's 2 MiB hugepages, [`RING`]-descriptor rings and [`MBUFS`] mbufs
/// unless `extra` names others (the last `--rxd`, `--txd` or
/// `--total-num-mbufs` wins), started at once and run until SIGINT.
/// EAL refuses to load plugins from under a world-writable directory, which
/// the initramfs root is.
pub fn testpmd_command(pcis: &[&str], fwd: &str, extra: &str) -> String {
    let pmds: String = PMDS
        .iter()
        .map(|p| format!(" -d /{GUEST_PMD_DIR}/{p}"))
        .collect();
    let ports: String = pcis.iter().map(|p| format!(" -a {p}")).collect();
    format!(
        "chmod 755 / && mkdir -p /var/run/dpdk && exec dpdk-testpmd -l 0,1 -n 1 --in-memory --log-level=lib.eal:notice{pmds}{ports} -- \
         --nb-cores=1 --rxq=1 --txq=1 --rxd={RING} --txd={RING} --burst={BURST} --total-num-mbufs={MBUFS} \
         --forward-mode={fwd} {extra} --auto-start --stats-period 30"
    )
}

/// testpmd's settings, as the report shows them beside its numbers.
pub fn testpmd_settings(fwd: &str) -> String {
    format!(
        "`dpdk-testpmd` {}, `--forward-mode={fwd}`, 1 forwarding lcore (+ main lcore), \
         `--burst={BURST}`, `--total-num-mbufs={MBUFS}`, `--rxd={RING} --txd={RING}` (`e1000`'s default rings; testpmd's own default on the 82574L is 256), `--in-memory` on 2 MiB hugepages",
        DPDK_VERSION
    )
}

/// Whether DPDK's PMD for QEMU `model` has TCP segmentation offload: its
/// `igb` PMD does, its `em` PMD (the 8254x and the 82574L) does not.
pub fn pmd_has_tso(model: &str) -> bool {
    model == "igb"
}

/// The DPDK release the packages carry.
pub const DPDK_VERSION: &str = "22.11 (Debian bookworm)";

/// The sonames `DT_NEEDED` lists in an ELF64 little-endian file.
pub fn needed(elf: &[u8]) -> Result<Vec<String>> {
    let u16_at = |o: usize| -> Option<u64> {
        Some(u64::from(u16::from_le_bytes(
            elf.get(o..o + 2)?.try_into().ok()?,
        )))
    };
    let u32_at = |o: usize| -> Option<u64> {
        Some(u64::from(u32::from_le_bytes(
            elf.get(o..o + 4)?.try_into().ok()?,
        )))
    };
    let u64_at =
        |o: usize| -> Option<u64> { Some(u64::from_le_bytes(elf.get(o..o + 8)?.try_into().ok()?)) };
    ensure!(
        elf.len() > 64 && elf[..4] == *b"\x7fELF" && elf[4] == 2 && elf[5] == 1,
        "not a 64-bit little-endian ELF file"
    );
    let parse = || -> Option<Vec<String>> {
        let shoff = u64_at(0x28)? as usize;
        let shentsize = u16_at(0x3a)? as usize;
        let shnum = u16_at(0x3c)? as usize;
        let section = |i: usize| -> Option<(u64, usize, usize, usize)> {
            let s = shoff + i * shentsize;
            // (type, offset, size, link)
            Some((
                u32_at(s + 4)?,
                u64_at(s + 0x18)? as usize,
                u64_at(s + 0x20)? as usize,
                u32_at(s + 0x28)? as usize,
            ))
        };
        const SHT_DYNAMIC: u64 = 6;
        let mut out = Vec::new();
        for i in 0..shnum {
            let (kind, off, size, link) = section(i)?;
            if kind != SHT_DYNAMIC {
                continue;
            }
            let strtab = section(link)?.1;
            for e in (off..off + size).step_by(16) {
                let (tag, val) = (u64_at(e)?, u64_at(e + 8)? as usize);
                if tag == 0 {
                    break;
                }
                if tag == 1 {
                    let start = strtab + val;
                    let len = elf.get(start..)?.iter().position(|&b| b == 0)?;
                    out.push(String::from_utf8_lossy(&elf[start..start + len]).into_owned());
                }
            }
        }
        Some(out)
    };
    parse().ok_or_else(|| anyhow::anyhow!("truncated ELF file"))
}

/// A `Depends` field's package names: the first alternative of each, without
/// versions or architecture qualifiers.
pub fn depends(field: &str) -> Vec<String> {
    field
        .split(',')
        .filter_map(|dep| {
            let first = dep.split('|').next()?.trim();
            let name = first.split([' ', '(']).next()?.trim();
            let name = name.split(':').next()?;
            (!name.is_empty()).then(|| name.to_string())
        })
        .collect()
}

/// The unpacked packages and what the guest needs from them.
#[derive(Clone, Debug)]
pub struct DpdkTree {
    /// Root of the unpacked packages.
    pub root: PathBuf,
    /// The package version of `dpdk-dev`.
    pub version: String,
    /// Files to install: (path in the guest, file in the tree).
    pub files: Vec<(String, PathBuf)>,
}

/// Finds `soname` in the unpacked tree.
fn find_lib(root: &Path, soname: &str) -> Option<PathBuf> {
    LIB_DIRS
        .iter()
        .map(|d| root.join(d).join(soname))
        .find(|p| p.exists())
}

/// Which unpacked package a file came from (`dpkg-deb -x` per package
/// into its own directory keeps that knowable).
fn package_of(pkgs_dir: &Path, file: &Path) -> Option<String> {
    let rel = file.strip_prefix(pkgs_dir).ok()?;
    Some(
        rel.components()
            .next()?
            .as_os_str()
            .to_string_lossy()
            .into_owned(),
    )
}

/// Downloads `names` into `debs` (one call; if apt refuses the batch, one
/// by one, so that a virtual package or a missing one is skipped).
fn download(debs: &Path, names: &[String]) -> Result<()> {
    if names.is_empty() {
        return Ok(());
    }
    let batch = run(Command::new("apt-get")
        .current_dir(debs)
        .arg("download")
        .args(names));
    if batch.is_ok() {
        return Ok(());
    }
    for n in names {
        if run(Command::new("apt-get")
            .current_dir(debs)
            .args(["download", n]))
        .is_err()
        {
            eprintln!("xtask: apt-get download {n} failed; skipped");
        }
    }
    Ok(())
}

/// The `.deb` of `package` in `debs`, if downloaded.
fn deb_of(debs: &Path, package: &str) -> Option<PathBuf> {
    fs::read_dir(debs)
        .ok()?
        .flatten()
        .map(|e| e.path())
        .find(|p| {
            p.file_name()
                .map(|n| n.to_string_lossy().starts_with(&format!("{package}_")))
                .unwrap_or(false)
                && p.extension().is_some_and(|e| e == "deb")
        })
}

/// Returns the unpacked DPDK tree, downloading what it needs on first use.
pub fn ensure_dpdk() -> Result<DpdkTree> {
    let dir = guest_dir().join("dpdk");
    let debs = dir.join("debs");
    let pkgs = dir.join("pkgs");
    fs::create_dir_all(&debs)?;
    fs::create_dir_all(&pkgs)?;
    let unpack = |package: &str| -> Result<bool> {
        let target = pkgs.join(package);
        if target.is_dir() {
            return Ok(true);
        }
        let Some(deb) = deb_of(&debs, package) else {
            return Ok(false);
        };
        let tmp = pkgs.join(format!(".{package}.tmp"));
        let _ = fs::remove_dir_all(&tmp);
        run(Command::new("dpkg-deb").arg("-x").arg(&deb).arg(&tmp))?;
        fs::rename(&tmp, &target)?;
        Ok(true)
    };
    let mut wanted: BTreeSet<String> = PACKAGES.iter().map(|s| s.to_string()).collect();
    let mut tried = BTreeSet::new();
    for round in 0..10 {
        let missing: Vec<String> = wanted
            .iter()
            .filter(|p| !pkgs.join(p).is_dir() && deb_of(&debs, p).is_none() && !tried.contains(*p))
            .cloned()
            .collect();
        if !missing.is_empty() {
            eprintln!(
                "xtask: DPDK for the guest, round {round}: apt-get download {} package(s)",
                missing.len()
            );
            let first = download(&debs, &missing);
            if first.is_err() || missing.iter().any(|p| deb_of(&debs, p).is_none()) {
                // The package lists may be stale.
                if round == 0 {
                    let _ = run(Command::new("apt-get").arg("update"));
                    download(&debs, &missing)?;
                }
            }
            tried.extend(missing);
        }
        for p in &wanted {
            unpack(p)?;
        }
        let roots: Vec<PathBuf> = wanted
            .iter()
            .map(|p| pkgs.join(p))
            .filter(|p| p.is_dir())
            .collect();
        let Closure {
            files,
            unresolved,
            providers,
        } = closure(&pkgs, &roots)?;
        if unresolved.is_empty() {
            let version = deb_of(&debs, "dpdk-dev")
                .and_then(|d| run(Command::new("dpkg-deb").args(["-f"]).arg(d).arg("Version")).ok())
                .map(|v| v.trim().to_string())
                .unwrap_or_default();
            return Ok(DpdkTree {
                root: pkgs,
                version,
                files,
            });
        }
        // Follow the Depends of every package that provided a file.
        let mut next = BTreeSet::new();
        for p in &providers {
            let Some(deb) = deb_of(&debs, p) else {
                continue;
            };
            let field = run(Command::new("dpkg-deb").arg("-f").arg(&deb).arg("Depends"))?;
            next.extend(depends(&field));
        }
        let before = wanted.len();
        wanted.extend(next);
        if wanted.len() == before {
            bail!(
                "DPDK for the guest: no package provides {}",
                unresolved.into_iter().collect::<Vec<_>>().join(", ")
            );
        }
    }
    bail!("DPDK for the guest: the library closure did not converge")
}

/// What [`closure`] found.
struct Closure {
    /// Files to install: (path in the guest, file in the tree).
    files: Vec<(String, PathBuf)>,
    /// Sonames no unpacked package provides yet.
    unresolved: BTreeSet<String>,
    /// Packages that provided a file.
    providers: BTreeSet<String>,
}

/// The closure of testpmd and the PMDs over the unpacked packages under
/// `pkgs` (`roots`, one directory per package).
fn closure(pkgs: &Path, roots: &[PathBuf]) -> Result<Closure> {
    let find = |rel: &str| roots.iter().map(|r| r.join(rel)).find(|p| p.exists());
    let mut files: BTreeMap<String, PathBuf> = BTreeMap::new();
    let mut queue: Vec<(String, PathBuf)> = Vec::new();
    if let Some(t) = find(TESTPMD) {
        queue.push(("bin/dpdk-testpmd".into(), t));
    }
    for pmd in PMDS {
        if let Some(p) = find(&format!("{PMD_DIR}/{pmd}")) {
            queue.push((format!("{GUEST_PMD_DIR}/{pmd}"), p));
        }
    }
    if let Some(ip) = find(IPROUTE2_IP) {
        queue.push((GUEST_IPROUTE2_IP.into(), ip));
    }
    if let Some(iperf3) = find(IPERF3) {
        queue.push(("bin/iperf3".into(), iperf3));
    }
    let mut unresolved = BTreeSet::new();
    if queue.len() < 3 + PMDS.len() {
        // The named packages themselves are not unpacked yet.
        unresolved.insert("dpdk-testpmd, a PMD, iproute2's ip or iperf3".to_string());
    }
    while let Some((guest, host)) = queue.pop() {
        if files.contains_key(&guest) {
            continue;
        }
        let real = fs::canonicalize(&host).with_context(|| host.display().to_string())?;
        let data = fs::read(&real).with_context(|| real.display().to_string())?;
        for soname in needed(&data).with_context(|| real.display().to_string())? {
            let g = format!("{GUEST_LIB}/{soname}");
            if files.contains_key(&g) {
                continue;
            }
            match roots.iter().find_map(|r| find_lib(r, &soname)) {
                Some(p) => queue.push((g, p)),
                None => {
                    unresolved.insert(soname);
                }
            }
        }
        files.insert(guest, real);
    }
    // The dynamic loader, where the ELF interpreter path points.
    if let Some(ld) = files
        .get(&format!("{GUEST_LIB}/ld-linux-x86-64.so.2"))
        .cloned()
    {
        files.insert("lib64/ld-linux-x86-64.so.2".into(), ld);
    } else {
        unresolved.insert("ld-linux-x86-64.so.2".into());
    }
    let providers = files.values().filter_map(|p| package_of(pkgs, p)).collect();
    Ok(Closure {
        files: files.into_iter().collect(),
        unresolved,
        providers,
    })
}

/// Writes the DPDK archive (to append to the initramfs) and returns its path.
pub fn build_cpio(tree: &DpdkTree) -> Result<PathBuf> {
    let out_path = guest_dir().join("dpdk.cpio");
    let tmp = out_path.with_extension(format!("cpio.tmp.{}", std::process::id()));
    let mut w = CpioWriter::new(BufWriter::new(
        File::create(&tmp).with_context(|| tmp.display().to_string())?,
    ));
    let mut dirs = BTreeSet::new();
    let mut dir = |w: &mut CpioWriter<BufWriter<File>>, path: &str| -> Result<()> {
        let mut prefix = String::new();
        for part in path.split('/').filter(|p| !p.is_empty()) {
            if !prefix.is_empty() {
                prefix.push('/');
            }
            prefix.push_str(part);
            // The base initramfs already has bin/, var/…: a directory entry
            // again is harmless, but skip the ones it surely has.
            if prefix != "bin" && dirs.insert(prefix.clone()) {
                w.dir(&prefix, 0o755)?;
            }
        }
        Ok(())
    };
    for (guest, host) in &tree.files {
        if let Some((parent, _)) = guest.rsplit_once('/') {
            dir(&mut w, parent)?;
        }
        let data = fs::read(host).with_context(|| host.display().to_string())?;
        w.file(guest, 0o755, &data)?;
    }
    dir(&mut w, "var/run/dpdk")?;
    w.finish()?.flush()?;
    fs::rename(&tmp, &out_path)?;
    Ok(out_path)
}

/// The bench's initramfs: the usual one with the DPDK archive appended (the
/// kernel unpacks concatenated archives in order).
pub fn bench_initramfs(base: &Path) -> Result<PathBuf> {
    let tree = ensure_dpdk()?;
    let extra = build_cpio(&tree)?;
    let out = guest_dir().join("initramfs-bench.cpio");
    let mut data = fs::read(base).with_context(|| base.display().to_string())?;
    data.extend(fs::read(&extra)?);
    fs::write(&out, data)?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn depends_field() {
        assert_eq!(
            depends("libc6 (>= 2.34), pci.ids | hwdata, python3:any, libnuma1 (>= 2.0.11)"),
            ["libc6", "pci.ids", "python3", "libnuma1"]
        );
    }

    #[test]
    fn needed_of_the_running_test_binary() {
        let me = fs::read(std::env::current_exe().unwrap()).unwrap();
        let n = needed(&me).unwrap();
        assert!(n.iter().any(|s| s.starts_with("libc.so")), "{n:?}");
        assert!(needed(b"not an elf file at all, not at all, not at all, not at all, ok").is_err());
    }

    /// Downloads and resolves the real packages (needs apt): run with
    /// `cargo test -p xtask dpdk -- --ignored`.
    #[test]
    #[ignore]
    fn resolves_the_closure() {
        let tree = ensure_dpdk().unwrap();
        for (g, h) in &tree.files {
            eprintln!("{g} <- {}", h.display());
        }
        assert!(tree.files.iter().any(|(g, _)| g == "bin/dpdk-testpmd"));
        assert!(tree
            .files
            .iter()
            .any(|(g, _)| g == "lib64/ld-linux-x86-64.so.2"));
        let cpio = build_cpio(&tree).unwrap();
        eprintln!("{} bytes", fs::metadata(cpio).unwrap().len());
    }
}
