//! The device table: every controller the driver accepts, its family and
//! whether this project has run it.

use super::family::{e8254x, e82574, e82576, e82576vf, Family};

/// Intel's PCI vendor ID.
pub(crate) const INTEL: u16 = 0x8086;

/// Whether a device ID has been exercised by this project's tests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Tested {
    /// Tested end to end on the named QEMU model.
    QemuModel(&'static str),
    /// Same programming model, never run here.
    Untested,
}

/// One row of the device table.
#[derive(Debug, Clone, Copy)]
pub(crate) struct DeviceEntry {
    /// PCI device ID (vendor is always [`INTEL`]).
    pub device_id: u16,
    /// Marketing name of the controller.
    pub name: &'static str,
    /// Its family's driver.
    pub family: &'static dyn Family,
    /// Whether we have run it.
    pub tested: Tested,
}

impl std::fmt::Debug for dyn Family {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// Every controller the driver accepts: the IDs of the three families from the
/// datasheets and the Linux e1000/e1000e/igb device tables, and the
/// 82576's virtual function. 82542/82543 (different register layout) are
/// not included.
pub(crate) static DEVICES: &[DeviceEntry] = &{
    use e8254x::E8254x as A;
    use e82574::E82574 as B;
    use e82576::E82576 as C;
    use e82576vf::E82576Vf as V;
    use Tested::*;
    const fn d(
        device_id: u16,
        name: &'static str,
        family: &'static dyn Family,
        tested: Tested,
    ) -> DeviceEntry {
        DeviceEntry {
            device_id,
            name,
            family,
            tested,
        }
    }
    [
        d(0x100E, "82540EM", &A, QemuModel("e1000")),
        d(0x100C, "82544GC (copper)", &A, QemuModel("e1000-82544gc")),
        d(0x100F, "82545EM (copper)", &A, QemuModel("e1000-82545em")),
        d(0x1008, "82544EI (copper)", &A, Untested),
        d(0x1009, "82544EI (fiber)", &A, Untested),
        d(0x100D, "82544GC (LOM)", &A, Untested),
        d(0x1015, "82540EM (LOM)", &A, Untested),
        d(0x1016, "82540EP (LOM)", &A, Untested),
        d(0x1017, "82540EP", &A, Untested),
        d(0x101E, "82540EP (LP)", &A, Untested),
        d(0x1011, "82545EM (fiber)", &A, Untested),
        d(0x1026, "82545GM (copper)", &A, Untested),
        d(0x1027, "82545GM (fiber)", &A, Untested),
        d(0x1028, "82545GM (SerDes)", &A, Untested),
        d(0x1010, "82546EB (copper)", &A, Untested),
        d(0x1012, "82546EB (fiber)", &A, Untested),
        d(0x101D, "82546EB (quad copper)", &A, Untested),
        d(0x1079, "82546GB (copper)", &A, Untested),
        d(0x107A, "82546GB (fiber)", &A, Untested),
        d(0x107B, "82546GB (SerDes)", &A, Untested),
        d(0x108A, "82546GB (PCIe)", &A, Untested),
        d(0x1099, "82546GB (quad copper)", &A, Untested),
        d(0x10B5, "82546GB (quad copper KSP3)", &A, Untested),
        d(0x1013, "82541EI", &A, Untested),
        d(0x1018, "82541EI (mobile)", &A, Untested),
        d(0x1014, "82541ER (LOM)", &A, Untested),
        d(0x1078, "82541ER", &A, Untested),
        d(0x1076, "82541GI", &A, Untested),
        d(0x1077, "82541GI (mobile)", &A, Untested),
        d(0x107C, "82541GI (LF)", &A, Untested),
        d(0x1019, "82547EI", &A, Untested),
        d(0x101A, "82547EI (mobile)", &A, Untested),
        d(0x1075, "82547GI", &A, Untested),
        d(0x10D3, "82574L", &B::DATASHEET, QemuModel("e1000e")),
        d(0x10F6, "82574LA", &B::DATASHEET, Untested),
        d(0x150C, "82583V", &B::DATASHEET, Untested),
        d(0x10C9, "82576", &C::DATASHEET, QemuModel("igb")),
        d(0x10E6, "82576 (fiber)", &C::DATASHEET, Untested),
        d(0x10E7, "82576 (SerDes)", &C::DATASHEET, Untested),
        d(0x10E8, "82576 (quad copper)", &C::DATASHEET, Untested),
        d(0x1526, "82576 (quad copper ET2)", &C::DATASHEET, Untested),
        d(0x150A, "82576NS", &C::DATASHEET, Untested),
        d(0x1518, "82576NS (SerDes)", &C::DATASHEET, Untested),
        d(0x150D, "82576 (SerDes quad)", &C::DATASHEET, Untested),
        d(
            0x10CA,
            "82576 virtual function",
            &V::DATASHEET,
            QemuModel("igb (VF)"),
        ),
    ]
};

/// The PCI subsystem IDs QEMU gives every device it emulates (vendor
/// Red Hat, device "QEMU Virtual Machine"); no physical Intel NIC has them.
pub(crate) const QEMU_SUBSYSTEM: (u16, u16) = (0x1AF4, 0x1100);
/// The subsystem IDs of QEMU's `e1000e`, which keeps Intel's vendor ID and
/// subsystem 0 unless told otherwise (its `subsys_ven` and `subsys`
/// properties); Intel's own 82574L boards carry a non-zero subsystem.
pub(crate) const QEMU_E1000E_SUBSYSTEM: (u16, u16) = (INTEL, 0x0000);

/// The family driver for the device of `entry` with PCI subsystem IDs
/// `subsystem`: the table's, or its variant for QEMU's model of it where
/// that model departs from the datasheet.
pub(crate) fn family_for(entry: &DeviceEntry, subsystem: (u16, u16)) -> &'static dyn Family {
    match entry.family.qemu_model() {
        Some(qemu) if subsystem == QEMU_SUBSYSTEM || subsystem == QEMU_E1000E_SUBSYSTEM => qemu,
        _ => entry.family,
    }
}

