//! The software side of transmit checksum offload and TCP segmentation:
//! finding the IP and TCP/UDP/SCTP headers of a frame, and preparing it
//! the way the datasheets ask (8254x SDM §3.3.6 and §3.5, 82576 §7.2.5.1:
//! the IPv4 checksum field zeroed, the TCP/UDP checksum field seeded with
//! the pseudo-header sum, without the length for segmentation; SCTP's CRC
//! field zeroed, 82576 §7.2.5.2), or filling in the checksums here when
//! the NIC cannot be trusted with the frame.

use crate::hw::desc::{ChecksumLayout, Segmentation, L4};

/// EtherTypes: IPv4, IPv6, and the 802.1Q tag.
const ETHERTYPE_IPV4: u16 = 0x0800;
const ETHERTYPE_IPV6: u16 = 0x86DD;
const ETHERTYPE_VLAN: u16 = 0x8100;
/// IP protocol numbers (IPv4 protocol, IPv6 next header).
const PROTO_TCP: u8 = 6;
const PROTO_UDP: u8 = 17;
const PROTO_SCTP: u8 = 132;
/// IPv6 fixed header bytes.
const IPV6_HEADER: usize = 40;
/// Ethernet minimum frame without FCS: shorter frames are padded.
const MIN_FRAME: usize = 60;

/// Where the checksums of `frame` are, and how long its IP datagram says it
/// is (header included), from the headers alone: the datagram may go on
/// past `frame` (the first buffer of a frame in several). `None` unless it
/// is an unfragmented IPv4, or an IPv6 without extension headers, TCP, UDP
/// or SCTP frame whose headers `frame` holds.
fn headers(frame: &[u8]) -> Option<(ChecksumLayout, usize)> {
    let be16 = |at: usize| -> Option<u16> {
        Some(u16::from_be_bytes([*frame.get(at)?, *frame.get(at + 1)?]))
    };
    let (l2_len, ethertype) = match be16(12)? {
        ETHERTYPE_VLAN => (18, be16(16)?),
        other => (14, other),
    };
    let ip = frame.get(l2_len..)?;
    let (ipv6, l3_len, total, proto) = match ethertype {
        ETHERTYPE_IPV4 => {
            let (version, ihl) = (ip.first()? >> 4, (ip.first()? & 0xF) as usize * 4);
            let fragment = be16(l2_len + 6)? & 0x3FFF != 0; // MF or an offset
            if version != 4 || ihl < 20 || fragment {
                return None;
            }
            (false, ihl, be16(l2_len + 2)? as usize, *ip.get(9)?)
        }
        ETHERTYPE_IPV6 if ip.first()? >> 4 == 6 => {
            let payload = be16(l2_len + 4)? as usize;
            (true, IPV6_HEADER, IPV6_HEADER + payload, *ip.get(6)?)
        }
        _ => return None,
    };
    let l4 = match proto {
        PROTO_TCP => L4::Tcp,
        PROTO_UDP => L4::Udp,
        PROTO_SCTP => L4::Sctp,
        _ => return None,
    };
    let layout = ChecksumLayout {
        l2_len: l2_len as u8,
        l3_len: l3_len as u8,
        l4,
        ipv6,
    };
    (total >= l3_len + l4.header_len() && frame.len() >= layout.l4_offset() + l4.header_len())
        .then_some((layout, total))
}

/// Where the checksums of `frame` are, and how long its IP datagram is;
/// `None` unless it is an unfragmented IPv4, or an IPv6 without extension
/// headers, TCP, UDP or SCTP frame, whole.
pub(crate) fn layout(frame: &[u8]) -> Option<(ChecksumLayout, usize)> {
    let (c, total) = headers(frame)?;
    (c.l2_len as usize + total <= frame.len()).then_some((c, total))
}

/// Where the headers of a TCP frame to be cut into `mss`-byte segments
/// are; `None` unless `frame` holds its Ethernet, IP and TCP headers
/// (whatever follows them, in this buffer or the next ones).
pub(crate) fn segmentation(frame: &[u8], mss: u16) -> Option<(ChecksumLayout, Segmentation)> {
    let (c, _) = headers(frame)?;
    let l4_len = (*frame.get(c.l4_offset() + 12)? >> 4) as usize * 4;
    if c.l4 != L4::Tcp || mss == 0 || l4_len < 20 || frame.len() < c.l4_offset() + l4_len {
        return None;
    }
    let tso = Segmentation {
        mss,
        l4_len: l4_len as u8,
    };
    Some((c, tso))
}

/// Adds `data` as big-endian 16-bit words to `sum` (RFC 1071).
fn add(mut sum: u32, data: &[u8]) -> u32 {
    let mut words = data.chunks_exact(2);
    for w in &mut words {
        sum += u16::from_be_bytes([w[0], w[1]]) as u32;
    }
    if let [last] = words.remainder() {
        sum += (*last as u32) << 8;
    }
    sum
}

