//! TX measured at the host peer: our `send`, the kernel's pktgen and
//! testpmd's txonly, counted and timed as they arrive.

use super::*;

/// The destination MAC of generated traffic (the host peer's).
pub const TX_DST: &str = "02:00:00:00:00:01";

/// Frames a transmitter delivered to the host peer.
#[derive(Clone, Debug, Default)]
pub struct TxCount {
    /// Frame size without FCS.
    pub size: usize,
    /// Frames the transmitter was asked to send.
    pub asked: u64,
    /// Frames of that size received at the host peer.
    pub received: u64,
    /// Received frames per second, between the first and the last.
    pub fps: f64,
    /// What the guest side printed (the CLI's or pktgen's own result).
    pub guest_says: String,
    /// MMIO (reads, writes) per frame, for our driver.
    pub mmio: Option<(f64, f64)>,
    /// The sender and its settings.
    pub settings: String,
    /// Each run's frames/s, in the order measured, when the sender ran
    /// more than once (this count is the median run's; see [`median_tx`]).
    pub runs_fps: Vec<f64>,
}

/// The run with the median rate among `runs` of one sender and size, with
/// every run's rate kept in [`TxCount::runs_fps`]; `None` if none succeeded.
pub fn median_tx(runs: Vec<TxCount>) -> Option<TxCount> {
    let (mut t, fps) = median_by(runs, |t| t.fps)?;
    t.runs_fps = fps;
    Some(t)
}

/// The run with the median `rate` among `runs`, and every run's rate in
/// the order measured; `None` if there is none.
pub fn median_by<T>(runs: Vec<T>, rate: impl Fn(&T) -> f64) -> Option<(T, Vec<f64>)> {
    let rates: Vec<f64> = runs.iter().map(&rate).collect();
    let mut sorted = runs;
    sorted.sort_by(|a, b| rate(a).total_cmp(&rate(b)));
    let mid = sorted.len().checked_sub(1)? / 2;
    Some((sorted.swap_remove(mid), rates))
}

/// Counts IPv4 frames to [`TX_DST`] arriving on `nic`'s link while `run`
/// makes the guest send `asked` frames of `size` bytes; `run` sees the
/// count so far (a sender that runs until stopped waits for it).
pub fn count_tx(
    nic: &Nic,
    size: usize,
    asked: u64,
    run: impl FnOnce(&AtomicU64) -> Result<String>,
) -> Result<TxCount> {
    let socket = nic.socket.try_clone()?;
    socket.set_read_timeout(Some(Duration::from_millis(100)))?;
    let stop = Arc::new(AtomicBool::new(false));
    let flag = Arc::clone(&stop);
    let progress = Arc::new(AtomicU64::new(0));
    let seen = Arc::clone(&progress);
    let counter = thread::spawn(move || {
        // Many datagrams per system call, so that the counter itself costs
        // the host little CPU: on 2 cores it competes with QEMU.
        let mut batch = RecvBatch::new(64, 2048);
        let (mut n, mut first, mut last) = (0u64, None::<(u64, Instant)>, None::<Instant>);
        // When the counter gets a core late (2 shared cores), it reads a
        // backlog at once: the rate uses the kernel's arrival time of the
        // last frame of each batch, not the time it was read.
        let (mut first_at, mut last_at) = (None::<f64>, None::<f64>);
        arrival_time(&socket);
        // The rate is taken from the first tenth of the frames on: the
        // sender's start (and a start-up burst) is not its steady rate.
        let warm = (asked / 10).max(1);
        let dst = [0x02, 0, 0, 0, 0, 0x01];
        while n < asked {
            let got = batch.recv(&socket);
            if got == 0 {
                // Idle: stop once told to and nothing came for a second.
                let idle = last.is_none_or(|t: Instant| t.elapsed() > Duration::from_secs(1));
                if flag.load(Ordering::Acquire) && idle {
                    break;
                }
                continue;
            }
            let now = Instant::now();
            let arrived = arrival_time(&socket);
            let before = n;
            for frame in batch.frames(got) {
                if frame.len() == size && frame[0..6] == dst && frame[12..14] == [0x08, 0x00] {
                    n += 1;
                    last = Some(now);
                }
            }
            if n > before {
                if n >= warm && first.is_none() {
                    first = Some((n, now));
                    first_at = arrived;
                }
                last_at = arrived;
            }
            seen.store(n, Ordering::Relaxed);
        }
        let fps = match (first, last, first_at, last_at) {
            (Some((n0, _)), _, Some(a), Some(b)) if b > a => (n - n0) as f64 / (b - a),
            (Some((n0, a)), Some(b), _, _) if b > a => (n - n0) as f64 / (b - a).as_secs_f64(),
            _ => 0.0,
        };
        (n, fps)
    });
    let result = run(&progress);
    stop.store(true, Ordering::Release);
    let (received, fps) = counter
        .join()
        .map_err(|_| anyhow::anyhow!("TX counter panicked"))?;
    let guest_says = result?;
    Ok(TxCount {
        size,
        asked,
        received,
        fps,
        mmio: mmio_per_frame(&guest_says),
        guest_says,
        settings: String::new(),
        runs_fps: Vec::new(),
    })
}

