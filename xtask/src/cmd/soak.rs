//! `cargo xtask soak [--minutes N] [--model M] [--rate R]`: a long echo run.
//!
//! One guest, `e1000 echo` on the model's NIC (default `e1000e`, its best
//! interrupt mode), and the host peer sending at a steady rate the emulation
//! carries (default 2,000 frames/s), in rounds of 10 s, every echo checked
//! byte by byte. Halfway, one round carries the faults: QEMU takes the link
//! down for a second, then the driver is stopped (SIGSTOP) for a second and
//! continued. `--queues` and `--ring` size the echo (a 4-queue echo with
//! 4,096-descriptor rings on `igb` holds 128 MiB of buffers). At the start
//! and the end it records the driver's memory (resident, locked for DMA,
//! hugepages; see [`Memory`]) and its pool occupancy; at the end the
//! guest's DMAR faults. Writes `bench/results/soak.md` (or `--out FILE`)
//! and fails if a steady round lost or damaged a frame, memory grew,
//! buffers leaked, or the IOMMU faulted.

use crate::error::Result;
use crate::link::frame::Mac;
use crate::link::peer::{EchoSummary, Peer, TrafficSpec};
use crate::vm::guest::{Guest, GuestConfig};
use crate::{bail, ensure};
use std::fmt::Write as _;
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// Usage of the command.
pub const USAGE: &str = "cargo xtask soak [--minutes N] [--model M] [--rate FRAMES_PER_S] [--queues N] [--ring N] [--out FILE]";

/// Length of one round of traffic.
const ROUND: Duration = Duration::from_secs(10);

/// The totals of a set of rounds.
#[derive(Default, Debug)]
struct Totals {
    rounds: u64,
    sent: u64,
    echoed: u64,
    lost: u64,
    damaged: u64,
}

impl Totals {
    fn add(&mut self, s: &EchoSummary) {
        self.rounds += 1;
        self.sent += s.sent;
        self.echoed += s.echoed;
        self.lost += s.lost;
        self.damaged += s.mismatched + s.duplicates + s.out_of_order;
    }
}

/// A number from `key: N kB`-style text, e.g. VmRSS in /proc/PID/status.
fn kb_field(text: &str, key: &str) -> Option<u64> {
    text.lines()
        .find_map(|l| l.strip_prefix(key))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|n| n.parse().ok())
}

/// The driver's memory, KiB, from its `/proc/PID/status`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Memory {
    /// Resident (`VmRSS`): its code, heap and the DMA memory on 4 KiB pages.
    resident: u64,
    /// Locked (`VmLck`): what VFIO pinned for DMA on 4 KiB pages.
    locked: u64,
    /// On hugepages (`HugetlbPages`), which `VmRSS` leaves out.
    hugetlb: u64,
}

impl Memory {
    /// Parses a `/proc/PID/status`.
    fn parse(status: &str) -> Option<Memory> {
        Some(Memory {
            resident: kb_field(status, "VmRSS:")?,
            locked: kb_field(status, "VmLck:").unwrap_or(0),
            hugetlb: kb_field(status, "HugetlbPages:").unwrap_or(0),
        })
    }

    /// Everything it holds: resident plus hugepages.
    fn total(self) -> u64 {
        self.resident + self.hugetlb
    }
}

impl std::fmt::Display for Memory {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} KiB resident ({} KiB of it locked for DMA) + {} KiB on hugepages",
            self.resident, self.locked, self.hugetlb
        )
    }
}

/// The echo's memory.
fn memory(g: &Guest) -> Result<Memory> {
    let r = g.run_ok("cat /proc/$(pidof e1000)/status", Duration::from_secs(10))?;
    Memory::parse(&r.output()).ok_or_else(|| g.error("no VmRSS for e1000"))
}

/// Free buffers and buffers in all, from the pool line `echo: pool: F of
/// N buffers free` of the CLI.
fn pool_counts(line: &str) -> Option<(u64, u64)> {
    let mut words = line.split("pool: ").nth(1)?.split_whitespace();
    let free = words.next()?.parse().ok()?;
    let size = words.nth(1)?.parse().ok()?;
    Some((free, size))
}

