//! Ethernet/IP/TCP, UDP or SCTP frames over IPv4 or IPv6, as `e1000 send`
//! writes them for checksum offload and TCP segmentation, and the check the
//! test bench applies to every frame that comes off the wire.

use crate::{ETHERNET_HEADER, ETHERTYPE_IPV4, ETHERTYPE_IPV6, ETHERTYPE_VLAN};

/// IP protocol number of TCP.
pub const PROTO_TCP: u8 = 6;
/// IP protocol number of UDP.
pub const PROTO_UDP: u8 = 17;
/// IP protocol number of SCTP.
pub const PROTO_SCTP: u8 = 132;
/// SCTP: the common header (ports, verification tag, CRC32c) and one DATA
/// chunk's header (RFC 9260 §3.1, §3.3.1), which the payload follows.
const SCTP_HEADERS: usize = 12 + 16;
/// SCTP DATA chunk type and its flags: the whole message (B and E).
const SCTP_DATA: u8 = 0;
const SCTP_DATA_WHOLE: u8 = 0x03;
/// TCP flags: PSH and ACK (what a data segment carries).
pub const TCP_PSH_ACK: u8 = 0x18;

/// The network layer of a frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Network {
    /// IPv4 (20-byte header, don't fragment, TTL 64) with this identification.
    V4 {
        /// Source address.
        src: [u8; 4],
        /// Destination address.
        dst: [u8; 4],
        /// Identification.
        ident: u16,
    },
    /// IPv6 (no extension headers, hop limit 64).
    V6 {
        /// Source address.
        src: [u8; 16],
        /// Destination address.
        dst: [u8; 16],
    },
}

/// The transport layer of a frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    /// UDP.
    Udp,
    /// TCP (20-byte header, window 65535) with this sequence number and flags.
    Tcp {
        /// Sequence number.
        seq: u32,
        /// Flags (FIN 0x01 … ACK 0x10).
        flags: u8,
    },
    /// SCTP: the common header with this verification tag, then one DATA
    /// chunk (TSN 1, stream 0) carrying the payload.
    Sctp {
        /// Verification tag.
        tag: u32,
    },
}

impl Transport {
    /// The IP protocol number.
    fn protocol(self) -> u8 {
        match self {
            Transport::Udp => PROTO_UDP,
            Transport::Tcp { .. } => PROTO_TCP,
            Transport::Sctp { .. } => PROTO_SCTP,
        }
    }

    /// Bytes of its headers (SCTP: the common header and the DATA chunk's).
    pub fn header_len(self) -> usize {
        match self {
            Transport::Udp => 8,
            Transport::Tcp { .. } => 20,
            Transport::Sctp { .. } => SCTP_HEADERS,
        }
    }
}

/// The headers of an Ethernet/IP/TCP-or-UDP frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Headers {
    /// Destination MAC.
    pub dst_mac: [u8; 6],
    /// Source MAC.
    pub src_mac: [u8; 6],
    /// IPv4 or IPv6.
    pub network: Network,
    /// UDP, TCP or SCTP.
    pub transport: Transport,
    /// Source port.
    pub src_port: u16,
    /// Destination port.
    pub dst_port: u16,
}

impl Headers {
    /// Bytes of the network header.
    fn l3_len(&self) -> usize {
        match self.network {
            Network::V4 { .. } => 20,
            Network::V6 { .. } => 40,
        }
    }

    /// Bytes of all the headers: where the payload starts.
    pub fn len(&self) -> usize {
        ETHERNET_HEADER + self.l3_len() + self.transport.header_len()
    }

    /// Always false: there are always headers (for clippy's `len` rule).
    pub fn is_empty(&self) -> bool {
        false
    }

