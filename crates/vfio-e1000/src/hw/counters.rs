//! What the NIC counts (its clear-on-read statistics registers) and what the
//! driver counts, in one record; and the link state.

/// Link state as the MAC reports it (STATUS register).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
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

/// Counters: the NIC's own (clear-on-read registers, accumulated since
/// open) and the driver's.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
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
    /// Frames the driver dropped (errors, frames spanning buffers, impossible lengths).
    pub rx_driver_dropped: u64,
    /// Times the driver found a receive ring full: the NIC had no free
    /// descriptor for the next frame because software fell behind. Zero
    /// means every frame lost on the way in was lost before the NIC.
    pub rx_ring_full: u64,
    /// Times the next RX descriptor showed its DD bit before its length and
    /// the driver waited for the rest of the write-back (QEMU's 82576 model
    /// does this now and then; real hardware writes a descriptor at once).
    pub rx_early_dd: u64,
    /// Frames delivered whose IPv4 header checksum the NIC found wrong.
    pub rx_ip_checksum_errors: u64,
    /// Frames delivered whose TCP or UDP checksum the NIC found wrong.
    pub rx_l4_checksum_errors: u64,
    /// Times a transmit queue stopped completing descriptors for longer than
    /// the watchdog allows and was reset (frames in flight were lost).
    pub tx_hangs: u64,
    /// Frames shorter than an Ethernet header, refused by the driver.
    pub tx_runts: u64,
    /// Frames whose VLAN tag the driver had to insert and that had no room
    /// left in their buffer for it, refused.
    pub tx_tag_no_room: u64,
    /// Frames longer than the MTU allows (Ethernet header and tag counted),
    /// refused by the driver.
    pub tx_giants: u64,
    /// Packets from the pool of a `Nic` that was closed, refused.
    pub tx_dead_pool: u64,
    /// Frames asking for an offload the NIC does not have (such as TCP
    /// segmentation over IPv6 on the 8254x), refused.
    pub tx_unsupported: u64,
    /// Frames in several packets that did not end within their batch, took
    /// more than [`MAX_PACKETS_PER_FRAME`](crate::MAX_PACKETS_PER_FRAME)
    /// or had an empty packet, refused.
    pub tx_bad_chains: u64,
    /// Frames that were in flight when a hung transmit queue was reset, and
    /// so were never sent.
    pub tx_reset_dropped: u64,
    /// Transmit rings given up by a hang reset because the queue did not
    /// confirm it had stopped: their memory and buffers are kept out of use
    /// until the NIC is closed.
    pub tx_rings_quarantined: u64,
    /// Times the link went down since open, as link interrupts reported it
    /// (not tracked in poll mode, which has none: ask [`crate::Nic::link`]).
    pub link_down_events: u64,
    /// Milliseconds the link has been down since open, including now if it is.
    pub link_down_ms: u64,
    /// Times a virtual function's PF reset the device under it and the
    /// driver armed the queues again. Frames in flight then were lost, and
    /// the VF's counters restart from zero with the PF's reset: what they
    /// counted after the last [`crate::Nic::stats`] before it is not in
    /// the totals.
    pub pf_resets: u64,
}

