//! The controller as a user sees it: [`Nic`] (open, data path, interrupts,
//! statistics, teardown), its [`Config`], one [`Queue`] per thread, and the
//! diagnostics behind `e1000 info` and `e1000 list`.

pub(crate) mod bringup;
pub(crate) mod clock;
pub(crate) mod config;
pub(crate) mod diag;
pub(crate) mod moderation;
pub(crate) mod poller;
pub(crate) mod queue;
pub(crate) mod queue_state;
pub(crate) mod spin;
pub(crate) mod vectors;

pub use clock::Clock;
pub use config::Config;
pub use poller::Poller;
pub use queue::{Queue, Wakeup};

use crate::datapath::mempool::Packet;
use crate::error::{Error, Result};
use crate::hw::counters::{LinkStatus, RunningTotals, Stats};
use crate::hw::devices::DeviceEntry;
use crate::hw::family::Family;
use crate::hw::irq::{IrqMode, VectorPlan};
use crate::hw::offload::Capabilities;
use crate::hw::ptp::{self, TimeScale};
use crate::hw::regs;
use crate::sys::dma::{DmaMemory, IommuMap};
use crate::sys::eventfd::Eventfds;
use crate::sys::mmio::{Mmio, Registers};
use crate::sys::pci;
use crate::sys::vfio::{Device, IrqIndex};
use moderation::Moderation;
use queue_state::QueueState;
use std::os::fd::BorrowedFd;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The hardware shared by every queue: registers, device, family,
/// interrupt mode and plan, and the eventfds the queues sleep on.
#[derive(Debug)]
pub(crate) struct Hw {
    pub regs: Mmio,
    pub device: Device,
    pub family: &'static dyn Family,
    pub entry: &'static DeviceEntry,
    pub pci: String,
    /// The PCI Command register value with bus mastering off.
    pub command: u16,
    pub irq_mode: IrqMode,
    pub plan: VectorPlan,
    pub irqs: Option<Eventfds>,
    pub release: Option<Eventfds>,
    /// The link's history as interrupts told it.
    pub link: Mutex<LinkHistory>,
    /// Set once a register read returned all ones: the device was removed
    /// (or fell off the bus) and answers nothing any more.
    pub gone: AtomicBool,
    /// The configuration the NIC was opened with, its MAC address the one
    /// in use: what a re-arm after a PF reset programs again.
    pub config: Config,
    /// Times the function was armed again after its PF reset it (see
    /// [`Family::rearms_after_pf_reset`]); held while one queue re-arms and
    /// while the mailbox is read, so that two threads never talk to the PF
    /// at once.
    pub rearms: Mutex<u64>,
    /// The IEEE 1588 clock's time as a function of its counter (families
    /// with a clock).
    pub clock: Mutex<TimeScale>,
}

/// When the link went down and for how long, from link interrupts.
#[derive(Debug, Default)]
pub(crate) struct LinkHistory {
    /// Since when the link has been down, if it is.
    down_since: Option<Instant>,
    /// Time down before `down_since`.
    down_before: Duration,
    /// Times it went down.
    downs: u64,
}

impl LinkHistory {
    /// Records the link state read after a link interrupt.
    fn note(&mut self, up: bool, now: Instant) {
        match (self.down_since, up) {
            (None, false) => {
                self.down_since = Some(now);
                self.downs += 1;
            }
            (Some(since), true) => {
                self.down_before += now.duration_since(since);
                self.down_since = None;
            }
            _ => {}
        }
    }

    /// (times down, total time down up to `now`).
    fn totals(&self, now: Instant) -> (u64, Duration) {
        let current = self
            .down_since
            .map_or(Duration::ZERO, |s| now.duration_since(s));
        (self.downs, self.down_before + current)
    }
}

impl Hw {
    /// Whether the device was found gone (see [`Hw::check_present`]).
    #[inline]
    pub(crate) fn is_gone(&self) -> bool {
        self.gone.load(Ordering::Relaxed)
    }

