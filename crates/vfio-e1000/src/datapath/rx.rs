//! The receive ring: every descriptor the NIC owns holds a buffer it may fill.

use super::mempool::{Mempool, Packet, PoolRef};
use super::Descriptors;
use crate::error::{Error, Result};
use crate::hw::desc::{RxDone, RxFormat, RxInfo, DESC_SIZE};
use crate::hw::regs::{Q_HEAD, Q_LEN, Q_TAIL};
use crate::sys::dma::DmaMemory;
use crate::sys::mmio::Registers;
use std::time::{Duration, Instant};

/// Legacy format only: how long a descriptor may show DD without a length
/// before the head register is asked whether the NIC has moved past it: far
/// longer than the few tens of µs the emulation has been seen to take.
const EARLY_DD_LIMIT: Duration = Duration::from_millis(5);

/// A receive ring.
///
/// Ownership: the NIC owns the descriptors from its head up to, not
/// including, `tail` (the last value written to the tail register); software
/// owns the rest. `next` walks from the NIC's head towards `tail` and never
/// passes it.
#[derive(Debug)]
pub(crate) struct RxRing {
    desc: Descriptors,
    format: RxFormat,
    /// The buffer behind each descriptor (its packet buffer).
    bufs: Vec<Option<Packet>>,
    /// Header split ([`RxFormat::AdvancedSplit`]): the header buffer behind
    /// each descriptor; empty otherwise.
    headers: Vec<Option<Packet>>,
    pool: PoolRef,
    /// Next descriptor to look at.
    next: usize,
    /// The queue's register block (head at +0x10, tail at +0x18).
    block: u32,
    /// The value last written to the tail register.
    tail: usize,
    /// Dropping the rest of a frame whose first descriptor was bad.
    discarding: bool,
    /// Frames dropped: errors, frames spanning descriptors, impossible lengths.
    pub(crate) dropped: u64,
    /// Polls that found the ring full: every descriptor given to the NIC
    /// held a frame, so the NIC had nowhere to put the next one.
    pub(crate) full: u64,
    /// Times the next descriptor showed DD on the image the driver armed
    /// (the NIC's status word without the rest of its write-back).
    pub(crate) early_dd: u64,
    /// When the descriptor at `next` was first seen that way.
    early_since: Option<Instant>,
    /// Frames delivered since the ring was made.
    pub(crate) received: u64,
    /// … of them as two packets, headers and payload (header split).
    pub(crate) split: u64,
    /// Frames delivered with a wrong IPv4 header checksum.
    pub(crate) ip_checksum_errors: u64,
    /// Frames delivered with a wrong TCP/UDP checksum.
    pub(crate) l4_checksum_errors: u64,
    /// Tail writes by `rx_batch` (counted here, not by the register accessor).
    pub(crate) tail_writes: u64,
    /// Fresh buffers taken from the pool for one `rx_batch` (one lock),
    /// the unused ones given back at its end.
    fresh: Vec<Packet>,
}

impl RxRing {
    /// Allocates `count` descriptors, fills every one with a buffer from
    /// `pool` (two with header split: packet and header), for the queue
    /// whose register block is at `block`.
    pub(crate) fn new(
        dma: &DmaMemory,
        format: RxFormat,
        count: usize,
        pool: &PoolRef,
        block: u32,
    ) -> Result<RxRing> {
        let desc = Descriptors::new(dma, "RX", count)?;
        let split = format == RxFormat::AdvancedSplit;
        let needed = count * (1 + split as usize);
        if pool.free_count() < needed {
            return Err(Error::InvalidConfig(format!(
                "a pool of {} free buffers cannot fill an RX ring of {count}{}",
                pool.free_count(),
                if split { " with header split" } else { "" }
            )));
        }
        let take = |n| {
            (0..n)
                .map(|_| Some(pool.alloc(pool.buffer_size()).expect("counted above")))
                .collect::<Vec<_>>()
        };
        let bufs = take(count);
        let headers = take(if split { count } else { 0 });
        let ring = RxRing {
            desc,
            format,
            bufs,
            headers,
            pool: pool.clone(),
            next: 0,
            block,
            tail: count - 1,
            discarding: false,
            dropped: 0,
            full: 0,
            early_dd: 0,
            early_since: None,
            received: 0,
            split: 0,
            ip_checksum_errors: 0,
            l4_checksum_errors: 0,
            tail_writes: 0,
            fresh: Vec::with_capacity(needed),
        };
        for i in 0..count {
            // SAFETY: a ring the NIC does not know yet.
            unsafe { ring.arm(i) };
        }
        Ok(ring)
    }

