//! Descriptor formats: 16-byte records in DMA memory that the NIC reads and
//! writes back. Legacy (8254x SDM §3.2.3, §3.3.3; 82574 §7.1.4, §7.2.10) and
//! advanced (82576 §7.1.5, §7.2.2).

use crate::sys::barrier::dma_rmb;

/// Size of every descriptor format.
pub(crate) const DESC_SIZE: usize = 16;

/// Receive descriptor layout.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RxFormat {
    /// Legacy: address (8), length (2), checksum (2), status (1), errors (1), special (2).
    Legacy,
    /// Advanced one-buffer: read = packet address, header address;
    /// write-back = …, status+error (4, at 8), length (2, at 12), VLAN (2).
    ///
    /// Also the 82574L's extended format (RFCTL.EXTEN; 82574 §7.1): read =
    /// packet address, 8 reserved bytes (0); write-back = RSS type and queue
    /// (4), RSS hash or IP identification (4), then status+error, length and
    /// VLAN where the advanced one has them, DD and EOP in bits 0-1 and RXE
    /// in bit 31. Every write-back overwrites words 0-1 there too, and
    /// QEMU's `e1000e` lands it as its `igb` does (the whole descriptor with
    /// DD clear, then the status word), so the parse below, "landed" check
    /// included, holds for both.
    Advanced,
    /// Advanced header split (82576 §7.1.5.1-2, SRRCTL.DESCTYPE = 010):
    /// read = packet address, header address; the write-back is the
    /// advanced one, its length the packet buffer's bytes, and in word 0
    /// HDR_LEN (bits 30:21) and SPH (bit 31), in the status/error word HBO
    /// (bit 23). The header address fills words 2-3 of the armed image, so
    /// only words 0-1 tell a write-back from it.
    AdvancedSplit,
}

/// Transmit descriptor layout.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TxFormat {
    /// Legacy: address (8), length (2), CSO (1), command (1), status (1), CSS (1), special (2).
    Legacy,
    /// Advanced data: address (8), cmd_type_len (4), olinfo_status (4).
    Advanced,
}

/// RX status: Descriptor Done.
const RX_DD: u32 = 1 << 0;
/// RX status: End Of Packet.
const RX_EOP: u32 = 1 << 1;
/// RX status: Ignore Checksum Indication (legacy only: no verdict below).
const RX_IXSM: u32 = 1 << 2;
/// RX status: VLAN Packet: the tag was stripped into the descriptor.
const RX_VP: u32 = 1 << 3;
/// RX status: TCP/UDP checksum checked (TCPCS; UDPCS is bit 4).
const RX_TCPCS: u32 = 1 << 5;
/// RX status: IPv4 header checksum checked.
const RX_IPCS: u32 = 1 << 6;
/// Legacy RX errors byte (bits of byte 13): CE, SE, SEQ, CXE, RXE.
const RX_LEGACY_ERR_MASK: u32 = 0x01 | 0x02 | 0x04 | 0x10 | 0x80;
/// Legacy RX errors byte: TCP/UDP checksum error, IPv4 checksum error.
const RX_LEGACY_TCPE: u32 = 1 << 5;
const RX_LEGACY_IPE: u32 = 1 << 6;
/// Extended/advanced RX error bits in the status/error dword: L4E (TCPE),
/// IPE (82574 §7.1.4.2, 82576 §7.1.5.2).
const RX_ADV_L4E: u32 = 1 << 29;
const RX_ADV_IPE: u32 = 1 << 30;
/// Advanced RX error bit in the status/error dword: RXE (bit 31: CRC, symbol
/// or length error; 82576 §7.1.5.2). IPE (30) and L4E (29) are checksum
/// verdicts on an intact frame: reported per packet ([`RxInfo`]), the frame
/// delivered.
const RX_ADV_ERR_MASK: u32 = 1 << 31;

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
/// Header split: the most header bytes the NIC puts into a header buffer.
/// 256 holds every Ethernet, 802.1Q, IPv4 or IPv6 (without extension
/// headers) and TCP or UDP header chain, options included (at most 138
/// bytes); headers longer than this leave the frame whole in the packet
/// buffer (HBO).
pub const HEADER_BUFFER_SIZE: usize = 256;

