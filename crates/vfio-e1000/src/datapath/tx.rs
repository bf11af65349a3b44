//! The transmit ring: descriptors plus the packets the NIC still owns, and
//! the watchdog that notices when the NIC stops completing them.

use super::mempool::{Mempool, Packet};
use super::{program_ring, Descriptors};
use crate::error::Result;
use crate::hw::desc::{TxBuffer, TxContext, TxFormat, TxRequest, L4};
use crate::hw::family::Family;
use crate::hw::offload::Capabilities;
use crate::hw::regs::Q_TAIL;
use crate::sys::dma::DmaMemory;
use crate::sys::mmio::Registers;
use std::collections::VecDeque;
use std::time::{Duration, Instant};

/// Request a status write-back at least every this many descriptors.
const REPORT_EVERY: usize = 64;
/// Shortest frame the driver sends as it is: an Ethernet header.
/// The MAC pads anything from 17 bytes up (TCTL.PSP), but a frame shorter
/// than a header is a caller's mistake: refused and counted.
pub(crate) const MIN_FRAME: usize = 14;
/// Frames shorter than this (the 60-byte Ethernet minimum without FCS) are
/// padded with zeros by the driver, so no stale buffer bytes go out.
pub(crate) const PAD_TO: usize = 60;
/// The most packets (descriptors) one frame may take. QEMU's e1000e and
/// igb models take at most 64 buffers per frame (`E1000E_MAX_TX_FRAGS`);
/// 32 leaves room and is what a 64 KiB frame needs in 2 KiB buffers.
pub const MAX_PACKETS_PER_FRAME: usize = 32;
/// The longest frame to be segmented: a 64 KiB IP datagram behind an
/// Ethernet header with a tag.
const MAX_SEGMENTED_FRAME: usize = 18 + 65535;

/// A transmit ring.
#[derive(Debug)]
pub(crate) struct TxRing {
    desc: Descriptors,
    format: TxFormat,
    bufs: Vec<Option<Packet>>,
    /// Next free descriptor (software's tail).
    tail: usize,
    /// Oldest descriptor not yet reclaimed.
    clean: usize,
    /// Descriptors that requested a status write-back, oldest first.
    reports: VecDeque<usize>,
    /// The queue's register block.
    block: u32,
    /// Descriptors completed since the ring was made.
    completed: u64,
    /// Watchdog: the completion count when the ring was first seen stalled, and when.
    stalled_since: Option<(u64, Instant)>,
    /// Frames refused as shorter than [`MIN_FRAME`].
    pub(crate) runts: u64,
    /// Times the queue was reset after a hang.
    pub(crate) hangs: u64,
    /// Whether the NIC inserts VLAN tags (CTRL.VME); if not, the driver does.
    nic_inserts_tags: bool,
    /// The context the NIC holds (the last context descriptor written).
    context: Option<TxContext>,
    /// Descriptors queued since the last one that requested a write-back.
    unreported: usize,
    /// Frames dropped because their tag did not fit in the buffer.
    pub(crate) tag_no_room: u64,
    /// Frames longer than the MTU allows, refused.
    pub(crate) giants: u64,
    /// Packets of a closed NIC's pool, refused.
    pub(crate) dead_pool: u64,
    /// Frames asking for an offload the NIC does not have, refused.
    pub(crate) unsupported: u64,
    /// Frames in several packets whose last packet was missing (the batch
    /// ended with one that continues), that took more than
    /// [`MAX_PACKETS_PER_FRAME`], or that had an empty packet, refused.
    pub(crate) bad_chains: u64,
    /// The longest frame accepted for sending, tag included.
    max_frame: usize,
    /// The offloads the NIC has.
    capabilities: Capabilities,
    /// Frames in flight lost to a reset after a hang.
    pub(crate) reset_dropped: u64,
    /// Where a fresh ring comes from when a hung one is given up.
    dma: DmaMemory,
    /// Rings (and the buffers they held) that a reset could not confirm the
    /// NIC had stopped using: kept until the ring is dropped, which the
    /// `Nic` does only after stopping the device.
    quarantine: Vec<(Descriptors, Vec<Packet>)>,
    /// Rings quarantined so far.
    quarantined: u64,
    /// Tail writes by `tx_batch` (counted here, not by the register accessor).
    pub(crate) tail_writes: u64,
    /// `tx_batch`'s plans, one per frame with its number of packets, kept
    /// to reuse the allocation.
    plans: Vec<(usize, std::result::Result<Plan, Refusal>)>,
    /// Completed packets on their way back to their pools (kept to reuse
    /// its allocation).
    recycled: Vec<Packet>,
}

