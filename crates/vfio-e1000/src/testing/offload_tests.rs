//! Checksum and VLAN offloads against the model: what goes on the wire and
//! what a received packet reports, on every family.

use super::model::{reg, Kind};
use super::{Harness, KINDS};
use crate::datapath::checksum::tests::{frame as ip_frame, transport_frame};
use crate::datapath::checksum::{fill, layout, verify};
use crate::datapath::mempool::ChecksumStatus::{Bad, Good, NotChecked};
use crate::datapath::mempool::Packet;
use crate::hw::desc::L4;
use crate::nic::config::Config;
use crate::sys::mmio::Registers;

fn config(vlan_strip: bool, vlan_filter: Vec<u16>) -> Config {
    Config {
        rx_ring: 32,
        tx_ring: 32,
        pool_size: 128,
        vlan_strip,
        vlan_filter,
        ..Config::default()
    }
}

/// The TX head: how many descriptors the NIC has consumed.
fn tx_head(h: &Harness) -> u32 {
    h.model.read(h.model.tx_block(0) + reg::HEAD)
}

/// Packets holding `frames`, each asking for its checksums.
fn with_checksums_asked(h: &Harness, frames: &[Vec<u8>]) -> Vec<Packet> {
    frames
        .iter()
        .map(|f| {
            let mut p = h.packet(f);
            assert!(p.offload_checksums());
            p
        })
        .collect()
}

/// `frame` with the 4-byte tag at bytes 12..16 taken out.
fn untag(frame: &[u8]) -> (u16, Vec<u8>) {
    assert_eq!(frame[12..14], [0x81, 0x00], "tagged");
    let tci = u16::from_be_bytes([frame[14], frame[15]]);
    let mut f = frame[..12].to_vec();
    f.extend_from_slice(&frame[16..]);
    (tci, f)
}

#[test]
fn the_nic_fills_in_checksums_with_one_context_per_layout() {
    for kind in KINDS {
        let mut h = Harness::with(kind, &config(false, vec![]));
        // Three UDP frames share a context; a TCP frame needs another; a
        // tagged-in-the-bytes frame another; the short one is done in
        // software (the driver pads it) and needs none.
        let frames = [
            ip_frame(false, 100, None),
            ip_frame(false, 1000, None),
            ip_frame(false, 18, None),
            ip_frame(true, 500, None),
            ip_frame(true, 64, Some(5)),
            ip_frame(false, 2, None),
        ];
        let mut batch = with_checksums_asked(&h, &frames);
        assert_eq!(h.tx(&mut batch), frames.len());
        let wire = h.model.take_sent();
        assert_eq!(wire.len(), frames.len(), "{kind:?}");
        for (sent, orig) in wire.iter().zip(&frames) {
            assert!(
                verify(&sent.bytes),
                "{kind:?}: checksums of a {}-byte frame",
                orig.len()
            );
        }
        assert_eq!(
            tx_head(&h),
            6 + 3,
            "{kind:?}: six frames and three contexts"
        );
        // The same layout again: no new context.
        let mut p = h.packet(&frames[0]);
        p.offload_checksums();
        assert_eq!(h.tx(&mut vec![p]), 1);
        assert_eq!(
            tx_head(&h),
            6 + 3 + 2,
            "{kind:?}: TCP/VLAN context held, UDP again"
        );
        assert!(verify(&h.model.take_sent()[0].bytes));
        h.q.tx.reclaim();
        assert_eq!(
            h.q.tx.in_flight(),
            0,
            "{kind:?}: contexts are reclaimed too"
        );
    }
}

#[test]
fn offload_refuses_what_it_cannot_checksum() {
    let h = Harness::with(Kind::E82574, &config(false, vec![]));
    let mut arp = ip_frame(false, 30, None);
    arp[12..14].copy_from_slice(&[0x08, 0x06]);
    let mut p = h.packet(&arp);
    assert!(!p.offload_checksums());
    assert_eq!(&p[..], &arp[..], "unchanged");
}

#[test]
fn vlan_tags_are_inserted_by_the_nic_or_the_driver() {
    for kind in KINDS {
        for strip in [true, false] {
            let mut h = Harness::with(kind, &config(strip, vec![]));
            let plain = ip_frame(false, 80, None);
            let mut tagged = h.packet(&plain);
            tagged.set_vlan_tag(Some(0x2064));
            let mut both = h.packet(&plain);
            both.set_vlan_tag(Some(7));
            assert!(both.offload_checksums());
            let mut none = h.packet(&plain);
            none.set_vlan_tag(Some(9));
            none.set_vlan_tag(None);
            assert_eq!(h.tx(&mut vec![tagged, both, none]), 3);
            let wire = h.model.take_sent();
            let (tci, inner) = untag(&wire[0].bytes);
            assert_eq!(
                (tci, &inner[..]),
                (0x2064, &plain[..]),
                "{kind:?} strip {strip}"
            );
            let (tci, inner) = untag(&wire[1].bytes);
            assert_eq!(tci, 7);
            assert!(
                verify(&inner),
                "{kind:?} strip {strip}: checksums under the tag"
            );
            assert_eq!(wire[2].bytes, plain, "{kind:?}: no tag");
        }
    }
}

