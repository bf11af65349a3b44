//! What faults and limits do to the rings, against the model: a transmit
//! queue that hangs (and one that will not stop), a dead link, a device that
//! vanishes, the teardown's reset, the pool's lifetime and the one arena of
//! a NIC, and the frames `tx_batch` must refuse.

use super::model::{reg, Kind};
use super::{frame, Harness, KINDS};
use crate::datapath::mempool::BUFFER_SIZE;
use crate::sys::dma::IommuMap;
use crate::sys::mmio::Registers;
use std::sync::atomic::AtomicBool;
use std::time::{Duration, Instant};

/// Fills TX queue 0 of `h` while its transmitter does nothing; returns the
/// frames queued (a full ring: 31 of 32).
fn fill_hung_ring(h: &mut Harness) -> Vec<Vec<u8>> {
    let mut queued = Vec::new();
    loop {
        let f = frame(queued.len() as u32, 60 + queued.len());
        let mut batch = vec![h.packet(&f)];
        if h.tx(&mut batch) == 0 {
            break;
        }
        queued.push(f);
    }
    assert_eq!(queued.len(), 31, "a full ring takes nothing more");
    queued
}

/// Runs the watchdog as `Queue` does, at `at` since the clock started.
fn watchdog(h: &mut Harness, gone: &AtomicBool) -> crate::Result<bool> {
    crate::nic::queue::watch_tx(&mut h.q.tx, &*h.model, h.family, gone, Duration::ZERO, 0)
}

#[test]
fn the_tx_watchdog_waits_the_limit_before_calling_a_hang() {
    for kind in KINDS {
        let mut h = Harness::new(kind, 32, 32, 256);
        h.model.stall_tx(true);
        fill_hung_ring(&mut h);
        let limit = Duration::from_secs(1);
        let t0 = Instant::now();
        assert!(
            !h.q.tx.hung(t0, limit),
            "the first look only starts the clock"
        );
        assert!(!h.q.tx.hung(t0 + limit / 2, limit));
        assert!(
            h.q.tx.hung(t0 + limit, limit),
            "{kind:?}: no completion for the limit"
        );
    }
}

#[test]
fn a_hung_queue_that_confirms_it_stopped_gets_its_buffers_back() {
    // The 82576 says so (TXDCTL.ENABLE reads clear); the 8254x and 82574L
    // only when the head has caught up, which a hung queue never does.
    let mut h = Harness::new(Kind::E82576, 32, 32, 256);
    let free = h.q.rx.pool().free_count();
    let ring = h.q.tx.iova();
    h.model.stall_tx(true);
    fill_hung_ring(&mut h);
    let gone = AtomicBool::new(false);
    assert!(
        !watchdog(&mut h, &gone).unwrap(),
        "the first look starts the clock"
    );
    assert!(watchdog(&mut h, &gone).unwrap(), "reset");
    assert_eq!(
        (h.q.tx.hangs, h.q.tx.reset_dropped, h.q.tx.quarantined()),
        (1, 31, 0)
    );
    assert_eq!(
        h.q.rx.pool().free_count(),
        free,
        "in-flight buffers returned"
    );
    assert_eq!(h.q.tx.iova(), ring, "the same ring, zeroed");
    let txb = h.model.tx_block(0);
    assert_eq!(
        (h.model.peek(txb + reg::HEAD), h.model.peek(txb + reg::TAIL)),
        (0, 0)
    );
    h.model.stall_tx(false);
    let mut batch = vec![h.packet(&frame(1000, 80))];
    assert_eq!(h.tx(&mut batch), 1);
    assert_eq!(h.model.take_sent()[0].bytes, frame(1000, 80), "sends again");
}

