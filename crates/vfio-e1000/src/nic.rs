//! [`Nic`]: one controller opened through VFIO, reset, initialised, with its
//! rings armed; the batched data path; interrupts; statistics; teardown.

use crate::dma::IovaPolicy;
use crate::error::{Error, Result};
use crate::family::{regs, DeviceEntry, Family, VectorPlan};
use crate::irq::{Eventfds, IrqMode};
use crate::mempool::{Mempool, Packet};
use crate::mmio::Mmio;
use crate::pci::{self, PciAddress};
use crate::queue::{Hw, Queue, QueueState, Wakeup};
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
    /// In interrupt modes, how long [`Queue::wait`] keeps polling the ring
    /// before it sleeps on the interrupt, in µs (0: sleep at once). While
    /// frames keep coming this saves the interrupt's wake-up latency and
    /// cost; an idle queue pays this much polling per wait. The default,
    /// 500 µs, is sized for virtualised hosts, where waking a sleeping vCPU
    /// and process takes 100 µs or more.
    pub busy_poll_us: u32,
    /// How IOVAs are chosen.
    pub iova: IovaPolicy,
    /// RX/TX queue pairs (RSS spreads received flows over them); each gets
    /// its own rings, pool of `pool_size` buffers and, in MSI-X mode, vector.
    pub queues: u16,
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
            queues: 1,
            busy_poll_us: 500,
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
    /// Times the driver found a receive ring full: the NIC had no free
    /// descriptor for the next frame because software fell behind. Zero
    /// means every frame lost on the way in was lost before the NIC.
    pub rx_ring_full: u64,
    /// Times the next RX descriptor showed its DD bit before its length and
    /// the driver waited for the rest of the write-back (QEMU's 82576 model
    /// does this now and then; real hardware writes a descriptor at once).
    pub rx_early_dd: u64,
}

/// An Intel 1GbE controller driven from user space.
///
/// Dropping it masks interrupts, stops RX/TX and resets the MAC before any
/// DMA memory is unmapped, so the device never writes into freed memory.
pub struct Nic {
    // Field order is drop order: the queues (DMA memory) go before the
    // device, after `Drop::drop` has stopped the hardware.
    queues: Vec<QueueState>,
    irqs: Option<Eventfds>,
    release: Option<Eventfds>,
    hw: Hw,
    entry: &'static DeviceEntry,
    mac: [u8; 6],
    stats: Stats,
}

impl Nic {
    /// Opens the NIC at `pci` (e.g. `"0000:00:03.0"`), resets and initialises
    /// it, arms `config.queues` RX/TX queue pairs (RSS spreads flows over
    /// them) and enables interrupts. Does not wait for the link: see
    /// [`Nic::wait_link`].
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
        let queues = config.queues;
        if queues == 0 || queues > family.max_queues() {
            return Err(Error::InvalidConfig(format!(
                "{} queues: the {} family supports 1 to {}",
                queues,
                family.name(),
                family.max_queues()
            )));
        }
        let irq_mode = choose_irq_mode(&device, family, config.irq, queues)?;
        if queues > 1 && !matches!(irq_mode, IrqMode::Poll | IrqMode::Msix) {
            return Err(Error::InvalidConfig(format!(
                "{queues} queues need one interrupt vector each: use MSI-X or poll mode, not {irq_mode}"
            )));
        }

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

        // Per queue: a pool, an RX ring full of its buffers, a TX ring.
        let container = device.container();
        let mut states = Vec::with_capacity(queues as usize);
        for q in 0..queues {
            let pool = Mempool::new(container, config.pool_size, config.iova)?;
            let (rxq, txq) = (family.rx_queue(q), family.tx_queue(q));
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
            family.enable_rx_queue(&regs, q)?;
            regs.write(rxq + regs::Q_TAIL, rx.initial_tail());
            program_ring(&regs, txq, tx.iova(), tx.bytes());
            family.enable_tx_queue(&regs, q)?;
            states.push(QueueState {
                rx,
                tx,
                pool,
                wait_fds: Vec::new(),
                wait_vectors: Vec::new(),
                release: None,
                polls: 0,
                busy_poll: Duration::from_micros(config.busy_poll_us as u64),
            });
        }
        family.enable_rss(&regs, queues)?;
        family.start_tx(&regs);
        family.start_rx(&regs, queues);

