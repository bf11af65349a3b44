//! The 82576 (QEMU `igb`; also its fiber, SerDes and quad-port variants):
//! 16 queue pairs with their own register blocks and enable bits, advanced
//! descriptors only, and extended interrupt registers (EICR/EIMS/EIAC, IVAR,
//! GPIE, per-vector EITR) that route causes to up to 10 MSI-X vectors
//! ("82576 GbE Controller Datasheet" §7.3 interrupts, §8 registers).
//!
//! We use one queue pair. Interrupt layout:
//! - MSI-X: RX queue 0 → vector 0, "other" causes (link) → vector 1. Both
//!   vectors auto-clear their EICR bit when the message is sent (EIAC) and
//!   nothing auto-masks (GPIE.EIAME clear), so an RX interrupt needs no
//!   register access at all; a link interrupt clears ICR.LSC.
//! - MSI / INTx: the legacy ICR/IMS causes (RXDW, RXDMT0, RXO, LSC) on one
//!   vector, acknowledged by reading ICR.
//!
//! TX completions raise no interrupt: the rings reclaim them on the next batch.

use super::{ack_icr, base_init, mac_reset, phy_read, phy_write, quiesce, rss, Family, RxMode};
use crate::error::{Error, Result};
use crate::hw::desc::{RxFormat, TxFormat, HEADER_BUFFER_SIZE};
use crate::hw::irq::{IrqMode, VectorPlan};
use crate::hw::offload::{self, Capabilities, Offloads};
use crate::hw::ptp;
use crate::hw::regs::*;
use crate::sys::mmio::Registers;

/// RX queue 0 register block (RDBAL0…); queue `n` at `+ n * QUEUE_STRIDE`
/// (82576 §8.10). The low 4 queues also answer at the 8254x offsets.
const RX_QUEUE0: u32 = 0xC000;
/// TX queue 0 register block (TDBAL0…), same stride (82576 §8.12).
const TX_QUEUE0: u32 = 0xE000;
/// Distance between two queues' register blocks.
const QUEUE_STRIDE: u32 = 0x40;
/// Queue pairs we drive: the 82576 has 16, but MSI-X offers 10 vectors and
/// each RX queue gets its own, plus one for link changes.
const QUEUES: u16 = 8;

/// Split and Replication Receive Control, offset inside an RX queue block (82576 §8.10).
const Q_SRRCTL: u32 = 0x0C;
/// SRRCTL.BSIZEPACKET (bits 6:0): packet buffer size in 1 KiB units.
const SRRCTL_BSIZEPACKET_SHIFT: u32 = 10;
/// SRRCTL.DESCTYPE (bits 27:25) = 001: advanced descriptor, one buffer.
const SRRCTL_DESCTYPE_ADV_ONEBUF: u32 = 1 << 25;
/// SRRCTL.DESCTYPE = 010: advanced descriptor, header split (the headers
/// of TCP/UDP frames into the header buffer, the rest into the packet one).
const SRRCTL_DESCTYPE_HDR_SPLIT: u32 = 2 << 25;
/// SRRCTL.BSIZEHEADER (bits 11:8): header buffer size in 64-byte units.
const SRRCTL_BSIZEHEADER_SHIFT: u32 = 8;
const SRRCTL_BSIZEHEADER_UNIT: usize = 64;
/// Packet Split Receive Type of pool 0 (82576 §8.10; pool `n` at `+ 4n`):
/// which header chains header split may split off. QEMU's model ignores it
/// and splits at the end of the TCP/UDP header.
const PSRTYPE0: u32 = 0x5480;
/// PSRTYPE: split after TCP, after UDP, over IPv4, over IPv6, after L2.
const PSRTYPE_TCPHDR: u32 = 1 << 4;
const PSRTYPE_UDPHDR: u32 = 1 << 5;
const PSRTYPE_IPV4HDR: u32 = 1 << 8;
const PSRTYPE_IPV6HDR: u32 = 1 << 9;
const PSRTYPE_L2HDR: u32 = 1 << 12;
/// SRRCTL.Drop_En: drop frames for this queue when it has no descriptors,
/// rather than holding up the packet buffer.
const SRRCTL_DROP_EN: u32 = 1 << 31;
/// Receive Long Packet Maximum Length: the longest frame accepted with
/// RCTL.LPE, FCS included (82576 §8.10.x; QEMU's model drops longer ones).
const RLPML: u32 = 0x5004;
/// Bytes of the frame check sequence.
const FCS: u32 = 4;

