//! The commands that move frames: `dump`, `echo`, `send`, `forward`.
//! They share opening the NIC, the run loop (count, timeout, signals), the
//! periodic stats lines and the summary ([`stats`]).

mod dump;
mod echo;
mod filter;
mod forward;
mod pcap;
mod send;
mod stats;
mod tap;

pub use dump::dump;
pub use echo::echo;
pub use forward::forward;
pub use send::send;
use stats::{report, with_stats, Live, RunTotals, Tally};
pub use tap::tap;

use super::CliError;
use crate::frame::{mac_str, summary};
use crate::internals::{mmio_counts, model_name};
use crate::out::{clock, Out};
use crate::signal;
use e1000_cli::cli::{DumpArgs, EchoArgs, ForwardArgs, IovaArg, Payload, SendArgs, TrafficArgs};
use serde_json::json;
use std::fmt::Write as _;
use std::io::Write;
use std::sync::atomic::Ordering::{Relaxed, SeqCst};
use std::sync::atomic::{AtomicBool, AtomicU64};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use vfio_e1000::{
    ChecksumStatus, Config, IovaPolicy, LinkStatus, Nic, Packet, Poller, Queue, Wakeup,
};

/// Frames handled per `rx_batch`/`tx_batch` call.
const BATCH: usize = 64;
/// Descriptors per ring unless `--ring`, `--rxd` or `--txd` say otherwise.
const RING: usize = 512;
/// Receive descriptors per queue of the commands that carry other stacks'
/// TCP (`forward`, `tap`) unless `--rxd` or `--ring` say otherwise. A TCP
/// sender's window arrives as one burst, faster than a guest under
/// emulation drains it; QEMU's 8254x and 82576 models drop what finds the
/// ring full (streams through 512 descriptors lost segments on the
/// 8254x), so these commands give the burst room, as forwarders on real
/// NICs are tuned to (`ethtool -G rx 4096`).
const STREAM_RX_RING: usize = 4096;

/// Options every traffic command takes, resolved.
struct Common {
    config: Config,
    count: Option<u64>,
    deadline: Option<Instant>,
    link_timeout: Duration,
    quiet: bool,
    period: Option<Duration>,
    out: Out,
    /// Test hook: stop the transmitter after this many frames.
    inject_tx_stall_after: Option<u64>,
    /// Where each queue's thread runs.
    pin: Pin,
}

/// Where each queue's thread runs (`--cpus`, `--no-pin`).
#[derive(Debug, Clone, PartialEq)]
enum Pin {
    /// Where the scheduler puts it.
    Free,
    /// In interrupt modes, on the CPU that takes the queue's interrupt.
    Auto,
    /// Queue N on the N-th CPU of the list (wrapping).
    List(Vec<usize>),
}

impl Common {
    /// `data_on_stdout`: stdout carries data other than JSON (a pcap stream);
    /// `rx_ring`: the command's RX ring size when neither `--rxd` nor
    /// `--ring` gives one.
    fn new(t: &TrafficArgs, data_on_stdout: bool, rx_ring: usize) -> Result<Common, CliError> {
        if t.json && data_on_stdout {
            return Err(CliError::Usage(
                "--json and `-w -` both want stdout: write the pcap to a file".into(),
            ));
        }
        let mut config = super::default_config();
        config.irq = super::irq_mode(t.irq);
        config.rx_ring = t.rxd.or(t.ring).unwrap_or(rx_ring);
        config.tx_ring = t.txd.or(t.ring).unwrap_or(RING);
        config.pool_size = t
            .pool
            .unwrap_or((2 * (config.rx_ring + config.tx_ring)).max(2048));
        config.irq_interval_us = t.irq_interval;
        config.adaptive_irq = t.adaptive_irq;
        config.iova = match t.iova {
            IovaArg::Allocated => IovaPolicy::Allocated,
            IovaArg::Identity => IovaPolicy::Identity,
        };
        config.busy_poll_us = t.busy_poll;
        config.mtu = t.mtu;
        config.promiscuous = !t.no_promisc;
        config.mac = t.mac;
        config.unicast = t.unicast.clone();
        config.multicast = t.multicast.clone();
        config.vlan_strip = t.vlan_strip;
        config.vlan_filter = t.vlan_filter.clone();
        Ok(Common {
            config,
            count: t.count,
            deadline: t
                .timeout
                .map(|s| Instant::now() + Duration::from_secs_f64(s)),
            link_timeout: Duration::from_millis(t.link_timeout),
            quiet: t.quiet,
            period: t.stats_period.map(Duration::from_secs_f64),
            out: Out::new(t.json, data_on_stdout),
            inject_tx_stall_after: t.inject_tx_stall_after,
            pin: match (t.no_pin, &t.cpus) {
                (true, _) => Pin::Free,
                (false, None) => Pin::Auto,
                (false, Some(cpus)) => Pin::List(cpus.0.clone()),
            },
        })
    }