    /// Writes the headers into the start of `frame`, with the IP, UDP and
    /// SCTP chunk lengths covering `datagram_end - 14` bytes (the whole
    /// frame when it holds all of it; a frame to be cut into TCP segments
    /// may hold only the headers). The IPv4 header checksum is filled in;
    /// the TCP/UDP checksum or SCTP CRC is left 0 (see
    /// [`fill_l4_checksum`]).
    ///
    /// # Panics
    /// If `frame` is shorter than the headers or the datagram over 64 KiB.
    pub fn write(&self, frame: &mut [u8], datagram_end: usize) {
        let (l3, l4) = (ETHERNET_HEADER, ETHERNET_HEADER + self.l3_len());
        assert!(frame.len() >= self.len() && datagram_end >= self.len());
        let ip_len = datagram_end - l3;
        let l4_len = datagram_end - l4;
        assert!(
            ip_len <= usize::from(u16::MAX),
            "an IP datagram over 64 KiB"
        );
        frame[0..6].copy_from_slice(&self.dst_mac);
        frame[6..12].copy_from_slice(&self.src_mac);
        let proto = self.transport.protocol();
        match self.network {
            Network::V4 { src, dst, ident } => {
                frame[12..14].copy_from_slice(&ETHERTYPE_IPV4.to_be_bytes());
                let ip = &mut frame[l3..l4];
                ip[..12].copy_from_slice(&[0x45, 0, 0, 0, 0, 0, 0x40, 0, 64, proto, 0, 0]);
                ip[2..4].copy_from_slice(&(ip_len as u16).to_be_bytes());
                ip[4..6].copy_from_slice(&ident.to_be_bytes());
                ip[12..16].copy_from_slice(&src);
                ip[16..20].copy_from_slice(&dst);
                let sum = crate::checksum(ip);
                ip[10..12].copy_from_slice(&sum.to_be_bytes());
            }
            Network::V6 { src, dst } => {
                frame[12..14].copy_from_slice(&ETHERTYPE_IPV6.to_be_bytes());
                let ip = &mut frame[l3..l4];
                ip[..8].copy_from_slice(&[0x60, 0, 0, 0, 0, 0, proto, 64]);
                ip[4..6].copy_from_slice(&(l4_len as u16).to_be_bytes());
                ip[8..24].copy_from_slice(&src);
                ip[24..40].copy_from_slice(&dst);
            }
        }
        let t = &mut frame[l4..self.len()];
        t[0..2].copy_from_slice(&self.src_port.to_be_bytes());
        t[2..4].copy_from_slice(&self.dst_port.to_be_bytes());
        match self.transport {
            Transport::Udp => {
                t[4..6].copy_from_slice(&(l4_len as u16).to_be_bytes());
                t[6..8].fill(0);
            }
            Transport::Tcp { seq, flags } => {
                t[4..8].copy_from_slice(&seq.to_be_bytes());
                t[8..12].fill(0); // ack
                t[12..14].copy_from_slice(&[0x50, flags]);
                t[14..16].copy_from_slice(&u16::MAX.to_be_bytes());
                t[16..20].fill(0); // checksum, urgent pointer
            }
            Transport::Sctp { tag } => {
                t[4..8].copy_from_slice(&tag.to_be_bytes());
                t[8..12].fill(0); // CRC32c
                let chunk_len = l4_len - 12;
                t[12..14].copy_from_slice(&[SCTP_DATA, SCTP_DATA_WHOLE]);
                t[14..16].copy_from_slice(&(chunk_len as u16).to_be_bytes());
                t[16..20].copy_from_slice(&1u32.to_be_bytes()); // TSN
                t[20..28].fill(0); // stream, stream sequence, payload protocol
            }
        }
    }
}