/// RXDCTL/TXDCTL.ENABLE (bit 25): the queue is enabled (82576 §8.10, §8.12).
/// Only queue 0 is enabled after reset.
pub(crate) const QUEUE_ENABLE: u32 = 1 << 25;
/// RXDCTL.WTHRESH = 1 (bits 20:16): write each descriptor back at once.
const RXDCTL_WTHRESH_1: u32 = 1 << 16;
/// How long a queue enable may take to read back, in ms.
const QUEUE_ENABLE_TIMEOUT_MS: u64 = 10;

/// CTRL.GIO Master Disable: stop issuing new master requests (82576 §8.2.1).
const CTRL_GIO_MASTER_DISABLE: u32 = 1 << 2;
/// STATUS.GIO Master Enable: clear once pending master requests are done (82576 §8.2.2).
const STATUS_GIO_MASTER_ENABLE: u32 = 1 << 19;
/// How long to wait for bus-master requests to drain before a reset, in ms.
const MASTER_DISABLE_TIMEOUT_MS: u64 = 10;

/// MRQC.MRQE = 010b: RSS only (no virtualisation pools).
const MRQC_RSS: u32 = 0x2;
/// MRQC: hash UDP/IPv4 frames on their ports too (the 82576 has the field).
const MRQC_HASH_UDP_IPV4: u32 = 1 << 22;

/// TCTL.CT, collision threshold field (bits 11:4).
const TCTL_CT_MASK: u32 = 0xFF << 4;
/// TCTL.COLD, collision distance field (bits 21:12).
const TCTL_COLD_MASK: u32 = 0x3FF << 12;
/// TCTL.RTLC: re-transmit on late collision (82576 §8.12).
const TCTL_RTLC: u32 = 1 << 24;

/// General Purpose Interrupt Enable (82576 §8.8).
const GPIE: u32 = 0x1514;
/// GPIE.Multiple_MSIX: MSI-X mode, causes are routed by IVAR to EICR bits.
const GPIE_MSIX_MODE: u32 = 1 << 4;
/// GPIE.PBA_support: the MSI-X PBA bits follow EICR.
const GPIE_PBA: u32 = 1 << 31;
/// Extended Interrupt Cause Read, clear by writing 1s (82576 §8.8).
const EICR: u32 = 0x1580;
/// Extended Interrupt Mask Set/Read (82576 §8.8).
const EIMS: u32 = 0x1524;
/// Extended Interrupt Mask Clear (82576 §8.8).
const EIMC: u32 = 0x1528;
/// Extended Interrupt Auto Clear: EICR bits cleared when their MSI-X message
/// is sent (82576 §8.8).
const EIAC: u32 = 0x152C;
/// Extended Interrupt Throttle of vector `n` at `EITR0 + 4n` (82576 §8.8).
const EITR0: u32 = 0x1680;
/// EITR.Interval (bits 14:2): minimum gap between interrupts, in µs.
const EITR_INTERVAL_SHIFT: u32 = 2;
/// Largest EITR interval, in µs.
const EITR_INTERVAL_MAX_US: u32 = 0x1FFF;
/// Interrupt Vector Allocation 0 (82576 §8.8): byte 0 = RX queue 0, byte 1 =
/// TX queue 0, bytes 2/3 = RX/TX queue 8; IVAR `n` at `+ 4n` for queues n, n + 8.
const IVAR0: u32 = 0x1700;
/// Bit position of RX queue 0's entry in IVAR0.
const IVAR0_RXQ0_SHIFT: u32 = 0;
/// Interrupt Vector Allocation for miscellaneous causes (82576 §8.8): byte 0 =
/// TCP timer, byte 1 = "other" causes (ICR: link change and friends).
const IVAR_MISC: u32 = 0x1740;
/// Bit position of the "other" entry in IVAR_MISC.
const IVAR_MISC_OTHER_SHIFT: u32 = 8;
/// IVAR entry: valid bit; the vector number is in bits 4:0.
const IVAR_VALID: u32 = 0x80;

