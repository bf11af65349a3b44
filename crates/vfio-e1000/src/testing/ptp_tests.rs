//! IEEE 1588 against the model: the clock counts nanoseconds on every
//! family that has one, a frame that asks is timestamped as it goes out,
//! and PTP frames of the configured type are timestamped as they arrive,
//! one latch per direction at a time.

use super::model::{reg, Kind};
use super::{Harness, KINDS};
use crate::hw::ptp;
use crate::nic::bringup;
use crate::nic::clock::{PTP_DELAY_REQ, PTP_SYNC};
use crate::nic::config::Config;
use crate::sys::mmio::Registers;

fn config(timestamps: Option<u8>) -> Config {
    Config {
        rx_ring: 32,
        tx_ring: 32,
        pool_size: 128,
        timestamps,
        ..Config::default()
    }
}

/// A PTPv2 message over Ethernet: `first_byte` (transportSpecific and
/// messageType), version 2, `sequence`.
fn ptp_frame(first_byte: u8, sequence: u16) -> Vec<u8> {
    e1000_wire::ptp_event_frame([0x02, 0, 0, 0, 0, 1], first_byte, sequence)
}

#[test]
fn the_clock_counts_nanoseconds_where_the_family_has_one() {
    for kind in KINDS {
        let h = Harness::with(kind, &config(None));
        let Some(_) = h.family.clock_increment() else {
            assert_eq!(kind, Kind::E8254x, "only the 8254x has no clock");
            assert!(!h.family.capabilities().clock);
            continue;
        };
        let start = ptp::read_counter(&*h.model);
        h.model.advance_clock(1_000_000);
        assert_eq!(
            ptp::read_counter(&*h.model) - start,
            1_000_000,
            "{kind:?}: one count per ns on its own tick"
        );
    }
}

#[test]
fn timestamps_are_refused_where_the_family_has_none() {
    for kind in [Kind::E8254x, Kind::E82574] {
        let h = Harness::with(kind, &config(None));
        let err = bringup::init(&*h.model, h.family, &config(Some(PTP_SYNC)));
        assert!(err.is_err(), "{kind:?}");
    }
}

#[test]
fn a_frame_that_asks_is_timestamped_as_it_goes_out() {
    let mut h = Harness::with(Kind::E82576, &config(Some(PTP_SYNC)));
    let r = &*h.model;
    assert_eq!(ptp::take_tx(r), None, "nothing latched at start");
    h.model.advance_clock(5_000);
    // A frame that does not ask latches nothing.
    let plain = h.packet(&ptp_frame(PTP_SYNC, 1));
    assert_eq!(h.tx(&mut vec![plain]), 1);
    assert_eq!(ptp::take_tx(&*h.model), None);
    // One that asks does, with no context descriptor for it.
    let head = h.model.read(h.model.tx_block(0) + reg::HEAD);
    let mut asks = h.packet(&ptp_frame(PTP_SYNC, 2));
    asks.set_tx_timestamp(true);
    let at = ptp::read_counter(&*h.model);
    assert_eq!(h.tx(&mut vec![asks]), 1);
    let after = h.model.read(h.model.tx_block(0) + reg::HEAD);
    assert_eq!(after - head, 1, "one data descriptor, no context");
    // A second one while the first time is unread is not latched.
    h.model.advance_clock(7_200);
    let mut again = h.packet(&ptp_frame(PTP_SYNC, 3));
    again.set_tx_timestamp(true);
    assert_eq!(h.tx(&mut vec![again]), 1);
    assert_eq!(ptp::take_tx(&*h.model), Some(at));
    assert_eq!(ptp::take_tx(&*h.model), None, "read once");
    // Read, the latch takes the next one.
    let mut third = h.packet(&ptp_frame(PTP_SYNC, 4));
    third.set_tx_timestamp(true);
    assert_eq!(h.tx(&mut vec![third]), 1);
    assert_eq!(ptp::take_tx(&*h.model), Some(at + 7_200));
    assert_eq!(h.model.take_sent().len(), 4, "every frame went out");
}

#[test]
fn ptp_frames_of_the_configured_type_are_timestamped_as_they_arrive() {
    let mut h = Harness::with(Kind::E82576, &config(Some(PTP_SYNC)));
    h.model.advance_clock(48_000);
    let at = ptp::read_counter(&*h.model);
    assert!(h.model.deliver(0, &ptp_frame(PTP_SYNC, 0x1234)));
    h.model.advance_clock(1_600);
    // Another type, a second Sync while the first time is unread, and a
    // frame that is not PTP: none is timestamped.
    assert!(h.model.deliver(0, &ptp_frame(PTP_DELAY_REQ, 7)));
    assert!(h.model.deliver(0, &ptp_frame(PTP_SYNC, 8)));
    assert!(h.model.deliver(0, &super::frame(9, 60)));
    let got = h.rx(8);
    let flags: Vec<bool> = got.iter().map(|p| p.rx_timestamped()).collect();
    assert_eq!(flags, [true, false, false, false]);
    assert_eq!(ptp::take_rx(&*h.model), Some((at, 0x1234)));
    assert_eq!(ptp::take_rx(&*h.model), None, "read once");
    // Read, the latch takes the next Sync.
    assert!(h.model.deliver(0, &ptp_frame(PTP_SYNC, 10)));
    assert!(h.rx(1)[0].rx_timestamped());
    assert_eq!(ptp::take_rx(&*h.model), Some((at + 1_600, 10)));
}

#[test]
fn a_delay_request_clock_latches_delay_requests_only() {
    let mut h = Harness::with(Kind::E82576, &config(Some(PTP_DELAY_REQ)));
    assert!(h.model.deliver(0, &ptp_frame(PTP_SYNC, 1)));
    assert!(h.model.deliver(0, &ptp_frame(PTP_DELAY_REQ, 2)));
    let flags: Vec<bool> = h.rx(4).iter().map(|p| p.rx_timestamped()).collect();
    assert_eq!(flags, [false, true]);
    assert_eq!(ptp::take_rx(&*h.model).map(|(_, s)| s), Some(2));
}