/// Where the IP header, the TCP/UDP/SCTP header and the datagram's end are
/// in `frame`, with the protocol and whether it is IPv6; `None` unless it
/// is an IPv4 or IPv6 (no extension headers) TCP, UDP or SCTP frame, whole.
fn locate(frame: &[u8]) -> Option<(usize, usize, usize, u8, bool)> {
    let be16 = |at: usize| Some(u16::from_be_bytes([*frame.get(at)?, *frame.get(at + 1)?]));
    let (l3, ethertype) = match be16(12)? {
        ETHERTYPE_VLAN => (18, be16(16)?),
        t => (14, t),
    };
    let (l4, end, proto, v6) = match ethertype {
        ETHERTYPE_IPV4 => {
            let ihl = (*frame.get(l3)? & 0xF) as usize * 4;
            (
                l3 + ihl,
                l3 + be16(l3 + 2)? as usize,
                *frame.get(l3 + 9)?,
                false,
            )
        }
        ETHERTYPE_IPV6 => (
            l3 + 40,
            l3 + 40 + be16(l3 + 4)? as usize,
            *frame.get(l3 + 6)?,
            true,
        ),
        _ => return None,
    };
    let min = match proto {
        PROTO_TCP => 20,
        PROTO_UDP => 8,
        PROTO_SCTP => 12,
        _ => return None,
    };
    (end <= frame.len() && end >= l4 + min).then_some((l3, l4, end, proto, v6))
}

/// The one's complement sum of the TCP/UDP pseudo-header and segment.
fn l4_sum(frame: &[u8], l3: usize, l4: usize, end: usize, proto: u8, v6: bool) -> u16 {
    let addresses = if v6 {
        &frame[l3 + 8..l3 + 40]
    } else {
        &frame[l3 + 12..l3 + 20]
    };
    let mut pseudo = addresses.to_vec();
    pseudo.extend_from_slice(&[0, proto]);
    pseudo.extend_from_slice(&((end - l4) as u32).to_be_bytes()[2..]);
    let sum = !crate::checksum(&pseudo) as u32 + !crate::checksum(&frame[l4..end]) as u32;
    let folded = (sum & 0xFFFF) + (sum >> 16);
    !((folded & 0xFFFF) + (folded >> 16)) as u16
}

/// The CRC-32C (Castagnoli) of `data`, SCTP's checksum (RFC 9260
/// Appendix A), bit by bit: the plain reference that the test bench checks
/// the NIC's and the driver's against.
pub fn crc32c(data: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &byte in data {
        crc ^= u32::from(byte);
        for _ in 0..8 {
            let low = crc & 1;
            crc >>= 1;
            if low != 0 {
                crc ^= 0x82F6_3B78;
            }
        }
    }
    !crc
}

/// The CRC of the SCTP packet at `frame[l4..end]`, with its CRC field
/// taken as 0, as stored (least significant byte first).
fn sctp_crc(frame: &[u8], l4: usize, end: usize) -> [u8; 4] {
    let mut packet = frame[l4..end].to_vec();
    packet[8..12].fill(0);
    crc32c(&packet).to_le_bytes()
}

/// Fills in the TCP or UDP checksum, or the SCTP CRC, of a whole frame
/// [`Headers::write`] wrote (payload in place). False if `frame` is not
/// such a frame.
pub fn fill_l4_checksum(frame: &mut [u8]) -> bool {
    let Some((l3, l4, end, proto, v6)) = locate(frame) else {
        return false;
    };
    if proto == PROTO_SCTP {
        let crc = sctp_crc(frame, l4, end);
        frame[l4 + 8..l4 + 12].copy_from_slice(&crc);
        return true;
    }
    let at = l4 + if proto == PROTO_TCP { 16 } else { 6 };
    frame[at..at + 2].fill(0);
    let sum = l4_sum(frame, l3, l4, end, proto, v6);
    // UDP sends a computed 0 as 0xFFFF.
    let sum = if sum == 0 && proto == PROTO_UDP {
        0xFFFF
    } else {
        sum
    };
    frame[at..at + 2].copy_from_slice(&sum.to_be_bytes());
    true
}

