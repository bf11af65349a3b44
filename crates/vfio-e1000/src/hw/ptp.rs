//! IEEE 1588: the NIC's clock (SYSTIM, counting at the rate TIMINCA sets)
//! and the registers that latch the clock when a PTP frame goes out or
//! comes in (82576 datasheet §7.9 "Time SYNC", registers §8.16; the 82574L
//! has the clock at the same offsets, 82574 §10.2.8).
//!
//! One timestamp of each direction is held at a time: the NIC latches the
//! next one only once software has read the last (TSYNCTXCTL/TSYNCRXCTL
//! VALID). Frames that asked for one are flagged in their descriptors
//! ([`crate::hw::desc`]).
//!
//! The clock's time is kept in software on top of the counter
//! ([`TimeScale`]), as Linux's igb does for the 82576: SYSTIM counts
//! nanoseconds from wherever it started, and offsets and frequency
//! corrections apply to the conversion. Frequency is not corrected in
//! TIMINCA, because QEMU 10.0's models step SYSTIM by twice the change
//! since boot on every TIMINCA write (`e1000x_set_timinca` adds the
//! difference instead of subtracting it).

use crate::sys::mmio::Registers;

/// System Time, low 32 bits; reading it latches SYSTIMH (82576 §8.16.1).
const SYSTIML: u32 = 0xB600;
/// System Time, high 32 bits.
const SYSTIMH: u32 = 0xB604;
/// Increment Attributes: every INCPERIOD × 16 ns (bits 31:24) SYSTIM grows
/// by INCVALUE (bits 23:0) (82576 §8.16.3).
const TIMINCA: u32 = 0xB608;
/// TIMINCA.INCPERIOD position.
pub(crate) const TIMINCA_INCPERIOD_SHIFT: u32 = 24;
/// Transmit Time Sync Control (82576 §8.16.5).
const TSYNCTXCTL: u32 = 0xB614;
/// Transmit timestamp, low and high (82576 §8.16.6-7): reading TXSTMPH
/// frees the latch for the next frame.
const TXSTMPL: u32 = 0xB618;
const TXSTMPH: u32 = 0xB61C;
/// Receive Time Sync Control (82576 §8.16.8).
const TSYNCRXCTL: u32 = 0xB620;
/// Receive timestamp, low and high (82576 §8.16.9-10).
const RXSTMPL: u32 = 0xB624;
const RXSTMPH: u32 = 0xB628;
/// Receive timestamp attributes: source identity bytes, and the sequence
/// ID in bits 31:16 of RXSATRH (82576 §8.16.11-12). QEMU's model frees the
/// receive latch when RXSATRH is read, the datasheet when RXSTMPH is:
/// reading all four in order frees it on both.
const RXSATRL: u32 = 0xB62C;
const RXSATRH: u32 = 0xB630;
/// Receive Time Sync Configuration: the PTPv2 message ID to latch in bits
/// 15:8 (82576 §8.16.13).
const TSYNCRXCFG: u32 = 0x5F50;
/// TSYNCRXCFG: where the PTPv2 message ID goes.
const TSYNCRXCFG_V2_MESSAGE_SHIFT: u32 = 8;
/// TSYNCTXCTL/TSYNCRXCTL: a timestamp is latched and not read yet.
const TSYNC_VALID: u32 = 1 << 0;
/// TSYNCTXCTL/TSYNCRXCTL: timestamping enabled.
const TSYNC_ENABLED: u32 = 1 << 4;
/// TSYNCRXCTL.Type (bits 3:1) = 000b: PTPv2 over Layer 2, the message
/// type TSYNCRXCFG names.
const TSYNCRXCTL_TYPE_L2_V2: u32 = 0;
/// EType Queue Filter `n` at `ETQF0 + 4n`, 8 filters (82576 §8.10, receive registers).
const ETQF0: u32 = 0x5CB0;
/// The filter this driver uses for PTP (Linux's igb uses the same one).
const ETQF_PTP: u32 = 3;
/// ETQF: the filter is enabled.
const ETQF_FILTER_ENABLE: u32 = 1 << 26;
/// ETQF: frames of this EtherType are IEEE 1588 frames (timestamped).
const ETQF_1588: u32 = 1 << 30;
/// The EtherType of PTP over Ethernet (IEEE 1588-2008 Annex F).
pub const ETHERTYPE_PTP: u16 = 0x88F7;

/// TIMINCA for a SYSTIM that counts nanoseconds on a NIC whose clock ticks
/// every `tick_ns`: INCPERIOD 1, INCVALUE `tick_ns`.
pub(crate) const fn nanosecond_increment(tick_ns: u32) -> u32 {
    1 << TIMINCA_INCPERIOD_SHIFT | tick_ns
}

/// Starts SYSTIM counting with increment `timinca`.
pub(crate) fn start_clock(r: &dyn Registers, timinca: u32) {
    r.write(TIMINCA, timinca);
}

/// Reads SYSTIM: low half first, which latches the high half.
pub(crate) fn read_counter(r: &dyn Registers) -> u64 {
    let lo = r.read(SYSTIML);
    let hi = r.read(SYSTIMH);
    (hi as u64) << 32 | lo as u64
}

/// Turns on transmit timestamps (for frames that ask) and receive
/// timestamps of PTPv2 Layer 2 frames whose first byte (transportSpecific
/// and messageType) is `rx_message`, and frees both latches.
pub(crate) fn enable_timestamps(r: &dyn Registers, rx_message: u8) {
    r.write(
        ETQF0 + 4 * ETQF_PTP,
        ETQF_FILTER_ENABLE | ETQF_1588 | ETHERTYPE_PTP as u32,
    );
    r.write(
        TSYNCRXCFG,
        (rx_message as u32) << TSYNCRXCFG_V2_MESSAGE_SHIFT,
    );
    r.write(TSYNCRXCTL, TSYNC_ENABLED | TSYNCRXCTL_TYPE_L2_V2);
    r.write(TSYNCTXCTL, TSYNC_ENABLED);
    take_tx(r);
    take_rx(r);
}

