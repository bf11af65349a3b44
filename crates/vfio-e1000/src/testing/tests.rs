//! The driver's rings and families against the model, one behaviour each.

use super::model::{reg, toeplitz, Kind, EEPROM_MAC};
use super::{frame, Harness, KINDS};
use crate::datapath::mempool::BUFFER_SIZE;
use crate::datapath::tx::PAD_TO;
use crate::sys::mmio::Registers;
use std::time::{Duration, Instant};

#[test]
fn bring_up_programs_what_each_datasheet_requires() {
    for kind in KINDS {
        let h = Harness::new(kind, 64, 32, 256);
        let m = &h.model;
        let writes = m.writes();
        let reset_at = writes
            .iter()
            .position(|&(r, v)| r == reg::CTRL && v & (1 << 26) != 0)
            .expect("a MAC reset");
        let (rxb, txb) = (m.rx_block(0), m.tx_block(0));
        let first_ring_write = writes
            .iter()
            .position(|&(r, _)| r == rxb + reg::BAL)
            .expect("RX ring programmed");
        assert!(
            reset_at < first_ring_write,
            "{kind:?}: reset before the rings"
        );
        // The rings where the driver's descriptors are, every descriptor but one posted.
        assert_eq!(
            m.peek(rxb + reg::BAL) as u64 | (m.peek(rxb + reg::BAH) as u64) << 32,
            h.q.rx.iova()
        );
        assert_eq!(m.peek(rxb + reg::LEN), 64 * 16, "{kind:?}");
        assert_eq!(m.peek(rxb + reg::TAIL), 63, "{kind:?}");
        assert_eq!(m.peek(txb + reg::LEN), 32 * 16, "{kind:?}");
        assert_eq!(
            m.peek(txb + reg::BAL) as u64 | (m.peek(txb + reg::BAH) as u64) << 32,
            h.q.tx.iova()
        );
        // Receive and transmit on; the MAC from the EEPROM, valid in RAL0/RAH0.
        assert_ne!(m.peek(reg::RCTL) & 1 << 1, 0, "{kind:?}: RCTL.EN");
        assert_ne!(m.peek(reg::RCTL) & 1 << 26, 0, "{kind:?}: RCTL.SECRC");
        assert_ne!(m.peek(reg::TCTL) & 1 << 1, 0, "{kind:?}: TCTL.EN");
        assert_ne!(m.peek(reg::TCTL) & 1 << 3, 0, "{kind:?}: TCTL.PSP");
        assert_eq!(h.mac, EEPROM_MAC);
        assert_eq!(m.peek(reg::RAL0).to_le_bytes(), EEPROM_MAC[..4]);
        assert_eq!(m.peek(reg::RAH0), 0x5634 | 1 << 31);
        assert!(h.family.link(&*h.model).up, "{kind:?}: link up after init");
        match kind {
            Kind::E82576 => {
                // Per-queue enables must be set (only queue 0 is after reset).
                assert_ne!(m.peek(rxb + reg::DCTL) & 1 << 25, 0);
                assert_ne!(m.peek(txb + reg::DCTL) & 1 << 25, 0);
                // Every RCTL write is a full value; DTYP (bits 11:10) must stay 0.
                assert_eq!(m.peek(reg::RCTL) & 3 << 10, 0);
            }
            Kind::E82574 => {
                assert_ne!(m.peek(reg::TARC0) & 1 << 10, 0, "TARC0 bit 10");
                // Extended descriptors with one queue too; RSS off.
                assert_ne!(m.peek(reg::RFCTL) & 1 << 15, 0, "RFCTL.EXTEN");
                assert_eq!(m.peek(reg::MRQC), 0);
            }
            Kind::E8254x => {
                // RCTL is written once: every write holds reception for a second.
                let rctl_writes = writes
                    .iter()
                    .filter(|&&(r, v)| r == reg::RCTL && v & 1 << 1 != 0)
                    .count();
                assert_eq!(rctl_writes, 1);
            }
        }
    }
}

