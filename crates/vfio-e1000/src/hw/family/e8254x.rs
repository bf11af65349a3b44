//! The 8254x family (82540/82541/82544/82545/82546/82547; QEMU `e1000`,
//! `e1000-82544gc`, `e1000-82545em`): the base programming model of
//! [`Family`]'s defaults, conventional PCI, INTx only, one queue.

use super::{quiesce, Family};
use crate::error::Result;
use crate::hw::regs::*;
use crate::sys::mmio::Registers;
use std::time::Duration;

/// The 8254x family driver.
pub(crate) struct E8254x;

impl Family for E8254x {
    fn name(&self) -> &'static str {
        "8254x"
    }

    /// CTRL.RST resets real 8254x parts, but QEMU's model only clears the bit
    /// and keeps every register: so also zero the ring registers ourselves,
    /// which leaves the same state either way.
    fn reset(&self, r: &dyn Registers) -> Result<()> {
        quiesce(r);
        r.write(CTRL, r.read(CTRL) | CTRL_RST);
        std::thread::sleep(Duration::from_millis(10));
        r.wait_for(CTRL, 500, &|v| v & CTRL_RST == 0);
        quiesce(r);
        for block in [self.rx_queue(0), self.tx_queue(0)] {
            for reg in [Q_BAL, Q_BAH, Q_LEN, Q_HEAD, Q_TAIL, Q_DELAY, Q_ABS_DELAY] {
                r.write(block + reg, 0);
            }
        }
        r.write(ITR, 0);
        Ok(())
    }
}
