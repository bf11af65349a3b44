//! One module per controller family: register quirks, descriptor format,
//! reset/init sequence and interrupt routing, behind the [`Family`] trait.
//! Everything else (rings, mempool, interrupt loop, teardown) is written once.
//!
//! The default methods of [`Family`] are the 8254x programming model, which
//! the 82574L extends (extended receive descriptors, two queues); the 82576
//! overrides more (advanced descriptors, per-queue enables, extended
//! interrupt registers). [`rss`] is what the two share for receive-side
//! scaling.

pub(crate) mod e8254x;
pub(crate) mod e82574;
pub(crate) mod e82576;
pub(crate) mod e82576vf;
pub(crate) mod rss;

use super::counters::{LinkStatus, Stats};
use super::desc::{RxFormat, TxFormat};
use super::filters::{self, AddressFilter};
use super::irq::{IrqMode, VectorPlan};
use super::offload::{self, Capabilities, Offloads};
use super::regs::{self, *};
use crate::error::{Error, Result};
use crate::sys::mmio::Registers;
use std::time::Duration;

/// How the receiver is set up: filters and buffer size.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct RxMode {
    /// Accept every unicast and multicast frame.
    pub promiscuous: bool,
    /// Tagged frames must match the VLAN filter table (RCTL.VFE).
    pub vlan_filter: bool,
    /// Bytes per receive buffer: 2048, 4096, 8192 or 16384.
    pub buffer_size: usize,
    /// The longest frame to accept, without FCS; over 1522 turns on LPE.
    pub max_frame: usize,
    /// Headers and payload of TCP/UDP frames in two buffers
    /// ([`RxFormat::AdvancedSplit`](crate::hw::desc::RxFormat::AdvancedSplit)).
    pub header_split: bool,
}

impl RxMode {
    /// Whether frames over the standard 1522 bytes are accepted.
    pub(crate) fn long_packets(&self) -> bool {
        self.max_frame > STANDARD_MAX_FRAME
    }
}

/// How long [`Family::stop_tx_queue`] waits for a queue to go idle, in ms.
pub(crate) const TX_STOP_TIMEOUT_MS: u64 = 10;

/// The longest standard frame: 1500 bytes of payload, a VLAN-tagged header,
/// no FCS (the 1522 of the datasheets counts the FCS and no tag; either way
/// the MAC accepts it without LPE).
pub(crate) const STANDARD_MAX_FRAME: usize = 1518;

/// What one controller family does differently. Defaults: the 8254x model.
pub(crate) trait Family: Send + Sync {
    /// Family name, e.g. "82574L".
    fn name(&self) -> &'static str;

