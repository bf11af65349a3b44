//! The software side of transmit checksum offload: finding the IPv4 and
//! TCP/UDP headers of a frame, and preparing it the way the datasheets ask
//! (8254x SDM §3.3.6, 82576 §7.2.5.1: the IPv4 checksum field zeroed, the
//! TCP/UDP checksum field seeded with the pseudo-header sum), or filling in
//! both checksums here when the NIC cannot be trusted with the frame.

use crate::hw::desc::ChecksumLayout;

/// EtherTypes: IPv4, and the 802.1Q tag.
const ETHERTYPE_IPV4: u16 = 0x0800;
const ETHERTYPE_VLAN: u16 = 0x8100;
/// IPv4 protocol numbers.
const PROTO_TCP: u8 = 6;
const PROTO_UDP: u8 = 17;
/// Ethernet minimum frame without FCS: shorter frames are padded.
const MIN_FRAME: usize = 60;

/// Where the checksums of `frame` are, and how long its IPv4 datagram is;
/// `None` unless it is an unfragmented IPv4 TCP or UDP frame, whole.
pub(crate) fn layout(frame: &[u8]) -> Option<(ChecksumLayout, usize)> {
    let be16 = |at: usize| -> Option<u16> {
        Some(u16::from_be_bytes([*frame.get(at)?, *frame.get(at + 1)?]))
    };
    let l2_len = match be16(12)? {
        ETHERTYPE_IPV4 => 14,
        ETHERTYPE_VLAN if be16(16)? == ETHERTYPE_IPV4 => 18,
        _ => return None,
    };
    let ip = frame.get(l2_len..)?;
    let (version, ihl) = (ip.first()? >> 4, (ip.first()? & 0xF) as usize * 4);
    let total = be16(l2_len + 2)? as usize;
    let fragment = be16(l2_len + 6)? & 0x3FFF != 0; // MF or an offset
    if version != 4 || ihl < 20 || fragment || total < ihl || total > ip.len() {
        return None;
    }
    let tcp = match ip[9] {
        PROTO_TCP if total >= ihl + 20 => true,
        PROTO_UDP if total >= ihl + 8 => false,
        _ => return None,
    };
    let layout = ChecksumLayout {
        l2_len: l2_len as u8,
        l3_len: ihl as u8,
        tcp,
    };
    Some((layout, total))
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

/// The pseudo-header sum of the TCP/UDP segment (RFC 793/768): addresses,
/// protocol, segment length.
fn pseudo_header(frame: &[u8], c: &ChecksumLayout, total: usize) -> u32 {
    let ip = c.l2_len as usize;
    let proto = if c.tcp { PROTO_TCP } else { PROTO_UDP } as u32;
    add(0, &frame[ip + 12..ip + 20]) + proto + (total - c.l3_len as usize) as u32
}

/// Prepares `frame` for the NIC to fill in its checksums: zeroes the IPv4
/// checksum field and seeds the TCP/UDP one with the pseudo-header sum.
pub(crate) fn prepare(frame: &mut [u8], c: &ChecksumLayout, total: usize) {
    let ip = c.l2_len as usize;
    put16(frame, ip + 10, 0);
    let seed = fold(pseudo_header(frame, c, total));
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

/// Fills in both checksums of `frame` in software.
pub(crate) fn fill(frame: &mut [u8], c: &ChecksumLayout, total: usize) {
    let ip = c.l2_len as usize;
    let l4 = ip + c.l3_len as usize;
    put16(frame, ip + 10, 0);
    let ip_sum = !fold(add(0, &frame[ip..l4]));
    put16(frame, ip + 10, ip_sum);
    let at = c.l4_checksum_offset();
    put16(frame, at, 0);
    let sum = !fold(pseudo_header(frame, c, total) + add(0, &frame[l4..ip + total]));
    // UDP sends a computed 0 as 0xFFFF (0 means "no checksum"); TCP's 0 is 0.
    put16(frame, at, if sum == 0 && !c.tcp { 0xFFFF } else { sum });
}

/// Whether the IPv4 and TCP/UDP checksums of `frame` are right (tests).
#[cfg(test)]
pub(crate) fn verify(frame: &[u8]) -> bool {
    let Some((c, total)) = layout(frame) else {
        return false;
    };
    let ip = c.l2_len as usize;
    let l4 = ip + c.l3_len as usize;
    fold(add(0, &frame[ip..l4])) == 0xFFFF
        && fold(pseudo_header(frame, &c, total) + add(0, &frame[l4..ip + total])) == 0xFFFF
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// An Ethernet/IPv4/UDP (or TCP) frame with `payload` bytes, checksums
    /// zero, optionally with an 802.1Q tag in the frame.
    pub(crate) fn frame(tcp: bool, payload: usize, tag: Option<u16>) -> Vec<u8> {
        let mut f = vec![0xFF; 6];
        f.extend_from_slice(&[0x02, 0, 0, 0, 0, 1]);
        if let Some(t) = tag {
            f.extend_from_slice(&ETHERTYPE_VLAN.to_be_bytes());
            f.extend_from_slice(&t.to_be_bytes());
        }
        f.extend_from_slice(&ETHERTYPE_IPV4.to_be_bytes());
        let l4_len = if tcp { 20 } else { 8 } + payload;
        let total = 20 + l4_len;
        let proto = if tcp { PROTO_TCP } else { PROTO_UDP };
        f.extend_from_slice(&[0x45, 0, (total >> 8) as u8, total as u8, 0, 1, 0x40, 0]);
        f.extend_from_slice(&[64, proto, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2]);
        f.extend_from_slice(&[0x30, 0x39, 0x1F, 0x90]); // ports 12345 → 8080
        if tcp {
            f.extend_from_slice(&[0, 0, 0, 1, 0, 0, 0, 0, 0x50, 0x18, 0xFF, 0xFF, 0, 0, 0, 0]);
        } else {
            f.extend_from_slice(&[(l4_len >> 8) as u8, l4_len as u8, 0, 0]);
        }
        f.extend((0..payload).map(|i| (i * 7) as u8));
        f
    }

    #[test]
    fn layout_finds_udp_tcp_and_tagged_frames() {
        let (c, total) = layout(&frame(false, 100, None)).unwrap();
        assert_eq!((c.l2_len, c.l3_len, c.tcp, total), (14, 20, false, 128));
        let (c, _) = layout(&frame(true, 10, Some(7))).unwrap();
        assert_eq!((c.l2_len, c.tcp), (18, true));
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
    fn fill_computes_checksums_that_verify() {
        for (tcp, payload) in [(false, 0), (false, 101), (true, 6), (true, 1000)] {
            let mut f = frame(tcp, payload, None);
            let (c, total) = layout(&f).unwrap();
            assert!(!verify(&f));
            fill(&mut f, &c, total);
            assert!(verify(&f), "tcp {tcp} payload {payload}");
        }
    }

    #[test]
    fn prepare_seeds_what_the_nic_completes() {
        // The NIC sums from the L4 header to the end, seed included, and
        // stores the complement (SDM §3.3.6): that must equal a full fill.
        let mut f = frame(false, 77, None);
        let (c, total) = layout(&f).unwrap();
        prepare(&mut f, &c, total);
        let l4 = (c.l2_len + c.l3_len) as usize;
        let nic_l4 = !fold(add(0, &f[l4..]));
        let mut full = f.clone();
        fill(&mut full, &c, total);
        assert_eq!(nic_l4.to_be_bytes(), full[c.l4_checksum_offset()..][..2]);
        assert_eq!(f[c.l2_len as usize + 10..][..2], [0, 0]);
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
