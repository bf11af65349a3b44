//! The 82576's virtual function (SR-IOV VF, 8086:10CA; QEMU's `igbvf`):
//! two queue pairs of the PF's, advanced descriptors, three MSI-X vectors
//! and no access to anything the PF shares between functions. Receive
//! filters, the frame size limit and the MAC address are asked of the
//! PF's driver through the mailbox ([`crate::hw::mailbox`]); the link is
//! the PF's ("82576 GbE Controller Datasheet" §7.8 virtualisation, §8.14 VF
//! registers).
//!
//! The queue registers are the PF's own (the VF's queue 0 is one of the
//! PF's 16), so the rings, queue enables and TX hang recovery are the
//! 82576's, shared with [`super::e82576`].
//!
//! Interrupt layout (MSI-X only): RX queue 0 → vector 0, mailbox (messages
//! and resets of the PF) → vector 1; both auto-clear (EIAC).

use super::e82576::{self, eitr_value, EitrEncoding};
use super::{status_link, Family, RxMode};
use crate::error::{Error, Result};
use crate::hw::counters::{LinkStatus, Stats};
use crate::hw::desc::{RxFormat, TxFormat};
use crate::hw::filters::{mta_slot, AddressFilter};
use crate::hw::irq::{IrqMode, VectorPlan};
use crate::hw::mailbox::{message, Mailbox, RSTI, V2PMAILBOX};
use crate::hw::offload::{Capabilities, Offloads};
use crate::hw::regs::{CTRL, CTRL_RST};
use crate::sys::mmio::Registers;

/// RX queue 0 of the VF (RDBAL0…, the 8254x layout); queue 1 at `+ 0x100` (§8.14).
const RX_QUEUE0: u32 = 0x2800;
/// TX queue 0 of the VF (TDBAL0…); queue 1 at `+ 0x100` (§8.14).
const TX_QUEUE0: u32 = 0x3800;
/// Distance between the VF's two queues' register blocks.
const QUEUE_STRIDE: u32 = 0x100;

/// VF Extended Interrupt Cause, clear by writing 1s (VTEICR, §8.14.2).
const EICR: u32 = 0x1580;
/// VF Extended Interrupt Mask Set (VTEIMS).
const EIMS: u32 = 0x1524;
/// VF Extended Interrupt Mask Clear (VTEIMC).
const EIMC: u32 = 0x1528;
/// VF Extended Interrupt Auto Clear (VTEIAC).
const EIAC: u32 = 0x152C;
/// VF interrupt throttle of vector `n` at `EITR0 + 4n` (VTEITR).
const EITR0: u32 = 0x1680;
/// VF Interrupt Vector Allocation (VTIVAR): byte 0 = RX queue 0, byte 1 =
/// TX queue 0, bytes 2/3 = queue 1; the vector in bits 1:0, valid bit 7.
const IVAR0: u32 = 0x1700;
/// Bits between one queue's VTIVAR bytes and the next's.
const IVAR_QUEUE_SHIFT: u32 = 16;
/// VF Interrupt Vector Allocation, mailbox (VTIVAR_MISC): vector in bits
/// 1:0, valid bit 7. QEMU 10.0's model reads the field as a mask of
/// vectors instead (`mailbox_interrupt_to_vf`: 1 = vector 0, 2 = vector
/// 1); the one value both read as vector 1 does not exist, so the QEMU
/// variant writes the mask.
const IVAR_MISC: u32 = 0x1740;
/// IVAR entry valid.
const IVAR_VALID: u32 = 0x80;
/// Every VF vector's bit (three MSI-X vectors).
const ALL_VECTORS: u32 = 0b111;

/// The VF's good packets and octets received and sent, and multicast
/// packets received (§8.14.6): running totals, never cleared by a read.
const VFGPRC: u32 = 0x0F10;
const VFGPTC: u32 = 0x0F14;
const VFGORC: u32 = 0x0F18;
const VFGOTC: u32 = 0x0F34;
const VFMPRC: u32 = 0x0F3C;

