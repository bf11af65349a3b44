//! Receive and transmit rings, written once for every family: descriptors
//! in DMA memory, the [`Packet`]s the NIC owns, and the tail register.
//!
//! Fast-path rules: no register read; at most one tail write per batch;
//! receive completion is read from descriptor write-back; transmit completion
//! is requested (RS) only on the last descriptor of a batch and reclaimed a
//! batch at a time. Refilled receive descriptors are handed back to the NIC
//! in groups ([`RxRing::post_threshold`]), not after every small batch: each
//! RDT write costs a register access and, in QEMU, a pass of the device's
//! receive logic, while the NIC still has most of the ring to fill.

mod desc;

pub use desc::{RxFormat, TxFormat, DESC_SIZE};

use crate::dma::{DmaRegion, IovaPolicy};
use crate::error::{Error, Result};
use crate::mempool::{Mempool, Packet, BUFFER_SIZE};
use crate::mmio::Mmio;
use crate::vfio::Container;
use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// RDH sits 8 bytes before RDT in every family (8254x SDM §13.4.28–29,
/// 82574 §10.2.5.x, 82576 §8.10.x: RDH at +0x10, RDT at +0x18).
const TAIL_AFTER_HEAD: u32 = 8;

/// Ring sizes must be a multiple of 8 descriptors (128 bytes, SDM §13.4.27).
pub const RING_ALIGN: usize = 8;

/// Checks a ring size: a multiple of 8, between 8 and 4096.
pub fn check_ring_size(n: usize) -> Result<()> {
    if !(RING_ALIGN..=4096).contains(&n) || !n.is_multiple_of(RING_ALIGN) {
        return Err(Error::InvalidConfig(format!(
            "ring size {n}: must be a multiple of 8 between 8 and 4096"
        )));
    }
    Ok(())
}

/// Descriptor memory of one ring.
#[derive(Debug)]
struct Descriptors {
    region: DmaRegion,
    count: usize,
}

impl Descriptors {
    fn new(container: &Arc<Container>, count: usize, policy: IovaPolicy) -> Result<Self> {
        check_ring_size(count)?;
        Ok(Descriptors {
            region: DmaRegion::new(container, count * DESC_SIZE, policy)?,
            count,
        })
    }

    /// Pointer to descriptor `i` (`i < count`).
    fn at(&self, i: usize) -> *mut u8 {
        debug_assert!(i < self.count);
        self.region.virt().wrapping_add(i * DESC_SIZE)
    }
}

/// A receive ring: every descriptor holds a buffer the NIC may fill.
#[derive(Debug)]
pub struct RxRing {
    desc: Descriptors,
    format: RxFormat,
    /// The buffer behind each descriptor (None only transiently).
    bufs: Vec<Option<Packet>>,
    pool: Arc<Mempool>,
    /// Next descriptor to look at.
    next: usize,
    /// Byte offset of this ring's tail register.
    tail_reg: u32,
    /// The value last written to the tail register: the NIC owns the
    /// descriptors from its head up to, not including, this one.
    tail: usize,
    /// Frames dropped because they spanned descriptors or had errors.
    pub dropped: u64,
    /// Polls that found the ring full: every descriptor given to the NIC
    /// held a frame, so the NIC had nowhere to put the next one (the
    /// software fell behind; the device then drops or holds frames).
    pub full: u64,
    /// Times the next descriptor showed DD before its length (see
    /// [`RxRing::rx_batch`]): the driver waited for the rest of the write-back.
    pub early_dd: u64,
    /// When the descriptor at `next` was first seen with DD but no length.
    early_since: Option<Instant>,
}

/// How long a descriptor may show DD without a length before it is taken as
/// written that way (an empty frame, dropped): far longer than the few tens
/// of µs the emulation has been seen to take.
const EARLY_DD_LIMIT: Duration = Duration::from_millis(5);

impl RxRing {
    /// Allocates `count` descriptors and fills all of them with buffers from `pool`.
    pub fn new(
        container: &Arc<Container>,
        format: RxFormat,
        count: usize,
        pool: &Arc<Mempool>,
        tail_reg: u32,
        policy: IovaPolicy,
    ) -> Result<RxRing> {
        let desc = Descriptors::new(container, count, policy)?;
        let mut bufs = Vec::with_capacity(count);
        for i in 0..count {
            let p = pool
                .alloc(BUFFER_SIZE)
                .ok_or_else(|| Error::InvalidConfig("mempool smaller than the RX ring".into()))?;
            // SAFETY: descriptor i of a ring the NIC does not know yet.
            unsafe { format.arm(desc.at(i), p.iova()) };
            bufs.push(Some(p));
        }
        Ok(RxRing {
            desc,
            format,
            bufs,
            pool: Arc::clone(pool),
            next: 0,
            tail_reg,
            tail: count - 1,
            dropped: 0,
            full: 0,
            early_dd: 0,
            early_since: None,
        })
    }