#[test]
fn received_tags_are_stripped_filtered_and_sent_back() {
    for kind in KINDS {
        let mut h = Harness::with(kind, &config(true, vec![100, 4095]));
        assert_ne!(h.model.peek(reg::RCTL) & 1 << 18, 0, "{kind:?}: RCTL.VFE");
        let inner = ip_frame(false, 50, None);
        let tag = |tci: u16| {
            let mut f = inner[..12].to_vec();
            f.extend_from_slice(&[0x81, 0x00]);
            f.extend_from_slice(&tci.to_be_bytes());
            f.extend_from_slice(&inner[12..]);
            f
        };
        assert!(
            h.model.deliver(0, &tag(0x6064)),
            "{kind:?}: ID 100, priority 3"
        );
        assert!(!h.model.deliver(0, &tag(200)), "{kind:?}: ID 200 filtered");
        assert!(h.model.deliver(0, &tag(4095)));
        assert!(h.model.deliver(0, &inner), "{kind:?}: untagged passes");
        let got = h.rx(8);
        assert_eq!(got.len(), 3);
        assert_eq!(got[0].vlan_tag(), Some(0x6064));
        assert_eq!(&got[0][..], &inner[..], "{kind:?}: stripped");
        assert_eq!(got[1].vlan_tag(), Some(4095));
        assert_eq!(got[2].vlan_tag(), None);
        // Sent back as received: the tag goes out again.
        let mut echo = got;
        assert_eq!(h.tx(&mut echo), 3);
        let wire = h.model.take_sent();
        assert_eq!(wire[0].bytes, tag(0x6064), "{kind:?}");
        assert_eq!(wire[2].bytes, inner);
        // Without stripping the tag stays in the bytes.
        let mut h = Harness::with(kind, &config(false, vec![]));
        assert!(h.model.deliver(0, &tag(200)));
        let got = h.rx(8);
        assert_eq!((got[0].vlan_tag(), &got[0][..]), (None, &tag(200)[..]));
    }
}

#[test]
fn received_checksums_are_judged_and_errors_counted() {
    for kind in KINDS {
        let mut h = Harness::with(kind, &config(false, vec![]));
        let mut good = ip_frame(true, 40, None);
        let mut p = h.packet(&good);
        p.offload_checksums();
        // Let the model fill the checksums in, then take them back.
        h.tx(&mut vec![p]);
        good = h.model.take_sent().remove(0).bytes;
        let mut bad_ip = good.clone();
        bad_ip[14 + 8] ^= 1; // TTL: the IP checksum no longer matches
        let mut bad_l4 = good.clone();
        *bad_l4.last_mut().unwrap() ^= 0xFF;
        let mut arp = good.clone();
        arp[12..14].copy_from_slice(&[0x08, 0x06]);
        for f in [&good, &bad_ip, &bad_l4, &arp] {
            assert!(h.model.deliver(0, f));
        }
        let got = h.rx(8);
        let verdicts: Vec<_> = got
            .iter()
            .map(|p| (p.ip_checksum(), p.l4_checksum()))
            .collect();
        assert_eq!(
            verdicts,
            [
                (Good, Good),
                (Bad, Good),
                (Good, Bad),
                (NotChecked, NotChecked)
            ],
            "{kind:?}"
        );
        assert_eq!(
            (h.q.rx.ip_checksum_errors, h.q.rx.l4_checksum_errors),
            (1, 1)
        );
        assert_eq!(h.q.rx.dropped, 0, "{kind:?}: delivered, not dropped");
    }
}

#[test]
fn sctp_crc_is_filled_by_the_82576_and_refused_elsewhere() {
    for kind in KINDS {
        let mut h = Harness::with(kind, &config(false, vec![]));
        let has_crc = h.family.capabilities().tx_sctp_crc;
        assert_eq!(has_crc, kind == Kind::E82576, "{kind:?}");
        // Over IPv4 and IPv6, one under the tag; and a short one, which
        // the driver pads and so fills in itself on every family.
        let frames = [
            transport_frame(false, L4::Sctp, 200, None),
            transport_frame(true, L4::Sctp, 1000, Some(3)),
            transport_frame(false, L4::Sctp, 4, None),
        ];
        let mut batch = with_checksums_asked(&h, &frames);
        let sent = h.tx(&mut batch);
        let wire = h.model.take_sent();
        if has_crc {
            assert_eq!((sent, wire.len()), (3, 3));
        } else {
            // Only the short one, done in software, goes out.
            assert_eq!((wire.len(), h.q.tx.unsupported), (1, 2), "{kind:?}");
        }
        for w in &wire {
            assert!(
                verify(&w.bytes),
                "{kind:?}: the CRC of a {}-byte frame",
                w.bytes.len()
            );
        }
    }
}

#[test]
fn received_sctp_crcs_are_judged_by_the_82576() {
    for kind in KINDS {
        let mut h = Harness::with(kind, &config(false, vec![]));
        let mut good = transport_frame(false, L4::Sctp, 100, None);
        let (c, total) = layout(&good).unwrap();
        fill(&mut good, &c, total);
        assert!(verify(&good));
        let mut bad = good.clone();
        *bad.last_mut().unwrap() ^= 0x40;
        assert!(h.model.deliver(0, &good) && h.model.deliver(0, &bad));
        let got = h.rx(8);
        let verdicts: Vec<_> = got.iter().map(|p| p.l4_checksum()).collect();
        let expected = if kind == Kind::E82576 {
            [Good, Bad]
        } else {
            [NotChecked, NotChecked]
        };
        assert_eq!(verdicts, expected, "{kind:?}");
    }
}
