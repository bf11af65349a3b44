//! [`Queue`]: one RX/TX queue pair of a [`crate::Nic`] with its own rings,
//! pool and interrupt vector. [`crate::Nic::split`] hands out one per queue
//! so that each can be driven by its own thread; the `Nic` methods that take
//! a queue index go through the same code.

use crate::error::{Error, Result};
use crate::family::{regs, Family, VectorPlan};
use crate::irq::{self, IrqMode};
use crate::mempool::{Mempool, Packet};
use crate::mmio::Mmio;
use crate::ring::{RxRing, TxRing};
use crate::vfio::Device;
use std::os::fd::RawFd;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// What woke [`Queue::wait`] (or [`crate::Nic::wait`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Wakeup {
    /// Frames may be waiting on the queue.
    pub rx: bool,
    /// The link changed (see [`crate::Nic::link`]).
    pub link_changed: bool,
}

/// The hardware shared by every queue: registers, device, family, interrupt plan.
pub(crate) struct Hw {
    pub regs: Mmio,
    pub device: Device,
    pub family: &'static dyn Family,
    pub irq_mode: IrqMode,
    pub plan: VectorPlan,
}

/// Everything one queue pair owns.
pub(crate) struct QueueState {
    pub rx: RxRing,
    pub tx: TxRing,
    pub pool: Arc<Mempool>,
    /// The eventfds this queue sleeps on…
    pub wait_fds: Vec<RawFd>,
    /// …and the vector each one is (`None`: the kernel's release request,
    /// watched by queue 0 only).
    pub wait_vectors: Vec<Option<u32>>,
    /// The release request's eventfd (queue 0 only), read now and then in poll mode.
    pub release: Option<RawFd>,
    /// `wait` calls in poll mode.
    pub polls: u32,
    /// How long `wait` polls the ring before sleeping (interrupt modes).
    pub busy_poll: Duration,
}

/// One RX/TX queue pair. Its methods never touch another queue's state, and
/// in poll and MSI-X modes its fast path and interrupt path access no shared
/// register, so queues can run on separate threads.
pub struct Queue<'a> {
    index: u16,
    state: &'a mut QueueState,
    hw: &'a Hw,
}

impl<'a> Queue<'a> {
    pub(crate) fn new(index: u16, state: &'a mut QueueState, hw: &'a Hw) -> Self {
        Queue { index, state, hw }
    }

    /// This queue's number.
    pub fn index(&self) -> u16 {
        self.index
    }

    /// Receives up to `max` frames into `out` (appended); returns how many.
    /// No register read; at most one tail write (the refilled descriptors
    /// go back to the NIC in groups).
    pub fn rx_batch(&mut self, out: &mut Vec<Packet>, max: usize) -> usize {
        self.state.rx.rx_batch(&self.hw.regs, out, max)
    }

    /// Sends packets from the front of `pkts`, as many as the ring has room
    /// for; they leave `pkts`. One tail write per call.
    pub fn tx_batch(&mut self, pkts: &mut Vec<Packet>) -> usize {
        self.state.tx.tx_batch(&self.hw.regs, pkts)
    }

    /// Waits until every queued transmission completed, or `timeout`;
    /// returns whether everything completed.
    pub fn tx_flush(&mut self, timeout: Duration) -> bool {
        let start = Instant::now();
        loop {
            self.state.tx.reclaim();
            if self.state.tx.in_flight() == 0 {
                return true;
            }
            if start.elapsed() > timeout {
                return false;
            }
            std::thread::sleep(Duration::from_micros(50));
        }
    }

    /// This queue's packet pool.
    pub fn pool(&self) -> &Arc<Mempool> {
        &self.state.pool
    }

    /// Frames the ring dropped (errors, frames spanning buffers).
    pub fn dropped(&self) -> u64 {
        self.state.rx.dropped
    }

    /// Times this queue's receive ring was found full (see
    /// [`Stats::rx_ring_full`](crate::Stats::rx_ring_full)).
    pub fn ring_full(&self) -> u64 {
        self.state.rx.full
    }

    /// Sleeps until this queue's interrupt (or `timeout`), acknowledges it
    /// and reports what happened. In poll mode it returns at once with
    /// `rx: true`. A signal ends the wait early with an empty [`Wakeup`].
    /// [`Error::RemovalRequested`] means the kernel wants the device back
    /// (hot-unplug): drop the `Nic` promptly.
    pub fn wait(&mut self, timeout: Duration) -> Result<Wakeup> {
        let hw = self.hw;
        if hw.irq_mode == IrqMode::Poll {
            self.state.polls = self.state.polls.wrapping_add(1);
            if self.state.polls.is_multiple_of(1024) && self.state.release.is_some_and(irq::take) {
                return Err(self.removal());
            }
            return Ok(Wakeup {
                rx: true,
                link_changed: false,
            });
        }
        // Busy-poll the ring a little first: when frames keep coming, the
        // next one usually arrives before an interrupt would wake us.
        let spin_until = Instant::now() + self.state.busy_poll;
        loop {
            if self.state.rx.pending() {
                return Ok(Wakeup {
                    rx: true,
                    link_changed: false,
                });
            }
            if Instant::now() >= spin_until {
                break;
            }
            std::hint::spin_loop();
        }
        let timeout_ms = timeout.as_millis().min(i32::MAX as u128) as i32;
        let fired = irq::wait_any(&self.state.wait_fds, timeout_ms)?;
        let mut wake = Wakeup::default();
        for (i, &vector) in self.state.wait_vectors.iter().enumerate() {
            if fired & (1 << i) == 0 {
                continue;
            }
            let Some(vector) = vector else {
                return Err(self.removal());
            };
            let msix = hw.irq_mode == IrqMode::Msix;
            let link_vector = msix && vector == hw.plan.other;
            if hw.family.ack(&hw.regs, hw.irq_mode, link_vector) || link_vector {
                wake.link_changed = true;
            }
            wake.rx |= !msix || vector == hw.plan.rx_queue0 + self.index as u32;
        }
        if fired != 0 && hw.irq_mode == IrqMode::Intx {
            hw.device.unmask_intx()?;
        }
        // A removed device stops interrupting: look for it only when a wait
        // times out, so the interrupt path itself reads no register.
        if fired == 0 && hw.regs.read(regs::STATUS) == u32::MAX {
            return Err(Error::DeviceGone);
        }
        Ok(wake)
    }

    /// The eventfds this queue sleeps on (for an async runtime: when one is
    /// readable, call [`Queue::wait`] with a zero timeout).
    pub fn fds(&self) -> &[RawFd] {
        &self.state.wait_fds
    }

    fn removal(&self) -> Error {
        Error::RemovalRequested {
            pci: self.hw.device.address.to_string(),
        }
    }
}
