//! [`Nic`]: one controller opened through VFIO, reset, initialised, with its
//! rings armed; the batched data path; interrupts; statistics; teardown.

use crate::dma::IovaPolicy;
use crate::error::{Error, Result};
use crate::family::{regs, DeviceEntry, Family, VectorPlan};
use crate::irq::{self, Eventfds, IrqMode};
use crate::mempool::{Mempool, Packet};
use crate::mmio::Mmio;
use crate::pci::{self, PciAddress};
use crate::ring::{check_ring_size, RxRing, TxRing};
use crate::vfio::{Device, IrqIndex, VFIO_PCI_BAR0_REGION_INDEX};
use std::os::fd::RawFd;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How to bring a NIC up. `Config::default()` suits most uses.
#[derive(Debug, Clone)]
pub struct Config {
    /// Interrupt mode; `None` picks the best the device offers (MSI-X > MSI > INTx).
    pub irq: Option<IrqMode>,
    /// Receive descriptors per queue (multiple of 8).
    pub rx_ring: usize,
    /// Transmit descriptors per queue (multiple of 8).
    pub tx_ring: usize,
    /// Packet buffers in the mempool; at least `rx_ring` + some for TX.
    pub pool_size: usize,
    /// Minimum interval between interrupts, in µs (interrupt moderation).
    pub irq_interval_us: u32,
    /// How IOVAs are chosen.
    pub iova: IovaPolicy,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            irq: None,
            rx_ring: 512,
            tx_ring: 512,
            pool_size: 2048,
            irq_interval_us: 128,
            iova: IovaPolicy::Allocated,
        }
    }
}

/// Link state as the MAC reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LinkStatus {
    /// Link is up.
    pub up: bool,
    /// 10, 100 or 1000.
    pub speed_mbps: u32,
    /// Full duplex.
    pub full_duplex: bool,
}

impl std::fmt::Display for LinkStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.up {
            write!(
                f,
                "up {} Mb/s {} duplex",
                self.speed_mbps,
                if self.full_duplex { "full" } else { "half" }
            )
        } else {
            write!(f, "down")
        }
    }
}

/// Counters: the NIC's own (clear-on-read registers, accumulated) and the driver's.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stats {
    /// Good frames received (GPRC).
    pub rx_packets: u64,
    /// Good octets received (GORC).
    pub rx_bytes: u64,
    /// Good frames transmitted (GPTC).
    pub tx_packets: u64,
    /// Good octets transmitted (GOTC).
    pub tx_bytes: u64,
    /// Frames missed for lack of FIFO space (MPC).
    pub rx_missed: u64,
    /// Times a frame arrived with no free descriptor (RNBC).
    pub rx_no_buffer: u64,
    /// CRC errors (CRCERRS).
    pub rx_crc_errors: u64,
    /// Undersized frames (RUC).
    pub rx_undersize: u64,
    /// Oversized frames (ROC).
    pub rx_oversize: u64,
    /// Broadcast frames received (BPRC).
    pub rx_broadcast: u64,
    /// Multicast frames received (MPRC).
    pub rx_multicast: u64,
    /// Frames the driver dropped (errors, frames spanning buffers).
    pub rx_driver_dropped: u64,
}

/// What woke [`Nic::wait`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Wakeup {
    /// Frames may be waiting on queue 0.
    pub rx: bool,
    /// The link changed (see [`Nic::link`]).
    pub link_changed: bool,
}

/// An Intel 1GbE controller driven from user space.
///
/// Dropping it masks interrupts, stops RX/TX and resets the MAC before any
/// DMA memory is unmapped, so the device never writes into freed memory.
pub struct Nic {
    // Field order is drop order: rings and pool (DMA memory) go before the
    // device, after `Drop::drop` has stopped the hardware.
    rx: Vec<RxRing>,
    tx: Vec<TxRing>,
    pool: Arc<Mempool>,
    irqs: Option<Eventfds>,
    /// Signalled by VFIO when the kernel wants the device back.
    release: Option<Eventfds>,
    /// The interrupt vectors' eventfds, then the release request's.
    wait_fds: Vec<RawFd>,
    /// `wait` calls in poll mode, to look at the release request now and then.
    polls: u32,
    regs: Mmio,
    device: Device,
    entry: &'static DeviceEntry,
    family: &'static dyn Family,
    irq_mode: IrqMode,
    plan: VectorPlan,
    mac: [u8; 6],
    stats: Stats,
}

