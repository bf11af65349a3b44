//! The Markdown report, `bench/results/README.md`: per model, TX against
//! testpmd and pktgen, echo, latency and guest CPU per frame against
//! testpmd's macswap and the kernel driver with AF_PACKET, MMIO per frame,
//! and the issues' targets with whether each is met.

use super::chart::short;
use super::ladder::{self, Rung};
use super::measure::{self, EchoResult, TxCount};
use super::profile::{Bucket, Profile};
use super::{BenchRun, ModelResult, TX_SIZES};
use std::fmt::Write;

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
    let _ = writeln!(
        s,
        "### TX: `e1000 send` vs DPDK's testpmd (`txonly`) vs the kernel's `pktgen`\n\n\
         Frames counted at the host end of the link. *ours ÷ it* is `e1000 send`'s rate over that sender's. \
         `e1000 send` and testpmd ran in turn, size after size, round after round: each shows its median run, \
         and in square brackets every run's rate in order; `pktgen` ran once per setting.\n"
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
        "\n### Echo, latency and cost: `e1000 echo` vs testpmd `macswap` vs kernel driver + `afpacket-echo`\n\n\
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
    losses(s, m);
    if let Some(p) = &m.profile {
        profile_section(s, p);
    }
    cpu_section(s, m);
    targets(s, m);
    if !m.notes.is_empty() {
        let _ = writeln!(s, "\nProblems during this model's run:\n");
        for n in &m.notes {
            let _ = writeln!(s, "- {n}");
        }
    }
}

/// Where the guest CPU of the pure-interrupt echo goes at the cost rate:
/// the interval sweep, and its split into a part per frame and a part per
/// interrupt, against a third of testpmd's cost.
fn cpu_section(s: &mut String, m: &ModelResult) {
    let (mode, points) = &m.cost_sweep;
    if points.is_empty() {
        return;
    }
    let rate = measure::REPEATED_COST_RATE;
    let dpdk_cost = m
        .dpdk_echo()
        .and_then(|d| d.cost.iter().find(|c| c.rate == rate));
    let dpdk = dpdk_cost.map(|c| c.guest_us);
    let dpdk_host = dpdk_cost.and_then(|c| c.vcpu_us);
    let _ = writeln!(
        s,
        "\n### Where the guest CPU goes at {}\n\n\
         `e1000 echo --irq {mode} --busy-poll 0 --irq-interval I`, one run per interval, {} offered. \
         *Interrupts* are vfio-pci's in the guest's `/proc/interrupts`, over the same 2 s as the CPU. \
         *Host CPU* is what QEMU's vCPU threads used on the host per frame over the whole 4 s flood: it leaves out \
         the time a vCPU waited for a host core or for QEMU's big lock, which the guest counts as busy.\n\n\
         | `--irq-interval` | interrupts/s | frames per interrupt | guest CPU µs/frame (vCPUs) | ÷ testpmd | host CPU µs/frame, ours vs testpmd | every frame back |\n|---|---|---|---|---|---|---|",
        short(rate as f64),
        short(rate as f64),
    );
    for p in points {
        let c = &p.cost;
        let per_frame = c.interrupts_per_frame.unwrap_or(0.0);
        let echoed = c.guest_cpus * 1e6 / c.guest_us.max(1e-9);
        let _ = writeln!(
            s,
            "| {} µs | {:.0} | {} | {:.1} ({:.2}) | {} | {} vs {} | {} |",
            p.interval_us,
            per_frame * echoed,
            if per_frame > 0.0 {
                format!("{:.1}", 1.0 / per_frame)
            } else {
                "–".into()
            },
            c.guest_us,
            c.guest_cpus,
            ratio(Some(c.guest_us), dpdk),
            c.vcpu_us.map_or("–".into(), |v| format!("{v:.1}")),
            dpdk_host.map_or("–".into(), |v| format!("{v:.1}")),
            if c.perfect { "yes" } else { "no" }
        );
    }
    let xy: Vec<(f64, f64)> = points
        .iter()
        .filter_map(|p| Some((p.cost.interrupts_per_frame?, p.cost.guest_us)))
        .collect();
    let Some((per_frame, per_irq)) = measure::split_cost(&xy) else {
        return;
    };
    let _ = write!(
        s,
        "\nA straight line through these points (least squares) splits the cost: **{per_frame:.1} µs per frame** \
         however few interrupts carry it (QEMU's transmit path and its `sendto`, which run inside the guest's \
         tail write, the driver's own work, and the vCPU's waits for QEMU's big lock, which the main loop holds \
         while it receives), and **{per_irq:.0} µs per interrupt** (waking the halted vCPU, \
         the guest kernel's handler, the eventfd, the scheduler and `poll`, all as emulated code)."
    );
    if let Some(d) = dpdk {
        let third = d / 3.0;
        let _ = write!(
            s,
            " testpmd costs {d:.1} µs per frame at this rate, polling; a third of it is {third:.1} µs."
        );
        if per_frame >= third {
            let _ = write!(
                s,
                " The part per frame alone is above that, so no interval reaches a third on this host. \
                 (testpmd's cost at a fixed rate is one polling vCPU whatever the host, ours is the emulation's \
                 work per frame: on a host that runs the emulation faster the part per frame shrinks, and \
                 testpmd's does not.)"
            );
        } else {
            let frames = per_irq / (third - per_frame);
            let _ = write!(
                s,
                " That takes at least {frames:.0} frames per interrupt: one interrupt every {:.0} µs at {}.",
                frames * 1e6 / rate as f64,
                short(rate as f64)
            );
        }
    }
    let adaptive = m
        .ours_echo()
        .find(|e| e.mode.ends_with("--adaptive-irq"))
        .and_then(|e| e.cost.iter().find(|c| c.rate == rate))
        .and_then(|c| c.interrupts_per_frame.filter(|&v| v > 0.0));
    if let Some(v) = adaptive {
        let _ = write!(
            s,
            " `--adaptive-irq` carried {:.1} frames per interrupt at this rate (its median run above).",
            1.0 / v
        );
    }
    let _ = writeln!(s);
}

