//! The wire helpers of the e1000 project, in one place: the Internet
//! checksum, IPv4/UDP headers for test frames, the echo rule, ARP and ICMP
//! echo replies, and a tcpdump-style one-line summary. Used by the `e1000`
//! command, the `cargo xtask` bench (host peer and responder) and the
//! guest-side benchmark peers. IPv4/UDP headers are written with
//! [`smoltcp::wire`]; [`ip`] writes and checks TCP and UDP over IPv4 and
//! IPv6.

use smoltcp::wire::{
    EthernetAddress, EthernetFrame, EthernetProtocol, IpAddress, IpProtocol, Ipv4Address,
    Ipv4Packet, UdpPacket,
};
use std::fmt::Write;

pub use smoltcp::wire;

pub mod ip;

/// EtherType of IPv4.
pub const ETHERTYPE_IPV4: u16 = 0x0800;
/// EtherType of ARP.
pub const ETHERTYPE_ARP: u16 = 0x0806;
/// EtherType of IPv6.
pub const ETHERTYPE_IPV6: u16 = 0x86DD;
/// EtherType of an 802.1Q VLAN tag.
pub const ETHERTYPE_VLAN: u16 = 0x8100;
/// EtherType of PTP (IEEE 1588) over Ethernet.
pub const ETHERTYPE_PTP: u16 = 0x88F7;
/// PTP's multicast address for every message but peer delay (IEEE
/// 1588-2008 Annex F).
pub const PTP_MULTICAST: [u8; 6] = [0x01, 0x1B, 0x19, 0x00, 0x00, 0x00];
/// Bytes of a PTPv2 Sync or Delay_Req message: the 34-byte header and a
/// 10-byte timestamp (IEEE 1588-2008 §13.6, §13.7).
pub const PTP_EVENT_LEN: usize = 44;
/// Where a PTPv2 header keeps its sequenceId (IEEE 1588-2008 §13.3.1).
const PTP_SEQUENCE_AT: usize = 30;
/// Bytes of an Ethernet header: destination and source MAC, EtherType.
pub const ETHERNET_HEADER: usize = 14;
/// Smallest frame without FCS.
pub const MIN_FRAME: usize = 60;
/// Largest standard frame without FCS.
pub const MAX_FRAME: usize = 1514;
/// Offset of the UDP payload in a frame written by [`write_ipv4_udp`].
pub const UDP_PAYLOAD: usize = 42;

/// The Internet checksum (RFC 1071) of `data`: 0 over a header that
/// carries a valid one.
pub fn checksum(data: &[u8]) -> u16 {
    !wire::checksum::data(data)
}

/// The echo rule: a frame goes back with dst := its src, src := `mac`,
/// everything else unchanged. Returns false (and leaves the frame alone)
/// for a frame too short to carry an Ethernet header.
#[inline]
pub fn echo_in_place(frame: &mut [u8], mac: [u8; 6]) -> bool {
    if frame.len() < ETHERNET_HEADER {
        return false;
    }
    frame.copy_within(6..12, 0);
    frame[6..12].copy_from_slice(&mac);
    true
}

/// What the echo of `sent` must look like (see [`echo_in_place`]); a
/// frame too short for an Ethernet header comes back unchanged.
pub fn echo_of(sent: &[u8], mac: [u8; 6]) -> Vec<u8> {
    let mut e = sent.to_vec();
    echo_in_place(&mut e, mac);
    e
}

/// The headers of an Ethernet/IPv4/UDP frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ipv4Udp {
    /// Destination MAC.
    pub dst_mac: [u8; 6],
    /// Source MAC.
    pub src_mac: [u8; 6],
    /// Source IPv4 address.
    pub src_ip: [u8; 4],
    /// Destination IPv4 address.
    pub dst_ip: [u8; 4],
    /// UDP source port.
    pub src_port: u16,
    /// UDP destination port.
    pub dst_port: u16,
    /// IPv4 identification.
    pub ident: u16,
    /// Compute the UDP checksum over the payload; otherwise 0 ("none", RFC 768).
    pub udp_checksum: bool,
}