/// Whether every checksum of an IPv4 or IPv6 TCP, UDP or SCTP frame is
/// right (the IPv4 header's, and the TCP/UDP one, which must be present: a
/// UDP checksum of 0 counts as wrong; or SCTP's CRC); `None` for any other
/// frame.
pub fn checksums_ok(frame: &[u8]) -> Option<bool> {
    let (l3, l4, end, proto, v6) = locate(frame)?;
    let ip_ok = v6 || crate::checksum(&frame[l3..l4]) == 0;
    if proto == PROTO_SCTP {
        return Some(ip_ok && sctp_crc(frame, l4, end) == frame[l4 + 8..l4 + 12]);
    }
    let at = l4 + if proto == PROTO_TCP { 16 } else { 6 };
    let present = proto == PROTO_TCP || frame[at..at + 2] != [0, 0];
    Some(ip_ok && present && l4_sum(frame, l3, l4, end, proto, v6) == 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    const TCP: Transport = Transport::Tcp {
        seq: 1000,
        flags: TCP_PSH_ACK,
    };
    const SCTP: Transport = Transport::Sctp { tag: 0xA1B2_C3D4 };

    fn headers(v6: bool, transport: Transport) -> Headers {
        Headers {
            dst_mac: [2, 0, 0, 0, 0, 1],
            src_mac: [2, 0, 0, 0, 0, 2],
            network: if v6 {
                Network::V6 {
                    src: [0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 10, 11, 12, 2],
                    dst: [0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 10, 11, 12, 1],
                }
            } else {
                Network::V4 {
                    src: [10, 11, 12, 2],
                    dst: [10, 11, 12, 1],
                    ident: 7,
                }
            },
            transport,
            src_port: 40000,
            dst_port: 40001,
        }
    }

    #[test]
    fn written_frames_check_out_and_a_flipped_byte_does_not() {
        for v6 in [false, true] {
            for transport in [Transport::Udp, TCP, SCTP] {
                let h = headers(v6, transport);
                let mut f: Vec<u8> = (0..300).map(|i| i as u8).collect();
                h.write(&mut f, 300);
                assert_eq!(checksums_ok(&f), Some(false), "no L4 checksum yet");
                assert!(fill_l4_checksum(&mut f));
                assert_eq!(checksums_ok(&f), Some(true), "v6 {v6} {transport:?}");
                f[h.len() + 3] ^= 1;
                assert_eq!(checksums_ok(&f), Some(false));
            }
        }
        assert_eq!(checksums_ok(&[0u8; 60]), None);
    }

    #[test]
    fn crc32c_matches_the_check_values() {
        assert_eq!(crc32c(b"123456789"), 0xE306_9283);
        // RFC 3720 B.4: 32 bytes of 0xFF.
        assert_eq!(crc32c(&[0xFF; 32]), 0x62A8_AB43);
    }

    #[test]
    fn sctp_headers_carry_one_data_chunk_over_the_payload() {
        let h = headers(false, SCTP);
        assert_eq!(h.len(), 14 + 20 + 28);
        let mut f = vec![0u8; 100];
        h.write(&mut f, 100);
        assert_eq!(f[14 + 9], 132, "protocol");
        let sctp = &f[34..];
        assert_eq!(sctp[4..8], 0xA1B2_C3D4u32.to_be_bytes());
        assert_eq!(sctp[12..16], [0, 3, 0, 66 - 12], "DATA, B+E, chunk length");
    }

    #[test]
    fn smoltcp_agrees_with_the_ipv4_udp_checksum() {
        let h = headers(false, Transport::Udp);
        let mut f = vec![0x5Au8; 100];
        h.write(&mut f, 100);
        fill_l4_checksum(&mut f);
        let ip = smoltcp::wire::Ipv4Packet::new_checked(&f[14..]).unwrap();
        assert!(ip.verify_checksum());
        let udp = smoltcp::wire::UdpPacket::new_checked(ip.payload()).unwrap();
        let (src, dst) = (ip.src_addr().into(), ip.dst_addr().into());
        assert!(udp.verify_checksum(&src, &dst));
    }
}