/// Advanced header-split write-back, word 0 (82576 §7.1.5.2): HDR_LEN,
/// the header bytes in the header buffer (bits 30:21), and SPH, the
/// headers were split off (bit 31).
const RX_SPLIT_HDR_LEN_SHIFT: u32 = 21;
const RX_SPLIT_HDR_LEN_MASK: u32 = 0x3FF;
const RX_SPLIT_SPH: u32 = 1 << 31;
/// Advanced RX error HBO (status/error bit 23): the headers were longer
/// than the header buffer, so the whole frame went to the packet buffer.
const RX_SPLIT_HBO: u32 = 1 << 23;
/// Advanced RX status: the frame's receive time was latched (82576
/// §7.1.5.2, TS; QEMU's igb sets it with the latch).
const RX_ADV_TS: u32 = 1 << 16;
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

/// A receive descriptor showing DD.
#[derive(Debug, Clone, Copy)]
pub(crate) struct RxDone {
    /// Bytes written into the (packet) buffer.
    pub len: u16,
    /// Header split: bytes of the frame's headers written into the header
    /// buffer; 0 when the whole frame is in the packet buffer.
    pub header: u16,
    /// Last descriptor of the frame.
    pub eop: bool,
    /// The NIC flagged an error.
    pub error: bool,
    /// The NIC's write-back has landed, not only its status word. False
    /// means DD sits on the image the driver armed: length still 0 and, in
    /// the advanced format, words 0-1 still the buffer address the driver
    /// armed (every advanced write-back overwrites them with packet type,
    /// header length and RSS hash or IP ID; the legacy write-back keeps the
    /// address, so there only the length tells).
    pub landed: bool,
    /// Checksum verdicts and the stripped VLAN tag.
    pub info: RxInfo,
}

/// What the NIC reported about a received frame besides its length.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct RxInfo {
    /// [`RxInfo::IP_CHECKED`] and the other flags.
    pub flags: u8,
    /// The stripped tag (TCI), valid with [`RxInfo::VLAN`].
    pub vlan: u16,
}

impl RxInfo {
    /// The IPv4 header checksum was verified.
    pub const IP_CHECKED: u8 = 1 << 0;
    /// … and found wrong.
    pub const IP_BAD: u8 = 1 << 1;
    /// The TCP or UDP checksum was verified.
    pub const L4_CHECKED: u8 = 1 << 2;
    /// … and found wrong.
    pub const L4_BAD: u8 = 1 << 3;
    /// An 802.1Q tag was stripped into [`RxInfo::vlan`].
    pub const VLAN: u8 = 1 << 4;
    /// The NIC latched the frame's receive time (advanced format only).
    pub const TIMESTAMPED: u8 = 1 << 5;

    /// From the legacy status/errors/special word (word 3).
    #[inline]
    fn legacy(w3: u32) -> RxInfo {
        let errors = w3 >> 8;
        let mut info = RxInfo::from_status(
            w3,
            errors & RX_LEGACY_IPE != 0,
            errors & RX_LEGACY_TCPE != 0,
        );
        if w3 & RX_IXSM != 0 {
            info.flags &= RxInfo::VLAN;
        }
        if w3 & RX_VP != 0 {
            info.vlan = (w3 >> 16) as u16;
        }
        info
    }

    /// From the extended/advanced status/error dword and the length/VLAN dword.
    #[inline]
    fn extended(staterr: u32, w3: u32) -> RxInfo {
        let mut info = RxInfo::from_status(
            staterr,
            staterr & RX_ADV_IPE != 0,
            staterr & RX_ADV_L4E != 0,
        );
        if staterr & RX_VP != 0 {
            info.vlan = (w3 >> 16) as u16;
        }
        if staterr & RX_ADV_TS != 0 {
            info.flags |= RxInfo::TIMESTAMPED;
        }
        info
    }

