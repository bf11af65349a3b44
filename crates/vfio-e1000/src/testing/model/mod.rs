//! A software NIC: a register file plus a device that consumes and writes
//! back descriptors in DMA memory the way the datasheets (and QEMU's models)
//! describe, reached through the same [`Registers`] and [`IommuMap`]
//! interfaces as the real device. Written from the datasheets, not from the
//! driver: its offsets and bits are its own, so a driver mistake shows.
//!
//! What it does: CTRL.RST (self-clearing, registers back to zero), STATUS
//! (link up once CTRL.SLU is set, or the PHY restarted auto-negotiation on
//! the 82576), EERD and MDIC (EEPROM and PHY answered at once), ICR (clear on
//! read, write 1s to clear), receive into the ring on [`ModelNic::deliver`]
//! (legacy, extended or advanced write-back, frames longer than a buffer
//! over several descriptors, the 82576's header split), receive-side scaling on
//! [`ModelNic::deliver_rss`] (the Toeplitz hash of the IPv4 header with the
//! programmed key, the redirection table, the hash written back), transmit
//! on every tail write (DD written back on RS), the IEEE 1588 clock and
//! its send and receive latches ([`ptp`]), and
//! misbehaviour on request: a transmitter that stops, stray descriptor
//! writes, head values out of range, a write-back whose status word lands
//! before the rest, a frame that arrives while the driver reads the head.

use crate::sys::dma::IommuMap;
use crate::sys::mmio::Registers;
use std::collections::HashMap;
use std::io;
use std::sync::atomic::AtomicU64;
use std::sync::Mutex;

mod offload;
mod ptp;
mod registers;

pub(crate) use offload::toeplitz;
use offload::{rx_offload, split_point, TxContext};
use ptp::*;

/// Which datasheet the model follows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// 82540EM and friends: legacy descriptors, queue blocks at 0x2800/0x3800.
    E8254x,
    /// 82574L: as the 8254x, plus TARC bit 10 gating each TX queue, the
    /// extended write-back with RFCTL.EXTEN and RSS over two queues.
    E82574,
    /// 82576: advanced descriptors, queue blocks at 0xC000/0xE000 (stride 0x40),
    /// per-queue enables.
    E82576,
}

impl Kind {
    /// The PCI device ID of the model QEMU emulates.
    pub(crate) fn device_id(self) -> u16 {
        match self {
            Kind::E8254x => 0x100E,
            Kind::E82574 => 0x10D3,
            Kind::E82576 => 0x10C9,
        }
    }

    fn rx_block(self, q: u32) -> u32 {
        match self {
            Kind::E82576 => 0xC000 + 0x40 * q,
            _ => 0x2800 + 0x100 * q,
        }
    }

    fn tx_block(self, q: u32) -> u32 {
        match self {
            Kind::E82576 => 0xE000 + 0x40 * q,
            _ => 0x3800 + 0x100 * q,
        }
    }

    /// Whether the family transmits with advanced descriptors (the 82576).
    fn advanced(self) -> bool {
        self == Kind::E82576
    }

    /// Whether MRQC (with RXCSUM.PCSD, and RFCTL.EXTEN on the 82574L)
    /// turns RSS on: MRQE = 010b on the 82576, bits 1:0 = 01b on the 82574L.
    fn rss_on(self, st: &State) -> bool {
        let mrqc = st.reg(MRQC);
        st.reg(RXCSUM) & RXCSUM_PCSD != 0
            && match self {
                Kind::E82576 => mrqc & 7 == 2,
                Kind::E82574 => mrqc & 3 == 1 && st.reg(RFCTL) & RFCTL_EXTEN != 0,
                Kind::E8254x => false,
            }
    }

    /// The queue a redirection table entry names: bit 7 on the 82574L,
    /// bits 3:0 on the 82576.
    fn reta_queue(self, entry: u8) -> u32 {
        match self {
            Kind::E82574 => (entry >> 7) as u32,
            _ => (entry & 0xF) as u32,
        }
    }
}