/// The counter value latched when the last frame that asked was sent, if
/// one is waiting; reading it frees the latch.
pub(crate) fn take_tx(r: &dyn Registers) -> Option<u64> {
    if r.read(TSYNCTXCTL) & TSYNC_VALID == 0 {
        return None;
    }
    let lo = r.read(TXSTMPL);
    let hi = r.read(TXSTMPH);
    Some((hi as u64) << 32 | lo as u64)
}

/// The counter value latched when the last matching PTP frame arrived and
/// that frame's sequence ID, if one is waiting; reading them frees the latch.
pub(crate) fn take_rx(r: &dyn Registers) -> Option<(u64, u16)> {
    if r.read(TSYNCRXCTL) & TSYNC_VALID == 0 {
        return None;
    }
    let lo = r.read(RXSTMPL);
    let hi = r.read(RXSTMPH);
    r.read(RXSATRL);
    let attributes = r.read(RXSATRH);
    // QEMU's model stores the sequence ID as the frame's two bytes read
    // little-endian: swap them back to the frame's (network) order.
    let sequence = ((attributes >> 16) as u16).swap_bytes();
    Some(((hi as u64) << 32 | lo as u64, sequence))
}

/// The clock's time as a function of the counter: `ns` at `counter`, then
/// `rate` nanoseconds (a 32.32 fixed-point number) per count. What an
/// offset or a frequency correction changes; the counter is never written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct TimeScale {
    /// A counter reading ...
    counter: u64,
    /// ... and the time it stood for, in ns.
    ns: i128,
    /// ns per count, times 2^32.
    rate: i128,
}

/// 2^32: the fixed-point unit of [`TimeScale::rate`].
const RATE_ONE: i128 = 1 << 32;
/// The largest frequency correction accepted, in ppb (as Linux's igb: 999,999,999 ppb).
pub(crate) const MAX_FREQUENCY_PPB: f64 = 999_999_999.0;

impl TimeScale {
    /// A clock that read `ns` when the counter read `counter`, at the
    /// nominal rate of one nanosecond per count.
    pub(crate) fn new(counter: u64, ns: u64) -> TimeScale {
        TimeScale {
            counter,
            ns: ns as i128,
            rate: RATE_ONE,
        }
    }

    /// The time, in ns, that the counter value `counter` stands for
    /// (values latched before the last correction are converted across
    /// it; the counter does not wrap in 584 years).
    pub(crate) fn time(&self, counter: u64) -> u64 {
        let counts = counter.wrapping_sub(self.counter) as i64 as i128;
        (self.ns + ((counts * self.rate) >> 32)).clamp(0, u64::MAX as i128) as u64
    }

    /// Sets the time to `ns` at `counter`.
    pub(crate) fn set(&mut self, counter: u64, ns: u64) {
        self.counter = counter;
        self.ns = ns as i128;
    }

    /// Moves the clock by `delta_ns`.
    pub(crate) fn shift(&mut self, delta_ns: i64) {
        self.ns += delta_ns as i128;
    }

    /// Runs the clock `ppb` parts per billion faster (negative: slower)
    /// than nominal from `counter` on.
    pub(crate) fn set_frequency(&mut self, counter: u64, ppb: f64) {
        let now = self.time(counter);
        self.set(counter, now);
        let ppb = ppb.clamp(-MAX_FREQUENCY_PPB, MAX_FREQUENCY_PPB);
        self.rate = RATE_ONE + (ppb * RATE_ONE as f64 / 1e9).round() as i128;
    }

    /// The frequency correction in ppb.
    pub(crate) fn frequency(&self) -> f64 {
        (self.rate - RATE_ONE) as f64 * 1e9 / RATE_ONE as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_nominal_scale_counts_nanoseconds() {
        let s = TimeScale::new(1_000, 5_000_000_000);
        assert_eq!(s.time(1_000), 5_000_000_000);
        assert_eq!(s.time(2_500), 5_000_001_500);
        // A timestamp latched before the scale was made.
        assert_eq!(s.time(400), 4_999_999_400);
    }

    #[test]
    fn an_offset_moves_every_later_reading() {
        let mut s = TimeScale::new(0, 1_000_000);
        s.shift(-250);
        assert_eq!(s.time(100), 999_850);
        s.set(200, 42);
        assert_eq!(s.time(300), 142);
    }

    #[test]
    fn a_frequency_correction_is_continuous_and_scales_the_rest() {
        let mut s = TimeScale::new(0, 0);
        s.set_frequency(1_000_000_000, 100_000.0); // 100 ppm fast from 1 s on
        assert_eq!(s.time(1_000_000_000), 1_000_000_000);
        let t = s.time(2_000_000_000);
        assert!((t as i64 - 2_000_100_000).abs() <= 1, "{t}");
        assert!((s.frequency() - 100_000.0).abs() < 0.5);
        s.set_frequency(2_000_000_000, -1e12); // clamped
        assert!(s.frequency() >= -MAX_FREQUENCY_PPB - 1.0);
        assert_eq!(s.time(2_000_000_000), t);
    }

    #[test]
    fn one_count_per_nanosecond_per_tick() {
        assert_eq!(nanosecond_increment(16), 0x0100_0010);
    }
}