/// Where QEMU's threads spent their time while the echo was saturated.
fn profile_section(s: &mut String, p: &Profile) {
    let _ = writeln!(
        s,
        "\n### Where QEMU's time goes at saturation\n\n\
         `perf record` with call graphs ({} Hz) of QEMU's vCPU thread and main loop over {:.0} s \
         of {}; {} frames/s came back meanwhile (the profiler takes CPU too, so fewer than \
         without it). Each sample is sorted by the functions on its call chain: QEMU's binary is \
         stripped but exports its register-write entry (`memory_region_dispatch_write`), frame \
         transmit (`net_tx_pkt_send`), frame receive (`qemu_net_queue_send`), main loop and \
         big lock, and the host kernel names its socket calls.\n\n\
         | where | vCPU thread, % of a core | main loop, % of a core | CPU µs per echoed frame |\n\
         |---|---|---|---|",
        p.frequency,
        p.seconds,
        p.during,
        short(p.echoed_rate)
    );
    for b in Bucket::ALL {
        let (v, m) = (p.vcpu.of(b), p.main_loop.of(b));
        if v + m == 0 {
            continue;
        }
        let _ = writeln!(
            s,
            "| {} | {:.0} % | {:.0} % | {:.1} |",
            b.label(),
            100.0 * p.share(v),
            100.0 * p.share(m),
            p.us_per_frame(v + m)
        );
    }
    let (v, m) = (p.vcpu.samples(), p.main_loop.samples());
    let _ = writeln!(
        s,
        "| **total** | {:.0} % | {:.0} % | {:.1} |",
        100.0 * p.share(v),
        100.0 * p.share(m),
        p.us_per_frame(v + m)
    );
    let guest = p.vcpu.of(Bucket::GuestCode);
    let emulation: u64 = Bucket::ALL
        .iter()
        .filter(|b| b.is_device_work())
        .map(|&b| p.vcpu.of(b) + p.main_loop.of(b))
        .sum();
    let us = p.us_per_frame(emulation);
    let _ = writeln!(
        s,
        "\nGuest code (our driver and the guest kernel, as TCG runs it) is {:.0} % of the vCPU \
         thread, {:.1} µs per frame. The NIC model and its socket calls (both transmit rows, \
         both receive rows, the register accesses) run under QEMU's big lock, one thread at a \
         time: {:.1} µs per frame, so at most {} frames/s however little the driver does.",
        100.0 * p.share(guest),
        p.us_per_frame(guest),
        us,
        short(1e6 / us.max(1e-9))
    );
}

/// Frames of `rungs` lost neither at QEMU's socket nor at the peer's, nor
/// echoed late: lost inside the guest (NIC or driver). `None` without drop
/// counters.
fn lost_in_guest(rungs: &[Rung]) -> Option<u64> {
    rungs.iter().try_fold(0, |acc, r| {
        let d = r.drops?;
        Some(acc + r.sent.saturating_sub(r.echoed + r.late + d.qemu + d.peer))
    })
}