    /// Gives descriptor `i` its buffers: the packet buffer, and with header
    /// split the header buffer.
    ///
    /// # Safety
    /// Software owns descriptor `i`.
    unsafe fn arm(&self, i: usize) {
        let iova = |b: &Option<Packet>| {
            b.as_ref()
                .expect("every RX descriptor holds a buffer")
                .iova()
        };
        let packet = iova(&self.bufs[i]);
        match self.headers.get(i) {
            // SAFETY: forwarded.
            Some(h) => unsafe { RxFormat::arm_split(self.desc.at(i), packet, iova(h)) },
            // SAFETY: forwarded.
            None => unsafe { self.format.arm(self.desc.at(i), packet) },
        }
    }

    /// Device address of the descriptors, for RDBAL/RDBAH.
    pub(crate) fn iova(&self) -> u64 {
        self.desc.region.iova()
    }

    /// Number of descriptors.
    pub(crate) fn len(&self) -> usize {
        self.desc.count
    }

    /// The queue's register block.
    pub(crate) fn block(&self) -> u32 {
        self.block
    }

    /// Hands the NIC every descriptor but one (head == tail means empty).
    pub(crate) fn post_all(&self, regs: &dyn Registers) {
        regs.write(self.block + Q_TAIL, self.tail as u32);
    }

    /// Whether the NIC no longer holds this ring: its length register
    /// reads other than the ring's (a reset by someone else, a VF's PF,
    /// cleared it). One register read.
    pub(crate) fn lost(&self, regs: &dyn Registers) -> bool {
        regs.read(self.block + Q_LEN) != (self.desc.count * DESC_SIZE) as u32
    }

    /// Makes the ring new again after the NIC lost it (a reset of the
    /// function by someone else: a VF's PF): every descriptor re-armed with
    /// the buffer it holds, software's position at 0, every descriptor but
    /// one to be handed over by [`RxRing::post_all`]. Frames the NIC wrote
    /// and software had not taken yet are dropped and counted. The caller
    /// must know the queue is stopped (the NIC reads none of it).
    pub(crate) fn rearm(&mut self) {
        for i in 0..self.desc.count {
            if self.done_at(i).is_some_and(|d| d.landed) {
                self.dropped += 1;
            }
            // SAFETY: the queue is stopped (caller's promise): software owns every descriptor.
            unsafe { self.arm(i) };
        }
        self.next = 0;
        self.tail = self.desc.count - 1;
        self.discarding = false;
        self.early_since = None;
    }

    /// The pool the ring refills from.
    pub(crate) fn pool(&self) -> &PoolRef {
        &self.pool
    }

    /// How many refilled descriptors wait before the tail moves: a quarter
    /// of the ring, at most 32 (Linux's e1000e waits for 16, DPDK's default
    /// free threshold is 32), so the NIC always owns at least three quarters
    /// of the ring.
    pub(crate) fn post_threshold(&self) -> usize {
        (self.desc.count / 4).clamp(1, 32)
    }

    /// Descriptors between `next` and the tail: the NIC owns them or has
    /// written them back.
    fn outstanding(&self) -> usize {
        (self.tail + self.desc.count - self.next) % self.desc.count
    }

    /// Descriptor `i` if it shows DD, judged against the buffer armed in it.
    fn done_at(&self, i: usize) -> Option<RxDone> {
        let armed = self.bufs[i].as_ref().map_or(0, |p| p.iova());
        // SAFETY: `i` indexes this ring; reading it is harmless whoever owns it.
        unsafe { self.format.done(self.desc.at(i), armed) }
    }

    /// Whether a received frame is waiting (one or two descriptor reads, no
    /// register). DD on the image the driver armed is not (yet) a frame (see
    /// [`RxRing::rx_batch`]), but if the NIC has written back the descriptor
    /// after it, frames are there: an interrupt-mode queue must not sleep
    /// on them (their interrupts may have been taken already).
    pub(crate) fn pending(&self) -> bool {
        let outstanding = self.outstanding();
        match self.done_at(self.next) {
            _ if outstanding == 0 => false,
            Some(d) if d.landed => true,
            Some(_) => {
                outstanding > 1
                    && self
                        .done_at((self.next + 1) % self.desc.count)
                        .is_some_and(|d| d.landed)
            }
            None => false,
        }
    }

