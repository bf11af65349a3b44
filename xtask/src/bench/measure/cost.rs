//! Guest CPU per frame at fixed rates, and the interrupt-interval sweep
//! that splits it into a part per frame and a part per interrupt.

use super::*;

/// The rates at which every path's CPU cost is measured (frames/s): one
/// that every path carries on every model (the kernel's AF_PACKET echo
/// included), and the 20 kframes/s, which the kernel path may not.
pub const COST_RATES: [u64; 2] = [5_000, 20_000];

/// The rate whose cost every path measures again in [`repeat_run`].
pub const REPEATED_COST_RATE: u64 = 20_000;

/// One run of an echo path's latency and cost measurements.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Run {
    /// Ping-pong round trips.
    pub ping: Option<Ping>,
    /// The guest's reaction, µs at p50.
    pub reaction: Option<f64>,
    /// The cost at [`REPEATED_COST_RATE`].
    pub cost: Option<Cost>,
}

/// What one echo path costs at a fixed rate.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Cost {
    /// Offered rate, frames/s.
    pub rate: u64,
    /// Every frame came back intact and in order.
    pub perfect: bool,
    /// Guest CPUs busy (the CPUs less the guest's exact idle time, from its
    /// `/proc/uptime`; 1.0 = one vCPU).
    pub guest_cpus: f64,
    /// Guest CPU per echoed frame, µs.
    pub guest_us: f64,
    /// Host CPU of QEMU's vCPU threads per echoed frame, µs (guest code as
    /// TCG runs it plus the NIC's transmit path).
    pub vcpu_us: Option<f64>,
    /// Interrupts per echoed frame: vfio-pci's handlers in the guest's
    /// `/proc/interrupts`, over the same window as the CPU.
    pub interrupts_per_frame: Option<f64>,
}

/// (uptime, idle) seconds from a `/proc/uptime` line; idle is summed over
/// all CPUs.
///
/// Why not `/proc/stat`'s busy fields: the kernel charges user, system and
/// interrupt time by sampling at each timer tick, and a guest woken by a
/// periodic interrupt can fall into step with its tick. One 8254x echo at
/// 20 kframes/s, waking every 1 ms, showed 0.03 busy vCPUs there while
/// QEMU's vCPU threads burnt 0.3 of a host core. Idle time is exact on a
/// tickless kernel (measured at each idle entry and exit, which is what
/// `/proc/uptime` sums), so busy = CPUs − idle / elapsed.
pub fn uptime_idle(line: &str) -> Option<(f64, f64)> {
    let mut w = line.split_whitespace().map(|w| w.parse::<f64>().ok());
    match (w.next()??, w.next()??, w.next()) {
        (up, idle, None) => Some((up, idle)),
        _ => None,
    }
}

/// vCPUs busy between two `/proc/uptime` samples of a guest with `cpus`
/// CPUs (1.0 = one vCPU all the time).
pub fn busy_cpus(cpus: f64, (up0, idle0): (f64, f64), (up1, idle1): (f64, f64)) -> f64 {
    let elapsed = (up1 - up0).max(1e-3);
    (cpus - (idle1 - idle0) / elapsed).clamp(0.0, cpus)
}

/// The interrupts of a `/proc/interrupts` line of one of vfio-pci's
/// handlers (`vfio-intx`, `vfio-msi[n]`, `vfio-msix[n]`), summed over the
/// CPUs; `None` for any other line.
pub fn vfio_interrupts(line: &str) -> Option<u64> {
    if !line.contains("vfio-") {
        return None;
    }
    let (_, counts) = line.split_once(':')?;
    Some(
        counts
            .split_whitespace()
            .map_while(|w| w.parse::<u64>().ok())
            .sum(),
    )
}