    /// The link state, once STATUS shows the device is there.
    pub(crate) fn link(&self) -> Result<LinkStatus> {
        self.check_present()?;
        let _mailbox = self.lock_mailbox();
        Ok(self.family.link(&self.regs))
    }

    /// [`Hw::rearms`], held by whoever reads the mailbox register (a
    /// virtual function's link and messages) or talks to the PF.
    pub(crate) fn lock_mailbox(&self) -> std::sync::MutexGuard<'_, u64> {
        self.rearms.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// [`check_present`] on this device.
    pub(crate) fn check_present(&self) -> Result<()> {
        check_present(&self.regs, &self.gone)
    }

    /// The function's own part of a re-arm after its PF reset it: reset,
    /// the PF's driver asked again for the address, filters and frame
    /// size, the interrupt routing written again (the VFIO side, MSI-X
    /// table and eventfds, survives a PF reset). The queues do their part.
    pub(crate) fn rearm_function(&self) -> Result<()> {
        self.family.reset(&self.regs)?;
        bringup::init(&self.regs, self.family, &self.config)?;
        if bringup::irq_index(self.irq_mode).is_some() {
            self.family.enable_irqs(
                &self.regs,
                self.irq_mode,
                self.config.itr(),
                self.config.queues,
            );
        }
        Ok(())
    }

    /// After a link interrupt: reads the link state and records it.
    pub(crate) fn note_link_change(&self) {
        let up = {
            let _mailbox = self.lock_mailbox();
            self.family.link(&self.regs).up
        };
        self.link
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .note(up, Instant::now());
    }

    /// Stops the device: interrupts off, RX and TX off, MAC reset, bus
    /// mastering off, then VFIO's interrupts off. Safe to run in any state.
    fn stop(&self) {
        if self.regs.read(regs::STATUS) != u32::MAX {
            self.family.disable_irqs(&self.regs);
            let _ = self.family.reset(&self.regs);
        }
        let _ = self.device.config_write16(pci::CFG_COMMAND, self.command);
        if let Some(index) = bringup::irq_index(self.irq_mode).filter(|_| self.irqs.is_some()) {
            let _ = self.device.disable_irqs(index);
        }
        if self.release.is_some() {
            let _ = self.device.disable_irqs(IrqIndex::Req);
        }
    }
}

/// Reads STATUS, which is never all ones on a device that answers (bits
/// 30:20 are reserved as 0 on every family); all ones means the device is
/// gone (surprise removal, or it fell off the bus), recorded in `gone` for
/// good: [`Error::DeviceGone`].
pub(crate) fn check_present(r: &dyn Registers, gone: &AtomicBool) -> Result<()> {
    if gone.load(Ordering::Relaxed) || r.read(regs::STATUS) == u32::MAX {
        gone.store(true, Ordering::Relaxed);
        return Err(Error::DeviceGone);
    }
    Ok(())
}

/// Adds the NIC's clear-on-read counters into `totals`, unless the device
/// is gone before or during the reads (they would add all ones): then
/// `totals` keeps its last good values.
pub(crate) fn read_stats_if_present(
    r: &dyn Registers,
    family: &dyn Family,
    gone: &AtomicBool,
    totals: &mut Stats,
) {
    if gone.load(Ordering::Relaxed) {
        return;
    }
    let mut fresh = *totals;
    family.read_stats(r, &mut fresh);
    if check_present(r, gone).is_ok() {
        *totals = fresh;
    }
}