impl Stats {
    /// What changed since `earlier`, an earlier reading of the same NIC:
    /// every counter's difference (what a stats line every second prints).
    pub fn since(&self, earlier: &Stats) -> Stats {
        Stats {
            rx_packets: self.rx_packets.saturating_sub(earlier.rx_packets),
            rx_bytes: self.rx_bytes.saturating_sub(earlier.rx_bytes),
            tx_packets: self.tx_packets.saturating_sub(earlier.tx_packets),
            tx_bytes: self.tx_bytes.saturating_sub(earlier.tx_bytes),
            rx_missed: self.rx_missed.saturating_sub(earlier.rx_missed),
            rx_no_buffer: self.rx_no_buffer.saturating_sub(earlier.rx_no_buffer),
            rx_crc_errors: self.rx_crc_errors.saturating_sub(earlier.rx_crc_errors),
            rx_undersize: self.rx_undersize.saturating_sub(earlier.rx_undersize),
            rx_oversize: self.rx_oversize.saturating_sub(earlier.rx_oversize),
            rx_broadcast: self.rx_broadcast.saturating_sub(earlier.rx_broadcast),
            rx_multicast: self.rx_multicast.saturating_sub(earlier.rx_multicast),
            rx_driver_dropped: self
                .rx_driver_dropped
                .saturating_sub(earlier.rx_driver_dropped),
            rx_ring_full: self.rx_ring_full.saturating_sub(earlier.rx_ring_full),
            rx_early_dd: self.rx_early_dd.saturating_sub(earlier.rx_early_dd),
            rx_ip_checksum_errors: self
                .rx_ip_checksum_errors
                .saturating_sub(earlier.rx_ip_checksum_errors),
            rx_l4_checksum_errors: self
                .rx_l4_checksum_errors
                .saturating_sub(earlier.rx_l4_checksum_errors),
            tx_hangs: self.tx_hangs.saturating_sub(earlier.tx_hangs),
            tx_runts: self.tx_runts.saturating_sub(earlier.tx_runts),
            tx_tag_no_room: self.tx_tag_no_room.saturating_sub(earlier.tx_tag_no_room),
            tx_giants: self.tx_giants.saturating_sub(earlier.tx_giants),
            tx_dead_pool: self.tx_dead_pool.saturating_sub(earlier.tx_dead_pool),
            tx_unsupported: self.tx_unsupported.saturating_sub(earlier.tx_unsupported),
            tx_bad_chains: self.tx_bad_chains.saturating_sub(earlier.tx_bad_chains),
            tx_reset_dropped: self
                .tx_reset_dropped
                .saturating_sub(earlier.tx_reset_dropped),
            tx_rings_quarantined: self
                .tx_rings_quarantined
                .saturating_sub(earlier.tx_rings_quarantined),
            link_down_events: self
                .link_down_events
                .saturating_sub(earlier.link_down_events),
            link_down_ms: self.link_down_ms.saturating_sub(earlier.link_down_ms),
            pf_resets: self.pf_resets.saturating_sub(earlier.pf_resets),
        }
    }
    /// Every counter by its `ethtool -S` style name, in a fixed order.
    pub fn named(&self) -> [(&'static str, u64); 28] {
        [
            ("rx_packets", self.rx_packets),
            ("rx_bytes", self.rx_bytes),
            ("tx_packets", self.tx_packets),
            ("tx_bytes", self.tx_bytes),
            ("rx_missed", self.rx_missed),
            ("rx_no_buffer", self.rx_no_buffer),
            ("rx_crc_errors", self.rx_crc_errors),
            ("rx_undersize", self.rx_undersize),
            ("rx_oversize", self.rx_oversize),
            ("rx_broadcast", self.rx_broadcast),
            ("rx_multicast", self.rx_multicast),
            ("rx_driver_dropped", self.rx_driver_dropped),
            ("rx_ring_full", self.rx_ring_full),
            ("rx_early_dd", self.rx_early_dd),
            ("rx_ip_checksum_errors", self.rx_ip_checksum_errors),
            ("rx_l4_checksum_errors", self.rx_l4_checksum_errors),
            ("tx_hangs", self.tx_hangs),
            ("tx_runts", self.tx_runts),
            ("tx_tag_no_room", self.tx_tag_no_room),
            ("tx_giants", self.tx_giants),
            ("tx_dead_pool", self.tx_dead_pool),
            ("tx_unsupported", self.tx_unsupported),
            ("tx_bad_chains", self.tx_bad_chains),
            ("tx_reset_dropped", self.tx_reset_dropped),
            ("tx_rings_quarantined", self.tx_rings_quarantined),
            ("link_down_events", self.link_down_events),
            ("link_down_ms", self.link_down_ms),
            ("pf_resets", self.pf_resets),
        ]
    }
}

/// One line, as ixy.rs's examples print every second: frames and bytes
/// each way and what was lost, e.g. `rx 1000 frames 64000 B, tx 1000
/// frames 64000 B, lost 0 (missed 0, no buffer 0, ring full 0, driver 0)`.
impl std::fmt::Display for Stats {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let lost = self.rx_missed + self.rx_no_buffer + self.rx_driver_dropped;
        write!(
            f,
            "rx {} frames {} B, tx {} frames {} B, lost {lost} (missed {}, no buffer {}, ring full {}, driver {})",
            self.rx_packets,
            self.rx_bytes,
            self.tx_packets,
            self.tx_bytes,
            self.rx_missed,
            self.rx_no_buffer,
            self.rx_ring_full,
            self.rx_driver_dropped
        )
    }
}