    /// Opens the NIC, waits for the link, prints the ready line.
    fn open(&self, what: &str, pci: &str) -> Result<Nic, CliError> {
        let nic = Nic::open(pci, &self.config)?;
        let link = super::wait_link(&nic, self.link_timeout)?;
        self.out.say(&format!(
            "{what}: ready on {} ({}) mac {}, irq {}, link {link}",
            nic.pci(),
            model_name(&nic),
            mac_str(&nic.mac()),
            nic.irq_mode()
        ));
        self.out.json(&json!({
            "type": "ready",
            "command": what,
            "pci": nic.pci(),
            "model": model_name(&nic),
            "mac": mac_str(&nic.mac()),
            "irq": nic.irq_mode().to_string(),
            "link": link.to_string(),
        }));
        Ok(nic)
    }

    /// Whether the run should end.
    fn finished(&self, budget: &Budget) -> bool {
        signal::stopped()
            || budget.exhausted()
            || self.deadline.is_some_and(|d| Instant::now() >= d)
    }
}

/// Sleeps for the next interrupt (or returns at once in poll mode); a link
/// change is reported on stderr (see [`LinkReport`]).
fn wait(nic: &mut Nic, what: &str, link: &mut LinkReport) -> Result<(), CliError> {
    let wake = nic.wait(Duration::from_millis(100))?;
    if wake.link_changed {
        link.report(what, nic.link()?);
    }
    Ok(())
}

/// The link state last reported, so that a change is reported once per
/// change of state however many interrupts announce it.
#[derive(Debug)]
struct LinkReport {
    up: Option<bool>,
}

impl LinkReport {
    /// Starts from the state the "ready" line showed (the 82576 raises a
    /// link interrupt for the link that came up before it).
    fn from(now: Result<LinkStatus, vfio_e1000::Error>) -> LinkReport {
        LinkReport {
            up: now.ok().map(|l| l.up),
        }
    }

    /// Prints `what: link ...` on stderr if `now` differs from the last report.
    fn report(&mut self, what: &str, now: LinkStatus) {
        if self.up != Some(now.up) {
            self.up = Some(now.up);
            eprintln!("{what}: link {now}");
        }
    }
}

