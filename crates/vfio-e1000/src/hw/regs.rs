//! Register offsets and bits shared by the 8254x, 82574L and 82576.
//!
//! Names follow the datasheets ("PCI/PCI-X Family of Gigabit Ethernet
//! Controllers Software Developer's Manual" (8254x SDM) §13, "82574 GbE
//! Controller Datasheet" §10, "82576 GbE Controller Datasheet" §8) so each can
//! be looked up there.

/// Device Control (SDM §13.4.1).
pub const CTRL: u32 = 0x0000;
/// Device Status (SDM §13.4.2).
pub const STATUS: u32 = 0x0008;
/// EEPROM Read (SDM §13.4.4; 82574 §10.2.2.4).
pub const EERD: u32 = 0x0014;
/// Extended Device Control (SDM §13.4.6).
pub const CTRL_EXT: u32 = 0x0018;
/// MDI Control: PHY register access (SDM §13.4.7).
pub const MDIC: u32 = 0x0020;
/// VLAN Ether Type: the TPID the MAC recognises and inserts (SDM §13.4.13).
/// On the 82576 the low 16 bits (§8.2.7); the high half is the outer tag's.
pub const VET: u32 = 0x0038;
/// Flow Control Address Low/High, Type (SDM §13.4.8-10).
pub const FCAL: u32 = 0x0028;
/// Flow Control Address High.
pub const FCAH: u32 = 0x002C;
/// Flow Control Type.
pub const FCT: u32 = 0x0030;
/// Flow Control Transmit Timer Value.
pub const FCTTV: u32 = 0x0170;
/// Interrupt Cause Read (SDM §13.4.17).
pub const ICR: u32 = 0x00C0;
/// Interrupt Throttling (SDM §13.4.18): minimum gap in 256 ns units.
pub const ITR: u32 = 0x00C4;
/// Interrupt Mask Set/Read (SDM §13.4.20).
pub const IMS: u32 = 0x00D0;
/// Interrupt Mask Clear (SDM §13.4.21).
pub const IMC: u32 = 0x00D8;
/// Receive Control (SDM §13.4.22).
pub const RCTL: u32 = 0x0100;
/// Transmit Control (SDM §13.4.33).
pub const TCTL: u32 = 0x0400;
/// Transmit Inter Packet Gap (SDM §13.4.34).
pub const TIPG: u32 = 0x0410;
/// Receive Checksum Control (SDM §13.4.24; 82574 §10.2.5.15; 82576 §8.10.2).
pub const RXCSUM: u32 = 0x5000;
/// RXCSUM: IPv4 header checksum offload (report IPCS/IPE).
pub const RXCSUM_IPOFLD: u32 = 1 << 8;
/// RXCSUM: TCP/UDP checksum offload (report TCPCS/UDPCS/TCPE).
pub const RXCSUM_TUOFLD: u32 = 1 << 9;
/// RXCSUM: SCTP CRC offload (82576 and later, bit 11; its verdict is
/// reported as the L4 one).
pub const RXCSUM_CRCOFL: u32 = 1 << 11;
/// VLAN Filter Table Array, 128 × 32 bits, one bit per VLAN ID (SDM §13.5.3).
pub const VFTA: u32 = 0x5600;
/// Multicast Table Array, 128 entries (SDM §13.5.1).
pub const MTA: u32 = 0x5200;
/// Receive Address Low/High of entry 0 (SDM §13.5.2).
pub const RAL0: u32 = 0x5400;
/// Receive Address High of entry 0.
pub const RAH0: u32 = 0x5404;
/// RAH: Address Valid.
pub const RAH_AV: u32 = 1 << 31;

/// CTRL: Full Duplex.
pub const CTRL_FD: u32 = 1 << 0;
/// CTRL: Link Reset.
pub const CTRL_LRST: u32 = 1 << 3;
/// CTRL: Auto-Speed Detection Enable.
pub const CTRL_ASDE: u32 = 1 << 5;
/// CTRL: Set Link Up.
pub const CTRL_SLU: u32 = 1 << 6;
/// CTRL: Invert Loss-of-Signal.
pub const CTRL_ILOS: u32 = 1 << 7;
/// CTRL: Force Speed.
pub const CTRL_FRCSPD: u32 = 1 << 11;
/// CTRL: Force Duplex.
pub const CTRL_FRCDPLX: u32 = 1 << 12;
/// CTRL: Device Reset (self-clearing).
pub const CTRL_RST: u32 = 1 << 26;
/// CTRL: Receive Flow Control Enable.
pub const CTRL_RFCE: u32 = 1 << 27;
/// CTRL: Transmit Flow Control Enable.
pub const CTRL_TFCE: u32 = 1 << 28;
/// CTRL: VLAN Mode Enable.
pub const CTRL_VME: u32 = 1 << 30;
/// CTRL: PHY Reset.
pub const CTRL_PHY_RST: u32 = 1 << 31;

/// STATUS: Full Duplex.
pub const STATUS_FD: u32 = 1 << 0;
/// STATUS: Link Up.
pub const STATUS_LU: u32 = 1 << 1;
/// STATUS: speed field shift (bits 7:6: 00 10, 01 100, 1x 1000 Mb/s).
pub const STATUS_SPEED_SHIFT: u32 = 6;

/// ICR/IMS: Link Status Change.
pub const INT_LSC: u32 = 1 << 2;
/// ICR/IMS: Receive Descriptor Minimum Threshold reached.
pub const INT_RXDMT0: u32 = 1 << 4;
/// ICR/IMS: Receiver Overrun.
pub const INT_RXO: u32 = 1 << 6;
/// ICR/IMS: Receiver Timer Interrupt (a frame was stored).
pub const INT_RXT0: u32 = 1 << 7;