#[test]
fn received_frames_arrive_intact_across_ring_wraps() {
    for kind in KINDS {
        let mut h = Harness::new(kind, 32, 32, 128);
        let mut seq = 0u32;
        for round in 0..10 {
            let sent: Vec<Vec<u8>> = (0..20)
                .map(|k| {
                    seq += 1;
                    frame(seq, 60 + (round * 97 + k * 31) % 1455)
                })
                .collect();
            for f in &sent {
                assert!(h.model.deliver(0, f), "{kind:?}: NIC had a descriptor");
            }
            let got = h.rx(64);
            let got: Vec<Vec<u8>> = got.iter().map(|p| p.to_vec()).collect();
            assert_eq!(got, sent, "{kind:?} round {round}");
            h.q.rx.check_invariants();
        }
        assert_eq!(h.q.rx.dropped, 0);
        assert_eq!(h.model.faults(), 0, "{kind:?}: every DMA hit mapped memory");
    }
}

#[test]
fn rx_tail_moves_in_groups_and_never_hands_over_the_whole_ring() {
    let mut h = Harness::new(Kind::E82574, 64, 32, 256);
    let tail = h.model.rx_block(0) + reg::TAIL;
    let tail_writes = |h: &Harness| h.model.writes().iter().filter(|w| w.0 == tail).count();
    let before = tail_writes(&h);
    // Fewer frames than the threshold (16 for 64 descriptors): no tail write.
    for s in 0..10 {
        assert!(h.model.deliver(0, &frame(s, 60)));
    }
    assert_eq!(h.rx(64).len(), 10);
    assert_eq!(tail_writes(&h), before);
    for s in 0..10 {
        assert!(h.model.deliver(0, &frame(s, 60)));
    }
    assert_eq!(h.rx(64).len(), 10);
    assert_eq!(tail_writes(&h), before + 1, "20 refilled: one tail write");
    assert_eq!(
        h.model.peek(tail),
        19,
        "tail at the last refilled descriptor"
    );
    // The NIC can fill what it owns, never the slot at the tail.
    let owned = (h.model.peek(tail) as usize + 64
        - h.model.peek(h.model.rx_block(0) + reg::HEAD) as usize)
        % 64;
    for s in 0..owned as u32 {
        assert!(h.model.deliver(0, &frame(s, 60)));
    }
    assert!(
        !h.model.deliver(0, &frame(99, 60)),
        "head == tail: the ring is full"
    );
    let got = h.rx(128);
    assert_eq!(got.len(), owned);
    assert_eq!(h.q.rx.full, 1, "the full ring was seen");
}

#[test]
fn a_frame_spanning_descriptors_is_dropped_whole_even_across_calls() {
    for kind in KINDS {
        let mut h = Harness::new(kind, 32, 32, 128);
        // A device that takes a long frame into 2 KiB buffers (ours never
        // asks for that: its buffers hold the longest frame it accepts).
        h.model.poke(reg::RCTL, h.model.peek(reg::RCTL) | 1 << 5);
        assert!(h.model.deliver(0, &frame(1, 3000))); // two descriptors
        assert!(h.model.deliver(0, &frame(2, 100)));
        // As if the NIC had written only the first descriptor so far.
        let second = h.model.rx_desc(0, 1);
        h.model.scribble_rx(0, 1, [second[0], second[1], 0, 0]);
        let third = h.model.rx_desc(0, 2);
        h.model.scribble_rx(0, 2, [third[0], third[1], 0, 0]);
        assert!(h.rx(8).is_empty(), "{kind:?}: first half dropped");
        // Now the rest lands: the second half must not pass for a frame.
        h.model.scribble_rx(0, 1, second);
        h.model.scribble_rx(0, 2, third);
        let got = h.rx(8);
        assert_eq!(got.len(), 1, "{kind:?}");
        assert_eq!(&got[0][..], &frame(2, 100)[..]);
        assert_eq!(h.q.rx.dropped, 2);
    }
}

#[test]
fn rx_never_takes_a_descriptor_the_nic_was_not_given() {
    for kind in KINDS {
        let mut h = Harness::new(kind, 32, 32, 128);
        // The NIC fills all it owns (31 of 32); then a stray write-back
        // appears on the slot at the tail, which it never owned.
        for s in 0..31 {
            assert!(h.model.deliver(0, &frame(s, 60)), "{kind:?}");
        }
        let tail = h.model.peek(h.model.rx_block(0) + reg::TAIL) as usize;
        h.model
            .scribble_rx(0, tail, h.model.written_back(60, true, false));
        assert_eq!(
            h.rx(64).len(),
            31,
            "{kind:?}: stops at the last posted slot"
        );
        h.q.rx.check_invariants();
    }
}

