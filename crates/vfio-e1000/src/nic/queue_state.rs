//! What one queue pair owns: its rings, the eventfds it sleeps on, its
//! moderation and watchdog settings. [`bringup`](super::bringup) makes one
//! per queue; [`Queue`](super::Queue) drives it.

use super::moderation::Moderation;
use super::vectors::QueueVectors;
use crate::datapath::rx::RxRing;
use crate::datapath::tx::TxRing;
use std::time::{Duration, Instant};

/// Everything one queue pair owns.
#[derive(Debug)]
pub(crate) struct QueueState {
    pub rx: RxRing,
    pub tx: TxRing,
    /// The eventfds this queue sleeps on, with their roles.
    pub vectors: QueueVectors,
    /// `wait` calls in poll mode, and zero-timeout ones in interrupt modes.
    pub polls: u32,
    /// When poll mode last read STATUS to see whether the device is there.
    pub presence_checked: Instant,
    /// How long `wait` polls the ring before sleeping (interrupt modes).
    pub busy_poll: Duration,
    /// The last sleep ended with nothing (its timeout, or a signal): the
    /// next `wait` sleeps again without busy-polling first.
    pub slept_idle: bool,
    /// The TX watchdog's limit.
    pub hang_timeout: Duration,
    /// The interrupt vector this queue sleeps on and may re-time.
    pub irq_vector: Option<u32>,
    /// Whether a busy-poll masks the queue's RX interrupt (it has a
    /// vector, a busy-poll time, and the vector is its own).
    pub masks_rx_irq: bool,
    /// Whether its RX interrupt is masked now.
    pub rx_irq_masked: bool,
    /// The RX vector eventfds (bits by position in `vectors`) that ended
    /// the last sleep and are not reset yet: [`Queue::wait`] leaves that to
    /// its next call, so that the frame that woke it goes first.
    ///
    /// [`Queue::wait`]: super::Queue::wait
    pub undrained: u64,
    /// Adaptive interrupt moderation, if configured.
    pub moderation: Option<Moderation>,
    /// The function's re-arms ([`Hw::rearms`]) this queue has caught up with.
    pub rearmed: u64,
}