/// Moves the calling thread, which serves `queues`, to their CPU (threads
/// it spawns later inherit it): with `--cpus`, the first queue's CPU of the
/// list; by default, in interrupt modes, the CPU that takes the queues'
/// interrupts (the one most of them land on), as Linux's NAPI serves a
/// queue where its interrupt lands. Every wake-up is then local: in the
/// QEMU guest with 2 vCPUs, an unpinned `echo --irq msix --busy-poll 0` at
/// 20,000 frames/s had about 6,000 cross-CPU wake-ups a second
/// (function-call IPIs) and none pinned, and an unpinned `forward` between
/// two igb NICs took ~600 µs from a frame's arrival to its TX, of which the
/// other vCPU's wake from idle was the most. In poll mode there is no
/// interrupt to follow and the default leaves the thread to the scheduler
/// (pinning it to either vCPU measured no better). Not fatal: a CPU that
/// cannot be had leaves the thread where it is, with a note.
fn pin_thread(queues: &[&Queue], common: &Common, what: &str) {
    let Some(first) = queues.first() else {
        return;
    };
    let q = first.index() as usize;
    let (cpu, why) = match &common.pin {
        Pin::Free => return,
        Pin::List(cpus) => (cpus[q % cpus.len()], "as --cpus asks".to_string()),
        Pin::Auto => {
            let irq_cpus: Vec<usize> = queues.iter().filter_map(|q| q.irq_cpu()).collect();
            let Some((cpu, takes)) = most_common(&irq_cpus) else {
                return;
            };
            let why = match queues.len() {
                1 => "which takes its interrupt".to_string(),
                n if takes == n => "which takes their interrupts".to_string(),
                n => format!("which takes {takes} of their {n} interrupts"),
            };
            (cpu, why)
        }
    };
    let (runs, stays) = match queues.len() {
        1 => (format!("queue {q} runs"), format!("queue {q} stays")),
        n => (
            format!("its {n} queues run"),
            format!("its {n} queues stay"),
        ),
    };
    match crate::affinity::pin_current_thread(cpu) {
        Ok(()) => common
            .out
            .say(&format!("{what}: {runs} on CPU {cpu}, {why}")),
        Err(e) => eprintln!("{what}: {stays} unpinned (CPU {cpu}: {e})"),
    }
}

/// The value that occurs most often in `values`, with its count; the first
/// of them on a tie.
fn most_common(values: &[usize]) -> Option<(usize, usize)> {
    let count = |v: usize| values.iter().filter(|&&w| w == v).count();
    values
        .iter()
        .map(|&v| (v, count(v)))
        .rev()
        .max_by_key(|&(_, n)| n)
}

/// Queues what of `pkts` the TX ring has room for and counts it (frames
/// and bytes) in `tx`; the rest stays in `pkts` for the next round.
fn send_some(queue: &mut Queue, pkts: &mut Vec<Packet>, tx: &mut Tally) {
    let bytes = |pkts: &[Packet]| pkts.iter().map(|p| p.len() as u64).sum::<u64>();
    let before = bytes(pkts);
    tx.frames += queue.tx_batch(pkts) as u64;
    tx.bytes += before - bytes(pkts);
}

/// Frames in `pkts`: the packets that end one (with header split, a
/// frame's headers continue into its payload).
fn frames_in(pkts: &[Packet]) -> usize {
    pkts.iter().filter(|p| !p.continues()).count()
}

/// Sends `pkts` completely if the ring drains within a few ms; returns how
/// many frames had to be dropped.
fn send_all(queue: &mut Queue, pkts: &mut Vec<Packet>, tx: &mut Tally) -> u64 {
    // The clock only once the ring is full: in a guest on the HPET a clock
    // read is a system call and an emulated register read per batch.
    let mut full_since = None;
    let mut left = frames_in(pkts);
    loop {
        // Frames that left `pkts` were queued or refused (and counted by
        // the NIC's statistics): of those, no more than the packets queued.
        let queued = queue.tx_batch(pkts);
        let now_left = frames_in(pkts);
        tx.frames += queued.min(left - now_left) as u64;
        left = now_left;
        if pkts.is_empty() {
            return 0;
        }
        let since = *full_since.get_or_insert_with(Instant::now);
        if since.elapsed() > Duration::from_millis(20) {
            pkts.clear();
            return left as u64;
        }
        std::hint::spin_loop();
    }
}

/// Runs `each` on every queue of `nic`, each in a thread of its own with
/// its index and live counters; one failing (e.g. hot-unplug seen on
/// queue 0) stops the others through `budget`. The results in queue order.
fn per_queue_threads<T: Send>(
    nic: &mut Nic,
    budget: &Budget,
    live: &[Live],
    each: impl Fn(usize, Queue, &Live) -> Result<T, CliError> + Sync,
) -> Vec<Result<T, CliError>> {
    std::thread::scope(|scope| {
        let each = &each;
        let threads: Vec<_> = nic
            .split()
            .into_iter()
            .zip(live)
            .enumerate()
            .map(|(i, (queue, live))| {
                scope.spawn(move || each(i, queue, live).inspect_err(|_| budget.stop()))
            })
            .collect();
        threads
            .into_iter()
            .map(|t| t.join().expect("a queue's thread panicked"))
            .collect()
    })
}

