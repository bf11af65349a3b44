//! `cargo xtask bench [--model M]... [--quick]`: the benchmark of the
//! project's driver against DPDK's testpmd and the guest kernel's driver,
//! one guest boot (2 vCPUs) per model.
//!
//! In each boot the NIC is first driven by `e1000` and `dpdk-testpmd` in
//! turn (TX with `e1000 send` and testpmd's `txonly`, three rounds, each
//! sender's median run kept), then the same for TCP segmentation
//! ([`tso_rounds`]: `e1000 send --tso`, the same segments one frame each,
//! and testpmd's TSO or, where DPDK's PMD has none, its `txonly`), then by
//! `e1000` alone (receive alone, then
//! `e1000 echo` in every interrupt mode the model offers), then by
//! testpmd's `macswap` on the same vfio-pci device, then handed to the
//! kernel's driver (TX with `pktgen` at burst 1 and 32, echo with
//! `afpacket-echo`). Every echo path's guest CPU per frame is read from the
//! guest's exact idle time at fixed rates, and the pure-interrupt echo's is
//! read again at fixed interrupt intervals and split into a part per frame
//! and a part per interrupt ([`measure::cost_sweep`]). Every number
//! is thus paired with peers measured in the same boot, and the report
//! quotes ratios. The host peer's own ceiling is measured first, against
//! plain UDP sockets.
//!
//! Modules: [`measure`] (the measurements), [`ladder`] (the offered-rate
//! ladder), [`crate::vm::dpdk`] (testpmd for the guest), [`report`] (Markdown),
//! [`chart`] (one SVG per model). Two benches run on their own:
//! [`stacks`] (`--stacks`: real network stacks through a forwarder) and
//! [`vf`] (`--vf`: a virtual function against DPDK's `igb_vf`).

pub mod attribution;
pub mod chart;
pub mod ladder;
pub mod measure;
pub mod profile;
pub mod report;
pub mod stacks;
pub mod vf;

use crate::error::Result;
use crate::vm::guest::{Guest, GuestConfig, Link, Nic};
use crate::vm::models::{irq_modes, kernel_netdev_up};
use crate::vm::{dpdk, GUEST_CPUS};
use crate::{bail, ensure};
use measure::{EchoResult, HostCeiling, TxCount};
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// Usage text of the `bench` command.
pub const USAGE: &str =
    "cargo xtask bench [--model M]... [--quick] [--stacks | --vf] [--link udp|unix] [--out DIR]";

/// The models benchmarked when none is named.
pub const DEFAULT_MODELS: &[&str] = &["e1000e", "igb", "e1000"];

/// How long the measurements run: the full bench or a smoke run.
#[derive(Clone, Copy, Debug)]
pub struct Effort {
    /// `--quick`: shorter counts.
    pub quick: bool,
}

impl Effort {
    /// Seconds of traffic per ladder rung.
    pub fn rung_secs(self) -> f64 {
        if self.quick {
            0.25
        } else {
            1.0
        }
    }

    /// Minimum frames per ladder rung.
    pub fn rung_min(self) -> usize {
        if self.quick {
            1000
        } else {
            3000
        }
    }

    /// Ping-pong round trips.
    pub fn pings(self) -> usize {
        if self.quick {
            100
        } else {
            300
        }
    }

    /// Runs of each echo path's ping-pong and cost (the first with its
    /// ladder, the others interleaved across paths).
    pub fn runs(self) -> usize {
        if self.quick {
            1
        } else {
            3
        }
    }

    /// Frames per TX run of `size` bytes.
    pub fn tx_count(self, size: usize) -> u64 {
        match (self.quick, size <= 128) {
            (true, true) => 20_000,
            (true, false) => 5_000,
            (false, true) => 100_000,
            (false, false) => 30_000,
        }
    }
}

/// Frame sizes of the TX comparison (without FCS: 64 and 1518 on the wire).
pub const TX_SIZES: [usize; 2] = [60, 1514];

