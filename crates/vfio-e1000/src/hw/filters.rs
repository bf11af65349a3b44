//! Which frames the NIC accepts: the exact-match receive address table
//! (RAL/RAH, 16 entries) and the 4096-bit multicast hash table (MTA), the
//! same registers on every family (8254x SDM §13.5.1-2, 82574 §10.2.5,
//! 82576 §8.10), plus RCTL's promiscuous bits.

use super::regs::{MTA, RAH0, RAH_AV, RAL0};
use crate::sys::mmio::Registers;

/// Entries in the receive address table (QEMU's models check these 16).
pub(crate) const RECEIVE_ADDRESSES: usize = 16;
/// Registers of the multicast table: 128 × 32 bits.
const MTA_REGISTERS: u32 = 128;

/// The addresses the NIC accepts besides broadcast.
#[derive(Debug, Clone, Copy)]
pub(crate) struct AddressFilter<'a> {
    /// The station address (receive address entry 0).
    pub mac: [u8; 6],
    /// Whether `mac` is the address the device already has (a VF's: the
    /// one its PF assigned, which the PF's driver refuses to be asked for
    /// again).
    pub mac_assigned: bool,
    /// Further unicast addresses (entries 1 to 15).
    pub unicast: &'a [[u8; 6]],
    /// Multicast groups (hashed into the MTA).
    pub multicast: &'a [[u8; 6]],
}

/// Where `addr` falls in the multicast table with RCTL.MO = 00: bits 47:36
/// of the address (SDM §13.5.1): register index, bit.
pub(crate) fn mta_slot(addr: &[u8; 6]) -> (u32, u32) {
    let hash = ((addr[4] >> 4) as u32 | (addr[5] as u32) << 4) & 0xFFF;
    (hash >> 5, hash & 31)
}

/// RAL/RAH values of an address, valid.
pub(crate) fn receive_address(addr: &[u8; 6]) -> (u32, u32) {
    (
        u32::from_le_bytes([addr[0], addr[1], addr[2], addr[3]]),
        u16::from_le_bytes([addr[4], addr[5]]) as u32 | RAH_AV,
    )
}

/// Writes the receive address table (unused entries invalid) and the
/// multicast table. At most [`RECEIVE_ADDRESSES`] - 1 extra unicast
/// addresses (checked by the configuration).
pub(crate) fn program(r: &dyn Registers, f: &AddressFilter) {
    let entries = std::iter::once(&f.mac).chain(f.unicast);
    for n in 0..RECEIVE_ADDRESSES as u32 {
        let (lo, hi) = entries
            .clone()
            .nth(n as usize)
            .map_or((0, 0), receive_address);
        // RAH first: the entry is invalid while RAL changes.
        r.write(RAH0 + 8 * n, 0);
        r.write(RAL0 + 8 * n, lo);
        r.write(RAH0 + 8 * n, hi);
    }
    let mut table = [0u32; MTA_REGISTERS as usize];
    for group in f.multicast {
        let (reg, bit) = mta_slot(group);
        table[reg as usize] |= 1 << bit;
    }
    for (i, word) in table.iter().enumerate() {
        r.write(MTA + 4 * i as u32, *word);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn multicast_hash_takes_address_bits_47_to_36() {
        // 01:00:5e:00:00:fb (mDNS): bits 47:36 = 0xfb0 >> 4 | ... = 0xfb0.
        let (reg, bit) = mta_slot(&[0x01, 0x00, 0x5e, 0x00, 0x00, 0xfb]);
        assert_eq!(reg << 5 | bit, 0xfb0);
        let (reg, bit) = mta_slot(&[0x33, 0x33, 0, 0, 0x12, 0x34]);
        assert_eq!(reg << 5 | bit, 0x341);
        assert_eq!(
            receive_address(&[1, 2, 3, 4, 5, 6]),
            (0x0403_0201, 0x0605 | RAH_AV)
        );
    }
}
