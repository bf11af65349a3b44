//! [`Config`]: how to bring a NIC up, and its validation.

use crate::datapath::check_ring_size;
use crate::datapath::mempool::BUFFER_SIZE;
use crate::error::{Error, Result};
use crate::hw::family::RxMode;
use crate::hw::filters::{AddressFilter, RECEIVE_ADDRESSES};
use crate::hw::irq::IrqMode;
use crate::hw::offload::{Offloads, MAX_VLAN_ID};
use crate::sys::dma::IovaPolicy;
use std::time::Duration;

/// The largest MTU: 9000 bytes, what jumbo frames carry.
pub const MAX_MTU: u16 = 9000;
/// The smallest MTU IPv4 allows.
const MIN_MTU: u16 = 68;
/// Bytes of a frame beyond the MTU: Ethernet header and a VLAN tag (no FCS).
const ETHERNET_OVERHEAD: usize = 18;

/// The longest interrupt interval ITR can hold: 65535 × 256 ns.
pub const MAX_IRQ_INTERVAL_US: u32 = 16_776;
/// Spare buffers each pool needs beyond the RX ring, for frames in flight on TX.
const MIN_SPARE_BUFFERS: usize = 64;

/// How to bring a NIC up. `Config::default()` suits most uses; change
/// fields on it:
///
/// ```
/// let mut config = vfio_e1000::Config::default();
/// config.irq = Some(vfio_e1000::IrqMode::Poll);
/// config.rx_ring = 256;
/// assert!(config.validate().is_ok());
/// ```
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Config {
    /// Interrupt mode; `None` picks the best the device offers (MSI-X > MSI > INTx).
    pub irq: Option<IrqMode>,
    /// Receive descriptors per queue (a multiple of 8, 8 to 4096).
    pub rx_ring: usize,
    /// Transmit descriptors per queue (a multiple of 8, 8 to 4096).
    pub tx_ring: usize,
    /// Packet buffers in each queue's pool; at least `rx_ring` + 64.
    pub pool_size: usize,
    /// Minimum interval between interrupts, in µs (interrupt moderation).
    /// Values over [`MAX_IRQ_INTERVAL_US`] (what the 16-bit ITR holds) are
    /// clamped to it.
    pub irq_interval_us: u32,
    /// Adapt the interval between interrupts to the load instead of
    /// `irq_interval_us`: none while a queue receives under about 10,000
    /// frames/s (lowest latency); above, the time about 20 frames take to
    /// arrive, between 250 µs and 1 ms (fewer interrupts, less CPU per
    /// frame; a frame waits at most 1 ms). Off by default.
    pub adaptive_irq: bool,
    /// In interrupt modes, how long [`Queue::wait`](crate::Queue::wait)
    /// keeps polling the ring before it sleeps on the interrupt, in µs (0:
    /// sleep at once). While frames keep coming this saves the interrupt's
    /// wake-up latency and cost; an idle queue pays this much polling per
    /// wait. The default, 500 µs, is sized for virtualised hosts, where
    /// waking a sleeping vCPU and process takes 100 µs or more.
    pub busy_poll_us: u32,
    /// How IOVAs are chosen.
    pub iova: IovaPolicy,
    /// Put DMA memory in 2 MiB hugepages when the system has them (else
    /// 4 KiB pages).
    pub hugepages: bool,
    /// RX/TX queue pairs (RSS spreads received flows over them); each gets
    /// its own rings, pool of `pool_size` buffers and, in MSI-X mode, vector.
    pub queues: u16,
    /// How long transmit descriptors may stay in flight with none completing,
    /// while the link is up, before the queue is declared hung and reset.
    pub tx_hang_timeout: Duration,
    /// Accept every unicast and multicast frame (RCTL.UPE and MPE). Off by
    /// default: only frames to the MAC address, to `unicast` and `multicast`
    /// addresses, and broadcast.
    pub promiscuous: bool,
    /// The MAC address to use instead of the NIC's own (EEPROM) one.
    pub mac: Option<[u8; 6]>,
    /// Further unicast addresses to accept (at most 15: the receive address
    /// table has 16 entries, the first is the MAC address).
    pub unicast: Vec<[u8; 6]>,
    /// Multicast groups to accept (hashed into the 4096-bit multicast
    /// table, so a few others may pass too).
    pub multicast: Vec<[u8; 6]>,
    /// The largest IP packet a frame carries, 68 to [`MAX_MTU`] (default
    /// 1500). Over 1500 the NIC accepts long frames and every buffer grows
    /// to the next power of two that holds a VLAN-tagged frame (16 KiB for
    /// 9000); a frame is always one [`Packet`](crate::Packet).
    pub mtu: u16,
    /// Strip the 802.1Q tag of received frames, reported by
    /// [`Packet::vlan_tag`](crate::Packet::vlan_tag), and let the NIC insert
    /// the tags of sent packets (CTRL.VME). Off by default: tags stay in the
    /// bytes (and the driver inserts any set with
    /// [`Packet::set_vlan_tag`](crate::Packet::set_vlan_tag)).
    pub vlan_strip: bool,
    /// VLAN IDs whose tagged frames are accepted (RCTL.VFE and the VLAN
    /// filter table); untagged frames always pass. Empty (the default): no
    /// VLAN filtering.
    pub vlan_filter: Vec<u16>,
    /// IEEE 1588 timestamps (a NIC with
    /// [`Capabilities::timestamps`](crate::Capabilities::timestamps)):
    /// `Some(first_byte)` latches the clock when a frame that asks for it
    /// goes out ([`Packet::set_tx_timestamp`](crate::Packet::set_tx_timestamp))
    /// and when a PTPv2 frame over Ethernet (EtherType 0x88F7) arrives whose
    /// first byte (transportSpecific << 4 | messageType) is `first_byte`:
    /// 0 for Sync, 1 for Delay_Req ([`PTP_SYNC`](crate::PTP_SYNC),
    /// [`PTP_DELAY_REQ`](crate::PTP_DELAY_REQ)). `None` (the default): no
    /// timestamps; the clock runs anyway.
    pub timestamps: Option<u8>,
    /// Header split (a NIC with
    /// [`Capabilities::header_split`](crate::Capabilities::header_split)):
    /// the NIC writes the headers of an IPv4 or IPv6 frame (Ethernet to
    /// the end of the TCP or UDP header, or of the IP header for other
    /// protocols; at most [`HEADER_BUFFER_SIZE`](crate::HEADER_BUFFER_SIZE)
    /// bytes) into one buffer and its payload into another, and
    /// [`Queue::rx_batch`](crate::Queue::rx_batch) delivers such a frame as
    /// two packets: the headers, which continue
    /// ([`Packet::continues`](crate::Packet::continues)), then the payload.
    /// Other frames, and frames of headers alone, stay one packet. Each RX descriptor then holds two
    /// buffers of the pool. Off by default.
    pub header_split: bool,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            irq: None,
            rx_ring: 512,
            tx_ring: 512,
            pool_size: 2048,
            irq_interval_us: 128,
            adaptive_irq: false,
            busy_poll_us: 500,
            iova: IovaPolicy::Allocated,
            hugepages: true,
            queues: 1,
            tx_hang_timeout: Duration::from_secs(1),
            promiscuous: false,
            mac: None,
            unicast: Vec::new(),
            multicast: Vec::new(),
            mtu: 1500,
            vlan_strip: false,
            vlan_filter: Vec::new(),
            timestamps: None,
            header_split: false,
        }
    }
}

