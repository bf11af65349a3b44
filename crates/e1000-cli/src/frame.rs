//! The frames `send` builds: Ethernet/IP/UDP (TCP, SCTP) carrying a sequence
//! number, on the shared wire helpers ([`e1000_wire`]), which also give
//! `dump` its one-line summaries.

use e1000_wire::ip::{Headers, Network, Transport};
pub use e1000_wire::{mac_str, summary};

/// One frame `send` sends, built once: the headers of `headers`, an 8-byte
/// big-endian sequence number at the start of the payload, then the
/// payload pattern (or byte `i` = `i`). Frames of one size differ only in
/// the sequence numbers (and the source port with several flows): see
/// [`Template::stamp`]. An IPv4 UDP frame leaves the UDP checksum 0
/// ("none", RFC 768); TCP and IPv6 need one, which [`Template::stamp`]
/// fills in unless the NIC will.
#[derive(Debug, Clone)]
pub struct Template {
    bytes: Vec<u8>,
    headers: Headers,
}

impl Template {
    /// A template of `size` bytes (at least the headers and 8 more).
    pub fn new(headers: Headers, size: usize, payload: &[u8]) -> Template {
        let mut bytes = vec![0u8; size];
        let at = headers.len() + 8;
        for (i, b) in bytes[at..].iter_mut().enumerate() {
            *b = if payload.is_empty() {
                i as u8
            } else {
                payload[i % payload.len()]
            };
        }
        headers.write(&mut bytes, size);
        Template { bytes, headers }
    }

    /// The frame's bytes, sequence number 0.
    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// Bytes of TCP/UDP payload in a whole frame.
    pub fn payload_len(&self) -> usize {
        self.bytes.len() - self.headers.len()
    }

    /// Writes sequence number `seq` and source port `src_port` into
    /// `first`, the frame (or its first part, which holds the headers); a
    /// TCP frame gets `seq` × the payload bytes as its sequence number, so
    /// that the segments of successive frames tile one stream. With
    /// `l4_checksum` (a whole frame that the NIC will not checksum and
    /// whose transport needs one), the TCP/UDP checksum is filled in.
    pub fn stamp(&self, first: &mut [u8], seq: u64, src_port: u16, l4_checksum: bool) {
        let at = self.headers.len();
        first[at..at + 8].copy_from_slice(&seq.to_be_bytes());
        let l4 = at - self.l4_header_len();
        first[l4..l4 + 2].copy_from_slice(&src_port.to_be_bytes());
        if let Transport::Tcp { seq: base, .. } = self.headers.transport {
            let stream = base.wrapping_add((seq as u32).wrapping_mul(self.payload_len() as u32));
            first[l4 + 4..l4 + 8].copy_from_slice(&stream.to_be_bytes());
        }
        if l4_checksum {
            e1000_wire::ip::fill_l4_checksum(first);
        }
    }

    /// Whether the frame's transport needs a checksum (TCP, SCTP, or UDP
    /// over IPv6).
    pub fn needs_l4_checksum(&self) -> bool {
        !matches!(self.headers.transport, Transport::Udp)
            || matches!(self.headers.network, Network::V6 { .. })
    }

    fn l4_header_len(&self) -> usize {
        self.headers.transport.header_len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use e1000_wire::ip::{checksums_ok, TCP_PSH_ACK};

    fn headers(network: Network, transport: Transport) -> Headers {
        Headers {
            dst_mac: [0xff; 6],
            src_mac: [0x52, 0x54, 0, 0x12, 0x34, 0x56],
            network,
            transport,
            src_port: 40000,
            dst_port: 40001,
        }
    }

    const V4: Network = Network::V4 {
        src: [10, 11, 12, 2],
        dst: [10, 11, 12, 1],
        ident: 0,
    };

    #[test]
    fn udp_frame_has_valid_checksums_and_summary() {
        let t = Template::new(headers(V4, Transport::Udp), 100, &[]);
        let mut f = t.bytes().to_vec();
        t.stamp(&mut f, 7, 40000, false);
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
        let t = Template::new(headers(V4, Transport::Udp), 100, &[0xde, 0xad]);
        assert_eq!(t.bytes()[50..54], [0xde, 0xad, 0xde, 0xad]);
        t.stamp(&mut f, 8, 40003, false);
        assert!(summary(&f).contains("10.11.12.2.40003 > "));
        // A jumbo frame (send --mtu 9000 --size 9014) is built the same way.
        let jumbo = Template::new(headers(V4, Transport::Udp), 9014, &[]);
        assert_eq!(e1000_wire::checksum(&jumbo.bytes()[14..34]), 0);
        assert!(summary(jumbo.bytes()).contains("length 9014"));
    }

    #[test]
    fn tcp_and_ipv6_frames_get_checksums_and_tiling_sequence_numbers() {
        let v6 = Network::V6 {
            src: [0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 10, 11, 12, 2],
            dst: [0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 10, 11, 12, 1],
        };
        let tcp = Transport::Tcp {
            seq: 1,
            flags: TCP_PSH_ACK,
        };
        let sctp = Transport::Sctp { tag: 7 };
        for (network, transport) in [(V4, tcp), (v6, Transport::Udp), (v6, tcp), (V4, sctp)] {
            let t = Template::new(headers(network, transport), 1000, &[]);
            assert!(t.needs_l4_checksum());
            let mut f = t.bytes().to_vec();
            t.stamp(&mut f, 3, 40001, true);
            assert_eq!(checksums_ok(&f), Some(true), "{network:?} {transport:?}");
        }
        let t = Template::new(headers(v6, tcp), 1000, &[]);
        let mut f = t.bytes().to_vec();
        t.stamp(&mut f, 2, 40000, false);
        let seq = u32::from_be_bytes(f[14 + 40 + 4..][..4].try_into().unwrap());
        assert_eq!(seq as usize, 1 + 2 * t.payload_len());
    }
}