impl Nic {
    /// Opens the NIC at `pci` (e.g. `"0000:00:03.0"`), resets and initialises
    /// it, arms one RX and one TX ring and enables interrupts. Does not wait
    /// for the link: see [`Nic::wait_link`].
    pub fn open(pci: &str, config: &Config) -> Result<Nic> {
        let address = PciAddress::parse(pci)?;
        check_ring_size(config.rx_ring)?;
        check_ring_size(config.tx_ring)?;
        if config.pool_size < config.rx_ring + 64 {
            return Err(Error::InvalidConfig(format!(
                "pool of {} buffers is too small for an RX ring of {}",
                config.pool_size, config.rx_ring
            )));
        }
        let device = Device::open(&address)?;
        let (vendor, device_id) = address.ids()?;
        let entry = crate::family::lookup(vendor, device_id).expect("checked by Device::open");
        let family = entry.family;
        let irq_mode = choose_irq_mode(&device, family, config.irq)?;

        // Memory space on, INTx allowed, bus mastering still off (PCI 3.0
        // §6.2.2): a NIC left running by a killed process still points at
        // that process's rings, so it must not DMA before it is reset.
        let cmd = device.config_read16(pci::CFG_COMMAND)?;
        let cmd = (cmd | pci::CMD_MEMORY) & !(pci::CMD_INTX_DISABLE | pci::CMD_BUS_MASTER);
        device.config_write16(pci::CFG_COMMAND, cmd)?;
        let regs = device.map_bar(VFIO_PCI_BAR0_REGION_INDEX)?;
        if regs.read(regs::STATUS) == u32::MAX {
            return Err(Error::DeviceGone);
        }

        family.reset(&regs)?;
        device.config_write16(pci::CFG_COMMAND, cmd | pci::CMD_BUS_MASTER)?;
        family.init(&regs)?;
        let mac = read_mac(family, &regs)?;

        // DMA memory: the pool, then the rings.
        let container = device.container();
        let pool = Mempool::new(container, config.pool_size, config.iova)?;
        let rxq = family.rx_queue(0);
        let txq = family.tx_queue(0);
        let rx = RxRing::new(
            container,
            family.rx_format(),
            config.rx_ring,
            &pool,
            rxq + regs::Q_TAIL,
            config.iova,
        )?;
        let tx = TxRing::new(
            container,
            family.tx_format(),
            config.tx_ring,
            txq + regs::Q_TAIL,
            config.iova,
        )?;

        program_ring(&regs, rxq, rx.iova(), rx.bytes());
        family.enable_rx_queue(&regs, 0)?;
        regs.write(rxq + regs::Q_TAIL, rx.initial_tail());
        program_ring(&regs, txq, tx.iova(), tx.bytes());
        family.enable_tx_queue(&regs, 0)?;
        family.start_tx(&regs);
        family.start_rx(&regs, 1);

        // Interrupts last, once the rings can take what they announce.
        let itr = (config.irq_interval_us * 1000).div_ceil(256);
        let (irqs, plan) = if irq_mode == IrqMode::Poll {
            (
                None,
                VectorPlan {
                    count: 0,
                    rx_queue0: 0,
                    other: 0,
                },
            )
        } else {
            let plan = family.enable_irqs(&regs, irq_mode, itr);
            let index = irq_mode.index().expect("not poll");
            (Some(Eventfds::enable(&device, index, plan.count)?), plan)
        };
        // The kernel's "please release this device" (hot-unplug, unbind).
        let release = match device.irq_info(IrqIndex::Req) {
            Ok(info) if info.eventfd && info.count > 0 => {
                Some(Eventfds::enable(&device, IrqIndex::Req, 1)?)
            }
            _ => None,
        };
        let mut wait_fds = irqs.as_ref().map(|i| i.raw()).unwrap_or_default();
        wait_fds.extend(release.as_ref().map(|r| r.raw()).unwrap_or_default());

        let mut nic = Nic {
            rx: vec![rx],
            tx: vec![tx],
            pool,
            irqs,
            release,
            wait_fds,
            polls: 0,
            regs,
            device,
            entry,
            family,
            irq_mode,
            plan,
            mac,
            stats: Stats::default(),
        };
        nic.stats = Stats::default();
        Ok(nic)
    }

