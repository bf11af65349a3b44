//! [`smoltcp`] glue: [`SmolDevice`] makes one queue of a [`Nic`] a
//! `smoltcp::phy::Device`, so a TCP/IP stack runs on it. Zero-copy on
//! receive (the token holds the [`Packet`]); transmit fills a pool buffer in
//! place and queues it (one tail write per frame, as smoltcp emits one at a time).

use crate::{Nic, Packet};
use smoltcp::phy::{self, DeviceCapabilities, Medium};
use smoltcp::time::Instant;
use std::collections::VecDeque;

/// Frames fetched from the RX ring per refill.
const RX_BATCH: usize = 32;

/// One queue of a [`Nic`] as a smoltcp device.
///
/// ```no_run
/// # use vfio_e1000::{Config, Nic, smoltcp_phy::SmolDevice};
/// let mut nic = Nic::open("0000:00:03.0", &Config::default())?;
/// let mut device = SmolDevice::new(&mut nic, 0)?;
/// // smoltcp::iface::Interface::new(config, &mut device, now) ...
/// # Ok::<(), vfio_e1000::Error>(())
/// ```
pub struct SmolDevice<'n> {
    nic: &'n mut Nic,
    queue: u16,
    received: VecDeque<Packet>,
    batch: Vec<Packet>,
}

impl<'n> SmolDevice<'n> {
    /// Wraps queue `queue` of `nic`; [`Error::NoSuchQueue`](crate::Error::NoSuchQueue)
    /// if the NIC has no such queue, [`Error::InvalidConfig`](crate::Error::InvalidConfig)
    /// if it splits headers off ([`Config::header_split`](crate::Config::header_split)):
    /// smoltcp takes every frame in one buffer.
    pub fn new(nic: &'n mut Nic, queue: u16) -> crate::Result<Self> {
        nic.queue(queue)?;
        if nic.header_split() {
            return Err(crate::Error::InvalidConfig(
                "smoltcp takes frames in one buffer: open the NIC without header split".into(),
            ));
        }
        Ok(SmolDevice {
            nic,
            queue,
            received: VecDeque::with_capacity(RX_BATCH),
            batch: Vec::with_capacity(RX_BATCH),
        })
    }

    /// The NIC underneath (to wait for interrupts, read statistics, …).
    pub fn nic(&mut self) -> &mut Nic {
        self.nic
    }
}

/// A received frame, owned until smoltcp has looked at it.
pub struct RxToken(Packet);

/// Permission to send one frame.
pub struct TxToken<'a> {
    nic: &'a mut Nic,
    queue: u16,
    batch: &'a mut Vec<Packet>,
}

impl phy::Device for SmolDevice<'_> {
    type RxToken<'a>
        = RxToken
    where
        Self: 'a;
    type TxToken<'a>
        = TxToken<'a>
    where
        Self: 'a;

    fn receive(&mut self, _timestamp: Instant) -> Option<(RxToken, TxToken<'_>)> {
        if self.received.is_empty() {
            if let Ok(mut q) = self.nic.queue(self.queue) {
                q.rx_batch(&mut self.batch, RX_BATCH); // the queue exists: checked in `new`
            }
            self.received.extend(self.batch.drain(..));
        }
        let packet = self.received.pop_front()?;
        Some((
            RxToken(packet),
            TxToken {
                nic: self.nic,
                queue: self.queue,
                batch: &mut self.batch,
            },
        ))
    }

    fn transmit(&mut self, _timestamp: Instant) -> Option<TxToken<'_>> {
        Some(TxToken {
            nic: self.nic,
            queue: self.queue,
            batch: &mut self.batch,
        })
    }

    fn capabilities(&self) -> DeviceCapabilities {
        let mut caps = DeviceCapabilities::default();
        caps.medium = Medium::Ethernet;
        caps.max_transmission_unit = self.nic.mtu() as usize + 14;
        caps.max_burst_size = Some(RX_BATCH);
        caps
    }
}

impl phy::RxToken for RxToken {
    fn consume<R, F: FnOnce(&[u8]) -> R>(self, f: F) -> R {
        f(&self.0)
    }
}

impl phy::TxToken for TxToken<'_> {
    fn consume<R, F: FnOnce(&mut [u8]) -> R>(self, len: usize, f: F) -> R {
        match self.nic.alloc(len) {
            Some(mut packet) => {
                let r = f(&mut packet);
                self.batch.push(packet);
                if let Ok(mut q) = self.nic.queue(self.queue) {
                    q.tx_batch(self.batch); // the queue exists: checked in `new`
                }
                self.batch.clear(); // a full ring drops the frame, as a busy link would
                r
            }
            None => f(&mut vec![0; len]), // pool exhausted: the frame is dropped
        }
    }
}