/// Runs the soak; returns the exit status.
pub fn main(args: &[String]) -> Result<i32> {
    let (mut minutes, mut model, mut rate) = (10u64, "e1000e".to_string(), 2_000u64);
    let (mut queues, mut ring) = (1u32, None::<u32>);
    let mut out = crate::vm::assets::workspace_root().join("bench/results/soak.md");
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let mut value = || {
            it.next()
                .cloned()
                .ok_or_else(|| anyhow::anyhow!("{a} needs a value; usage: {USAGE}"))
        };
        match a.as_str() {
            "--minutes" => {
                minutes = value()?
                    .parse()
                    .map_err(|_| anyhow::anyhow!("--minutes N"))?
            }
            "--model" => model = value()?,
            "--rate" => {
                rate = value()?
                    .parse()
                    .map_err(|_| anyhow::anyhow!("--rate FRAMES_PER_S"))?
            }
            "--queues" => {
                queues = value()?
                    .parse()
                    .map_err(|_| anyhow::anyhow!("--queues N"))?
            }
            "--ring" => ring = Some(value()?.parse().map_err(|_| anyhow::anyhow!("--ring N"))?),
            "--out" => out = PathBuf::from(value()?),
            other => bail!("unknown argument {other}; usage: {USAGE}"),
        }
    }
    ensure!(minutes >= 1, "--minutes must be at least 1");
    let model: &'static str = Box::leak(model.into_boxed_str());
    let mut config = GuestConfig::with_nics(&[model]);
    // SOAK_TRACE=PATTERN logs those QEMU trace events (as `cargo xtask run
    // --trace`), e.g. 'e1000e_irq_*' to see which vector fires when.
    config.trace = std::env::var("SOAK_TRACE").ok();
    let g = Guest::boot(config)?;
    let nic = g.nic(0);
    let sizing = format!(
        "--queues {queues}{}",
        ring.map_or(String::new(), |n| format!(" --ring {n}"))
    );
    let mut job = g.spawn(&format!(
        "e1000 echo {} {sizing} --timeout {} --quiet",
        nic.pci,
        minutes * 60 + 300
    ))?;
    let ready = job.wait_line(|l| l.contains("echo: ready"), Duration::from_secs(60))?;
    let pool_line = job.wait_line(|l| l.contains("echo: pool:"), Duration::from_secs(10))?;
    let (pool_start, pool_size) = pool_counts(&pool_line).ok_or_else(|| g.error("no pool line"))?;
    let mem_start = memory(&g)?;
    eprintln!("soak: {ready}; {minutes} min at {rate} frames/s; memory {mem_start}");
    let peer = Peer::new(nic)?;
    let rounds = (minutes * 60).div_ceil(ROUND.as_secs());
    let fault_round = rounds / 2;
    let per_round = (rate * ROUND.as_secs()) as usize;
    let (mut steady, mut faulted) = (Totals::default(), Totals::default());
    let mut table = String::new();
    let started = Instant::now();
    for round in 0..rounds {
        let summary = if round == fault_round {
            let socket = nic.socket.try_clone()?;
            let flood = std::thread::spawn(move || {
                Peer::with_socket(socket, Mac::nic(0)).flood(
                    per_round,
                    TrafficSpec::default(),
                    Some(rate),
                    Duration::from_secs(3),
                )
            });
            std::thread::sleep(Duration::from_secs(2));
            g.set_link(0, false)?;
            std::thread::sleep(Duration::from_secs(1));
            g.set_link(0, true)?;
            std::thread::sleep(Duration::from_secs(2));
            g.run_ok("kill -STOP $(pidof e1000)", Duration::from_secs(10))?;
            std::thread::sleep(Duration::from_secs(1));
            g.run_ok("kill -CONT $(pidof e1000)", Duration::from_secs(10))?;
            let s = flood
                .join()
                .map_err(|_| g.error("the flood thread panicked"))??;
            faulted.add(&s);
            s
        } else {
            let s = peer.flood(
                per_round,
                TrafficSpec::default(),
                Some(rate),
                Duration::from_secs(3),
            )?;
            steady.add(&s);
            s
        };
        let what = if round == fault_round {
            "link flap + SIGSTOP 1 s"
        } else {
            "steady"
        };
        let _ = writeln!(
            table,
            "| {round} | {what} | {} | {} | {} | {} |",
            summary.sent,
            summary.echoed,
            summary.lost,
            summary.mismatched + summary.duplicates + summary.out_of_order
        );
        eprintln!("soak: round {round}/{rounds} ({what}): {summary}");
    }
    let elapsed = started.elapsed();
    let mem_end = memory(&g)?;
    g.run_ok("killall -INT e1000", Duration::from_secs(10))?;
    let r = job.wait(Duration::from_secs(60))?;
    let output = r.output();
    let pool_end = output
        .lines()
        .rev()
        .find_map(|l| pool_counts(l).map(|(free, _)| free))
        .ok_or_else(|| g.error(format!("no pool line at the end:\n{output}")))?;
    let dmar = g.run(
        "dmesg | grep -ciE 'DMAR.*fault|DMA (Read|Write)' || true",
        Duration::from_secs(10),
    )?;
    let dmar_faults: u64 = dmar.output().trim().parse().unwrap_or(u64::MAX);
    let summary_lines: Vec<&str> = output.lines().filter(|l| l.starts_with("echo: ")).collect();

    let mut report = String::new();
    let _ = writeln!(
        report,
        "# Soak: `e1000 echo {sizing}` on `{model}` for {minutes} min\n"
    );
    let _ = writeln!(
        report,
        "`cargo xtask soak --minutes {minutes} --model {model} --rate {rate} {sizing}`: {:.0} s of traffic at {rate} frames/s in {}-second rounds, every echo checked byte by byte; round {fault_round} carries a 1 s link-down (QMP `set_link`) and a 1 s SIGSTOP of the driver.\n",
        elapsed.as_secs_f64(),
        ROUND.as_secs()
    );
    let _ = writeln!(report, "| | rounds | frames sent | echoed intact | lost | damaged (mismatched, duplicated, reordered) |\n|---|---|---|---|---|---|");
    for (name, t) in [("steady", &steady), ("with the faults", &faulted)] {
        let _ = writeln!(
            report,
            "| {name} | {} | {} | {} | {} | {} |",
            t.rounds, t.sent, t.echoed, t.lost, t.damaged
        );
    }
    let _ = writeln!(
        report,
        "\n- driver memory: {mem_start} at the start; {mem_end} at the end ({pool_size} packet buffers over {queues} queue(s))\n- pool buffers free: {pool_start} at the start, {pool_end} at the end\n- DMAR faults in the guest log: {dmar_faults}\n- driver exit status: {}\n\nThe driver's summary:\n\n```\n{}\n```\n\nEvery round:\n\n| round | traffic | sent | echoed | lost | damaged |\n|---|---|---|---|---|---|\n{table}",
        r.status,
        summary_lines.join("\n")
    );
    if let Some(dir) = out.parent() {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::write(&out, &report)?;
    eprintln!("{report}");
    eprintln!("soak: report written to {}", out.display());
    ensure!(
        steady.lost == 0 && steady.damaged == 0 && steady.sent == steady.echoed,
        "steady rounds lost or damaged frames: {steady:?}"
    );
    ensure!(
        faulted.damaged == 0,
        "frames damaged around the faults: {faulted:?}"
    );
    ensure!(
        mem_end.total() <= mem_start.total() + 1024,
        "the driver's memory grew from {mem_start} to {mem_end}"
    );
    ensure!(
        pool_end == pool_start,
        "pool buffers free: {pool_start} at the start, {pool_end} at the end"
    );
    ensure!(dmar_faults == 0, "{dmar_faults} DMAR faults");
    ensure!(r.status == 0, "echo exited {}:\n{output}", r.status);
    println!(
        "soak: passed ({} frames checked)",
        steady.sent + faulted.sent
    );
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_memory_and_pool_lines() {
        let status =
            "Name:\te1000\nVmLck:\t  4096 kB\nVmRSS:\t  5120 kB\nHugetlbPages:\t 65536 kB\n";
        let m = Memory::parse(status).unwrap();
        assert_eq!(
            (m.resident, m.locked, m.hugetlb, m.total()),
            (5120, 4096, 65536, 70656)
        );
        assert_eq!(
            Memory::parse("VmRSS:\t 10 kB\n").map(|m| m.total()),
            Some(10)
        );
        assert_eq!(Memory::parse("Name:\te1000\n"), None);
        assert_eq!(
            pool_counts("echo: pool: 1536 of 2048 buffers free"),
            Some((1536, 2048))
        );
        assert_eq!(pool_counts("echo: summary: rx 1"), None);
    }
}