/// An Intel 1GbE controller driven from user space.
///
/// Dropping it masks interrupts, stops RX/TX and resets the MAC before any
/// DMA memory is unmapped, so the device never writes into freed memory;
/// the same happens when [`Nic::open`] fails half-way.
#[derive(Debug)]
pub struct Nic {
    // Field order is drop order: the queues (DMA memory) go before the
    // device, after `Drop::drop` has stopped the hardware.
    queues: Vec<QueueState>,
    hw: Hw,
    mac: [u8; 6],
    mtu: u16,
    hugepages: bool,
    stats: Stats,
    /// For a family whose counters are never cleared
    /// ([`Family::cumulative_counters`]): their totals since open.
    running: RunningTotals,
    /// [`Hw::rearms`] as of the last reading of `running`.
    running_rearms: u64,
}

impl Nic {
    /// The NIC's IEEE 1588 clock and its packet timestamps, if it has one
    /// ([`Capabilities::clock`]).
    pub fn clock(&self) -> Option<Clock<'_>> {
        Clock::of(&self.hw)
    }

    /// Opens the NIC at `pci` (e.g. `"0000:00:03.0"`), resets and initialises
    /// it, arms `config.queues` RX/TX queue pairs (RSS spreads flows over
    /// them) and enables interrupts. Does not wait for the link: see
    /// [`Nic::wait_link`]. The steps: claim the device through VFIO, reset,
    /// initialise link and MAC, arm the queues, RSS, start, interrupts.
    pub fn open(pci: &str, config: &Config) -> Result<Nic> {
        config.validate()?;
        let claimed = bringup::claim(pci)?;
        let family = claimed.family;
        bringup::check_queues(family, config.queues)?;
        let irq_mode =
            bringup::choose_irq_mode(&claimed.device, family, config.irq, config.queues)?;
        let dma = DmaMemory::new(
            Arc::clone(claimed.device.container()) as Arc<dyn IommuMap>,
            config.iova,
            config.hugepages,
        );
        // From here on, dropping `nic` stops the hardware.
        let mut nic = Nic {
            queues: Vec::with_capacity(config.queues as usize),
            hw: Hw {
                pci: claimed.device.address.to_string(),
                regs: claimed.regs,
                device: claimed.device,
                family,
                entry: claimed.entry,
                command: claimed.command,
                irq_mode,
                plan: VectorPlan::NONE,
                irqs: None,
                release: None,
                link: Mutex::new(LinkHistory::default()),
                gone: AtomicBool::new(false),
                config: config.clone(),
                rearms: Mutex::new(0),
                clock: Mutex::new(TimeScale::new(0, 0)),
            },
            mac: [0; 6],
            mtu: config.mtu,
            hugepages: false,
            stats: Stats::default(),
            running: RunningTotals::default(),
            running_rearms: 0,
        };
        let hw = &nic.hw;
        bringup::reset(&hw.regs, family)?;
        hw.device
            .config_write16(pci::CFG_COMMAND, hw.command | pci::CMD_BUS_MASTER)?;
        nic.mac = bringup::init(&nic.hw.regs, family, config)?;
        nic.hw.config.mac = Some(nic.mac);
        if family.clock_increment().is_some() {
            // The clock starts at the system's time, as Linux's PHCs do.
            let counter = ptp::read_counter(&nic.hw.regs);
            nic.hw.clock = Mutex::new(TimeScale::new(counter, clock::system_time_ns()));
        }
        if family.cumulative_counters() {
            let mut at_open = Stats::default();
            family.read_stats(&nic.hw.regs, &mut at_open);
            nic.running = RunningTotals::new(at_open);
        }
        // Every ring and pool in one mapping: one memlock check for the
        // whole configuration, one hugepage rounding.
        let dma = dma.with_arena(bringup::dma_bytes(config))?;
        for q in 0..config.queues {
            let state = bringup::arm_queue(&nic.hw.regs, family, &dma, config, q)?;
            nic.hugepages = state.rx.pool().hugepages();
            nic.queues.push(state);
        }
        family.enable_rss(&nic.hw.regs, config.queues)?;
        bringup::start(&nic.hw.regs, family, config);
        nic.enable_interrupts(config)?;
        Ok(nic)
    }

    /// Step 7: the family routes its causes (interrupts last, once the
    /// rings can take what they announce), VFIO signals eventfds, and each
    /// queue learns which ones to sleep on. Also subscribes to the kernel's
    /// release request (hot-unplug, unbind).
    fn enable_interrupts(&mut self, config: &Config) -> Result<()> {
        let hw = &mut self.hw;
        if let Some(index) = bringup::irq_index(hw.irq_mode) {
            hw.plan = hw
                .family
                .enable_irqs(&hw.regs, hw.irq_mode, config.itr(), config.queues);
            let fds = Eventfds::new(hw.plan.count)?;
            hw.device.enable_irqs(index, &fds.raw())?;
            hw.irqs = Some(fds);
        }
        hw.release = match hw.device.irq_info(IrqIndex::Req) {
            Ok(info) if info.eventfd && info.count > 0 => {
                let fds = Eventfds::new(1)?;
                hw.device.enable_irqs(IrqIndex::Req, &fds.raw())?;
                Some(fds)
            }
            _ => None,
        };
        let vector_fds = hw.irqs.as_ref().map(Eventfds::raw).unwrap_or_default();
        let release = hw.release.as_ref().map(|r| r.raw()[0]);
        let assigned = vectors::assign(hw.irq_mode, hw.plan, config.queues, &vector_fds, release);
        let now = Instant::now();
        for (q, (state, vectors)) in self.queues.iter_mut().zip(assigned).enumerate() {
            state.vectors = vectors;
            // The vector whose interval adapts: the queue's own RX vector
            // (MSI-X), or the one vector, which queue 0 sleeps on.
            state.irq_vector = match hw.irq_mode {
                IrqMode::Poll => None,
                IrqMode::Msix => Some(hw.plan.rx_queue0 + q as u32),
                _ => (q == 0).then_some(0),
            };
            // The one vector of INTx/MSI mode is every queue's: only a
            // single queue may mask it while it busy-polls.
            state.masks_rx_irq = state.irq_vector.is_some()
                && !state.busy_poll.is_zero()
                && (hw.irq_mode == IrqMode::Msix || config.queues == 1);
            if config.adaptive_irq && state.irq_vector.is_some() {
                state.moderation = Some(Moderation::new(now, state.rx.received));
            }
        }
        Ok(())
    }

    /// Waits up to `timeout` for the link to come up. A signal (SIGINT…)
    /// does not end the wait; poll [`Nic::link`] for that.
    pub fn wait_link(&self, timeout: Duration) -> Result<LinkStatus> {
        let start = Instant::now();
        loop {
            let link = self.link()?;
            if link.up {
                return Ok(link);
            }
            if start.elapsed() >= timeout {
                return Err(Error::LinkDown {
                    pci: self.pci(),
                    waited_ms: timeout.as_millis() as u64,
                });
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Current link state; [`Error::DeviceGone`] if the device stopped answering.
    pub fn link(&self) -> Result<LinkStatus> {
        self.hw.link()
    }

    /// Queue pair `index`, borrowed (see [`Nic::split`] for all of them at
    /// once); [`Error::NoSuchQueue`] if `index` is not below [`Nic::queues`].
    pub fn queue(&mut self, index: u16) -> Result<Queue<'_>> {
        let queues = self.queues();
        match self.queues.get_mut(index as usize) {
            Some(state) => Ok(Queue::new(index, state, &self.hw)),
            None => Err(Error::NoSuchQueue { index, queues }),
        }
    }

    /// Queue pair 0, which every NIC has: what the single-queue shorthands
    /// below work on.
    fn queue0(&mut self) -> Queue<'_> {
        Queue::new(0, &mut self.queues[0], &self.hw)
    }

    /// Every queue pair, to drive each from its own thread (e.g. with
    /// `std::thread::scope`). The `Nic` is borrowed until they are dropped.
    pub fn split(&mut self) -> Vec<Queue<'_>> {
        let hw = &self.hw;
        self.queues
            .iter_mut()
            .enumerate()
            .map(|(i, state)| Queue::new(i as u16, state, hw))
            .collect()
    }

    /// Receives up to `max` frames from queue 0 into `out` (appended);
    /// returns how many: the single-queue shorthand for
    /// [`Queue::rx_batch`] (use [`Nic::queue`] or [`Nic::split`] for others).
    pub fn rx_batch(&mut self, out: &mut Vec<Packet>, max: usize) -> usize {
        self.queue0().rx_batch(out, max)
    }

    /// Sends packets from the front of `pkts` on queue 0, as many as the
    /// ring has room for; they leave `pkts`. See [`Queue::tx_batch`].
    pub fn tx_batch(&mut self, pkts: &mut Vec<Packet>) -> usize {
        self.queue0().tx_batch(pkts)
    }

    /// Waits until the NIC has completed every transmission queued on
    /// queue 0, or `timeout`. See [`Queue::tx_flush`].
    pub fn tx_flush(&mut self, timeout: Duration) -> bool {
        self.queue0().tx_flush(timeout)
    }

    /// Takes an empty packet buffer of `len` bytes from queue 0's pool;
    /// `None` if the pool is exhausted or `len` is over the buffer size
    /// ([`Packet::capacity`]).
    pub fn alloc(&self, len: usize) -> Option<Packet> {
        self.queues[0].rx.pool().alloc(len)
    }

    /// Takes up to `n` buffers of `len` bytes from queue 0's pool (one lock)
    /// into `out`; returns how many.
    pub fn alloc_batch(&self, n: usize, len: usize, out: &mut Vec<Packet>) -> usize {
        self.queues[0].rx.pool().alloc_batch(n, len, out)
    }

    /// [`Queue::wait`] on queue 0, which also watches link changes and the
    /// kernel's release request.
    pub fn wait(&mut self, timeout: Duration) -> Result<Wakeup> {
        self.queue0().wait(timeout)
    }

    /// The interrupt eventfds, one per vector (empty in poll mode), for
    /// registering with an async runtime; then call [`Nic::wait`] (or
    /// [`Queue::wait`]) with a zero timeout when one is readable. See
    /// [`Queue::fds`] for the ones a given queue sleeps on.
    pub fn irq_fds(&self) -> Vec<BorrowedFd<'_>> {
        self.hw
            .irqs
            .as_ref()
            .map(Eventfds::borrowed)
            .unwrap_or_default()
    }

    /// Reads the NIC's statistics registers and returns the totals since
    /// open. Once the device is gone, the NIC's counters stay at their last
    /// good reading (an all-ones read is never added in).
    pub fn stats(&mut self) -> Stats {
        let hw = &self.hw;
        read_stats_if_present(&hw.regs, hw.family, &hw.gone, &mut self.stats);
        let sum = |f: fn(&QueueState) -> u64| self.queues.iter().map(f).sum::<u64>();
        self.stats.rx_driver_dropped = sum(|q| q.rx.dropped);
        self.stats.rx_ring_full = sum(|q| q.rx.full);
        self.stats.rx_early_dd = sum(|q| q.rx.early_dd);
        self.stats.tx_hangs = sum(|q| q.tx.hangs);
        self.stats.tx_runts = sum(|q| q.tx.runts);
        self.stats.tx_tag_no_room = sum(|q| q.tx.tag_no_room);
        self.stats.tx_giants = sum(|q| q.tx.giants);
        self.stats.tx_dead_pool = sum(|q| q.tx.dead_pool);
        self.stats.tx_unsupported = sum(|q| q.tx.unsupported);
        self.stats.tx_bad_chains = sum(|q| q.tx.bad_chains);
        self.stats.tx_reset_dropped = sum(|q| q.tx.reset_dropped);
        self.stats.tx_rings_quarantined = sum(|q| q.tx.quarantined());
        self.stats.rx_ip_checksum_errors = sum(|q| q.rx.ip_checksum_errors);
        self.stats.rx_l4_checksum_errors = sum(|q| q.rx.l4_checksum_errors);
        let (downs, down) = self
            .hw
            .link
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .totals(Instant::now());
        self.stats.link_down_events = downs;
        self.stats.link_down_ms = down.as_millis() as u64;
        let rearms = *hw.lock_mailbox();
        self.stats.pf_resets = rearms;
        let mut stats = self.stats;
        if hw.family.cumulative_counters() {
            // While a PF reset has the queues down, the registers read zero:
            // keep the last totals until the re-arm.
            let lost = self.queues.first().is_some_and(|q| q.rx.lost(&hw.regs));
            let totals = if lost || hw.is_gone() {
                self.running.total()
            } else {
                let restarted = rearms != self.running_rearms;
                self.running_rearms = rearms;
                self.running.update(&self.stats, restarted)
            };
            stats.rx_packets = totals.rx_packets;
            stats.tx_packets = totals.tx_packets;
            stats.rx_bytes = totals.rx_bytes;
            stats.tx_bytes = totals.tx_bytes;
            stats.rx_multicast = totals.rx_multicast;
        }
        stats
    }

    /// Register reads and writes this NIC has done since open (for the
    /// "register accesses per frame" figure).
    pub fn register_accesses(&self) -> (u64, u64) {
        let (reads, writes) = self.hw.regs.accesses();
        let tails: u64 = self
            .queues
            .iter()
            .map(|q| q.rx.tail_writes + q.tx.tail_writes)
            .sum();
        (reads, writes + tails)
    }

    /// The MAC address.
    pub fn mac(&self) -> [u8; 6] {
        self.mac
    }

    /// What the NIC can do to frames besides moving them: checksums,
    /// segmentation, tags, RSS.
    pub fn capabilities(&self) -> Capabilities {
        self.hw.family.capabilities()
    }

    /// The MTU the NIC was opened with ([`Config::mtu`]).
    pub fn mtu(&self) -> u16 {
        self.mtu
    }

    /// The PCI address, `0000:00:03.0` style.
    pub fn pci(&self) -> String {
        self.hw.pci.clone()
    }

    /// The controller's name, e.g. "82574L".
    pub fn model(&self) -> &'static str {
        self.hw.entry.name
    }

    /// The interrupt mode in use.
    pub fn irq_mode(&self) -> IrqMode {
        self.hw.irq_mode
    }

    /// Number of RX/TX queue pairs in use.
    pub fn queues(&self) -> u16 {
        self.queues.len() as u16
    }

    /// Whether received TCP/UDP frames come as headers and payload
    /// ([`Config::header_split`]).
    pub fn header_split(&self) -> bool {
        self.hw.config.header_split
    }

    /// Whether the packet buffers are in 2 MiB hugepages.
    pub fn hugepages(&self) -> bool {
        self.hugepages
    }
}

impl Drop for Nic {
    fn drop(&mut self) {
        self.hw.stop();
        // Packets still held keep their pool's memory mapped (in the
        // process's one IOMMU container), but no ring takes them any more.
        for q in &self.queues {
            q.rx.pool().retire();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::LinkHistory;
    use std::time::{Duration, Instant};

    #[test]
    fn link_history_counts_downs_and_time_down() {
        let t0 = Instant::now();
        let s = |ms| t0 + Duration::from_millis(ms);
        let mut h = LinkHistory::default();
        h.note(true, s(0)); // an "up" report while up changes nothing
        h.note(false, s(100));
        h.note(false, s(150)); // a second "down" report: still one event
        assert_eq!(h.totals(s(400)), (1, Duration::from_millis(300)));
        h.note(true, s(1100));
        h.note(false, s(2000));
        h.note(true, s(2500));
        assert_eq!(h.totals(s(9000)), (2, Duration::from_millis(1500)));
    }
}