/// The kernel's arrival time (seconds, real-time clock) of the last datagram
/// read from `socket` (`SIOCGSTAMPNS`; the first call turns the socket's
/// receive timestamps on).
pub(super) fn arrival_time(socket: &UdpSocket) -> Option<f64> {
    use std::os::fd::AsRawFd;
    const SIOCGSTAMPNS: libc::c_ulong = 0x8907;
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: SIOCGSTAMPNS writes one timespec to the valid pointer given.
    let r = unsafe { libc::ioctl(socket.as_raw_fd(), SIOCGSTAMPNS, &mut ts) };
    (r == 0).then_some(ts.tv_sec as f64 + ts.tv_nsec as f64 * 1e-9)
}

/// `e1000 send` as fast as it goes.
pub fn tx_ours(g: &Guest, nic: &Nic, size: usize, count: u64) -> Result<TxCount> {
    let cmd = format!(
        "e1000 send {} --count {count} --size {size} --dst-mac {TX_DST}",
        nic.pci
    );
    // A time limit inside the guest too: a run that hangs must not hold
    // the guest's console (its agent runs one foreground job at a time).
    count_tx(nic, size, count, |_| {
        let r = g.run(&format!("timeout 120 {cmd}"), Duration::from_secs(150))?;
        if r.status != 0 {
            let state = g
                .run(
                    "ps -o pid,stat,args | grep -v ' \\[' ; dmesg | tail -8",
                    Duration::from_secs(20),
                )
                .map(|d| d.output())
                .unwrap_or_default();
            bail!(
                "`{cmd}` exited {}:\n{}\nguest state after it:\n{state}",
                r.status,
                r.output()
            );
        }
        Ok(r.output())
    })
}

/// pktgen's settings, as the report shows them beside its numbers.
pub fn pktgen_settings(burst: u32) -> String {
    format!("`pktgen` `delay 0`, `clone_skb 1000`, `burst {burst}`, one kernel thread")
}

/// The guest kernel's pktgen on interface `netdev`, as fast as it goes
/// (`delay 0`, one skb cloned 1000 times), handing the driver `burst`
/// frames at a time (`xmit_more`: one tail write per burst).
pub fn tx_pktgen(
    g: &Guest,
    nic: &Nic,
    netdev: &str,
    size: usize,
    count: u64,
    burst: u32,
) -> Result<TxCount> {
    let script = format!(
        "load-kernel-driver pktgen || exit 1; P=/proc/net/pktgen; \
         echo rem_device_all > $P/kpktgend_0 && echo 'add_device {netdev}' > $P/kpktgend_0 && \
         for c in 'count {count}' 'pkt_size {size}' 'dst_mac {TX_DST}' 'delay 0' 'clone_skb 1000' 'burst {burst}'; do \
           echo \"$c\" > $P/{netdev} || exit 1; done; \
         echo start > $P/pgctrl; grep -A1 'Result:' $P/{netdev}"
    );
    count_tx(nic, size, count, |_| {
        let r = g.run(&script, Duration::from_secs(600))?;
        ensure!(r.status == 0, "pktgen exited {}:\n{}", r.status, r.output());
        Ok(r.output()
            .lines()
            .map(str::trim)
            .collect::<Vec<_>>()
            .join(" "))
    })
}

/// Waits until the host has `seen` `count` frames or the sender stalls
/// (nothing for 60 s from the start, or for 10 s once started); `each` is
/// given the count at every look, 20 ms apart.
pub(super) fn await_count(seen: &AtomicU64, count: u64, mut each: impl FnMut(u64)) {
    let started = Instant::now();
    let mut last = (0, Instant::now());
    loop {
        let n = seen.load(Ordering::Relaxed);
        if n >= count {
            return;
        }
        each(n);
        if n != last.0 {
            last = (n, Instant::now());
        }
        let stalled = if n == 0 {
            started.elapsed()
        } else {
            last.1.elapsed()
        };
        if stalled > Duration::from_secs(if n == 0 { 60 } else { 10 }) {
            return;
        }
        thread::sleep(Duration::from_millis(20));
    }
}

/// DPDK's `dpdk-testpmd --forward-mode=txonly` sending `size`-byte frames
/// to [`TX_DST`] until the host has counted `count`.
pub fn tx_testpmd(g: &Guest, nic: &Nic, size: usize, count: u64) -> Result<TxCount> {
    let cmd = crate::vm::dpdk::testpmd_command(
        &[&nic.pci],
        "txonly",
        &format!("--txpkts={size} --eth-peer=0,{TX_DST}"),
    );
    count_tx(nic, size, count, |seen| {
        // Its output is a block-buffered pipe: progress is what the host counts.
        let job = g.spawn(&cmd)?;
        await_count(seen, count, |_| {});
        g.run("killall -INT dpdk-testpmd", Duration::from_secs(20))?;
        let r = job.wait(Duration::from_secs(60))?;
        ensure!(
            seen.load(Ordering::Relaxed) >= count,
            "testpmd stopped sending or never started; it printed:\n{}",
            r.output()
        );
        // testpmd's own count, from its final statistics.
        Ok(r.lines
            .iter()
            .rfind(|l| l.contains("TX-packets"))
            .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
            .unwrap_or_default())
    })
}
