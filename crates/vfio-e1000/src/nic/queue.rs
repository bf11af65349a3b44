//! [`Queue`]: one RX/TX queue pair of a [`Nic`](crate::Nic) with its own
//! rings, pool and interrupt vector. [`Nic::split`](crate::Nic::split) hands
//! out one per queue so that each can be driven by its own thread; the `Nic`
//! methods that take a queue index go through the same code.

use super::queue_state::QueueState;
use super::vectors::Role;
use super::{bringup, check_present, spin, Hw};
use crate::datapath::mempool::Packet;
use crate::datapath::tx::TxRing;
use crate::error::{Error, Result};
use crate::hw::counters::LinkStatus;
use crate::hw::family::Family;
use crate::hw::irq::IrqMode;
use crate::sys::mmio::Registers;
use crate::sys::{eventfd, irq};
use std::os::fd::BorrowedFd;
use std::sync::atomic::AtomicBool;
use std::time::{Duration, Instant};

/// What woke [`Queue::wait`] (or [`Nic::wait`](crate::Nic::wait)).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Wakeup {
    /// Frames may be waiting on the queue.
    pub rx: bool,
    /// The link changed (see [`Nic::link`](crate::Nic::link)).
    pub link_changed: bool,
}

/// Poll-mode `wait` calls between two looks at the slow-path events (the
/// release request, the TX watchdog): cheap enough to be unnoticed, often
/// enough to notice a removal within milliseconds.
const POLLS_PER_CHECK: u32 = 1024;

/// How often poll mode reads STATUS to notice a device that is gone without
/// a release request (surprise removal): the poll loop's only register read.
const PRESENCE_CHECK_EVERY: Duration = Duration::from_millis(100);

/// One RX/TX queue pair. Its methods never touch another queue's state, and
/// in poll and MSI-X modes its fast path and interrupt path access no shared
/// register, so queues can run on separate threads.
pub struct Queue<'a> {
    index: u16,
    state: &'a mut QueueState,
    hw: &'a Hw,
}

impl<'a> Queue<'a> {
    pub(crate) fn new(index: u16, state: &'a mut QueueState, hw: &'a Hw) -> Self {
        Queue { index, state, hw }
    }

    /// This queue's number.
    pub fn index(&self) -> u16 {
        self.index
    }

    /// Receives up to `max` packets into `out` (appended); returns how
    /// many. A frame is one packet, or with
    /// [`Config::header_split`](crate::Config::header_split) two: its
    /// headers, which continue ([`Packet::continues`]) and carry the
    /// checksum verdicts, VLAN tag and timestamp flag, then its payload (the
    /// first frame comes whole even when that makes `max` + 1). No register
    /// read; at most one tail write (the refilled descriptors go back to
    /// the NIC in groups).
    pub fn rx_batch(&mut self, out: &mut Vec<Packet>, max: usize) -> usize {
        self.state.rx.rx_batch(&self.hw.regs, out, max)
    }

    /// Frames received with their headers in a packet of their own
    /// ([`Config::header_split`](crate::Config::header_split)).
    pub fn rx_split(&self) -> u64 {
        self.state.rx.split
    }

    /// Sends packets from the front of `pkts`, as many as the ring has room
    /// for; they leave `pkts`. One tail write per call. Frames shorter than
    /// 60 bytes are zero-padded; shorter than an Ethernet header (14 bytes),
    /// dropped and counted ([`Stats::tx_runts`](crate::Stats::tx_runts)).
    ///
    /// When the ring is full, the TX watchdog looks whether the NIC stopped
    /// completing descriptors; after [`Config::tx_hang_timeout`](crate::Config::tx_hang_timeout)
    /// with the link up, the queue is reset and the frames in flight are lost
    /// ([`Stats::tx_hangs`](crate::Stats::tx_hangs)).
    pub fn tx_batch(&mut self, pkts: &mut Vec<Packet>) -> usize {
        let n = self.state.tx.tx_batch(&self.hw.regs, pkts);
        if n == 0 && !pkts.is_empty() {
            // A gone device is recorded and reported by the next `wait`.
            let _ = self.watch_tx();
        }
        n
    }

