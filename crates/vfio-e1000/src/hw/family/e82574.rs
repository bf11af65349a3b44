//! The 82574L (QEMU `e1000e`; also 82574LA, 82583V): the 8254x model plus
//! PCIe, MSI and five MSI-X vectors routed through IVAR (82574 datasheet §7.4,
//! §10.2.4), a different EERD layout and the TARC/GCR setup bits.
//!
//! Two RX/TX queue pairs, the second at the 8254x layout's next block
//! (RDBAL1 0x2900, TDBAL1 0x3900). Received frames reach queue 1 only
//! through RSS, which needs extended receive descriptors (RFCTL.EXTEN; QEMU
//! hashes nothing in the legacy format). The driver uses them with one
//! queue too, as Linux's e1000e does: their write-back puts status, errors
//! and length where the 82576's advanced one does, so the two families
//! share [`RxFormat::Advanced`] and its tests.
//!
//! Interrupts, MSI-X: RXQ0 → vector 0, RXQ1 → 1, TXQ0 → 2, TXQ1 → 3,
//! other (link) → 4; the TX causes stay masked. INTx/MSI: one vector, one
//! queue ([`crate::nic`] asks for MSI-X or poll mode with two).

use super::{rss, Family};
use crate::error::Result;
use crate::hw::desc::RxFormat;
use crate::hw::irq::{IrqMode, VectorPlan};
use crate::hw::offload::Capabilities;
use crate::hw::ptp;
use crate::hw::regs::*;
use crate::sys::mmio::Registers;

/// 3GIO Control (82574 §10.2.10.1).
const GCR: u32 = 0x5B00;
/// GCR bit 22: must be set by software (82574 §10.2.10.1, "reserved, set to 1").
const GCR_BIT22: u32 = 1 << 22;
/// Transmit Arbitration Count of queue 0 (82574 §10.2.6.10); queue 1's,
/// TARC1, at 0x3940: offset [`Q_TARC`] in each TX queue's block.
const TARC0: u32 = TX_QUEUE0 + Q_TARC;
/// TARC's offset inside a TX queue's register block.
const Q_TARC: u32 = 0x40;
/// TARC: bit 10 enables the queue; QEMU stops transmitting if it is clear.
const TARC_ENABLE: u32 = 1 << 10;
/// Interrupt Vector Allocation (82574 §10.2.4.9): 4-bit entries, bit 3 = valid.
const IVAR: u32 = 0x00E4;
/// IVAR entry valid bit.
const IVAR_VALID: u32 = 0x8;
/// Extended Interrupt Auto Clear (82574 §10.2.4.7).
const EIAC: u32 = 0x00DC;
/// MSI-X vector throttling, vector `n` at `EITR0 + 4n` (82574 §10.2.4.10).
const EITR0: u32 = 0x00E8;
/// CTRL_EXT: Interrupt Acknowledge Auto-mask Enable.
const CTRL_EXT_IAME: u32 = 1 << 27;
/// CTRL_EXT: PBA support (clear pending bits on IMS write in MSI-X mode).
const CTRL_EXT_PBA_CLR: u32 = 1 << 31;
/// ICR/IMS: queue and "other" causes used in MSI-X mode.
const INT_RXQ0: u32 = 1 << 20;
const INT_RXQ1: u32 = 1 << 21;
const INT_TXQ0: u32 = 1 << 22;
const INT_TXQ1: u32 = 1 << 23;
const INT_OTHER: u32 = 1 << 24;
/// The causes that have a vector of their own in MSI-X mode.
const QUEUE_CAUSES: u32 = INT_RXQ0 | INT_RXQ1 | INT_TXQ0 | INT_TXQ1;

/// MSI-X vectors, as the original driver laid them out: RXQ0, RXQ1, TXQ0, TXQ1, other.
const VEC_RXQ0: u32 = 0;
const VEC_OTHER: u32 = 4;