/// Writes the Ethernet, IPv4 (20 bytes, don't fragment, TTL 64, valid
/// header checksum) and UDP headers of `h` into the first [`UDP_PAYLOAD`]
/// bytes of `frame`; the IPv4 and UDP lengths cover the rest of `frame`,
/// whose payload must already be in place when `h.udp_checksum` is set.
pub fn write_ipv4_udp(frame: &mut [u8], h: &Ipv4Udp) {
    assert!((UDP_PAYLOAD..=usize::from(u16::MAX)).contains(&frame.len()));
    let ip_len = (frame.len() - ETHERNET_HEADER) as u16;
    let mut eth = EthernetFrame::new_unchecked(&mut *frame);
    eth.set_dst_addr(EthernetAddress(h.dst_mac));
    eth.set_src_addr(EthernetAddress(h.src_mac));
    eth.set_ethertype(EthernetProtocol::Ipv4);
    let (src, dst) = (Ipv4Address::from(h.src_ip), Ipv4Address::from(h.dst_ip));
    let mut ip = Ipv4Packet::new_unchecked(&mut frame[ETHERNET_HEADER..]);
    ip.set_version(4);
    ip.set_header_len(20);
    ip.set_dscp(0);
    ip.set_ecn(0);
    ip.set_total_len(ip_len);
    ip.set_ident(h.ident);
    ip.clear_flags();
    ip.set_dont_frag(true);
    ip.set_frag_offset(0);
    ip.set_hop_limit(64);
    ip.set_next_header(IpProtocol::Udp);
    ip.set_src_addr(src);
    ip.set_dst_addr(dst);
    ip.fill_checksum();
    let mut udp = UdpPacket::new_unchecked(&mut frame[ETHERNET_HEADER + 20..]);
    udp.set_src_port(h.src_port);
    udp.set_dst_port(h.dst_port);
    udp.set_len(ip_len - 20);
    udp.set_checksum(0);
    if h.udp_checksum {
        udp.fill_checksum(&IpAddress::Ipv4(src), &IpAddress::Ipv4(dst));
    }
}

/// A reply [`reply_to`] built.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reply {
    /// An ARP reply to a request from this MAC.
    Arp {
        /// The reply frame.
        frame: Vec<u8>,
        /// The requester's MAC.
        requester: [u8; 6],
    },
    /// An ICMP echo reply.
    IcmpEcho {
        /// The reply frame.
        frame: Vec<u8>,
    },
}

/// What a host at `ip` with MAC `mac` answers to `f`: ARP requests for `ip`
/// and ICMP echo requests to `ip`; `None` for anything else.
pub fn reply_to(f: &[u8], ip: [u8; 4], mac: [u8; 6]) -> Option<Reply> {
    let ethertype = u16::from_be_bytes([*f.get(12)?, *f.get(13)?]);
    if ethertype == ETHERTYPE_ARP {
        let arp = f.get(14..42)?;
        if arp[6..8] != [0, 1] || arp[24..28] != ip {
            return None;
        }
        let mut r = vec![0u8; MIN_FRAME];
        r[0..6].copy_from_slice(&arp[8..14]);
        r[6..12].copy_from_slice(&mac);
        r[12..14].copy_from_slice(&ETHERTYPE_ARP.to_be_bytes());
        r[14..20].copy_from_slice(&arp[0..6]); // htype, ptype, hlen, plen
        r[20..22].copy_from_slice(&[0, 2]);
        r[22..28].copy_from_slice(&mac);
        r[28..32].copy_from_slice(&ip);
        r[32..42].copy_from_slice(&arp[8..18]); // requester's MAC and IP
        return Some(Reply::Arp {
            frame: r,
            requester: arp[8..14].try_into().ok()?,
        });
    }
    if ethertype != ETHERTYPE_IPV4 {
        return None;
    }
    let ihl = usize::from(f.get(14)? & 0xf) * 4;
    let total = usize::from(u16::from_be_bytes([*f.get(16)?, *f.get(17)?]));
    // A whole IPv4 header (at least 20 bytes) and an ICMP echo header (8)
    // inside the datagram, the datagram inside the frame: anything else is
    // not answered (the fuzzer found a 19-byte frame read past its end).
    if ihl < 20 || total < ihl + 8 || f.len() < 14 + total {
        return None;
    }
    if f[23] != 1 || f[30..34] != ip || f[14 + ihl] != 8 {
        return None;
    }
    let mut r = f[..14 + total].to_vec();
    r[0..6].copy_from_slice(&f[6..12]);
    r[6..12].copy_from_slice(&mac);
    r[26..30].copy_from_slice(&f[30..34]);
    r[30..34].copy_from_slice(&f[26..30]);
    r[22] = 64;
    r[24..26].fill(0);
    let c = checksum(&r[14..14 + ihl]);
    r[24..26].copy_from_slice(&c.to_be_bytes());
    let icmp = &mut r[14 + ihl..];
    icmp[0] = 0;
    icmp[2..4].fill(0);
    let c = checksum(icmp);
    icmp[2..4].copy_from_slice(&c.to_be_bytes());
    r.resize(r.len().max(MIN_FRAME), 0);
    Some(Reply::IcmpEcho { frame: r })
}

