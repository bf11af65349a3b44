//! Where the host's CPU went while a ladder rung ran: with the link's drop
//! counts ([`crate::link::drops`]), the evidence for "the emulation is the
//! ceiling". CPU time comes from `/proc`: per QEMU thread
//! (`schedstat`, nanoseconds; QEMU runs with `debug-threads=on` so threads
//! are named), for this process (`getrusage`) and for the whole host
//! (`/proc/stat`).

use std::thread;
use std::time::{Duration, Instant};

/// Cumulative CPU time at one instant.
#[derive(Clone, Debug)]
pub struct CpuSample {
    at: Instant,
    /// QEMU's vCPU thread(s) (`CPU n/TCG`), ns on a core.
    vcpu_ns: u64,
    /// ns the vCPU thread(s) were runnable but waited for a core.
    vcpu_wait_ns: u64,
    /// QEMU's main thread: the main loop, which reads the link socket and
    /// runs the NIC's receive path; ns on a core.
    main_ns: u64,
    /// ns the main loop was runnable but waited for a core.
    main_wait_ns: u64,
    /// QEMU's other threads (RCU, monitor, workers), ns.
    other_ns: u64,
    /// This process (the host peer), ns.
    peer_ns: u64,
    /// The whole host, in clock ticks: (busy, total, stolen).
    host_ticks: (u64, u64, u64),
}

impl CpuSample {
    /// Samples QEMU's threads (`qemu` is its pid), this process and the host.
    pub fn take(qemu: u32) -> Option<CpuSample> {
        let (mut vcpu_ns, mut main_ns, mut other_ns) = (0, 0, 0);
        let (mut vcpu_wait_ns, mut main_wait_ns) = (0, 0);
        for task in std::fs::read_dir(format!("/proc/{qemu}/task")).ok()? {
            let path = task.ok()?.path();
            let Ok(stat) = std::fs::read_to_string(path.join("schedstat")) else {
                continue; // the thread just exited
            };
            // "time on a core, time waiting on a run queue, time slices" (ns).
            let mut fields = stat.split_whitespace().map(|w| w.parse::<u64>());
            let ns = fields.next()?.ok()?;
            let wait_ns = fields.next()?.ok()?;
            let name = std::fs::read_to_string(path.join("comm")).unwrap_or_default();
            let tid = path.file_name()?.to_str()?.parse::<u32>().ok()?;
            if name.contains("/TCG") || name.contains("/KVM") {
                vcpu_ns += ns;
                vcpu_wait_ns += wait_ns;
            } else if tid == qemu {
                main_ns += ns;
                main_wait_ns += wait_ns;
            } else {
                other_ns += ns;
            }
        }
        Some(CpuSample {
            at: Instant::now(),
            vcpu_ns,
            vcpu_wait_ns,
            main_ns,
            main_wait_ns,
            other_ns,
            peer_ns: self_cpu_ns(),
            host_ticks: host_ticks()?,
        })
    }
}

/// CPU time of this process, all threads including finished ones, in ns.
fn self_cpu_ns() -> u64 {
    // SAFETY: getrusage fills the zero-initialised struct we pass.
    let usage = unsafe {
        let mut u: libc::rusage = std::mem::zeroed();
        libc::getrusage(libc::RUSAGE_SELF, &mut u);
        u
    };
    let ns = |t: libc::timeval| t.tv_sec as u64 * 1_000_000_000 + t.tv_usec as u64 * 1000;
    ns(usage.ru_utime) + ns(usage.ru_stime)
}

/// (busy, total, stolen) clock ticks of all CPUs, from `/proc/stat`; stolen
/// ticks are those a hypervisor gave to someone else while this host wanted
/// to run (counted as busy).
fn host_ticks() -> Option<(u64, u64, u64)> {
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    let ticks: Vec<u64> = stat
        .lines()
        .next()?
        .split_whitespace()
        .skip(1)
        .filter_map(|w| w.parse().ok())
        .collect();
    // user nice system idle iowait irq softirq steal ...
    let total: u64 = ticks.iter().take(8).sum();
    let idle = ticks.get(3)? + ticks.get(4).copied().unwrap_or(0);
    Some((total - idle, total, ticks.get(7).copied().unwrap_or(0)))
}