/// Everything measured in one model's boot.
#[derive(Clone, Debug, Default)]
pub struct ModelResult {
    /// QEMU device model.
    pub model: String,
    /// `e1000 send`, per size.
    pub tx_ours: Vec<TxCount>,
    /// `dpdk-testpmd --forward-mode=txonly`, per size.
    pub tx_dpdk: Vec<TxCount>,
    /// `pktgen`, per burst (1, 32) and size.
    pub tx_kernel: Vec<TxCount>,
    /// TCP segmentation: `e1000 send --tso`, the same segments one frame
    /// each, and DPDK's best on the family ([`tso_rounds`]).
    pub tso: Vec<measure::SegmentRun>,
    /// Header split (the 82576 only): every run of `e1000 echo` with and
    /// without `--header-split` ([`split_rounds`]).
    pub split: Vec<measure::SplitRun>,
    /// `e1000 echo` per interrupt mode, then the kernel's path (mode `kernel`).
    pub echo: Vec<EchoResult>,
    /// Receive alone (`e1000 dump --quiet`, poll mode): the emulation's
    /// receive ceiling, which bounds any echo.
    pub rx_only: Vec<ladder::Rung>,
    /// Where QEMU's time went while the poll-mode echo was saturated.
    pub profile: Option<profile::Profile>,
    /// The pure-interrupt echo's cost at fixed intervals, and the mode
    /// it ran in (see [`measure::cost_sweep`]).
    pub cost_sweep: (String, Vec<measure::SweepPoint>),
    /// Measurements that failed, and why.
    pub notes: Vec<String>,
    /// Wall time of the boot and all its measurements.
    pub seconds: f64,
    /// The host's 1-minute load average when the boot started and when its
    /// measurements ended (2 cores, shared with other work).
    pub load: (f64, f64),
}

impl ModelResult {
    /// The kernel path's echo result.
    pub fn kernel_echo(&self) -> Option<&EchoResult> {
        self.echo.iter().find(|e| e.mode == "kernel")
    }

    /// testpmd's macswap echo result.
    pub fn dpdk_echo(&self) -> Option<&EchoResult> {
        self.echo.iter().find(|e| e.mode == "testpmd")
    }

    /// Our echo results, per interrupt mode.
    pub fn ours_echo(&self) -> impl Iterator<Item = &EchoResult> {
        self.echo
            .iter()
            .filter(|e| e.mode != "kernel" && e.mode != "testpmd")
    }

    /// Adds every echo path's error to [`ModelResult::notes`].
    pub fn note_echo_errors(&mut self) {
        for e in &self.echo {
            if let Some(err) = &e.error {
                self.notes.push(format!("echo {}: {err}", e.mode));
            }
        }
    }

    /// The best rate at the host among `list`'s senders of `size`-byte frames.
    pub fn best_tx(list: &[TxCount], size: usize) -> Option<&TxCount> {
        list.iter()
            .filter(|t| t.size == size)
            .max_by(|a, b| a.fps.total_cmp(&b.fps))
    }
}

/// The whole run, as the report needs it.
#[derive(Clone, Debug, Default)]
pub struct BenchRun {
    /// Per model.
    pub models: Vec<ModelResult>,
    /// The host peer on its own.
    pub host: HostCeiling,
    /// `qemu-system-x86_64 --version`, first line.
    pub qemu_version: String,
    /// The command line that produced it.
    pub command: String,
    /// UTC date and time of the run.
    pub date: String,
    /// Wall time of the whole run.
    pub seconds: f64,
    /// Smoke run?
    pub quick: bool,
    /// What carried the frames between QEMU and the host peer.
    pub link: Link,
}

