//! The 82574L (QEMU `e1000e`; also 82574LA, 82583V): the 8254x model plus
//! PCIe, MSI and five MSI-X vectors routed through IVAR (82574 datasheet §7.4,
//! §10.2.4), a different EERD layout and the TARC/GCR setup bits.

use super::Family;
use crate::error::Result;
use crate::hw::irq::{IrqMode, VectorPlan};
use crate::hw::regs::*;
use crate::sys::mmio::Registers;

/// 3GIO Control (82574 §10.2.10.1).
const GCR: u32 = 0x5B00;
/// GCR bit 22: must be set by software (82574 §10.2.10.1, "reserved, set to 1").
const GCR_BIT22: u32 = 1 << 22;
/// Transmit Arbitration Count of queue 0 (82574 §10.2.6.10).
const TARC0: u32 = 0x3840;
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

/// MSI-X vectors, as the original driver laid them out: RXQ0, RXQ1, TXQ0, TXQ1, other.
const VEC_RXQ0: u32 = 0;
const VEC_OTHER: u32 = 4;

/// The 82574L family driver.
pub(crate) struct E82574;

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

    fn init(&self, r: &dyn Registers) -> Result<()> {
        r.set_bits(GCR, GCR_BIT22);
        super::base_init(r);
        Ok(())
    }

    /// TARC0 bit 10 enables the queue's arbitration; without it QEMU's model
    /// transmits nothing (set again whenever the queue is restarted).
    fn enable_tx_queue(&self, r: &dyn Registers, _q: u16) -> Result<()> {
        r.set_bits(TARC0, TARC_ENABLE);
        Ok(())
    }

    /// 82574 EERD: START bit 0, DONE bit 1, address << 2, data << 16 (§10.2.2.4).
    fn eeprom_read(&self, r: &dyn Registers, addr: u16) -> Result<u16> {
        super::eeprom_read_pcie(r, addr)
    }

    fn enable_irqs(&self, r: &dyn Registers, mode: IrqMode, itr: u16, _queues: u16) -> VectorPlan {
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
        r.write(EIAC, INT_RXQ0 | INT_RXQ1 | INT_TXQ0 | INT_TXQ1 | INT_OTHER);
        r.write(
            CTRL_EXT,
            r.read(CTRL_EXT) | CTRL_EXT_PBA_CLR | CTRL_EXT_IAME,
        );
        r.write(IMS, INT_RXQ0 | INT_OTHER | INT_LSC);
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

    fn ack(&self, r: &dyn Registers, mode: IrqMode, link_vector: bool) -> bool {
        if mode == IrqMode::Msix {
            return link_vector;
        }
        super::ack_icr(r)
    }

    fn extra_registers(&self) -> &'static [(&'static str, u32)] {
        &[("IVAR", IVAR), ("GCR", GCR), ("TARC0", TARC0)]
    }
}