    /// The variant of this driver for QEMU's model of the family, where
    /// that model departs from the datasheet in something the driver
    /// programs; `None` where the datasheet's driver fits it.
    fn qemu_model(&self) -> Option<&'static dyn Family> {
        None
    }

    /// Descriptor format used for receive.
    fn rx_format(&self) -> RxFormat {
        RxFormat::Legacy
    }

    /// Descriptor format used for transmit.
    fn tx_format(&self) -> TxFormat {
        TxFormat::Legacy
    }

    /// Number of RX/TX queue pairs the family supports.
    fn max_queues(&self) -> u16 {
        1
    }

    /// The offloads of the family (datasheet). The default: the 8254x's,
    /// whose TCP segmentation is IPv4 only (SDM §3.5; QEMU's model writes
    /// a wrong IPv6 payload length into the segments), whose context
    /// descriptor knows no CRC (only one's complement sums) and which has
    /// no RSS.
    fn capabilities(&self) -> Capabilities {
        Capabilities {
            tso_ipv6: false,
            tx_sctp_crc: false,
            rss: false,
            clock: false,
            timestamps: false,
            header_split: false,
            ..Capabilities::ALL
        }
    }

    /// TIMINCA for an IEEE 1588 clock that counts nanoseconds
    /// ([`ptp`](crate::hw::ptp)), if the family has the clock
    /// ([`Capabilities::clock`]). The 8254x has none.
    fn clock_increment(&self) -> Option<u32> {
        None
    }

    /// Whether a receive timestamp comes with the frame's PTP sequenceId
    /// (RXSATRH), where the family has receive timestamps.
    fn ptp_sequence_ids(&self) -> bool {
        true
    }

    /// Interrupt modes the family can use, best first.
    fn irq_modes(&self) -> &'static [IrqMode] {
        &[IrqMode::Intx, IrqMode::Poll]
    }

    /// MSI-X vectors the family uses with `queues` queue pairs (0 if none).
    fn msix_vectors(&self, queues: u16) -> u32 {
        let _ = queues;
        0
    }

    /// Spreads received flows over `queues` RX queues (receive-side scaling).
    /// The default supports one queue only.
    fn enable_rss(&self, r: &dyn Registers, queues: u16) -> Result<()> {
        let _ = r;
        if queues > 1 {
            return Err(Error::InvalidConfig(format!(
                "the {} family has no RSS here",
                self.name()
            )));
        }
        Ok(())
    }

    /// Register block of RX queue `q`.
    fn rx_queue(&self, q: u16) -> u32 {
        RX_QUEUE0 + q as u32 * 0x100
    }

    /// Register block of TX queue `q`.
    fn tx_queue(&self, q: u16) -> u32 {
        TX_QUEUE0 + q as u32 * 0x100
    }

    /// Stops interrupts and DMA and resets the MAC, from any prior state.
    fn reset(&self, r: &dyn Registers) -> Result<()> {
        quiesce(r);
        mac_reset(r)?;
        quiesce(r);
        Ok(())
    }

    /// Link and MAC setup after reset: link up, full duplex, no flow control,
    /// empty multicast table, statistics cleared.
    fn init(&self, r: &dyn Registers) -> Result<()> {
        base_init(r);
        Ok(())
    }

    /// The NIC's MAC address: receive-address entry 0 if valid, else the
    /// EEPROM. All zeros if the NIC has none (a virtual function whose PF
    /// assigned none): the caller then chooses one.
    fn mac_address(&self, r: &dyn Registers) -> Result<[u8; 6]> {
        let (lo, hi) = (r.read(RAL0), r.read(RAH0));
        let mut mac = [0u8; 6];
        mac[..4].copy_from_slice(&lo.to_le_bytes());
        mac[4..].copy_from_slice(&hi.to_le_bytes()[..2]);
        if hi & RAH_AV == 0 || mac == [0; 6] {
            for w in 0..3u16 {
                let word = self.eeprom_read(r, w)?.to_le_bytes();
                mac[2 * w as usize..2 * w as usize + 2].copy_from_slice(&word);
            }
        }
        Ok(mac)
    }

    /// Which frames to accept: the receive address and multicast tables
    /// (a virtual function asks its PF's driver instead).
    fn program_filters(&self, r: &dyn Registers, filter: &AddressFilter) -> Result<()> {
        filters::program(r, filter);
        Ok(())
    }

    /// Checksum verdicts and VLAN tag handling (a virtual function's are
    /// the PF's to set).
    fn program_offloads(&self, r: &dyn Registers, offloads: &Offloads) -> Result<()> {
        offload::program(r, offloads);
        Ok(())
    }

    /// Whether [`Family::read_stats`] sets the NIC's running totals (counters
    /// that reading does not clear, as a virtual function's) instead of
    /// adding clear-on-read counts.
    fn cumulative_counters(&self) -> bool {
        false
    }

    /// Reads the word at `addr` from the EEPROM through EERD.
    fn eeprom_read(&self, r: &dyn Registers, addr: u16) -> Result<u16> {
        // 8254x EERD: START bit 0, DONE bit 4, address << 8, data << 16 (SDM §13.4.4).
        r.write(EERD, 1 | ((addr as u32) << 8));
        let v = r
            .wait_for(EERD, 100, &|v| v & (1 << 4) != 0)
            .ok_or(Error::DeviceTimeout("an EEPROM read"))?;
        Ok((v >> 16) as u16)
    }

    /// Enables reception on the configured queues (RCTL), once: the 8254x
    /// model holds reception for a second after every RCTL write.
    fn start_rx(&self, r: &dyn Registers, _queues: u16, mode: RxMode) {
        r.write(RCTL, rctl_value(mode));
    }

    /// Per-queue RX setup after the ring registers are written, before the
    /// first tail write. Default: no delayed RX interrupts (RDTR = RADV = 0);
    /// the buffer size is global (RCTL, at [`Family::start_rx`]).
    fn enable_rx_queue(&self, r: &dyn Registers, q: u16, _mode: RxMode) -> Result<()> {
        let block = self.rx_queue(q);
        r.write(block + Q_DELAY, 0);
        r.write(block + Q_ABS_DELAY, 0);
        Ok(())
    }

    /// Enables transmission; per-queue TX setup is done before.
    fn start_tx(&self, r: &dyn Registers) {
        r.write(TIPG, TIPG_COPPER);
        r.write(TCTL, TCTL_EN | TCTL_PSP | TCTL_CT_DEFAULT | TCTL_COLD_FD);
    }

    /// Per-queue TX setup after the ring registers are written.
    fn enable_tx_queue(&self, _r: &dyn Registers, _q: u16) -> Result<()> {
        Ok(())
    }

    /// Stops transmit queue `q` so that its ring can be rewritten (TX hang
    /// recovery) and returns whether the queue is known to be idle: the
    /// device will fetch no descriptor and read no buffer of the ring any
    /// more. The 8254x and 82574L have one transmit enable, TCTL.EN, and no
    /// bit that says the transmit DMA stopped (SDM §13.4.33): the queue
    /// counts as idle only once its head has caught up with its tail
    /// within [`TX_STOP_TIMEOUT_MS`], that is when nothing posted is left
    /// to fetch. A hung queue never gets there; its ring is then given up
    /// (see `TxRing::reset`).
    fn stop_tx_queue(&self, r: &dyn Registers, q: u16) -> bool {
        r.clear_bits(TCTL, TCTL_EN);
        let block = self.tx_queue(q);
        let tail = r.read(block + Q_TAIL);
        r.wait_for(block + Q_HEAD, TX_STOP_TIMEOUT_MS, &|head| head == tail)
            .is_some()
    }

    /// Starts transmit queue `q` again after [`Family::stop_tx_queue`] and a
    /// fresh ring: per-queue setup, then TCTL.EN.
    fn restart_tx_queue(&self, r: &dyn Registers, q: u16) -> Result<()> {
        self.enable_tx_queue(r, q)?;
        r.set_bits(TCTL, TCTL_EN);
        Ok(())
    }

    /// Routes causes to vectors and unmasks them for `mode` (not poll).
    /// `itr` is the minimum interval between interrupts in 256 ns units
    /// (ITR is a 16-bit field, SDM §13.4.18).
    /// With several queues (MSI-X), RX queue `q` signals vector `rx_queue0 + q`.
    fn enable_irqs(&self, r: &dyn Registers, mode: IrqMode, itr: u16, queues: u16) -> VectorPlan {
        let _ = (mode, queues);
        enable_single_vector(r, itr)
    }

    /// Changes the minimum interval between interrupts of `vector` (the
    /// one vector in INTx/MSI mode) to `itr` × 256 ns, as
    /// [`Family::enable_irqs`] set it: ITR (SDM §13.4.18) by default.
    fn set_irq_interval(&self, r: &dyn Registers, mode: IrqMode, vector: u32, itr: u16) {
        let _ = (mode, vector);
        r.write(ITR, itr as u32);
    }

    /// Acknowledges an interrupt that woke us (INTx/MSI: read and clear
    /// ICR; MSI-X: `link_vector` says whether it was the "other" causes'
    /// vector); returns true if it signalled a link change.
    fn ack(&self, r: &dyn Registers, mode: IrqMode, link_vector: bool) -> bool {
        let _ = (mode, link_vector);
        ack_icr(r)
    }

    /// Masks (`masked`) or unmasks the causes that raise RX queue `q`'s
    /// interrupt (`vector` in MSI-X mode), leaving the link's alone: while
    /// a thread busy-polls the ring, an interrupt is only cost (NAPI masks
    /// the same way). By default the receive causes of the one vector of
    /// INTx/MSI mode ([`SINGLE_VECTOR_RX_CAUSES`]), which only a NIC with
    /// one queue may mask: they are every queue's. Their ICR bits cannot
    /// be cleared alone (reading ICR clears the link's too), so a cause
    /// raised while masked interrupts once more when unmasked.
    fn mask_rx_irq(&self, r: &dyn Registers, mode: IrqMode, q: u16, vector: u32, masked: bool) {
        let _ = (mode, q, vector);
        mask_single_vector_rx(r, masked);
    }

    /// Masks every interrupt cause.
    fn disable_irqs(&self, r: &dyn Registers) {
        r.write(IMC, u32::MAX);
    }

    /// Link state from STATUS.
    fn link(&self, r: &dyn Registers) -> LinkStatus {
        status_link(r)
    }

    /// Whether another driver can reset this function under us and the
    /// rings must then be armed again (a virtual function, when its PF's
    /// driver resets the device): the queues then look for their lost
    /// registers on their slow path. A function with its own reset only
    /// (a PF) answers false.
    fn rearms_after_pf_reset(&self) -> bool {
        false
    }

    /// Adds the clear-on-read statistics registers into `s`.
    fn read_stats(&self, r: &dyn Registers, s: &mut Stats) {
        use super::regs::stats::*;
        let wide = |lo: u32| r.read(lo) as u64 | (r.read(lo + 4) as u64) << 32;
        s.rx_packets += r.read(GPRC) as u64;
        s.tx_packets += r.read(GPTC) as u64;
        s.rx_bytes += wide(GORCL);
        s.tx_bytes += wide(GOTCL);
        s.rx_missed += r.read(MPC) as u64;
        s.rx_no_buffer += r.read(RNBC) as u64;
        s.rx_crc_errors += r.read(CRCERRS) as u64;
        s.rx_undersize += r.read(RUC) as u64;
        s.rx_oversize += r.read(ROC) as u64;
        s.rx_broadcast += r.read(BPRC) as u64;
        s.rx_multicast += r.read(MPRC) as u64;
    }

    /// Family-specific registers shown in `e1000 info` after [`BASE_REGISTERS`].
    fn extra_registers(&self) -> &'static [(&'static str, u32)] {
        &[]
    }
}