/// Parses the arguments, runs the bench, writes the report; returns the exit status.
pub fn main(args: &[String]) -> Result<i32> {
    let mut models = Vec::new();
    let mut quick = false;
    let mut stacks = false;
    let mut vf = false;
    let mut link = Link::Udp;
    let mut out = crate::vm::assets::workspace_root()
        .join("bench")
        .join("results");
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--model" => models.push(
                it.next()
                    .ok_or_else(|| anyhow::anyhow!("--model needs a value"))?
                    .clone(),
            ),
            "--quick" => quick = true,
            "--stacks" => stacks = true,
            "--vf" => vf = true,
            "--link" => {
                link = match it.next().map(String::as_str) {
                    Some("udp") => Link::Udp,
                    Some("unix") => Link::Unix,
                    _ => bail!("--link needs udp or unix\nusage: {USAGE}"),
                }
            }
            "--out" => {
                out = PathBuf::from(
                    it.next()
                        .ok_or_else(|| anyhow::anyhow!("--out needs a value"))?,
                )
            }
            other => bail!("unknown argument {other}\nusage: {USAGE}"),
        }
    }
    if models.is_empty() {
        models = DEFAULT_MODELS.iter().map(|m| m.to_string()).collect();
    }
    let effort = Effort { quick };
    let started = Instant::now();
    if stacks {
        return stacks_main(&models, effort, args, &out);
    }
    if vf {
        return vf_main(effort, args, &out);
    }
    let mut run = BenchRun {
        qemu_version: qemu_version()?,
        command: command_line(args),
        date: utc_now(),
        quick,
        link,
        ..BenchRun::default()
    };
    println!("bench: host peer against plain UDP sockets");
    run.host = measure::host_ceiling(effort)?;
    println!("    host peer sends {:.0} frames/s", run.host.send_fps);
    for model in &models {
        println!("bench: {model}");
        let r = run_model(model, effort, link)?;
        println!("bench: {model} took {:.0} s", r.seconds);
        run.models.push(r);
    }
    run.seconds = started.elapsed().as_secs_f64();
    std::fs::create_dir_all(&out)?;
    let md = out.join("README.md");
    std::fs::write(&md, report::markdown(&run))?;
    let _ = std::fs::remove_file(out.join("chart.png"));
    for m in &run.models {
        std::fs::write(out.join(chart_file(&m.model)), chart::render(m))?;
    }
    println!(
        "bench: {} and {} chart(s) written in {:.0} s",
        md.display(),
        run.models.len(),
        run.seconds
    );
    Ok(0)
}

/// `--stacks`: the real-stacks bench ([`stacks`]) alone, written to
/// `stacks.md` in `out`.
fn stacks_main(
    models: &[String],
    effort: Effort,
    args: &[String],
    out: &std::path::Path,
) -> Result<i32> {
    let command = command_line(args);
    let mut results = Vec::new();
    for model in models {
        println!("bench: real stacks through {model}");
        results.push(stacks::run(model, effort)?);
    }
    std::fs::create_dir_all(out)?;
    let md = out.join("stacks.md");
    std::fs::write(
        &md,
        stacks::markdown(&results, &command, &utc_now(), &qemu_version()?),
    )?;
    println!("bench: {} written", md.display());
    Ok(0)
}

/// `--vf`: the virtual-function bench ([`vf`]) alone, written to `vf.md`
/// in `out`.
fn vf_main(effort: Effort, args: &[String], out: &std::path::Path) -> Result<i32> {
    println!("bench: a virtual function of igb, e1000 vs testpmd's igb_vf");
    let result = vf::run(effort)?;
    std::fs::create_dir_all(out)?;
    let md = out.join("vf.md");
    std::fs::write(
        &md,
        vf::markdown(&result, &command_line(args), &utc_now(), &qemu_version()?),
    )?;
    println!("bench: {} written", md.display());
    Ok(0)
}

/// The bench's command line as the user gave it.
fn command_line(args: &[String]) -> String {
    std::iter::once("cargo xtask bench".to_string())
        .chain(args.iter().cloned())
        .collect::<Vec<_>>()
        .join(" ")
}

