//! The driver's data path on the software NIC, for the host-side benchmark
//! (`cargo bench -p vfio-e1000 --bench datapath`): one queue pair brought
//! up by the driver's own steps, with the model's work (receiving into the
//! ring, transmitting what was posted) done in calls of its own, so that
//! the driver's cost and the model's can be timed apart. Not a stable
//! interface.

use super::model::Kind;
use super::Harness;
use crate::sys::mmio::Registers;
use crate::{Config, Packet};
use std::time::{Duration, Instant};

/// One queue pair of a model NIC, driven by the driver's rings.
pub struct Datapath {
    h: Harness,
}

impl Datapath {
    /// Brings up one queue pair of the model of `family` ("8254x",
    /// "82574L" or "82576") with rings of `ring` descriptors and a pool of
    /// `pool` buffers.
    ///
    /// # Panics
    /// On an unknown family or a configuration the driver refuses.
    pub fn new(family: &str, ring: usize, pool: usize) -> Datapath {
        let kind = match family {
            "8254x" => Kind::E8254x,
            "82574L" => Kind::E82574,
            "82576" => Kind::E82576,
            other => panic!("no model of {other}: 8254x, 82574L or 82576"),
        };
        let config = Config {
            rx_ring: ring,
            tx_ring: ring,
            pool_size: pool,
            ..Config::default()
        };
        let h = Harness::with(kind, &config);
        h.model.set_bench_mode(true);
        Datapath { h }
    }

    /// The model's work: receives `frame` `n` times into the RX ring (as
    /// many as it has descriptors for); returns how many.
    pub fn deliver(&self, frame: &[u8], n: usize) -> usize {
        (0..n)
            .take_while(|_| self.h.model.deliver(0, frame))
            .count()
    }

    /// The model's work: transmits what the driver posted; returns the
    /// frames sent so far.
    pub fn transmit(&self) -> u64 {
        self.h.model.run_tx(0)
    }

    /// The driver's `Queue::rx_batch`.
    pub fn rx(&mut self, out: &mut Vec<Packet>, max: usize) -> usize {
        self.h.q.rx.rx_batch(&*self.h.model, out, max)
    }

    /// The driver's `Queue::tx_batch`.
    pub fn tx(&mut self, pkts: &mut Vec<Packet>) -> usize {
        self.h.q.tx.tx_batch(&*self.h.model, pkts)
    }

    /// The driver's `Queue::alloc_batch`.
    pub fn alloc_batch(&self, n: usize, len: usize, out: &mut Vec<Packet>) -> usize {
        self.h.q.rx.pool().alloc_batch(n, len, out)
    }

    /// Register writes the driver has made so far.
    pub fn register_writes(&self) -> u64 {
        self.h.model.accesses().1
    }

    /// What `n` register writes cost the model (its register file is a map
    /// under a lock; a real NIC's posted write costs the CPU far less): the
    /// benchmark subtracts this from the driver's time.
    pub fn time_register_writes(&self, n: u32) -> Duration {
        let reg = self.h.model.tx_block(0) + super::model::reg::TAIL;
        let tail = self.h.model.peek(reg);
        let start = Instant::now();
        for _ in 0..n {
            self.h.model.write(reg, tail);
        }
        start.elapsed()
    }
}
