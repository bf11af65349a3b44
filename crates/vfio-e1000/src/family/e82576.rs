//! The 82576 (QEMU `igb`): advanced descriptors, per-queue enables,
//! extended interrupt registers.

use super::Family;

/// The 82576 family driver.
pub struct E82576;

impl Family for E82576 {
    fn name(&self) -> &'static str {
        "82576"
    }
}