/// Where CPU time went between two samples, as fractions of one core (1.0 =
/// one core busy the whole time), and the whole host's busy fraction.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct CpuShare {
    /// QEMU's vCPU thread: guest code, plus the NIC's transmit path, which
    /// runs in the vCPU thread when the guest writes the tail register.
    pub vcpu: f64,
    /// Time the vCPU thread was ready to run but waited for a core (the
    /// host's scheduler, not QEMU, held it back). A poll-mode guest never
    /// sleeps, so 1 − `vcpu` − `vcpu_wait` is time its thread was blocked:
    /// waiting for QEMU's big lock.
    pub vcpu_wait: f64,
    /// QEMU's main loop: reading the link socket and the NIC's receive path.
    pub main_loop: f64,
    /// Time the main loop was ready to run but waited for a core.
    pub main_wait: f64,
    /// QEMU's other threads.
    pub qemu_other: f64,
    /// The host peer (this process): sending, receiving and checking frames.
    pub peer: f64,
    /// The whole host: busy fraction of all cores (1.0 = every core busy).
    pub host_busy: f64,
    /// The part of `host_busy` stolen by the hypervisor (a shared machine's
    /// other tenants).
    pub host_steal: f64,
    /// Cores on the host.
    pub cores: usize,
}

impl CpuShare {
    /// The share between `a` and a later `b`.
    pub fn between(a: &CpuSample, b: &CpuSample) -> CpuShare {
        let wall = (b.at - a.at).as_nanos().max(1) as f64;
        let share = |x: u64, y: u64| y.saturating_sub(x) as f64 / wall;
        let (busy, total, steal) = (
            b.host_ticks.0.saturating_sub(a.host_ticks.0),
            b.host_ticks.1.saturating_sub(a.host_ticks.1),
            b.host_ticks.2.saturating_sub(a.host_ticks.2),
        );
        CpuShare {
            vcpu: share(a.vcpu_ns, b.vcpu_ns),
            vcpu_wait: share(a.vcpu_wait_ns, b.vcpu_wait_ns),
            main_loop: share(a.main_ns, b.main_ns),
            main_wait: share(a.main_wait_ns, b.main_wait_ns),
            qemu_other: share(a.other_ns, b.other_ns),
            peer: share(a.peer_ns, b.peer_ns),
            host_busy: busy as f64 / total.max(1) as f64,
            host_steal: steal as f64 / total.max(1) as f64,
            cores: thread::available_parallelism().map_or(1, |n| n.get()),
        }
    }
}

impl std::fmt::Display for CpuShare {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let pc = |x: f64| (x * 100.0).round();
        write!(
            f,
            "vCPU {}% (+{}% waiting for a core), QEMU main loop {}% (+{}%), QEMU other {}%, peer {}%; host {}% of {} cores busy ({}% stolen)",
            pc(self.vcpu),
            pc(self.vcpu_wait),
            pc(self.main_loop),
            pc(self.main_wait),
            pc(self.qemu_other),
            pc(self.peer),
            pc(self.host_busy),
            self.cores,
            pc(self.host_steal)
        )
    }
}

/// Measures the CPU share over the middle of a traffic run that is expected
/// to last `expected`: samples at 20 % and 80 % of it, away from the ramp-up
/// and the drain. Join the handle once the traffic is done.
pub fn watch_cpu(qemu: u32, expected: Duration) -> thread::JoinHandle<Option<CpuShare>> {
    let started = Instant::now();
    thread::spawn(move || {
        thread::sleep(expected.mul_f64(0.2));
        let a = CpuSample::take(qemu)?;
        thread::sleep((started + expected.mul_f64(0.8)).saturating_duration_since(Instant::now()));
        let b = CpuSample::take(qemu)?;
        Some(CpuShare::between(&a, &b))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_share_sees_a_busy_thread() {
        let me = std::process::id();
        let a = CpuSample::take(me).unwrap();
        let t = Instant::now();
        let mut x = 0u64;
        while t.elapsed() < Duration::from_millis(200) {
            x = std::hint::black_box(x.wrapping_add(1));
        }
        let b = CpuSample::take(me).unwrap();
        let s = CpuShare::between(&a, &b);
        // This process spun for the whole window; it is "main" of itself.
        assert!(s.peer > 0.8, "{s}");
        assert!(s.host_busy > 0.0, "{s}");
    }
}