/// pktgen bursts tried: the default, and 32 frames per tail write.
pub const PKTGEN_BURSTS: [u32; 2] = [1, 32];

/// One boot of `model`: ours, then DPDK's, then the kernel's, on the same NIC.
fn run_model(model: &str, effort: Effort, link: Link) -> Result<ModelResult> {
    let started = Instant::now();
    let mut config = GuestConfig::with_nics(&[model]);
    config.cpus = GUEST_CPUS;
    config.dpdk = true;
    config.link = link;
    config.trace_log = true;
    let g = Guest::boot(config)?;
    let mut r = ModelResult {
        model: model.to_string(),
        load: (load_average(), 0.0),
        ..ModelResult::default()
    };
    let nic = g.nic(0);
    let pci = nic.pci.clone();
    (r.tx_ours, r.tx_dpdk) = tx_rounds(&g, nic, effort, &mut r.notes);
    r.tso = tso_rounds(&g, nic, model, effort, &mut r.notes);
    if model == "igb" {
        r.split = split_rounds(&g, nic, effort, &mut r.notes);
    }
    println!("    e1000 dump --quiet (receive alone)");
    let rx = measure::rx_only(&g, nic, effort);
    if let Some(rungs) = measure::note("receive alone", rx, &mut r.notes) {
        r.rx_only = rungs;
    }
    // Every mode as a user gets it (interrupt modes busy-poll the ring for a
    // while before sleeping), then the best interrupt mode with pure
    // interrupts (`--busy-poll 0`), to show what the busy-poll window buys,
    // with the fixed interval and with adaptive moderation.
    let modes = irq_modes(model);
    r.echo = echo_paths(&g, nic, modes, effort);
    // Where the guest CPU goes: the pure-interrupt echo at fixed intervals.
    if let Some(best) = modes.last() {
        println!("    guest CPU at fixed intervals, e1000 echo --irq {best} --busy-poll 0");
        r.cost_sweep = (best.to_string(), measure::cost_sweep(&g, nic, best));
    }
    // Where QEMU's time goes when the echo is saturated: offered half again
    // what poll mode carried at best.
    if profile::available() {
        println!("    perf record of QEMU, e1000 echo --irq poll saturated");
        let carried = r.echo.first().map_or(0.0, |e| ladder::saturation(&e.rungs));
        let rate = ((carried * 1.5 / 10_000.0).ceil() as u64 * 10_000).max(20_000);
        let p = measure::profile_echo(&g, nic, "poll", rate);
        r.profile = measure::note("profile", p, &mut r.notes);
    } else {
        r.notes.push("profile: `perf` is not installed".into());
    }
    // Hand the NIC to the kernel's driver.
    g.run_ok(&format!("unbind-vfio {pci}"), Duration::from_secs(30))?;
    let netdev = kernel_netdev_up(&g, 0)?;
    // Keep the link quiet: no IPv6 autoconfiguration traffic.
    g.run(
        &format!("echo 1 > /proc/sys/net/ipv6/conf/{netdev}/disable_ipv6"),
        Duration::from_secs(10),
    )?;
    for burst in PKTGEN_BURSTS {
        for size in TX_SIZES {
            println!("    pktgen on {netdev}, {size} bytes, burst {burst}");
            let t = measure::tx_pktgen(&g, nic, &netdev, size, effort.tx_count(size), burst);
            let what = format!("pktgen {size} burst {burst}");
            if let Some(mut t) = measure::note(&what, t, &mut r.notes) {
                println!(
                    "      {} frames at the peer, {:.0} fps ({})",
                    t.received, t.fps, t.guest_says
                );
                t.settings = measure::pktgen_settings(burst);
                r.tx_kernel.push(t);
            }
        }
    }
    println!("    kernel driver + afpacket-echo on {netdev}");
    r.echo.push(measure::echo_kernel(&g, nic, &netdev, effort));
    r.note_echo_errors();
    // And back to vfio-pci, as the boot left it.
    let back = g.run(&format!("bind-vfio {pci}"), Duration::from_secs(30))?;
    ensure!(back.status == 0, "rebinding {pci}: {}", back.output());
    r.seconds = started.elapsed().as_secs_f64();
    r.load.1 = load_average();
    Ok(r)
}