/// Formats a MAC address as `aa:bb:cc:dd:ee:ff`.
pub fn mac_str(m: &[u8]) -> String {
    m.iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(":")
}

fn be16(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_be_bytes([*b.get(at)?, *b.get(at + 1)?]))
}

/// One tcpdump-like line: addresses, EtherType, L3/L4 summary, length.
pub fn summary(f: &[u8]) -> String {
    if f.len() < 14 {
        return format!("runt frame, length {}", f.len());
    }
    let mut s = format!("{} > {}", mac_str(&f[6..12]), mac_str(&f[0..6]));
    let mut ethertype = be16(f, 12).unwrap_or(0);
    let mut l3 = 14;
    if ethertype == ETHERTYPE_VLAN {
        let _ = write!(s, ", vlan {}", be16(f, 14).unwrap_or(0) & 0xfff);
        ethertype = be16(f, 16).unwrap_or(0);
        l3 = 18;
    }
    let name = match ethertype {
        ETHERTYPE_IPV4 => "IPv4",
        ETHERTYPE_IPV6 => "IPv6",
        ETHERTYPE_ARP => "ARP",
        ETHERTYPE_PTP => "PTP",
        _ => "ethertype",
    };
    let _ = write!(s, ", {name} (0x{ethertype:04x}), length {}", f.len());
    let body = &f[l3.min(f.len())..];
    let detail = match ethertype {
        ETHERTYPE_IPV4 => ipv4(body),
        ETHERTYPE_IPV6 => ipv6(body),
        ETHERTYPE_ARP => arp(body),
        ETHERTYPE_PTP => ptp(body),
        _ => None,
    };
    if let Some(d) = detail {
        let _ = write!(s, ": {d}");
    }
    s
}

/// A PTPv2 event message over Ethernet from `src` to [`PTP_MULTICAST`]:
/// `first_byte` (transportSpecific << 4 | messageType: 0 Sync, 1
/// Delay_Req), version 2, `sequence`, a zero timestamp; padded to the 60
/// bytes of a minimal frame, which is what a NIC delivers of a shorter one.
pub fn ptp_event_frame(src: [u8; 6], first_byte: u8, sequence: u16) -> Vec<u8> {
    let mut f = vec![0u8; MIN_FRAME.max(ETHERNET_HEADER + PTP_EVENT_LEN)];
    f[..6].copy_from_slice(&PTP_MULTICAST);
    f[6..12].copy_from_slice(&src);
    f[12..14].copy_from_slice(&ETHERTYPE_PTP.to_be_bytes());
    let ptp = &mut f[ETHERNET_HEADER..];
    ptp[0] = first_byte;
    ptp[1] = 2; // versionPTP
    ptp[2..4].copy_from_slice(&(PTP_EVENT_LEN as u16).to_be_bytes());
    ptp[PTP_SEQUENCE_AT..PTP_SEQUENCE_AT + 2].copy_from_slice(&sequence.to_be_bytes());
    f
}

/// The sequenceId of a PTP frame over Ethernet (untagged).
pub fn ptp_sequence(frame: &[u8]) -> Option<u16> {
    (be16(frame, 12)? == ETHERTYPE_PTP)
        .then(|| be16(frame, ETHERNET_HEADER + PTP_SEQUENCE_AT))
        .flatten()
}

/// A PTP message (IEEE 1588-2008 §13.3): version, type and sequenceId.
fn ptp(b: &[u8]) -> Option<String> {
    let (first, version) = (*b.first()?, *b.get(1)? & 0xF);
    let sequence = be16(b, PTP_SEQUENCE_AT)?;
    let kind = match first & 0xF {
        0x0 => "Sync",
        0x1 => "Delay_Req",
        0x2 => "Pdelay_Req",
        0x3 => "Pdelay_Resp",
        0x8 => "Follow_Up",
        0x9 => "Delay_Resp",
        0xA => "Pdelay_Resp_Follow_Up",
        0xB => "Announce",
        0xC => "Signaling",
        0xD => "Management",
        _ => "reserved type",
    };
    Some(format!("PTPv{version} {kind}, seq {sequence}"))
}

