//! Masking a queue's RX interrupt while it busy-polls
//! ([`Family::mask_rx_irq`](crate::hw::family::Family::mask_rx_irq)), on
//! every family's model and interrupt mode: only that queue's causes are
//! masked, the link's and the other queue's stay, and where the family can,
//! unmasking first clears what the queue raised while it was masked.

use super::model::{Kind, EICR, EIMS, ICR, IMS};
use super::{Harness, KINDS};
use crate::hw::irq::IrqMode;
use crate::hw::regs::INT_LSC;

/// The cause and mask registers that `mode` uses on `kind`.
fn cause_and_mask(kind: Kind, mode: IrqMode) -> (u32, u32) {
    if kind == Kind::E82576 && mode == IrqMode::Msix {
        (EICR, EIMS)
    } else {
        (ICR, IMS)
    }
}

#[test]
fn a_busy_poll_masks_only_its_own_queue_and_unmasking_clears_its_stale_cause() {
    for kind in KINDS {
        let h = Harness::new(kind, 32, 32, 256);
        let (r, family) = (&*h.model, h.family);
        let modes = family.irq_modes().iter().filter(|&&m| m != IrqMode::Poll);
        for &mode in modes {
            // Two queues where each has a vector of its own, else the one
            // queue that may mask the shared vector.
            let queues = if mode == IrqMode::Msix { 2 } else { 1 };
            let plan = family.enable_irqs(r, mode, 0, queues);
            let (cause, mask) = cause_and_mask(kind, mode);
            let armed = r.peek(mask);
            let case = format!("{kind:?} {mode:?}");
            for q in 0..queues {
                let vector = plan.rx_queue0 + q as u32;
                family.mask_rx_irq(r, mode, q, vector, true);
                let masked = armed & !r.peek(mask);
                assert_ne!(masked, 0, "{case} queue {q}: nothing masked");
                // The link's causes, and the other queue's, stay armed.
                let link = match (kind, mode) {
                    (Kind::E82576, IrqMode::Msix) => 1 << plan.other,
                    // LSC and OTHER, which raises the "other" vector (82574 §10.2.4.1).
                    (_, IrqMode::Msix) => INT_LSC | 1 << 24,
                    _ => INT_LSC,
                };
                assert_eq!(armed & link, link, "{case}: the link's causes not armed");
                assert_eq!(
                    masked & link,
                    0,
                    "{case} queue {q}: the link's cause masked"
                );
                if queues > 1 {
                    let other = if kind == Kind::E82576 {
                        1 << (plan.rx_queue0 + 1 - q as u32)
                    } else {
                        1 << (20 + 1 - q as u32) // ICR.RXQ0/RXQ1 (82574 §10.2.4.1)
                    };
                    assert_eq!(
                        masked & other,
                        0,
                        "{case} queue {q}: the other queue masked"
                    );
                }
                // A frame arrives while masked: its cause is raised.
                r.poke(cause, masked | INT_LSC);
                family.mask_rx_irq(r, mode, q, vector, false);
                assert_eq!(r.peek(mask), armed, "{case} queue {q}: not unmasked");
                if mode == IrqMode::Msix {
                    assert_eq!(
                        r.peek(cause),
                        INT_LSC,
                        "{case} queue {q}: the stale cause would interrupt at once"
                    );
                }
                r.poke(cause, 0);
            }
        }
    }
}