    /// For descriptor `i` showing DD on the image the driver armed: the
    /// write-back to take once it is complete, `None` while it is not.
    ///
    /// Advanced formats (82576, with or without header split, and the
    /// 82574L's extended one): words 0-1
    /// still holding the armed buffer address prove that the NIC's
    /// write-back has not landed (it overwrites them), so the descriptor is
    /// never taken that way, however long that takes: re-arming it would let
    /// the rest of the write-back land on the fresh buffer address. No
    /// register is read.
    ///
    /// Legacy format: the write-back keeps the address, so only the length
    /// tells. Every [`EARLY_DD_LIMIT`] the head register decides: while the
    /// NIC's head is at `i` it has not written `i` and the driver keeps
    /// waiting; once the head has moved past, the NIC has finished `i`
    /// (QEMU's models advance the head after the write-back, and reading it
    /// takes the lock they write under), so `i` is read again and taken as
    /// it now is. Off the fast path.
    #[cold]
    fn early_dd(&mut self, regs: &dyn Registers, i: usize) -> Option<RxDone> {
        let since = *self.early_since.get_or_insert_with(|| {
            self.early_dd += 1;
            Instant::now()
        });
        if self.format != RxFormat::Legacy || since.elapsed() < EARLY_DD_LIMIT {
            return None;
        }
        if regs.read(self.block + Q_HEAD) as usize == i {
            self.early_since = Some(Instant::now());
            return None;
        }
        self.done_at(i)
    }

    /// Moves up to `max` received packets into `out` and refills the ring
    /// with fresh buffers; moves the tail once if at least
    /// [`post_threshold`](Self::post_threshold) descriptors are refilled.
    /// Returns the number of packets. A frame is one packet, or with header
    /// split two: its headers, which continue ([`Packet::continues`]) and
    /// carry what the NIC reported, then its payload (the first frame is
    /// delivered whole even if that makes `max` + 1). Looks at no more than
    /// the descriptors the NIC was given, whatever their contents.
    pub(crate) fn rx_batch(
        &mut self,
        regs: &dyn Registers,
        out: &mut Vec<Packet>,
        max: usize,
    ) -> usize {
        let count = self.desc.count;
        // The NIC fills the descriptor before the tail last: if that one is
        // done, every descriptor it owned is (one descriptor read).
        let last_owned = (self.tail + count - 1) % count;
        if self.done_at(last_owned).is_some_and(|d| d.landed) {
            self.full += 1;
        }
        let mut budget = self.outstanding();
        if budget == 0 || max == 0 || self.done_at(self.next).is_none() {
            return 0; // nothing there: no pool lock either
        }
        // The buffers to refill with, in one take from the pool.
        let size = self.pool.buffer_size();
        let per_descriptor = 1 + !self.headers.is_empty() as usize;
        self.pool
            .alloc_batch(max.min(budget) * per_descriptor, size, &mut self.fresh);
        let (mut delivered, mut frames) = (0, 0);
        let mut last_refilled = None;
        while delivered < max && budget > 0 {
            let i = self.next;
            // Software owns descriptor `i` once its write-back has landed.
            let Some(mut done) = self.done_at(i) else {
                break;
            };
            // DD on the image we armed (length 0, and in the advanced
            // format our buffer address still in words 0-1) is the NIC's
            // status word without the rest of its write-back: QEMU's 82576
            // model has been seen to show it up to ~100 µs early. Taking it
            // would lose the frame, and re-arming it would let the rest of
            // the write-back clobber the fresh buffer address: wait for it.
            if !done.landed {
                match self.early_dd(regs, i) {
                    Some(d) => done = d,
                    None => break,
                }
            }
            self.early_since = None;
            // A frame that spans descriptors (longer than a buffer), has
            // errors or an impossible length is dropped whole, even when its
            // descriptors arrive over several calls; its descriptors keep
            // their buffers.
            let empty = done.len == 0 && done.header == 0;
            let taken = if done.error
                || !done.eop
                || self.discarding
                || empty
                || done.len as usize > size
            {
                self.discarding = !done.eop;
                self.dropped += 1;
                // SAFETY: software owns descriptor i (its write-back landed).
                unsafe { self.arm(i) };
                0
            } else if self.headers.is_empty() {
                let Some(fresh) = self.fresh.pop() else {
                    break;
                };
                let iova = fresh.iova();
                let mut p = self.bufs[i]
                    .replace(fresh)
                    .expect("every RX descriptor holds a buffer");
                // SAFETY: software owns descriptor i (its write-back landed); re-arm it with the fresh buffer.
                unsafe { self.format.arm(self.desc.at(i), iova) };
                p.set_len(done.len as usize);
                p.set_rx_info(done.info);
                out.push(p);
                1
            } else {
                match self.take_split(i, &done, out, delivered == 0, max - delivered) {
                    Some(n) => n,
                    None => break,
                }
            };
            if taken > 0 {
                if done.info.flags & (RxInfo::IP_BAD | RxInfo::L4_BAD) != 0 {
                    self.count_checksum_errors(done.info);
                }
                delivered += taken;
                frames += 1;
            }
            last_refilled = Some(i);
            self.next = (i + 1) % count;
            budget -= 1;
        }
        if !self.fresh.is_empty() {
            Mempool::recycle(&mut self.fresh);
        }
        if let Some(i) = last_refilled {
            // Writing `i` hands the NIC the descriptors from the old tail up
            // to, not including, `i` (all refilled).
            let refilled = (i + count - self.tail) % count;
            if refilled >= self.post_threshold() {
                regs.write_tail(self.block + Q_TAIL, i as u32);
                self.tail_writes += 1;
                self.tail = i;
            }
        }
        self.received += frames;
        delivered
    }