    /// Waits until every queued transmission completed, or `timeout`;
    /// returns whether everything completed (false too once the device is
    /// gone: [`Queue::wait`] then says so).
    pub fn tx_flush(&mut self, timeout: Duration) -> bool {
        let start = Instant::now();
        loop {
            self.state.tx.reclaim();
            if self.state.tx.in_flight() == 0 {
                return true;
            }
            if start.elapsed() > timeout || self.watch_tx().unwrap_or(true) {
                return false;
            }
            std::thread::sleep(Duration::from_micros(50));
        }
    }

    /// The TX watchdog (slow path): see [`watch_tx`].
    fn watch_tx(&mut self) -> Result<bool> {
        let hw = self.hw;
        let limit = self.state.hang_timeout;
        watch_tx(
            &mut self.state.tx,
            &hw.regs,
            hw.family,
            &hw.gone,
            limit,
            self.index,
        )
    }

    /// Takes an empty packet buffer of `len` bytes from this queue's pool;
    /// `None` if the pool is exhausted or `len` is over the buffer size.
    pub fn alloc(&self, len: usize) -> Option<Packet> {
        self.state.rx.pool().alloc(len)
    }

    /// Takes up to `n` buffers of `len` bytes (one lock) into `out`; returns how many.
    pub fn alloc_batch(&self, n: usize, len: usize, out: &mut Vec<Packet>) -> usize {
        self.state.rx.pool().alloc_batch(n, len, out)
    }

    /// Bytes per packet buffer of this queue's pool: the longest frame a
    /// packet from [`Queue::alloc`] can hold.
    pub fn buffer_size(&self) -> usize {
        self.state.rx.pool().buffer_size()
    }

    /// Buffers in this queue's pool.
    pub fn pool_size(&self) -> usize {
        self.state.rx.pool().capacity()
    }

    /// Buffers free in this queue's pool.
    pub fn pool_free(&self) -> usize {
        self.state.rx.pool().free_count()
    }

    /// Frames the ring dropped (errors, frames spanning buffers).
    pub fn dropped(&self) -> u64 {
        self.state.rx.dropped
    }

    /// Times this queue's receive ring was found full (see
    /// [`Stats::rx_ring_full`](crate::Stats::rx_ring_full)).
    pub fn ring_full(&self) -> u64 {
        self.state.rx.full
    }

    /// Times this queue's transmit ring was reset after a hang.
    pub fn tx_hangs(&self) -> u64 {
        self.state.tx.hangs
    }

    /// Frames this queue had in flight when a hang reset dropped them.
    pub fn tx_reset_dropped(&self) -> u64 {
        self.state.tx.reset_dropped
    }

    /// Current link state, as [`Nic::link`](crate::Nic::link) reads it.
    pub fn link(&self) -> Result<LinkStatus> {
        self.hw.link()
    }