/// ICR/IMS bit 7 on the 82576: RX Descriptor Write-back (RXT0 on older parts).
const INT_RXDW: u32 = INT_RXT0;

/// The period of the 82576's SYSTIM clock, in ns.
const CLOCK_TICK_NS: u32 = 16;

/// PHY register 4: Auto-Negotiation Advertisement (IEEE 802.3 §28.2.4.1.3).
const PHY_ANAR: u32 = 4;
/// ANAR: symmetric PAUSE.
const ANAR_PAUSE: u16 = 1 << 10;
/// ANAR: asymmetric PAUSE.
const ANAR_ASM_DIR: u16 = 1 << 11;
/// BMCR: Isolate.
const BMCR_ISOLATE: u16 = 1 << 10;
/// BMCR: Power Down (Linux's igb sets it when the interface goes down).
const BMCR_POWER_DOWN: u16 = 1 << 11;
/// BMCR: Loopback.
const BMCR_LOOPBACK: u16 = 1 << 14;

/// MSI-X vector of RX queue 0; queue `q` uses vector `q`, and the "other"
/// causes (link) the vector after the last queue's.
const VEC_RXQ0: u32 = 0;

/// How a device reads EITR's interval (see [`eitr_value`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum EitrEncoding {
    /// The datasheet's (§8.8): µs in bits 14:2.
    Datasheet,
    /// QEMU 10.0's model (`igb_intrmgr_rearm_timer`): the whole register,
    /// bit 0 masked off, counts 1.024 µs, so the datasheet's encoding asks it
    /// for a gap about 4× too long.
    Qemu,
}

/// The 82576 family driver.
pub(crate) struct E82576 {
    /// How the device reads EITR.
    eitr: EitrEncoding,
    /// Whether RXSATRH holds the timestamped frame's PTP sequenceId.
    ptp_sequence_ids: bool,
}

impl E82576 {
    /// The 82576 as its datasheet describes it.
    pub(crate) const DATASHEET: E82576 = E82576 {
        eitr: EitrEncoding::Datasheet,
        ptp_sequence_ids: true,
    };
    /// QEMU's `igb` model, which departs from the datasheet in EITR and
    /// in the sequenceId it latches with a receive timestamp.
    pub(crate) const QEMU: E82576 = E82576 {
        eitr: EitrEncoding::Qemu,
        // QEMU 10.0's `PTP2` struct is not packed: it reads the sequenceId
        // from header bytes 32-33 (controlField, logMessageInterval).
        ptp_sequence_ids: false,
    };
}