// The model's own register map (8254x SDM §13, 82574 §10, 82576 §8).
pub(crate) const CTRL: u32 = 0x0;
pub(crate) const STATUS: u32 = 0x8;
pub(crate) const EERD: u32 = 0x14;
pub(crate) const MDIC: u32 = 0x20;
pub(crate) const ICR: u32 = 0xC0;
pub(crate) const IMS: u32 = 0xD0;
pub(crate) const IMC: u32 = 0xD8;
/// The 82576's extended causes and mask (§8.8): W1C, set, clear.
pub(crate) const EICR: u32 = 0x1580;
pub(crate) const EIMS: u32 = 0x1524;
pub(crate) const EIMC: u32 = 0x1528;
pub(crate) const RCTL: u32 = 0x100;
pub(crate) const TCTL: u32 = 0x400;
pub(crate) const TARC0: u32 = 0x3840;
pub(crate) const RAL0: u32 = 0x5400;
pub(crate) const RAH0: u32 = 0x5404;
pub(crate) const RFCTL: u32 = 0x5008;
pub(crate) const MRQC: u32 = 0x5818;
pub(crate) const RETA: u32 = 0x5C00;
pub(crate) const RSSRK: u32 = 0x5C80;
pub(crate) const RXCSUM_PCSD: u32 = 1 << 13;
/// RXCSUM: verify SCTP's CRC32c (82576).
pub(crate) const RXCSUM_CRCOFL: u32 = 1 << 11;
pub(crate) const RFCTL_EXTEN: u32 = 1 << 15;
pub(crate) const CTRL_SLU: u32 = 1 << 6;
pub(crate) const CTRL_VME: u32 = 1 << 30;
pub(crate) const VET: u32 = 0x38;
pub(crate) const RXCSUM: u32 = 0x5000;
pub(crate) const VFTA: u32 = 0x5600;
pub(crate) const RCTL_VFE: u32 = 1 << 18;
pub(crate) const CTRL_RST: u32 = 1 << 26;
pub(crate) const STATUS_LINK_1000_FD: u32 = 1 | 1 << 1 | 2 << 6;
pub(crate) const RCTL_EN: u32 = 1 << 1;
pub(crate) const TCTL_EN: u32 = 1 << 1;
// Offsets inside a queue block.
pub(crate) const BAL: u32 = 0x00;
pub(crate) const BAH: u32 = 0x04;
pub(crate) const LEN: u32 = 0x08;
pub(crate) const HEAD: u32 = 0x10;
pub(crate) const TAIL: u32 = 0x18;
pub(crate) const DCTL: u32 = 0x28;
pub(crate) const DCTL_ENABLE: u32 = 1 << 25;
/// The standard buffer size (RCTL.BSIZE 00, no BSEX): the one `deliver_status_first` frames fit in.
const BUFFER: usize = 2048;
/// The longest frame accepted without RCTL.LPE (no FCS, VLAN-tagged).
const STANDARD_FRAME: usize = 1518;

/// The MAC address in the model's EEPROM.
pub(crate) const EEPROM_MAC: [u8; 6] = [0x52, 0x54, 0x00, 0x12, 0x34, 0x56];

/// A frame the model sent, as the wire would carry it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Sent {
    pub queue: u32,
    pub bytes: Vec<u8>,
}

