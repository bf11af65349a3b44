//! The model's IEEE 1588 clock: SYSTIM counting at the rate TIMINCA sets
//! on the family's own tick, and the transmit and receive latches
//! (82576 §7.9, registers §8.16; the 82574L has the clock only).

use super::{Kind, State};

// The registers (82576 §8.16).
pub(super) const SYSTIML: u32 = 0xB600;
pub(super) const SYSTIMH: u32 = 0xB604;
pub(super) const TIMINCA: u32 = 0xB608;
pub(super) const TSYNCTXCTL: u32 = 0xB614;
pub(super) const TXSTMPL: u32 = 0xB618;
pub(super) const TXSTMPH: u32 = 0xB61C;
pub(super) const TSYNCRXCTL: u32 = 0xB620;
pub(super) const RXSTMPL: u32 = 0xB624;
pub(super) const RXSTMPH: u32 = 0xB628;
pub(super) const RXSATRH: u32 = 0xB630;
pub(super) const TSYNCRXCFG: u32 = 0x5F50;
pub(super) const ETQF0: u32 = 0x5CB0;
pub(super) const TSYNC_VALID: u32 = 1 << 0;
pub(super) const TSYNC_ENABLED: u32 = 1 << 4;

impl Kind {
    /// Whether the family has the IEEE 1588 clock (SYSTIM).
    pub(super) fn has_clock(self) -> bool {
        self != Kind::E8254x
    }

    /// The period of the clock that drives SYSTIM, in ns: 16 ns on the
    /// 82576 (§7.9.1), 40 ns (25 MHz) on the 82574L.
    pub(super) fn clock_tick_ns(self) -> u64 {
        match self {
            Kind::E82576 => 16,
            _ => 40,
        }
    }
}

impl State {
    /// SYSTIM now: INCVALUE added every INCPERIOD ticks of the clock.
    pub(super) fn systim(&self, kind: Kind) -> u64 {
        let timinca = self.reg(TIMINCA);
        let (value, period) = ((timinca & 0xFF_FFFF) as u64, (timinca >> 24) as u64);
        if period == 0 {
            return 0; // not counting
        }
        self.clock_ns / (kind.clock_tick_ns() * period) * value
    }

    /// Latches SYSTIM into `lo`/`hi` and sets VALID in `control`, if
    /// timestamping is enabled there and no timestamp waits; returns
    /// whether it did.
    pub(super) fn latch(&mut self, kind: Kind, control: u32, lo: u32, hi: u32) -> bool {
        let c = self.reg(control);
        if c & TSYNC_ENABLED == 0 || c & TSYNC_VALID != 0 {
            return false;
        }
        let now = self.systim(kind);
        self.regs.insert(lo, now as u32);
        self.regs.insert(hi, (now >> 32) as u32);
        self.regs.insert(control, c | TSYNC_VALID);
        true
    }

    /// Latches the receive time of `frame` if it is a PTPv2 Layer 2 frame
    /// (an enabled ETQF with its 1588 bit names its EtherType) of the
    /// message type TSYNCRXCFG names, with its sequenceId in RXSATRH.
    pub(super) fn latch_ptp_arrival(&mut self, kind: Kind, frame: &[u8]) -> bool {
        const ETQF_ENABLE: u32 = 1 << 26;
        const ETQF_1588: u32 = 1 << 30;
        if frame.len() < 14 + 34 {
            return false;
        }
        let ethertype = u16::from_be_bytes([frame[12], frame[13]]) as u32;
        let ptp_filter = (0..8)
            .map(|n| self.reg(ETQF0 + 4 * n))
            .any(|f| f & ETQF_ENABLE != 0 && f & ETQF_1588 != 0 && f & 0xFFFF == ethertype);
        let message = (self.reg(TSYNCRXCFG) >> 8) as u8;
        if !ptp_filter || frame[14] != message || frame[15] & 0xF != 2 {
            return false;
        }
        if !self.latch(kind, TSYNCRXCTL, RXSTMPL, RXSTMPH) {
            return false;
        }
        // The sequenceId (PTP header bytes 30-31), stored as QEMU does.
        let sequence = u16::from_le_bytes([frame[14 + 30], frame[14 + 31]]);
        self.regs.insert(RXSATRH, (sequence as u32) << 16);
        true
    }

    /// Clears `bits` in register `r`.
    pub(super) fn clear_bits(&mut self, r: u32, bits: u32) {
        let v = self.reg(r);
        self.regs.insert(r, v & !bits);
    }
}