impl Config {
    /// Checks what can be checked without a device: ring sizes, pool size,
    /// queue count.
    pub fn validate(&self) -> Result<()> {
        check_ring_size("RX", self.rx_ring)?;
        check_ring_size("TX", self.tx_ring)?;
        let armed = self.rx_ring * (1 + self.header_split as usize);
        if self.pool_size < armed + MIN_SPARE_BUFFERS {
            return Err(Error::InvalidConfig(format!(
                "a pool of {} buffers is too small for an RX ring of {}{}: it needs at least {}",
                self.pool_size,
                self.rx_ring,
                if self.header_split {
                    " with header split"
                } else {
                    ""
                },
                armed + MIN_SPARE_BUFFERS
            )));
        }
        if self.queues == 0 {
            return Err(Error::InvalidConfig("0 queues: at least 1".into()));
        }
        let group = |a: &[u8; 6]| a[0] & 1 != 0;
        if let Some(mac) = self.mac.filter(|m| group(m) || *m == [0; 6]) {
            return Err(Error::InvalidConfig(format!(
                "MAC address {}: must be a non-zero unicast address",
                mac_string(&mac)
            )));
        }
        if self.unicast.len() > RECEIVE_ADDRESSES - 1 {
            return Err(Error::InvalidConfig(format!(
                "{} extra unicast addresses: the receive address table holds {}",
                self.unicast.len(),
                RECEIVE_ADDRESSES - 1
            )));
        }
        if let Some(a) = self.unicast.iter().find(|a| group(a)) {
            return Err(Error::InvalidConfig(format!(
                "{} is a multicast address: put it in `multicast`",
                mac_string(a)
            )));
        }
        if let Some(a) = self.multicast.iter().find(|a| !group(a)) {
            return Err(Error::InvalidConfig(format!(
                "{} is a unicast address: put it in `unicast`",
                mac_string(a)
            )));
        }
        if !(MIN_MTU..=MAX_MTU).contains(&self.mtu) {
            return Err(Error::InvalidConfig(format!(
                "MTU {}: must be {MIN_MTU} to {MAX_MTU}",
                self.mtu
            )));
        }
        if let Some(id) = self.vlan_filter.iter().find(|&&id| id > MAX_VLAN_ID) {
            return Err(Error::InvalidConfig(format!(
                "VLAN ID {id}: must be 0 to {MAX_VLAN_ID}"
            )));
        }
        if self.tx_hang_timeout.is_zero() {
            return Err(Error::InvalidConfig(
                "a zero TX hang timeout would reset every queue with frames in flight".into(),
            ));
        }
        Ok(())
    }