/// MSI-X vector of the mailbox (the "other" causes of a VF). QEMU's
/// reading of VTIVAR_MISC as a mask (see [`IVAR_MISC`]) reaches only
/// vectors 0 and 1: the mailbox takes 0, the RX queues the vectors after.
const VEC_MAILBOX: u32 = 0;
/// MSI-X vector of RX queue 0; queue 1 takes the next (the VF's third).
const VEC_RXQ0: u32 = 1;
/// Queue pairs of a VF (§7.10.2.1: two per pool with 8 pools).
const QUEUES: u16 = 2;

/// How long a PF reset may keep the VF waiting, in ms.
const PF_RESET_TIMEOUT_MS: u64 = 2000;

/// Bytes of the frame check sequence, which SET_LPE counts.
const FCS: u32 = 4;

/// The 82576 virtual function's driver.
pub(crate) struct E82576Vf {
    /// How the device reads EITR (the PF's registers behind it); QEMU's
    /// model also reads VTIVAR_MISC its own way (see [`IVAR_MISC`]).
    eitr: EitrEncoding,
}

impl E82576Vf {
    /// The VF as the datasheet describes it.
    pub(crate) const DATASHEET: E82576Vf = E82576Vf {
        eitr: EitrEncoding::Datasheet,
    };
    /// A VF of QEMU's `igb`, whose EITR departs from the datasheet as the
    /// PF's does.
    pub(crate) const QEMU: E82576Vf = E82576Vf {
        eitr: EitrEncoding::Qemu,
    };
}

/// Two words of a MAC address as the mailbox carries it (bytes in order,
/// little-endian words).
fn mac_words(mac: &[u8; 6]) -> [u32; 2] {
    [
        u32::from_le_bytes([mac[0], mac[1], mac[2], mac[3]]),
        u32::from_le_bytes([mac[4], mac[5], 0, 0]),
    ]
}

