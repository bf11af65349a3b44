//! What the model's NIC computes on frames: the context descriptors'
//! checksum insertion and segmentation on transmit, VLAN filtering,
//! tag stripping and checksum verdicts on receive, and the RSS hash.

use super::*;
use crate::datapath::checksum::crc32c;

/// The Toeplitz hash of `input` under `key` (Microsoft's RSS hash, as the
/// datasheets give it): for every set bit of the input, in order from the
/// first byte's most significant bit, the 32 key bits starting at that bit
/// position are XORed into the result.
pub(crate) fn toeplitz(key: &[u8], input: &[u8]) -> u32 {
    let key_bit = |i: usize| key.get(i / 8).is_some_and(|b| b & (0x80 >> (i % 8)) != 0);
    let mut hash = 0u32;
    for (n, byte) in input.iter().enumerate() {
        for bit in 0..8 {
            if byte & (0x80 >> bit) != 0 {
                let start = 8 * n + bit;
                hash ^= (0..32).fold(0, |w, k| w << 1 | key_bit(start + k) as u32);
            }
        }
    }
    hash
}

/// What a context descriptor set up (8254x SDM §3.3.6; 82576 §7.2.2.2,
/// turned into the same start/offset/end form).
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct TxContext {
    ipcss: usize,
    ipcso: usize,
    ipcse: usize,
    tucss: usize,
    tucso: usize,
    /// 0: to the end of the frame.
    tucse: usize,
    /// The tag to insert (82576: the context carries it).
    vlan: u16,
    /// Segmentation: IPv4 (TUCMD.IP; else IPv6), TCP, header bytes, MSS.
    ipv4: bool,
    tcp: bool,
    /// TXSM inserts SCTP's CRC32c instead of a sum (82576: L4T = 10).
    sctp: bool,
    hdr_len: usize,
    mss: usize,
}

impl TxContext {
    /// The context in descriptor `w`, if it is a context descriptor.
    pub(super) fn parse(kind: Kind, w: [u32; 4]) -> Option<TxContext> {
        let (dext, dtyp) = (w[2] & 1 << 29 != 0, (w[2] >> 20) & 0xF);
        match kind {
            Kind::E82576 if dext && dtyp == 2 => {
                let (iplen, maclen) = ((w[0] & 0x1FF) as usize, ((w[0] >> 9) & 0x7F) as usize);
                let l4t = (w[2] >> 11) & 3;
                let (tcp, sctp) = (l4t == 1, l4t == 2);
                let tucss = maclen + iplen;
                Some(TxContext {
                    ipcss: maclen,
                    ipcso: maclen + 10,
                    ipcse: tucss.saturating_sub(1),
                    tucss,
                    tucso: tucss
                        + match l4t {
                            1 => 16,
                            2 => 8,
                            _ => 6,
                        },
                    tucse: 0,
                    vlan: (w[0] >> 16) as u16,
                    ipv4: w[2] & 1 << 10 != 0,
                    tcp,
                    sctp,
                    hdr_len: tucss + ((w[3] >> 8) & 0xFF) as usize,
                    mss: (w[3] >> 16) as usize,
                })
            }
            Kind::E8254x | Kind::E82574 if dext && dtyp == 0 => Some(TxContext {
                ipcss: (w[0] & 0xFF) as usize,
                ipcso: ((w[0] >> 8) & 0xFF) as usize,
                ipcse: (w[0] >> 16) as usize,
                tucss: (w[1] & 0xFF) as usize,
                tucso: ((w[1] >> 8) & 0xFF) as usize,
                tucse: (w[1] >> 16) as usize,
                vlan: 0,
                // TUCMD (word 2 bits 31:24): TCP bit 0, IP bit 1.
                ipv4: w[2] & 1 << 25 != 0,
                tcp: w[2] & 1 << 24 != 0,
                sctp: false,
                hdr_len: ((w[3] >> 8) & 0xFF) as usize,
                mss: (w[3] >> 16) as usize,
            }),
            _ => None,
        }
    }