/// Receive Filter Control (82574 §10.2.5).
const RFCTL: u32 = 0x5008;
/// RFCTL.EXTEN: extended receive descriptors (status, errors and the RSS
/// hash written back in the extended layout).
const RFCTL_EXTEN: u32 = 1 << 15;
/// Queue pairs: RX and TX queues 0 and 1.
const QUEUES: u16 = 2;
/// MRQC.Multiple Receive Queues Enable, bits 1:0 = 01b: RSS over two
/// queues (QEMU: `E1000_MRQC_ENABLED`). The 82574L hashes TCP/IPv4 on
/// addresses and ports, every other IPv4 frame (UDP too: it has no UDP
/// field) on its addresses.
const MRQC_RSS_2Q: u32 = 0x1;
/// A redirection table entry names its queue in bit 7 (QEMU:
/// `E1000_RSS_QUEUE`; FreeBSD's em writes `queue << 7`).
const RETA_QUEUE_SHIFT: u32 = 7;

/// The period of the 82574L's SYSTIM clock, in ns: a stable 25 MHz
/// (Linux's e1000e: INCPERIOD 1, INCVALUE 40 for the 82574).
const CLOCK_TICK_NS: u32 = 40;
/// The period QEMU 10.0's `e1000e` model counts for every part
/// (`e1000x_timestamp`: INCVALUE per INCPERIOD × 16 ns).
const QEMU_CLOCK_TICK_NS: u32 = 16;

/// The 82574L family driver.
pub(crate) struct E82574 {
    /// Period of the clock that drives SYSTIM, in ns.
    clock_tick_ns: u32,
}

impl E82574 {
    /// The 82574L as its datasheet describes it.
    pub(crate) const DATASHEET: E82574 = E82574 {
        clock_tick_ns: CLOCK_TICK_NS,
    };
    /// QEMU's `e1000e` model, whose SYSTIM runs on a 16 ns tick.
    pub(crate) const QEMU: E82574 = E82574 {
        clock_tick_ns: QEMU_CLOCK_TICK_NS,
    };
}