impl Family for E82576Vf {
    fn name(&self) -> &'static str {
        "82576 VF"
    }

    fn qemu_model(&self) -> Option<&'static dyn Family> {
        Some(&E82576Vf::QEMU)
    }

    fn rx_format(&self) -> RxFormat {
        RxFormat::Advanced
    }

    fn tx_format(&self) -> TxFormat {
        TxFormat::Advanced
    }

    /// The 82576's offloads but RSS, which is the PF's (its pools), and
    /// the IEEE 1588 clock, which a VF cannot reach.
    fn capabilities(&self) -> Capabilities {
        Capabilities {
            rss: false,
            clock: false,
            timestamps: false,
            header_split: false,
            ..Capabilities::ALL
        }
    }

    fn irq_modes(&self) -> &'static [IrqMode] {
        &[IrqMode::Msix, IrqMode::Poll]
    }

    /// Two queue pairs. RSS within a VF's pool is the PF's choice
    /// (VMOLR.RSSE, §7.10.3.7); Linux's `igb` turns it on for its own pool
    /// only, so a VF's second RX queue gets nothing there, and its second
    /// TX queue carries what a second thread sends.
    fn max_queues(&self) -> u16 {
        QUEUES
    }

    /// Nothing to program: the PF spreads a pool's frames, if at all.
    fn enable_rss(&self, _r: &dyn Registers, queues: u16) -> Result<()> {
        debug_assert!(queues <= QUEUES);
        Ok(())
    }

    /// The mailbox's vector and one per RX queue.
    fn msix_vectors(&self, queues: u16) -> u32 {
        1 + u32::from(queues)
    }

    fn rx_queue(&self, q: u16) -> u32 {
        RX_QUEUE0 + q as u32 * QUEUE_STRIDE
    }

    fn tx_queue(&self, q: u16) -> u32 {
        TX_QUEUE0 + q as u32 * QUEUE_STRIDE
    }

    /// Masks the VF's vectors and resets the VF (VTCTRL.RST: its queues
    /// stop, the PF's driver is told), then waits out a reset of the PF in
    /// progress (RSTI).
    fn reset(&self, r: &dyn Registers) -> Result<()> {
        r.write(EIMC, ALL_VECTORS);
        r.write(CTRL, CTRL_RST);
        r.wait_for(V2PMAILBOX, PF_RESET_TIMEOUT_MS, &|v| v & RSTI == 0)
            .ok_or(Error::DeviceTimeout(
                "the physical function's reset (is the PF bound to its driver with its interface up?)",
            ))?;
        r.write(EIMC, ALL_VECTORS);
        r.write(EICR, ALL_VECTORS);
        Ok(())
    }

    /// Nothing: the link and the MAC are the PF's.
    fn init(&self, _r: &dyn Registers) -> Result<()> {
        Ok(())
    }

    /// Tells the PF's driver the VF was reset (RESET); its answer carries
    /// the address the PF assigned, or none (NACK): all zeros then.
    fn mac_address(&self, r: &dyn Registers) -> Result<[u8; 6]> {
        let mut reply = [0u32; 3];
        Mailbox::new(r).exchange(&[message::RESET], &mut reply)?;
        if reply[0] & message::ACK == 0 {
            return Ok([0; 6]);
        }
        let mut mac = [0u8; 6];
        mac[..4].copy_from_slice(&reply[1].to_le_bytes());
        mac[4..].copy_from_slice(&reply[2].to_le_bytes()[..2]);
        Ok(mac)
    }

    /// Asks the PF's driver for the address and the multicast groups. A VF
    /// has one unicast address here.
    fn program_filters(&self, r: &dyn Registers, filter: &AddressFilter) -> Result<()> {
        if !filter.unicast.is_empty() {
            return Err(Error::InvalidConfig(
                "a virtual function receives on one unicast address: no extra --unicast".into(),
            ));
        }
        if filter.multicast.len() > message::MAX_MULTICAST {
            return Err(Error::InvalidConfig(format!(
                "a virtual function takes at most {} multicast groups",
                message::MAX_MULTICAST
            )));
        }
        let mb = Mailbox::new(r);
        let mut reply = [0u32; 3];
        if !filter.mac_assigned {
            let [lo, hi] = mac_words(&filter.mac);
            mb.request(
                &[message::SET_MAC_ADDR, lo, hi],
                &mut reply,
                &format!("the VF's MAC address {}", fmt_mac(&filter.mac)),
            )?;
        }
        // 12-bit hashes, two per word after the first (as the PF's MTA takes them).
        let mut words = vec![message::SET_MULTICAST | (filter.multicast.len() as u32) << 16];
        for pair in filter.multicast.chunks(2) {
            let hash = |m: &[u8; 6]| {
                let (reg, bit) = mta_slot(m);
                reg << 5 | bit
            };
            words.push(hash(&pair[0]) | pair.get(1).map_or(0, |m| hash(m) << 16));
        }
        mb.request(&words, &mut reply, "the VF's multicast groups")
    }

    /// VLANs through the PF's driver: one SET_VLAN per ID of the filter.
    /// The PF owns the rest: it strips the tags of a pool once it has a
    /// VLAN (Linux's `igb` turns VMOLR.STRVLAN on with the first one), so
    /// on a VF a VLAN filter comes with stripping (the tag is reported with
    /// the frame) and stripping cannot be asked alone.
    fn program_offloads(&self, r: &dyn Registers, offloads: &Offloads) -> Result<()> {
        if offloads.vlan_strip && offloads.vlan_filter.is_empty() {
            return Err(Error::InvalidConfig(
                "on a virtual function the PF strips the tags of the VLANs the VF joins, \
                 and only those: give them with --vlan-filter"
                    .into(),
            ));
        }
        let mb = Mailbox::new(r);
        let mut reply = [0u32; 2];
        for &vid in offloads.vlan_filter {
            mb.request(
                &[message::SET_VLAN | message::VLAN_ADD, u32::from(vid)],
                &mut reply,
                &format!("joining VLAN {vid}"),
            )?;
        }
        Ok(())
    }

    fn cumulative_counters(&self) -> bool {
        true
    }

    /// The 82576's queue setup; with queue 0, the frame size limit (SET_LPE)
    /// and, if asked, every multicast frame (a VF receives only frames for
    /// its own addresses: unicast promiscuous mode is the PF's).
    fn enable_rx_queue(&self, r: &dyn Registers, q: u16, mode: RxMode) -> Result<()> {
        e82576::enable_rx_queue(r, self.rx_queue(q), mode)?;
        if q == 0 {
            let mb = Mailbox::new(r);
            let mut reply = [0u32; 1];
            mb.request(
                &[message::SET_LPE, mode.max_frame as u32 + FCS],
                &mut reply,
                &format!("a frame size of {} bytes", mode.max_frame),
            )?;
            if mode.promiscuous {
                // Best effort: a PF that refuses leaves the multicast list.
                mb.exchange(
                    &[message::SET_PROMISC | message::PROMISC_MULTICAST],
                    &mut reply,
                )?;
            }
        }
        Ok(())
    }

    /// Nothing global: each queue has its own enable.
    fn start_rx(&self, _r: &dyn Registers, _queues: u16, _mode: RxMode) {}

    fn enable_tx_queue(&self, r: &dyn Registers, q: u16) -> Result<()> {
        e82576::enable_tx_queue(r, self.tx_queue(q))
    }

    fn stop_tx_queue(&self, r: &dyn Registers, q: u16) -> bool {
        e82576::stop_tx_queue(r, self.tx_queue(q))
    }

    fn restart_tx_queue(&self, r: &dyn Registers, q: u16) -> Result<()> {
        self.enable_tx_queue(r, q)
    }

    /// Nothing global: each queue has its own enable.
    fn start_tx(&self, _r: &dyn Registers) {}

    /// The vector's bit in VTEIMC/VTEIMS, as the PF's ([`e82576::mask_vector`]).
    fn mask_rx_irq(&self, r: &dyn Registers, _mode: IrqMode, _q: u16, vector: u32, masked: bool) {
        e82576::mask_vector(r, vector, masked);
    }

    fn set_irq_interval(&self, r: &dyn Registers, _mode: IrqMode, vector: u32, itr: u16) {
        r.write(EITR0 + 4 * vector, eitr_value(self.eitr, itr));
    }

    fn enable_irqs(&self, r: &dyn Registers, _mode: IrqMode, itr: u16, queues: u16) -> VectorPlan {
        let ivar = (0..u32::from(queues)).fold(0, |ivar, q| {
            ivar | (IVAR_VALID | (VEC_RXQ0 + q)) << (q * IVAR_QUEUE_SHIFT)
        });
        r.write(IVAR0, ivar);
        let mailbox = match self.eitr {
            EitrEncoding::Datasheet => VEC_MAILBOX,
            EitrEncoding::Qemu => 1 << VEC_MAILBOX,
        };
        r.write(IVAR_MISC, IVAR_VALID | mailbox);
        let count = self.msix_vectors(queues);
        let eitr = eitr_value(self.eitr, itr);
        for v in 0..count {
            r.write(EITR0 + 4 * v, eitr);
        }
        let vectors = (1 << count) - 1;
        r.write(EIAC, vectors);
        r.write(EIMS, vectors);
        VectorPlan {
            count,
            rx_queue0: VEC_RXQ0,
            other: VEC_MAILBOX,
        }
    }

    /// RX: nothing, EIAC cleared the cause. Mailbox: take the PF's message,
    /// if any (a link change or a reset notice), and have the link read again.
    fn ack(&self, r: &dyn Registers, _mode: IrqMode, link_vector: bool) -> bool {
        if !link_vector {
            return false;
        }
        let mb = Mailbox::new(r);
        if mb.has_message() {
            let _ = mb.receive(&mut [0u32; 1]);
        }
        true
    }

    fn disable_irqs(&self, r: &dyn Registers) {
        r.write(EIMC, ALL_VECTORS);
    }

    /// The PF's link, down while the PF resets (RSTI: its driver serves
    /// no mailbox and the VF's queues are gone until it is back).
    fn link(&self, r: &dyn Registers) -> LinkStatus {
        let mut link = status_link(r);
        link.up &= r.read(V2PMAILBOX) & RSTI == 0;
        link
    }

    /// A reset of the PF (its driver's `ip link set down`, a rebind, an
    /// MTU change) clears every register behind the VF's queues.
    fn rearms_after_pf_reset(&self) -> bool {
        true
    }

    /// The VF's running totals (see [`Family::cumulative_counters`]).
    fn read_stats(&self, r: &dyn Registers, s: &mut Stats) {
        s.rx_packets = r.read(VFGPRC) as u64;
        s.tx_packets = r.read(VFGPTC) as u64;
        s.rx_bytes = r.read(VFGORC) as u64;
        s.tx_bytes = r.read(VFGOTC) as u64;
        s.rx_multicast = r.read(VFMPRC) as u64;
    }

    fn extra_registers(&self) -> &'static [(&'static str, u32)] {
        &[
            ("V2PMAILBOX", V2PMAILBOX),
            ("EIMS", EIMS),
            ("IVAR0", IVAR0),
            ("IVAR_MISC", IVAR_MISC),
            ("RXDCTL0", RX_QUEUE0 + crate::hw::regs::Q_DCTL),
            ("TXDCTL0", TX_QUEUE0 + crate::hw::regs::Q_DCTL),
        ]
    }
}

