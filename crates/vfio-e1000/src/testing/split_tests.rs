//! Header split on the 82576 against the model: headers and payload of a
//! TCP/UDP frame in two buffers, delivered as two packets, every other
//! frame whole; the pool's buffers all come back.

use super::model::Kind;
use super::{frame, Harness};
use crate::datapath::checksum::tests::{ip_frame as unfilled, transport_frame};
use crate::datapath::checksum::{fill, layout};
use crate::datapath::mempool::ChecksumStatus::{Good, NotChecked};
use crate::datapath::mempool::Packet;
use crate::hw::desc::{HEADER_BUFFER_SIZE, L4};
use crate::nic::bringup;
use crate::nic::config::Config;
use crate::sys::mmio::Registers;

/// SRRCTL's offset in an RX queue block.
const SRRCTL: u32 = 0x0C;

fn config() -> Config {
    Config {
        rx_ring: 32,
        tx_ring: 32,
        pool_size: 160,
        header_split: true,
        ..Config::default()
    }
}

/// A TCP or UDP frame over IPv4 or IPv6 with its checksums right.
fn ip_frame(ipv6: bool, tcp: bool, payload: usize, tag: Option<u16>) -> Vec<u8> {
    let mut f = unfilled(ipv6, tcp, payload, tag);
    let (c, total) = layout(&f).expect("an IP frame");
    fill(&mut f, &c, total);
    f
}

/// A frame no header split applies to (EtherType ARP).
fn not_ip(len: usize) -> Vec<u8> {
    let mut f = frame(7, len);
    f[12..14].copy_from_slice(&[0x08, 0x06]);
    f
}

/// The frames in `pkts`: each the bytes of its packets, a frame ending at
/// a packet that does not continue.
fn frames(pkts: &[Packet]) -> Vec<Vec<u8>> {
    let mut out = vec![Vec::new()];
    for p in pkts {
        out.last_mut().unwrap().extend_from_slice(p);
        if !p.continues() {
            out.push(Vec::new());
        }
    }
    out.pop();
    out
}

#[test]
fn tcp_and_udp_frames_arrive_as_headers_then_payload() {
    let mut h = Harness::with(Kind::E82576, &config());
    let srrctl = h.model.peek(h.model.rx_block(0) + SRRCTL);
    assert_eq!((srrctl >> 25) & 7, 2, "DESCTYPE header split");
    assert_eq!(((srrctl >> 8) & 0xF) as usize * 64, HEADER_BUFFER_SIZE);
    let sent = [
        ip_frame(false, true, 1000, None), // TCP/IPv4: 54 bytes of headers
        ip_frame(true, false, 300, None),  // UDP/IPv6: 62
        not_ip(200),                       // whole
        ip_frame(false, false, 0, None),   // UDP/IPv4, headers only: one packet
    ];
    for f in &sent {
        assert!(h.model.deliver(0, f));
    }
    let got = h.rx(32);
    let lens: Vec<(usize, bool)> = got.iter().map(|p| (p.len(), p.continues())).collect();
    assert_eq!(
        lens,
        [
            (54, true),
            (1000, false),
            (62, true),
            (300, false),
            (200, false),
            (42, false),
        ]
    );
    assert_eq!(frames(&got), sent);
    // What the NIC reported travels with the first packet of a frame.
    assert_eq!(got[0].l4_checksum(), Good);
    assert_eq!(got[0].ip_checksum(), Good);
    assert_eq!(got[1].l4_checksum(), NotChecked);
    assert_eq!(h.q.rx.split, 2, "the headers-only frame is one packet");
    assert_eq!(h.q.rx.received, 4);
    h.q.rx.check_invariants();
}

#[test]
fn other_ip_protocols_split_after_the_ip_header() {
    let mut h = Harness::with(Kind::E82576, &config());
    let sctp = transport_frame(false, L4::Sctp, 100, None);
    let sctp6 = transport_frame(true, L4::Sctp, 100, None);
    assert!(h.model.deliver(0, &sctp) && h.model.deliver(0, &sctp6));
    let got = h.rx(32);
    let lens: Vec<(usize, bool)> = got.iter().map(|p| (p.len(), p.continues())).collect();
    assert_eq!(
        lens,
        [
            (34, true),
            (sctp.len() - 34, false),
            (54, true),
            (sctp6.len() - 54, false)
        ]
    );
    assert_eq!(frames(&got), [sctp, sctp6]);
}