/// Link state from STATUS (speed in bits 7:6, LU, FD).
pub(crate) fn status_link(r: &dyn Registers) -> LinkStatus {
    let status = r.read(STATUS);
    let speed = match (status >> STATUS_SPEED_SHIFT) & 3 {
        0 => 10,
        1 => 100,
        _ => 1000,
    };
    LinkStatus {
        up: status & STATUS_LU != 0,
        speed_mbps: speed,
        full_duplex: status & STATUS_FD != 0,
    }
}

/// Sets CTRL.RST and waits for it to clear (SDM §13.4.1; 82576 §8.2.1).
pub(crate) fn mac_reset(r: &dyn Registers) -> Result<()> {
    r.write(CTRL, r.read(CTRL) | CTRL_RST);
    std::thread::sleep(Duration::from_millis(10));
    r.wait_for(CTRL, 500, &|v| v & CTRL_RST == 0)
        .ok_or(Error::DeviceTimeout("the MAC reset"))?;
    Ok(())
}

/// Reads EEPROM word `addr` through the PCIe parts' EERD layout: START bit 0,
/// DONE bit 1, address << 2, data << 16 (82574 §10.2.2.4; the 82576 has the same).
pub(crate) fn eeprom_read_pcie(r: &dyn Registers, addr: u16) -> Result<u16> {
    r.write(EERD, 1 | ((addr as u32) << 2));
    let v = r
        .wait_for(EERD, 100, &|v| v & (1 << 1) != 0)
        .ok_or(Error::DeviceTimeout("an EEPROM read"))?;
    Ok((v >> 16) as u16)
}

