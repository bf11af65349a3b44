//! A pool of fixed-size DMA packet buffers, and [`Packet`], the owned handle
//! to one of them that goes back to its pool when dropped.

use super::checksum;
use crate::error::{Error, Result};
use crate::hw::desc::{ChecksumLayout, RxInfo, Segmentation, TxRequest, L4};
use crate::sys::dma::{DmaMemory, DmaRegion};
use std::ops::{Deref, DerefMut};
use std::ptr::NonNull;
use std::sync::atomic::{fence, AtomicBool, AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard};

/// Size of each packet buffer at the standard MTU: holds a 1522-byte frame
/// (RCTL.BSIZE = 2048). Jumbo MTUs get larger buffers ([`Packet::capacity`]).
pub const BUFFER_SIZE: usize = 2048;
/// The largest buffer: 16 KiB (RCTL.BSIZE 01 with BSEX).
pub(crate) const MAX_BUFFER_SIZE: usize = 16384;

/// Fixed-size packet buffers in one DMA region.
///
/// Reached through [`PoolRef`]s (the rings') and [`Packet`]s; the region
/// stays mapped while any of them lives. Like an `Arc`, the pool counts
/// them, but the count moves by a whole batch at once: taking or giving
/// back a batch of packets costs one lock and one atomic operation, not
/// one per packet.
#[derive(Debug)]
pub(crate) struct Mempool {
    region: DmaRegion,
    count: usize,
    /// Bytes per buffer: a power of two from 2 KiB to 16 KiB.
    buffer_size: usize,
    /// Indices of the buffers nobody holds.
    free: Mutex<Vec<u32>>,
    /// Set when the NIC that made the pool is closed: its packets may still
    /// be read and written, but no ring takes them any more.
    retired: AtomicBool,
    /// [`PoolRef`]s and [`Packet`]s alive: the pool is freed when it drops
    /// to zero, by whoever made it so.
    refs: AtomicUsize,
}

/// A counted reference to a [`Mempool`] (what the rings hold), as an `Arc`.
#[derive(Debug)]
pub(crate) struct PoolRef(NonNull<Mempool>);

// SAFETY: a `PoolRef` gives shared access to a `Mempool`, which is `Sync`
// (its free list is behind a lock, the rest is atomics or immutable), and
// the count it holds keeps the pool alive on any thread.
unsafe impl Send for PoolRef {}
// SAFETY: as above.
unsafe impl Sync for PoolRef {}

impl PoolRef {
    /// Allocates `count` buffers of `buffer_size` bytes (a power of two,
    /// [`BUFFER_SIZE`] to 16 KiB) from `dma`.
    pub(crate) fn new(dma: &DmaMemory, count: usize, buffer_size: usize) -> Result<PoolRef> {
        if count == 0 || count > u32::MAX as usize {
            return Err(Error::InvalidConfig(format!(
                "a pool of {count} buffers: must be 1 to 2^32 - 1"
            )));
        }
        assert!(
            buffer_size.is_power_of_two() && (BUFFER_SIZE..=MAX_BUFFER_SIZE).contains(&buffer_size),
            "buffer size {buffer_size}"
        );
        let region = dma.alloc(count * buffer_size)?;
        let free = (0..count as u32).rev().collect();
        let pool = Box::new(Mempool {
            region,
            count,
            buffer_size,
            free: Mutex::new(free),
            retired: AtomicBool::new(false),
            refs: AtomicUsize::new(1),
        });
        Ok(PoolRef(NonNull::from(Box::leak(pool))))
    }

    /// Gives up `n` counts on the pool at `pool`; frees it if they were the
    /// last (as `Arc`'s drop does: release, then acquire before freeing).
    ///
    /// # Safety
    /// The caller holds `n` counts on the pool (from a [`PoolRef`] or
    /// [`Packet`]s it no longer uses) and holds no reference into it.
    unsafe fn release(pool: NonNull<Mempool>, n: usize) {
        // SAFETY: the caller's counts keep the pool alive up to this call.
        if unsafe { pool.as_ref() }
            .refs
            .fetch_sub(n, Ordering::Release)
            == n
        {
            fence(Ordering::Acquire);
            // SAFETY: the count is zero: no `PoolRef` or `Packet` is left,
            // so nothing refers to the pool, which `new` leaked from a Box.
            drop(unsafe { Box::from_raw(pool.as_ptr()) });
        }
    }