fn l4(proto: u8, src: String, dst: String, b: &[u8]) -> String {
    match proto {
        6 if b.len() >= 14 => {
            let flags = b[13];
            let names: String = [
                (0x02, 'S'),
                (0x01, 'F'),
                (0x04, 'R'),
                (0x08, 'P'),
                (0x10, '.'),
            ]
            .iter()
            .filter(|(bit, _)| flags & bit != 0)
            .map(|(_, c)| *c)
            .collect();
            format!(
                "{src}.{} > {dst}.{}: TCP [{names}]",
                be16(b, 0).unwrap_or(0),
                be16(b, 2).unwrap_or(0)
            )
        }
        17 if b.len() >= 8 => format!(
            "{src}.{} > {dst}.{}: UDP, length {}",
            be16(b, 0).unwrap_or(0),
            be16(b, 2).unwrap_or(0),
            be16(b, 4).unwrap_or(8).saturating_sub(8)
        ),
        132 if b.len() >= 12 => format!(
            "{src}.{} > {dst}.{}: SCTP",
            be16(b, 0).unwrap_or(0),
            be16(b, 2).unwrap_or(0)
        ),
        1 if !b.is_empty() => format!(
            "{src} > {dst}: ICMP type {} code {}",
            b[0],
            b.get(1).copied().unwrap_or(0)
        ),
        58 if !b.is_empty() => format!("{src} > {dst}: ICMP6 type {}", b[0]),
        p => format!("{src} > {dst}: proto {p}"),
    }
}

fn ipv4(b: &[u8]) -> Option<String> {
    if b.len() < 20 || b[0] >> 4 != 4 {
        return None;
    }
    let ihl = (b[0] & 0xf) as usize * 4;
    let src = format!("{}.{}.{}.{}", b[12], b[13], b[14], b[15]);
    let dst = format!("{}.{}.{}.{}", b[16], b[17], b[18], b[19]);
    Some(l4(b[9], src, dst, b.get(ihl..).unwrap_or(&[])))
}

fn ipv6(b: &[u8]) -> Option<String> {
    if b.len() < 40 {
        return None;
    }
    let addr = |a: &[u8]| {
        a.chunks(2)
            .map(|c| format!("{:x}", u16::from_be_bytes([c[0], c[1]])))
            .collect::<Vec<_>>()
            .join(":")
    };
    Some(l4(b[6], addr(&b[8..24]), addr(&b[24..40]), &b[40..]))
}

