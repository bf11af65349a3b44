//! [`Poller`]: one thread sleeping until any of several queues, of one NIC
//! or of several, has work, with the policy of [`Queue::wait`]: busy-poll
//! the rings a little with their RX interrupts masked, then unmask them and
//! sleep on every queue's interrupt at once (an epoll set over their VFIO
//! eventfds). What an interrupt woke is served first; what fired is
//! acknowledged and re-armed through each queue's own zero-timeout look
//! before the next sleep, off the way of the frame that woke the thread.
//!
//! Why epoll and not an async runtime: the driver stays free of one, and an
//! async program already has what it needs in [`Queue::fds`] (register them
//! with its reactor, then call `Queue::wait(Duration::ZERO)`, as the
//! `tokio_echo` example does).

use super::queue::{Queue, Wakeup};
use super::spin;
use crate::error::{Error, Result};
use crate::sys::epoll::Epoll;
use crate::sys::eventfd;
use std::os::fd::{AsRawFd, RawFd};
use std::time::Duration;

/// Wakes by a busy-poll that found frames between two looks at the queues'
/// eventfds (link changes, the kernel's request to release the device):
/// each look is a system call per queue, which cost the first frame after
/// a pause 10-17 µs more in a TCG guest (`forward`, docs/real-stacks.md),
/// and while frames keep coming the RX interrupts they would acknowledge
/// are masked anyway.
const SPUN_WAKES_PER_EVENT_LOOK: u32 = 64;

/// Sleeps until any of several queues has work.
///
/// ```no_run
/// use std::time::Duration;
/// use vfio_e1000::{Config, Nic, Poller};
/// let mut a = Nic::open("0000:00:03.0", &Config::default())?;
/// let mut b = Nic::open("0000:00:04.0", &Config::default())?;
/// let mut queues = [a.queue(0)?, b.queue(0)?];
/// let mut poller = Poller::new(&queues)?;
/// let mut wakes = [Default::default(); 2];
/// poller.wait(&mut queues, Duration::from_millis(100), &mut wakes)?;
/// for (q, wake) in queues.iter_mut().zip(wakes) {
///     if wake.rx { /* q.rx_batch(...) */ }
/// }
/// # Ok::<(), vfio_e1000::Error>(())
/// ```
#[derive(Debug)]
pub struct Poller {
    epoll: Epoll,
    /// Queues in poll mode: `wait` never sleeps.
    polling: bool,
    /// The longest busy-poll any queue asks for.
    busy_poll: Duration,
    /// Queues registered, in order.
    count: usize,
    /// Descriptors other than the queues' ([`Poller::watch_fd`]): a
    /// busy-poll looks at them too.
    watched: Vec<RawFd>,
    /// The last sleep ended with nothing (its timeout, or a signal): the
    /// next [`Poller::wait`] sleeps again without busy-polling first.
    slept_idle: bool,
    /// An interrupt woke the thread and its eventfds are not acknowledged
    /// yet: [`Poller::wait`] does it before it sleeps again (or at the next
    /// look after a busy-poll wake).
    unacked: bool,
    /// Wakes by a busy-poll that found frames, counted to space out the
    /// looks at the eventfds ([`SPUN_WAKES_PER_EVENT_LOOK`]).
    spun_wakes: u32,
}