impl Family for E82576 {
    fn name(&self) -> &'static str {
        "82576"
    }

    fn qemu_model(&self) -> Option<&'static dyn Family> {
        Some(&E82576::QEMU)
    }

    fn rx_format(&self) -> RxFormat {
        RxFormat::Advanced
    }

    fn tx_format(&self) -> TxFormat {
        TxFormat::Advanced
    }

    /// Every offload of [`Capabilities`]: the 82576 (82576 §7.2.4: TSO over
    /// IPv4 and IPv6; §7.2.5.2: SCTP's CRC; §7.9: IEEE 1588 clock and
    /// timestamps).
    fn capabilities(&self) -> Capabilities {
        Capabilities::ALL
    }

    /// As every family, and SCTP's CRC verified on receive too (its verdict
    /// is the packet's L4 checksum status), as Linux's igb sets it.
    fn program_offloads(&self, r: &dyn Registers, offloads: &Offloads) -> Result<()> {
        offload::program(r, offloads);
        r.set_bits(RXCSUM, RXCSUM_CRCOFL);
        Ok(())
    }

    /// SYSTIM ticks every 16 ns (82576 §7.9.1; Linux's igb: INCPERIOD 1,
    /// INCVALUE 16 scaled), as in QEMU's model.
    fn clock_increment(&self) -> Option<u32> {
        Some(ptp::nanosecond_increment(CLOCK_TICK_NS))
    }

    fn ptp_sequence_ids(&self) -> bool {
        self.ptp_sequence_ids
    }

    fn max_queues(&self) -> u16 {
        QUEUES
    }

    fn irq_modes(&self) -> &'static [IrqMode] {
        &[IrqMode::Msix, IrqMode::Msi, IrqMode::Intx, IrqMode::Poll]
    }

    fn msix_vectors(&self, queues: u16) -> u32 {
        queues as u32 + 1
    }

    /// RSS over `queues` queues: hash IPv4 (and its TCP/UDP ports), spread
    /// the 128-entry redirection table round-robin (82576 §7.1.2.8; an
    /// entry holds its queue in bits 3:0).
    fn enable_rss(&self, r: &dyn Registers, queues: u16) -> Result<()> {
        if queues == 1 {
            rss::disable(r);
            return Ok(());
        }
        rss::enable(
            r,
            queues,
            |q| q as u8,
            MRQC_RSS | rss::MRQC_HASH_IPV4 | rss::MRQC_HASH_TCP_IPV4 | MRQC_HASH_UDP_IPV4,
        );
        Ok(())
    }

    fn rx_queue(&self, q: u16) -> u32 {
        RX_QUEUE0 + q as u32 * QUEUE_STRIDE
    }

    fn tx_queue(&self, q: u16) -> u32 {
        TX_QUEUE0 + q as u32 * QUEUE_STRIDE
    }

    /// Masks every legacy and extended cause, stops RX/TX, lets bus-master
    /// requests drain (82576 §4.3.1: master disable before a software reset),
    /// then CTRL.RST. The reset also leaves MSI-X mode (GPIE) and the IVARs,
    /// whoever set them; EITR survives it (QEMU keeps it too).
    fn reset(&self, r: &dyn Registers) -> Result<()> {
        quiesce_extended(r);
        r.set_bits(CTRL, CTRL_GIO_MASTER_DISABLE);
        // Best effort: a device stuck with requests in flight is reset anyway.
        r.wait_for(STATUS, MASTER_DISABLE_TIMEOUT_MS, &|v| {
            v & STATUS_GIO_MASTER_ENABLE == 0
        });
        mac_reset(r)?;
        r.clear_bits(CTRL, CTRL_GIO_MASTER_DISABLE);
        quiesce_extended(r);
        Ok(())
    }

    /// The common MAC setup, no RX checksum offload (frames are opaque to us:
    /// no frame is flagged or dropped for its L3/L4 checksum), then the link:
    /// after reset it stays down until the PHY renegotiates, CTRL.SLU alone
    /// does not bring it up. No PAUSE is advertised. The link comes up about
    /// 500 ms later ([`crate::Nic::wait_link`]).
    fn init(&self, r: &dyn Registers) -> Result<()> {
        base_init(r);
        r.write(RXCSUM, 0);
        let anar = phy_read(r, PHY_ANAR)?;
        phy_write(r, PHY_ANAR, anar & !(ANAR_PAUSE | ANAR_ASM_DIR))?;
        let bmcr = phy_read(r, PHY_BMCR)?;
        let bmcr = bmcr & !(BMCR_POWER_DOWN | BMCR_ISOLATE | BMCR_LOOPBACK);
        phy_write(r, PHY_BMCR, bmcr | BMCR_AN_ENABLE | BMCR_RESTART_AN)
    }

    /// 82576 EERD: START bit 0, DONE bit 1, address << 2 (as the 82574).
    fn eeprom_read(&self, r: &dyn Registers, addr: u16) -> Result<u16> {
        super::eeprom_read_pcie(r, addr)
    }

    fn enable_rx_queue(&self, r: &dyn Registers, q: u16, mode: RxMode) -> Result<()> {
        enable_rx_queue(r, self.rx_queue(q), mode)
    }

    /// RLPML for long packets, then RCTL as every family writes it (the
    /// per-queue buffer size is in SRRCTL, which overrides RCTL's).
    fn start_rx(&self, r: &dyn Registers, _queues: u16, mode: RxMode) {
        if mode.header_split {
            r.write(
                PSRTYPE0,
                PSRTYPE_TCPHDR | PSRTYPE_UDPHDR | PSRTYPE_IPV4HDR | PSRTYPE_IPV6HDR | PSRTYPE_L2HDR,
            );
        }
        r.write(RLPML, mode.max_frame as u32 + FCS);
        r.write(RCTL, super::rctl_value(mode));
    }

    fn enable_tx_queue(&self, r: &dyn Registers, q: u16) -> Result<()> {
        enable_tx_queue(r, self.tx_queue(q))
    }

    fn stop_tx_queue(&self, r: &dyn Registers, q: u16) -> bool {
        stop_tx_queue(r, self.tx_queue(q))
    }

    fn restart_tx_queue(&self, r: &dyn Registers, q: u16) -> Result<()> {
        self.enable_tx_queue(r, q)
    }

    /// TCTL with the full-duplex collision settings; TIPG keeps its reset
    /// value, which is the 82576's recommended one.
    fn start_tx(&self, r: &dyn Registers) {
        let tctl = r.read(TCTL) & !(TCTL_CT_MASK | TCTL_COLD_MASK);
        r.write(
            TCTL,
            tctl | TCTL_EN | TCTL_PSP | TCTL_RTLC | TCTL_CT_DEFAULT | TCTL_COLD_FD,
        );
    }

    /// MSI-X: the vector's bit in EIMC/EIMS ([`mask_vector`]).
    fn mask_rx_irq(&self, r: &dyn Registers, mode: IrqMode, _q: u16, vector: u32, masked: bool) {
        if mode == IrqMode::Msix {
            mask_vector(r, vector, masked);
        } else {
            super::mask_single_vector_rx(r, masked);
        }
    }

    /// Every vector, the one of INTx/MSI mode included (vector 0), has its
    /// own EITR (§8.8).
    fn set_irq_interval(&self, r: &dyn Registers, _mode: IrqMode, vector: u32, itr: u16) {
        r.write(EITR0 + 4 * vector, eitr_value(self.eitr, itr));
    }

    fn enable_irqs(&self, r: &dyn Registers, mode: IrqMode, itr: u16, queues: u16) -> VectorPlan {
        let eitr = eitr_value(self.eitr, itr);
        if mode != IrqMode::Msix {
            // RX queue 0 → vector 0 as the datasheet's non-MSI-X setup has it;
            // the legacy causes in ICR/IMS raise the one interrupt.
            r.write(IVAR0, (IVAR_VALID | VEC_RXQ0) << IVAR0_RXQ0_SHIFT);
            r.write(EITR0, eitr);
            r.write(IMS, INT_RXDW | INT_RXDMT0 | INT_RXO | INT_LSC);
            return VectorPlan::SINGLE;
        }
        // GPIE first: QEMU only accepts EIAC/EIMS bits once it is in MSI-X mode.
        r.write(GPIE, GPIE_MSIX_MODE | GPIE_PBA);
        let other = queues as u32;
        for q in 0..queues as u32 {
            // RX queue q (< 8) is byte 0 of IVAR q.
            r.write(
                IVAR0 + 4 * q,
                (IVAR_VALID | (VEC_RXQ0 + q)) << IVAR0_RXQ0_SHIFT,
            );
        }
        r.write(IVAR_MISC, (IVAR_VALID | other) << IVAR_MISC_OTHER_SHIFT);
        let count = self.msix_vectors(queues);
        let vectors = (1 << count) - 1;
        for v in 0..count {
            r.write(EITR0 + 4 * v, eitr);
        }
        r.write(EIAC, vectors);
        r.write(IMS, INT_LSC);
        r.write(EIMS, vectors);
        VectorPlan {
            count,
            rx_queue0: VEC_RXQ0,
            other,
        }
    }

    /// MSI-X RX: nothing to do, EIAC cleared the cause. MSI-X "other": clear
    /// ICR (write 1s; reading does not clear it in MSI-X mode) so the next
    /// link change raises it again. MSI/INTx: read and clear ICR.
    fn ack(&self, r: &dyn Registers, mode: IrqMode, link_vector: bool) -> bool {
        if mode == IrqMode::Msix && !link_vector {
            return false;
        }
        ack_icr(r)
    }

    fn disable_irqs(&self, r: &dyn Registers) {
        r.write(IMC, u32::MAX);
        r.write(EIMC, u32::MAX);
    }

    fn extra_registers(&self) -> &'static [(&'static str, u32)] {
        &[
            ("EIMS", EIMS),
            ("EIAC", EIAC),
            ("GPIE", GPIE),
            ("IVAR0", IVAR0),
            ("IVAR_MISC", IVAR_MISC),
            ("EITR0", EITR0),
            ("SRRCTL0", RX_QUEUE0 + Q_SRRCTL),
            ("RXDCTL0", RX_QUEUE0 + Q_DCTL),
            ("TXDCTL0", TX_QUEUE0 + Q_DCTL),
        ]
    }
}