    /// The flags from status bits (same places in every format) and the two
    /// error bits (different places).
    #[inline]
    fn from_status(status: u32, ip_error: bool, l4_error: bool) -> RxInfo {
        let mut flags = 0;
        if status & RX_IPCS != 0 {
            flags |= RxInfo::IP_CHECKED | if ip_error { RxInfo::IP_BAD } else { 0 };
        }
        if status & RX_TCPCS != 0 {
            flags |= RxInfo::L4_CHECKED | if l4_error { RxInfo::L4_BAD } else { 0 };
        }
        if status & RX_VP != 0 {
            flags |= RxInfo::VLAN;
        }
        RxInfo { flags, vlan: 0 }
    }
}

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

/// Volatile 32-bit read of descriptor word `word` (0..4).
///
/// # Safety
/// `desc` must point at a live 16-byte descriptor in DMA memory.
unsafe fn read_word(desc: *const u8, word: usize) -> u32 {
    // SAFETY: within the 16 bytes (word < 4), 4-byte aligned (rings are 128-byte aligned).
    unsafe { std::ptr::read_volatile(desc.add(word * 4).cast::<u32>()) }
}

/// Volatile 32-bit write of descriptor word `word`.
///
/// # Safety
/// As [`read_word`], and the descriptor must be owned by software.
unsafe fn write_word(desc: *mut u8, word: usize, value: u32) {
    // SAFETY: as in read_word.
    unsafe { std::ptr::write_volatile(desc.add(word * 4).cast::<u32>(), value) }
}

impl RxFormat {
    /// Gives the buffer at `iova` to the NIC in descriptor `desc`.
    ///
    /// # Safety
    /// `desc` points at a descriptor of this ring that software owns.
    pub(crate) unsafe fn arm(self, desc: *mut u8, iova: u64) {
        // SAFETY: forwarded; both formats take the buffer address in words 0-1
        // and want the status zeroed (legacy) / header address zero (advanced).
        unsafe {
            write_word(desc, 0, iova as u32);
            write_word(desc, 1, (iova >> 32) as u32);
            write_word(desc, 2, 0);
            write_word(desc, 3, 0);
        }
    }

    /// Gives the NIC a packet buffer at `packet` and a header buffer at
    /// `header` in descriptor `desc` ([`RxFormat::AdvancedSplit`]).
    ///
    /// # Safety
    /// `desc` points at a descriptor of this ring that software owns.
    pub(crate) unsafe fn arm_split(desc: *mut u8, packet: u64, header: u64) {
        // SAFETY: forwarded; both buffers are 2 KiB aligned, so the header
        // address leaves DD (bit 0 of word 2) clear.
        unsafe {
            write_word(desc, 0, packet as u32);
            write_word(desc, 1, (packet >> 32) as u32);
            write_word(desc, 2, header as u32);
            write_word(desc, 3, (header >> 32) as u32);
        }
    }

