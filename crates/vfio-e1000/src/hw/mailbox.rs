//! The virtual function's side of the 82576's PF/VF mailbox (82576
//! datasheet §7.8.2.9): a 16-word buffer (VMBMEM) shared with the physical
//! function's driver and one control register (V2PMAILBOX) with the
//! ownership, request and acknowledge bits. A VF has no access to the
//! receive filters, the MAC address table or the frame size limit: it asks
//! the PF's driver for them through messages of the "VF mailbox API" that
//! Linux's igb, FreeBSD's igb and DPDK's PF drivers all answer.
//!
//! Reading V2PMAILBOX clears PFSTS, PFACK and RSTD (QEMU's `igb` does so
//! too), so a [`Mailbox`] keeps every bit it has seen until it uses it.

use crate::error::{Error, Result};
use crate::sys::mmio::Registers;
use std::cell::Cell;
use std::time::{Duration, Instant};

/// VF-to-PF mailbox control register, in the VF's register space (§8.14.4).
pub(crate) const V2PMAILBOX: u32 = 0x0C40;
/// The mailbox buffer: 16 words (§8.14.5).
const VMBMEM: u32 = 0x0800;
/// Words in the buffer.
pub(crate) const WORDS: usize = 16;

/// V2PMAILBOX.Req: the VF posted a message (write 1).
const REQ: u32 = 1 << 0;
/// V2PMAILBOX.Ack: the VF read the PF's message (write 1).
const ACK: u32 = 1 << 1;
/// V2PMAILBOX.VFU: the buffer is taken by the VF (set only while PFU is clear).
const VFU: u32 = 1 << 2;
/// V2PMAILBOX.PFU: the buffer is taken by the PF.
const PFU: u32 = 1 << 3;
/// V2PMAILBOX.PFSTS: the PF wrote a message (clear on read).
const PFSTS: u32 = 1 << 4;
/// V2PMAILBOX.PFACK: the PF read the VF's message (clear on read).
const PFACK: u32 = 1 << 5;
/// V2PMAILBOX.RSTI: the PF is resetting; the VF must wait.
pub(crate) const RSTI: u32 = 1 << 6;
/// V2PMAILBOX.RSTD: the PF finished a reset (clear on read).
const RSTD: u32 = 1 << 7;
/// The bits that reading clears.
const READ_CLEARS: u32 = PFSTS | PFACK | RSTD;

/// Message types (bits 15:0 of word 0) and flags of the VF mailbox API.
pub(crate) mod message {
    /// The VF was reset; the reply carries its MAC address (ACK) or none (NACK).
    pub const RESET: u32 = 0x01;
    /// Words 1-2: the MAC address the VF wants.
    pub const SET_MAC_ADDR: u32 = 0x02;
    /// Bits 23:16: how many 12-bit multicast hashes follow, two per word.
    pub const SET_MULTICAST: u32 = 0x03;
    /// Word 1: a VLAN ID to join ([`VLAN_ADD`]) or leave.
    pub const SET_VLAN: u32 = 0x04;
    /// SET_VLAN: join the VLAN (message info, bits 23:16, = 1).
    pub const VLAN_ADD: u32 = 1 << 16;
    /// Word 1: the longest frame, FCS included.
    pub const SET_LPE: u32 = 0x05;
    /// Flags in bits 23:16: [`PROMISC_MULTICAST`].
    pub const SET_PROMISC: u32 = 0x06;
    /// SET_PROMISC: accept every multicast frame.
    pub const PROMISC_MULTICAST: u32 = 0x2 << 16;
    /// Most multicast hashes one SET_MULTICAST carries.
    pub const MAX_MULTICAST: usize = 30;
    /// Reply flag: done.
    pub const ACK: u32 = 1 << 31;
    /// Reply flag: refused.
    pub const NACK: u32 = 1 << 30;
    /// The type field of word 0.
    pub const TYPE_MASK: u32 = 0xFFFF;
}

/// What a timeout says: the PF's driver is missing or not serving.
const NO_ANSWER: &str = "a mailbox exchange with the physical function's driver \
    (is the PF bound to its driver, e.g. igb, with its interface up?)";