#[derive(Debug, Default)]
struct State {
    regs: HashMap<u32, u32>,
    /// Every register write, in order.
    log: Vec<(u32, u32)>,
    reads: u64,
    writes: u64,
    /// IOVA mappings: (iova, virtual address, size).
    maps: Vec<(u64, usize, usize)>,
    next_iova: u64,
    phy: [u16; 32],
    sent: Vec<Sent>,
    /// When set, tail writes do not transmit (a hung transmitter).
    tx_stalled: bool,
    /// When set, the link stays down.
    link_down: bool,
    /// DMA accesses to unmapped IOVAs, refused as an IOMMU would.
    faults: u64,
    /// Write-backs whose status word has landed but not the rest:
    /// (descriptor IOVA, complete write-back).
    late: Vec<(u64, [u32; 4])>,
    /// A frame to receive on RX queue `.0` just before its head register is
    /// next read (the NIC working while the driver looks).
    on_head_read: Option<(u32, Vec<u8>)>,
    /// The offload context each TX queue holds.
    tx_context: HashMap<u32, TxContext>,
    /// Gone from the bus: every read returns all ones, writes and DMA are lost.
    gone: bool,
    /// PCI bus mastering turned off (COMMAND bit 2): every DMA is a fault.
    bus_master_off: bool,
    /// A transmitter stuck mid-ring that will not stop: its queue's enable
    /// (82576 TXDCTL) stays set, and a ring reprogrammed under it is still
    /// owed the work fetched from the old one (`stuck_rings`).
    tx_stuck: bool,
    /// Rings reprogrammed while stuck: (queue, base, head, tail, count).
    stuck_rings: Vec<(u32, u64, usize, usize, usize)>,
    /// What a stuck transmitter finally sent from the rings it was owed.
    late_sent: Vec<Vec<u8>>,
    /// For the benchmark: tail writes only record the tail (the driver's
    /// cost), [`ModelNic::run_tx`] transmits (the model's); frames sent
    /// are counted, not kept; register writes are not logged.
    bench: bool,
    /// Frames sent in bench mode.
    sent_count: u64,
    /// Time since power-on, in ns, as the clock that drives SYSTIM has
    /// counted it ([`ModelNic::advance_clock`]).
    clock_ns: u64,
}

/// The software NIC.
#[derive(Debug)]
pub(crate) struct ModelNic {
    pub(crate) kind: Kind,
    state: Mutex<State>,
    pinned: AtomicU64,
}