#[test]
fn headers_longer_than_the_header_buffer_leave_the_frame_whole() {
    let mut h = Harness::with(Kind::E82576, &config());
    // A 64-byte header buffer: TCP/IPv6's 74 bytes of headers overflow it
    // (HBO), UDP/IPv4's 42 fit.
    let block = h.model.rx_block(0);
    let srrctl = h.model.peek(block + SRRCTL);
    h.model.poke(block + SRRCTL, srrctl & !0xF00 | 1 << 8);
    let tcp6 = ip_frame(true, true, 100, None);
    let udp4 = ip_frame(false, false, 100, None);
    assert!(h.model.deliver(0, &tcp6) && h.model.deliver(0, &udp4));
    let got = h.rx(32);
    let lens: Vec<(usize, bool)> = got.iter().map(|p| (p.len(), p.continues())).collect();
    assert_eq!(lens, [(tcp6.len(), false), (42, true), (100, false)]);
    assert_eq!(frames(&got), [tcp6, udp4]);
}

#[test]
fn a_split_frame_goes_back_out_as_it_came_without_a_copy() {
    let mut h = Harness::with(Kind::E82576, &config());
    let sent = [
        ip_frame(false, true, 1400, None),
        not_ip(100),
        ip_frame(true, true, 20, None),
    ];
    for f in &sent {
        assert!(h.model.deliver(0, f));
    }
    let mut got = h.rx(32);
    assert_eq!(got.len(), 5);
    assert_eq!(h.tx(&mut got), 5);
    let wire: Vec<Vec<u8>> = h.model.take_sent().into_iter().map(|s| s.bytes).collect();
    assert_eq!(wire, sent);
}

#[test]
fn a_max_of_one_still_takes_a_split_frame() {
    let mut h = Harness::with(Kind::E82576, &config());
    let f = ip_frame(false, false, 500, None);
    assert!(h.model.deliver(0, &f) && h.model.deliver(0, &f));
    let mut out = Vec::new();
    assert_eq!(h.q.rx.rx_batch(&*h.model, &mut out, 1), 2);
    assert_eq!(h.q.rx.rx_batch(&*h.model, &mut out, 3), 2);
    assert_eq!(frames(&out), [f.clone(), f]);
}

#[test]
fn a_status_word_alone_is_not_taken_in_split_mode() {
    let mut h = Harness::with(Kind::E82576, &config());
    let f = ip_frame(false, true, 600, None);
    assert!(h.model.deliver_status_first(0, &f));
    assert!(h.rx(32).is_empty(), "DD on the armed image");
    h.model.land_late();
    assert_eq!(frames(&h.rx(32)), [f]);
}

#[test]
fn every_buffer_comes_back_over_many_ring_wraps() {
    let mut h = Harness::with(Kind::E82576, &config());
    let pool = h.q.rx.pool().capacity();
    let armed = 2 * 32;
    for round in 0..20 {
        let sent: Vec<Vec<u8>> = (0..20)
            .map(|i| match (round + i) % 3 {
                0 => ip_frame(false, true, 10 * i, None),
                1 => not_ip(60 + i),
                _ => ip_frame(true, false, 1000 + i, None),
            })
            .collect();
        for f in &sent {
            assert!(h.model.deliver(0, f), "round {round}");
        }
        let got = h.rx(64);
        assert_eq!(frames(&got), sent, "round {round}");
        drop(got);
        h.q.rx.check_invariants();
        assert_eq!(h.q.rx.pool().free_count(), pool - armed, "round {round}");
    }
}

#[test]
fn header_split_is_refused_where_the_family_has_none() {
    for kind in [Kind::E8254x, Kind::E82574] {
        let model = super::model::ModelNic::new(kind);
        let family = crate::hw::devices::lookup(crate::hw::devices::INTEL, kind.device_id())
            .unwrap()
            .family;
        bringup::reset(&model, family).unwrap();
        let err = bringup::init(&model, family, &config()).unwrap_err();
        assert!(err.to_string().contains("header split"), "{kind:?}: {err}");
        let _ = model.read(0);
    }
    let small = Config {
        pool_size: 100,
        ..config()
    };
    let err = small.validate().unwrap_err().to_string();
    assert!(
        err.contains("with header split") && err.contains("128"),
        "{err}"
    );
}
