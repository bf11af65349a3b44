//! Bringing a NIC up, as named steps that [`Nic::open`](crate::Nic::open)
//! runs in order:
//!
//! 1. [`claim`]: VFIO device, configuration space, BAR0; no register written yet.
//! 2. [`reset`]: the family's reset from whatever state the NIC was left in,
//!    then bus mastering on.
//! 3. [`init`]: link and MAC setup, the MAC address, the IEEE 1588 clock.
//! 4. [`arm_queue`], per queue: pool, RX ring full of buffers, TX ring.
//! 5. RSS over the queues (the family's `enable_rss`).
//! 6. [`start`]: transmit, then receive.
//! 7. Interrupts ([`choose_irq_mode`], the family's `enable_irqs`, VFIO eventfds).
//!
//! From step 2 on the hardware belongs to the `Nic` under construction,
//! whose `Drop` stops and resets it before any DMA memory goes, so a failure
//! (or a panic) half-way leaves nothing running. Steps 2 to 6 use only
//! registers and DMA memory: the tests run them against the software NIC.

use super::config::Config;
use super::queue_state::QueueState;
use super::vectors::QueueVectors;
use crate::datapath::mempool::PoolRef;
use crate::datapath::program_ring;
use crate::datapath::rx::RxRing;
use crate::datapath::tx::TxRing;
use crate::error::{Error, Result};
use crate::hw::desc::{RxFormat, DESC_SIZE};
use crate::hw::devices::{self, DeviceEntry};
use crate::hw::family::{Family, RxMode};
use crate::hw::irq::IrqMode;
use crate::hw::ptp;
use crate::hw::regs;
use crate::sys::dma::{arena_bytes, DmaMemory};
use crate::sys::mmio::{Mmio, Registers};
use crate::sys::pci::{self, PciAddress};
use crate::sys::vfio::{Device, IrqIndex, VFIO_PCI_BAR0_REGION_INDEX};
use std::time::{Duration, Instant};

/// What step 1 hands over: the device, its registers, its table entry.
pub(crate) struct Claimed {
    pub device: Device,
    pub regs: Mmio,
    pub entry: &'static DeviceEntry,
    /// The family driver for this device (the entry's, or its variant for
    /// QEMU's model of it).
    pub family: &'static dyn Family,
    /// The PCI Command register value to run with (bus mastering off).
    pub command: u16,
}

/// Step 1: checks the address and the device, opens it through VFIO, turns
/// on memory decoding (bus mastering stays off, PCI 3.0 §6.2.2: a NIC left
/// running by a killed process still points at that process's rings, so it
/// must not DMA before it is reset) and maps BAR0.
pub(crate) fn claim(pci: &str) -> Result<Claimed> {
    let address = PciAddress::parse(pci)?;
    let (vendor, device_id) = address.ids()?;
    let entry = devices::lookup(vendor, device_id).ok_or_else(|| Error::Unsupported {
        pci: address.to_string(),
        vendor,
        device: device_id,
    })?;
    let family = devices::family_for(entry, address.subsystem_ids()?);
    let device = Device::open(&address)?;
    let cmd = device.config_read16(pci::CFG_COMMAND)?;
    let command = (cmd | pci::CMD_MEMORY) & !(pci::CMD_INTX_DISABLE | pci::CMD_BUS_MASTER);
    device.config_write16(pci::CFG_COMMAND, command)?;
    let regs = device.map_bar(VFIO_PCI_BAR0_REGION_INDEX)?;
    if regs.read(regs::STATUS) == u32::MAX {
        return Err(Error::DeviceGone);
    }
    Ok(Claimed {
        device,
        regs,
        entry,
        family,
        command,
    })
}

/// Checks the queue count against what the family drives.
pub(crate) fn check_queues(family: &dyn Family, queues: u16) -> Result<()> {
    let max = family.max_queues();
    if queues == 0 || queues > max {
        let supported = match max {
            1 => "one queue (no RSS)".to_string(),
            _ => format!("1 to {max} queues (RSS)"),
        };
        return Err(Error::InvalidConfig(format!(
            "{queues} queues: the {} family supports {supported}",
            family.name(),
        )));
    }
    Ok(())
}

/// Step 2: stops interrupts and DMA and resets the MAC, from any prior state.
pub(crate) fn reset(r: &dyn Registers, family: &dyn Family) -> Result<()> {
    family.reset(r)
}

/// Step 3: link and MAC setup, then the address filter (the NIC's MAC
/// address or the configured one, extra unicast addresses, multicast
/// groups); returns the MAC address in use.
pub(crate) fn init(r: &dyn Registers, family: &dyn Family, config: &Config) -> Result<[u8; 6]> {
    family.init(r)?;
    let assigned = family.mac_address(r)?;
    let mut filter = config.filter(assigned);
    if assigned == [0; 6] && config.mac.is_none() {
        filter.mac = random_local_mac();
        filter.mac_assigned = false;
    }
    family.program_filters(r, &filter)?;
    family.program_offloads(r, &config.offloads())?;
    if let Some(increment) = family.clock_increment() {
        ptp::start_clock(r, increment);
    }
    if let Some(first_byte) = config.timestamps {
        if !family.capabilities().timestamps {
            return Err(Error::InvalidConfig(format!(
                "IEEE 1588 timestamps: the {} family has none here",
                family.name()
            )));
        }
        ptp::enable_timestamps(r, first_byte);
    }
    if config.header_split && !family.capabilities().header_split {
        return Err(Error::InvalidConfig(format!(
            "header split: the {} family has none here",
            family.name()
        )));
    }
    Ok(filter.mac)
}

