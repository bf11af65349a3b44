//! TCP segmentation, IPv6 checksums and frames in several packets against
//! the model: what goes on the wire, on every family.

use super::model::Kind;
use super::{Harness, KINDS};
use crate::datapath::checksum::tests::ip_frame;
use crate::datapath::checksum::verify;
use crate::datapath::mempool::Packet;
use crate::datapath::tx::MAX_PACKETS_PER_FRAME;
use crate::nic::config::Config;

fn config(vlan_strip: bool) -> Config {
    Config {
        rx_ring: 32,
        tx_ring: 128,
        pool_size: 256,
        vlan_strip,
        ..Config::default()
    }
}

/// `frame` in packets of at most `chunk` bytes, all but the last continuing.
fn chain(h: &Harness, frame: &[u8], chunk: usize) -> Vec<Packet> {
    let mut parts: Vec<Packet> = frame.chunks(chunk).map(|c| h.packet(c)).collect();
    let last = parts.len() - 1;
    for p in &mut parts[..last] {
        p.set_continues(true);
    }
    parts
}

/// Where the TCP header of an untagged `frame` starts.
fn tcp_at(frame: &[u8]) -> usize {
    if frame[12..14] == [0x86, 0xDD] {
        14 + 40
    } else {
        14 + 20
    }
}

#[test]
fn ipv6_checksums_are_filled_in_by_the_nic() {
    for kind in KINDS {
        let mut h = Harness::with(kind, &config(false));
        let frames = [
            ip_frame(true, false, 100, None),
            ip_frame(true, true, 1000, None),
            ip_frame(true, true, 64, Some(9)),
        ];
        let mut batch: Vec<_> = frames.iter().map(|f| h.packet(f)).collect();
        for p in &mut batch {
            assert!(p.offload_checksums());
        }
        assert_eq!(h.tx(&mut batch), 3);
        let wire = h.model.take_sent();
        assert_eq!(wire.len(), 3, "{kind:?}");
        for sent in &wire {
            assert!(verify(&sent.bytes), "{kind:?}: IPv6 checksum");
        }
    }
}

#[test]
fn a_frame_in_several_packets_goes_out_as_one() {
    for kind in KINDS {
        let mut h = Harness::with(kind, &config(false));
        let frame = ip_frame(false, false, 1400, None);
        let mut batch = chain(&h, &frame, 500);
        batch.push(h.packet(&ip_frame(false, false, 10, None)));
        assert_eq!(h.tx(&mut batch), 4, "{kind:?}: three packets and one");
        let wire = h.model.take_sent();
        assert_eq!(wire.len(), 2, "{kind:?}");
        assert_eq!(wire[0].bytes, frame, "{kind:?}: the parts in order");
        h.q.tx.reclaim();
        assert_eq!(h.q.tx.in_flight(), 0, "{kind:?}: every part reclaimed");
    }
}

#[test]
fn frames_in_packets_that_do_not_end_are_refused() {
    let mut h = Harness::with(Kind::E82574, &config(false));
    let frame = ip_frame(false, false, 1400, None);
    // The batch ends inside a frame.
    let mut batch = chain(&h, &frame, 500);
    batch.last_mut().unwrap().set_continues(true);
    assert_eq!(h.tx(&mut batch), 0);
    assert!(batch.is_empty());
    // Too many packets for one frame.
    let long = ip_frame(false, false, 60 * (MAX_PACKETS_PER_FRAME + 1), None);
    let mut batch = chain(&h, &long, 60);
    assert_eq!(h.tx(&mut batch), 0);
    assert!(batch.is_empty(), "the rest of the frame dropped too");
    assert!(h.model.take_sent().is_empty());
    assert_eq!(h.q.tx.bad_chains, 2);
}

/// Sends a TCP frame of `payload` bytes with TSO at `mss` (tagged with
/// `tag`) and checks the segments on the wire: count, sizes, checksums,
/// sequence numbers tiling the payload, IPv4 IDs, FIN/PSH on the last only.
fn segment(kind: Kind, ipv6: bool, tag: Option<u16>, strip: bool) {
    let mut h = Harness::with(kind, &config(strip));
    // The largest MSS at the standard MTU: 1500 - IP - TCP headers.
    let (payload, mss) = (10_000, if ipv6 { 1440 } else { 1460 });
    let mut frame = ip_frame(ipv6, true, payload, None);
    let tcp = tcp_at(&frame);
    frame[tcp + 13] = 0x19; // FIN, PSH, ACK
    let mut batch = chain(&h, &frame, 1900);
    assert!(batch[0].offload_segmentation(mss as u16));
    batch[0].set_vlan_tag(tag);
    let parts = batch.len();
    assert_eq!(h.tx(&mut batch), parts, "{kind:?}");
    let wire = h.model.take_sent();
    let what = format!("{kind:?} ipv6 {ipv6} tag {tag:?} strip {strip}");
    assert_eq!(wire.len(), payload.div_ceil(mss), "{what}");
    let mut carried = Vec::new();
    for (n, sent) in wire.iter().enumerate() {
        let bytes = match tag {
            Some(t) => {
                assert_eq!(
                    sent.bytes[12..16],
                    [0x81, 0, (t >> 8) as u8, t as u8],
                    "{what}"
                );
                let mut b = sent.bytes[..12].to_vec();
                b.extend_from_slice(&sent.bytes[16..]);
                b
            }
            None => sent.bytes.clone(),
        };
        assert!(verify(&bytes), "{what}: checksums of segment {n}");
        assert!(
            bytes.len() <= tcp + 20 + mss,
            "{what}: segment {n} too long"
        );
        let seq = u32::from_be_bytes(bytes[tcp + 4..tcp + 8].try_into().unwrap());
        assert_eq!(
            seq as usize,
            1 + carried.len(),
            "{what}: sequence of segment {n}"
        );
        let last = n == wire.len() - 1;
        let flags = bytes[tcp + 13];
        assert_eq!(
            flags,
            if last { 0x19 } else { 0x10 },
            "{what}: flags of {n}"
        );
        if !ipv6 {
            assert_eq!(bytes[14 + 4..14 + 6], [0, 1 + n as u8], "{what}: IPv4 ID");
        }
        carried.extend_from_slice(&bytes[tcp + 20..]);
    }
    assert_eq!(carried, frame[tcp + 20..], "{what}: the payload, tiled");
}

#[test]
fn segmentation_cuts_valid_segments_on_every_family() {
    for kind in KINDS {
        segment(kind, false, None, false);
        segment(kind, false, Some(100), true);
        segment(kind, false, Some(100), false);
        if kind != Kind::E8254x {
            segment(kind, true, None, false);
            segment(kind, true, Some(7), false);
        }
    }
}

#[test]
fn segmentation_the_nic_lacks_is_refused() {
    // The 8254x segments IPv4 only.
    let mut h = Harness::with(Kind::E8254x, &config(false));
    let frame = ip_frame(true, true, 4000, None);
    let mut batch = chain(&h, &frame, 1900);
    assert!(batch[0].offload_segmentation(1448));
    assert_eq!(h.tx(&mut batch), 0);
    assert!(batch.is_empty());
    assert!(h.model.take_sent().is_empty());
    assert_eq!(h.q.tx.unsupported, 1);
    // An MSS that makes segments longer than the MTU allows: a giant.
    let frame = ip_frame(false, true, 4000, None);
    let mut batch = chain(&h, &frame, 1900);
    assert!(batch[0].offload_segmentation(1800));
    assert_eq!(h.tx(&mut batch), 0);
    assert_eq!(h.q.tx.giants, 1);
}