    /// Device address of the descriptors, for RDBAL/RDBAH.
    pub fn iova(&self) -> u64 {
        self.desc.region.iova()
    }

    /// Ring length in bytes, for RDLEN.
    pub fn bytes(&self) -> u32 {
        (self.desc.count * DESC_SIZE) as u32
    }

    /// Initial tail: every descriptor but one given to the NIC (head == tail means empty).
    pub fn initial_tail(&self) -> u32 {
        self.tail as u32
    }

    /// How many refilled descriptors wait before the tail moves: a quarter
    /// of the ring, at most 32 (Linux's e1000e waits for 16, DPDK's default
    /// free threshold is 32), so the NIC always owns at least three quarters
    /// of the ring.
    pub fn post_threshold(&self) -> usize {
        (self.desc.count / 4).clamp(1, 32)
    }

    /// Whether a received frame is waiting (one descriptor read, no register).
    /// A descriptor showing DD without a length is not (yet) a frame: see
    /// [`rx_batch`](Self::rx_batch).
    pub fn pending(&self) -> bool {
        // SAFETY: `next` indexes this ring.
        unsafe { self.format.done(self.desc.at(self.next)) }.is_some_and(|d| d.len != 0)
    }

    /// For descriptor `i` showing DD without a length: true if the NIC
    /// really wrote it that way (it is then dropped), false while the rest
    /// of the write-back may still land. Every [`EARLY_DD_LIMIT`] the head
    /// register decides: if the NIC's head is still at `i`, it has not
    /// written `i` at all (the DD is a stray late status write) and the
    /// driver keeps waiting for the frame, asking again one limit later (so
    /// an idle ring is not polled through a register). Off the fast path.
    #[cold]
    fn waited_out_early_dd(&mut self, regs: &Mmio, i: usize) -> bool {
        match self.early_since {
            None => {
                self.early_dd += 1;
                self.early_since = Some(Instant::now());
                false
            }
            Some(t) if t.elapsed() < EARLY_DD_LIMIT => false,
            Some(_) => {
                let written = regs.read(self.tail_reg - TAIL_AFTER_HEAD) as usize != i;
                if !written {
                    self.early_since = Some(Instant::now());
                }
                written
            }
        }
    }

    /// Moves up to `max` received frames into `out` and refills the ring with
    /// fresh buffers; moves the tail once if at least
    /// [`post_threshold`](Self::post_threshold) descriptors are refilled.
    /// Returns the number received.
    pub fn rx_batch(&mut self, regs: &Mmio, out: &mut Vec<Packet>, max: usize) -> usize {
        let count = self.desc.count;
        // The NIC fills the descriptor before the tail last: if that one is
        // done, every descriptor it owned is (one descriptor read).
        let last_owned = (self.tail + count - 1) % count;
        // SAFETY: `last_owned` indexes this ring; reading its status is
        // harmless whoever owns it.
        if unsafe { self.format.done(self.desc.at(last_owned)) }.is_some() {
            self.full += 1;
        }
        let mut received = 0;
        let mut last_refilled = None;
        let mut in_frame_error = false;
        while received < max {
            let i = self.next;
            // SAFETY: `i` indexes this ring; software owns it once DD is set.
            let Some(done) = (unsafe { self.format.done(self.desc.at(i)) }) else {
                break;
            };
            // Every descriptor we arm has a zero length field, and every
            // frame the NIC writes back has a non-zero one. DD with length 0
            // is a write-back still landing: QEMU's 82576 model has been seen
            // to show the status word up to ~100 µs before the rest, and to
            // rewrite the status after the driver re-armed the descriptor.
            // Taking such a descriptor loses its frame, and re-arming it early
            // lets the late write clobber the fresh buffer address. Wait for
            // the whole write-back (bounded, in case a NIC really wrote 0).
            if done.len == 0 && !self.waited_out_early_dd(regs, i) {
                break;
            }
            self.early_since = None;
            let Some(fresh) = self.pool.alloc(BUFFER_SIZE) else {
                break;
            };
            let mut p = self.bufs[i]
                .replace(fresh)
                .expect("every RX descriptor holds a buffer");
            let iova = self.bufs[i].as_ref().expect("just placed").iova();
            // SAFETY: software owns descriptor i (DD was set); re-arm it with the fresh buffer.
            unsafe { self.format.arm(self.desc.at(i), iova) };
            last_refilled = Some(i);
            self.next = (i + 1) % count;
            // A frame that spans descriptors (longer than a buffer), has
            // errors or an impossible length is dropped whole.
            let bad_len = done.len == 0 || done.len as usize > BUFFER_SIZE;
            if done.error || !done.eop || in_frame_error || bad_len {
                in_frame_error = !done.eop;
                self.dropped += 1;
                continue;
            }
            p.set_len(done.len as usize);
            out.push(p);
            received += 1;
        }
        if let Some(i) = last_refilled {
            // Writing `i` hands the NIC the descriptors from the old tail up
            // to, not including, `i` (all refilled).
            let refilled = (i + count - self.tail) % count;
            if refilled >= self.post_threshold() {
                regs.write(self.tail_reg, i as u32);
                self.tail = i;
            }
        }
        received
    }
}