/// The families whose write-back overwrites words 0-1: the 82576's
/// advanced format and the 82574L's extended one.
const EXTENDED: [Kind; 2] = [Kind::E82574, Kind::E82576];

#[test]
fn dd_without_a_length_is_waited_for_not_taken() {
    for kind in EXTENDED {
        let mut h = Harness::new(kind, 32, 32, 128);
        let armed = h.q.rx.armed_iova(0);
        // The status word alone, over the armed image (QEMU's 82576 has shown this).
        h.model
            .scribble_rx(0, 0, [armed as u32, (armed >> 32) as u32, 1 | 1 << 1, 0]);
        assert!(h.rx(8).is_empty(), "{kind:?}");
        assert!(
            !h.q.rx.pending(),
            "{kind:?}: not a frame yet: an IRQ-mode wait must not spin on it"
        );
        assert_eq!(h.q.rx.early_dd, 1);
        // The rest of the write-back lands.
        assert!(h.model.deliver(0, &frame(5, 64)));
        assert!(h.q.rx.pending());
        let got = h.rx(8);
        assert_eq!(got.len(), 1, "{kind:?}");
        assert_eq!(&got[0][..], &frame(5, 64)[..]);
    }
}

#[test]
fn a_write_back_whose_status_lands_first_is_waited_for_even_after_the_head_moved() {
    for kind in EXTENDED {
        let mut h = Harness::new(kind, 32, 32, 128);
        // Slot 0: the status word lands over the armed image and the head moves
        // on; the rest of the write-back is late. Slot 1: a whole write-back.
        assert!(h.model.deliver_status_first(0, &frame(1, 64)));
        assert!(h.model.deliver(0, &frame(2, 100)));
        assert!(
            h.q.rx.pending(),
            "frames wait behind the late write-back: an IRQ-mode wait must not sleep on them"
        );
        let (reads, _) = h.model.accesses();
        assert!(
            h.rx(8).is_empty(),
            "nothing is taken before slot 0 is whole"
        );
        assert_eq!(h.q.rx.early_dd, 1);
        // Long past any time limit, with the head register past slot 0: the
        // armed buffer address still in words 0-1 says no write-back landed.
        std::thread::sleep(Duration::from_millis(12));
        assert!(h.rx(8).is_empty(), "a late write-back is still not taken");
        assert_eq!(
            h.model.accesses().0,
            reads,
            "decided without reading a register"
        );
        h.model.land_late();
        let got = h.rx(8);
        assert_eq!(got.len(), 2);
        assert_eq!(&got[0][..], &frame(1, 64)[..]);
        assert_eq!(&got[1][..], &frame(2, 100)[..]);
        assert_eq!(h.q.rx.dropped, 0);
        // Every descriptor the NIC has not written holds the buffer the driver
        // armed in it (no write-back landed on a re-armed descriptor), and the
        // ring goes on working across a wrap.
        for i in 0..32 {
            let w = h.model.rx_desc(0, i);
            if w[2] & 1 == 0 {
                let armed = h.q.rx.armed_iova(i);
                assert_eq!(
                    (w[0], w[1]),
                    (armed as u32, (armed >> 32) as u32),
                    "slot {i}"
                );
            }
        }
        h.q.rx.check_invariants();
        for s in 3..80 {
            assert!(h.model.deliver(0, &frame(s, 60 + s as usize)));
            let got = h.rx(8);
            assert_eq!(got.len(), 1);
            assert_eq!(&got[0][..], &frame(s, 60 + s as usize)[..]);
        }
        assert_eq!(h.model.faults(), 0);
    }
}