/// The counters of a function whose registers are 32-bit running totals
/// that reading does not clear (a virtual function's), made into totals
/// since open: each reading adds what changed since the one before, modulo
/// 2^32, so a register that wraps between two readings is still counted.
/// A reset of the function's PF sets the registers back to zero: the
/// reading after it says so (`restarted`) and counts from zero.
#[derive(Debug, Default)]
pub(crate) struct RunningTotals {
    /// The registers at the last reading.
    last: Stats,
    /// Totals since open.
    total: Stats,
}

impl RunningTotals {
    /// Starts from the registers' values at open.
    pub(crate) fn new(at_open: Stats) -> RunningTotals {
        RunningTotals {
            last: at_open,
            total: Stats::default(),
        }
    }

    /// Adds what changed since the last reading `raw`; `restarted` when the
    /// registers were cleared since (a PF reset). Returns the totals.
    pub(crate) fn update(&mut self, raw: &Stats, restarted: bool) -> Stats {
        let base = if restarted {
            Stats::default()
        } else {
            self.last
        };
        let step = |now: u64, before: u64| now.wrapping_sub(before) & 0xFFFF_FFFF;
        let t = &mut self.total;
        t.rx_packets += step(raw.rx_packets, base.rx_packets);
        t.tx_packets += step(raw.tx_packets, base.tx_packets);
        t.rx_bytes += step(raw.rx_bytes, base.rx_bytes);
        t.tx_bytes += step(raw.tx_bytes, base.tx_bytes);
        t.rx_multicast += step(raw.rx_multicast, base.rx_multicast);
        self.last = *raw;
        self.total
    }

    /// The totals as of the last reading.
    pub(crate) fn total(&self) -> Stats {
        self.total
    }
}

#[cfg(test)]
mod tests {
    use super::{RunningTotals, Stats};

    #[test]
    fn since_subtracts_every_counter_and_display_is_one_line() {
        let earlier = Stats {
            rx_packets: 10,
            tx_bytes: 640,
            rx_missed: 1,
            ..Stats::default()
        };
        let now = Stats {
            rx_packets: 25,
            tx_bytes: 1280,
            rx_missed: 3,
            tx_hangs: 1,
            ..Stats::default()
        };
        let d = now.since(&earlier);
        assert_eq!(
            (d.rx_packets, d.tx_bytes, d.rx_missed, d.tx_hangs),
            (15, 640, 2, 1)
        );
        assert_eq!(earlier.since(&now), Stats::default(), "never negative");
        let line = d.to_string();
        assert!(!line.contains('\n'));
        assert!(
            line.starts_with("rx 15 frames 0 B, tx 0 frames 640 B, lost 2"),
            "{line}"
        );
    }

    #[test]
    fn running_totals_count_across_a_wrap_and_a_restart() {
        let raw = |p: u64| Stats {
            rx_packets: p,
            rx_bytes: p * 100,
            ..Stats::default()
        };
        let mut t = RunningTotals::new(raw(0xFFFF_FF00));
        assert_eq!(t.update(&raw(0xFFFF_FFFF), false).rx_packets, 0xFF);
        // The 32-bit register wrapped: 0x10 more after 0xFFFF_FFFF is 0xF.
        assert_eq!(t.update(&raw(0xF), false).rx_packets, 0xFF + 0x10);
        // A PF reset cleared the registers, which then counted 5.
        let after = t.update(&raw(5), true);
        assert_eq!(after.rx_packets, 0xFF + 0x10 + 5);
        assert_eq!(t.update(&raw(5), false), after);
    }
}