/// `e1000 send` and testpmd's `txonly` on `nic`, in rounds, in turn per
/// size, so that a slow minute of the shared host weighs on both; each
/// keeps its median run per size: (ours, testpmd's).
pub fn tx_rounds(
    g: &Guest,
    nic: &Nic,
    effort: Effort,
    notes: &mut Vec<String>,
) -> (Vec<TxCount>, Vec<TxCount>) {
    let mut ours_runs: Vec<Vec<TxCount>> = TX_SIZES.iter().map(|_| Vec::new()).collect();
    let mut dpdk_runs: Vec<Vec<TxCount>> = TX_SIZES.iter().map(|_| Vec::new()).collect();
    for round in 1..=effort.runs() {
        for (i, size) in TX_SIZES.into_iter().enumerate() {
            println!("    e1000 send, {size} bytes (round {round})");
            let t = measure::tx_ours(g, nic, size, effort.tx_count(size));
            if let Some(mut t) = measure::note(&format!("e1000 send {size}"), t, notes) {
                println!("      {} frames at the peer, {:.0} fps", t.received, t.fps);
                t.settings = "`e1000 send`: frames built once in every buffer, then only the sequence number rewritten; batches of 64, one tail write each".into();
                ours_runs[i].push(t);
            }
            println!("    dpdk-testpmd txonly, {size} bytes (round {round})");
            let t = measure::tx_testpmd(g, nic, size, effort.tx_count(size));
            if let Some(mut t) = measure::note(&format!("testpmd txonly {size}"), t, notes) {
                println!(
                    "      {} frames at the peer, {:.0} fps ({})",
                    t.received, t.fps, t.guest_says
                );
                t.settings = dpdk::testpmd_settings("txonly");
                dpdk_runs[i].push(t);
            }
        }
    }
    let medians =
        |runs: Vec<Vec<TxCount>>| runs.into_iter().filter_map(measure::median_tx).collect();
    (medians(ours_runs), medians(dpdk_runs))
}

/// TCP segmentation on `nic` of a `model`: `e1000 send --tso`, the same
/// segments sent one frame each, UDP frames of their size from `e1000
/// send` and testpmd's `txonly`, and testpmd's TSO where its PMD has it
/// (fed 1.5 times the TSO frames per second ours sent in the same round),
/// in rounds as [`tx_rounds`]; each sender keeps its median run.
pub fn tso_rounds(
    g: &Guest,
    nic: &Nic,
    model: &str,
    effort: Effort,
    notes: &mut Vec<String>,
) -> Vec<measure::SegmentRun> {
    let count = measure::segment_count(effort);
    let senders = measure::SegmentSender::all(model);
    let mut runs: Vec<Vec<measure::SegmentRun>> = senders.iter().map(|_| Vec::new()).collect();
    for round in 1..=effort.runs() {
        // Half again the TSO frames ours sent: more than testpmd carries
        // when receiving them is what limits it, and not so many that the
        // host's feeder takes the CPU QEMU needs.
        let mut feed = 10_000.0;
        for (i, &sender) in senders.iter().enumerate() {
            println!("    segments: {sender:?} (round {round})");
            let run = measure::segment_run(g, nic, sender, count, feed);
            let Some(run) = measure::note(&format!("segments {sender:?}"), run, notes) else {
                continue;
            };
            println!(
                "      {} segments at the peer, {:.0} segments/s, guest vCPUs {}",
                run.tx.received,
                run.tx.fps,
                run.busy_cpus.map_or("–".into(), |b| format!("{b:.2}"))
            );
            if sender == measure::SegmentSender::OursTso {
                feed = 1.5 * run.tx.fps / measure::SEGMENTS_PER_FRAME as f64;
            }
            runs[i].push(run);
        }
    }
    runs.into_iter()
        .filter_map(|r| {
            let (mut median, fps) = measure::median_by(r, |t| t.tx.fps)?;
            median.tx.runs_fps = fps;
            Some(median)
        })
        .collect()
}