/// The echo rate if receive and transmit emulation cannot overlap: from the
/// receive-alone saturation and the best 64-byte TX rate of any sender.
fn serial_bound(m: &ModelResult) -> Option<f64> {
    let rx = ladder::saturation(&m.rx_only);
    let tx = tx_ceiling(m, 60)?;
    (rx > 0.0 && tx > 0.0).then(|| rx * tx / (rx + tx))
}

fn cpu_text(r: &Rung) -> String {
    r.cpu.map_or("–".into(), |c| {
        format!(
            "{:.0}% (+{:.0}%) / {:.0}% (+{:.0}%) / {:.0}% / {:.0}% ({:.0}%)",
            c.vcpu * 100.0,
            c.vcpu_wait * 100.0,
            c.main_loop * 100.0,
            c.main_wait * 100.0,
            c.peer * 100.0,
            c.host_busy * 100.0,
            c.host_steal * 100.0
        )
    })
}

/// Where each path's frames were lost (at its first lossy rung and over the
/// whole ladder) and where the host's CPU went: the evidence for what caps
/// the echo rate.
fn losses(s: &mut String, m: &ModelResult) {
    let cores = m
        .echo
        .iter()
        .flat_map(|e| &e.rungs)
        .chain(&m.rx_only)
        .find_map(|r| r.cpu.map(|c| c.cores))
        .unwrap_or(0);
    let _ = writeln!(
        s,
        "\n### Where the frames were lost, and where the time went\n\n\
         A frame offered to the guest can be lost in three places. (1) Before QEMU reads it: \
         QEMU's link socket overflows because QEMU's main loop, which reads that socket and runs \
         the NIC's receive path, did not keep up; Linux counts these drops per socket. \
         (2) Inside the guest: the NIC had no free descriptor because the driver fell behind; \
         our driver counts every time it finds its RX ring full. (It also counts the times a \
         descriptor showed its DD bit before its length, which QEMU's 82576 model does now and \
         then; the driver waits for the rest of the write-back instead of losing the frame.) (3) Before the host peer reads \
         the echo (its socket overflows; also counted). CPU is the share of one core over the \
         middle of the rung: QEMU's vCPU thread (guest code, plus the NIC's transmit path, which \
         runs when the guest writes the tail), QEMU's main loop, the host peer, and the whole \
         host's busy share of its {cores} cores, with the part a hypervisor stole for other \
         tenants in brackets. The (+n %) beside a QEMU thread is time it was ready to run but \
         waited for a core: what the host's scheduler, not QEMU, cost it."
    );
    if let Some(bound) = serial_bound(m) {
        let best = m
            .ours_echo()
            .map(|e| ladder::saturation(&e.rungs))
            .fold(0.0, f64::max);
        let _ = writeln!(
            s,
            "\n**What caps an echo.** QEMU runs the NIC's receive half in its main loop and the \
             transmit half in the vCPU thread (inside the guest's tail write), both under QEMU's \
             big lock, so they barely overlap: an echo costs the emulation about the sum of both, \
             1 / (1/receive + 1/transmit) = 1 / (1/{} + 1/{}) = **{}** frames/s from our \
             receive-alone rate and the best 64-byte TX rate of any sender above. Our best echo saturated at {} frames/s \
             ({:.0} % of that estimate).",
            short(ladder::saturation(&m.rx_only)),
            short(tx_ceiling(m, 60).unwrap_or(0.0)),
            short(bound),
            short(best),
            100.0 * best / bound
        );
    }
    if !m.rx_only.is_empty() {
        let _ = writeln!(
            s,
            "\n**Receive alone** (`e1000 dump --quiet`, poll mode: the guest only counts frames, \
             nothing is transmitted): lossless to {} frames/s, at most {} frames/s received. \
             This is the receive half of the emulation's work in an echo; the transmit half is \
             the best sender in the TX table. Ladder: {}.",
            ladder::highest_lossless(&m.rx_only).map_or("–".into(), |v| short(v as f64)),
            short(ladder::saturation(&m.rx_only)),
            rungs_text(&m.rx_only)
        );
    }
    let _ = writeln!(
        s,
        "\n| path | first lossy rung | not back in time there | dropped at QEMU's socket | at the peer's socket | came back after the rung | lost in the guest | lost in the guest, whole ladder | RX ring found full / DD seen before the length, whole ladder | CPU there: vCPU (+waiting) / main loop (+waiting) / peer / host busy (stolen) |\n|---|---|---|---|---|---|---|---|---|---|"
    );
    let rx_only = EchoResult {
        mode: "receive alone".into(),
        rungs: m.rx_only.clone(),
        ..EchoResult::default()
    };
    let paths = std::iter::once(&rx_only)
        .filter(|e| !e.rungs.is_empty())
        .chain(&m.echo);
    for e in paths {
        let name = path_name(&e.mode);
        let ring_full = match (e.ring_full, e.early_dd) {
            (Some(f), Some(d)) => format!("{f} / {d}"),
            (Some(f), None) => format!("{f} / –"),
            _ => "–".into(),
        };
        let whole = lost_in_guest(&e.rungs).map_or("–".into(), |n| n.to_string());
        match e.rungs.iter().find(|r| !r.perfect) {
            None => {
                let _ = writeln!(
                    s,
                    "| {name} | none | – | – | – | – | – | {whole} | {ring_full} | – |"
                );
            }
            Some(r) => {
                let lost = r.sent.saturating_sub(r.echoed);
                let (q, p) = r.drops.map_or(("–".into(), "–".into()), |d| {
                    (d.qemu.to_string(), d.peer.to_string())
                });
                let guest =
                    lost_in_guest(std::slice::from_ref(r)).map_or("–".into(), |n| n.to_string());
                let _ = writeln!(
                    s,
                    "| {name} | {} | {lost} of {} | {q} | {p} | {} | {guest} | {whole} | {ring_full} | {} |",
                    short(r.offered as f64),
                    r.sent,
                    r.late,
                    cpu_text(r)
                );
            }
        }
    }
}