/// Why a packet was not sent.
#[derive(Debug, Clone, Copy)]
enum Refusal {
    /// Shorter than an Ethernet header.
    Runt,
    /// Longer than the MTU allows.
    Giant,
    /// Its tag is inserted in software and the buffer has no room for it.
    TagNoRoom,
    /// Its pool belongs to a NIC that was closed.
    DeadPool,
    /// It asks for an offload the NIC does not have.
    Unsupported,
    /// A frame in several packets without its end, too long or with an
    /// empty packet.
    BadChain,
}

/// How one frame goes out: its request once the driver has done what the
/// NIC will not, whether it needs a context descriptor first, and its
/// length in bytes once the driver has inserted a tag.
#[derive(Debug, Clone, Copy)]
struct Plan {
    request: TxRequest,
    context: Option<TxContext>,
    len: usize,
}

impl TxRing {
    /// Allocates `count` empty descriptors for the queue whose register
    /// block is at `block`.
    pub(crate) fn new(
        dma: &DmaMemory,
        format: TxFormat,
        count: usize,
        block: u32,
        nic_inserts_tags: bool,
        max_frame: usize,
        capabilities: Capabilities,
    ) -> Result<TxRing> {
        let desc = Descriptors::new(dma, "TX", count)?;
        Ok(TxRing {
            desc,
            format,
            bufs: (0..count).map(|_| None).collect(),
            tail: 0,
            clean: 0,
            reports: VecDeque::new(),
            block,
            completed: 0,
            stalled_since: None,
            runts: 0,
            hangs: 0,
            nic_inserts_tags,
            context: None,
            unreported: 0,
            tag_no_room: 0,
            giants: 0,
            dead_pool: 0,
            unsupported: 0,
            bad_chains: 0,
            max_frame,
            capabilities,
            reset_dropped: 0,
            dma: dma.clone(),
            quarantine: Vec::new(),
            quarantined: 0,
            tail_writes: 0,
            plans: Vec::with_capacity(count),
            recycled: Vec::with_capacity(count),
        })
    }

    /// Device address of the descriptors, for TDBAL/TDBAH.
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

    /// Descriptors the NIC still owns (sent or not).
    pub(crate) fn in_flight(&self) -> usize {
        (self.tail + self.desc.count - self.clean) % self.desc.count
    }