impl Poller {
    /// Watches `queues` (at most 63): their interrupt eventfds go into one
    /// epoll set. Pass the same queues, in the same order, to
    /// [`Poller::wait`].
    pub fn new(queues: &[Queue<'_>]) -> Result<Poller> {
        if queues.len() > 63 {
            return Err(Error::InvalidConfig(format!(
                "a Poller watches at most 63 queues, not {}",
                queues.len()
            )));
        }
        let epoll = Epoll::new()?;
        let mut polling = false;
        let mut busy_poll = Duration::ZERO;
        for (i, q) in queues.iter().enumerate() {
            // A poll-mode queue still has an eventfd (the kernel's request
            // to release the device), which never fires for frames:
            // sleeping on it would hold every frame for the whole timeout.
            polling |= q.polls();
            let fds = q.fds();
            busy_poll = busy_poll.max(q.busy_poll());
            for fd in fds {
                epoll.add(fd, 1 << i)?;
            }
        }
        Ok(Poller {
            epoll,
            polling,
            busy_poll,
            count: queues.len(),
            watched: Vec::new(),
            slept_idle: false,
            unacked: false,
            spun_wakes: 0,
        })
    }

    /// Also wakes [`Poller::wait`] when `fd` is readable (a TAP device, a
    /// socket: whatever else the thread serves). The caller reads it itself
    /// after `wait` returns, without blocking, and keeps it open as long as
    /// the poller. A busy-poll looks at it as at the rings, at the price of
    /// a `poll(2)` per look.
    pub fn watch_fd(&mut self, fd: std::os::fd::BorrowedFd<'_>) -> Result<()> {
        self.epoll.add(fd, 1 << 63)?;
        self.watched.push(fd.as_raw_fd());
        Ok(())
    }

    /// Waits until a queue of `queues` has received frames (or its link
    /// changed), or `timeout`, and says which in `wakes` (one per queue).
    /// Busy-polls the rings (and any [watched](Poller::watch_fd)
    /// descriptor) for the longest busy-poll time a queue asks for
    /// ([`Config::busy_poll_us`](crate::Config::busy_poll_us)), their RX
    /// interrupts masked (and left masked while frames keep coming), then
    /// unmasks them and sleeps on every queue's interrupt at once; after a
    /// sleep that timed out with nothing it sleeps again at once. A wake
    /// reports the rings that hold frames at once; each queue acknowledges
    /// and re-arms what fired (as [`Queue::wait`] with a zero timeout does,
    /// which also reports a link change, a device that is gone or that the
    /// kernel wants back) at a later call: before it sleeps again, and every
    /// 64th time a busy-poll finds frames. So a link change is reported up to
    /// a busy-poll window late, or a few batches late while frames keep
    /// coming. In poll mode it does not sleep: every queue is reported as
    /// having work. A signal ends the sleep early.
    ///
    /// # Panics
    /// If `queues` or `wakes` are not as many as the queues given to
    /// [`Poller::new`].
    pub fn wait(
        &mut self,
        queues: &mut [Queue<'_>],
        timeout: Duration,
        wakes: &mut [Wakeup],
    ) -> Result<()> {
        assert!(queues.len() == self.count && wakes.len() == self.count);
        if !self.polling && !timeout.is_zero() {
            let window = spin::window(self.busy_poll, self.slept_idle);
            // As `Queue::wait`: RX interrupts masked while spinning (and
            // while frames keep coming), unmasked before the sleep, then
            // the rings looked at once more.
            if !window.is_zero() {
                queues.iter_mut().for_each(Queue::mask_rx_irq);
            }
            let pending = |queues: &[Queue<'_>]| queues.iter().any(Queue::rx_pending);
            let watched = &self.watched;
            // A watched descriptor that cannot be polled ends the spin: the
            // caller's own read tells what is wrong with it.
            let readable = || eventfd::ready_any(watched, 0).map_or(true, |m| m != 0);
            if spin::spin(window, || {
                pending(queues) || (!watched.is_empty() && readable())
            }) {
                self.slept_idle = false;
                self.spun_wakes = self.spun_wakes.wrapping_add(1);
                if !self.spun_wakes.is_multiple_of(SPUN_WAKES_PER_EVENT_LOOK) {
                    report_pending(queues, wakes);
                    return Ok(());
                }
            } else {
                // What woke the last sleep is acknowledged only now, before
                // the next: a frame that came in meanwhile (a reply to what
                // was just sent, say) did not wait for it.
                if std::mem::take(&mut self.unacked) && acknowledge(queues, wakes)? {
                    return Ok(());
                }
                queues.iter_mut().for_each(Queue::unmask_rx_irq);
                if !pending(queues) {
                    let ms = timeout.as_millis().min(i32::MAX as u128) as i32;
                    let woken = self.epoll.wait(ms.max(1))? != 0;
                    self.slept_idle = !woken;
                    if !woken {
                        // Nothing fired for the whole timeout: look, as a
                        // queue's own wait does, for a device that is gone
                        // (it stops interrupting) and a hung transmitter.
                        for q in queues.iter_mut() {
                            q.idle_checks()?;
                        }
                    } else {
                        // Woken: the rings first. Acknowledging what fired
                        // takes a system call or two per queue, which the
                        // frame that woke us need not wait for.
                        self.unacked = true;
                        report_pending(queues, wakes);
                        return Ok(());
                    }
                }
            }
        }
        self.unacked = false;
        for (q, wake) in queues.iter_mut().zip(wakes.iter_mut()) {
            *wake = q.look()?;
            self.slept_idle &= !wake.rx;
        }
        Ok(())
    }
}

/// Reports in `wakes` the queues whose rings hold frames (memory only: no
/// system call, no register).
fn report_pending(queues: &[Queue<'_>], wakes: &mut [Wakeup]) {
    for (q, wake) in queues.iter().zip(wakes.iter_mut()) {
        *wake = Wakeup {
            rx: q.rx_pending(),
            link_changed: false,
        };
    }
}

/// Acknowledges and re-arms what woke the last sleep (each queue's
/// zero-timeout look); reports in `wakes` a link change and the rings that
/// hold frames, and whether there is any such news.
fn acknowledge(queues: &mut [Queue<'_>], wakes: &mut [Wakeup]) -> Result<bool> {
    let mut news = false;
    for (q, wake) in queues.iter_mut().zip(wakes.iter_mut()) {
        let looked = q.look()?;
        *wake = Wakeup {
            rx: q.rx_pending(),
            link_changed: looked.link_changed,
        };
        news |= wake.rx || wake.link_changed;
    }
    Ok(news)
}