/// Buffer size and descriptor type in SRRCTL of the RX queue at `block`
/// (the 82576 has no RDTR/RADV), then the queue enable, which must read
/// back before the tail is written. The VF's queues are the same.
pub(crate) fn enable_rx_queue(r: &dyn Registers, block: u32, mode: RxMode) -> Result<()> {
    let bsize = mode.buffer_size as u32 >> SRRCTL_BSIZEPACKET_SHIFT;
    let layout = if mode.header_split {
        let header = (HEADER_BUFFER_SIZE / SRRCTL_BSIZEHEADER_UNIT) as u32;
        SRRCTL_DESCTYPE_HDR_SPLIT | header << SRRCTL_BSIZEHEADER_SHIFT
    } else {
        SRRCTL_DESCTYPE_ADV_ONEBUF
    };
    r.write(block + Q_SRRCTL, bsize | layout | SRRCTL_DROP_EN);
    r.write(block + Q_DCTL, QUEUE_ENABLE | RXDCTL_WTHRESH_1);
    r.wait_for(block + Q_DCTL, QUEUE_ENABLE_TIMEOUT_MS, &|v| {
        v & QUEUE_ENABLE != 0
    })
    .ok_or(Error::DeviceTimeout("the RX queue enable"))?;
    Ok(())
}