/// The DMA memory `config` needs, in all queues: per queue a pool and two
/// rings, each page-aligned (what [`arm_queue`] takes from an arena of
/// this size; the hugepage rounding comes on top, once).
pub(crate) fn dma_bytes(config: &Config) -> usize {
    let per_queue = arena_bytes([
        config.pool_size * config.rx_mode().buffer_size,
        config.rx_ring * DESC_SIZE,
        config.tx_ring * DESC_SIZE,
    ]);
    per_queue * config.queues as usize
}

/// Step 4, for queue `q`: a pool, an RX ring full of its buffers handed to
/// the NIC, an empty TX ring.
pub(crate) fn arm_queue(
    r: &dyn Registers,
    family: &dyn Family,
    dma: &DmaMemory,
    config: &Config,
    q: u16,
) -> Result<QueueState> {
    let mode = config.rx_mode();
    let pool = PoolRef::new(dma, config.pool_size, mode.buffer_size)?;
    let format = if mode.header_split {
        RxFormat::AdvancedSplit
    } else {
        family.rx_format()
    };
    let rx = RxRing::new(dma, format, config.rx_ring, &pool, family.rx_queue(q))?;
    let tx = TxRing::new(
        dma,
        family.tx_format(),
        config.tx_ring,
        family.tx_queue(q),
        config.vlan_strip,
        mode.max_frame,
        family.capabilities(),
    )?;
    program_queue(r, family, &rx, &tx, q, mode)?;
    Ok(QueueState {
        rx,
        tx,
        vectors: QueueVectors::default(),
        polls: 0,
        presence_checked: Instant::now(),
        busy_poll: Duration::from_micros(config.busy_poll_us as u64),
        slept_idle: false,
        irq_vector: None,
        masks_rx_irq: false,
        rx_irq_masked: false,
        moderation: None,
        hang_timeout: config.tx_hang_timeout,
        rearmed: 0,
        undrained: 0,
    })
}

/// Hands queue `q`'s rings to the NIC: base, length, head and tail, the
/// queue enables, every RX descriptor but one.
pub(crate) fn program_queue(
    r: &dyn Registers,
    family: &dyn Family,
    rx: &RxRing,
    tx: &TxRing,
    q: u16,
    mode: RxMode,
) -> Result<()> {
    program_ring(r, rx.block(), rx.iova(), rx.len());
    family.enable_rx_queue(r, q, mode)?;
    rx.post_all(r);
    program_ring(r, tx.block(), tx.iova(), tx.len());
    family.enable_tx_queue(r, q)
}

/// Arms queue `q` again after the NIC lost its registers (a reset by the
/// function's PF): the TX ring emptied (frames in flight lost), the RX ring
/// re-armed whole (frames not taken lost), both handed to the NIC again
/// and the transmitter restarted.
pub(crate) fn rearm_queue(
    r: &dyn Registers,
    family: &dyn Family,
    state: &mut QueueState,
    q: u16,
    mode: RxMode,
) -> Result<()> {
    state.tx.abandon(r, family, q)?;
    state.rx.rearm();
    program_queue(r, family, &state.rx, &state.tx, q, mode)?;
    family.restart_tx_queue(r, q)
}

/// Step 6: transmit on, then receive (once: the 8254x holds reception for a
/// second after every RCTL write), promiscuous if configured.
pub(crate) fn start(r: &dyn Registers, family: &dyn Family, config: &Config) {
    family.start_tx(r);
    family.start_rx(r, config.queues, config.rx_mode());
}

/// A random locally administered unicast address (IEEE 802 §8.4: bit 1
/// of the first byte set, bit 0 clear), for a virtual function whose PF
/// assigned none, as Linux's igbvf chooses one. The randomness is the
/// standard library's per-process hash keys.
fn random_local_mac() -> [u8; 6] {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos()),
    );
    let bytes = h.finish().to_le_bytes();
    let mut mac = [0u8; 6];
    mac.copy_from_slice(&bytes[..6]);
    mac[0] = (mac[0] & !0x01) | 0x02;
    mac
}

/// The VFIO interrupt index of a mode.
pub(crate) fn irq_index(mode: IrqMode) -> Option<IrqIndex> {
    match mode {
        IrqMode::Poll => None,
        IrqMode::Intx => Some(IrqIndex::Intx),
        IrqMode::Msi => Some(IrqIndex::Msi),
        IrqMode::Msix => Some(IrqIndex::Msix),
    }
}

/// Step 7's choice: the requested mode if the device offers it, else the
/// family's best offered one. Several queues need MSI-X or poll mode.
pub(crate) fn choose_irq_mode(
    device: &Device,
    family: &dyn Family,
    wanted: Option<IrqMode>,
    queues: u16,
) -> Result<IrqMode> {
    let offered = |mode: IrqMode| -> bool {
        let needed = match mode {
            IrqMode::Poll => return true,
            IrqMode::Msix => family.msix_vectors(queues).max(1),
            _ if queues > 1 => return false,
            _ => 1,
        };
        family.irq_modes().contains(&mode)
            && irq_index(mode).is_some_and(|i| {
                device
                    .irq_info(i)
                    .is_ok_and(|info| info.eventfd && info.count >= needed)
            })
    };
    match wanted {
        Some(mode) if offered(mode) => Ok(mode),
        Some(mode) => Err(Error::IrqModeUnavailable {
            pci: device.address.to_string(),
            mode: if queues > 1 {
                format!("{mode} (with {queues} queues, which need one vector each)")
            } else {
                mode.to_string()
            },
            available: family
                .irq_modes()
                .iter()
                .filter(|m| offered(**m))
                .map(|m| m.to_string())
                .collect(),
        }),
        None => Ok(family
            .irq_modes()
            .iter()
            .copied()
            .find(|m| offered(*m))
            .unwrap_or(IrqMode::Poll)),
    }
}