/// The table row for `vendor:device`, if the driver supports it.
pub(crate) fn lookup(vendor: u16, device: u16) -> Option<&'static DeviceEntry> {
    (vendor == INTEL)
        .then(|| DEVICES.iter().find(|d| d.device_id == device))
        .flatten()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn device_table_has_unique_ids_and_all_qemu_models() {
        let mut ids: Vec<u16> = DEVICES.iter().map(|d| d.device_id).collect();
        ids.sort();
        ids.dedup();
        assert_eq!(ids.len(), DEVICES.len());
        for model in ["e1000", "e1000-82544gc", "e1000-82545em", "e1000e", "igb"] {
            assert!(
                DEVICES.iter().any(|d| d.tested == Tested::QemuModel(model)),
                "{model}"
            );
        }
        assert_eq!(lookup(INTEL, 0x10D3).unwrap().family.name(), "82574L");
        assert!(lookup(0x1234, 0x10D3).is_none());
    }

    #[test]
    fn a_family_has_a_clock_increment_exactly_when_it_claims_a_clock() {
        for d in DEVICES {
            for family in [Some(d.family), d.family.qemu_model()]
                .into_iter()
                .flatten()
            {
                let caps = family.capabilities();
                assert_eq!(caps.clock, family.clock_increment().is_some(), "{}", d.name);
                assert!(caps.clock || !caps.timestamps, "{}", d.name);
            }
        }
    }

    #[test]
    fn qemu_models_are_told_apart_by_their_subsystem_ids() {
        let igb = lookup(INTEL, 0x10C9).unwrap();
        let real = family_for(igb, (INTEL, 0xA02C));
        let qemu = family_for(igb, QEMU_SUBSYSTEM);
        assert!(std::ptr::addr_eq(real, igb.family));
        assert!(!std::ptr::addr_eq(qemu, igb.family));
        // Families whose QEMU model needs nothing different stay themselves.
        let e1000 = lookup(INTEL, 0x100E).unwrap();
        let f = family_for(e1000, QEMU_SUBSYSTEM);
        assert!(std::ptr::addr_eq(f, e1000.family));
        // QEMU's e1000e runs its clock on a 16 ns tick, the 82574L on 40
        // ns; it is told apart by its Intel subsystem 0.
        let e1000e = lookup(INTEL, 0x10D3).unwrap();
        let qemu = family_for(e1000e, QEMU_E1000E_SUBSYSTEM);
        assert_ne!(qemu.clock_increment(), e1000e.family.clock_increment());
        let real = family_for(e1000e, (INTEL, 0xA01F));
        assert!(std::ptr::addr_eq(real, e1000e.family));
    }
}