/// The 8254x link/MAC setup: link up, full duplex, no flow control, empty
/// multicast table, statistics cleared.
pub(crate) fn base_init(r: &dyn Registers) {
    let ctrl = r.read(CTRL) & !(CTRL_LRST | CTRL_PHY_RST | CTRL_ILOS | CTRL_FRCSPD | CTRL_FRCDPLX);
    r.write(
        CTRL,
        (ctrl | CTRL_SLU | CTRL_ASDE | CTRL_FD) & !(CTRL_RFCE | CTRL_TFCE | CTRL_VME),
    );
    for reg in [FCAL, FCAH, FCT, FCTTV] {
        r.write(reg, 0);
    }
    for i in 0..128 {
        r.write(MTA + 4 * i, 0);
    }
    clear_stats(r);
}

/// The receive causes of the one vector of INTx/MSI mode: a descriptor
/// written back (RXT0, the 82576's RXDW), the ring running low, an overrun.
pub(crate) const SINGLE_VECTOR_RX_CAUSES: u32 = INT_RXT0 | INT_RXDMT0 | INT_RXO;

/// Masks or unmasks [`SINGLE_VECTOR_RX_CAUSES`] ([`Family::mask_rx_irq`]).
pub(crate) fn mask_single_vector_rx(r: &dyn Registers, masked: bool) {
    r.write(if masked { IMC } else { IMS }, SINGLE_VECTOR_RX_CAUSES);
}