impl ModelNic {
    /// A NIC of `kind`, just out of power-on reset.
    pub(crate) fn new(kind: Kind) -> ModelNic {
        ModelNic {
            kind,
            state: Mutex::new(State {
                next_iova: 0x1_0000_0000,
                ..State::default()
            }),
            pinned: AtomicU64::new(0),
        }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A register's value, without the side effects of a read.
    pub(crate) fn peek(&self, reg: u32) -> u32 {
        self.state().reg(reg)
    }

    /// Sets a register behind the driver's back (e.g. a head out of range).
    pub(crate) fn poke(&self, reg: u32, value: u32) {
        self.state().regs.insert(reg, value);
    }

    /// Every register write so far, in order.
    pub(crate) fn writes(&self) -> Vec<(u32, u32)> {
        self.state().log.clone()
    }

    /// Frames sent so far (taken).
    pub(crate) fn take_sent(&self) -> Vec<Sent> {
        std::mem::take(&mut self.state().sent)
    }

    /// The IOVA ranges the driver has mapped: (start, bytes).
    pub(crate) fn mappings(&self) -> Vec<(u64, usize)> {
        self.state()
            .maps
            .iter()
            .map(|&(iova, _, size)| (iova, size))
            .collect()
    }

    /// DMA accesses refused so far because the IOVA was not mapped.
    pub(crate) fn faults(&self) -> u64 {
        self.state().faults
    }

    /// Stops (or resumes) the transmitter: a hang.
    pub(crate) fn stall_tx(&self, stalled: bool) {
        self.state().tx_stalled = stalled;
    }

    /// Turns PCI bus mastering on or off, as the driver's teardown does
    /// through the configuration space.
    pub(crate) fn set_bus_master(&self, on: bool) {
        self.state().bus_master_off = !on;
    }

    /// Bench mode (see the `bench` field): the driver's work and the
    /// model's can be timed apart.
    #[cfg(feature = "model")]
    pub(crate) fn set_bench_mode(&self, on: bool) {
        self.state().bench = on;
    }

    /// In bench mode, transmits what TX queue `q` has posted; returns the
    /// frames sent so far.
    #[cfg(feature = "model")]
    pub(crate) fn run_tx(&self, q: u32) -> u64 {
        let mut st = self.state();
        self.transmit(&mut st, q);
        st.sent_count
    }

    /// Falls off the bus (surprise removal): reads return all ones from now on.
    pub(crate) fn vanish(&self) {
        self.state().gone = true;
    }

    /// Makes the transmitter hang mid-ring without stopping when told to
    /// (see [`ModelNic::finish_stuck_tx`]), or lets it stop again.
    pub(crate) fn tx_wont_stop(&self, stuck: bool) {
        let mut st = self.state();
        st.tx_stuck = stuck;
        st.tx_stalled = stuck;
    }

    /// The stuck transmitter comes back to life and finishes what it had
    /// fetched from every ring reprogrammed under it: it reads those
    /// buffers and writes DD back into those descriptors, at their old
    /// addresses. Returns the frames it sent so.
    pub(crate) fn finish_stuck_tx(&self) -> Vec<Vec<u8>> {
        let mut st = self.state();
        st.tx_stuck = false;
        st.tx_stalled = false;
        for (_, base, mut head, tail, count) in std::mem::take(&mut st.stuck_rings) {
            while head != tail && count != 0 {
                let desc = base + 16 * head as u64;
                let mut w = st.read_desc(desc);
                if TxContext::parse(self.kind, w).is_none() {
                    let buffer = (w[1] as u64) << 32 | w[0] as u64;
                    let mut bytes = vec![0u8; (w[2] & 0xFFFF) as usize];
                    st.dma_read(buffer, &mut bytes);
                    st.late_sent.push(bytes);
                }
                w[3] |= 1;
                st.write_desc(desc, w);
                head = (head + 1) % count;
            }
        }
        std::mem::take(&mut st.late_sent)
    }

    /// Pulls the cable (or plugs it back).
    pub(crate) fn set_link(&self, up: bool) {
        self.state().link_down = !up;
    }

    /// RX queue `q`'s register block.
    pub(crate) fn rx_block(&self, q: u32) -> u32 {
        self.kind.rx_block(q)
    }

    /// TX queue `q`'s register block.
    pub(crate) fn tx_block(&self, q: u32) -> u32 {
        self.kind.tx_block(q)
    }

    /// Receives `frame` on queue `q` as the NIC would: into the descriptors
    /// from the head on (several if it is longer than a buffer), written
    /// back, head advanced. Returns false, leaving everything as it was, if
    /// the driver gave the NIC too few descriptors or receive is off.
    pub(crate) fn deliver(&self, q: u32, frame: &[u8]) -> bool {
        self.state().deliver(self.kind, q, frame, false)
    }

    /// Receives `frame` on the queue RSS picks for it, as [`ModelNic::deliver`]
    /// does; queue 0 while RSS is off or the frame is not IPv4. Returns the
    /// queue, or `None` if that queue had no room.
    pub(crate) fn deliver_rss(&self, frame: &[u8]) -> Option<u32> {
        let mut st = self.state();
        let (q, rss) = match st.rss(self.kind, frame) {
            Some((hash, queue, kind)) => (queue, Some((kind | queue << 8, hash))),
            None => (0, None),
        };
        st.deliver_with(self.kind, q, frame, false, rss)
            .then_some(q)
    }

    /// Receives a one-buffer `frame` on queue `q` with its write-back
    /// late: the frame and the status word (DD, EOP) land, as QEMU's 82576
    /// has been seen to show them, and the head moves on, but the rest of
    /// the write-back (words 0-1 and the length; in the legacy format the
    /// length) stays out until [`ModelNic::land_late`]. The worst case for
    /// a driver: its status word and head both say "written".
    pub(crate) fn deliver_status_first(&self, q: u32, frame: &[u8]) -> bool {
        assert!(frame.len() <= BUFFER, "one buffer");
        self.state().deliver(self.kind, q, frame, true)
    }

    /// The rest of every write-back [`ModelNic::deliver_status_first`] held back lands.
    pub(crate) fn land_late(&self) {
        let mut st = self.state();
        for (desc, wb) in std::mem::take(&mut st.late) {
            st.write_desc(desc, wb);
        }
    }

    /// Receives `frame` on queue `q` just before the driver next reads
    /// that queue's head register.
    pub(crate) fn deliver_on_head_read(&self, q: u32, frame: &[u8]) {
        self.state().on_head_read = Some((q, frame.to_vec()));
    }

    /// Writes descriptor `i` of RX queue `q` as a misbehaving device might.
    pub(crate) fn scribble_rx(&self, q: u32, i: usize, words: [u32; 4]) {
        let mut st = self.state();
        let block = self.kind.rx_block(q);
        let base = st.ring_base(block);
        st.write_desc(base + 16 * i as u64, words);
    }

    /// Descriptor `i` of RX queue `q`.
    pub(crate) fn rx_desc(&self, q: u32, i: usize) -> [u32; 4] {
        let mut st = self.state();
        let block = self.kind.rx_block(q);
        let base = st.ring_base(block);
        st.read_desc(base + 16 * i as u64)
    }

    /// A DD value at the right place for this kind: legacy status is word 3,
    /// advanced and extended status word 2; lengths the other way round.
    pub(crate) fn written_back(&self, len: u16, eop: bool, error: bool) -> [u32; 4] {
        let status = 1 | (eop as u32) << 1;
        if self.state().extended(self.kind) {
            [0, 0, status | (error as u32) << 31, len as u32]
        } else {
            [0, 0, len as u32, status | (error as u32) << 15]
        }
    }

    /// Lets `ns` nanoseconds pass on the clock that drives SYSTIM.
    pub(crate) fn advance_clock(&self, ns: u64) {
        self.state().clock_ns += ns;
    }

    /// Transmits what the driver posted on TX queue `q`, if the transmitter runs.
    fn transmit(&self, st: &mut State, q: u32) {
        let block = self.kind.tx_block(q);
        let enabled = st.reg(TCTL) & TCTL_EN != 0
            && match self.kind {
                Kind::E82576 => st.reg(block + DCTL) & DCTL_ENABLE != 0,
                // TARC0 at 0x3840, TARC1 at 0x3940: + 0x40 in the queue's block.
                Kind::E82574 => st.reg(block + 0x40) & (1 << 10) != 0,
                Kind::E8254x => true,
            };
        if !enabled || st.tx_stalled || st.link_down {
            return;
        }
        let count = (st.reg(block + LEN) / 16) as usize;
        let base = st.ring_base(block);
        let tail = st.reg(block + TAIL) as usize;
        let mut head = st.reg(block + HEAD) as usize;
        if count == 0 || tail >= count || head >= count {
            return;
        }
        let mut frame = Vec::new();
        let mut frame_first: Option<[u32; 4]> = None;
        while head != tail {
            let mut first_reset = false;
            let desc = base + 16 * head as u64;
            let w = st.read_desc(desc);
            if let Some(ctx) = TxContext::parse(self.kind, w) {
                st.tx_context.insert(q, ctx);
                if w[2] & 1 << 27 != 0 {
                    let mut w = w;
                    w[3] |= 1;
                    st.write_desc(desc, w);
                }
                head = (head + 1) % count;
                continue;
            }
            let first = *frame_first.get_or_insert(w);
            let buffer = (w[1] as u64) << 32 | w[0] as u64;
            // Legacy and advanced data descriptors agree on these: length in
            // bits 15:0, EOP bit 24 and RS bit 27 of word 2.
            let (len, eop, rs) = (w[2] & 0xFFFF, w[2] & 1 << 24 != 0, w[2] & 1 << 27 != 0);
            let mut chunk = vec![0u8; len as usize];
            st.dma_read(buffer, &mut chunk);
            frame.extend_from_slice(&chunk);
            if eop {
                if self.kind.advanced() && first[2] & 1 << 19 != 0 {
                    // MAC.TS: latch the clock as the frame goes out.
                    let kind = self.kind;
                    st.latch(kind, TSYNCTXCTL, TXSTMPL, TXSTMPH);
                }
                let mut bytes = std::mem::take(&mut frame);
                let ctx = st.tx_context.get(&q).copied().unwrap_or_default();
                let vme = st.reg(CTRL) & CTRL_VME != 0;
                for bytes in ctx.apply(self.kind, first, vme, &mut bytes) {
                    if st.bench {
                        st.sent_count += 1;
                    } else {
                        st.sent.push(Sent { queue: q, bytes });
                    }
                }
                first_reset = true;
            }
            if rs {
                let mut w = w;
                w[3] |= 1; // DD in the status of both formats
                st.write_desc(desc, w);
            }
            head = (head + 1) % count;
            if first_reset {
                frame_first = None;
            }
        }
        st.regs.insert(block + HEAD, head as u32);
    }

    fn tx_queue_of_tail(&self, reg: u32) -> Option<u32> {
        (0..16).find(|&q| reg == self.kind.tx_block(q) + TAIL)
    }
}

impl State {
    /// Receives `frame` on RX queue `q` (see [`ModelNic::deliver`]); with
    /// `status_first`, only the status word of its write-back lands now.
    fn deliver(&mut self, kind: Kind, q: u32, frame: &[u8], status_first: bool) -> bool {
        self.deliver_with(kind, q, frame, status_first, None)
    }