    /// Waits up to `timeout` for the link to come up.
    pub fn wait_link(&self, timeout: Duration) -> Result<LinkStatus> {
        let start = Instant::now();
        loop {
            let link = self.link()?;
            if link.up {
                return Ok(link);
            }
            if start.elapsed() >= timeout {
                return Err(Error::LinkDown {
                    pci: self.pci(),
                    waited_ms: timeout.as_millis() as u64,
                });
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Current link state; [`Error::DeviceGone`] if the device stopped answering.
    pub fn link(&self) -> Result<LinkStatus> {
        if self.regs.read(regs::STATUS) == u32::MAX {
            return Err(Error::DeviceGone);
        }
        Ok(self.family.link(&self.regs))
    }

    /// Receives up to `max` frames from `queue` into `out` (appended);
    /// returns how many. No register read; one tail write if any arrived.
    pub fn rx_batch(&mut self, queue: u16, out: &mut Vec<Packet>, max: usize) -> usize {
        let ring = &mut self.rx[queue as usize];
        let n = ring.rx_batch(&self.regs, out, max);
        self.stats.rx_driver_dropped = ring.dropped;
        n
    }

    /// Sends packets from the front of `pkts` on `queue`, as many as the ring
    /// has room for; they leave `pkts`. One tail write per call.
    pub fn tx_batch(&mut self, queue: u16, pkts: &mut Vec<Packet>) -> usize {
        self.tx[queue as usize].tx_batch(&self.regs, pkts)
    }

    /// Waits until the NIC has completed every queued transmission, or `timeout`.
    /// Returns whether everything completed.
    pub fn tx_flush(&mut self, queue: u16, timeout: Duration) -> bool {
        let start = Instant::now();
        let ring = &mut self.tx[queue as usize];
        loop {
            ring.reclaim();
            if ring.in_flight() == 0 {
                return true;
            }
            if start.elapsed() > timeout {
                return false;
            }
            std::thread::sleep(Duration::from_micros(50));
        }
    }

    /// Takes an empty packet buffer of `len` bytes from the NIC's pool.
    pub fn alloc(&self, len: usize) -> Option<Packet> {
        self.pool.alloc(len)
    }

    /// The NIC's packet pool.
    pub fn pool(&self) -> &Arc<Mempool> {
        &self.pool
    }

    /// Sleeps until an interrupt (or `timeout`), acknowledges it and reports
    /// what happened. In poll mode it returns at once with `rx: true`.
    /// A signal (e.g. SIGINT) ends the wait early with an empty [`Wakeup`].
    /// [`Error::RemovalRequested`] means the kernel wants the device back
    /// (hot-unplug): drop the `Nic` promptly.
    pub fn wait(&mut self, timeout: Duration) -> Result<Wakeup> {
        if self.irqs.is_none() {
            self.polls = self.polls.wrapping_add(1);
            if self.polls.is_multiple_of(1024)
                && self.release.as_ref().is_some_and(|r| irq::take(r.raw()[0]))
            {
                return Err(Error::RemovalRequested { pci: self.pci() });
            }
            return Ok(Wakeup {
                rx: true,
                link_changed: false,
            });
        }
        if self.rx[0].pending() {
            return Ok(Wakeup {
                rx: true,
                link_changed: false,
            });
        }
        let fired = irq::wait_any(
            &self.wait_fds,
            timeout.as_millis().min(i32::MAX as u128) as i32,
        )?;
        if self.release.is_some() && fired & (1 << (self.wait_fds.len() - 1)) != 0 {
            return Err(Error::RemovalRequested { pci: self.pci() });
        }
        let mut wake = Wakeup::default();
        for vector in (0..self.plan.count).filter(|v| fired & (1 << v) != 0) {
            if self.family.ack(&self.regs, self.irq_mode, vector)
                || vector == self.plan.other && self.irq_mode == IrqMode::Msix
            {
                wake.link_changed = true;
            }
            wake.rx |= vector == self.plan.rx_queue0 || self.plan.count == 1;
            self.family.rearm(&self.regs, self.irq_mode, vector);
        }
        if fired != 0 && self.irq_mode == IrqMode::Intx {
            self.device.unmask_intx()?;
        }
        // A removed device stops interrupting: look for it only when a wait
        // times out, so the interrupt path itself reads no register.
        if fired == 0 && self.regs.read(regs::STATUS) == u32::MAX {
            return Err(Error::DeviceGone);
        }
        Ok(wake)
    }

    /// The interrupt eventfds, one per vector (empty in poll mode), for
    /// registering with an async runtime; then call [`Nic::wait`] with a zero
    /// timeout when one is readable.
    pub fn irq_fds(&self) -> Vec<RawFd> {
        self.irqs.as_ref().map(|i| i.raw()).unwrap_or_default()
    }

    /// Reads the NIC's statistics registers and returns the totals since open.
    pub fn stats(&mut self) -> Stats {
        self.family.read_stats(&self.regs, &mut self.stats);
        self.stats
    }

    /// The MAC address.
    pub fn mac(&self) -> [u8; 6] {
        self.mac
    }

    /// The PCI address, `0000:00:03.0` style.
    pub fn pci(&self) -> String {
        self.device.address.to_string()
    }

    /// The controller's table entry (name, family, test status).
    pub fn entry(&self) -> &'static DeviceEntry {
        self.entry
    }

    /// The interrupt mode in use.
    pub fn irq_mode(&self) -> IrqMode {
        self.irq_mode
    }

    /// Number of RX/TX queue pairs in use.
    pub fn queues(&self) -> u16 {
        self.rx.len() as u16
    }

    /// Whether the packet buffers are in 2 MiB hugepages.
    pub fn hugepages(&self) -> bool {
        self.pool.hugepages()
    }

    /// The VFIO device (regions, interrupts, configuration space).
    pub fn device(&self) -> &Device {
        &self.device
    }

    /// The family's key registers with their current values, for diagnostics.
    pub fn key_registers(&self) -> Vec<(&'static str, u32, u32)> {
        let all = crate::family::BASE_REGISTERS
            .iter()
            .chain(self.family.extra_registers());
        all.map(|&(name, off)| (name, off, self.regs.read(off)))
            .collect()
    }
}

impl Drop for Nic {
    fn drop(&mut self) {
        // Stop the device before its DMA memory goes: interrupts off, RX and
        // TX off, MAC reset, bus mastering off; then VFIO interrupts off.
        if self.regs.read(regs::STATUS) != u32::MAX {
            self.family.disable_irqs(&self.regs);
            let _ = self.family.reset(&self.regs);
        }
        if let Ok(cmd) = self.device.config_read16(pci::CFG_COMMAND) {
            let _ = self
                .device
                .config_write16(pci::CFG_COMMAND, cmd & !pci::CMD_BUS_MASTER);
        }
        if let Some(index) = self.irq_mode.index() {
            let _ = self.device.disable_irqs(index);
        }
        if self.release.is_some() {
            let _ = self.device.disable_irqs(IrqIndex::Req);
        }
    }
}

/// Writes a ring's base, length, head and tail (tail = head = 0: empty).
fn program_ring(r: &Mmio, block: u32, iova: u64, bytes: u32) {
    r.write(block + regs::Q_BAL, iova as u32);
    r.write(block + regs::Q_BAH, (iova >> 32) as u32);
    r.write(block + regs::Q_LEN, bytes);
    r.write(block + regs::Q_HEAD, 0);
    r.write(block + regs::Q_TAIL, 0);
}

/// The MAC address from receive-address entry 0, else from the EEPROM; then
/// written back to entry 0 as valid.
fn read_mac(family: &dyn Family, r: &Mmio) -> Result<[u8; 6]> {
    let (lo, hi) = (r.read(regs::RAL0), r.read(regs::RAH0));
    let mut mac = [
        lo as u8,
        (lo >> 8) as u8,
        (lo >> 16) as u8,
        (lo >> 24) as u8,
        hi as u8,
        (hi >> 8) as u8,
    ];
    if hi & regs::RAH_AV == 0 || mac == [0; 6] {
        for w in 0..3u16 {
            let word = family.eeprom_read(r, w)?;
            mac[2 * w as usize] = word as u8;
            mac[2 * w as usize + 1] = (word >> 8) as u8;
        }
    }
    r.write(
        regs::RAL0,
        u32::from_le_bytes([mac[0], mac[1], mac[2], mac[3]]),
    );
    r.write(
        regs::RAH0,
        u16::from_le_bytes([mac[4], mac[5]]) as u32 | regs::RAH_AV,
    );
    Ok(mac)
}

/// The requested mode if the device offers it, else the family's best offered one.
fn choose_irq_mode(
    device: &Device,
    family: &dyn Family,
    wanted: Option<IrqMode>,
) -> Result<IrqMode> {
    let offered = |mode: IrqMode| -> bool {
        let needed = match mode {
            IrqMode::Poll => return true,
            IrqMode::Msix => family.msix_vectors().max(1),
            _ => 1,
        };
        family.irq_modes().contains(&mode)
            && mode.index().is_some_and(|i| {
                device
                    .irq_info(i)
                    .is_ok_and(|info| info.eventfd && info.count >= needed)
            })
    };
    match wanted {
        Some(mode) if offered(mode) => Ok(mode),
        Some(mode) => {
            let available: Vec<String> = family
                .irq_modes()
                .iter()
                .filter(|m| offered(**m))
                .map(|m| m.to_string())
                .collect();
            Err(Error::InvalidConfig(format!(
                "{} does not offer {mode} interrupts here; available: {}",
                family.name(),
                available.join(", ")
            )))
        }
        None => Ok(family
            .irq_modes()
            .iter()
            .copied()
            .find(|m| offered(*m))
            .unwrap_or(IrqMode::Poll)),
    }
}

/// How many vectors of each interrupt kind VFIO offers for the device.
pub fn irq_counts(device: &Device) -> Vec<(IrqIndex, u32)> {
    [IrqIndex::Intx, IrqIndex::Msi, IrqIndex::Msix]
        .into_iter()
        .map(|i| (i, device.irq_info(i).map(|info| info.count).unwrap_or(0)))
        .collect()
}