    /// Header split: takes the frame of descriptor `i` (write-back `done`,
    /// intact) into `out` as its header packet, continuing into its payload
    /// packet, or as one of them when the NIC wrote only one buffer; puts
    /// fresh buffers in their places and re-arms the descriptor. Returns the
    /// packets taken, or `None` (nothing taken) when the fresh buffers run
    /// short or the frame needs more than `room` packets and is not the
    /// `first` of the batch (a `max` of 1 must not stop a split frame).
    fn take_split(
        &mut self,
        i: usize,
        done: &RxDone,
        out: &mut Vec<Packet>,
        first: bool,
        room: usize,
    ) -> Option<usize> {
        let parts = [
            (done.header != 0).then_some((true, done.header)),
            (done.len != 0).then_some((false, done.len)),
        ];
        let taken = parts.iter().flatten().count();
        if self.fresh.len() < taken || taken > room && !first {
            return None;
        }
        for (header, len) in parts.into_iter().flatten() {
            let fresh = self.fresh.pop().expect("counted above");
            let slot = if header {
                &mut self.headers[i]
            } else {
                &mut self.bufs[i]
            };
            let mut p = slot
                .replace(fresh)
                .expect("every RX descriptor holds a buffer");
            p.set_len(len as usize);
            out.push(p);
        }
        // The frame's first packet carries the NIC's report; a split one's
        // first continues into its payload.
        let first = out.len() - taken;
        out[first].set_rx_info(done.info);
        out[first].set_continues(taken == 2);
        self.split += (taken == 2) as u64;
        // SAFETY: software owns descriptor i (its write-back landed); re-armed
        // with its buffers, fresh where the frame took them.
        unsafe { self.arm(i) };
        Some(taken)
    }

    #[cold]
    fn count_checksum_errors(&mut self, info: RxInfo) {
        self.ip_checksum_errors += (info.flags & RxInfo::IP_BAD != 0) as u64;
        self.l4_checksum_errors += (info.flags & RxInfo::L4_BAD != 0) as u64;
    }

    /// Checks the ring's bookkeeping: every descriptor holds a distinct
    /// buffer of the pool, none of them free (tests).
    #[cfg(test)]
    pub(crate) fn check_invariants(&self) {
        let mut seen = std::collections::HashSet::new();
        for b in self.bufs.iter().chain(&self.headers) {
            let p = b.as_ref().expect("every RX descriptor holds a buffer");
            assert!(self.pool.owns(p));
            assert!(seen.insert(p.index()), "buffer {} armed twice", p.index());
        }
        assert!(self.next < self.desc.count && self.tail < self.desc.count);
    }

    /// The IOVA of the buffer armed in descriptor `i` (tests).
    #[cfg(test)]
    pub(crate) fn armed_iova(&self, i: usize) -> u64 {
        self.bufs[i].as_ref().expect("armed").iova()
    }
}