    /// Applies the first data descriptor's (`first`) options to `frame`
    /// and returns what goes on the wire: with TSE (legacy data descriptor
    /// word 2 bit 26, advanced bit 31), one frame per MSS of payload, each
    /// with the headers, its IP length (and IPv4 ID + n), sequence number,
    /// and FIN/PSH only on the last (8254x SDM §3.5.3, 82576 §7.2.4.7);
    /// then checksums (POPTS IXSM bit 8, TXSM bit 9 of word 3 in both
    /// formats: the one's complement sum from the start to the end,
    /// whatever the field held, plus with TSE the segment's TCP length,
    /// stored complemented; for SCTP the CRC32c from its header on), then
    /// the tag (VLE, word 2 bit 30; legacy formats only with CTRL.VME, tag
    /// in word 3 bits 31:16).
    pub(super) fn apply(
        &self,
        kind: Kind,
        first: [u32; 4],
        vme: bool,
        frame: &mut Vec<u8>,
    ) -> Vec<Vec<u8>> {
        let data = kind.advanced() || first[2] & 1 << 29 != 0;
        let popts = if data { first[3] >> 8 } else { 0 };
        let tse = data
            && match kind {
                Kind::E82576 => first[2] & 1 << 31 != 0,
                _ => first[2] & 1 << 26 != 0,
            };
        let mut frames = if tse && self.mss > 0 && frame.len() > self.hdr_len {
            self.segments(frame)
        } else {
            vec![std::mem::take(frame)]
        };
        for frame in &mut frames {
            if tse {
                // The seed lacks the length: the NIC adds each segment's.
                let len = (frame.len() - self.tucss) as u32;
                let seed = u16::from_be_bytes([frame[self.tucso], frame[self.tucso + 1]]) as u32;
                let sum = seed + len;
                let sum = ((sum & 0xFFFF) + (sum >> 16)) as u16;
                frame[self.tucso..self.tucso + 2].copy_from_slice(&sum.to_be_bytes());
            }
            if popts & 2 != 0 && self.sctp {
                // QEMU's igb and the datasheet: over everything from the
                // SCTP header on, the field as the driver left it.
                if let Some(l4) = frame.get(self.tucss..) {
                    let crc = crc32c(l4);
                    if let Some(field) = frame.get_mut(self.tucso..self.tucso + 4) {
                        field.copy_from_slice(&crc.to_le_bytes());
                    }
                }
            } else if popts & 2 != 0 {
                put_sum(frame, self.tucss, self.tucse, self.tucso);
            }
            if popts & 1 != 0 {
                put_sum(frame, self.ipcss, self.ipcse, self.ipcso);
            }
            let vle = first[2] & 1 << 30 != 0;
            let tag = match kind {
                Kind::E82576 => vle.then_some(self.vlan),
                _ => (vle && vme).then_some((first[3] >> 16) as u16),
            };
            if let (Some(tci), true) = (tag, frame.len() >= 12) {
                let mut tagged = frame[..12].to_vec();
                tagged.extend_from_slice(&[0x81, 0x00]);
                tagged.extend_from_slice(&tci.to_be_bytes());
                tagged.extend_from_slice(&frame[12..]);
                *frame = tagged;
            }
        }
        frames
    }

    /// `frame` cut into segments of at most MSS payload bytes.
    fn segments(&self, frame: &[u8]) -> Vec<Vec<u8>> {
        let (header, payload) = frame.split_at(self.hdr_len);
        let count = payload.len().div_ceil(self.mss);
        let (ip, tcp) = (self.ipcss, self.tucss);
        payload
            .chunks(self.mss)
            .enumerate()
            .map(|(n, chunk)| {
                let mut seg = header.to_vec();
                seg.extend_from_slice(chunk);
                let len = seg.len();
                if self.ipv4 {
                    let id = u16::from_be_bytes([seg[ip + 4], seg[ip + 5]]).wrapping_add(n as u16);
                    seg[ip + 2..ip + 4].copy_from_slice(&((len - ip) as u16).to_be_bytes());
                    seg[ip + 4..ip + 6].copy_from_slice(&id.to_be_bytes());
                } else {
                    seg[ip + 4..ip + 6].copy_from_slice(&((len - tcp) as u16).to_be_bytes());
                }
                if self.tcp {
                    let seq = u32::from_be_bytes(seg[tcp + 4..tcp + 8].try_into().unwrap());
                    let seq = seq.wrapping_add((n * self.mss) as u32);
                    seg[tcp + 4..tcp + 8].copy_from_slice(&seq.to_be_bytes());
                    if n + 1 < count {
                        seg[tcp + 13] &= !0x09; // FIN, PSH
                    }
                }
                seg
            })
            .collect()
    }
}

/// One's complement sum of `data` as big-endian words, folded.
fn ones_sum(data: &[u8]) -> u16 {
    let mut sum: u32 = data
        .chunks(2)
        .map(|c| (c[0] as u32) << 8 | *c.get(1).unwrap_or(&0) as u32)
        .sum();
    while sum > 0xFFFF {
        sum = (sum & 0xFFFF) + (sum >> 16);
    }
    sum as u16
}

/// The checksum insertion of the datasheets: sum from `start` to `end`
/// (inclusive; 0 = the end of the frame), stored complemented at `at`.
fn put_sum(frame: &mut [u8], start: usize, end: usize, at: usize) {
    let end = if end == 0 {
        frame.len()
    } else {
        (end + 1).min(frame.len())
    };
    if start >= end || at + 2 > frame.len() {
        return;
    }
    let sum = !ones_sum(&frame[start..end]);
    frame[at..at + 2].copy_from_slice(&sum.to_be_bytes());
}

