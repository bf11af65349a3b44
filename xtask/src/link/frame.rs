//! Ethernet frames for the bench: MAC addresses, numbered test frames with a
//! verifiable payload (raw or IPv4/UDP with valid checksums), and the echo
//! contract check.
//!
//! A test frame is `dst | src | ethertype | magic "E1KB" | seq (u32 BE) |
//! pattern`, where pattern byte `i` is `(seq + i) as u8`. UDP frames carry
//! the same payload inside IPv4/UDP. Headers, checksums and the echo rule
//! are the shared ones of [`e1000_wire`].

use crate::error::Result;
pub use crate::mac::Mac;

/// Ethertype of raw test frames (IEEE local experimental).
pub const ETHERTYPE_TEST: u16 = 0x88b5;
pub use e1000_wire::{checksum, ETHERTYPE_ARP, ETHERTYPE_IPV4, MAX_FRAME, MIN_FRAME};
/// Marks the payload of a test frame.
pub const MAGIC: &[u8; 4] = b"E1KB";

/// The kind of test frame to build.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FrameKind {
    /// Ethertype [`ETHERTYPE_TEST`], payload right after the header.
    Raw,
    /// IPv4/UDP (10.11.12.1:9000 → 10.11.12.2:9000) with valid checksums.
    Udp,
}

/// A sequence of frame sizes that covers the interesting range 60..=1514.
pub fn mixed_size(i: usize) -> usize {
    const SIZES: [usize; 8] = [60, 64, 128, 1514, 333, 1024, 61, 1500];
    if i % 3 == 2 {
        // Pseudo-random sizes in between, deterministic per index.
        MIN_FRAME + (i.wrapping_mul(2654435761) % (MAX_FRAME - MIN_FRAME + 1))
    } else {
        SIZES[i % SIZES.len()]
    }
}

/// Fills `buf` with the test payload for `seq`.
fn fill_payload(buf: &mut [u8], seq: u32) {
    let head = [MAGIC.as_slice(), &seq.to_be_bytes()].concat();
    for (i, b) in buf.iter_mut().enumerate() {
        *b = head
            .get(i)
            .copied()
            .unwrap_or((seq as usize).wrapping_add(i) as u8);
    }
}

/// Builds a test frame of exactly `len` bytes (clamped to 60..=1514).
pub fn test_frame(kind: FrameKind, dst: Mac, src: Mac, seq: u32, len: usize) -> Vec<u8> {
    let len = len.clamp(MIN_FRAME, MAX_FRAME);
    let mut f = vec![0u8; len];
    f[0..6].copy_from_slice(&dst.0);
    f[6..12].copy_from_slice(&src.0);
    match kind {
        FrameKind::Raw => {
            f[12..14].copy_from_slice(&ETHERTYPE_TEST.to_be_bytes());
            fill_payload(&mut f[14..], seq);
        }
        FrameKind::Udp => {
            fill_payload(&mut f[e1000_wire::UDP_PAYLOAD..], seq);
            let headers = e1000_wire::Ipv4Udp {
                dst_mac: dst.0,
                src_mac: src.0,
                // 64 flows, so that RSS has something to spread: source
                // address 10.11.12.100-163 and port 9000-9063 (the 82574L
                // hashes UDP on the addresses alone, the 82576 on the ports too).
                src_ip: [10, 11, 12, 100 + (seq % 64) as u8],
                dst_ip: [10, 11, 12, 2],
                src_port: 9000 + (seq % 64) as u16,
                dst_port: 9000,
                ident: seq as u16,
                udp_checksum: true,
            };
            e1000_wire::write_ipv4_udp(&mut f, &headers);
        }
    }
    f
}

/// The sequence number of a test frame of either kind, if it is one.
pub fn test_seq(frame: &[u8]) -> Option<u32> {
    let ethertype = u16::from_be_bytes([*frame.get(12)?, *frame.get(13)?]);
    let payload = match ethertype {
        ETHERTYPE_TEST => frame.get(14..)?,
        ETHERTYPE_IPV4 if frame.get(23) == Some(&17) => frame.get(14 + 28..)?,
        _ => return None,
    };
    (payload.get(..4)? == MAGIC).then(|| u32::from_be_bytes(payload[4..8].try_into().unwrap()))
}

/// What the echo of `sent` must look like: dst := original src, src := the
/// NIC's MAC, every other byte unchanged.
pub fn expected_echo(sent: &[u8], nic_mac: Mac) -> Vec<u8> {
    e1000_wire::echo_of(sent, nic_mac.0)
}

/// Checks an echoed frame byte by byte; the error names the first difference.
pub fn check_echo(sent: &[u8], got: &[u8], nic_mac: Mac) -> Result<(), String> {
    let want = expected_echo(sent, nic_mac);
    if let Some(i) = want.iter().zip(got).position(|(a, b)| a != b) {
        return Err(format!(
            "echo of a {}-byte frame differs at byte {i}: want {:#04x}, got {:#04x}",
            sent.len(),
            want[i],
            got[i]
        ));
    }
    if want.len() != got.len() {
        return Err(format!("echo has {} bytes, sent {}", got.len(), sent.len()));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_roundtrip() {
        for kind in [FrameKind::Raw, FrameKind::Udp] {
            for i in 0..40 {
                let f = test_frame(kind, Mac::nic(0), Mac::HOST, i as u32, mixed_size(i));
                assert!((MIN_FRAME..=MAX_FRAME).contains(&f.len()));
                assert_eq!(test_seq(&f), Some(i as u32));
                let echo = expected_echo(&f, Mac::nic(0));
                assert_eq!(check_echo(&f, &echo, Mac::nic(0)), Ok(()));
                assert!(check_echo(&f, &f, Mac::nic(0)).is_err());
            }
        }
    }

    #[test]
    fn udp_checksums_verify() {
        let f = test_frame(FrameKind::Udp, Mac::nic(0), Mac::HOST, 7, 200);
        assert_eq!(checksum(&f[14..34]), 0);
        let mut pseudo = f[26..34].to_vec();
        pseudo.extend_from_slice(&[0, 17]);
        pseudo.extend_from_slice(&f[38..40]);
        pseudo.extend_from_slice(&f[34..]);
        assert_eq!(checksum(&pseudo), 0);
        assert_eq!(
            u16::from_be_bytes([f[18], f[19]]),
            7,
            "IPv4 ident is the sequence"
        );
        assert_eq!(f[34..38], [0x23, 0x2f, 0x23, 0x28], "ports 9007 > 9000");
    }

    #[test]
    fn mac_parse_and_print() {
        let m: Mac = "52:54:00:12:34:56".parse().unwrap();
        assert_eq!(m, Mac::nic(0));
        assert_eq!(m.to_string(), "52:54:00:12:34:56");
    }
}