    /// Takes a free buffer as a [`Packet`] of `len` bytes; `None` if the
    /// pool is exhausted or `len` is over the buffer size.
    pub(crate) fn alloc(&self, len: usize) -> Option<Packet> {
        if len > self.buffer_size {
            return None;
        }
        let index = self.free_list().pop()?;
        // The packet's count (this `PoolRef`'s keeps the pool alive meanwhile).
        self.refs.fetch_add(1, Ordering::Relaxed);
        Some(Packet {
            pool: self.0,
            index,
            len: len as u32,
            meta: Meta::default(),
        })
    }

    /// Takes up to `n` buffers of `len` bytes at once (one lock, one count)
    /// and appends them to `out`; returns how many (0 if `len` is over the
    /// buffer size).
    pub(crate) fn alloc_batch(&self, n: usize, len: usize, out: &mut Vec<Packet>) -> usize {
        if len > self.buffer_size {
            return 0;
        }
        let mut free = self.free_list();
        let take = n.min(free.len());
        if take == 0 {
            return 0;
        }
        // One count per packet, taken before they exist (as `Arc::clone`:
        // this `PoolRef`'s count keeps the pool alive meanwhile).
        self.refs.fetch_add(take, Ordering::Relaxed);
        let start = free.len() - take;
        out.extend(free.drain(start..).map(|index| Packet {
            pool: self.0,
            index,
            len: len as u32,
            meta: Meta::default(),
        }));
        take
    }
}

impl Clone for PoolRef {
    fn clone(&self) -> PoolRef {
        self.refs.fetch_add(1, Ordering::Relaxed);
        PoolRef(self.0)
    }
}

impl Drop for PoolRef {
    fn drop(&mut self) {
        // SAFETY: this `PoolRef` holds one count and is going away.
        unsafe { PoolRef::release(self.0, 1) };
    }
}

impl Deref for PoolRef {
    type Target = Mempool;
    fn deref(&self) -> &Mempool {
        // SAFETY: this `PoolRef`'s count keeps the pool alive.
        unsafe { self.0.as_ref() }
    }
}

impl Mempool {
    fn free_list(&self) -> MutexGuard<'_, Vec<u32>> {
        // A panic elsewhere while holding the lock leaves the list intact
        // (push and pop do not unwind half-way).
        self.free.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Bytes per buffer.
    pub(crate) fn buffer_size(&self) -> usize {
        self.buffer_size
    }

    /// Total number of buffers.
    pub(crate) fn capacity(&self) -> usize {
        self.count
    }

    /// Buffers currently free.
    pub(crate) fn free_count(&self) -> usize {
        self.free_list().len()
    }

    /// Marks the pool as belonging to a closed NIC (see [`Packet::retired`]).
    pub(crate) fn retire(&self) {
        self.retired.store(true, Ordering::Relaxed);
    }

    /// Whether the buffers are in hugepages.
    pub(crate) fn hugepages(&self) -> bool {
        self.region.huge()
    }

    /// Returns every packet of `pkts` (which it empties) to its pool, with
    /// one lock and one count per run of packets of the same pool instead
    /// of one per packet: what the rings do with the buffers they are done
    /// with.
    pub(crate) fn recycle(pkts: &mut Vec<Packet>) {
        let mut drain = pkts.drain(..).peekable();
        while let Some(first) = drain.next() {
            let (pool, index) = first.into_parts();
            let mut returned = 1;
            {
                // SAFETY: the packets' counts keep the pool alive until the
                // release below, after this reference is gone.
                let mut free = unsafe { pool.as_ref() }.free_list();
                free.push(index);
                while let Some(p) = drain.next_if(|p| p.pool == pool) {
                    free.push(p.into_parts().1);
                    returned += 1;
                }
            }
            // SAFETY: the counts of the `returned` packets taken apart above,
            // and the lock is released.
            unsafe { PoolRef::release(pool, returned) };
        }
    }

