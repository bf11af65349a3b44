//! Transmit descriptors: data and context descriptors, legacy (8254x SDM
//! §3.3.3; 82574 §7.2.10) and advanced (82576 §7.2.2).

use super::{read_word, write_word};
use crate::sys::barrier::dma_rmb;

/// Transmit descriptor layout.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TxFormat {
    /// Legacy: address (8), length (2), CSO (1), command (1), status (1), CSS (1), special (2).
    Legacy,
    /// Advanced data: address (8), cmd_type_len (4), olinfo_status (4).
    Advanced,
}

/// Legacy TX command: End Of Packet, Insert FCS, Report Status, VLAN
/// Packet Enable (insert the tag in the special field; needs CTRL.VME).
const TX_CMD_EOP: u8 = 1 << 0;
const TX_CMD_IFCS: u8 = 1 << 1;
const TX_CMD_RS: u8 = 1 << 3;
const TX_CMD_VLE: u8 = 1 << 6;
/// 8254x/82574 TX descriptor extension (SDM §3.3.6-7): DEXT in the command
/// byte; DTYP (bits 23:20) 0000 = TCP/IP context, 0001 = data.
const TX_CMD_DEXT: u8 = 1 << 5;
const TX_DTYP_DATA: u32 = 1 << 20;
/// Context descriptor TUCMD: TCP (else UDP), IPv4 (else IPv6), TCP
/// segmentation (SDM §3.3.6; also the TSE bit of a data descriptor's DCMD,
/// §3.3.7).
const TX_TUCMD_TCP: u8 = 1 << 0;
const TX_TUCMD_IP: u8 = 1 << 1;
const TX_CMD_TSE: u8 = 1 << 2;
/// Legacy context descriptor word 3 (SDM §3.3.6): HDRLEN (bits 15:8), MSS
/// (bits 31:16). Word 2 bits 19:0 hold PAYLEN.
const TX_CTX_HDRLEN_SHIFT: u32 = 8;
const TX_CTX_MSS_SHIFT: u32 = 16;
const TX_CTX_PAYLEN_MASK: u32 = 0xF_FFFF;
/// Data descriptor POPTS (byte 13): insert IP checksum, insert TCP/UDP checksum.
const TX_POPTS_IXSM: u32 = 1 << 8;
const TX_POPTS_TXSM: u32 = 1 << 9;
/// TX status: Descriptor Done (legacy byte 12 bit 0; advanced olinfo bit 0).
const TX_DD: u32 = 1 << 0;
/// Advanced TX: descriptor type "data" (DTYP = 0011), DEXT, and the DCMD bits.
const ADV_DTYP_DATA: u32 = 0x3 << 20;
const ADV_DCMD_EOP: u32 = 1 << 24;
const ADV_DCMD_IFCS: u32 = 1 << 25;
const ADV_DCMD_RS: u32 = 1 << 27;
const ADV_DCMD_DEXT: u32 = 1 << 29;
const ADV_DCMD_VLE: u32 = 1 << 30;
/// Advanced TX: TCP segmentation (82576 §7.2.2.3, DCMD.TSE).
const ADV_DCMD_TSE: u32 = 1 << 31;
/// Advanced TX: latch the IEEE 1588 clock when the frame goes out
/// (82576 §7.2.2.3, MAC.TS in cmd_type_len bit 19).
const ADV_MAC_TSTAMP: u32 = 1 << 19;
/// Advanced TX: PAYLEN field shift in olinfo_status.
const ADV_PAYLEN_SHIFT: u32 = 14;
/// Advanced context descriptor (82576 §7.2.2.2): DTYP = 0010, MACLEN shift
/// in vlan_macip_lens, TUCMD IPV4 and L4T (bits 12:11): 00 UDP, 01 TCP,
/// 10 SCTP.
const ADV_DTYP_CTXT: u32 = 0x2 << 20;
const ADV_MACLEN_SHIFT: u32 = 9;
const ADV_TUCMD_IPV4: u32 = 1 << 10;
const ADV_TUCMD_L4T_UDP: u32 = 0;
const ADV_TUCMD_L4T_TCP: u32 = 1 << 11;
const ADV_TUCMD_L4T_SCTP: u32 = 2 << 11;
/// Advanced context descriptor word 3 (mss_l4len_idx): L4LEN (bits 15:8),
/// MSS (bits 31:16).
const ADV_L4LEN_SHIFT: u32 = 8;
const ADV_MSS_SHIFT: u32 = 16;