    /// Whether receive descriptors are written back in the advanced (82576)
    /// or extended (82574L with RFCTL.EXTEN) layout: status word 2, length word 3.
    fn extended(&self, kind: Kind) -> bool {
        match kind {
            Kind::E82576 => true,
            Kind::E82574 => self.reg(RFCTL) & RFCTL_EXTEN != 0,
            Kind::E8254x => false,
        }
    }

    /// RSS for `frame` if it is on and the frame is IPv4: (hash, queue,
    /// RSS type: 1 TCP/IPv4, 2 IPv4). MRQC bit 16 hashes TCP ports, bit 22
    /// (82576) UDP ports, bit 17 the addresses of every other IPv4 frame.
    fn rss(&self, kind: Kind, frame: &[u8]) -> Option<(u32, u32, u32)> {
        if !kind.rss_on(self) || frame.get(12..14)? != [0x08, 0x00] {
            return None;
        }
        let ip = frame.get(14..34)?;
        let header = ((ip[0] & 0xF) as usize) * 4;
        let mrqc = self.reg(MRQC);
        let ports = frame.get(14 + header..14 + header + 4);
        let mut input = ip[12..20].to_vec();
        let rss_type = match (ip[9], ports) {
            (6, Some(p)) if mrqc & 1 << 16 != 0 => {
                input.extend_from_slice(p);
                1
            }
            (17, Some(p)) if mrqc & 1 << 22 != 0 && kind == Kind::E82576 => {
                input.extend_from_slice(p);
                2
            }
            _ if mrqc & 1 << 17 != 0 => 2,
            _ => return None,
        };
        let key: Vec<u8> = (0..10)
            .flat_map(|i| self.reg(RSSRK + 4 * i).to_le_bytes())
            .collect();
        let hash = toeplitz(&key, &input);
        let index = hash & 127;
        let entry = self.reg(RETA + (index & !3)).to_le_bytes()[(index & 3) as usize];
        Some((hash, kind.reta_queue(entry), rss_type))
    }