/// Header split on `nic` (an 82576): `e1000 echo --irq poll` without and
/// with `--header-split`, on each of [`measure::SPLIT_SIZES`], in turn,
/// round after round.
pub fn split_rounds(
    g: &Guest,
    nic: &Nic,
    effort: Effort,
    notes: &mut Vec<String>,
) -> Vec<measure::SplitRun> {
    let mut runs = Vec::new();
    for round in 1..=effort.runs() {
        for size in measure::SPLIT_SIZES {
            for split in [false, true] {
                println!(
                    "    e1000 echo --irq poll{}, {size}-byte UDP frames (round {round})",
                    if split { " --header-split" } else { "" }
                );
                let run = measure::echo_split(g, nic, split, size, effort);
                if let Some(run) = measure::note("header split", run, notes) {
                    runs.push(run);
                }
            }
        }
    }
    runs
}

/// `e1000 echo` on `nic` in each of `modes`, then the last (best) mode
/// with pure interrupts, with the fixed interval and with adaptive
/// moderation, then testpmd's `macswap`; then every path's ping-pong and
/// cost again, path after path, round after round, so that each figure is
/// a median that is not one moment of the shared host.
pub fn echo_paths(g: &Guest, nic: &Nic, modes: &[&str], effort: Effort) -> Vec<EchoResult> {
    let pure = modes.last().map(|best| format!("{best} --busy-poll 0"));
    let adaptive = pure.as_ref().map(|p| format!("{p} --adaptive-irq"));
    let mut echo = Vec::new();
    for mode in modes
        .iter()
        .map(|m| m.to_string())
        .chain(pure)
        .chain(adaptive)
    {
        println!("    e1000 echo --irq {mode}");
        echo.push(measure::echo_ours(g, nic, &mode, effort));
    }
    println!("    dpdk-testpmd macswap");
    echo.push(measure::echo_testpmd(g, nic, effort));
    for _ in 1..effort.runs() {
        for e in echo.iter_mut() {
            measure::repeat_run(g, nic, e, effort);
        }
    }
    for e in echo.iter_mut() {
        e.settle_runs();
    }
    echo
}

/// The host's 1-minute load average.
pub fn load_average() -> f64 {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse().ok())
        .unwrap_or(f64::NAN)
}

/// The file name of `model`'s chart, beside the report.
pub fn chart_file(model: &str) -> String {
    format!("chart-{model}.svg")
}

/// The first line of `qemu-system-x86_64 --version`.
fn qemu_version() -> Result<String> {
    let qemu = crate::vm::assets::ensure_qemu()?;
    let out = std::process::Command::new(qemu).arg("--version").output()?;
    Ok(String::from_utf8_lossy(&out.stdout)
        .lines()
        .next()
        .unwrap_or("unknown")
        .to_string())
}

/// The current UTC date and time, `YYYY-MM-DD HH:MM UTC`.
fn utc_now() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let (days, rem) = (secs / 86_400, secs % 86_400);
    let (y, m, d) = civil_from_days(days as i64);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02} UTC",
        rem / 3600,
        rem % 3600 / 60
    )
}

/// Days since 1970-01-01 to (year, month, day), proleptic Gregorian.
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
mod tests {
    #[test]
    fn dates() {
        assert_eq!(super::civil_from_days(0), (1970, 1, 1));
        assert_eq!(super::civil_from_days(20_000), (2024, 10, 4));
    }
}