/// The transport whose checksum the NIC fills in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum L4 {
    /// UDP: one's complement sum at byte 6 of its header.
    Udp,
    /// TCP: one's complement sum at byte 16.
    Tcp,
    /// SCTP: CRC32c at byte 8 of its common header (RFC 9260 §3.1).
    Sctp,
}

impl L4 {
    /// Bytes of its header (SCTP: the common header).
    pub(crate) fn header_len(self) -> usize {
        match self {
            L4::Udp => 8,
            L4::Tcp => 20,
            L4::Sctp => 12,
        }
    }

    /// Offset of the checksum field in its header.
    fn checksum_offset(self) -> usize {
        match self {
            L4::Udp => 6,
            L4::Tcp => 16,
            L4::Sctp => 8,
        }
    }
}

/// Where the checksums of an IPv4 or IPv6 TCP, UDP or SCTP frame are,
/// for the NIC to fill.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ChecksumLayout {
    /// Bytes before the IP header (14, or 18 with a tag in the frame).
    pub l2_len: u8,
    /// IP header bytes (IPv4: 20 to 60; IPv6: 40, no extension headers).
    pub l3_len: u8,
    /// The transport.
    pub l4: L4,
    /// IPv6 (else IPv4, whose header checksum the NIC fills in too).
    pub ipv6: bool,
}

impl ChecksumLayout {
    /// Offset of the transport header in the frame.
    pub(crate) fn l4_offset(&self) -> usize {
        self.l2_len as usize + self.l3_len as usize
    }

    /// Offset of the transport's checksum field in the frame.
    pub(crate) fn l4_checksum_offset(&self) -> usize {
        self.l4_offset() + self.l4.checksum_offset()
    }
}

/// TCP segmentation of one frame: the NIC cuts its payload into segments
/// of `mss` bytes, each behind a copy of the headers (8254x SDM §3.5,
/// 82576 §7.2.4).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Segmentation {
    /// Payload bytes per segment.
    pub mss: u16,
    /// TCP header bytes (20 to 60).
    pub l4_len: u8,
}

/// What a frame asks of the NIC on transmit.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct TxRequest {
    /// Insert this 802.1Q tag (TCI).
    pub vlan: Option<u16>,
    /// Fill in the IPv4 header and TCP/UDP checksums.
    pub checksum: Option<ChecksumLayout>,
    /// Cut the frame into TCP segments (with `checksum`, TCP).
    pub tso: Option<Segmentation>,
    /// Latch the IEEE 1588 clock when the frame goes out (advanced format).
    pub timestamp: bool,
}

impl TxRequest {
    /// Bytes of headers that every segment repeats (TSO only).
    pub(crate) fn header_len(&self) -> usize {
        match (self.checksum, self.tso) {
            (Some(c), Some(t)) => c.l4_offset() + t.l4_len as usize,
            _ => 0,
        }
    }
}

/// The offload state a context descriptor sets up: what a data descriptor
/// with offloads refers to. Written only when it changes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct TxContext {
    /// The tag (advanced format only: legacy data descriptors carry it).
    pub vlan: u16,
    /// Checksum offsets.
    pub checksum: Option<ChecksumLayout>,
    /// Segmentation, with the payload bytes of the whole frame (legacy
    /// format only: the advanced one takes them in the data descriptor).
    pub tso: Option<(Segmentation, u32)>,
}

/// One data descriptor: a buffer holding the whole frame or part of it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct TxBuffer {
    /// Device address of the bytes.
    pub iova: u64,
    /// How many.
    pub len: u16,
    /// The frame's last buffer.
    pub eop: bool,
    /// Ask for a status write-back (only on a frame's last buffer: the NIC
    /// may still read the frame's earlier ones until it has sent it).
    pub report: bool,
}