/// Folds a 32-bit one's-complement sum to 16 bits.
fn fold(mut sum: u32) -> u16 {
    while sum > 0xFFFF {
        sum = (sum & 0xFFFF) + (sum >> 16);
    }
    sum as u16
}

/// Writes `value` big-endian at `at`.
fn put16(frame: &mut [u8], at: usize, value: u16) {
    frame[at..at + 2].copy_from_slice(&value.to_be_bytes());
}

/// The pseudo-header sum of the TCP/UDP segment (RFC 793/768, RFC 8200
/// §8.1): addresses, protocol, and `l4_len` if given (segmentation leaves
/// the length out: the NIC adds each segment's).
fn pseudo_header(frame: &[u8], c: &ChecksumLayout, l4_len: Option<usize>) -> u32 {
    let ip = c.l2_len as usize;
    let addresses = if c.ipv6 {
        &frame[ip + 8..ip + 40]
    } else {
        &frame[ip + 12..ip + 20]
    };
    let proto = if c.l4 == L4::Tcp {
        PROTO_TCP
    } else {
        PROTO_UDP
    } as u32;
    add(0, addresses) + proto + l4_len.unwrap_or(0) as u32
}

/// CRC-32C (Castagnoli: reflected polynomial 0x82F63B78), one table entry
/// per byte value, built at compile time.
const CRC32C_TABLE: [u32; 256] = {
    let mut table = [0u32; 256];
    let mut byte = 0;
    while byte < 256 {
        let mut crc = byte as u32;
        let mut bit = 0;
        while bit < 8 {
            crc = if crc & 1 != 0 {
                crc >> 1 ^ 0x82F6_3B78
            } else {
                crc >> 1
            };
            bit += 1;
        }
        table[byte] = crc;
        byte += 1;
    }
    table
};

/// The CRC-32C of `data` (initial value and final XOR all ones), the
/// checksum of SCTP (RFC 9260 Appendix A).
pub(crate) fn crc32c(data: &[u8]) -> u32 {
    !data.iter().fold(!0u32, |crc, &b| {
        CRC32C_TABLE[(crc ^ b as u32) as usize & 0xFF] ^ crc >> 8
    })
}

/// Prepares `frame` for the NIC to fill in its checksums: zeroes the IPv4
/// checksum field, and seeds the TCP/UDP one with the pseudo-header sum or
/// zeroes SCTP's (the NIC's CRC covers the field as it finds it).
pub(crate) fn prepare(frame: &mut [u8], c: &ChecksumLayout, total: usize) {
    if !c.ipv6 {
        put16(frame, c.l2_len as usize + 10, 0);
    }
    let at = c.l4_checksum_offset();
    if c.l4 == L4::Sctp {
        frame[at..at + 4].fill(0);
    } else {
        let seed = fold(pseudo_header(frame, c, Some(total - c.l3_len as usize)));
        put16(frame, at, seed);
    }
}

/// Prepares the headers of `frame` for segmentation: as [`prepare`], with
/// the length left out of the seed (each segment has its own).
pub(crate) fn prepare_segmentation(frame: &mut [u8], c: &ChecksumLayout) {
    if !c.ipv6 {
        put16(frame, c.l2_len as usize + 10, 0);
    }
    let seed = fold(pseudo_header(frame, c, None));
    put16(frame, c.l4_checksum_offset(), seed);
}

/// Whether the NIC should be left out: a frame with bytes after its IPv4
/// datagram (padding, including the padding the driver adds below 60
/// bytes). QEMU 10's e1000e and igb models take every byte after the IP
/// header as payload, and would put the padding into the IP length and the
/// TCP/UDP checksum.
pub(crate) fn padded(frame_len: usize, c: &ChecksumLayout, total: usize) -> bool {
    c.l2_len as usize + total < frame_len.max(MIN_FRAME)
}

/// Fills in the checksums of `frame` in software (IPv4 header,
/// TCP/UDP/SCTP).
pub(crate) fn fill(frame: &mut [u8], c: &ChecksumLayout, total: usize) {
    let ip = c.l2_len as usize;
    let l4 = c.l4_offset();
    if !c.ipv6 {
        put16(frame, ip + 10, 0);
        let ip_sum = !fold(add(0, &frame[ip..l4]));
        put16(frame, ip + 10, ip_sum);
    }
    let at = c.l4_checksum_offset();
    if c.l4 == L4::Sctp {
        frame[at..at + 4].fill(0);
        let crc = crc32c(&frame[l4..ip + total]);
        // Stored least significant byte first, as RFC 9260's reference
        // code and the NICs write it.
        frame[at..at + 4].copy_from_slice(&crc.to_le_bytes());
        return;
    }
    put16(frame, at, 0);
    let l4_len = total - c.l3_len as usize;
    let sum = !fold(pseudo_header(frame, c, Some(l4_len)) + add(0, &frame[l4..ip + total]));
    // UDP sends a computed 0 as 0xFFFF (0 means "no checksum" over IPv4);
    // TCP's 0 is 0.
    put16(
        frame,
        at,
        if sum == 0 && c.l4 == L4::Udp {
            0xFFFF
        } else {
            sum
        },
    );
}