/// `aa:bb:cc:dd:ee:ff`.
fn fmt_mac(m: &[u8; 6]) -> String {
    m.iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(":")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mac_words_are_the_bytes_in_order() {
        assert_eq!(
            mac_words(&[0x02, 0x11, 0x22, 0x33, 0x44, 0x55]),
            [0x3322_1102, 0x5544]
        );
    }

    /// Registers that remember the last value written to each offset.
    #[derive(Default)]
    struct Written(std::sync::Mutex<std::collections::HashMap<u32, u32>>);

    impl Registers for Written {
        fn read(&self, reg: u32) -> u32 {
            self.0.lock().unwrap().get(&reg).copied().unwrap_or(0)
        }
        fn write(&self, reg: u32, value: u32) {
            self.0.lock().unwrap().insert(reg, value);
        }
        fn accesses(&self) -> (u64, u64) {
            (0, 0)
        }
    }

    #[test]
    fn two_queues_take_vectors_1_and_2_and_the_mailbox_vector_0() {
        for (family, misc) in [(E82576Vf::DATASHEET, 0x80), (E82576Vf::QEMU, 0x81)] {
            let r = Written::default();
            let plan = family.enable_irqs(&r, IrqMode::Msix, 0, 2);
            assert_eq!((plan.count, plan.rx_queue0, plan.other), (3, 1, 0));
            // RX queue 0 in byte 0, RX queue 1 in byte 2, TX entries unused.
            assert_eq!(r.read(IVAR0), 0x0082_0081);
            assert_eq!(r.read(IVAR_MISC), misc);
            assert_eq!((r.read(EIAC), r.read(EIMS)), (0b111, 0b111));
            let one = Written::default();
            let plan = family.enable_irqs(&one, IrqMode::Msix, 0, 1);
            assert_eq!(
                (plan.count, one.read(IVAR0), one.read(EIMS)),
                (2, 0x81, 0b11)
            );
        }
    }

    #[test]
    fn queue_blocks_are_the_8254x_offsets() {
        let f = E82576Vf::DATASHEET;
        assert_eq!(f.rx_queue(1), 0x2900);
        assert_eq!(f.tx_queue(0) + crate::hw::regs::Q_TAIL, 0x3818);
    }
}
