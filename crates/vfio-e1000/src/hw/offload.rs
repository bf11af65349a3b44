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

/// What a NIC can do to frames besides moving them, as `ethtool -k` lists
/// it: the offloads of its family, as far as this driver uses them (and,
/// for QEMU's models, as far as they emulate them).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Capabilities {
    /// Receive: the IPv4 header and TCP/UDP checksums are verified
    /// ([`Packet::l4_checksum`](crate::Packet::l4_checksum)).
    pub rx_checksums: bool,
    /// Transmit: IPv4 header and TCP/UDP checksums over IPv4
    /// ([`Packet::offload_checksums`](crate::Packet::offload_checksums)).
    pub tx_checksums_ipv4: bool,
    /// Transmit: TCP/UDP checksums over IPv6.
    pub tx_checksums_ipv6: bool,
    /// Transmit: the CRC32c of SCTP over IPv4 and IPv6 (82576 §7.2.5.2:
    /// the advanced context's L4T = SCTP).
    pub tx_sctp_crc: bool,
    /// TCP segmentation over IPv4
    /// ([`Packet::offload_segmentation`](crate::Packet::offload_segmentation)).
    pub tso_ipv4: bool,
    /// TCP segmentation over IPv6.
    pub tso_ipv6: bool,
    /// 802.1Q tags stripped on receive and inserted on transmit by the NIC
    /// ([`Config::vlan_strip`](crate::Config::vlan_strip)).
    pub vlan_offload: bool,
    /// Receive-side scaling over several queues.
    pub rss: bool,
    /// An IEEE 1588 clock ([`Nic::clock`](crate::Nic::clock)).
    pub clock: bool,
    /// Send and receive times of PTP frames latched by that clock
    /// ([`Config::timestamps`](crate::Config::timestamps)).
    pub timestamps: bool,
    /// Headers and payload of received IP frames in separate buffers
    /// ([`Config::header_split`](crate::Config::header_split)).
    pub header_split: bool,
}

impl Capabilities {
    /// Every offload.
    pub(crate) const ALL: Capabilities = Capabilities {
        rx_checksums: true,
        tx_checksums_ipv4: true,
        tx_checksums_ipv6: true,
        tx_sctp_crc: true,
        tso_ipv4: true,
        tso_ipv6: true,
        vlan_offload: true,
        rss: true,
        clock: true,
        timestamps: true,
        header_split: true,
    };

    /// The list `ethtool -k` (and for the clock, `ethtool -T`) would print: each offload's name and whether
    /// the NIC has it.
    pub fn list(&self) -> [(&'static str, bool); 11] {
        [
            ("rx-checksumming", self.rx_checksums),
            ("tx-checksum-ipv4", self.tx_checksums_ipv4),
            ("tx-checksum-ipv6", self.tx_checksums_ipv6),
            ("tx-checksum-sctp", self.tx_sctp_crc),
            ("tcp-segmentation-offload", self.tso_ipv4),
            ("tx-tcp6-segmentation", self.tso_ipv6),
            ("rx-vlan-offload/tx-vlan-offload", self.vlan_offload),
            ("receive-hashing", self.rss),
            ("hardware-clock", self.clock),
            ("hardware-timestamps", self.timestamps),
            ("rx-header-split", self.header_split),
        ]
    }

    /// Whether the NIC segments TCP frames over IPv6 (`ipv6`) or IPv4.
    pub(crate) fn tso(&self, ipv6: bool) -> bool {
        if ipv6 {
            self.tso_ipv6
        } else {
            self.tso_ipv4
        }
    }
}