impl TxFormat {
    /// Fills `desc` with one buffer of a frame of `frame_len` bytes that
    /// asks `request` of the NIC. A frame with offloads must follow the
    /// context descriptor [`TxFormat::context`] asks for.
    ///
    /// # Safety
    /// `desc` points at a descriptor of this ring that software owns.
    #[inline]
    pub(crate) unsafe fn fill(
        self,
        desc: *mut u8,
        buf: TxBuffer,
        request: TxRequest,
        frame_len: usize,
    ) {
        let offloads = request.checksum.is_some();
        // POPTS: the IPv4 header checksum only for IPv4.
        let popts = match request.checksum {
            Some(c) if c.ipv6 => TX_POPTS_TXSM,
            Some(_) => TX_POPTS_IXSM | TX_POPTS_TXSM,
            None => 0,
        };
        let len = buf.len as u32;
        let (w2, w3) = match self {
            TxFormat::Legacy => {
                let mut cmd = TX_CMD_IFCS;
                if buf.eop {
                    cmd |= TX_CMD_EOP;
                }
                if buf.report {
                    cmd |= TX_CMD_RS;
                }
                let mut w3 = 0;
                if let Some(tci) = request.vlan {
                    cmd |= TX_CMD_VLE;
                    w3 |= (tci as u32) << 16;
                }
                if offloads {
                    // A data descriptor: the same places, plus DTYP, POPTS
                    // and TSE.
                    cmd |= TX_CMD_DEXT;
                    if request.tso.is_some() {
                        cmd |= TX_CMD_TSE;
                    }
                    (len | TX_DTYP_DATA | (cmd as u32) << 24, w3 | popts)
                } else {
                    (len | (cmd as u32) << 24, w3)
                }
            }
            TxFormat::Advanced => {
                let mut cmd = ADV_DTYP_DATA | ADV_DCMD_DEXT | ADV_DCMD_IFCS;
                if buf.eop {
                    cmd |= ADV_DCMD_EOP;
                }
                if buf.report {
                    cmd |= ADV_DCMD_RS;
                }
                if request.vlan.is_some() {
                    cmd |= ADV_DCMD_VLE;
                }
                if request.timestamp {
                    cmd |= ADV_MAC_TSTAMP;
                }
                // PAYLEN: the frame's bytes, or with TSO its payload's.
                let mut paylen = frame_len as u32;
                if request.tso.is_some() {
                    cmd |= ADV_DCMD_TSE;
                    paylen -= request.header_len() as u32;
                }
                // Context slot (IDX, bit 4) 0: the only one used.
                (len | cmd, paylen << ADV_PAYLEN_SHIFT | popts)
            }
        };
        // SAFETY: forwarded.
        unsafe {
            write_word(desc, 0, buf.iova as u32);
            write_word(desc, 1, (buf.iova >> 32) as u32);
            write_word(desc, 2, w2);
            write_word(desc, 3, w3);
        }
    }

    /// The context a frame of `frame_len` bytes with `request` needs, if
    /// any. The legacy format needs one only for checksums and
    /// segmentation (its data descriptors carry the tag); the advanced
    /// format for a tag as well.
    #[inline]
    pub(crate) fn context(self, request: TxRequest, frame_len: usize) -> Option<TxContext> {
        let paylen = (frame_len - request.header_len()) as u32;
        match self {
            TxFormat::Legacy => request.checksum.map(|checksum| TxContext {
                vlan: 0,
                checksum: Some(checksum),
                tso: request.tso.map(|t| (t, paylen)),
            }),
            TxFormat::Advanced
                if request.vlan.is_some()
                    || request.checksum.is_some()
                    || request.tso.is_some() =>
            {
                Some(TxContext {
                    vlan: request.vlan.unwrap_or(0),
                    checksum: request.checksum,
                    tso: request.tso.map(|t| (t, 0)),
                })
            }
            TxFormat::Advanced => None,
        }
    }