impl Family for E82574 {
    fn name(&self) -> &'static str {
        "82574L"
    }

    fn irq_modes(&self) -> &'static [IrqMode] {
        &[IrqMode::Msix, IrqMode::Msi, IrqMode::Intx, IrqMode::Poll]
    }

    fn msix_vectors(&self, _queues: u16) -> u32 {
        5
    }

    /// Extended receive descriptors, whatever the queue count (RFCTL.EXTEN,
    /// set at [`Family::init`]).
    fn rx_format(&self) -> RxFormat {
        RxFormat::Advanced
    }

    /// Every offload of [`Capabilities`] (82574 §7.3: TSO over IPv4 and
    /// IPv6) but SCTP's CRC (its context descriptor has one's complement
    /// sums only) and packet timestamps: the driver uses the 82574L's IEEE
    /// 1588 clock only, the part QEMU's model emulates.
    fn capabilities(&self) -> Capabilities {
        Capabilities {
            tx_sctp_crc: false,
            timestamps: false,
            header_split: false,
            ..Capabilities::ALL
        }
    }

    fn qemu_model(&self) -> Option<&'static dyn Family> {
        Some(&E82574::QEMU)
    }

    fn clock_increment(&self) -> Option<u32> {
        Some(ptp::nanosecond_increment(self.clock_tick_ns))
    }

    fn max_queues(&self) -> u16 {
        QUEUES
    }

    /// The common MAC setup, then extended receive descriptors: RFCTL is
    /// written before the RCTL write that enables reception, at which QEMU
    /// latches the descriptor size.
    fn init(&self, r: &dyn Registers) -> Result<()> {
        r.set_bits(GCR, GCR_BIT22);
        super::base_init(r);
        r.set_bits(RFCTL, RFCTL_EXTEN);
        Ok(())
    }

    /// RSS over both queues: the IPv4 addresses (and TCP ports) hashed, the
    /// redirection table alternating queue 0 and 1, the hash written back
    /// (RXCSUM.PCSD; QEMU hashes only with it and with RFCTL.EXTEN).
    fn enable_rss(&self, r: &dyn Registers, queues: u16) -> Result<()> {
        if queues == 1 {
            rss::disable(r);
            return Ok(());
        }
        rss::enable(
            r,
            queues,
            |q| (q << RETA_QUEUE_SHIFT) as u8,
            MRQC_RSS_2Q | rss::MRQC_HASH_IPV4 | rss::MRQC_HASH_TCP_IPV4,
        );
        Ok(())
    }

    /// TARC bit 10 enables the queue's arbitration; without it QEMU's model
    /// transmits nothing on that queue (set again whenever the queue is
    /// restarted).
    fn enable_tx_queue(&self, r: &dyn Registers, q: u16) -> Result<()> {
        r.set_bits(self.tx_queue(q) + Q_TARC, TARC_ENABLE);
        Ok(())
    }

    /// 82574 EERD: START bit 0, DONE bit 1, address << 2, data << 16 (§10.2.2.4).
    fn eeprom_read(&self, r: &dyn Registers, addr: u16) -> Result<u16> {
        super::eeprom_read_pcie(r, addr)
    }

    /// MSI-X: each cause to its own vector (IVAR entry `n` → vector `n`),
    /// RXQ1 unmasked only with two queues.
    fn enable_irqs(&self, r: &dyn Registers, mode: IrqMode, itr: u16, queues: u16) -> VectorPlan {
        if mode != IrqMode::Msix {
            return super::enable_single_vector(r, itr);
        }
        let ivar = (0..5u32).fold(0, |acc, v| acc | (IVAR_VALID | v) << (4 * v));
        r.write(IVAR, ivar);
        for v in 0..5 {
            r.write(EITR0 + 4 * v, itr as u32);
        }
        // Every MSI-X message auto-clears its causes in ICR, so the next event
        // raises it again. Nothing auto-masks: real parts only do with
        // CTRL_EXT.EIAME, QEMU's model unless IAME is set. So no register
        // access is needed per interrupt.
        r.write(EIAC, QUEUE_CAUSES | INT_OTHER);
        r.write(
            CTRL_EXT,
            r.read(CTRL_EXT) | CTRL_EXT_PBA_CLR | CTRL_EXT_IAME,
        );
        let rxq1 = if queues > 1 { INT_RXQ1 } else { 0 };
        r.write(IMS, INT_RXQ0 | rxq1 | INT_OTHER | INT_LSC);
        VectorPlan {
            count: 5,
            rx_queue0: VEC_RXQ0,
            other: VEC_OTHER,
        }
    }

    /// MSI-X vectors have their own EITR (§10.2.4.10); otherwise ITR.
    fn set_irq_interval(&self, r: &dyn Registers, mode: IrqMode, vector: u32, itr: u16) {
        if mode == IrqMode::Msix {
            r.write(EITR0 + 4 * vector, itr as u32);
        } else {
            r.write(ITR, itr as u32);
        }
    }

    /// MSI-X: the queue's own cause in IMC/IMS. Before unmasking, its ICR
    /// bit is cleared (write 1), so that a frame already taken while masked
    /// raises nothing.
    fn mask_rx_irq(&self, r: &dyn Registers, mode: IrqMode, q: u16, vector: u32, masked: bool) {
        if mode != IrqMode::Msix {
            return super::mask_single_vector_rx(r, masked);
        }
        let _ = vector;
        let cause = INT_RXQ0 << q;
        if masked {
            r.write(IMC, cause);
        } else {
            r.write(ICR, cause);
            r.write(IMS, cause);
        }
    }

    /// In MSI-X mode the "other" vector carries every cause that is not a
    /// queue's (link change, receive overrun, MDIO done, §7.4.2.1): only an
    /// ICR with LSC is a link change. Its causes are cleared (write 1s) so
    /// that the next one raises the vector again; the queue causes are left
    /// to EIAC. This costs a register read per "other" interrupt, which
    /// only link changes and overruns raise.
    fn ack(&self, r: &dyn Registers, mode: IrqMode, link_vector: bool) -> bool {
        if mode != IrqMode::Msix {
            return super::ack_icr(r);
        }
        if !link_vector {
            return false;
        }
        let icr = r.read(ICR);
        r.write(ICR, icr & !QUEUE_CAUSES);
        icr & INT_LSC != 0
    }

    fn extra_registers(&self) -> &'static [(&'static str, u32)] {
        &[
            ("IVAR", IVAR),
            ("GCR", GCR),
            ("TARC0", TARC0),
            ("RFCTL", RFCTL),
            ("MRQC", rss::MRQC),
        ]
    }
}