    /// Pointer to buffer `index`; in bounds because `index < count` and the
    /// region holds `count * buffer_size` bytes.
    fn buffer_ptr(&self, index: u32) -> *mut u8 {
        assert!((index as usize) < self.count);
        self.region
            .virt()
            .wrapping_add(index as usize * self.buffer_size)
    }

    /// Whether `p` is one of this pool's buffers.
    #[cfg(test)]
    pub(crate) fn owns(&self, p: &Packet) -> bool {
        std::ptr::eq(p.pool.as_ptr(), self)
    }
}

/// One packet buffer, owned: readable and writable as a `[u8]` of the
/// packet's length; returns to its pool on drop.
///
/// The rings take `Packet`s by value when they hand them to the NIC, so safe
/// code can never touch a buffer while the device may be writing it.
pub struct Packet {
    /// The pool, kept alive by the count this packet holds.
    pool: NonNull<Mempool>,
    index: u32,
    len: u32,
    meta: Meta,
}

// SAFETY: a `Packet` owns its buffer exclusively (its index is off the free
// list) and its count keeps the pool alive; the pool is `Sync`. So it can
// move to and be shared with other threads, as a `Box<[u8]>` can.
unsafe impl Send for Packet {}
// SAFETY: as above; `&Packet` only reads.
unsafe impl Sync for Packet {}

/// What travels with a packet besides its bytes: the receive checksum
/// verdicts, the VLAN tag kept out of the bytes, the transmit offload
/// requests, and whether the frame goes on in the next packet. Eight
/// bytes, so a `Packet` stays at 24.
#[derive(Debug, Clone, Copy, Default)]
struct Meta {
    /// [`RxInfo`] flags of the received frame, and the transmit requests
    /// [`Meta::ASK_TIMESTAMP`] and [`Meta::SCTP`] in bits no `RxInfo` flag
    /// uses.
    rx: u8,
    /// [`Meta::HAS_VLAN`] and the other flags; TCP header bytes / 4 in the
    /// high nibble (segmentation).
    flags: u8,
    /// The tag (TCI): stripped on receive, inserted on transmit.
    vlan: u16,
    /// Checksum request: bytes before the IP header; 0 = none.
    l2_len: u8,
    /// IP header bytes.
    l3_len: u8,
    /// Segmentation request: payload bytes per segment; 0 = none.
    mss: u16,
}

impl Meta {
    /// `vlan` holds a tag.
    const HAS_VLAN: u8 = 1 << 0;
    /// The checksum request is for TCP (else UDP).
    const TCP: u8 = 1 << 1;
    /// … over IPv6 (else IPv4).
    const IPV6: u8 = 1 << 2;
    /// The frame goes on in the next packet of the batch.
    const CONTINUES: u8 = 1 << 3;
    /// Where the TCP header length (in 4-byte words) sits.
    const L4_WORDS_SHIFT: u8 = 4;
    /// In `rx`: latch the clock when the frame goes out.
    const ASK_TIMESTAMP: u8 = 1 << 7;
    /// In `rx`: the checksum request is SCTP's CRC (`flags` has no bit
    /// left).
    const SCTP: u8 = 1 << 6;

    fn has(&self, flag: u8) -> bool {
        self.flags & flag != 0
    }

    fn set(&mut self, flag: u8, on: bool) {
        if on {
            self.flags |= flag;
        } else {
            self.flags &= !flag;
        }
    }
}

/// What the NIC found checking one checksum of a received packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChecksumStatus {
    /// Not checked: not that kind of packet, or the NIC (QEMU's 8254x
    /// models) does not check.
    NotChecked,
    /// Checked and right.
    Good,
    /// Checked and wrong: the packet is delivered anyway, and counted.
    Bad,
}