        // Interrupts last, once the rings can take what they announce.
        let itr = (config.irq_interval_us * 1000).div_ceil(256);
        let (irqs, plan) = match irq_mode.index() {
            None => (
                None,
                VectorPlan {
                    count: 0,
                    rx_queue0: 0,
                    other: 0,
                },
            ),
            Some(index) => {
                let plan = family.enable_irqs(&regs, irq_mode, itr, queues);
                (Some(Eventfds::enable(&device, index, plan.count)?), plan)
            }
        };
        // The kernel's "please release this device" (hot-unplug, unbind).
        let release = match device.irq_info(IrqIndex::Req) {
            Ok(info) if info.eventfd && info.count > 0 => {
                Some(Eventfds::enable(&device, IrqIndex::Req, 1)?)
            }
            _ => None,
        };
        let vector_fds = irqs.as_ref().map(|i| i.raw()).unwrap_or_default();
        for (q, state) in states.iter_mut().enumerate() {
            // MSI-X: each queue sleeps on its RX vector, queue 0 also on the
            // link vector. INTx/MSI (one queue): the one vector.
            let mine = |v: u32| {
                irq_mode != IrqMode::Msix
                    || v == plan.rx_queue0 + q as u32
                    || q == 0 && v == plan.other
            };
            for (v, fd) in vector_fds
                .iter()
                .enumerate()
                .filter(|(v, _)| mine(*v as u32))
            {
                state.wait_fds.push(*fd);
                state.wait_vectors.push(Some(v as u32));
            }
            if q == 0 {
                state.release = release.as_ref().map(|r| r.raw()[0]);
                if let Some(fd) = state.release {
                    state.wait_fds.push(fd);
                    state.wait_vectors.push(None);
                }
            }
        }