#[test]
fn legacy_dd_without_a_length_is_read_again_once_the_head_has_moved() {
    // The 82574L writes the extended format back: see the tests above.
    let kind = Kind::E8254x;
    let mut h = Harness::new(kind, 32, 32, 128);
    let armed = h.q.rx.armed_iova(0);
    // A lone status word on slot 0 while the NIC's head is still there.
    h.model
        .scribble_rx(0, 0, [armed as u32, (armed >> 32) as u32, 0, 1 | 1 << 1]);
    assert!(h.rx(8).is_empty(), "{kind:?}");
    assert!(!h.q.rx.pending(), "{kind:?}");
    std::thread::sleep(Duration::from_millis(6));
    // The NIC writes slot 0 for real while the driver reads its head:
    // what the driver read before the head is stale.
    h.model.deliver_on_head_read(0, &frame(7, 64));
    let got = h.rx(8);
    assert_eq!(got.len(), 1, "{kind:?}: the frame is taken, not dropped");
    assert_eq!(&got[0][..], &frame(7, 64)[..]);
    assert_eq!(h.q.rx.dropped, 0, "{kind:?}");
    h.q.rx.check_invariants();
}

#[test]
fn impossible_lengths_and_errors_are_dropped_and_counted() {
    for kind in KINDS {
        let mut h = Harness::new(kind, 32, 32, 128);
        let over = h.model.written_back((BUFFER_SIZE + 1) as u16, true, false);
        let err = h.model.written_back(60, true, true);
        h.model.scribble_rx(0, 0, over);
        h.model.scribble_rx(0, 1, err);
        h.model.poke(h.model.rx_block(0) + reg::HEAD, 2);
        assert!(h.model.deliver(0, &frame(3, 60)));
        let got = h.rx(8);
        assert_eq!(got.len(), 1, "{kind:?}");
        assert_eq!(h.q.rx.dropped, 2, "{kind:?}");
        assert_eq!(&got[0][..], &frame(3, 60)[..]);
    }
}

#[test]
fn transmitted_frames_leave_intact_and_buffers_come_back() {
    for kind in KINDS {
        let mut h = Harness::new(kind, 32, 32, 128);
        let free = h.q.rx.pool().free_count();
        let mut sent = Vec::new();
        for round in 0..8u32 {
            let mut batch: Vec<_> = (0..12u32)
                .map(|k| {
                    let f = frame(round * 100 + k, 60 + (k as usize * 131) % 1455);
                    sent.push(f.clone());
                    h.packet(&f)
                })
                .collect();
            assert_eq!(h.tx(&mut batch), 12, "{kind:?}");
            assert!(batch.is_empty());
        }
        let wire: Vec<Vec<u8>> = h.model.take_sent().into_iter().map(|s| s.bytes).collect();
        assert_eq!(wire, sent, "{kind:?}");
        h.q.tx.reclaim();
        assert_eq!(h.q.tx.in_flight(), 0, "{kind:?}: every report written back");
        assert_eq!(h.q.rx.pool().free_count(), free);
    }
}

#[test]
fn short_frames_are_padded_with_zeros_and_runts_refused() {
    let mut h = Harness::new(Kind::E8254x, 32, 32, 128);
    let mut p = h.packet(&[0xAB; 100]); // stale bytes behind the short frame
    p.set_len(20);
    let mut batch = vec![p, h.packet(&[1; 13]), h.packet(&frame(7, 60))];
    assert_eq!(
        h.tx(&mut batch),
        2,
        "the runt is refused, not counted as queued"
    );
    assert!(batch.is_empty());
    let wire = h.model.take_sent();
    assert_eq!(wire.len(), 2);
    assert_eq!(wire[0].bytes.len(), PAD_TO);
    assert!(wire[0].bytes[..20].iter().all(|&b| b == 0xAB));
    assert!(wire[0].bytes[20..].iter().all(|&b| b == 0));
    assert_eq!(h.q.tx.runts, 1);
    h.q.tx.reclaim();
    assert_eq!(
        h.q.tx.in_flight(),
        0,
        "the last queued frame asked for a report"
    );
}

#[test]
fn a_slow_but_completing_transmitter_is_not_a_hang() {
    let mut h = Harness::new(Kind::E82574, 32, 32, 256);
    let limit = Duration::from_secs(1);
    let t0 = Instant::now();
    h.model.stall_tx(true);
    let mut batch = vec![h.packet(&frame(1, 60))];
    h.tx(&mut batch);
    assert!(!h.q.tx.hung(t0, limit));
    // It completes, and something new goes in flight: the clock restarts.
    h.model.stall_tx(false);
    let mut batch = vec![h.packet(&frame(2, 60))];
    h.tx(&mut batch);
    h.model.stall_tx(true);
    let mut batch = vec![h.packet(&frame(3, 60))];
    h.tx(&mut batch);
    assert!(
        !h.q.tx.hung(t0 + limit, limit),
        "progress since the first look"
    );
    assert!(h.q.tx.hung(t0 + 3 * limit, limit));
}