    /// Fills `desc` with the context descriptor for `ctx`: the TCP/IP
    /// context (SDM §3.3.6: IPCSS/IPCSO/IPCSE, TUCSS/TUCSO, TUCMD, and for
    /// segmentation PAYLEN, HDRLEN, MSS) or the advanced context (82576
    /// §7.2.2.2: VLAN, MACLEN, IPLEN, TUCMD, MSS, L4LEN). It requests no
    /// write-back: the data descriptor after it does.
    ///
    /// # Safety
    /// As [`TxFormat::fill`].
    pub(crate) unsafe fn fill_context(self, desc: *mut u8, ctx: TxContext) {
        let words = match (self, ctx.checksum) {
            (TxFormat::Legacy, Some(c)) => {
                let (l2, l3) = (c.l2_len as u32, c.l3_len as u32);
                // IPCSS is also where segmentation rewrites the IP length;
                // IPCSO/IPCSE only matter with POPTS.IXSM (IPv4).
                let ip = if c.ipv6 {
                    l2
                } else {
                    l2 | (l2 + 10) << 8 | (l2 + l3 - 1) << 16
                };
                // TUCSE 0: to the end of the frame.
                let l4 = (l2 + l3) | (c.l4_checksum_offset() as u32) << 8;
                let mut tucmd = TX_CMD_DEXT;
                if !c.ipv6 {
                    tucmd |= TX_TUCMD_IP;
                }
                // SCTP never gets here: the family has no CRC, and the
                // ring refuses the frame (`tx_sctp_crc`).
                debug_assert!(c.l4 != L4::Sctp, "no SCTP CRC in a legacy context");
                if c.l4 == L4::Tcp {
                    tucmd |= TX_TUCMD_TCP;
                }
                let (mut w2, mut w3) = (0, 0);
                if let Some((t, paylen)) = ctx.tso {
                    tucmd |= TX_CMD_TSE;
                    w2 = paylen & TX_CTX_PAYLEN_MASK;
                    let hdr_len = c.l4_offset() as u32 + t.l4_len as u32;
                    w3 = hdr_len << TX_CTX_HDRLEN_SHIFT | (t.mss as u32) << TX_CTX_MSS_SHIFT;
                }
                [ip, l4, w2 | (tucmd as u32) << 24, w3]
            }
            (TxFormat::Legacy, None) => unreachable!("legacy contexts are for checksums"),
            (TxFormat::Advanced, c) => {
                let lens = c.map_or(0, |c| {
                    c.l3_len as u32 | (c.l2_len as u32) << ADV_MACLEN_SHIFT
                });
                let tucmd = c.map_or(0, |c| {
                    let ip = if c.ipv6 { 0 } else { ADV_TUCMD_IPV4 };
                    ip | match c.l4 {
                        L4::Udp => ADV_TUCMD_L4T_UDP,
                        L4::Tcp => ADV_TUCMD_L4T_TCP,
                        L4::Sctp => ADV_TUCMD_L4T_SCTP,
                    }
                });
                let mss_l4len = ctx.tso.map_or(0, |(t, _)| {
                    (t.mss as u32) << ADV_MSS_SHIFT | (t.l4_len as u32) << ADV_L4LEN_SHIFT
                });
                [
                    lens | (ctx.vlan as u32) << 16,
                    0,
                    ADV_DTYP_CTXT | ADV_DCMD_DEXT | tucmd,
                    mss_l4len,
                ]
            }
        };
        // SAFETY: forwarded.
        unsafe {
            for (i, w) in words.into_iter().enumerate() {
                write_word(desc, i, w);
            }
        }
    }

    /// Whether the NIC has written back "done" into `desc` (requested with `report`).
    ///
    /// # Safety
    /// `desc` points at a descriptor of this ring.
    #[inline]
    pub(crate) unsafe fn done(self, desc: *const u8) -> bool {
        // SAFETY: forwarded. Both formats put DD in bit 0 of word 3.
        let done = unsafe { read_word(desc, 3) } & TX_DD != 0;
        if done {
            dma_rmb();
        }
        done
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A buffer holding a whole frame.
    fn whole(iova: u64, len: u16, report: bool) -> TxBuffer {
        TxBuffer {
            iova,
            len,
            eop: true,
            report,
        }
    }

    #[test]
    fn tx_formats_encode_length_and_commands() {
        let mut buf = [0u32; 4];
        let p = buf.as_mut_ptr().cast::<u8>();
        // Every access through `p` once it exists (see `legacy_rx_round_trip`).
        // SAFETY: `p` points at a 16-byte, 4-byte
        // aligned stand-in descriptor that lives until the end of the test
        // (the same holds for every block below).
        let w2 = unsafe {
            TxFormat::Legacy.fill(p, whole(0x1000, 1514, true), TxRequest::default(), 1514);
            read_word(p, 2)
        };
        assert_eq!(w2 & 0xffff, 1514);
        assert_eq!((w2 >> 24) as u8, TX_CMD_EOP | TX_CMD_IFCS | TX_CMD_RS);
        // SAFETY: as above.
        let (w2, w3) = unsafe {
            TxFormat::Advanced.fill(p, whole(0x1000, 60, false), TxRequest::default(), 60);
            (read_word(p, 2), read_word(p, 3))
        };
        assert_eq!(
            w2,
            60 | ADV_DTYP_DATA | ADV_DCMD_DEXT | ADV_DCMD_EOP | ADV_DCMD_IFCS
        );
        assert_eq!(w3 >> ADV_PAYLEN_SHIFT, 60);
        // SAFETY: as above.
        assert!(!unsafe { TxFormat::Advanced.done(p) });
    }
}
