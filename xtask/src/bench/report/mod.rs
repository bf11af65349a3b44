//! The Markdown report, `bench/results/README.md`: per model, TX against
//! testpmd and pktgen, TCP segmentation against testpmd, echo, latency and guest CPU per frame against
//! testpmd's macswap and the kernel driver with AF_PACKET, MMIO per frame,
//! and the issues' targets with whether each is met.

mod cpu;
mod targets;

use super::chart::short;
use super::ladder::{self, Rung};
use super::measure::{self, EchoResult, TxCount};
use super::profile::{Bucket, Profile};
use super::{BenchRun, ModelResult, TX_SIZES};
use cpu::{cpu_section, profile_section};
use std::fmt::Write;
use targets::{losses, targets};

/// The original C driver's poll-mode echo ceiling the issue quotes.
const C_DRIVER_POLL_KPPS: f64 = 46_000.0;

fn ratio(a: Option<f64>, b: Option<f64>) -> String {
    match (a, b) {
        (Some(a), Some(b)) if b > 0.0 && a.is_finite() && b.is_finite() => format!("{:.2}×", a / b),
        _ => "–".into(),
    }
}

fn met(ok: Option<bool>) -> &'static str {
    match ok {
        Some(true) => "**met**",
        Some(false) => "**missed**",
        None => "not measured",
    }
}

fn lossless_text(e: &EchoResult) -> String {
    match (e.lossless(), e.rungs.first()) {
        (Some(v), _) => short(v as f64),
        (None, Some(first)) => format!("< {}", short(first.offered as f64)),
        (None, None) => "–".into(),
    }
}

fn rungs_text(rungs: &[Rung]) -> String {
    rungs
        .iter()
        .map(|r| {
            if ladder::carried(r) {
                format!("{} ✓", short(r.offered as f64))
            } else if r.perfect {
                format!(
                    "{} ✗ (all back, but late: at {})",
                    short(r.offered as f64),
                    short(r.echoed_rate)
                )
            } else {
                format!(
                    "{} ✗ ({}/{} back at {})",
                    short(r.offered as f64),
                    r.echoed,
                    r.sent,
                    short(r.echoed_rate)
                )
            }
        })
        .collect::<Vec<_>>()
        .join(", ")
}

fn tx_of(v: &[TxCount], size: usize) -> Option<&TxCount> {
    v.iter().find(|t| t.size == size)
}

/// How the report names an echo path.
fn path_name(mode: &str) -> String {
    match mode {
        "kernel" => "kernel + AF_PACKET".to_string(),
        "testpmd" => "DPDK testpmd macswap".to_string(),
        "receive alone" => "ours, receive alone (poll)".to_string(),
        mode => format!("ours, `--irq {mode}`"),
    }
}

/// The emulation's TX ceiling as measured: the best rate any sender reached.
fn tx_ceiling(m: &ModelResult, size: usize) -> Option<f64> {
    m.tx_ours
        .iter()
        .chain(&m.tx_dpdk)
        .chain(&m.tx_kernel)
        .filter(|t| t.size == size)
        .map(|t| t.fps)
        .fold(None, |a: Option<f64>, v| Some(a.map_or(v, |a| a.max(v))))
}

/// Our cost at `rate` in `e`, as "µs per frame (CPUs busy)", with each
/// run's µs per frame when the rate was measured in several runs.
fn cost_text(e: &EchoResult, rate: u64) -> String {
    let runs = if rate == measure::REPEATED_COST_RATE {
        runs_text(&e.run_costs(), 1)
    } else {
        String::new()
    };
    e.cost
        .iter()
        .find(|c| c.rate == rate)
        .map_or("–".into(), |c| {
            format!(
                "{:.1} ({:.2}){}{runs}",
                c.guest_us,
                c.guest_cpus,
                if c.perfect { "" } else { " lossy" }
            )
        })
}

