//! [`Clock`]: the NIC's IEEE 1588 clock as a Linux PTP hardware clock
//! offers it (read, set, adjust by an offset and by a frequency), and the
//! send and receive times it latched for PTP frames.

use super::Hw;
use crate::error::Result;
use crate::hw::ptp::{self, TimeScale};
use std::sync::MutexGuard;
use std::time::{SystemTime, UNIX_EPOCH};

/// The first byte of a PTPv2 Sync message (transportSpecific 0,
/// messageType 0), for [`Config::timestamps`](crate::Config::timestamps).
pub const PTP_SYNC: u8 = 0x00;
/// The first byte of a PTPv2 Delay_Req message (messageType 1).
pub const PTP_DELAY_REQ: u8 = 0x01;
/// The EtherType of PTP over Ethernet (IEEE 1588-2008 Annex F).
pub const ETHERTYPE_PTP: u16 = ptp::ETHERTYPE_PTP;

/// The time the NIC latched for a received PTP frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RxTimestamp {
    /// When the frame arrived, in ns on the NIC's clock.
    pub ns: u64,
    /// The frame's PTP sequenceId, as the NIC recorded it: match it with
    /// the frame's to be sure which frame the time belongs to. `None`
    /// where the NIC does not record it right (QEMU 10.0's `igb` reads
    /// other bytes of the header).
    pub sequence_id: Option<u16>,
}

/// The NIC's IEEE 1588 clock ([`Nic::clock`](crate::Nic::clock)): its time
/// in ns since the Unix epoch, starting at the system's time when the NIC
/// was opened. Offsets and frequency corrections apply to the conversion
/// from the NIC's counter, so they hold for timestamps too.
#[derive(Debug, Clone, Copy)]
pub struct Clock<'a> {
    hw: &'a Hw,
}

impl<'a> Clock<'a> {
    /// The clock of `hw`, if its family has one.
    pub(crate) fn of(hw: &'a Hw) -> Option<Clock<'a>> {
        hw.family.capabilities().clock.then_some(Clock { hw })
    }

    fn scale(&self) -> MutexGuard<'a, TimeScale> {
        self.hw.clock.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The clock's counter, once the device is known to be there.
    fn counter(&self) -> Result<u64> {
        self.hw.check_present()?;
        Ok(ptp::read_counter(&self.hw.regs))
    }

    /// The time now, in ns.
    pub fn now(&self) -> Result<u64> {
        // Held across the read: no correction lands in between.
        let scale = self.scale();
        Ok(scale.time(self.counter()?))
    }

    /// Sets the time to `ns`.
    pub fn set(&self, ns: u64) -> Result<()> {
        let mut scale = self.scale();
        let counter = self.counter()?;
        scale.set(counter, ns);
        Ok(())
    }

    /// Moves the clock by `delta_ns` (negative: back).
    pub fn adjust(&self, delta_ns: i64) {
        self.scale().shift(delta_ns);
    }

    /// Runs the clock `ppb` parts per billion faster than the NIC's
    /// oscillator (negative: slower), from now on; replaces the previous
    /// correction, as Linux's `adjfine` does. Clamped to ±999,999,999.
    pub fn adjust_frequency(&self, ppb: f64) -> Result<()> {
        let mut scale = self.scale();
        let counter = self.counter()?;
        scale.set_frequency(counter, ppb);
        Ok(())
    }

    /// The frequency correction in force, in ppb.
    pub fn frequency(&self) -> f64 {
        self.scale().frequency()
    }

    /// When the last frame that asked for it
    /// ([`Packet::set_tx_timestamp`](crate::Packet::set_tx_timestamp))
    /// went out, if the NIC latched it and it was not read yet. Reading it
    /// lets the NIC latch the next one.
    pub fn tx_timestamp(&self) -> Result<Option<u64>> {
        self.hw.check_present()?;
        let latched = ptp::take_tx(&self.hw.regs);
        Ok(latched.map(|c| self.scale().time(c)))
    }

    /// When the last PTP frame of the configured type
    /// ([`Config::timestamps`](crate::Config::timestamps)) arrived, if
    /// the NIC latched it and it was not read yet: that frame is the next
    /// [`Packet::rx_timestamped`](crate::Packet::rx_timestamped) one.
    /// Reading it lets the NIC latch the next one.
    pub fn rx_timestamp(&self) -> Result<Option<RxTimestamp>> {
        self.hw.check_present()?;
        let latched = ptp::take_rx(&self.hw.regs);
        let sequence_ids = self.hw.family.ptp_sequence_ids();
        Ok(latched.map(|(c, sequence_id)| RxTimestamp {
            ns: self.scale().time(c),
            sequence_id: sequence_ids.then_some(sequence_id),
        }))
    }
}

/// The system's real time in ns since the Unix epoch (0 before it).
pub(crate) fn system_time_ns() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64)
}