    /// The NIC's IEEE 1588 clock, as [`Nic::clock`](crate::Nic::clock)
    /// gives it: for a thread that holds a queue only.
    pub fn clock(&self) -> Option<crate::Clock<'_>> {
        crate::Clock::of(self.hw)
    }

    /// Whether a received frame waits on this queue, without taking it: one
    /// or two descriptor reads, no register access (what [`Queue::wait`]
    /// busy-polls before it sleeps).
    pub fn rx_pending(&self) -> bool {
        self.state.rx.pending()
    }

    /// Masks this queue's RX interrupt for a busy-poll, if it may
    /// ([`Family::mask_rx_irq`](crate::hw::family::Family::mask_rx_irq)):
    /// frames that arrive while the thread spins cost no interrupt. It
    /// stays masked while frames keep coming, until
    /// [`Queue::unmask_rx_irq`] before a sleep.
    pub(crate) fn mask_rx_irq(&mut self) {
        self.set_rx_irq_masked(true);
    }

    /// Unmasks this queue's RX interrupt if a busy-poll masked it. Call it
    /// before sleeping, then look at the ring once more: a frame that came
    /// in between was raised by nothing.
    pub(crate) fn unmask_rx_irq(&mut self) {
        self.set_rx_irq_masked(false);
    }

    fn set_rx_irq_masked(&mut self, masked: bool) {
        let state = &mut *self.state;
        if !state.masks_rx_irq || state.rx_irq_masked == masked {
            return;
        }
        if let Some(vector) = state.irq_vector {
            let hw = self.hw;
            hw.family
                .mask_rx_irq(&hw.regs, hw.irq_mode, self.index, vector, masked);
            state.rx_irq_masked = masked;
        }
    }

    /// The CPU the kernel delivers this queue's interrupt to (its effective
    /// affinity), when it has one and `/proc` says: the thread that serves
    /// the queue wakes fastest and cheapest there, without a cross-CPU
    /// wake-up per interrupt (the CLI pins its queue threads to it). `None`
    /// in poll mode.
    pub fn irq_cpu(&self) -> Option<usize> {
        let vector = self.state.irq_vector?;
        let pci = &self.hw.pci;
        let handler = match self.hw.irq_mode {
            IrqMode::Poll => return None,
            IrqMode::Intx => format!("vfio-intx({pci})"),
            IrqMode::Msi => format!("vfio-msi[{vector}]({pci})"),
            IrqMode::Msix => format!("vfio-msix[{vector}]({pci})"),
        };
        irq::effective_cpu(&handler)
    }

    /// Sleeps until this queue's interrupt (or `timeout`), acknowledges it
    /// and reports what happened; with a zero timeout it only looks (no
    /// busy-poll, no sleep: what an async runtime or a loop over several
    /// NICs wants). In poll mode it returns at once with `rx: true`, and
    /// every 1024th call looks at the kernel's release request and the TX
    /// watchdog. A signal ends the wait early with an empty [`Wakeup`].
    /// [`Error::RemovalRequested`] means the kernel wants the device back
    /// (hot-unplug): drop the `Nic` promptly.
    ///
    /// It busy-polls only after activity: when its last sleep timed out
    /// with nothing, it sleeps again at once.
    ///
    /// While it busy-polls, the queue's RX interrupt is masked (where the
    /// vector is the queue's own), and it stays masked while frames keep
    /// coming: only a wait that sleeps, or a zero-timeout look, unmasks it.
    /// When the queue's own RX vector (MSI-X) ends a sleep, resetting its
    /// eventfd is left to the next call, before it sleeps again (or to a
    /// zero-timeout look): the frame that woke the thread does not wait for
    /// that system call.
    pub fn wait(&mut self, timeout: Duration) -> Result<Wakeup> {
        if timeout.is_zero() {
            // The caller may sleep elsewhere next (an async reactor).
            self.unmask_rx_irq();
        }
        self.wait_for(timeout)
    }

    /// A zero-timeout [`Queue::wait`] that leaves a busy-poll's mask as it
    /// is: [`Poller`](super::Poller) masks and unmasks its queues itself.
    pub(crate) fn look(&mut self) -> Result<Wakeup> {
        self.wait_for(Duration::ZERO)
    }

    fn wait_for(&mut self, timeout: Duration) -> Result<Wakeup> {
        let hw = self.hw;
        if hw.is_gone() {
            return Err(Error::DeviceGone);
        }
        if hw.irq_mode == IrqMode::Poll {
            self.state.polls = self.state.polls.wrapping_add(1);
            if self.state.polls.is_multiple_of(POLLS_PER_CHECK) {
                self.slow_path_checks()?;
            }
            return Ok(Wakeup {
                rx: true,
                link_changed: false,
            });
        }
        if let Some(m) = &mut self.state.moderation {
            if let Some(us) = m.update(Instant::now(), self.state.rx.received) {
                self.set_irq_interval(us);
            }
        }
        // Busy-poll the ring a little first: when frames keep coming, the
        // next one usually arrives before an interrupt would wake us. A zero
        // timeout asks only what has happened: no spinning, no sleeping, and
        // whatever fired is acknowledged (INTx unmasked) before returning.
        // While it spins (without leaving a virtual machine's guest: see
        // `spin`), the queue's RX interrupt is masked; it is unmasked before
        // the sleep, and the ring looked at once more.
        if !timeout.is_zero() {
            let frames = Wakeup {
                rx: true,
                link_changed: false,
            };
            let window = spin::window(self.state.busy_poll, self.state.slept_idle);
            if !window.is_zero() {
                self.mask_rx_irq();
            }
            let rx = &self.state.rx;
            if spin::spin(window, || rx.pending()) {
                self.state.slept_idle = false;
                return Ok(frames);
            }
            self.drain_deferred();
            self.unmask_rx_irq();
            if self.state.rx.pending() {
                self.state.slept_idle = false;
                return Ok(frames);
            }
        }
        let timeout_ms = timeout.as_millis().min(i32::MAX as u128) as i32;
        let fds = &self.state.vectors.fds;
        let ready = eventfd::ready_any(fds, timeout_ms)?;
        if !timeout.is_zero() {
            self.state.slept_idle = ready == 0;
        }
        let mut fired = 0;
        for (i, role) in self.state.vectors.roles.iter().enumerate() {
            let bit = 1 << i;
            if ready & bit == 0 {
                continue;
            }
            if *role == Role::Rx && !timeout.is_zero() {
                // Woken by RX: the frame first. Resetting the eventfd is a
                // system call; the next wait does it (before it sleeps).
                self.state.undrained |= bit;
                fired |= bit;
            } else if eventfd::take(fds[i]) {
                fired |= bit;
            }
        }
        if timeout.is_zero() {
            self.state.undrained &= !ready; // reset just now
        }
        let mut wake = Wakeup::default();
        for (i, role) in self.state.vectors.roles.iter().enumerate() {
            if fired & (1 << i) == 0 {
                continue;
            }
            match role {
                Role::Release => return Err(self.removal()),
                Role::Rx => wake.rx = true,
                Role::Link => {
                    let _mailbox = hw.lock_mailbox();
                    hw.family.ack(&hw.regs, hw.irq_mode, true);
                    wake.link_changed = true;
                }
                Role::Shared => {
                    wake.link_changed |= hw.family.ack(&hw.regs, hw.irq_mode, false);
                    wake.rx = true;
                }
            }
        }
        if wake.link_changed {
            hw.note_link_change();
        }
        if timeout.is_zero() {
            wake.rx |= self.state.rx.pending();
            self.state.slept_idle &= !wake.rx;
        }
        if fired != 0 && hw.irq_mode == IrqMode::Intx {
            hw.device.unmask_intx()?;
        }
        self.state.polls = self.state.polls.wrapping_add(1);
        let look_around = !timeout.is_zero() || self.state.polls.is_multiple_of(POLLS_PER_CHECK);
        if fired == 0 && look_around {
            // A removed device stops interrupting: look for it only when a
            // wait times out (or now and then for zero-timeout looks), so
            // the interrupt path itself reads no register.
            self.idle_checks()?;
        }
        Ok(wake)
    }

    /// Resets the RX eventfds that ended the last sleep (see
    /// [`QueueState::undrained`]): before the next sleep, which they would
    /// end at once.
    fn drain_deferred(&mut self) {
        let state = &mut *self.state;
        for (i, &fd) in state.vectors.fds.iter().enumerate() {
            if state.undrained & (1 << i) != 0 {
                eventfd::take(fd);
            }
        }
        state.undrained = 0;
    }

    /// How long [`Queue::wait`] busy-polls before it sleeps.
    pub(crate) fn busy_poll(&self) -> Duration {
        self.state.busy_poll
    }

    /// What a wait that timed out looks at (as [`Queue::wait`] does after
    /// its own timeout): a device gone, the TX watchdog.
    pub(crate) fn idle_checks(&mut self) -> Result<()> {
        self.hw.check_present()?;
        self.rearm_if_lost()?;
        self.watch_tx()?;
        Ok(())
    }

    /// For a function whose PF can reset it ([`Family::rearms_after_pf_reset`]):
    /// if this queue's ring length register no longer holds the ring (the
    /// PF's reset cleared it), arms the queue again once the PF is back
    /// (its link reads up), first the function's own part if no other queue
    /// has done it since this one was armed. Frames in flight and frames
    /// not yet taken are lost (counted). A re-arm the PF refuses is tried
    /// again at the next slow-path look; while the PF is down nothing is
    /// touched and the NIC owns no ring memory (its queues are off).
    #[cold]
    fn rearm_if_lost(&mut self) -> Result<()> {
        let hw = self.hw;
        let (r, family) = (&hw.regs, hw.family);
        if !family.rearms_after_pf_reset() || !self.state.rx.lost(r) {
            return Ok(());
        }
        let mut rearms = hw.lock_mailbox();
        if !family.link(r).up {
            return Ok(()); // the PF is still resetting
        }
        let q = self.index;
        let result = (|| {
            if *rearms == self.state.rearmed {
                hw.rearm_function()?;
                *rearms += 1;
            }
            bringup::rearm_queue(r, family, self.state, q, hw.config.rx_mode())
        })();
        match result {
            Ok(()) => {
                self.state.rearmed = *rearms;
                log::warn!("the physical function reset the device: queue {q} armed again");
            }
            Err(Error::DeviceGone) => return Err(Error::DeviceGone),
            Err(e) => log::warn!("arming queue {q} again after a PF reset: {e} (will retry)"),
        }
        Ok(())
    }

    /// Re-times this queue's vector (adaptive moderation; rare).
    #[cold]
    fn set_irq_interval(&self, us: u32) {
        if let Some(vector) = self.state.irq_vector {
            let itr = (us as u64 * 1000).div_ceil(256).min(u16::MAX as u64) as u16;
            let hw = self.hw;
            hw.family
                .set_irq_interval(&hw.regs, hw.irq_mode, vector, itr);
        }
    }

    /// Poll mode's occasional look at what interrupts would report: the
    /// kernel's release request, a device that no longer answers (one
    /// register read per [`PRESENCE_CHECK_EVERY`]), and the TX watchdog.
    fn slow_path_checks(&mut self) -> Result<()> {
        let released = self
            .state
            .vectors
            .roles
            .iter()
            .zip(&self.state.vectors.fds)
            .any(|(role, fd)| *role == Role::Release && eventfd::take(*fd));
        if released {
            return Err(self.removal());
        }
        let now = Instant::now();
        if now.duration_since(self.state.presence_checked) >= PRESENCE_CHECK_EVERY {
            self.state.presence_checked = now;
            self.hw.check_present()?;
            self.rearm_if_lost()?;
        }
        self.watch_tx()?;
        Ok(())
    }

    /// Whether this queue is in poll mode (no interrupt: [`Queue::wait`]
    /// never sleeps).
    pub fn polls(&self) -> bool {
        self.hw.irq_mode == IrqMode::Poll
    }

    /// The eventfds this queue sleeps on, borrowed from the `Nic` (for an
    /// async runtime: register a `try_clone_to_owned()` copy, and when it is
    /// readable call [`Queue::wait`] with a zero timeout). The first is the
    /// queue's receive vector (MSI-X) or the one vector (INTx, MSI); in poll
    /// mode only the kernel's request to release the device, which says
    /// nothing about frames (see [`Queue::polls`]).
    pub fn fds(&self) -> Vec<BorrowedFd<'_>> {
        let owners = [self.hw.irqs.as_ref(), self.hw.release.as_ref()];
        self.state
            .vectors
            .fds
            .iter()
            .filter_map(|&fd| owners.iter().flatten().find_map(|set| set.borrow(fd)))
            .collect()
    }

    /// Stops this queue's transmitter behind the driver's back, as a hung
    /// NIC would (the family's per-queue transmit enable goes off): the TX
    /// watchdog must notice and recover. For end-to-end tests only.
    #[cfg(feature = "fault-injection")]
    pub fn inject_tx_stall(&mut self) {
        self.hw.family.stop_tx_queue(&self.hw.regs, self.index);
    }

    fn removal(&self) -> Error {
        Error::RemovalRequested {
            pci: self.hw.pci.clone(),
        }
    }
}

/// The TX watchdog of queue `q` (slow path): resets the queue if it hung
/// for `limit` with the link up, and returns whether it did;
/// [`Error::DeviceGone`] if the device no longer answers (its all-ones
/// STATUS would read as "link up", and a reset every `limit` would follow).
pub(crate) fn watch_tx(
    tx: &mut TxRing,
    r: &dyn Registers,
    family: &dyn Family,
    gone: &AtomicBool,
    limit: Duration,
    q: u16,
) -> Result<bool> {
    if !tx.hung(Instant::now(), limit) {
        return Ok(false);
    }
    check_present(r, gone)?;
    if !family.link(r).up {
        // A dead link holds frames; that is not a hang. The clock starts
        // again when the link is back.
        tx.restart_watchdog();
        return Ok(false);
    }
    if let Err(e) = tx.reset(r, family, q) {
        log::warn!("resetting hung TX queue {q}: {e}");
    }
    Ok(true)
}