    /// The write-back of `desc`, armed with the buffer at `armed`, if it
    /// shows DD (see [`RxDone::landed`] for DD alone).
    ///
    /// # Safety
    /// `desc` points at a descriptor of this ring.
    #[inline]
    pub(crate) unsafe fn done(self, desc: *const u8, armed: u64) -> Option<RxDone> {
        match self {
            RxFormat::Legacy => {
                // SAFETY: forwarded.
                let w3 = unsafe { read_word(desc, 3) };
                if w3 & RX_DD == 0 {
                    return None;
                }
                dma_rmb();
                // SAFETY: forwarded.
                let len = unsafe { read_word(desc, 2) } as u16;
                Some(RxDone {
                    len,
                    header: 0,
                    eop: w3 & RX_EOP != 0,
                    error: (w3 >> 8) & RX_LEGACY_ERR_MASK != 0,
                    landed: len != 0,
                    info: RxInfo::legacy(w3),
                })
            }
            RxFormat::Advanced => {
                // SAFETY: forwarded.
                let staterr = unsafe { read_word(desc, 2) };
                if staterr & RX_DD == 0 {
                    return None;
                }
                dma_rmb();
                // SAFETY: forwarded.
                let w3 = unsafe { read_word(desc, 3) };
                let len = w3 as u16;
                if len != 0 {
                    // A length proves a write-back (the fast path: two words).
                    return Some(RxDone {
                        len,
                        header: 0,
                        eop: staterr & RX_EOP != 0,
                        error: staterr & RX_ADV_ERR_MASK != 0,
                        landed: true,
                        info: RxInfo::extended(staterr, w3),
                    });
                }
                // No length: words 0-1 tell whether a write-back overwrote
                // the image we armed. The NIC may be landing one right now
                // (QEMU writes the whole descriptor with DD clear, then the
                // status word with DD), and the words above were read one by
                // one: so read the status and length again after words 0-1.
                // A status still showing DD then belongs to what words 0-1
                // show; a cleared DD means the write-back is under way.
                // SAFETY: forwarded.
                let (words01, staterr, w3) = unsafe { advanced_writeback(desc) }?;
                let len = w3 as u16;
                Some(RxDone {
                    len,
                    header: 0,
                    eop: staterr & RX_EOP != 0,
                    error: staterr & RX_ADV_ERR_MASK != 0,
                    landed: len != 0 || words01 != (armed as u32, (armed >> 32) as u32),
                    info: RxInfo::extended(staterr, w3),
                })
            }
            RxFormat::AdvancedSplit => {
                // SAFETY: forwarded.
                if unsafe { read_word(desc, 2) } & RX_DD == 0 {
                    return None;
                }
                dma_rmb();
                // As for `Advanced` without a length (see there).
                // SAFETY: forwarded.
                let (words01, staterr, w3) = unsafe { advanced_writeback(desc) }?;
                let w0 = words01.0;
                // SPH with HBO: the headers did not fit, the frame is whole
                // in the packet buffer.
                let split = w0 & RX_SPLIT_SPH != 0 && staterr & RX_SPLIT_HBO == 0;
                Some(RxDone {
                    len: w3 as u16,
                    header: if split {
                        ((w0 >> RX_SPLIT_HDR_LEN_SHIFT) & RX_SPLIT_HDR_LEN_MASK) as u16
                    } else {
                        0
                    },
                    eop: staterr & RX_EOP != 0,
                    error: staterr & RX_ADV_ERR_MASK != 0,
                    landed: words01 != (armed as u32, (armed >> 32) as u32),
                    info: RxInfo::extended(staterr, w3),
                })
            }
        }
    }
}