    /// Frees the buffers of every completed batch (one pool lock for all of
    /// them); returns how many descriptors completed.
    pub(crate) fn reclaim(&mut self) -> usize {
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
                self.recycled.extend(self.bufs[self.clean].take());
                self.clean = (self.clean + 1) % count;
                freed += 1;
            }
        }
        if !self.recycled.is_empty() {
            Mempool::recycle(&mut self.recycled);
        }
        self.completed += freed as u64;
        freed
    }

    /// How many packets the frame starting at `pkts[0]` takes: up to the
    /// first that does not continue. `Err` with the packets to drop (the
    /// whole frame) if it takes more than [`MAX_PACKETS_PER_FRAME`] or the
    /// batch ends before it does.
    #[inline]
    fn frame_parts(pkts: &[Packet]) -> std::result::Result<usize, usize> {
        match pkts.iter().position(|p| !p.continues()) {
            Some(last) if last < MAX_PACKETS_PER_FRAME => Ok(last + 1),
            Some(last) => Err(last + 1),
            None => Err(pkts.len()),
        }
    }

    /// Why `frame` (its packets) is dropped instead of sent, if it is:
    /// shorter than a header, longer than the MTU allows (its tag counted,
    /// wherever it is) or, segmented, than 64 KiB of IP datagram; its tag
    /// must be inserted in software and does not fit; it asks for an
    /// offload the NIC does not have; or it has an empty packet.
    #[inline]
    fn refusal(&self, frame: &[Packet]) -> Option<Refusal> {
        let first = &frame[0];
        let tag = if first.vlan_tag().is_some() { 4 } else { 0 };
        let (len, rest) = match frame {
            [_] => (first.len(), &[][..]),
            [_, rest @ ..] => (frame.iter().map(|p| p.len()).sum(), rest),
            [] => unreachable!("a frame has a packet"),
        };
        let request = first.tx_request();
        let tso = request.tso.zip(request.checksum);
        if frame.iter().any(Packet::retired) {
            Some(Refusal::DeadPool)
        } else if first.len() < MIN_FRAME || (!rest.is_empty() && len < PAD_TO) {
            Some(Refusal::Runt)
        } else if rest.iter().any(|p| p.is_empty()) {
            Some(Refusal::BadChain)
        } else if tso.is_some_and(|(_, c)| !self.capabilities.tso(c.ipv6))
            || (request.checksum)
                .is_some_and(|c| c.l4 == L4::Sctp && !self.capabilities.tx_sctp_crc)
        {
            Some(Refusal::Unsupported)
        } else if match tso {
            Some((t, _)) => {
                let header = request.header_len() + tag;
                len + tag > MAX_SEGMENTED_FRAME || header + t.mss as usize > self.max_frame
            }
            None => len + tag > self.max_frame,
        } {
            Some(Refusal::Giant)
        } else if tag != 0 && !self.nic_inserts_tags && first.len() + 4 > first.capacity() {
            Some(Refusal::TagNoRoom)
        } else {
            None
        }
    }

    /// Counts a refused frame.
    #[cold]
    fn count_refusal(&mut self, why: Refusal) {
        match why {
            Refusal::Runt => self.runts += 1,
            Refusal::Giant => self.giants += 1,
            Refusal::TagNoRoom => self.tag_no_room += 1,
            Refusal::DeadPool => self.dead_pool += 1,
            Refusal::Unsupported => self.unsupported += 1,
            Refusal::BadChain => self.bad_chains += 1,
        }
    }

    /// How `frame` goes out, given the context the NIC holds (`held`).
    #[inline]
    fn plan(&self, frame: &[Packet], held: Option<TxContext>) -> Plan {
        let first = &frame[0];
        let mut request = first.tx_request();
        let mut len = match frame {
            [p] => p.len(),
            _ => frame.iter().map(|p| p.len()).sum(),
        };
        if request == TxRequest::default() {
            return Plan {
                request,
                context: None,
                len: len.max(PAD_TO),
            };
        }
        if request.vlan.is_some() && !self.nic_inserts_tags {
            // Inserted in software (see `tx_batch`): the headers move.
            request.vlan = None;
            len += 4;
            if let Some(c) = &mut request.checksum {
                c.l2_len += 4;
            }
        }
        let len = len.max(PAD_TO);
        let context = self
            .format
            .context(request, len)
            .filter(|c| Some(*c) != held);
        Plan {
            request,
            context,
            len,
        }
    }

    /// Queues as many frames from the front of `pkts` as fit, writes the
    /// tail once, and returns how many packets were queued; those and the
    /// refused ones leave `pkts`. A frame is one packet, or several when
    /// all but its last continue ([`Packet::continues`]): one descriptor
    /// each. Frames shorter than [`PAD_TO`] are zero-padded; shorter than
    /// [`MIN_FRAME`], longer than the MTU allows, from the pool of a closed
    /// NIC, asking for an offload the NIC does not have, or not ended
    /// within the batch, dropped and counted. A frame with offloads may
    /// take a context descriptor before its own.
    pub(crate) fn tx_batch(&mut self, regs: &dyn Registers, pkts: &mut Vec<Packet>) -> usize {
        self.reclaim();
        let count = self.desc.count;
        // First count what fits: one descriptor a packet, one more for a
        // new context.
        let mut room = count - 1 - self.in_flight();
        let mut held = self.context;
        // Each frame's plan (or why it is refused), made once: the second
        // pass below fills descriptors by them.
        let mut plans = std::mem::take(&mut self.plans);
        plans.clear();
        let mut planned_packets = 0;
        while planned_packets < pkts.len() {
            let rest = &pkts[planned_packets..];
            let planned = match Self::frame_parts(rest) {
                Err(parts) => (parts, Err(Refusal::BadChain)),
                Ok(parts) => match self.refusal(&rest[..parts]) {
                    Some(why) => (parts, Err(why)),
                    None => {
                        let plan = self.plan(&rest[..parts], held);
                        let need = parts + plan.context.is_some() as usize;
                        if need > room {
                            break;
                        }
                        room -= need;
                        held = plan.context.or(held);
                        (parts, Ok(plan))
                    }
                },
            };
            planned_packets += planned.0;
            plans.push(planned);
        }
        let frames = plans.len();
        let mut queued = 0;
        let mut last = None;
        let mut drained = pkts.drain(..planned_packets);
        for (k, (parts, planned)) in plans.drain(..).enumerate() {
            let plan = match planned {
                Ok(plan) => plan,
                Err(why) => {
                    self.count_refusal(why);
                    drained.by_ref().take(parts).for_each(drop);
                    continue;
                }
            };
            queued += parts;
            if let Some(ctx) = plan.context {
                // SAFETY: descriptor `tail` is free (between tail and clean).
                unsafe { self.format.fill_context(self.desc.at(self.tail), ctx) };
                self.context = Some(ctx);
                self.tail = (self.tail + 1) % count;
                self.unreported += 1;
            }
            self.unreported += parts;
            let report = k == frames - 1 || self.unreported >= REPORT_EVERY;
            for part in 0..parts {
                let mut p = drained.next().expect("planned");
                if part == 0 {
                    if plan.request.vlan.is_none() && p.vlan_tag().is_some() {
                        let inserted = p.insert_vlan_tag_in_software();
                        debug_assert!(inserted, "room checked by `refusal`");
                    }
                    if parts == 1 && p.len() < PAD_TO {
                        let len = p.len();
                        p.set_len(PAD_TO);
                        p[len..].fill(0);
                    }
                }
                let i = self.tail;
                let eop = part == parts - 1;
                let buf = TxBuffer {
                    iova: p.iova(),
                    len: p.len() as u16,
                    eop,
                    report: eop && report,
                };
                // SAFETY: descriptor i is free (between tail and clean).
                unsafe {
                    self.format
                        .fill(self.desc.at(i), buf, plan.request, plan.len)
                };
                if eop {
                    if report {
                        self.reports.push_back(i);
                        self.unreported = 0;
                    }
                    last = Some((i, plan));
                }
                self.bufs[i] = Some(p);
                self.tail = (i + 1) % count;
            }
        }
        drop(drained);
        if let Some((i, plan)) = last {
            if self.reports.back() != Some(&i) {
                // The batch ends with a write-back request, so that it is reclaimed.
                let p = self.bufs[i].as_ref().expect("just queued");
                let buf = TxBuffer {
                    iova: p.iova(),
                    len: p.len() as u16,
                    eop: true,
                    report: true,
                };
                // SAFETY: descriptor `i` is software-filled and not yet posted.
                unsafe {
                    self.format
                        .fill(self.desc.at(i), buf, plan.request, plan.len)
                };
                self.reports.push_back(i);
                self.unreported = 0;
            }
            regs.write_tail(self.block + Q_TAIL, self.tail as u32);
            self.tail_writes += 1;
        }
        self.plans = plans;
        queued
    }

    /// The watchdog, for slow paths (a full ring, a flush, an idle wait): true
    /// once descriptors have been in flight for `limit` without any completing.
    pub(crate) fn hung(&mut self, now: Instant, limit: Duration) -> bool {
        self.reclaim();
        if self.in_flight() == 0 {
            self.stalled_since = None;
            return false;
        }
        match self.stalled_since {
            Some((completed, since)) if completed == self.completed => {
                now.duration_since(since) >= limit
            }
            _ => {
                self.stalled_since = Some((self.completed, now));
                false
            }
        }
    }

    /// Forgets the stall seen so far (the link was down: not the NIC's fault).
    pub(crate) fn restart_watchdog(&mut self) {
        self.stalled_since = None;
    }

    /// Recovers queue `q` from a hang: stops it, reclaims what the NIC
    /// completed, and counts the other frames in flight as lost
    /// ([`TxRing::reset_dropped`]). If the family confirms the queue idle,
    /// their buffers go back to the pool and the ring is zeroed; if not (the
    /// queue would not stop, or the device is gone), the NIC may still read
    /// them, so the ring and those buffers are quarantined (kept, never
    /// reused, freed with the ring after the device is stopped) and the
    /// queue restarts on a fresh ring. Counted in [`TxRing::hangs`].
    pub(crate) fn reset(
        &mut self,
        regs: &dyn Registers,
        family: &dyn Family,
        q: u16,
    ) -> Result<()> {
        self.abandon(regs, family, q)?;
        self.hangs += 1;
        program_ring(regs, self.block, self.iova(), self.desc.count);
        family.restart_tx_queue(regs, q)
    }

    /// Stops queue `q` and empties the ring as [`TxRing::reset`] does
    /// (frames in flight counted as lost, the ring quarantined if the queue
    /// would not stop) without handing it back to the NIC: for a queue the
    /// NIC lost (a VF's PF reset), whose registers are programmed again
    /// from scratch.
    pub(crate) fn abandon(
        &mut self,
        regs: &dyn Registers,
        family: &dyn Family,
        q: u16,
    ) -> Result<()> {
        let idle = family.stop_tx_queue(regs, q);
        self.reclaim(); // what the NIC wrote back as done is no longer its
        let in_flight: Vec<Packet> = self.bufs.iter_mut().filter_map(Option::take).collect();
        self.reset_dropped += in_flight.len() as u64;
        if idle {
            drop(in_flight);
            self.desc.clear();
        } else {
            let fresh = Descriptors::new(&self.dma, "TX", self.desc.count)?;
            let old = std::mem::replace(&mut self.desc, fresh);
            self.quarantine.push((old, in_flight));
            self.quarantined += 1;
        }
        self.tail = 0;
        self.clean = 0;
        self.reports.clear();
        self.stalled_since = None;
        self.context = None;
        self.unreported = 0;
        Ok(())
    }

    /// Rings given up by [`TxRing::reset`] because the queue did not stop.
    pub(crate) fn quarantined(&self) -> u64 {
        self.quarantined
    }
}