    /// The receiver's buffer size and longest frame for the MTU.
    pub(crate) fn rx_mode(&self) -> RxMode {
        let max_frame = self.mtu as usize + ETHERNET_OVERHEAD;
        RxMode {
            promiscuous: self.promiscuous,
            vlan_filter: !self.vlan_filter.is_empty(),
            buffer_size: max_frame.next_power_of_two().max(BUFFER_SIZE),
            max_frame,
            header_split: self.header_split,
        }
    }

    /// The address filter for a NIC whose own address is `mac`.
    pub(crate) fn filter(&self, mac: [u8; 6]) -> AddressFilter<'_> {
        let chosen = self.mac.unwrap_or(mac);
        AddressFilter {
            mac: chosen,
            mac_assigned: chosen == mac,
            unicast: &self.unicast,
            multicast: &self.multicast,
        }
    }

    /// The VLAN and checksum settings.
    pub(crate) fn offloads(&self) -> Offloads<'_> {
        Offloads {
            vlan_strip: self.vlan_strip,
            vlan_filter: &self.vlan_filter,
        }
    }

    /// The interrupt interval in ITR units of 256 ns, clamped to 16 bits.
    /// Adaptive moderation starts at 0 (see [`Config::adaptive_irq`]).
    pub(crate) fn itr(&self) -> u16 {
        if self.adaptive_irq {
            return 0;
        }
        let us = self.irq_interval_us.min(MAX_IRQ_INTERVAL_US) as u64;
        (us * 1000).div_ceil(256).min(u16::MAX as u64) as u16
    }
}

/// `52:54:00:12:34:56` style.
fn mac_string(m: &[u8; 6]) -> String {
    let hex: Vec<String> = m.iter().map(|b| format!("{b:02x}")).collect();
    hex.join(":")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A VF's PF refuses to be asked for the address it assigned (seen on
    /// QEMU's igb with Linux's igb as PF): the filter says when the chosen
    /// address is the device's own.
    #[test]
    fn the_filter_knows_when_the_mac_is_the_devices_own() {
        let own = [0x02, 0, 0, 0, 0x0b, 0];
        let mut config = Config::default();
        assert!(config.filter(own).mac_assigned);
        config.mac = Some(own);
        assert!(config.filter(own).mac_assigned);
        config.mac = Some([0x02, 0, 0, 0, 0x0a, 0]);
        let f = config.filter(own);
        assert!(!f.mac_assigned && f.mac == [0x02, 0, 0, 0, 0x0a, 0]);
    }

    #[test]
    fn itr_is_clamped_not_wrapped() {
        let mut c = Config::default();
        assert_eq!(c.itr(), 500); // 128 µs
        c.irq_interval_us = u32::MAX; // once overflowed `* 1000` in a u32
        assert_eq!(c.itr(), 65532); // 16 776 µs, the most ITR holds
        c.irq_interval_us = 0;
        assert_eq!(c.itr(), 0);
    }

    #[test]
    fn validation_names_the_field() {
        let c = Config {
            rx_ring: 100,
            ..Config::default()
        };
        assert!(c
            .validate()
            .unwrap_err()
            .to_string()
            .contains("RX ring of 100"));
        let c = Config {
            pool_size: 512,
            ..Config::default()
        };
        assert!(c.validate().unwrap_err().to_string().contains("too small"));
        assert!(Config::default().validate().is_ok());
        let c = Config {
            mac: Some([1, 0, 0, 0, 0, 1]),
            ..Config::default()
        };
        assert!(c
            .validate()
            .unwrap_err()
            .to_string()
            .contains("unicast address"));
        let c = Config {
            unicast: vec![[2, 0, 0, 0, 0, 1]; 16],
            ..Config::default()
        };
        assert!(c.validate().unwrap_err().to_string().contains("holds 15"));
        let c = Config {
            multicast: vec![[2, 0, 0, 0, 0, 1]],
            ..Config::default()
        };
        assert!(c
            .validate()
            .unwrap_err()
            .to_string()
            .contains("put it in `unicast`"));
    }
}