/// Reads an advanced write-back that showed DD: words 0-1, then the
/// status (`None` if DD is clear again: the NIC is landing a write-back
/// right now) and word 3, so that status and length belong to what words
/// 0-1 show.
///
/// # Safety
/// `desc` points at a descriptor of a ring.
#[inline]
unsafe fn advanced_writeback(desc: *const u8) -> Option<((u32, u32), u32, u32)> {
    // SAFETY: forwarded.
    let words01 = unsafe { (read_word(desc, 0), read_word(desc, 1)) };
    dma_rmb();
    // SAFETY: forwarded.
    let staterr = unsafe { read_word(desc, 2) };
    if staterr & RX_DD == 0 {
        return None;
    }
    // SAFETY: forwarded.
    let w3 = unsafe { read_word(desc, 3) };
    Some((words01, staterr, w3))
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

/// Decodes `data` as a receive descriptor the device wrote, as the rings
/// do, and checks what the rest of the driver relies on; panics if a
/// decoded field contradicts another. For the fuzzer (feature `fuzzing`):
/// byte 0 picks the format (bits 1:0: 0 legacy, 1 advanced, else
/// advanced header split), bytes 1-16 are the four
/// descriptor words, bytes 17-24 the buffer address the driver armed.
#[cfg(feature = "fuzzing")]
pub fn fuzz_rx_writeback(data: &[u8]) {
    let Some((&select, rest)) = data.split_first() else {
        return;
    };
    let mut bytes = [0u8; 24];
    let n = rest.len().min(bytes.len());
    bytes[..n].copy_from_slice(&rest[..n]);
    let word = |i: usize| u32::from_le_bytes(bytes[4 * i..4 * i + 4].try_into().expect("4 bytes"));
    let mut desc = [word(0), word(1), word(2), word(3)];
    let armed = u64::from(word(4)) | u64::from(word(5)) << 32;
    let format = match select & 3 {
        0 => RxFormat::Legacy,
        1 => RxFormat::Advanced,
        _ => RxFormat::AdvancedSplit,
    };
    // SAFETY: a 16-byte, 4-byte aligned stand-in descriptor, alive for the call.
    let Some(done) = (unsafe { format.done(desc.as_mut_ptr().cast::<u8>(), armed) }) else {
        return;
    };
    let flags = done.info.flags;
    if format == RxFormat::AdvancedSplit {
        // The armed header address fills words 2-3: there a length proves nothing.
        assert!(done.header <= RX_SPLIT_HDR_LEN_MASK as u16);
    } else {
        assert!(done.landed || done.len == 0, "a length proves a write-back");
        assert_eq!(done.header, 0, "only header split reports headers");
    }
    assert!(flags & RxInfo::IP_BAD == 0 || flags & RxInfo::IP_CHECKED != 0);
    assert!(flags & RxInfo::L4_BAD == 0 || flags & RxInfo::L4_CHECKED != 0);
    assert!(done.info.vlan == 0 || flags & RxInfo::VLAN != 0);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn legacy_rx_round_trip() {
        // A 4-byte aligned stack descriptor stands in for DMA memory. Once
        // `p` exists, every access goes through it, as the NIC's and the
        // driver's do (an access through `buf` would invalidate `p`).
        let mut buf = [0u32; 4];
        let p = buf.as_mut_ptr().cast::<u8>();
        // SAFETY: `p` points at a 16-byte, 4-byte
        // aligned stand-in descriptor that lives until the end of the test
        // (the same holds for every block below).
        unsafe {
            RxFormat::Legacy.arm(p, 0x1234_5678_9abc);
            assert!(RxFormat::Legacy.done(p, 0x1234_5678_9abc).is_none());
            // The NIC writes length 60 and status DD|EOP.
            write_word(p, 2, 60);
            write_word(p, 3, RX_DD | RX_EOP);
        }
        // SAFETY: as above.
        let done = unsafe { RxFormat::Legacy.done(p, 0x1234_5678_9abc) }.unwrap();
        assert_eq!(
            (done.len, done.eop, done.error, done.landed),
            (60, true, false, true)
        );
        // SAFETY: as above.
        let words = unsafe { (read_word(p, 0), read_word(p, 1)) };
        assert_eq!(words, (0x5678_9abc, 0x1234));
    }

    #[test]
    fn advanced_rx_tells_a_lone_status_word_from_a_write_back() {
        let iova = 0x1_2345_6800u64;
        let done = |buf: &mut [u32; 4]| {
            // SAFETY: a 16-byte, 4-byte aligned stand-in descriptor.
            unsafe { RxFormat::Advanced.done(buf.as_mut_ptr().cast::<u8>(), iova) }
        };
        let mut buf = [0u32; 4];
        // SAFETY: a 16-byte, 4-byte aligned stand-in descriptor.
        unsafe { RxFormat::Advanced.arm(buf.as_mut_ptr().cast::<u8>(), iova) };
        assert!(done(&mut buf).is_none());
        // The status word alone, over the armed image: not landed.
        buf[2] = RX_DD | RX_EOP;
        assert!(!done(&mut buf).unwrap().landed);
        // The write-back proper (packet type and RSS hash over words 0-1;
        // zero for a non-IP frame), with or without a length.
        buf = [0, 0, RX_DD | RX_EOP, 60];
        let d = done(&mut buf).unwrap();
        assert_eq!((d.len, d.eop, d.landed), (60, true, true));
        buf = [0x10, 0, RX_DD | RX_EOP, 0];
        assert!(done(&mut buf).unwrap().landed);
        // A length alone proves a write-back too.
        buf = [iova as u32, (iova >> 32) as u32, RX_DD, 60];
        assert!(done(&mut buf).unwrap().landed);
    }

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