    /// [`State::deliver`], with the RSS type and queue (word 0) and hash
    /// (word 1) of an extended or advanced write-back.
    fn deliver_with(
        &mut self,
        kind: Kind,
        q: u32,
        frame: &[u8],
        status_first: bool,
        rss: Option<(u32, u32)>,
    ) -> bool {
        let block = kind.rx_block(q);
        if self.gone || self.reg(RCTL) & RCTL_EN == 0 {
            return false;
        }
        let count = (self.reg(block + LEN) / 16) as usize;
        let (head, tail) = (
            self.reg(block + HEAD) as usize,
            self.reg(block + TAIL) as usize,
        );
        if count == 0 || head >= count || tail >= count {
            return false;
        }
        let rctl = self.reg(RCTL);
        if rctl & 1 << 5 == 0 && frame.len() > STANDARD_FRAME {
            return false; // too long without LPE: dropped
        }
        let Some((frame, offload_status, ip_bad, l4_bad, vlan)) = rx_offload(self, frame) else {
            return false; // the VLAN filter dropped it
        };
        let frame = &frame[..];
        let buffer_size = match kind {
            // SRRCTL.BSIZEPACKET, in KiB, overrides RCTL (82576 §8.10).
            Kind::E82576 if self.reg(block + 0x0C) & 0x7F != 0 => {
                (self.reg(block + 0x0C) & 0x7F) as usize * 1024
            }
            _ => {
                let bsize = (rctl >> 16) & 3;
                match (rctl & 1 << 25 != 0, bsize) {
                    (false, _) => BUFFER >> bsize,
                    (true, 0) => BUFFER, // reserved; as without BSEX
                    (true, _) => 32768 >> bsize,
                }
            }
        };
        // Header split (SRRCTL.DESCTYPE 010, BSIZEHEADER in 64-byte units):
        // the headers of a TCP/UDP frame go to the first descriptor's header
        // buffer (words 2-3) if they fit, else the frame stays whole (HBO).
        let srrctl = self.reg(block + 0x0C);
        let split_mode = kind == Kind::E82576 && (srrctl >> 25) & 7 == 2;
        let header_room = ((srrctl >> 8) & 0xF) as usize * 64;
        let headers = split_mode.then(|| split_point(frame)).flatten();
        let (header, body) = match headers {
            Some(end) if end <= header_room => frame.split_at(end),
            _ => (&frame[..0], frame),
        };
        let overflow = headers.is_some() && header.is_empty();
        let mut chunks: Vec<&[u8]> = body.chunks(buffer_size).collect();
        if chunks.is_empty() {
            chunks.push(&[]); // headers only: an empty packet buffer
        }
        let needed = chunks.len();
        let available = (tail + count - head) % count;
        if available < needed {
            return false;
        }
        let timestamped = kind.advanced() && self.latch_ptp_arrival(kind, frame);
        let base = self.ring_base(block);
        let mut i = head;
        for (k, chunk) in chunks.into_iter().enumerate() {
            let desc = base + 16 * i as u64;
            let words = self.read_desc(desc);
            let buffer = (words[1] as u64) << 32 | words[0] as u64;
            self.dma_write(buffer, chunk);
            // Word 0 of a split write-back: HDR_LEN (30:21) and SPH (31);
            // HBO is status/error bit 23.
            let mut split_info = 0;
            if k == 0 && !header.is_empty() {
                let header_buffer = (words[3] as u64) << 32 | words[2] as u64;
                self.dma_write(header_buffer, header);
                split_info = (header.len() as u32) << 21 | 1 << 31;
            }
            let eop = k == needed - 1;
            let mut status = 1 | (eop as u32) << 1; // DD, EOP
            let (mut errors, mut tag) = (0, 0);
            if eop {
                status |= offload_status | (timestamped as u32) << 16; // TS
                tag = (vlan as u32) << 16;
                errors = (ip_bad as u32) << 1 | l4_bad as u32; // IPE, TCPE/L4E
            }
            let (wb, status_word) = if self.extended(kind) {
                let hbo = (k == 0 && overflow) as u32;
                let staterr = status | errors << 29 | hbo << 23;
                let (w0, w1) = rss.unwrap_or((0, 0));
                ([w0 | split_info, w1, staterr, chunk.len() as u32 | tag], 2)
            } else {
                // Errors byte: TCPE bit 5, IPE bit 6.
                let w3 = status | errors << 13 | tag;
                ([words[0], words[1], chunk.len() as u32, w3], 3)
            };
            if status_first {
                self.dma_write(
                    desc + 4 * status_word as u64,
                    &wb[status_word].to_le_bytes(),
                );
                self.late.push((desc, wb));
            } else {
                self.write_desc(desc, wb);
            }
            i = (i + 1) % count;
        }
        self.regs.insert(block + HEAD, i as u32);
        true
    }