#[test]
fn a_hung_queue_that_never_stops_is_quarantined_and_its_buffers_never_reused() {
    for kind in KINDS {
        let mut h = Harness::new(kind, 32, 32, 256);
        let free = h.q.rx.pool().free_count();
        let ring = h.q.tx.iova();
        h.model.tx_wont_stop(true);
        let queued = fill_hung_ring(&mut h);
        let gone = AtomicBool::new(false);
        watchdog(&mut h, &gone).unwrap();
        assert!(watchdog(&mut h, &gone).unwrap(), "{kind:?}: reset");
        assert_eq!(h.q.tx.hangs, 1);
        assert_eq!(
            h.q.tx.reset_dropped, 31,
            "{kind:?}: every frame in flight counted"
        );
        assert_eq!(h.q.tx.quarantined(), 1, "{kind:?}");
        assert_ne!(h.q.tx.iova(), ring, "{kind:?}: a fresh ring");
        assert_eq!(
            h.q.rx.pool().free_count(),
            free - 31,
            "{kind:?}: the NIC may still read those buffers: not back in the pool"
        );
        // Everything the user can get now is scribbled over...
        let mut mine = Vec::new();
        h.q.rx.pool().alloc_batch(usize::MAX, 60, &mut mine);
        for p in &mut mine {
            p.fill(0xEE);
        }
        // ...then the stuck transmitter finishes the old ring: it must read
        // the frames as they were queued, and find its ring still mapped.
        let late = h.model.finish_stuck_tx();
        assert_eq!(late, queued, "{kind:?}: a buffer the NIC owned was reused");
        assert_eq!(
            h.model.faults(),
            0,
            "{kind:?}: the old ring was unmapped under the NIC"
        );
        drop(mine);
        h.model.take_sent();
        let mut batch = vec![h.packet(&frame(1000, 80))];
        assert_eq!(h.tx(&mut batch), 1);
        assert_eq!(
            h.model.take_sent()[0].bytes,
            frame(1000, 80),
            "{kind:?}: sends again"
        );
        h.q.tx.reclaim();
        assert_eq!(h.q.tx.in_flight(), 0, "{kind:?}: the fresh ring completes");
    }
}

#[test]
fn a_dead_link_holding_frames_is_not_a_hang() {
    for kind in KINDS {
        let mut h = Harness::new(kind, 32, 32, 256);
        h.model.set_link(false);
        fill_hung_ring(&mut h);
        let gone = AtomicBool::new(false);
        for _ in 0..4 {
            assert!(!watchdog(&mut h, &gone).unwrap(), "{kind:?}");
        }
        assert_eq!((h.q.tx.hangs, h.q.tx.reset_dropped), (0, 0), "{kind:?}");
        assert_eq!(
            h.q.tx.in_flight(),
            31,
            "{kind:?}: the frames wait for the link"
        );
    }
}

#[test]
fn after_the_teardown_steps_the_device_touches_no_memory() {
    // What `Nic`'s drop does before any DMA memory goes: the family's reset,
    // then bus mastering off. Traffic that keeps coming must not reach the
    // rings: a reset that left RX or TX running would show as DMA faults
    // (refused by the bus-master bit) here, and as writes into freed
    // memory on a real machine.
    for kind in KINDS {
        let mut h = Harness::new(kind, 32, 32, 128);
        assert!(
            h.model.deliver(0, &frame(1, 60)),
            "{kind:?}: receiving before"
        );
        let mut batch = vec![h.packet(&frame(2, 60))];
        h.model.stall_tx(true);
        assert_eq!(h.tx(&mut batch), 1);
        h.family.reset(&*h.model).unwrap();
        h.model.set_bus_master(false);
        h.model.stall_tx(false);
        let tail = h.model.tx_block(0) + reg::TAIL;
        h.model.write(tail, h.model.peek(tail)); // a late tail write
        for seq in 0..8 {
            assert!(
                !h.model.deliver(0, &frame(seq, 60)),
                "{kind:?}: received after the reset"
            );
        }
        assert_eq!(
            h.model.faults(),
            0,
            "{kind:?}: the device tried DMA after the teardown"
        );
        assert!(
            h.model.take_sent().is_empty(),
            "{kind:?}: sent after the teardown"
        );
    }
}