impl Packet {
    /// The pool this packet's buffer belongs to.
    #[inline]
    fn pool(&self) -> &Mempool {
        // SAFETY: the count this packet holds keeps the pool alive.
        unsafe { self.pool.as_ref() }
    }

    /// The device address of the buffer.
    pub(crate) fn iova(&self) -> u64 {
        self.pool().region.iova() + (self.index as usize * self.pool().buffer_size) as u64
    }

    /// Whether the packet's pool belongs to a NIC that was closed: such a
    /// packet can still be read and written, but is refused by `tx_batch`.
    #[inline]
    pub(crate) fn retired(&self) -> bool {
        self.pool().retired.load(Ordering::Relaxed)
    }

    /// The largest length the buffer can hold: [`BUFFER_SIZE`] at the
    /// standard MTU, more with a jumbo [`Config::mtu`](crate::Config::mtu).
    pub fn capacity(&self) -> usize {
        self.pool().buffer_size
    }

    /// Sets the packet length. Bytes that become part of the packet keep
    /// whatever the buffer held (a previous frame): write them.
    ///
    /// # Panics
    /// If `len` is over [`Packet::capacity`].
    pub fn set_len(&mut self, len: usize) {
        let cap = self.pool().buffer_size;
        assert!(len <= cap, "packet length {len} > the buffer's {cap}");
        self.len = len as u32;
    }

    /// The IPv4 header checksum verdict of a received packet.
    pub fn ip_checksum(&self) -> ChecksumStatus {
        self.verdict(RxInfo::IP_CHECKED, RxInfo::IP_BAD)
    }

    /// The TCP or UDP checksum verdict of a received packet.
    pub fn l4_checksum(&self) -> ChecksumStatus {
        self.verdict(RxInfo::L4_CHECKED, RxInfo::L4_BAD)
    }

    fn verdict(&self, checked: u8, bad: u8) -> ChecksumStatus {
        match (self.meta.rx & checked != 0, self.meta.rx & bad != 0) {
            (false, _) => ChecksumStatus::NotChecked,
            (true, false) => ChecksumStatus::Good,
            (true, true) => ChecksumStatus::Bad,
        }
    }

    /// The packet's 802.1Q tag (TCI: priority, DEI, VLAN ID) when it is kept
    /// out of the bytes: stripped by the NIC on receive
    /// ([`Config::vlan_strip`](crate::Config::vlan_strip)), or set with
    /// [`Packet::set_vlan_tag`]. A packet with a tag gets it inserted when
    /// sent, so a received packet sent on keeps its tag.
    pub fn vlan_tag(&self) -> Option<u16> {
        self.meta.has(Meta::HAS_VLAN).then_some(self.meta.vlan)
    }

    /// Sets (or, with `None`, removes) the tag inserted when the packet is
    /// sent: by the NIC with [`Config::vlan_strip`](crate::Config::vlan_strip)
    /// on (CTRL.VME enables both), else by the driver, which moves the bytes
    /// (the frame must then have 4 bytes of room).
    pub fn set_vlan_tag(&mut self, tci: Option<u16>) {
        self.meta.set(Meta::HAS_VLAN, tci.is_some());
        self.meta.vlan = tci.unwrap_or(0);
    }

    /// Asks for the TCP or UDP checksum, or SCTP's CRC32c (and over IPv4
    /// the header checksum) to be filled in when the packet is sent: by
    /// the NIC (the fields are set up here as the datasheets ask: IPv4
    /// checksum zeroed, TCP/UDP checksum seeded with the pseudo-header
    /// sum, SCTP's zeroed), or right here in software for a frame with
    /// bytes after its IP datagram, such as one under 60 bytes that the
    /// driver pads (QEMU's e1000e and igb models would count the padding
    /// in). Call it once the frame is complete. Returns false, and changes
    /// nothing, unless the packet is a whole unfragmented IPv4, or IPv6
    /// without extension headers, TCP, UDP or SCTP frame (optionally with
    /// its tag in the bytes). SCTP needs a NIC with the offload
    /// ([`Capabilities::tx_sctp_crc`](crate::Capabilities::tx_sctp_crc)):
    /// elsewhere the frame is dropped and counted (`tx_unsupported`).
    pub fn offload_checksums(&mut self) -> bool {
        let Some((c, total)) = checksum::layout(self) else {
            return false;
        };
        if checksum::padded(self.len(), &c, total) {
            checksum::fill(self, &c, total);
        } else {
            checksum::prepare(self, &c, total);
            self.request_checksums(c);
        }
        true
    }