/// Offers `rate` frames/s to whatever echoes on `nic` for a few seconds
/// and reads the guest's idle time (see [`uptime_idle`]) and vfio-pci's
/// interrupt counts over the middle of it.
pub fn cost(g: &Guest, nic: &Nic, rate: u64) -> Result<Cost> {
    let secs = 4.0;
    let count = (rate as f64 * secs) as usize;
    let cpus = g
        .run("grep -c '^cpu[0-9]' /proc/stat", Duration::from_secs(10))?
        .lines
        .first()
        .and_then(|l| l.trim().parse::<f64>().ok())
        .unwrap_or(1.0);
    let peer = Peer::with_socket(nic.socket.try_clone()?, nic.mac);
    let vcpu = watch_cpu(g.pid(), Duration::from_secs_f64(secs));
    // The guest samples 1 s into the flood and 2 s later.
    let sample = "cat /proc/uptime; grep vfio- /proc/interrupts";
    let job = g.spawn(&format!("sleep 1; {sample}; sleep 2; {sample}"))?;
    let s = peer.flood(count, small_frames(), Some(rate), Duration::from_secs(1))?;
    let r = job.wait(Duration::from_secs(30))?;
    let vcpu = vcpu.join().ok().flatten();
    wait_drained(&nic.socket, Duration::from_secs(5));
    count_late(&nic.socket);
    // Each /proc/uptime line, with the interrupts listed after it.
    let mut samples: Vec<((f64, f64), u64)> = Vec::new();
    for l in &r.lines {
        if let Some(u) = uptime_idle(l) {
            samples.push((u, 0));
        } else if let (Some(n), Some(last)) = (vfio_interrupts(l), samples.last_mut()) {
            last.1 += n;
        }
    }
    let [(first, irq0), (last, irq1)] = samples[..] else {
        return Err(Error::msg(format!("no /proc/uptime lines: {}", r.output())));
    };
    let busy = busy_cpus(cpus, first, last);
    let echoed_rate = s.echoed as f64 / s.last_echo.unwrap_or(s.elapsed).as_secs_f64().max(1e-6);
    let irq_rate = irq1.saturating_sub(irq0) as f64 / (last.0 - first.0).max(1e-3);
    let c = Cost {
        rate,
        perfect: s.is_perfect(),
        guest_cpus: busy,
        guest_us: busy * 1e6 / echoed_rate.max(1.0),
        vcpu_us: vcpu.map(|v| v.vcpu * 1e6 / echoed_rate.max(1.0)),
        interrupts_per_frame: Some(irq_rate / echoed_rate.max(1.0)),
    };
    println!(
        "      at {rate} fps: {}/{} echoed, guest {:.2} CPUs busy, {:.1} µs guest CPU per frame, {:.0} interrupts/s{}",
        s.echoed,
        s.sent,
        c.guest_cpus,
        c.guest_us,
        irq_rate,
        c.vcpu_us
            .map(|v| format!(", {v:.1} µs of QEMU's vCPU threads"))
            .unwrap_or_default()
    );
    Ok(c)
}

/// Fixed interrupt intervals (µs) at which the pure-interrupt echo's cost
/// is measured at [`REPEATED_COST_RATE`]: from the shortest every model
/// honours (QEMU's 8254x and 82574L enforce 128 µs) to twice the longest
/// that `--adaptive-irq` picks, so that the cost splits into a part per
/// frame and a part per interrupt (see [`split_cost`]).
pub const SWEEP_INTERVALS_US: [u32; 5] = [128, 250, 500, 1_000, 2_000];

/// One point of the interval sweep.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct SweepPoint {
    /// `--irq-interval`, µs.
    pub interval_us: u32,
    /// The cost at [`REPEATED_COST_RATE`] with it.
    pub cost: Cost,
}

/// `e1000 echo --irq {mode} --busy-poll 0 --irq-interval I` at each of
/// [`SWEEP_INTERVALS_US`], one run each, costed at [`REPEATED_COST_RATE`].
pub fn cost_sweep(g: &Guest, nic: &Nic, mode: &str) -> Vec<SweepPoint> {
    let mut points = Vec::new();
    for interval_us in SWEEP_INTERVALS_US {
        let cmd = format!(
            "e1000 echo {} --irq {mode} --busy-poll 0 --irq-interval {interval_us} --quiet",
            nic.pci
        );
        println!("    {cmd}");
        let run = with_echo_job(g, &cmd, Ready::Line("echo: ready"), "e1000", || {
            cost(g, nic, REPEATED_COST_RATE)
        });
        match run {
            Ok((cost, _)) => points.push(SweepPoint { interval_us, cost }),
            Err(e) => println!("      ! {e}"),
        }
    }
    points
}

/// The straight line, by least squares, through points of (interrupts per
/// frame, guest µs per frame): its intercept is what a frame costs however
/// few interrupts carry it, its slope what one interrupt costs. `None`
/// without two distinct interrupt rates.
pub fn split_cost(points: &[(f64, f64)]) -> Option<(f64, f64)> {
    let n = points.len() as f64;
    let mean_x = points.iter().map(|p| p.0).sum::<f64>() / n;
    let mean_y = points.iter().map(|p| p.1).sum::<f64>() / n;
    let sxx: f64 = points.iter().map(|p| (p.0 - mean_x).powi(2)).sum();
    let sxy: f64 = points.iter().map(|p| (p.0 - mean_x) * (p.1 - mean_y)).sum();
    if points.len() < 2 || sxx <= f64::EPSILON {
        return None;
    }
    let slope = sxy / sxx;
    Some((mean_y - slope * mean_x, slope))
}

/// [`cost`] at each of [`COST_RATES`].
pub(super) fn costs(g: &Guest, nic: &Nic) -> Result<Vec<Cost>> {
    COST_RATES.iter().map(|&r| cost(g, nic, r)).collect()
}

/// Keeps a sub-measurement's failure as the result's error.
pub(super) fn note_err<T>(r: Result<T>, error: &mut Option<String>, what: &str) -> Option<T> {
    match r {
        Ok(v) => Some(v),
        Err(e) => {
            println!("      ! {what}: {e}");
            error.get_or_insert(format!("{what}: {e}"));
            None
        }
    }
}