#[test]
fn a_gone_device_stops_the_watchdog_and_never_inflates_the_counters() {
    for kind in KINDS {
        let mut h = Harness::new(kind, 32, 32, 256);
        h.model.stall_tx(true);
        fill_hung_ring(&mut h);
        let gone = AtomicBool::new(false);
        let mut stats = crate::Stats::default();
        crate::nic::read_stats_if_present(&*h.model, h.family, &gone, &mut stats);
        let before = stats;
        h.model.vanish();
        watchdog(&mut h, &gone).unwrap();
        assert!(
            matches!(watchdog(&mut h, &gone), Err(crate::Error::DeviceGone)),
            "{kind:?}: all-ones STATUS is not a link that is up"
        );
        assert_eq!(h.q.tx.hangs, 0, "{kind:?}: no reset of a dead queue");
        assert!(gone.load(std::sync::atomic::Ordering::Relaxed));
        for _ in 0..3 {
            crate::nic::read_stats_if_present(&*h.model, h.family, &gone, &mut stats);
        }
        assert_eq!(stats, before, "{kind:?}: nothing added from all-ones reads");
        assert!(matches!(
            crate::nic::check_present(&*h.model, &gone),
            Err(crate::Error::DeviceGone)
        ));
    }
}

#[test]
fn a_device_that_vanishes_between_counter_reads_adds_nothing() {
    // Gone after the watchdog's look but before the counters are read.
    let h = Harness::new(Kind::E82574, 32, 32, 128);
    let gone = AtomicBool::new(false);
    let mut stats = crate::Stats::default();
    h.model.vanish();
    crate::nic::read_stats_if_present(&*h.model, h.family, &gone, &mut stats);
    assert_eq!(stats, crate::Stats::default());
    assert!(gone.load(std::sync::atomic::Ordering::Relaxed));
}

#[test]
fn every_ring_and_pool_of_a_nic_is_in_one_mapping_of_the_size_announced() {
    for queues in [1, 2] {
        let config = crate::Config {
            queues,
            rx_ring: 256,
            tx_ring: 128,
            pool_size: 768,
            ..crate::Config::default()
        };
        let h = Harness::with(Kind::E82574, &config);
        let maps = h.model.mappings();
        assert_eq!(maps.len(), 1, "{queues} queue(s): {maps:x?}");
        // 768 buffers of 2 KiB, 4 KiB and 2 KiB of descriptors, per queue:
        // what `MemlockTooLow` asks for, exactly.
        let want = queues as usize * (768 * 2048 + 4096 + 4096);
        assert_eq!(maps[0].1, want);
        assert_eq!(crate::nic::bringup::dma_bytes(&config), want);
        let pinned = h.model.pinned().load(std::sync::atomic::Ordering::Relaxed);
        assert_eq!(pinned, want as u64);
    }
}

#[test]
fn a_pool_lives_exactly_as_long_as_its_last_packet_or_ref() {
    use crate::datapath::mempool::{Mempool, PoolRef};
    use crate::sys::dma::{DmaMemory, IovaPolicy};
    let model = std::sync::Arc::new(super::model::ModelNic::new(Kind::E82574));
    let space = std::sync::Arc::clone(&model) as std::sync::Arc<dyn IommuMap>;
    let dma = DmaMemory::new(space, IovaPolicy::Allocated, false);
    let (a, b) = (
        PoolRef::new(&dma, 64, BUFFER_SIZE).unwrap(),
        PoolRef::new(&dma, 64, BUFFER_SIZE).unwrap(),
    );
    assert_eq!(model.mappings().len(), 2);
    let mut pkts = Vec::new();
    assert_eq!(a.alloc_batch(40, 60, &mut pkts), 40);
    assert_eq!(b.alloc_batch(10, 60, &mut pkts), 10);
    pkts.extend(a.alloc(60));
    let a2 = a.clone();
    drop((a, b));
    assert_eq!(model.mappings().len(), 2, "the packets keep both pools");
    // A run of 20 given back at once on one thread, the rest dropped one by
    // one on another.
    let mut first = pkts.drain(..20).collect::<Vec<_>>();
    std::thread::scope(|s| {
        s.spawn(|| Mempool::recycle(&mut first));
    });
    assert!(first.is_empty());
    assert_eq!(a2.free_count(), 64 - 41 + 20, "a run of 20 given back");
    std::thread::scope(|s| {
        s.spawn(move || drop(pkts));
    });
    assert_eq!(
        model.mappings().len(),
        1,
        "`b` freed with its last packet, `a2` keeps `a`"
    );
    assert_eq!(a2.free_count(), 64, "every buffer back");
    drop(a2);
    assert_eq!(model.mappings().len(), 0, "both pools freed and unmapped");
}