fn arp(b: &[u8]) -> Option<String> {
    if b.len() < 28 {
        return None;
    }
    let ip = |a: &[u8]| format!("{}.{}.{}.{}", a[0], a[1], a[2], a[3]);
    Some(match be16(b, 6)? {
        1 => format!(
            "ARP, Request who-has {} tell {}",
            ip(&b[24..28]),
            ip(&b[14..18])
        ),
        2 => format!("ARP, Reply {} is-at {}", ip(&b[14..18]), mac_str(&b[8..14])),
        op => format!("ARP, op {op}"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn udp(len: usize, udp_checksum: bool) -> Vec<u8> {
        let mut f = vec![0u8; len];
        for (i, b) in f[UDP_PAYLOAD..].iter_mut().enumerate() {
            *b = i as u8;
        }
        let h = Ipv4Udp {
            dst_mac: [0xff; 6],
            src_mac: [0x52, 0x54, 0, 0x12, 0x34, 0x56],
            src_ip: [10, 11, 12, 2],
            dst_ip: [10, 11, 12, 1],
            src_port: 40000,
            dst_port: 40001,
            ident: 7,
            udp_checksum,
        };
        write_ipv4_udp(&mut f, &h);
        f
    }

    #[test]
    fn ipv4_udp_headers_as_written_by_hand() {
        let f = udp(100, false);
        assert_eq!(
            &f[12..42],
            &[
                0x08, 0, 0x45, 0, 0, 86, 0, 7, 0x40, 0, 64, 17, f[24], f[25], 10, 11, 12, 2, 10,
                11, 12, 1, 0x9c, 0x40, 0x9c, 0x41, 0, 66, 0, 0
            ]
        );
        assert_eq!(checksum(&f[14..34]), 0, "IPv4 header checksum verifies");
        assert_eq!(
            summary(&f),
            "52:54:00:12:34:56 > ff:ff:ff:ff:ff:ff, IPv4 (0x0800), length 100: 10.11.12.2.40000 > 10.11.12.1.40001: UDP, length 58"
        );
    }

    #[test]
    fn udp_checksum_verifies() {
        let f = udp(333, true);
        let mut pseudo = f[26..34].to_vec();
        pseudo.extend_from_slice(&[0, 17]);
        pseudo.extend_from_slice(&f[38..40]);
        pseudo.extend_from_slice(&f[34..]);
        assert_eq!(checksum(&pseudo), 0);
    }

    #[test]
    fn echo_rule() {
        let mut f = [0u8; 60];
        f[0..6].copy_from_slice(&[1; 6]);
        f[6..12].copy_from_slice(&[2; 6]);
        f[12] = 0x88;
        assert!(echo_in_place(&mut f, [9; 6]));
        assert_eq!(
            (&f[0..6], &f[6..12], f[12]),
            (&[2u8; 6][..], &[9u8; 6][..], 0x88)
        );
        assert!(!echo_in_place(&mut [0u8; 10], [9; 6]));
        assert_eq!(echo_of(&[1u8; 5], [9; 6]), vec![1u8; 5]);
    }

    #[test]
    fn ptp_messages_are_named() {
        let f = ptp_event_frame([2, 0, 0, 0, 0, 1], 0x01, 7);
        assert!(summary(&f).ends_with("PTP (0x88f7), length 60: PTPv2 Delay_Req, seq 7"));
        assert_eq!(ptp_sequence(&f), Some(7));
        assert_eq!(f[..6], PTP_MULTICAST);
        assert_eq!(u16::from_be_bytes([f[16], f[17]]), PTP_EVENT_LEN as u16);
        assert_eq!(ptp_sequence(&f[..40]), None, "too short");
    }

    #[test]
    fn arp_and_ping_replies() {
        let mut req = vec![0u8; 60];
        req[0..6].copy_from_slice(&[0xff; 6]);
        req[6..12].copy_from_slice(&[2; 6]);
        req[12..14].copy_from_slice(&ETHERTYPE_ARP.to_be_bytes());
        req[14..22].copy_from_slice(&[0, 1, 8, 0, 6, 4, 0, 1]);
        req[22..28].copy_from_slice(&[2; 6]);
        req[28..32].copy_from_slice(&[10, 0, 0, 2]);
        req[38..42].copy_from_slice(&[10, 0, 0, 1]);
        assert!(summary(&req).ends_with("ARP, Request who-has 10.0.0.1 tell 10.0.0.2"));
        let Some(Reply::Arp { frame, requester }) = reply_to(&req, [10, 0, 0, 1], [7; 6]) else {
            panic!("no ARP reply")
        };
        assert_eq!(requester, [2; 6]);
        assert!(summary(&frame).ends_with("ARP, Reply 10.0.0.1 is-at 07:07:07:07:07:07"));
        assert_eq!(reply_to(&req, [10, 0, 0, 9], [7; 6]), None);

        let mut ping = udp(98, false);
        ping[23] = 1; // ICMP
        ping[30..34].copy_from_slice(&[10, 0, 0, 1]);
        ping[34] = 8;
        let Some(Reply::IcmpEcho { frame }) = reply_to(&ping, [10, 0, 0, 1], [7; 6]) else {
            panic!("no echo reply")
        };
        assert_eq!(frame[34], 0);
        assert_eq!(checksum(&frame[14..34]), 0);
        assert_eq!(checksum(&frame[34..]), 0);
    }

    #[test]
    fn truncated_or_inconsistent_ipv4_frames_get_no_reply() {
        let ip = [10, 11, 12, 2];
        // Found by the `wire` fuzz target: 19 bytes, read past the end.
        let short = [
            0x52, 0x54, 0, 0x12, 0x34, 0x56, 2, 0, 0, 0, 0, 1, 8, 0, 0x52, 0x54, 0x0b, 0x56, 2,
        ];
        assert_eq!(reply_to(&short, ip, [7; 6]), None);
        let mut ping = udp(98, false);
        ping[23] = 1;
        ping[30..34].copy_from_slice(&ip);
        ping[34] = 8;
        assert!(reply_to(&ping, ip, [7; 6]).is_some());
        for (at, value) in [(14, 0x44), (17, 27), (17, 255)] {
            // A header under 20 bytes; a total length too short for an ICMP
            // header or past the frame's end.
            let mut bad = ping.clone();
            bad[at] = value;
            if at == 17 {
                bad[16] = 0;
            }
            assert_eq!(reply_to(&bad, ip, [7; 6]), None, "byte {at} = {value}");
        }
    }
}