#[test]
fn oversize_buffers_are_refused() {
    let h = Harness::new(Kind::E82574, 32, 32, 128);
    let pool = h.q.rx.pool();
    assert!(pool.alloc(BUFFER_SIZE + 1).is_none());
    assert!(pool.alloc(BUFFER_SIZE).is_some());
    let mut out = Vec::new();
    assert_eq!(pool.alloc_batch(4, BUFFER_SIZE + 1, &mut out), 0);
    assert!(out.is_empty());
    let mut p = pool.alloc(10).unwrap();
    let grow =
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| p.set_len(BUFFER_SIZE + 1)));
    assert!(
        grow.is_err(),
        "set_len past the buffer panics instead of exposing memory"
    );
}

#[test]
fn address_filter_programs_the_receive_address_and_multicast_tables() {
    use crate::nic::config::Config;
    for kind in KINDS {
        // Default: not promiscuous, the EEPROM's address alone in the table.
        let h = Harness::new(kind, 32, 32, 128);
        let m = &h.model;
        assert_eq!(
            m.peek(reg::RCTL) & (1 << 3 | 1 << 4),
            0,
            "{kind:?}: UPE/MPE off"
        );
        assert_ne!(
            m.peek(reg::RCTL) & 1 << 15,
            0,
            "{kind:?}: broadcast accepted"
        );
        for n in 1..16 {
            assert_eq!(
                m.peek(reg::RAH0 + 8 * n) & 1 << 31,
                0,
                "{kind:?}: entry {n} invalid"
            );
        }
        // A chosen MAC, two more unicast addresses, a multicast group.
        let config = Config {
            rx_ring: 32,
            tx_ring: 32,
            pool_size: 128,
            promiscuous: true,
            mac: Some([0x02, 0, 0, 0, 0, 0x01]),
            unicast: vec![[0x02, 0, 0, 0, 0, 0x02], [0x02, 0, 0, 0, 0, 0x03]],
            multicast: vec![[0x01, 0x00, 0x5e, 0x00, 0x00, 0xfb]],
            ..Config::default()
        };
        let h = Harness::with(kind, &config);
        let m = &h.model;
        assert_eq!(h.mac, [0x02, 0, 0, 0, 0, 0x01]);
        assert_ne!(
            m.peek(reg::RCTL) & (1 << 3 | 1 << 4),
            0,
            "{kind:?}: promiscuous"
        );
        for (n, last) in [(0u32, 1u8), (1, 2), (2, 3)] {
            assert_eq!(m.peek(reg::RAL0 + 8 * n), 0x0000_0002, "{kind:?} entry {n}");
            assert_eq!(m.peek(reg::RAH0 + 8 * n), (last as u32) << 8 | 1 << 31);
        }
        assert_eq!(m.peek(reg::RAH0 + 24) & 1 << 31, 0);
        // 01:00:5e:00:00:fb hashes to 0xfb0: MTA register 0x7d, bit 16.
        let mta: Vec<u32> = (0..128).map(|i| m.peek(0x5200 + 4 * i)).collect();
        assert_eq!(mta[0x7d], 1 << 16, "{kind:?}");
        assert_eq!(mta.iter().map(|w| w.count_ones()).sum::<u32>(), 1);
    }
}

#[test]
fn jumbo_frames_are_one_packet_each_way() {
    use crate::nic::config::Config;
    for kind in KINDS {
        let config = Config {
            rx_ring: 32,
            tx_ring: 32,
            pool_size: 96,
            mtu: 9000,
            ..Config::default()
        };
        let mut h = Harness::with(kind, &config);
        assert_ne!(h.model.peek(reg::RCTL) & 1 << 5, 0, "{kind:?}: LPE");
        let big = frame(9, 9018);
        assert!(h.model.deliver(0, &big), "{kind:?}");
        let got = h.rx(8);
        assert_eq!(got.len(), 1, "{kind:?}: one descriptor, one packet");
        assert_eq!(got[0].capacity(), 16384);
        assert_eq!(&got[0][..], &big[..]);
        let mut batch = vec![h.packet(&big)];
        assert_eq!(h.tx(&mut batch), 1);
        assert_eq!(h.model.take_sent()[0].bytes, big, "{kind:?}");
        // At the standard MTU a jumbo frame never reaches the ring.
        let mut h = Harness::new(kind, 32, 32, 128);
        assert!(!h.model.deliver(0, &big), "{kind:?}: dropped without LPE");
        assert!(h.rx(8).is_empty());
    }
}

