//! What the NIC does to frames besides moving them, set up the same way on
//! every family: receive checksum verification (RXCSUM), VLAN tag stripping
//! and insertion (CTRL.VME, VET) and the VLAN filter table (VFTA, enabled by
//! RCTL.VFE with the rest of RCTL). 8254x SDM §13.4.24, §13.5.3; 82574
//! §10.2.5.15; 82576 §8.10.2. The per-frame side (status bits, context
//! descriptors) is in [`desc`](super::desc).

use super::regs::{CTRL, CTRL_VME, RXCSUM, RXCSUM_IPOFLD, RXCSUM_TUOFLD, VET, VFTA};
use crate::sys::mmio::Registers;

/// The IEEE 802.1Q tag protocol identifier.
pub(crate) const TPID_8021Q: u16 = 0x8100;
/// Registers of the VLAN filter table: 128 × 32 bits.
const VFTA_REGISTERS: usize = 128;
/// The largest VLAN ID (12 bits).
pub(crate) const MAX_VLAN_ID: u16 = 4095;

/// The offload settings of a NIC.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Offloads<'a> {
    /// Strip the 802.1Q tag of received frames into the descriptor (and
    /// let transmit descriptors insert one): CTRL.VME.
    pub vlan_strip: bool,
    /// VLAN IDs whose tagged frames are accepted; empty: all (no filter).
    pub vlan_filter: &'a [u16],
}

/// Register and bit of VLAN ID `id` in the filter table (SDM §13.5.3:
/// bits 11:5 pick the register, bits 4:0 the bit).
pub(crate) fn vfta_slot(id: u16) -> (usize, u32) {
    ((id as usize >> 5) & 0x7F, id as u32 & 31)
}

/// Programs receive checksum verification (always on: it costs the driver
/// nothing and every packet then carries a verdict), the TPID, tag
/// stripping and the VLAN filter table. RCTL.VFE is set with the rest of
/// RCTL when the receiver starts.
pub(crate) fn program(r: &dyn Registers, o: &Offloads) {
    r.write(RXCSUM, r.read(RXCSUM) | RXCSUM_IPOFLD | RXCSUM_TUOFLD);
    // Only the low half: the 82576 keeps the outer (extended) TPID above it.
    r.write(VET, (r.read(VET) & 0xFFFF_0000) | TPID_8021Q as u32);
    let ctrl = r.read(CTRL);
    r.write(
        CTRL,
        if o.vlan_strip {
            ctrl | CTRL_VME
        } else {
            ctrl & !CTRL_VME
        },
    );
    let mut table = [0u32; VFTA_REGISTERS];
    for &id in o.vlan_filter {
        let (reg, bit) = vfta_slot(id);
        table[reg] |= 1 << bit;
    }
    for (i, word) in table.iter().enumerate() {
        r.write(VFTA + 4 * i as u32, *word);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vfta_slot_splits_the_id() {
        assert_eq!(vfta_slot(0), (0, 0));
        assert_eq!(vfta_slot(100), (3, 4));
        assert_eq!(vfta_slot(MAX_VLAN_ID), (127, 31));
    }
}