/// TXDCTL.ENABLE of the TX queue at `block` with zero thresholds: each
/// descriptor with RS is written back at once.
pub(crate) fn enable_tx_queue(r: &dyn Registers, block: u32) -> Result<()> {
    r.write(block + Q_DCTL, QUEUE_ENABLE);
    r.wait_for(block + Q_DCTL, QUEUE_ENABLE_TIMEOUT_MS, &|v| {
        v & QUEUE_ENABLE != 0
    })
    .ok_or(Error::DeviceTimeout("the TX queue enable"))?;
    Ok(())
}

/// Stops the TX queue at `block` with TXDCTL.ENABLE, which reads back set
/// until the queue has actually stopped (82576 §8.12.13, §4.5.9.2): idle
/// once it reads clear.
pub(crate) fn stop_tx_queue(r: &dyn Registers, block: u32) -> bool {
    r.clear_bits(block + Q_DCTL, QUEUE_ENABLE);
    r.wait_for(block + Q_DCTL, QUEUE_ENABLE_TIMEOUT_MS, &|v| {
        v & QUEUE_ENABLE == 0
    })
    .is_some()
}

/// Masks (EIMC) or unmasks (EIMS) MSI-X `vector`, the PF's or a VF's
/// (their registers share offsets, §8.8 and §8.14.2). Before unmasking, the
/// vector's EICR bit is cleared (write 1), so that a frame already taken
/// while masked raises nothing.
pub(super) fn mask_vector(r: &dyn Registers, vector: u32, masked: bool) {
    let bit = 1 << vector;
    if masked {
        r.write(EIMC, bit);
    } else {
        r.write(EICR, bit);
        r.write(EIMS, bit);
    }
}