/// " [a, b, c]": each run's value, when there was more than one run.
fn runs_text(values: &[f64], decimals: usize) -> String {
    if values.len() < 2 {
        return String::new();
    }
    let list: Vec<String> = values.iter().map(|v| format!("{v:.decimals$}")).collect();
    format!(" [{}]", list.join(", "))
}

fn model_section(s: &mut String, m: &ModelResult) {
    let _ = writeln!(
        s,
        "\n## {} (one boot, {:.0} s; host load average {:.1} at the start, {:.1} at the end, on {} cores)\n",
        m.model,
        m.seconds,
        m.load.0,
        m.load.1,
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    let _ = writeln!(s, "![{} chart]({})\n", m.model, super::chart_file(&m.model));
    comparison(s, m);
    segmentation(s, m);
    header_split(s, m);
    losses(s, m);
    if let Some(p) = &m.profile {
        profile_section(s, p);
    }
    cpu_section(s, m);
    targets(s, m);
    problems(s, m);
}

/// `m`'s TX table and its echo table, each path's settings and ladders:
/// ours against the peers measured in the same boot.
pub fn comparison(s: &mut String, m: &ModelResult) {
    let _ = writeln!(
        s,
        "### TX: `e1000 send` vs DPDK's testpmd (`txonly`){}\n\n\
         Frames counted at the host end of the link. *ours ÷ it* is `e1000 send`'s rate over that sender's. \
         `e1000 send` and testpmd ran in turn, size after size, round after round: each shows its median run, \
         and in square brackets every run's rate in order{}.\n",
        if m.tx_kernel.is_empty() { "" } else { " vs the kernel's `pktgen`" },
        if m.tx_kernel.is_empty() { "" } else { "; `pktgen` ran once per setting" },
    );
    let _ = writeln!(
        s,
        "| frame (on the wire) | sender and its settings | frames/s | ours ÷ it | frames at the peer | MMIO per frame (reads, writes) |\n|---|---|---|---|---|---|"
    );
    for size in TX_SIZES {
        let ours = tx_of(&m.tx_ours, size).map(|t| t.fps);
        let senders = m
            .tx_ours
            .iter()
            .chain(&m.tx_dpdk)
            .chain(&m.tx_kernel)
            .filter(|t| t.size == size);
        for t in senders {
            let _ = writeln!(
                s,
                "| {} B | {} | {:.0}{} | {} | {}/{} | {} |",
                size + 4,
                t.settings,
                t.fps,
                runs_text(&t.runs_fps, 0),
                ratio(ours, Some(t.fps)),
                t.received,
                t.asked,
                t.mmio
                    .map_or("–".into(), |(r, w)| format!("{r:.3}, {w:.3}")),
            );
        }
    }
    let kernel = m.kernel_echo();
    let dpdk = m.dpdk_echo();
    let k_lossless = kernel.and_then(|k| k.lossless()).map(|v| v as f64);
    let d_lossless = dpdk.and_then(|k| k.lossless()).map(|v| v as f64);
    let d_p50 = dpdk.and_then(|k| k.ping).map(|p| p.0);
    let poll_p50 = m
        .echo
        .iter()
        .find(|e| e.mode == "poll")
        .and_then(|e| e.ping)
        .map(|p| p.0);
    let [low, high] = super::measure::COST_RATES;
    let _ = writeln!(
        s,
        "\n### Echo, latency and cost: `e1000 echo` vs testpmd `macswap`{}\n\n\
         64-byte frames (60 + FCS). *Lossless* is the highest offered rate that it and every lower rung \
         returned completely, intact and in order, and at pace (echoes coming back at ≥ 95 % of the rate sent, \
         so a backlog drained after the rung does not count); *saturation* is the highest rate echoes came back \
         at on any rung. *Guest CPU* is both vCPUs less their idle time, which a tickless guest kernel \
         measures exactly at each idle entry and exit (the guest's `/proc/uptime`; `/proc/stat`'s busy \
         fields are sampled at the timer tick, which a periodic interrupt can fall into step with), \
         over 2 s in the middle of 4 s at a fixed offered rate: µs of guest CPU per echoed frame, and in \
         brackets the vCPUs busy (1.00 = one vCPU all the time). Ping-pong and the cost at {} frames/s are the medians of {} runs \
         of each path (the first with its ladder, the others started afresh in turn, path after path, \
         so that a slow minute of the shared host weighs on every path alike); square brackets give \
         each run's value, in order. *Guest reaction* is the part of a round trip spent in the guest: \
         from QEMU's NIC model starting to receive the frame to the guest's write of the TX tail \
         (QEMU's own trace events, on for a separate ping-pong of as many frames; QEMU's 8254x model \
         has no such events). It is the driver's own latency plus the model's receive path (the same \
         for every driver), without the link and the host peer.\n",
        if kernel.is_some() { " vs kernel driver + `afpacket-echo`" } else { "" },
        short(measure::REPEATED_COST_RATE as f64),
        m.echo.iter().map(|e| e.runs.len()).max().unwrap_or(1)
    );
    let _ = writeln!(
        s,
        "| path | lossless, frames/s | vs testpmd | vs kernel | saturation, frames/s | ping-pong p50 / p99, µs | p50 vs testpmd | p50 vs poll | guest reaction p50, µs | guest CPU µs/frame at {} (vCPUs) | at {} | MMIO per frame, flood (reads, writes) | MMIO per frame, ping-pong |\n|---|---|---|---|---|---|---|---|---|---|---|---|---|",
        short(low as f64),
        short(high as f64)
    );
    for e in &m.echo {
        let name = path_name(&e.mode);
        let p50 = e.ping.map(|p| p.0);
        let mmio =
            |v: Option<(f64, f64)>| v.map_or("–".into(), |(r, w)| format!("{r:.3}, {w:.3}"));
        let own = |peer: &str| e.mode == peer;
        let _ = writeln!(
            s,
            "| {name} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
            lossless_text(e),
            if own("testpmd") {
                "–".into()
            } else {
                ratio(e.lossless().map(|v| v as f64), d_lossless)
            },
            if own("kernel") {
                "–".into()
            } else {
                ratio(e.lossless().map(|v| v as f64), k_lossless)
            },
            short(ladder::saturation(&e.rungs)),
            e.ping.map_or("–".into(), |(a, b, lost)| {
                let lost = if lost > 0 {
                    format!(" ({lost} lost)")
                } else {
                    String::new()
                };
                format!("{a:.0} / {b:.0}{lost}{}", runs_text(&e.run_p50s(), 0))
            }),
            if own("testpmd") {
                "–".into()
            } else {
                ratio(p50, d_p50)
            },
            ratio(p50, poll_p50),
            e.reaction.map_or("–".into(), |r| format!(
                "{r:.0}{}",
                runs_text(&e.run_reactions(), 0)
            )),
            cost_text(e, low),
            cost_text(e, high),
            mmio(e.mmio_flood),
            mmio(e.mmio_ping),
        );
    }
    let _ = writeln!(s, "\nEach path's settings:\n");
    for e in &m.echo {
        let _ = writeln!(s, "- {}: {}", path_name(&e.mode), e.settings);
    }
    let _ = writeln!(s, "\nLadders (offered rate, ✓ lossless, ✗ lossy):\n");
    for e in &m.echo {
        let _ = writeln!(s, "- {}: {}", e.mode, rungs_text(&e.rungs));
    }
}

/// `m`'s TCP segmentation table: `e1000 send --tso` against the same
/// segments sent one frame each and against DPDK's best on the family.
fn segmentation(s: &mut String, m: &ModelResult) {
    use measure::{SegmentSender, SEGMENT, SEGMENTS_PER_FRAME, TSO_FRAME};
    let Some(ours) = m.tso.iter().find(|r| r.sender == SegmentSender::OursTso) else {
        return;
    };
    let _ = writeln!(
        s,
        "\n### TCP segmentation: `e1000 send --tso` vs one frame per segment vs DPDK\n\n\
         Frames of {} bytes on the wire (FCS included: TCP/IPv4 segments, and UDP frames in the UDP rows), counted at the host end of the link: \
         with TSO the driver hands the NIC one {TSO_FRAME}-byte frame that it cuts into {SEGMENTS_PER_FRAME}. \
         The senders ran in turn, round after round: each shows its median run and, in square brackets, \
         every run's rate in order. The UDP rows send frames of the same size with no UDP checksum (testpmd's \
         `txonly` builds no TCP): QEMU's models compute every TCP checksum and cut every segment in software, \
         so a UDP frame costs them less than any TCP segment; those rows are the models' ceiling for frames of \
         this size, not a TCP sender. *Guest CPU per segment* is the guest's busy vCPUs (from its exact idle time, \
         over {} s in the middle of the flow) over the segment rate; every sender here runs flat out, so it \
         tells what a segment costs at that rate, not what a slower flow would cost. \
         *ours ÷ it* compares `e1000 send --tso` with each: above 1 it sends more, below 1 it spends less CPU.\n",
        SEGMENT + 4,
        measure::TSO_CPU_WINDOW_SECS,
    );
    let _ = writeln!(
        s,
        "| sender and its settings | segments/s | Mbit/s | ours ÷ it, segments/s | guest vCPUs busy | guest CPU per segment, ns | ours ÷ it, CPU per segment | segments at the peer |\n|---|---|---|---|---|---|---|---|"
    );
    for r in &m.tso {
        let _ = writeln!(
            s,
            "| {}{} | {:.0}{} | {:.0} | {} | {} | {} | {} | {}/{} |",
            r.tx.settings,
            if r.fed_limited() {
                " (it sent about all it was fed: its own limit may be higher)"
            } else {
                ""
            },
            r.tx.fps,
            runs_text(&r.tx.runs_fps, 0),
            r.mbit_per_s(),
            ratio(Some(ours.tx.fps), Some(r.tx.fps)),
            r.busy_cpus.map_or("–".into(), |b| format!("{b:.2}")),
            r.ns_per_segment().map_or("–".into(), |n| format!("{n:.0}")),
            ratio(ours.ns_per_segment(), r.ns_per_segment()),
            r.tx.received,
            r.tx.asked,
        );
    }
}

/// The header split table: per frame size, `e1000 echo` without and with
/// `--header-split`, each the median of its runs.
fn header_split(s: &mut String, m: &ModelResult) {
    if m.split.is_empty() {
        return;
    }
    let _ = writeln!(
        s,
        "\n### Header split: `e1000 echo --irq poll` without and with `--header-split`\n\n\
         IPv4/UDP frames, which the NIC splits: their 42 bytes of headers into a buffer of their own, the \
         payload into another; the driver sends each frame back from its two buffers (two descriptors). \
         Without, one buffer and one descriptor each way. The two ran in turn, round after round: each figure \
         is the median run, every run in square brackets. *with ÷ without* above 1 means header split carries \
         more (lossless rate) or takes longer (round trip).\n"
    );
    let _ = writeln!(
        s,
        "| frame bytes | lossless echo, fps: without | with | with ÷ without | round trip p50, µs: without | with | with ÷ without |\n|---|---|---|---|---|---|---|"
    );
    for size in measure::SPLIT_SIZES {
        let pick = |split: bool| -> (Vec<f64>, Vec<f64>) {
            let runs = m
                .split
                .iter()
                .filter(|r| r.size == size && r.split == split);
            let lossless = runs
                .clone()
                .map(|r| r.lossless.unwrap_or(0) as f64)
                .collect();
            let p50 = runs.filter_map(|r| r.ping.map(|p| p.0)).collect();
            (lossless, p50)
        };
        let (plain, split) = (pick(false), pick(true));
        let mid = |v: &[f64]| measure::median(&mut v.to_vec());
        let (l0, l1, p0, p1) = (mid(&plain.0), mid(&split.0), mid(&plain.1), mid(&split.1));
        let show = |v: Option<f64>, all: &[f64], d: usize| {
            v.map_or("–".into(), |v| format!("{v:.d$}{}", runs_text(all, d)))
        };
        let _ = writeln!(
            s,
            "| {size} | {} | {} | {} | {} | {} | {} |",
            show(l0, &plain.0, 0),
            show(l1, &split.0, 0),
            ratio(l1, l0),
            show(p0, &plain.1, 1),
            show(p1, &split.1, 1),
            ratio(p1, p0),
        );
    }
}

/// The measurements of `m` that failed, if any.
pub fn problems(s: &mut String, m: &ModelResult) {
    if !m.notes.is_empty() {
        let _ = writeln!(s, "\nProblems during this run:\n");
        for n in &m.notes {
            let _ = writeln!(s, "- {n}");
        }
    }
}

/// The report of `run`.
pub fn markdown(run: &BenchRun) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "# Benchmark: `e1000` (user space, VFIO) vs DPDK's testpmd vs the Linux kernel driver\n\n\
         Produced by `{}` on {} with {} (TCG, q35, vIOMMU on, {} vCPUs, 1 GiB); the whole run took {:.0} s{}.\n\n\
         Each model is one guest boot, one emulated NIC, driven in turn by: our driver (`e1000 send`, \
         `e1000 send --tso`, `e1000 dump --quiet` receiving alone, `e1000 echo` in every interrupt mode the model offers); \
         DPDK {} `dpdk-testpmd` on the same vfio-pci device (`txonly`, `macswap`, and `csum` with TSO on igb; one forwarding lcore, \
         32-frame bursts; Debian's packages unpacked into the guest's initramfs); then the guest kernel's \
         driver (`pktgen` with burst 1 and burst 32; `afpacket-echo`, an AF_PACKET echo program). \
         Every peer's settings are printed beside its numbers. \
         **The link**: every table of this run used QEMU's `-netdev dgram` on {} (QEMU inherits one end), \
         frames counted at the host end (one datagram per frame). \
         Absolute numbers depend on the host and its load (2 shared cores): read the ratios. \
         The charts are `chart-<model>.svg`.",
        run.command,
        run.date,
        run.qemu_version,
        crate::vm::GUEST_CPUS,
        run.seconds,
        if run.quick { " (`--quick`: short runs, noisy)" } else { "" },
        crate::vm::dpdk::DPDK_VERSION,
        run.link.describe()
    );
    if run.link == crate::vm::guest::Link::Unix {
        let _ = writeln!(
            s,
            "\nOn the Unix-domain link a full socket makes the sender wait instead of dropping \
             (so there are no drops at either socket to attribute, and QEMU's transmit path can be \
             held up by the host peer), and the host kernel gives no arrival timestamps for it: \
             TX rates are the times the counter read the frames, which overstates a rate when it \
             reads a backlog."
        );
    }

    let h = &run.host;
    let _ = writeln!(
        s,
        "\n## The host peer's own ceiling\n\n\
         Measured with no guest, against plain UDP sockets on the host:\n\n\
         - it sends {:.0} frames/s (64-byte test frames into a socket nobody reads);\n\
         - against a host thread echoing by the same contract it is lossless up to {} frames/s, \
         and echoes come back at up to {} frames/s. Ladder: {}.\n\n\
         Offered rates above these are the peer's limit, not the guest's.",
        h.send_fps,
        ladder::highest_lossless(&h.echo).map_or("–".into(), |v| short(v as f64)),
        short(ladder::saturation(&h.echo)),
        rungs_text(&h.echo)
    );
    for m in &run.models {
        model_section(&mut s, m);
    }
    s
}
