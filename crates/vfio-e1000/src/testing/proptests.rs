//! Property tests: the model NIC misbehaves at random, and the driver's
//! rings must neither panic, nor loop, nor hand out or free a buffer wrongly,
//! nor let the device write into a buffer the user holds.

use super::model::reg;
use super::{frame, Harness, KINDS};
use proptest::prelude::*;
use std::collections::HashSet;

/// What the user writes into every packet it holds.
const HELD: u8 = 0xA5;

/// One thing that happens to a ring.
#[derive(Debug, Clone)]
enum Op {
    /// The NIC receives frames of these lengths (some span descriptors).
    Deliver(Vec<usize>),
    /// The driver polls with this budget.
    Rx(usize),
    /// The device writes descriptor `slot` with DD and garbage: any length,
    /// EOP or not, error or not (on slots it may or may not own).
    Stray {
        slot: usize,
        len: u16,
        eop: bool,
        error: bool,
    },
    /// The device's head register jumps anywhere (even out of range).
    Head(u32),
    /// The driver sends this many frames.
    Tx(usize),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => proptest::collection::vec(0usize..5000, 1..12).prop_map(Op::Deliver),
        4 => (0usize..80).prop_map(Op::Rx),
        2 => (0usize..32, any::<u16>(), any::<bool>(), any::<bool>())
            .prop_map(|(slot, len, eop, error)| Op::Stray { slot, len, eop, error }),
        1 => any::<u32>().prop_map(Op::Head),
        2 => (0usize..40).prop_map(Op::Tx),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn rings_survive_a_misbehaving_device(kind in 0usize..3, ops in proptest::collection::vec(op(), 1..40)) {
        let mut h = Harness::new(KINDS[kind], 32, 32, 160);
        // Long frames are taken into 2 KiB buffers, several descriptors each.
        h.model.poke(reg::RCTL, h.model.peek(reg::RCTL) | 1 << 5);
        let pool_size = h.q.rx.pool().capacity();
        let mut held = Vec::new();
        for op in ops {
            match op {
                Op::Deliver(lens) => {
                    for (k, len) in lens.into_iter().enumerate() {
                        h.model.deliver(0, &frame(k as u32, len.max(1)));
                    }
                }
                Op::Rx(max) => {
                    let armed: HashSet<u64> = (0..32).map(|i| h.q.rx.armed_iova(i)).collect();
                    let got = h.rx(max);
                    for p in &got {
                        // Only buffers the driver had armed, never over a buffer.
                        prop_assert!(armed.contains(&p.iova()));
                        prop_assert!(!p.is_empty() && p.len() <= crate::datapath::mempool::BUFFER_SIZE);
                    }
                    // The user scribbles over what it holds: the device
                    // must never write into these buffers again.
                    for mut p in got {
                        p.fill(HELD);
                        held.push(p);
                    }
                    if held.len() > 64 {
                        held.clear();
                    }
                }
                Op::Stray { slot, len, eop, error } => {
                    // The buffer address stays: the device got it from the driver.
                    let armed = h.model.rx_desc(0, slot);
                    let wb = h.model.written_back(len, eop, error);
                    h.model.scribble_rx(0, slot, [armed[0], armed[1], wb[2], wb[3]]);
                }
                Op::Head(v) => h.model.poke(h.model.rx_block(0) + reg::HEAD, v),
                Op::Tx(n) => {
                    let mut batch: Vec<_> = (0..n)
                        .filter_map(|k| {
                            let f = frame(k as u32, 60);
                            let mut p = h.q.rx.pool().alloc(60)?;
                            p.copy_from_slice(&f);
                            Some(p)
                        })
                        .collect();
                    let taken = h.tx(&mut batch);
                    prop_assert!(taken <= 31);
                    h.model.take_sent();
                }
            }
            // No buffer armed twice or while free; none lost; none the
            // user holds written by the device.
            h.q.rx.check_invariants();
            for p in &held {
                prop_assert!(p.iter().all(|&b| b == HELD), "a held packet was written");
            }
            let in_tx = h.q.tx.in_flight();
            let free = h.q.rx.pool().free_count();
            prop_assert_eq!(free + 32 + in_tx + held.len(), pool_size);
        }
    }
}