/// One vector for everything (INTx or MSI): throttle with ITR, unmask the
/// receive, overrun and link causes.
pub(crate) fn enable_single_vector(r: &dyn Registers, itr: u16) -> VectorPlan {
    r.write(ITR, itr as u32);
    r.write(IMS, SINGLE_VECTOR_RX_CAUSES | INT_LSC);
    VectorPlan::SINGLE
}

/// Reads ICR and writes the bits back to clear them (QEMU's 82574 model
/// clears ICR on read only in some modes); true if the link changed.
pub(crate) fn ack_icr(r: &dyn Registers) -> bool {
    let icr = r.read(ICR);
    r.write(ICR, icr);
    icr & INT_LSC != 0
}

/// Registers every family has, shown first by `e1000 info`: (name, offset).
pub(crate) const BASE_REGISTERS: &[(&str, u32)] = &[
    ("CTRL", CTRL),
    ("STATUS", STATUS),
    ("CTRL_EXT", CTRL_EXT),
    ("RCTL", RCTL),
    ("TCTL", TCTL),
    ("IMS", IMS),
];

/// Masks interrupts, stops RX and TX, clears pending causes.
pub(crate) fn quiesce(r: &dyn Registers) {
    r.write(IMC, u32::MAX);
    r.write(RCTL, 0);
    r.write(TCTL, TCTL_PSP);
    r.read(STATUS); // flush posted writes
    std::thread::sleep(Duration::from_millis(10));
    let icr = r.read(ICR);
    r.write(ICR, icr);
}

/// Reads (and so clears) every statistics register.
pub(crate) fn clear_stats(r: &dyn Registers) {
    for reg in (regs::stats::CRCERRS..regs::stats::END).step_by(4) {
        r.read(reg);
    }
}

/// RCTL for our use: enabled, broadcast, CRC stripped, multicast offset 00
/// (the MTA hashes address bits 47:36); the buffer size of `mode`, long
/// packets if it asks for them, unicast and multicast promiscuous if asked.
pub(crate) fn rctl_value(mode: RxMode) -> u32 {
    let promisc = if mode.promiscuous {
        RCTL_UPE | RCTL_MPE
    } else {
        0
    };
    let lpe = if mode.long_packets() { RCTL_LPE } else { 0 };
    let vfe = if mode.vlan_filter { RCTL_VFE } else { 0 };
    let size = match mode.buffer_size {
        16384 => RCTL_BSEX | 0b01 << RCTL_BSIZE_SHIFT,
        8192 => RCTL_BSEX | 0b10 << RCTL_BSIZE_SHIFT,
        4096 => RCTL_BSEX | 0b11 << RCTL_BSIZE_SHIFT,
        _ => 0, // 2048: BSIZE 00 without BSEX
    };
    RCTL_EN | promisc | lpe | vfe | size | RCTL_BAM | RCTL_SECRC | RCTL_RDMTS_HALF
}

/// Writes PHY register `reg` through MDIC (SDM §13.4.7).
pub(crate) fn phy_write(r: &dyn Registers, reg: u32, value: u16) -> Result<()> {
    r.write(
        MDIC,
        value as u32 | reg << MDIC_REG_SHIFT | PHY_ADDR << MDIC_PHY_SHIFT | MDIC_OP_WRITE,
    );
    let v = r
        .wait_for(MDIC, 100, &|v| v & MDIC_READY != 0)
        .ok_or(Error::DeviceTimeout("a PHY write"))?;
    if v & MDIC_ERROR != 0 {
        return Err(Error::DeviceTimeout("a PHY write (MDIC error)"));
    }
    Ok(())
}

/// Reads PHY register `reg` through MDIC.
pub(crate) fn phy_read(r: &dyn Registers, reg: u32) -> Result<u16> {
    r.write(
        MDIC,
        reg << MDIC_REG_SHIFT | PHY_ADDR << MDIC_PHY_SHIFT | MDIC_OP_READ,
    );
    let v = r
        .wait_for(MDIC, 100, &|v| v & MDIC_READY != 0)
        .ok_or(Error::DeviceTimeout("a PHY read"))?;
    if v & MDIC_ERROR != 0 {
        return Err(Error::DeviceTimeout("a PHY read (MDIC error)"));
    }
    Ok(v as u16)
}
