//! The virtio-net header (virtio 1.2 §5.1.6, `struct virtio_net_hdr`) that
//! a TAP opened with `IFF_VNET_HDR` puts before every frame: how the kernel
//! asks for a checksum or segmentation of a frame it hands over, and how a
//! received frame's checksum verdict is handed to it.

/// Bytes of the header (no `num_buffers`: the TAP's default size).
pub const SIZE: usize = 10;

/// `flags`: the checksum from `csum_start` to the end is still to be
/// computed and stored at `csum_start + csum_offset`.
pub const NEEDS_CSUM: u8 = 1;
/// `flags`: the checksums of the frame were verified.
pub const DATA_VALID: u8 = 2;
/// `gso_type`: not to be segmented; TCP over IPv4; TCP over IPv6; the ECN
/// bit that may be added to either.
pub const GSO_NONE: u8 = 0;
pub const GSO_TCPV4: u8 = 1;
pub const GSO_TCPV6: u8 = 4;
pub const GSO_ECN: u8 = 0x80;

/// One header, in the host's byte order (the TAP's default on a
/// little-endian host, as virtio 1.x's is).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Header {
    /// [`NEEDS_CSUM`], [`DATA_VALID`].
    pub flags: u8,
    /// [`GSO_NONE`], [`GSO_TCPV4`], [`GSO_TCPV6`], maybe with [`GSO_ECN`].
    pub gso_type: u8,
    /// Bytes of headers (a hint).
    pub hdr_len: u16,
    /// Payload bytes per segment.
    pub gso_size: u16,
    /// Where the checksummed part starts.
    pub csum_start: u16,
    /// Where, from `csum_start`, the checksum goes.
    pub csum_offset: u16,
}

impl Header {
    /// Decodes the first [`SIZE`] bytes of `b`.
    pub fn from_bytes(b: &[u8; SIZE]) -> Header {
        let u16_at = |i: usize| u16::from_ne_bytes([b[i], b[i + 1]]);
        Header {
            flags: b[0],
            gso_type: b[1],
            hdr_len: u16_at(2),
            gso_size: u16_at(4),
            csum_start: u16_at(6),
            csum_offset: u16_at(8),
        }
    }

    /// Encodes the header.
    pub fn to_bytes(self) -> [u8; SIZE] {
        let mut b = [0u8; SIZE];
        b[0] = self.flags;
        b[1] = self.gso_type;
        for (i, v) in [
            self.hdr_len,
            self.gso_size,
            self.csum_start,
            self.csum_offset,
        ]
        .into_iter()
        .enumerate()
        {
            b[2 + 2 * i..4 + 2 * i].copy_from_slice(&v.to_ne_bytes());
        }
        b
    }

    /// The TCP segmentation the kernel asks for, if any: `Some(mss)`.
    pub fn tcp_segmentation(&self) -> Option<u16> {
        matches!(self.gso_type & !GSO_ECN, GSO_TCPV4 | GSO_TCPV6).then_some(self.gso_size)
    }

    /// Whether the kernel asks for segmentation this driver does not do
    /// (UDP fragmentation or segmentation).
    pub fn other_segmentation(&self) -> bool {
        self.gso_type & !GSO_ECN != GSO_NONE && self.tcp_segmentation().is_none()
    }
}

/// Completes the checksum the kernel left to do in `frame`
/// ([`NEEDS_CSUM`]): the one's complement of the sum from `csum_start` to
/// the end, whose field holds the pseudo-header sum already, stored at
/// `csum_start + csum_offset`. False if the offsets are outside the frame.
pub fn finish_checksum(frame: &mut [u8], h: &Header) -> bool {
    let (start, at) = (
        usize::from(h.csum_start),
        usize::from(h.csum_start) + usize::from(h.csum_offset),
    );
    if at + 2 > frame.len() || start > at {
        return false;
    }
    let sum = e1000_wire::checksum(&frame[start..]);
    frame[at..at + 2].copy_from_slice(&sum.to_be_bytes());
    true
}

#[cfg(test)]
mod tests {
    use super::*;
    use e1000_wire::ip::{checksums_ok, Headers, Network, Transport};

    #[test]
    fn header_round_trips() {
        let h = Header {
            flags: NEEDS_CSUM,
            gso_type: GSO_TCPV6 | GSO_ECN,
            hdr_len: 74,
            gso_size: 1440,
            csum_start: 54,
            csum_offset: 16,
        };
        assert_eq!(Header::from_bytes(&h.to_bytes()), h);
        assert_eq!(h.tcp_segmentation(), Some(1440));
        assert!(!h.other_segmentation());
    }

    #[test]
    fn a_partial_checksum_is_finished_as_the_kernel_expects() {
        let headers = Headers {
            dst_mac: [2, 0, 0, 0, 0, 1],
            src_mac: [2, 0, 0, 0, 0, 2],
            network: Network::V6 {
                src: [0xfd; 16],
                dst: [0xfe; 16],
            },
            transport: Transport::Udp,
            src_port: 1,
            dst_port: 2,
        };
        let mut f: Vec<u8> = (0..200).map(|i| i as u8).collect();
        headers.write(&mut f, 200);
        // What the kernel hands over: the pseudo-header sum in the field.
        let mut pseudo = f[22..54].to_vec();
        pseudo.extend_from_slice(&[0, 0, 0, 146, 0, 0, 0, 17]);
        let seed = !e1000_wire::checksum(&pseudo);
        f[60..62].copy_from_slice(&seed.to_be_bytes());
        let h = Header {
            flags: NEEDS_CSUM,
            csum_start: 54,
            csum_offset: 6,
            ..Header::default()
        };
        assert!(finish_checksum(&mut f, &h));
        assert_eq!(checksums_ok(&f), Some(true));
        assert!(!finish_checksum(&mut f[..59], &h));
    }
}