/// An IPv4/UDP frame of flow `flow` (source 10.11.12.(100 + flow), port
/// 9000 + flow, to 10.11.12.2:9000), `len` bytes, `seq` in its payload.
fn udp_frame(flow: u8, seq: u32, len: usize) -> Vec<u8> {
    let mut f = frame(seq, len);
    let ip_len = (len - 14) as u16;
    f[14..34].copy_from_slice(&[
        0x45, 0, 0, 0, 0, 0, 0, 0, 64, 17, 0, 0, 10, 11, 12, 100, 10, 11, 12, 2,
    ]);
    f[16..18].copy_from_slice(&ip_len.to_be_bytes());
    f[29] = 100 + flow;
    f[34..36].copy_from_slice(&(9000 + flow as u16).to_be_bytes());
    f[36..38].copy_from_slice(&9000u16.to_be_bytes());
    f[38..40].copy_from_slice(&(ip_len - 20).to_be_bytes());
    f
}

/// Brings up `queues` queue pairs of `kind`.
fn multi_queue(kind: Kind, queues: u16) -> Harness {
    use crate::nic::config::Config;
    let config = Config {
        rx_ring: 32,
        tx_ring: 32,
        pool_size: 128,
        queues,
        ..Config::default()
    };
    Harness::with(kind, &config)
}

#[test]
fn the_82574l_brings_up_two_queues_with_rss() {
    let h = multi_queue(Kind::E82574, 2);
    let m = &h.model;
    let q1 = &h.more[0];
    // Queue 1's rings at RDBAL1 (0x2900) and TDBAL1 (0x3900), where the
    // driver's descriptors are, all but one RX descriptor posted.
    let (rxb, txb) = (m.rx_block(1), m.tx_block(1));
    assert_eq!((rxb, txb), (0x2900, 0x3900));
    assert_eq!(
        m.peek(rxb + reg::BAL) as u64 | (m.peek(rxb + reg::BAH) as u64) << 32,
        q1.rx.iova()
    );
    assert_eq!(
        m.peek(txb + reg::BAL) as u64 | (m.peek(txb + reg::BAH) as u64) << 32,
        q1.tx.iova()
    );
    assert_eq!((m.peek(rxb + reg::LEN), m.peek(rxb + reg::TAIL)), (512, 31));
    assert_eq!(m.peek(txb + reg::LEN), 512);
    assert_ne!(m.peek(txb + 0x40) & 1 << 10, 0, "TARC1 bit 10");
    // Extended descriptors, the hash written back (PCSD), RSS over two
    // queues (MRQC bits 1:0 = 01) on IPv4 and TCP/IPv4.
    assert_ne!(m.peek(reg::RFCTL) & 1 << 15, 0, "RFCTL.EXTEN");
    assert_ne!(m.peek(reg::RXCSUM) & 1 << 13, 0, "RXCSUM.PCSD");
    assert_eq!(m.peek(reg::MRQC), 1 | 1 << 16 | 1 << 17);
    // The redirection table alternates queue 0 and 1, in bit 7 of each entry.
    for i in 0..32 {
        assert_eq!(m.peek(reg::RETA + 4 * i), 0x8000_8000, "RETA{i}");
    }
    assert!((0..10).any(|i| m.peek(reg::RSSRK + 4 * i) != 0), "a key");
    // All of it before reception is enabled, which is written once.
    let writes = m.writes();
    let rctl_on = writes
        .iter()
        .position(|&(r, v)| r == reg::RCTL && v & 1 << 1 != 0)
        .unwrap();
    for r in [reg::MRQC, reg::RFCTL, rxb + reg::TAIL] {
        let last = writes.iter().rposition(|w| w.0 == r).unwrap();
        assert!(last < rctl_on, "{r:#x} written before RCTL.EN");
    }
    // Three queues are refused, and the 8254x has one.
    let config = crate::nic::config::Config {
        queues: 3,
        ..Default::default()
    };
    let err = crate::nic::bringup::check_queues(h.family, config.queues).unwrap_err();
    assert!(err.to_string().contains("supports 1 to 2 queues"), "{err}");
    let family = Harness::new(Kind::E8254x, 32, 32, 128).family;
    let err = crate::nic::bringup::check_queues(family, 2).unwrap_err();
    assert!(err.to_string().contains("one queue (no RSS)"), "{err}");
}