    /// A register's value.
    fn reg(&self, r: u32) -> u32 {
        self.regs.get(&r).copied().unwrap_or(0)
    }

    /// The descriptor base address programmed in queue block `block`.
    fn ring_base(&self, block: u32) -> u64 {
        (self.reg(block + BAH) as u64) << 32 | self.reg(block + BAL) as u64
    }

    /// The virtual address behind `len` bytes at `iova`, if the driver
    /// mapped them; otherwise the access is refused and counted, as an IOMMU
    /// would fault it.
    fn translate(&mut self, iova: u64, len: usize) -> Option<*mut u8> {
        if self.bus_master_off {
            // The device may not master the bus: any DMA it tries is a fault.
            self.faults += 1;
            return None;
        }
        for &(start, virt, size) in &self.maps {
            if iova >= start && iova.saturating_add(len as u64) <= start + size as u64 {
                return Some((virt + (iova - start) as usize) as *mut u8);
            }
        }
        self.faults += 1;
        None
    }

    fn dma_write(&mut self, iova: u64, data: &[u8]) {
        if let Some(p) = self.translate(iova, data.len()) {
            // SAFETY: `translate` checked that the range lies inside memory the
            // driver mapped for the device, which it keeps allocated until unmap.
            unsafe { std::ptr::copy_nonoverlapping(data.as_ptr(), p, data.len()) };
        }
    }