/// What the receive side of the model does to a frame before it lands:
/// VLAN filtering (RCTL.VFE, VFTA), tag stripping (CTRL.VME), checksum
/// verdicts over IPv4 (RXCSUM.IPOFLD/TUOFLD, and CRCOFL for SCTP's CRC on
/// the 82576): the frame as stored, status bits to add (VP, UDPCS, TCPCS,
/// IPCS), IP and L4 error, the stripped tag; `None` if the filter drops it.
pub(super) fn rx_offload(st: &State, frame: &[u8]) -> Option<(Vec<u8>, u32, bool, bool, u16)> {
    let be16 = |f: &[u8], at: usize| f.get(at..at + 2).map(|b| u16::from_be_bytes([b[0], b[1]]));
    let tagged = be16(frame, 12) == Some((st.reg(VET) & 0xFFFF) as u16);
    let mut frame = frame.to_vec();
    let mut status = 0;
    let mut vlan = 0;
    if tagged {
        let tci = be16(&frame, 14)?;
        let id = (tci & 0xFFF) as u32;
        if st.reg(RCTL) & RCTL_VFE != 0 && st.reg(VFTA + 4 * (id >> 5)) & 1 << (id & 31) == 0 {
            return None;
        }
        if st.reg(CTRL) & CTRL_VME != 0 {
            frame.drain(12..16);
            status |= 1 << 3; // VP
            vlan = tci;
        }
    }
    let (mut ip_bad, mut l4_bad) = (false, false);
    let rxcsum = st.reg(RXCSUM);
    let l2 = if be16(&frame, 12) == Some(0x8100) {
        18
    } else {
        14
    };
    if be16(&frame, l2 - 2) == Some(0x0800) && frame.len() >= l2 + 20 {
        let ihl = (frame[l2] & 0xF) as usize * 4;
        let total = be16(&frame, l2 + 2).unwrap_or(0) as usize;
        if rxcsum & 1 << 8 != 0 && frame.len() >= l2 + ihl {
            status |= 1 << 6; // IPCS
            ip_bad = ones_sum(&frame[l2..l2 + ihl]) != 0xFFFF;
        }
        let proto = frame[l2 + 9];
        if rxcsum & 1 << 9 != 0
            && (proto == 6 || proto == 17)
            && total >= ihl
            && frame.len() >= l2 + total
        {
            status |= 1 << 5 | if proto == 17 { 1 << 4 } else { 0 }; // TCPCS, UDPCS
            let mut pseudo = frame[l2 + 12..l2 + 20].to_vec();
            pseudo.extend_from_slice(&[0, proto]);
            pseudo.extend_from_slice(&((total - ihl) as u16).to_be_bytes());
            pseudo.extend_from_slice(&frame[l2 + ihl..l2 + total]);
            l4_bad = ones_sum(&pseudo) != 0xFFFF;
        } else if rxcsum & RXCSUM_CRCOFL != 0
            && proto == 132
            && total >= ihl + 12
            && frame.len() >= l2 + total
        {
            status |= 1 << 5; // TCPCS: QEMU's igb reports SCTP there
            let mut sctp = frame[l2 + ihl..l2 + total].to_vec();
            let stored: [u8; 4] = sctp[8..12].try_into().unwrap();
            sctp[8..12].fill(0);
            l4_bad = crc32c(&sctp).to_le_bytes() != stored;
        }
    }
    Some((frame, status, ip_bad, l4_bad, vlan))
}

/// Header split (82576 §7.1.5.1, with PSRTYPE's L2, IPv4, IPv6, TCP and
/// UDP header types): where the headers of an IPv4 or IPv6 frame end:
/// after the TCP header (its data offset) or the 8-byte UDP header, after
/// the IP header for a fragment or another protocol (IPv6: the next header
/// is taken as the protocol, extension headers are not followed). `None`:
/// not IP, the frame stays whole.
pub(super) fn split_point(frame: &[u8]) -> Option<usize> {
    let be16 = |at: usize| {
        frame
            .get(at..at + 2)
            .map(|b| u16::from_be_bytes([b[0], b[1]]))
    };
    let l2 = if be16(12)? == 0x8100 { 18 } else { 14 };
    let (proto, l4) = match be16(l2 - 2)? {
        0x0800 => {
            let ip = frame.get(l2..l2 + 20)?;
            let fragment = u16::from_be_bytes([ip[6], ip[7]]) & 0x3FFF != 0;
            let l4 = l2 + (ip[0] & 0xF) as usize * 4;
            if fragment {
                return (l4 <= frame.len()).then_some(l4);
            }
            (ip[9], l4)
        }
        0x86DD => (*frame.get(l2 + 6)?, l2 + 40),
        _ => return None,
    };
    let end = match proto {
        6 => l4 + (*frame.get(l4 + 12)? >> 4) as usize * 4,
        17 => l4 + 8,
        _ => l4,
    };
    (end <= frame.len()).then_some(end)
}