#[test]
fn packets_of_a_closed_nics_pool_are_refused() {
    let mut h = Harness::new(Kind::E82574, 32, 32, 128);
    let other = Harness::new(Kind::E82574, 32, 32, 128);
    let mut old = vec![other.packet(&frame(1, 60)), other.packet(&frame(2, 60))];
    other.q.rx.pool().retire(); // what dropping its `Nic` does
    old.push(h.packet(&frame(3, 60)));
    assert_eq!(h.tx(&mut old), 1, "only the live pool's packet");
    assert_eq!(h.q.tx.dead_pool, 2);
    let wire = h.model.take_sent();
    assert_eq!(wire.len(), 1);
    assert_eq!(wire[0].bytes, frame(3, 60));
    assert!(other.model.take_sent().is_empty());
}

#[test]
fn frames_longer_than_the_mtu_are_refused_and_counted() {
    for kind in KINDS {
        let mut h = Harness::new(kind, 32, 32, 128);
        // MTU 1500: 1518 bytes with a tag in the bytes, 1514 with one kept apart.
        let mut tagged = h.packet(&frame(3, 1515));
        tagged.set_vlan_tag(Some(7));
        let mut batch = vec![
            h.packet(&frame(1, 1518)),
            h.packet(&frame(2, 1519)),
            tagged,
            h.packet(&frame(4, 60)),
        ];
        assert_eq!(h.tx(&mut batch), 2, "{kind:?}: only what was queued");
        assert!(batch.is_empty(), "the refused leave the batch too");
        assert_eq!(h.q.tx.giants, 2, "{kind:?}");
        let wire: Vec<usize> = h.model.take_sent().iter().map(|s| s.bytes.len()).collect();
        assert_eq!(wire, [1518, 60], "{kind:?}");
    }
}

/// A reset by someone else (a VF's PF) clears the queue's registers: the
/// rings are armed again whole, the frames the NIC had written and the
/// ones in flight are counted lost, and traffic flows again both ways.
#[test]
fn rings_the_nic_lost_are_armed_again_whole() {
    for kind in KINDS {
        let mut h = Harness::new(kind, 32, 32, 256);
        for seq in 0..5 {
            assert!(h.model.deliver(0, &frame(seq, 60)));
        }
        h.model.stall_tx(true);
        let queued = fill_hung_ring(&mut h).len() as u64;
        // The reset: every queue register back to zero.
        for block in [h.model.rx_block(0), h.model.tx_block(0)] {
            for r in [reg::BAL, reg::BAH, reg::LEN, reg::HEAD, reg::TAIL] {
                h.model.poke(block + r, 0);
            }
        }
        h.model.stall_tx(false);
        let r = &*h.model;
        assert!(
            h.q.rx.lost(r),
            "{kind:?}: a cleared length register is a lost ring"
        );
        let mode = crate::nic::config::Config::default().rx_mode();
        crate::nic::bringup::rearm_queue(r, h.family, &mut h.q, 0, mode).unwrap();
        h.q.rx.check_invariants();
        assert_eq!(h.q.rx.dropped, 5, "{kind:?}: the frames not taken");
        assert_eq!(
            h.q.tx.reset_dropped, queued,
            "{kind:?}: the frames in flight"
        );
        assert_eq!(r.read(h.model.rx_block(0) + reg::LEN), 32 * 16);
        assert!(!h.q.rx.lost(r));
        let sent: Vec<Vec<u8>> = (10..40).map(|s| frame(s, 100)).collect();
        for f in &sent {
            assert!(
                h.model.deliver(0, f),
                "{kind:?}: the NIC has descriptors again"
            );
        }
        let got: Vec<Vec<u8>> = h.rx(64).iter().map(|p| p.to_vec()).collect();
        assert_eq!(got, sent, "{kind:?}");
        h.model.take_sent();
        let mut batch = vec![h.packet(&frame(99, 80))];
        assert_eq!(h.tx(&mut batch), 1);
        let wire = h.model.take_sent();
        assert_eq!(wire.len(), 1, "{kind:?}: the fresh TX ring sends");
        assert_eq!(wire[0].bytes, frame(99, 80));
        assert_eq!(h.model.faults(), 0, "{kind:?}");
    }
}