    /// Asks the NIC to cut this TCP frame (over IPv4, or IPv6 without
    /// extension headers) into segments of `mss` payload bytes, each behind
    /// a copy of the headers with its own IP length and ID, sequence
    /// number, flags (FIN and PSH on the last segment only) and checksums
    /// (TCP segmentation offload). The packet must hold the Ethernet, IP
    /// and TCP headers; the payload may go on in further packets (see
    /// [`Packet::set_continues`]), up to 64 KiB in all. Call it once the
    /// headers are complete: the checksum fields are set up here. Returns
    /// false, and changes nothing, if the headers are not those of such a
    /// frame. The NIC must have the offload
    /// ([`Capabilities`](crate::Capabilities)): a frame it cannot segment
    /// is dropped and counted (`tx_unsupported`).
    pub fn offload_segmentation(&mut self, mss: u16) -> bool {
        let Some((c, tso)) = checksum::segmentation(self, mss) else {
            return false;
        };
        checksum::prepare_segmentation(self, &c);
        self.request_checksums(c);
        self.meta.mss = mss;
        self.meta.flags = self.meta.flags & !(0xF << Meta::L4_WORDS_SHIFT)
            | (tso.l4_len / 4) << Meta::L4_WORDS_SHIFT;
        true
    }

    /// Records a checksum request.
    fn request_checksums(&mut self, c: ChecksumLayout) {
        self.meta.l2_len = c.l2_len;
        self.meta.l3_len = c.l3_len;
        self.meta.set(Meta::TCP, c.l4 == L4::Tcp);
        self.meta.set(Meta::IPV6, c.ipv6);
        if c.l4 == L4::Sctp {
            self.meta.rx |= Meta::SCTP;
        } else {
            self.meta.rx &= !Meta::SCTP;
        }
    }

    /// Asks the NIC to latch its IEEE 1588 clock when this frame goes out
    /// (`true`), or not (`false`, as every packet starts); the time is
    /// then read with [`Clock::tx_timestamp`](crate::Clock::tx_timestamp).
    /// Needs [`Config::timestamps`](crate::Config::timestamps); the NIC
    /// holds one transmit time at a time, so read it before asking again.
    /// Set on a frame's first packet.
    pub fn set_tx_timestamp(&mut self, on: bool) {
        if on {
            self.meta.rx |= Meta::ASK_TIMESTAMP;
        } else {
            self.meta.rx &= !Meta::ASK_TIMESTAMP;
        }
    }

    /// Whether the NIC latched its IEEE 1588 clock when this frame
    /// arrived: a PTP frame of the type
    /// [`Config::timestamps`](crate::Config::timestamps) names. The time
    /// is then read with [`Clock::rx_timestamp`](crate::Clock::rx_timestamp),
    /// before the next such frame can be latched.
    pub fn rx_timestamped(&self) -> bool {
        self.meta.rx & RxInfo::TIMESTAMPED != 0
    }

    /// Marks the frame as going on in the next packet of the batch given
    /// to `tx_batch` (`true`), or as ending here (`false`, as every packet
    /// starts). A frame in several packets takes one descriptor per
    /// packet (at most [`MAX_PACKETS_PER_FRAME`](crate::MAX_PACKETS_PER_FRAME));
    /// its first packet carries the offload requests and the tag. This is
    /// how a frame longer than one buffer is sent, such as a 64 KiB one
    /// for [`Packet::offload_segmentation`].
    pub fn set_continues(&mut self, continues: bool) {
        self.meta.set(Meta::CONTINUES, continues);
    }

