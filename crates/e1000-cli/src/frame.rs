//! Ethernet frames: MAC formatting, a one-line summary (for `dump`), and
//! building IPv4/UDP test frames (for `send`).

use std::fmt::Write;

/// Formats a MAC address as `aa:bb:cc:dd:ee:ff`.
pub fn mac_str(m: &[u8]) -> String {
    m.iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(":")
}

const ETH_IPV4: u16 = 0x0800;
const ETH_ARP: u16 = 0x0806;
const ETH_IPV6: u16 = 0x86DD;
const ETH_VLAN: u16 = 0x8100;

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
    if ethertype == ETH_VLAN {
        let _ = write!(s, ", vlan {}", be16(f, 14).unwrap_or(0) & 0xfff);
        ethertype = be16(f, 16).unwrap_or(0);
        l3 = 18;
    }
    let name = match ethertype {
        ETH_IPV4 => "IPv4",
        ETH_IPV6 => "IPv6",
        ETH_ARP => "ARP",
        _ => "ethertype",
    };
    let _ = write!(s, ", {name} (0x{ethertype:04x}), length {}", f.len());
    let body = &f[l3.min(f.len())..];
    let detail = match ethertype {
        ETH_IPV4 => ipv4(body),
        ETH_IPV6 => ipv6(body),
        ETH_ARP => arp(body),
        _ => None,
    };
    if let Some(d) = detail {
        let _ = write!(s, ": {d}");
    }
    s
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

/// The Internet checksum (RFC 1071) of `data`.
pub fn inet_checksum(data: &[u8]) -> u16 {
    let mut sum: u32 = data
        .chunks(2)
        .map(|c| u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)]) as u32)
        .sum();
    while sum >> 16 != 0 {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

/// Addresses and ports of the frames `send` builds.
#[derive(Debug, Clone, Copy)]
pub struct UdpSpec {
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
}

/// Writes an IPv4/UDP frame of `buf.len()` bytes (60..=1514) carrying `seq`
/// (8 bytes, big-endian, at offset 42) and then `payload` repeated (or
/// byte `i` = `i` when `payload` is empty). The IPv4 header checksum is
/// valid; the UDP checksum is 0 ("none", RFC 768), so frames of one size
/// differ only in the sequence number and source port: see [`set_seq`] and
/// [`set_src_port`].
pub fn build_udp(buf: &mut [u8], spec: &UdpSpec, payload: &[u8], seq: u64) {
    let len = buf.len();
    assert!((60..=1514).contains(&len));
    buf[0..6].copy_from_slice(&spec.dst_mac);
    buf[6..12].copy_from_slice(&spec.src_mac);
    buf[12..14].copy_from_slice(&ETH_IPV4.to_be_bytes());
    let ip_len = (len - 14) as u16;
    let udp_len = ip_len - 20;
    let ip = &mut buf[14..34];
    ip.copy_from_slice(&[
        0x45, 0, 0, 0, 0, 0, 0x40, 0, 64, 17, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    ]);
    ip[2..4].copy_from_slice(&ip_len.to_be_bytes());
    ip[12..16].copy_from_slice(&spec.src_ip);
    ip[16..20].copy_from_slice(&spec.dst_ip);
    let c = inet_checksum(ip);
    ip[10..12].copy_from_slice(&c.to_be_bytes());
    set_src_port(buf, spec.src_port);
    buf[36..38].copy_from_slice(&spec.dst_port.to_be_bytes());
    buf[38..40].copy_from_slice(&udp_len.to_be_bytes());
    buf[40..42].fill(0);
    set_seq(buf, seq);
    for (i, b) in buf[50..].iter_mut().enumerate() {
        *b = if payload.is_empty() {
            i as u8
        } else {
            payload[i % payload.len()]
        };
    }
}

/// Rewrites the UDP source port of a frame made by [`build_udp`].
pub fn set_src_port(buf: &mut [u8], port: u16) {
    buf[34..36].copy_from_slice(&port.to_be_bytes());
}

/// Rewrites the sequence number of a frame made by [`build_udp`].
pub fn set_seq(buf: &mut [u8], seq: u64) {
    buf[42..50].copy_from_slice(&seq.to_be_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn udp_frame_has_valid_checksums_and_summary() {
        let mut f = vec![0u8; 100];
        let spec = UdpSpec {
            dst_mac: [0xff; 6],
            src_mac: [0x52, 0x54, 0, 0x12, 0x34, 0x56],
            src_ip: [10, 11, 12, 2],
            dst_ip: [10, 11, 12, 1],
            src_port: 40000,
            dst_port: 40001,
        };
        build_udp(&mut f, &spec, &[], 7);
        assert_eq!(
            inet_checksum(&f[14..34]),
            0,
            "IPv4 header checksum verifies to 0"
        );
        let s = summary(&f);
        assert_eq!(
            s,
            "52:54:00:12:34:56 > ff:ff:ff:ff:ff:ff, IPv4 (0x0800), length 100: 10.11.12.2.40000 > 10.11.12.1.40001: UDP, length 58"
        );
        assert_eq!(u64::from_be_bytes(f[42..50].try_into().unwrap()), 7);
    }

    #[test]
    fn arp_summary() {
        let mut f = vec![0u8; 60];
        f[12..14].copy_from_slice(&ETH_ARP.to_be_bytes());
        f[14 + 6..14 + 8].copy_from_slice(&1u16.to_be_bytes());
        f[14 + 14..14 + 18].copy_from_slice(&[10, 0, 0, 1]);
        f[14 + 24..14 + 28].copy_from_slice(&[10, 0, 0, 2]);
        assert!(
            summary(&f).ends_with("ARP, Request who-has 10.0.0.2 tell 10.0.0.1"),
            "{}",
            summary(&f)
        );
    }
}