/// A transmit ring: descriptors plus the packets the NIC still owns.
#[derive(Debug)]
pub struct TxRing {
    desc: Descriptors,
    format: TxFormat,
    bufs: Vec<Option<Packet>>,
    /// Next free descriptor (software's tail).
    tail: usize,
    /// Oldest descriptor not yet reclaimed.
    clean: usize,
    /// Descriptors that requested a status write-back, oldest first.
    reports: VecDeque<usize>,
    tail_reg: u32,
}

/// Request a status write-back at least every this many descriptors.
const REPORT_EVERY: usize = 64;

impl TxRing {
    /// Allocates `count` empty descriptors.
    pub fn new(
        container: &Arc<Container>,
        format: TxFormat,
        count: usize,
        tail_reg: u32,
        policy: IovaPolicy,
    ) -> Result<TxRing> {
        let desc = Descriptors::new(container, count, policy)?;
        Ok(TxRing {
            desc,
            format,
            bufs: (0..count).map(|_| None).collect(),
            tail: 0,
            clean: 0,
            reports: VecDeque::new(),
            tail_reg,
        })
    }

    /// Device address of the descriptors, for TDBAL/TDBAH.
    pub fn iova(&self) -> u64 {
        self.desc.region.iova()
    }

    /// Ring length in bytes, for TDLEN.
    pub fn bytes(&self) -> u32 {
        (self.desc.count * DESC_SIZE) as u32
    }

    /// Descriptors the NIC still owns (sent or not).
    pub fn in_flight(&self) -> usize {
        (self.tail + self.desc.count - self.clean) % self.desc.count
    }

    /// Frees the buffers of every completed batch; returns how many.
    pub fn reclaim(&mut self) -> usize {
        let count = self.desc.count;
        let mut freed = 0;
        while let Some(&last) = self.reports.front() {
            // SAFETY: `last` indexes this ring.
            if !unsafe { self.format.done(self.desc.at(last)) } {
                break;
            }
            self.reports.pop_front();
            let end = (last + 1) % count;
            while self.clean != end {
                self.bufs[self.clean] = None; // the Packet goes back to its pool
                self.clean = (self.clean + 1) % count;
                freed += 1;
            }
        }
        freed
    }

    /// Queues as many packets from the front of `pkts` as fit, writes the
    /// tail once, and returns how many were taken (they leave `pkts`).
    pub fn tx_batch(&mut self, regs: &Mmio, pkts: &mut Vec<Packet>) -> usize {
        self.reclaim();
        let count = self.desc.count;
        let room = count - 1 - self.in_flight();
        let n = room.min(pkts.len());
        if n == 0 {
            return 0;
        }
        for (k, p) in pkts.drain(..n).enumerate() {
            let i = self.tail;
            let report = k == n - 1 || (i + 1).is_multiple_of(REPORT_EVERY);
            // SAFETY: descriptor i is free (between tail and clean).
            unsafe {
                self.format
                    .fill(self.desc.at(i), p.iova(), p.len() as u16, report)
            };
            if report {
                self.reports.push_back(i);
            }
            self.bufs[i] = Some(p);
            self.tail = (i + 1) % count;
        }
        regs.write(self.tail_reg, self.tail as u32);
        n
    }
}
