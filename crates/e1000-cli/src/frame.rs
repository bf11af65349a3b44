//! The frames `send` builds: IPv4/UDP with a sequence number, on the
//! shared wire helpers ([`e1000_wire`]), which also give `dump` its
//! one-line summaries.

pub use e1000_wire::{mac_str, summary};
use e1000_wire::{write_ipv4_udp, Ipv4Udp, UDP_PAYLOAD};

/// Offset of the sequence number: the start of the UDP payload.
const SEQ: usize = UDP_PAYLOAD;

/// Writes an IPv4/UDP frame of `buf.len()` bytes (60..=9014) with the
/// headers of `spec` carrying `seq` (8 bytes, big-endian, at offset 42) and
/// then `payload` repeated (or byte `i` = `i` when `payload` is empty). Send
/// frames leave the UDP checksum 0 ("none", RFC 768: `spec.udp_checksum`
/// false), so frames of one size differ only in the sequence number and
/// source port: see [`set_seq`] and [`set_src_port`].
pub fn build_udp(buf: &mut [u8], spec: &Ipv4Udp, payload: &[u8], seq: u64) {
    assert!((60..=9014).contains(&buf.len()));
    set_seq(buf, seq);
    for (i, b) in buf[SEQ + 8..].iter_mut().enumerate() {
        *b = if payload.is_empty() {
            i as u8
        } else {
            payload[i % payload.len()]
        };
    }
    write_ipv4_udp(buf, spec);
}

/// Rewrites the UDP source port of a frame made by [`build_udp`].
pub fn set_src_port(buf: &mut [u8], port: u16) {
    buf[34..36].copy_from_slice(&port.to_be_bytes());
}

/// Rewrites the sequence number of a frame made by [`build_udp`].
pub fn set_seq(buf: &mut [u8], seq: u64) {
    buf[SEQ..SEQ + 8].copy_from_slice(&seq.to_be_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn udp_frame_has_valid_checksums_and_summary() {
        let mut f = vec![0u8; 100];
        let spec = Ipv4Udp {
            dst_mac: [0xff; 6],
            src_mac: [0x52, 0x54, 0, 0x12, 0x34, 0x56],
            src_ip: [10, 11, 12, 2],
            dst_ip: [10, 11, 12, 1],
            src_port: 40000,
            dst_port: 40001,
            ident: 0,
            udp_checksum: false,
        };
        build_udp(&mut f, &spec, &[], 7);
        assert_eq!(
            e1000_wire::checksum(&f[14..34]),
            0,
            "IPv4 header checksum verifies to 0"
        );
        assert_eq!(
            summary(&f),
            "52:54:00:12:34:56 > ff:ff:ff:ff:ff:ff, IPv4 (0x0800), length 100: 10.11.12.2.40000 > 10.11.12.1.40001: UDP, length 58"
        );
        assert_eq!(u64::from_be_bytes(f[42..50].try_into().unwrap()), 7);
        assert_eq!(f[50..53], [0, 1, 2]);
        assert_eq!(f[40..42], [0, 0], "no UDP checksum");
        build_udp(&mut f, &spec, &[0xde, 0xad], 8);
        assert_eq!(f[50..54], [0xde, 0xad, 0xde, 0xad]);
        set_src_port(&mut f, 40003);
        assert!(summary(&f).contains("10.11.12.2.40003 > "));
        // A jumbo frame (send --mtu 9000 --size 9014) is built the same way.
        let mut jumbo = vec![0u8; 9014];
        build_udp(&mut jumbo, &spec, &[], 9);
        assert_eq!(e1000_wire::checksum(&jumbo[14..34]), 0);
        assert!(summary(&jumbo).contains("length 9014"));
    }
}