/// Whether the IP (IPv4) and TCP/UDP/SCTP checksums of `frame` are right
/// (tests).
#[cfg(test)]
pub(crate) fn verify(frame: &[u8]) -> bool {
    let Some((c, total)) = layout(frame) else {
        return false;
    };
    let ip = c.l2_len as usize;
    let l4 = c.l4_offset();
    let l4_len = total - c.l3_len as usize;
    let l4_ok = if c.l4 == L4::Sctp {
        let at = c.l4_checksum_offset();
        let mut zeroed = frame[l4..ip + total].to_vec();
        zeroed[at - l4..at - l4 + 4].fill(0);
        crc32c(&zeroed).to_le_bytes() == frame[at..at + 4]
    } else {
        fold(pseudo_header(frame, &c, Some(l4_len)) + add(0, &frame[l4..ip + total])) == 0xFFFF
    };
    (c.ipv6 || fold(add(0, &frame[ip..l4])) == 0xFFFF) && l4_ok
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// An Ethernet/IPv4/UDP (or TCP) frame with `payload` bytes, checksums
    /// zero, optionally with an 802.1Q tag in the frame.
    pub(crate) fn frame(tcp: bool, payload: usize, tag: Option<u16>) -> Vec<u8> {
        ip_frame(false, tcp, payload, tag)
    }

    /// As [`frame`], over IPv4 or IPv6 (`ipv6`).
    pub(crate) fn ip_frame(ipv6: bool, tcp: bool, payload: usize, tag: Option<u16>) -> Vec<u8> {
        transport_frame(ipv6, if tcp { L4::Tcp } else { L4::Udp }, payload, tag)
    }

    /// As [`ip_frame`], for any transport (SCTP: the common header, then
    /// `payload` bytes of chunks).
    pub(crate) fn transport_frame(ipv6: bool, l4: L4, payload: usize, tag: Option<u16>) -> Vec<u8> {
        let mut f = vec![0xFF; 6];
        f.extend_from_slice(&[0x02, 0, 0, 0, 0, 1]);
        if let Some(t) = tag {
            f.extend_from_slice(&ETHERTYPE_VLAN.to_be_bytes());
            f.extend_from_slice(&t.to_be_bytes());
        }
        let l4_len = l4.header_len() + payload;
        let proto = match l4 {
            L4::Tcp => PROTO_TCP,
            L4::Udp => PROTO_UDP,
            L4::Sctp => PROTO_SCTP,
        };
        if ipv6 {
            f.extend_from_slice(&ETHERTYPE_IPV6.to_be_bytes());
            f.extend_from_slice(&[0x60, 0, 0, 0, (l4_len >> 8) as u8, l4_len as u8, proto, 64]);
            f.extend((0..32).map(|i| 0xFD - (i % 3) as u8)); // fd.. addresses
        } else {
            f.extend_from_slice(&ETHERTYPE_IPV4.to_be_bytes());
            let total = 20 + l4_len;
            f.extend_from_slice(&[0x45, 0, (total >> 8) as u8, total as u8, 0, 1, 0x40, 0]);
            f.extend_from_slice(&[64, proto, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2]);
        }
        f.extend_from_slice(&[0x30, 0x39, 0x1F, 0x90]); // ports 12345 → 8080
        match l4 {
            L4::Tcp => {
                f.extend_from_slice(&[0, 0, 0, 1, 0, 0, 0, 0, 0x50, 0x18, 0xFF, 0xFF, 0, 0, 0, 0])
            }
            L4::Udp => f.extend_from_slice(&[(l4_len >> 8) as u8, l4_len as u8, 0, 0]),
            // Verification tag, CRC.
            L4::Sctp => f.extend_from_slice(&[0xA1, 0xB2, 0xC3, 0xD4, 0, 0, 0, 0]),
        }
        f.extend((0..payload).map(|i| (i * 7) as u8));
        f
    }

    #[test]
    fn layout_finds_udp_tcp_and_tagged_frames() {
        let (c, total) = layout(&frame(false, 100, None)).unwrap();
        assert_eq!((c.l2_len, c.l3_len, c.l4, total), (14, 20, L4::Udp, 128));
        let (c, _) = layout(&frame(true, 10, Some(7))).unwrap();
        assert_eq!((c.l2_len, c.l4), (18, L4::Tcp));
        assert_eq!(c.l4_checksum_offset(), 18 + 20 + 16);
        // ARP, a fragment, a truncated datagram: none.
        let mut arp = frame(false, 10, None);
        arp[12..14].copy_from_slice(&[0x08, 0x06]);
        assert!(layout(&arp).is_none());
        let mut frag = frame(false, 10, None);
        frag[20] = 0x20; // MF
        assert!(layout(&frag).is_none());
        let whole = frame(false, 100, None);
        assert!(layout(&whole[..whole.len() - 1]).is_none());
    }

    #[test]
    fn layout_finds_ipv6_and_refuses_extension_headers() {
        let (c, total) = layout(&ip_frame(true, true, 100, Some(3))).unwrap();
        assert_eq!(
            (c.l2_len, c.l3_len, c.l4, c.ipv6, total),
            (18, 40, L4::Tcp, true, 160)
        );
        let mut hop_by_hop = ip_frame(true, false, 10, None);
        hop_by_hop[14 + 6] = 0;
        assert!(layout(&hop_by_hop).is_none());
    }

    #[test]
    fn segmentation_needs_the_tcp_header_and_not_the_rest() {
        let f = ip_frame(true, true, 3000, None);
        let (c, t) = segmentation(&f[..200], 1440).unwrap();
        assert_eq!((c.ipv6, t.mss, t.l4_len), (true, 1440, 20));
        assert!(layout(&f[..200]).is_none(), "not whole");
        assert!(segmentation(&f[..14 + 40 + 19], 1440).is_none());
        assert!(segmentation(&ip_frame(false, false, 3000, None), 1440).is_none());
        assert!(segmentation(&f, 0).is_none());
    }

    #[test]
    fn fill_computes_checksums_that_verify() {
        for ipv6 in [false, true] {
            for (tcp, payload) in [(false, 0), (false, 101), (true, 6), (true, 1000)] {
                let mut f = ip_frame(ipv6, tcp, payload, None);
                let (c, total) = layout(&f).unwrap();
                assert!(!verify(&f));
                fill(&mut f, &c, total);
                assert!(verify(&f), "ipv6 {ipv6} tcp {tcp} payload {payload}");
            }
        }
    }

    #[test]
    fn crc32c_matches_the_rfc_check_values() {
        // The standard check value, and RFC 3720 B.4's 32 zero bytes.
        assert_eq!(crc32c(b"123456789"), 0xE306_9283);
        assert_eq!(crc32c(&[0u8; 32]), 0x8A91_36AA);
        assert_eq!(crc32c(&[]), 0);
    }

    #[test]
    fn sctp_frames_get_their_crc() {
        for ipv6 in [false, true] {
            for payload in [4, 16, 1001] {
                let mut f = transport_frame(ipv6, L4::Sctp, payload, Some(2));
                let (c, total) = layout(&f).unwrap();
                assert_eq!(
                    (c.l4, c.l4_checksum_offset()),
                    (L4::Sctp, c.l4_offset() + 8)
                );
                assert!(!verify(&f));
                fill(&mut f, &c, total);
                assert!(verify(&f), "ipv6 {ipv6} payload {payload}");
                f[c.l4_offset() + 13] ^= 1;
                assert!(!verify(&f));
            }
        }
        // Shorter than its common header: not SCTP.
        let mut short = transport_frame(false, L4::Sctp, 0, None);
        short[14 + 3] -= 1; // IPv4 total length 31
        assert!(layout(&short).is_none());
        assert!(segmentation(&transport_frame(false, L4::Sctp, 3000, None), 1000).is_none());
    }

    #[test]
    fn prepare_seeds_what_the_nic_completes() {
        // The NIC sums from the L4 header to the end, seed included, and
        // stores the complement (SDM §3.3.6): that must equal a full fill.
        for ipv6 in [false, true] {
            let mut f = ip_frame(ipv6, false, 77, None);
            let (c, total) = layout(&f).unwrap();
            prepare(&mut f, &c, total);
            let nic_l4 = !fold(add(0, &f[c.l4_offset()..]));
            let mut full = f.clone();
            fill(&mut full, &c, total);
            assert_eq!(nic_l4.to_be_bytes(), full[c.l4_checksum_offset()..][..2]);
            if !ipv6 {
                assert_eq!(f[c.l2_len as usize + 10..][..2], [0, 0]);
            }
        }
    }

    #[test]
    fn padding_is_detected() {
        let f = frame(false, 4, None); // 46 bytes: the driver pads it to 60
        let (c, total) = layout(&f).unwrap();
        assert!(padded(f.len(), &c, total));
        let f = frame(false, 100, None);
        let (c, total) = layout(&f).unwrap();
        assert!(!padded(f.len(), &c, total));
        assert!(padded(f.len() + 2, &c, total));
    }
}