    /// Whether the frame goes on in the next packet ([`Packet::set_continues`]).
    #[inline]
    pub fn continues(&self) -> bool {
        self.meta.has(Meta::CONTINUES)
    }

    /// What the packet asks of the NIC on transmit.
    #[inline]
    pub(crate) fn tx_request(&self) -> TxRequest {
        let checksum = (self.meta.l2_len != 0).then_some(ChecksumLayout {
            l2_len: self.meta.l2_len,
            l3_len: self.meta.l3_len,
            l4: if self.meta.has(Meta::TCP) {
                L4::Tcp
            } else if self.meta.rx & Meta::SCTP != 0 {
                L4::Sctp
            } else {
                L4::Udp
            },
            ipv6: self.meta.has(Meta::IPV6),
        });
        TxRequest {
            vlan: self.vlan_tag(),
            checksum,
            tso: (self.meta.mss != 0).then_some(Segmentation {
                mss: self.meta.mss,
                l4_len: (self.meta.flags >> Meta::L4_WORDS_SHIFT) * 4,
            }),
            timestamp: self.meta.rx & Meta::ASK_TIMESTAMP != 0,
        }
    }

    /// Records what the NIC reported on receive (replacing any request).
    #[inline]
    pub(crate) fn set_rx_info(&mut self, info: RxInfo) {
        let mut meta = Meta {
            rx: info.flags,
            vlan: info.vlan,
            ..Meta::default()
        };
        meta.set(Meta::HAS_VLAN, info.flags & RxInfo::VLAN != 0);
        self.meta = meta;
    }

    /// Inserts the tag into the bytes (after the two addresses) and forgets
    /// it, for a NIC that will not; false if the buffer has no room.
    pub(crate) fn insert_vlan_tag_in_software(&mut self) -> bool {
        let (Some(tci), len) = (self.vlan_tag(), self.len()) else {
            return true;
        };
        if len < 12 || len + 4 > self.capacity() {
            return false;
        }
        self.set_len(len + 4);
        self.copy_within(12..len, 16);
        self[12..14].copy_from_slice(&crate::hw::offload::TPID_8021Q.to_be_bytes());
        self[14..16].copy_from_slice(&tci.to_be_bytes());
        if self.meta.l2_len != 0 {
            self.meta.l2_len += 4;
        }
        self.set_vlan_tag(None);
        true
    }

    /// Takes the packet apart without its `Drop` (which would take the
    /// pool's lock and give up its count): the caller puts the index back on
    /// the pool's free list and gives up the count.
    fn into_parts(self) -> (NonNull<Mempool>, u32) {
        let this = std::mem::ManuallyDrop::new(self);
        (this.pool, this.index)
    }

    /// The buffer's index in its pool (tests).
    #[cfg(test)]
    pub(crate) fn index(&self) -> u32 {
        self.index
    }
}

impl Deref for Packet {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        // SAFETY: the buffer is buffer_size bytes inside the pool's mapping,
        // which lives while this packet holds its count; this Packet owns it exclusively
        // (its index is off the free list and no ring holds it); and
        // len <= buffer_size (every path that sets `len` checks it).
        unsafe { std::slice::from_raw_parts(self.pool().buffer_ptr(self.index), self.len as usize) }
    }
}

impl DerefMut for Packet {
    fn deref_mut(&mut self) -> &mut [u8] {
        // SAFETY: as in `deref`, and `&mut self` makes the access exclusive.
        unsafe {
            std::slice::from_raw_parts_mut(self.pool().buffer_ptr(self.index), self.len as usize)
        }
    }
}

impl Drop for Packet {
    fn drop(&mut self) {
        self.pool().free_list().push(self.index);
        // SAFETY: this packet's count, given up as it goes; the lock is released.
        unsafe { PoolRef::release(self.pool, 1) };
    }
}

impl std::fmt::Debug for Packet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Packet")
            .field("index", &self.index)
            .field("len", &self.len)
            .finish()
    }
}