        Ok(Nic {
            queues: states,
            irqs,
            release,
            hw: Hw {
                regs,
                device,
                family,
                irq_mode,
                plan,
            },
            entry,
            mac,
            stats: Stats::default(),
        })
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
        if self.hw.regs.read(regs::STATUS) == u32::MAX {
            return Err(Error::DeviceGone);
        }
        Ok(self.hw.family.link(&self.hw.regs))
    }

    /// Queue pair `index`, borrowed (see [`Nic::split`] for all of them at once).
    pub fn queue(&mut self, index: u16) -> Queue<'_> {
        Queue::new(index, &mut self.queues[index as usize], &self.hw)
    }

    /// Every queue pair, to drive each from its own thread (e.g. with
    /// `std::thread::scope`). The `Nic` is borrowed until they are dropped.
    pub fn split(&mut self) -> Vec<Queue<'_>> {
        let hw = &self.hw;
        self.queues
            .iter_mut()
            .enumerate()
            .map(|(i, state)| Queue::new(i as u16, state, hw))
            .collect()
    }

    /// Receives up to `max` frames from `queue` into `out` (appended);
    /// returns how many. No register read; at most one tail write (the
    /// refilled descriptors go back to the NIC in groups).
    pub fn rx_batch(&mut self, queue: u16, out: &mut Vec<Packet>, max: usize) -> usize {
        self.queue(queue).rx_batch(out, max)
    }

    /// Sends packets from the front of `pkts` on `queue`, as many as the ring
    /// has room for; they leave `pkts`. One tail write per call.
    pub fn tx_batch(&mut self, queue: u16, pkts: &mut Vec<Packet>) -> usize {
        self.queue(queue).tx_batch(pkts)
    }

    /// Waits until the NIC has completed every transmission queued on
    /// `queue`, or `timeout`. Returns whether everything completed.
    pub fn tx_flush(&mut self, queue: u16, timeout: Duration) -> bool {
        self.queue(queue).tx_flush(timeout)
    }

    /// Takes an empty packet buffer of `len` bytes from queue 0's pool.
    pub fn alloc(&self, len: usize) -> Option<Packet> {
        self.queues[0].pool.alloc(len)
    }

    /// Queue 0's packet pool.
    pub fn pool(&self) -> &Arc<Mempool> {
        &self.queues[0].pool
    }

    /// [`Queue::wait`] on queue 0, which also watches link changes and the
    /// kernel's release request.
    pub fn wait(&mut self, timeout: Duration) -> Result<Wakeup> {
        self.queue(0).wait(timeout)
    }

    /// The interrupt eventfds, one per vector (empty in poll mode), for
    /// registering with an async runtime; then call [`Nic::wait`] (or
    /// [`Queue::wait`]) with a zero timeout when one is readable.
    pub fn irq_fds(&self) -> Vec<RawFd> {
        self.irqs.as_ref().map(|i| i.raw()).unwrap_or_default()
    }

    /// Reads the NIC's statistics registers and returns the totals since open.
    pub fn stats(&mut self) -> Stats {
        self.hw.family.read_stats(&self.hw.regs, &mut self.stats);
        self.stats.rx_driver_dropped = self.queues.iter().map(|q| q.rx.dropped).sum();
        self.stats.rx_ring_full = self.queues.iter().map(|q| q.rx.full).sum();
        self.stats.rx_early_dd = self.queues.iter().map(|q| q.rx.early_dd).sum();
        self.stats
    }

    /// The MAC address.
    pub fn mac(&self) -> [u8; 6] {
        self.mac
    }

    /// The PCI address, `0000:00:03.0` style.
    pub fn pci(&self) -> String {
        self.hw.device.address.to_string()
    }

    /// The controller's table entry (name, family, test status).
    pub fn entry(&self) -> &'static DeviceEntry {
        self.entry
    }

    /// The interrupt mode in use.
    pub fn irq_mode(&self) -> IrqMode {
        self.hw.irq_mode
    }

    /// Number of RX/TX queue pairs in use.
    pub fn queues(&self) -> u16 {
        self.queues.len() as u16
    }

    /// Whether the packet buffers are in 2 MiB hugepages.
    pub fn hugepages(&self) -> bool {
        self.queues[0].pool.hugepages()
    }

    /// The VFIO device (regions, interrupts, configuration space).
    pub fn device(&self) -> &Device {
        &self.hw.device
    }

    /// The family's key registers with their current values, for diagnostics.
    pub fn key_registers(&self) -> Vec<(&'static str, u32, u32)> {
        let all = crate::family::BASE_REGISTERS
            .iter()
            .chain(self.hw.family.extra_registers());
        all.map(|&(name, off)| (name, off, self.hw.regs.read(off)))
            .collect()
    }
}

impl Drop for Nic {
    fn drop(&mut self) {
        // Stop the device before its DMA memory goes: interrupts off, RX and
        // TX off, MAC reset, bus mastering off; then VFIO interrupts off.
        let hw = &self.hw;
        if hw.regs.read(regs::STATUS) != u32::MAX {
            hw.family.disable_irqs(&hw.regs);
            let _ = hw.family.reset(&hw.regs);
        }
        if let Ok(cmd) = hw.device.config_read16(pci::CFG_COMMAND) {
            let _ = hw
                .device
                .config_write16(pci::CFG_COMMAND, cmd & !pci::CMD_BUS_MASTER);
        }
        if let Some(index) = hw.irq_mode.index() {
            let _ = hw.device.disable_irqs(index);
        }
        if self.release.is_some() {
            let _ = hw.device.disable_irqs(IrqIndex::Req);
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
    queues: u16,
) -> Result<IrqMode> {
    let offered = |mode: IrqMode| -> bool {
        let needed = match mode {
            IrqMode::Poll => return true,
            IrqMode::Msix => family.msix_vectors(queues).max(1),
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
