//! The software NIC model and the tests that drive the driver's ring and
//! family code against it, in plain `cargo test`, with no VM; with the
//! `model` feature, also the benchmark's view of it ([`bench`]).

// Outside the tests (feature `model`) only the benchmark's part is used.
#![cfg_attr(not(test), allow(dead_code, unused_imports))]

#[cfg(feature = "model")]
pub mod bench;
#[cfg(test)]
mod fault_tests;
#[cfg(test)]
mod irq_tests;
pub(crate) mod model;
#[cfg(test)]
mod offload_tests;
#[cfg(test)]
mod proptests;
#[cfg(test)]
mod ptp_tests;
#[cfg(test)]
mod segmentation_tests;
#[cfg(test)]
mod split_tests;
#[cfg(test)]
mod tests;

use crate::datapath::mempool::Packet;
use crate::hw::devices::{lookup, INTEL};
use crate::hw::family::Family;
use crate::nic::bringup;
use crate::nic::config::Config;
use crate::nic::queue_state::QueueState;
use crate::sys::dma::{DmaMemory, IommuMap, IovaPolicy};
use model::{Kind, ModelNic};
use std::sync::Arc;

/// Every family's model.
pub(crate) const KINDS: [Kind; 3] = [Kind::E8254x, Kind::E82574, Kind::E82576];

/// Queue pairs brought up on a model NIC by the driver's own bring-up steps.
pub(crate) struct Harness {
    pub model: Arc<ModelNic>,
    pub family: &'static dyn Family,
    /// Queue pair 0.
    pub q: QueueState,
    /// Queue pairs 1 and up, with `Config::queues` over 1.
    pub more: Vec<QueueState>,
    pub mac: [u8; 6],
}

impl Harness {
    /// Brings up one queue pair of `kind` with the given ring and pool sizes.
    pub(crate) fn new(kind: Kind, rx_ring: usize, tx_ring: usize, pool: usize) -> Harness {
        let config = Config {
            rx_ring,
            tx_ring,
            pool_size: pool,
            ..Config::default()
        };
        Harness::with(kind, &config)
    }

    /// Brings up `config.queues` queue pairs of `kind` configured by `config`.
    pub(crate) fn with(kind: Kind, config: &Config) -> Harness {
        let model = Arc::new(ModelNic::new(kind));
        let family = lookup(INTEL, kind.device_id())
            .expect("in the table")
            .family;
        // One arena for everything, as `Nic::open` maps it.
        let dma = DmaMemory::new(
            Arc::clone(&model) as Arc<dyn IommuMap>,
            IovaPolicy::Allocated,
            false,
        )
        .with_arena(bringup::dma_bytes(config))
        .expect("the model maps anything");
        config.validate().expect("a valid test configuration");
        let r = &*model;
        bringup::reset(r, family).unwrap();
        let mac = bringup::init(r, family, config).unwrap();
        bringup::check_queues(family, config.queues).unwrap();
        let q = bringup::arm_queue(r, family, &dma, config, 0).unwrap();
        let more = (1..config.queues)
            .map(|i| bringup::arm_queue(r, family, &dma, config, i).unwrap())
            .collect();
        family.enable_rss(r, config.queues).unwrap();
        bringup::start(r, family, config);
        Harness {
            model,
            family,
            q,
            more,
            mac,
        }
    }

    /// `rx_batch` through the driver's ring.
    pub(crate) fn rx(&mut self, max: usize) -> Vec<Packet> {
        let mut out = Vec::new();
        let n = self.q.rx.rx_batch(&*self.model, &mut out, max);
        assert_eq!(n, out.len());
        // One over with header split: a frame of two packets for a `max` of 1.
        assert!(n <= max.max(2));
        out
    }

    /// `tx_batch` through the driver's ring; returns how many were taken.
    pub(crate) fn tx(&mut self, pkts: &mut Vec<Packet>) -> usize {
        self.q.tx.tx_batch(&*self.model, pkts)
    }

    /// A packet from the pool holding `bytes`.
    pub(crate) fn packet(&self, bytes: &[u8]) -> Packet {
        let mut p = self.q.rx.pool().alloc(bytes.len()).expect("pool has room");
        p.copy_from_slice(bytes);
        p
    }
}

/// A recognisable frame of `len` bytes: its sequence number in every byte
/// after a 14-byte Ethernet header.
pub(crate) fn frame(seq: u32, len: usize) -> Vec<u8> {
    let mut f = vec![0u8; len];
    if len < 14 {
        f.fill(seq as u8);
        return f;
    }
    f[..6].fill(0xff);
    f[12..14].copy_from_slice(&[0x08, 0x00]);
    for (i, b) in f.iter_mut().enumerate().skip(14) {
        *b = (seq as usize + i) as u8;
    }
    if len >= 18 {
        f[14..18].copy_from_slice(&seq.to_be_bytes());
    }
    f
}