#[test]
fn rss_spreads_flows_over_every_queue_and_writes_the_hash_back() {
    for (kind, queues) in [(Kind::E82574, 2u16), (Kind::E82576, 4)] {
        let mut h = multi_queue(kind, queues);
        let key: Vec<u8> = (0..10)
            .flat_map(|i| h.model.peek(reg::RSSRK + 4 * i).to_le_bytes())
            .collect();
        let mut sent = vec![Vec::new(); queues as usize];
        for seq in 0..256u32 {
            let flow = (seq % 64) as u8;
            let f = udp_frame(flow, seq, 60 + (seq as usize * 37) % 1400);
            let q = h.model.deliver_rss(&f).expect("room on the queue");
            // The write-back just landed at the head's previous slot: RSS
            // type and queue in word 0, the hash in word 1, then status
            // and length where the advanced format has them.
            let head = h.model.peek(h.model.rx_block(q) + reg::HEAD) as usize;
            let wb = h.model.rx_desc(q, (head + 31) % 32);
            let mut input = f[26..34].to_vec();
            if kind == Kind::E82576 {
                input.extend_from_slice(&f[34..38]); // UDP ports hashed too
            }
            assert_eq!(wb[1], toeplitz(&key, &input), "{kind:?}: the hash");
            assert_eq!(wb[0], 2 | q << 8, "{kind:?}: IPv4 type, queue {q}");
            assert_eq!((wb[2] & 3, wb[3]), (3, f.len() as u32), "{kind:?}");
            sent[q as usize].push(f);
            // Every queue's frames, intact and in order, from its own ring.
            if seq % 16 == 15 {
                let mut rings: Vec<&mut crate::nic::queue_state::QueueState> = vec![&mut h.q];
                rings.extend(h.more.iter_mut());
                for (i, ring) in rings.into_iter().enumerate() {
                    let mut out = Vec::new();
                    ring.rx.rx_batch(&*h.model, &mut out, 64);
                    let got: Vec<Vec<u8>> = out.iter().map(|p| p.to_vec()).collect();
                    let want: Vec<Vec<u8>> = sent[i].drain(..).collect();
                    assert_eq!(got, want, "{kind:?} queue {i}");
                    ring.rx.check_invariants();
                }
            }
        }
        // 64 flows, each queue a fair share of them.
        let mut flows = vec![std::collections::HashSet::new(); queues as usize];
        for flow in 0..64u8 {
            let q = h.model.deliver_rss(&udp_frame(flow, 0, 60)).unwrap();
            flows[q as usize].insert(flow);
            let ring = if q == 0 {
                &mut h.q
            } else {
                &mut h.more[q as usize - 1]
            };
            ring.rx.rx_batch(&*h.model, &mut Vec::new(), 8);
        }
        let counts: Vec<usize> = flows.iter().map(|f| f.len()).collect();
        let fair = 64 / queues as usize;
        assert!(
            counts.iter().all(|&n| n >= fair / 2),
            "{kind:?}: flows per queue {counts:?}"
        );
        // A frame that is not IPv4 goes to queue 0.
        let mut raw = frame(1, 60);
        raw[12..14].copy_from_slice(&[0x88, 0xb5]);
        assert_eq!(h.model.deliver_rss(&raw), Some(0), "{kind:?}");
        // Queue 1 transmits on its own ring.
        let mut batch = vec![h.packet(&frame(77, 90))];
        assert_eq!(h.more[0].tx.tx_batch(&*h.model, &mut batch), 1);
        let wire = h.model.take_sent();
        assert_eq!(
            (wire[0].queue, &wire[0].bytes),
            (1, &frame(77, 90)),
            "{kind:?}"
        );
        assert_eq!(h.model.faults(), 0);
    }
}
