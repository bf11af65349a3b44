//! Where Linux delivers an interrupt. `/proc/interrupts` names each handler
//! (vfio-pci calls its own `vfio-msix[N](PCI)`, `vfio-msi[N](PCI)` and
//! `vfio-intx(PCI)`) beside its IRQ number, and
//! `/proc/irq/IRQ/effective_affinity_list` lists the CPUs that take it.

use std::fs;

/// The first CPU that takes the interrupt handled by `handler`, if the
/// kernel says.
pub(crate) fn effective_cpu(handler: &str) -> Option<usize> {
    let table = fs::read_to_string("/proc/interrupts").ok()?;
    let irq = irq_number(&table, handler)?;
    let cpus = fs::read_to_string(format!("/proc/irq/{irq}/effective_affinity_list")).ok()?;
    first_cpu(&cpus)
}

/// The IRQ number on the `/proc/interrupts` line that names `handler`
/// (a shared line lists several, comma-separated).
fn irq_number(table: &str, handler: &str) -> Option<u32> {
    let line = table.lines().find(|l| {
        l.split_whitespace()
            .any(|w| w.trim_end_matches(',') == handler)
    })?;
    line.split(':').next()?.trim().parse().ok()
}

/// The first CPU of a CPU list such as `1`, `0-3` or `2,5`.
fn first_cpu(list: &str) -> Option<usize> {
    list.trim().split([',', '-']).next()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    const TABLE: &str = "           CPU0       CPU1
  0:         44          0   IO-APIC   2-edge      timer
 16:          0        812   IO-APIC  16-fasteoi   uhci_hcd:usb1, vfio-intx(0000:00:04.0)
 25:          0      23304  IR-PCI-MSI 49152-edge      vfio-msix[0](0000:00:03.0)
 26:          0          0  IR-PCI-MSI 49153-edge      vfio-msix[1](0000:00:03.0)
LOC:       1748        824   Local timer interrupts
";

    #[test]
    fn finds_the_irq_of_a_vfio_handler() {
        assert_eq!(irq_number(TABLE, "vfio-msix[0](0000:00:03.0)"), Some(25));
        assert_eq!(irq_number(TABLE, "vfio-msix[1](0000:00:03.0)"), Some(26));
        assert_eq!(irq_number(TABLE, "vfio-intx(0000:00:04.0)"), Some(16));
        assert_eq!(irq_number(TABLE, "vfio-msix[2](0000:00:03.0)"), None);
        assert_eq!(irq_number(TABLE, "Local"), None, "LOC is no number");
    }

    #[test]
    fn reads_the_first_cpu_of_a_list() {
        assert_eq!(first_cpu("1\n"), Some(1));
        assert_eq!(first_cpu("0-3\n"), Some(0));
        assert_eq!(first_cpu("2,5"), Some(2));
        assert_eq!(first_cpu(""), None);
    }
}