fn targets(s: &mut String, m: &ModelResult) {
    let _ = writeln!(
        s,
        "\n### Targets\n\n| target | measured | status |\n|---|---|---|"
    );
    // Against DPDK's testpmd, the peer a user would pick.
    for size in TX_SIZES {
        let r = tx_of(&m.tx_ours, size)
            .zip(tx_of(&m.tx_dpdk, size))
            .map(|(o, d)| o.fps / d.fps.max(1.0));
        let _ = writeln!(
            s,
            "| TX ≥ testpmd `txonly` ({} B) | {} | {} |",
            size + 4,
            r.map_or("–".into(), |r| format!("{r:.2}× testpmd")),
            met(r.map(|r| r >= 1.0))
        );
    }
    let best_ours = m
        .ours_echo()
        .filter_map(|e| e.lossless())
        .max()
        .map(|v| v as f64);
    let dpdk = m.dpdk_echo();
    let d_lossless = dpdk.and_then(|d| d.lossless()).map(|v| v as f64);
    let _ = writeln!(
        s,
        "| lossless echo ≥ testpmd `macswap` (our best mode) | ours {} vs testpmd {} | {} |",
        best_ours.map_or("–".into(), short),
        d_lossless.map_or("–".into(), short),
        met(best_ours.zip(d_lossless).map(|(o, d)| o >= d))
    );
    let poll_ping = m
        .echo
        .iter()
        .find(|e| e.mode == "poll")
        .and_then(|e| e.ping);
    let d_ping = dpdk.and_then(|d| d.ping);
    let _ = writeln!(
        s,
        "| poll-mode ping-pong p50 ≤ testpmd's | ours {} µs vs testpmd {} µs | {} |",
        poll_ping.map_or("–".into(), |p| format!("{:.0}", p.0)),
        d_ping.map_or("–".into(), |p| format!("{:.0}", p.0)),
        met(poll_ping.zip(d_ping).map(|(o, d)| o.0 <= d.0))
    );
    let rate = super::measure::COST_RATES[1];
    let d_cost = dpdk.and_then(|d| d.cost.iter().find(|c| c.rate == rate));
    for e in m.ours_echo().filter(|e| e.mode != "poll") {
        let c = e.cost.iter().find(|c| c.rate == rate);
        let ok = c
            .zip(d_cost)
            .map(|(c, d)| c.perfect && c.guest_us <= d.guest_us / 3.0);
        let _ = writeln!(
            s,
            "| `--irq {}` at {}: ≤ ⅓ of testpmd's guest CPU per frame, no loss | {} vs testpmd {} µs per frame | {} |",
            e.mode,
            short(rate as f64),
            c.map_or("–".into(), |c| format!(
                "{:.1} µs ({:.2} vCPUs{})",
                c.guest_us,
                c.guest_cpus,
                if c.perfect { "" } else { ", lossy" }
            )),
            d_cost.map_or("–".into(), |d| format!("{:.1}", d.guest_us)),
            met(ok)
        );
    }
    let ceiling = tx_ceiling(m, 60);
    let ours_tx = tx_of(&m.tx_ours, 60).map(|t| t.fps);
    let _ = writeln!(
        s,
        "| `e1000 send` within 10 % of the emulation's TX ceiling (64 B; ceiling = the best sender measured; `e1000 send` is the cheapest sender: frames built once, buffers re-posted, one tail write per batch) | {} of {} | {} |",
        ours_tx.map_or("–".into(), short),
        ceiling.map_or("–".into(), short),
        met(ours_tx.zip(ceiling).map(|(o, c)| o >= 0.9 * c))
    );
    let best_sat = m
        .ours_echo()
        .map(|e| ladder::saturation(&e.rungs))
        .fold(0.0, f64::max);
    let bound = serial_bound(m);
    let _ = writeln!(
        s,
        "| echo saturation within 5 % of the emulation's estimate | {} of {} | {} |",
        short(best_sat),
        bound.map_or("–".into(), short),
        met(bound.map(|b| best_sat >= 0.95 * b))
    );
    let poll = m.echo.iter().find(|e| e.mode == "poll");
    let poll_lossless = poll.and_then(|p| p.lossless());
    let rx_alone = ladder::highest_lossless(&m.rx_only);
    let _ = writeln!(
        s,
        "| poll-mode echo lossless ≥ 2.5 × 46 kpps = 115 kpps | {}{} | {} |",
        poll_lossless.map_or("–".into(), |v| short(v as f64)),
        rx_alone.map_or(String::new(), |v| format!(
            " (receive alone carries {}; with transmit, the emulation's estimate is {})",
            short(v as f64),
            serial_bound(m).map_or("–".into(), short)
        )),
        met(poll.map(|_| poll_lossless.unwrap_or(0) as f64 >= 2.5 * C_DRIVER_POLL_KPPS))
    );
    for e in m.ours_echo() {
        let guest = lost_in_guest(&e.rungs);
        let ok = guest.map(|g| g == 0);
        let _ = writeln!(
            s,
            "| `--irq {}`: no frame lost inside the guest on any rung, overload included (every loss is where the emulation drops) | {} frames lost in the guest; RX ring found full {} times (on overloaded rungs the driver falls behind; QEMU's 82574L and 82576 then hold frames, its 8254x drops them) | {} |",
            e.mode,
            guest.map_or("–".into(), |n| n.to_string()),
            e.ring_full.map_or("–".into(), |n| n.to_string()),
            met(ok)
        );
    }
    for e in m.ours_echo().filter(|e| e.mode != "poll") {
        let ok = e
            .lossless()
            .zip(poll_lossless)
            .map(|(v, p)| v >= p)
            .or(Some(false).filter(|_| !e.rungs.is_empty()));
        let _ = writeln!(
            s,
            "| `--irq {}`: no loss up to the rate poll mode carries ({}) | lossless to {} | {} |",
            e.mode,
            poll_lossless.map_or("–".into(), |v| short(v as f64)),
            lossless_text(e),
            met(ok)
        );
    }
    let poll_p50 = poll.and_then(|p| p.ping).map(|p| p.0);
    for e in m.ours_echo().filter(|e| e.mode != "poll") {
        let r = e.ping.map(|p| p.0).zip(poll_p50).map(|(a, b)| a / b);
        let _ = writeln!(
            s,
            "| `--irq {}` ping-pong p50 ≤ 2× poll | {} | {} |",
            e.mode,
            r.map_or("–".into(), |r| format!("{r:.2}×")),
            met(r.map(|r| r <= 2.0))
        );
    }
    for e in m.ours_echo() {
        let worst = [e.mmio_flood, e.mmio_ping].into_iter().flatten().fold(
            None,
            |acc: Option<(f64, f64)>, (r, w)| {
                Some(acc.map_or((r, w), |(ar, aw)| (ar.max(r), aw.max(w))))
            },
        );
        let _ = writeln!(
            s,
            "| `--irq {}`: no MMIO read per frame, ≤ 1 tail write per batch (≤ 1 write per frame) | {} | {} |",
            e.mode,
            worst.map_or("–".into(), |(r, w)| format!("{r:.3} reads, {w:.3} writes per frame (worst run)")),
            met(worst.map(|(r, w)| r == 0.0 && w <= 1.0))
        );
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
         `e1000 dump --quiet` receiving alone, `e1000 echo` in every interrupt mode the model offers); \
         DPDK {} `dpdk-testpmd` on the same vfio-pci device (`txonly`, `macswap`; one forwarding lcore, \
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
        super::GUEST_CPUS,
        run.seconds,
        if run.quick { " (`--quick`: short runs, noisy)" } else { "" },
        super::dpdk::DPDK_VERSION,
        run.link.describe()
    );
    if run.link == crate::guest::Link::Unix {
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