/// RCTL: Receiver Enable.
pub const RCTL_EN: u32 = 1 << 1;
/// RCTL: Unicast Promiscuous.
pub const RCTL_UPE: u32 = 1 << 3;
/// RCTL: Multicast Promiscuous.
pub const RCTL_MPE: u32 = 1 << 4;
/// RCTL: Receive Descriptor Minimum Threshold: half the ring.
pub const RCTL_RDMTS_HALF: u32 = 0 << 8;
/// RCTL: Broadcast Accept Mode.
pub const RCTL_BAM: u32 = 1 << 15;
/// RCTL: Buffer Size field (bits 17:16); with BSEX: 01 = 16 KiB, 10 = 8 KiB,
/// 11 = 4 KiB; without: 00 = 2 KiB (SDM §13.4.22).
pub const RCTL_BSIZE_SHIFT: u32 = 16;
/// RCTL: Buffer Size Extension (sizes × 16).
pub const RCTL_BSEX: u32 = 1 << 25;
/// RCTL: Long Packet Enable: accept frames over 1522 bytes.
pub const RCTL_LPE: u32 = 1 << 5;
/// RCTL: VLAN Filter Enable: tagged frames must hit the VFTA.
pub const RCTL_VFE: u32 = 1 << 18;
/// RCTL: Strip Ethernet CRC.
pub const RCTL_SECRC: u32 = 1 << 26;

/// TCTL: Transmit Enable.
pub const TCTL_EN: u32 = 1 << 1;
/// TCTL: Pad Short Packets.
pub const TCTL_PSP: u32 = 1 << 3;
/// TCTL: Collision Threshold (recommended 0x0F).
pub const TCTL_CT_DEFAULT: u32 = 0x0F << 4;
/// TCTL: Collision Distance for full duplex (0x3F).
pub const TCTL_COLD_FD: u32 = 0x3F << 12;
/// TIPG value recommended for copper (IPGT 8, IPGR1 8, IPGR2 6; SDM §13.4.34).
pub const TIPG_COPPER: u32 = 8 | (8 << 10) | (6 << 20);

/// Per-queue register block of queue 0 on the 8254x and 82574 (SDM §13.4.25-40);
/// queue `n` is at `+ n * 0x100`.
pub const RX_QUEUE0: u32 = 0x2800;
/// Transmit queue 0 block.
pub const TX_QUEUE0: u32 = 0x3800;
/// Offsets inside a queue block (same layout for RX and TX on all families).
pub const Q_BAL: u32 = 0x00;
/// Descriptor base address high.
pub const Q_BAH: u32 = 0x04;
/// Descriptor ring length in bytes.
pub const Q_LEN: u32 = 0x08;
/// Head (owned by the device).
pub const Q_HEAD: u32 = 0x10;
/// Tail (owned by software).
pub const Q_TAIL: u32 = 0x18;
/// RX: Receive Delay Timer; TX: Interrupt Delay Value.
pub const Q_DELAY: u32 = 0x20;
/// RXDCTL / TXDCTL.
pub const Q_DCTL: u32 = 0x28;
/// RX: Absolute Delay Timer (RADV); TX: TADV.
pub const Q_ABS_DELAY: u32 = 0x2C;

/// MDIC: data mask, register shift, PHY address shift, opcodes, Ready, Error (SDM §13.4.7).
pub const MDIC_REG_SHIFT: u32 = 16;
/// MDIC: PHY address field shift.
pub const MDIC_PHY_SHIFT: u32 = 21;
/// MDIC: write opcode.
pub const MDIC_OP_WRITE: u32 = 1 << 26;
/// MDIC: read opcode.
pub const MDIC_OP_READ: u32 = 2 << 26;
/// MDIC: Ready.
pub const MDIC_READY: u32 = 1 << 28;
/// MDIC: Error.
pub const MDIC_ERROR: u32 = 1 << 30;
/// The PHY's MDIO address on these boards.
pub const PHY_ADDR: u32 = 1;
/// PHY register 0: Basic Mode Control (IEEE 802.3 §22.2.4.1).
pub const PHY_BMCR: u32 = 0;
/// BMCR: Restart Auto-Negotiation.
pub const BMCR_RESTART_AN: u16 = 1 << 9;
/// BMCR: Auto-Negotiation Enable.
pub const BMCR_AN_ENABLE: u16 = 1 << 12;

/// Statistics registers (SDM §13.7), clear-on-read.
pub mod stats {
    /// CRC Error Count.
    pub const CRCERRS: u32 = 0x4000;
    /// Missed Packets Count (FIFO overrun).
    pub const MPC: u32 = 0x4010;
    /// Good Packets Received Count.
    pub const GPRC: u32 = 0x4074;
    /// Broadcast Packets Received.
    pub const BPRC: u32 = 0x4078;
    /// Multicast Packets Received.
    pub const MPRC: u32 = 0x407C;
    /// Good Packets Transmitted Count.
    pub const GPTC: u32 = 0x4080;
    /// Good Octets Received Count (low; high at +4).
    pub const GORCL: u32 = 0x4088;
    /// Good Octets Transmitted Count (low; high at +4).
    pub const GOTCL: u32 = 0x4090;
    /// Receive No Buffers Count.
    pub const RNBC: u32 = 0x40A0;
    /// Receive Undersize Count.
    pub const RUC: u32 = 0x40A4;
    /// Receive Oversize Count.
    pub const ROC: u32 = 0x40AC;
    /// End of the statistics block.
    pub const END: u32 = 0x4100;
}
