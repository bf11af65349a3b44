//! Receive-side scaling as the 82574L and the 82576 share it: the same
//! registers at the same offsets (a hash key, a 128-entry redirection table,
//! MRQC), a Toeplitz hash over the IPv4 header (and the TCP/UDP ports where
//! the family can), and the hash's low 7 bits choosing a table entry, which
//! names the queue. The families differ in how an entry encodes its queue and
//! in MRQC's enable field ("82574 GbE Controller Datasheet" §7.1, receive,
//! and §10.2.5, receive registers; "82576 GbE Controller Datasheet" §7.1.2.8
//! and §8.10).

use crate::hw::regs::RXCSUM;
use crate::sys::mmio::Registers;

/// RXCSUM.PCSD, Packet Checksum Disable: the receive descriptor carries the
/// RSS hash (and, on the 82574L, the RSS type and queue) instead of the
/// packet checksum or IP identification. QEMU's models hash only with it.
pub(crate) const RXCSUM_PCSD: u32 = 1 << 13;
/// Multiple Receive Queues Command (82574 §10.2.5; 82576 §8.10).
pub(crate) const MRQC: u32 = 0x5818;
/// MRQC: hash the IPv4 addresses and TCP ports of TCP/IPv4 frames.
pub(crate) const MRQC_HASH_TCP_IPV4: u32 = 1 << 16;
/// MRQC: hash the IPv4 addresses of other IPv4 frames (UDP among them where
/// the family has no UDP field, as the 82574L).
pub(crate) const MRQC_HASH_IPV4: u32 = 1 << 17;
/// Redirection Table: 32 registers of four one-byte entries, entry `i` in
/// byte `i % 4` of register `i / 4` (82574 §10.2.5; 82576 §8.10).
const RETA: u32 = 0x5C00;
/// Entries in the redirection table: the hash's low 7 bits index it.
const RETA_ENTRIES: u32 = 128;
/// RSS Random Key: 10 registers, 40 bytes, byte `i` in byte `i % 4` of
/// register `i / 4` (82574 §10.2.5; 82576 §8.10).
const RSSRK: u32 = 0x5C80;
/// A fixed RSS key: any 40 bytes do. This one is Microsoft's verification
/// key (bytes 6d 5a 56 da …), with which 64 flows of the test bench spread
/// evenly; a fixed key keeps a flow on the same queue from run to run.
const RSS_KEY: [u32; 10] = [
    0xda56_5a6d,
    0xc20e_5b25,
    0x3d25_6741,
    0xb08f_a343,
    0xcb2b_cad0,
    0xb430_7bae,
    0xa32d_cb77,
    0x0cf2_3080,
    0x3bb7_426a,
    0xfa01_acbe,
];

/// Spreads received flows over `queues` queues: the key, the redirection
/// table round robin (entry `i` names queue `i % queues`, as `entry`
/// encodes it for the family), RXCSUM.PCSD so the hash is written back,
/// then `mrqc`, which turns RSS on, last.
pub(crate) fn enable(r: &dyn Registers, queues: u16, entry: fn(u32) -> u8, mrqc: u32) {
    for (i, word) in RSS_KEY.iter().enumerate() {
        r.write(RSSRK + 4 * i as u32, *word);
    }
    for reg in 0..RETA_ENTRIES / 4 {
        let byte = |k: u32| (entry((4 * reg + k) % queues as u32) as u32) << (8 * k);
        r.write(RETA + 4 * reg, byte(0) | byte(1) | byte(2) | byte(3));
    }
    r.set_bits(RXCSUM, RXCSUM_PCSD);
    r.write(MRQC, mrqc);
}

/// One queue: RSS off, every frame to queue 0.
pub(crate) fn disable(r: &dyn Registers) {
    r.write(MRQC, 0);
}
