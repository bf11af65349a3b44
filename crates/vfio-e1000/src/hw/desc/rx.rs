//! Receive descriptors: legacy (8254x SDM §3.2.3; 82574 §7.1.4), the
//! 82574L's extended and the 82576's advanced one-buffer format, and the
//! 82576's header split (§7.1.5).

use super::{read_word, write_word};
use crate::sys::barrier::dma_rmb;

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
}