/// [`quiesce`], plus the extended causes: every EICR bit masked and cleared.
fn quiesce_extended(r: &dyn Registers) {
    quiesce(r);
    r.write(EIMC, u32::MAX);
    r.write(EICR, u32::MAX);
}

/// EITR for a minimum gap of `itr` × 256 ns, 0 = no throttling.
///
/// The datasheet's interval field counts µs in bits 14:2 (Linux's igb
/// writes 196 for 20 000 interrupts/s, i.e. 49 µs). QEMU 10.0's model reads
/// the register as (value & 0x7FFE) × 1.024 µs: there the same gap is the
/// count of 1.024 µs units itself, kept even and not rounded to 0.
pub(crate) fn eitr_value(encoding: EitrEncoding, itr: u16) -> u32 {
    let ns = itr as u32 * 256;
    match encoding {
        EitrEncoding::Datasheet => (ns / 1000).min(EITR_INTERVAL_MAX_US) << EITR_INTERVAL_SHIFT,
        EitrEncoding::Qemu if itr == 0 => 0,
        EitrEncoding::Qemu => (ns / QEMU_EITR_UNIT_NS).max(2) & QEMU_EITR_MASK,
    }
}

/// QEMU 10.0's EITR unit, in ns (`E1000_INTR_DELAY_NS_RES`).
const QEMU_EITR_UNIT_NS: u32 = 1024;
/// The bits of EITR QEMU 10.0's model counts (`igb_set_eitr`).
const QEMU_EITR_MASK: u32 = 0x7FFE;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn eitr_counts_microseconds_in_bits_2_to_14() {
        let v = |itr| eitr_value(EitrEncoding::Datasheet, itr);
        assert_eq!(v(0), 0);
        // 128 µs = 500 × 256 ns.
        assert_eq!(v(500), 128 << 2);
        // The largest ITR, 65535 × 256 ns = 16.8 ms, is over EITR's 8.2 ms.
        assert_eq!(v(u16::MAX), 0x7FFC);
    }

    /// The gap QEMU 10.0's model waits for an EITR value, in ns.
    fn qemu_gap_ns(eitr: u32) -> u32 {
        (eitr & 0x7FFE) * 1024
    }

    #[test]
    fn eitr_for_qemu_gives_the_gap_asked_for() {
        let v = |itr| eitr_value(EitrEncoding::Qemu, itr);
        assert_eq!(v(0), 0);
        for itr in [1u16, 7, 8, 500, 3906, u16::MAX] {
            let asked = itr as u32 * 256;
            let got = qemu_gap_ns(v(itr));
            assert!(got > 0, "{itr}: throttling must stay on");
            assert!(
                got.abs_diff(asked) <= 2048.max(asked / 100),
                "{itr}: asked {asked} ns, QEMU waits {got} ns"
            );
        }
        // The datasheet encoding, read QEMU's way, is about 4× too long: why
        // the QEMU variant exists (1 ms asked, 4.1 ms waited).
        let datasheet = eitr_value(EitrEncoding::Datasheet, 3906);
        assert!(qemu_gap_ns(datasheet) > 4_000_000);
    }

    #[test]
    fn only_qemus_model_gets_the_qemu_encoding() {
        assert_eq!(E82576::DATASHEET.eitr, EitrEncoding::Datasheet);
        let qemu = E82576::DATASHEET.qemu_model().expect("QEMU's igb differs");
        assert_eq!(qemu.name(), "82576");
    }

    #[test]
    fn queue_blocks() {
        let f = E82576::DATASHEET;
        assert_eq!(f.rx_queue(1) + Q_DCTL, 0xC068);
        assert_eq!(f.tx_queue(15) + Q_TAIL, 0xE3D8);
    }
}