/// How long the PF's driver may take to take a message or to answer it
/// (Linux's igbvf allows 1 s).
const TIMEOUT: Duration = Duration::from_secs(1);

/// One conversation with the PF's driver.
pub(crate) struct Mailbox<'a> {
    r: &'a dyn Registers,
    /// Read-to-clear bits seen and not yet used.
    seen: Cell<u32>,
}

impl<'a> Mailbox<'a> {
    pub(crate) fn new(r: &'a dyn Registers) -> Mailbox<'a> {
        Mailbox {
            r,
            seen: Cell::new(0),
        }
    }

    /// V2PMAILBOX now, with the read-to-clear bits seen before.
    fn status(&self) -> u32 {
        let now = self.r.read(V2PMAILBOX);
        let all = now | self.seen.get();
        self.seen.set(all & READ_CLEARS);
        all
    }

    /// Whether `bit` (read-to-clear) has been seen; uses it up.
    fn take(&self, bit: u32) -> bool {
        let seen = self.status() & bit != 0;
        self.seen.set(self.seen.get() & !bit);
        seen
    }

    /// Whether the PF has written a message not yet received.
    pub(crate) fn has_message(&self) -> bool {
        self.status() & PFSTS != 0
    }

    /// Polls until `done` or the timeout; `what` names the wait in the error.
    fn wait(&self, what: &'static str, done: impl Fn() -> bool) -> Result<()> {
        let start = Instant::now();
        loop {
            if done() {
                return Ok(());
            }
            if self.status() == u32::MAX {
                return Err(Error::DeviceGone);
            }
            if start.elapsed() > TIMEOUT {
                return Err(Error::DeviceTimeout(what));
            }
            std::thread::sleep(Duration::from_micros(200));
        }
    }

    /// Takes the buffer (VFU), which the PF may hold for a while.
    fn lock(&self) -> Result<()> {
        self.wait(NO_ANSWER, || {
            self.r.write(V2PMAILBOX, VFU);
            self.status() & (VFU | PFU) == VFU
        })
    }

    /// Posts `words` to the PF and waits until its driver has read them.
    pub(crate) fn post(&self, words: &[u32]) -> Result<()> {
        debug_assert!(!words.is_empty() && words.len() <= WORDS);
        self.lock()?;
        // An acknowledge left over from an earlier exchange is not ours.
        self.take(PFACK);
        for (i, w) in words.iter().enumerate() {
            self.r.write(VMBMEM + 4 * i as u32, *w);
        }
        // REQ without VFU also hands the buffer back.
        self.r.write(V2PMAILBOX, REQ);
        self.wait(NO_ANSWER, || self.take(PFACK))
    }

    /// Waits for the PF's next message and reads it into `reply`.
    pub(crate) fn receive(&self, reply: &mut [u32]) -> Result<()> {
        self.wait(NO_ANSWER, || self.take(PFSTS))?;
        self.lock()?;
        for (i, w) in reply.iter_mut().enumerate().take(WORDS) {
            *w = self.r.read(VMBMEM + 4 * i as u32);
        }
        // ACK without VFU also hands the buffer back.
        self.r.write(V2PMAILBOX, ACK);
        Ok(())
    }

    /// Posts `words` and returns the PF's answer to it in `reply`, ACK or
    /// NACK: messages of another type (a reset notice the PF sent on its
    /// own) are skipped.
    pub(crate) fn exchange(&self, words: &[u32], reply: &mut [u32]) -> Result<()> {
        self.post(words)?;
        let kind = words[0] & message::TYPE_MASK;
        let start = Instant::now();
        loop {
            self.receive(reply)?;
            if reply[0] & message::TYPE_MASK == kind {
                break;
            }
            if start.elapsed() > TIMEOUT {
                return Err(Error::DeviceTimeout(NO_ANSWER));
            }
        }
        Ok(())
    }

    /// [`Mailbox::exchange`], and Err if the PF refused (NACK), with `what`
    /// naming the request.
    pub(crate) fn request(&self, words: &[u32], reply: &mut [u32], what: &str) -> Result<()> {
        self.exchange(words, reply)?;
        if reply[0] & message::NACK != 0 {
            return Err(Error::PfRefused(what.to_string()));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Mutex;

    /// A PF's driver that answers every message at once.
    #[derive(Default)]
    struct Pf {
        regs: Mutex<HashMap<u32, u32>>,
        /// Messages the VF posted.
        posted: Mutex<Vec<Vec<u32>>>,
        /// Whether replies are NACKs.
        refuse: AtomicBool,
    }

    impl Registers for Pf {
        fn read(&self, reg: u32) -> u32 {
            let mut regs = self.regs.lock().unwrap();
            let v = *regs.get(&reg).unwrap_or(&0);
            if reg == V2PMAILBOX {
                regs.insert(reg, v & !READ_CLEARS);
            }
            v
        }

        fn write(&self, reg: u32, value: u32) {
            let mut regs = self.regs.lock().unwrap();
            if reg != V2PMAILBOX {
                regs.insert(reg, value);
                return;
            }
            let mut control = regs.get(&reg).copied().unwrap_or(0) & !VFU;
            control |= value & VFU;
            if value & REQ != 0 {
                let words: Vec<u32> = (0..WORDS as u32)
                    .map(|i| regs.get(&(VMBMEM + 4 * i)).copied().unwrap_or(0))
                    .collect();
                // The PF reads the message, then answers it.
                let flag = if self.refuse.load(Ordering::Relaxed) {
                    message::NACK
                } else {
                    message::ACK
                };
                regs.insert(VMBMEM, words[0] | flag);
                self.posted.lock().unwrap().push(words);
                control |= PFACK | PFSTS;
            }
            regs.insert(reg, control);
        }

        fn accesses(&self) -> (u64, u64) {
            (0, 0)
        }
    }

    #[test]
    fn a_request_gets_its_answer_and_hands_the_buffer_back() {
        let pf = Pf::default();
        let mb = Mailbox::new(&pf);
        let mut reply = [0u32; 3];
        mb.request(&[message::SET_LPE, 1522], &mut reply, "frame size")
            .unwrap();
        assert_eq!(reply[0], message::SET_LPE | message::ACK);
        assert_eq!(pf.posted.lock().unwrap()[0][..2], [message::SET_LPE, 1522]);
        assert_eq!(pf.read(V2PMAILBOX) & VFU, 0, "buffer released");
    }

    #[test]
    fn a_refusal_is_an_error_that_names_the_request() {
        let pf = Pf::default();
        pf.refuse.store(true, Ordering::Relaxed);
        let err = Mailbox::new(&pf)
            .request(
                &[message::SET_MAC_ADDR, 0, 0],
                &mut [0; 3],
                "the MAC address",
            )
            .unwrap_err();
        assert!(err.to_string().contains("the MAC address"), "{err}");
    }

    #[test]
    fn bits_cleared_by_one_read_are_not_lost() {
        let pf = Pf::default();
        pf.regs.lock().unwrap().insert(V2PMAILBOX, PFSTS | PFACK);
        let mb = Mailbox::new(&pf);
        assert!(mb.take(PFACK));
        // The read that saw PFACK also cleared PFSTS in the register.
        assert!(mb.has_message());
        assert!(mb.take(PFSTS));
        assert!(!mb.has_message());
    }

    #[test]
    fn a_pf_that_never_answers_times_out() {
        struct Deaf;
        impl Registers for Deaf {
            fn read(&self, reg: u32) -> u32 {
                if reg == V2PMAILBOX {
                    VFU
                } else {
                    0
                }
            }
            fn write(&self, _: u32, _: u32) {}
            fn accesses(&self) -> (u64, u64) {
                (0, 0)
            }
        }
        let err = Mailbox::new(&Deaf).post(&[message::RESET]).unwrap_err();
        assert!(matches!(err, Error::DeviceTimeout(_)), "{err}");
    }
}