    fn dma_read(&mut self, iova: u64, out: &mut [u8]) {
        if let Some(p) = self.translate(iova, out.len()) {
            // SAFETY: as in `dma_write`.
            unsafe { std::ptr::copy_nonoverlapping(p, out.as_mut_ptr(), out.len()) };
        }
    }

    fn read_desc(&mut self, iova: u64) -> [u32; 4] {
        let mut b = [0u8; 16];
        self.dma_read(iova, &mut b);
        std::array::from_fn(|i| u32::from_le_bytes(b[4 * i..4 * i + 4].try_into().unwrap()))
    }

    fn write_desc(&mut self, iova: u64, words: [u32; 4]) {
        let mut b = [0u8; 16];
        for (i, w) in words.iter().enumerate() {
            b[4 * i..4 * i + 4].copy_from_slice(&w.to_le_bytes());
        }
        self.dma_write(iova, &b);
    }
}

impl IommuMap for ModelNic {
    unsafe fn map(&self, vaddr: *mut u8, iova: u64, size: usize) -> io::Result<()> {
        let mut st = self.state();
        let overlaps = st
            .maps
            .iter()
            .any(|&(s, _, n)| iova < s + n as u64 && s < iova + size as u64);
        if overlaps {
            return Err(io::Error::from_raw_os_error(libc::EEXIST));
        }
        st.maps.push((iova, vaddr as usize, size));
        Ok(())
    }

    fn unmap(&self, iova: u64, size: usize) -> io::Result<()> {
        let mut st = self.state();
        let before = st.maps.len();
        st.maps.retain(|&(s, _, n)| !(s == iova && n == size));
        if st.maps.len() == before {
            return Err(io::Error::from_raw_os_error(libc::ENOENT));
        }
        Ok(())
    }

    fn reserve_iova(&self, size: usize) -> u64 {
        let mut st = self.state();
        let iova = st.next_iova;
        st.next_iova += size as u64;
        iova
    }

    fn pinned(&self) -> &AtomicU64 {
        &self.pinned
    }
}

/// Register offsets tests check, from the model's own map.
pub(crate) mod reg {
    pub(crate) use super::{BAH, BAL, DCTL, HEAD, LEN, TAIL};
    pub(crate) use super::{CTRL, RAH0, RAL0, RCTL, TARC0, TCTL};
    pub(crate) use super::{MRQC, RETA, RFCTL, RSSRK, RXCSUM};
}