/// How many frames the run may still take, shared by the queues' threads so
/// that `--count` is exact however the frames spread. A thread reserves
/// frames ([`Budget::take`]) before it looks, then settles what it used
/// ([`Budget::settle`]); the run ends when the frames used, not the ones
/// merely reserved, reach the count (a thread that saw another's passing
/// reservation as the end would stop with frames still on its queue).
struct Budget {
    /// Frames used plus frames reserved and not yet settled.
    taken: AtomicU64,
    /// Frames used.
    used: AtomicU64,
    limit: Option<u64>,
    stopped: AtomicBool,
}

impl Budget {
    fn new(limit: Option<u64>) -> Budget {
        Budget {
            taken: AtomicU64::new(0),
            used: AtomicU64::new(0),
            limit,
            stopped: AtomicBool::new(false),
        }
    }

    /// Reserves up to `max` frames; returns how many.
    fn take(&self, max: usize) -> usize {
        let Some(limit) = self.limit else { return max };
        let mut taken = self.taken.load(SeqCst);
        loop {
            let n = (limit.saturating_sub(taken) as usize).min(max);
            match self
                .taken
                .compare_exchange(taken, taken + n as u64, SeqCst, SeqCst)
            {
                Ok(_) => return n,
                Err(now) => taken = now,
            }
        }
    }

    /// Of `reserved` frames taken, `used` were used; the rest go back.
    fn settle(&self, reserved: usize, used: usize) {
        if self.limit.is_some() {
            self.taken.fetch_sub((reserved - used) as u64, SeqCst);
            self.used.fetch_add(used as u64, SeqCst);
        }
    }

    /// Frames not yet taken, or `None` without a limit.
    fn left(&self) -> Option<usize> {
        let limit = self.limit?;
        Some(limit.saturating_sub(self.taken.load(SeqCst)) as usize)
    }

    /// Ends the run early for everyone.
    fn stop(&self) {
        self.stopped.store(true, SeqCst);
    }

    /// Whether the frames used have reached the limit (or the run was stopped).
    fn exhausted(&self) -> bool {
        self.stopped.load(SeqCst) || self.limit.is_some_and(|l| self.used.load(SeqCst) >= l)
    }
}

#[cfg(test)]
mod tests {
    use super::{most_common, Budget};

    /// `forward`'s thread goes where most of its queues' interrupts land,
    /// the first queue's CPU on a tie.
    #[test]
    fn picks_the_cpu_most_interrupts_land_on() {
        assert_eq!(most_common(&[1, 1]), Some((1, 2)));
        assert_eq!(most_common(&[0, 1]), Some((0, 1)));
        assert_eq!(most_common(&[1, 0]), Some((1, 1)));
        assert_eq!(most_common(&[1, 0, 0]), Some((0, 2)));
        assert_eq!(most_common(&[]), None);
    }

    /// What CI caught: with 37 frames of the count left, one queue's thread
    /// reserved them while its ring was empty; the other queue's thread saw
    /// the count reached and stopped, leaving its frames unanswered.
    #[test]
    fn a_passing_reservation_does_not_end_the_run() {
        let b = Budget::new(Some(100));
        let first = b.take(64);
        b.settle(first, first);
        let idle = b.take(64);
        assert_eq!(idle, 36, "the rest is reserved");
        assert!(!b.exhausted(), "reserved is not used");
        assert_eq!(b.take(64), 0, "nothing left to reserve meanwhile");
        b.settle(idle, 0);
        let busy = b.take(64);
        assert_eq!(busy, 36);
        b.settle(busy, 36);
        assert!(b.exhausted());
    }

    #[test]
    fn no_limit_never_ends() {
        let b = Budget::new(None);
        let n = b.take(64);
        b.settle(n, n);
        assert_eq!(n, 64);
        assert!(!b.exhausted());
        b.stop();
        assert!(b.exhausted());
    }
}
