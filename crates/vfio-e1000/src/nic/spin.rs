//! Busy-polling: looking at the rings for a while before sleeping, without
//! making the looking itself slow down what it waits for.
//!
//! The loop has no `PAUSE` (`std::hint::spin_loop`) and reads the clock
//! rarely (below), as DPDK's receive loops read no clock and do not
//! pause. On bare metal either would cost little; in a
//! virtual machine both leave the guest, and the device model that is to
//! deliver the awaited frame runs in the same host process:
//! - Under QEMU's TCG, `PAUSE` ends the vCPU's run of translated code to
//!   "let another CPU run", and the vCPU thread takes QEMU's big lock
//!   before it goes on. The NIC model's receive path needs that lock.
//!   Under KVM, a tight `PAUSE` loop is what pause-loop exiting traps.
//! - A guest whose TSC the kernel does not trust (QEMU guests with more
//!   than one vCPU under TCG, unless booted with `tsc=reliable` as the
//!   project's are now) reads time from the HPET: every `Instant::now()` is
//!   a system call and an emulated register read, under the same lock.
//!
//! Measured in the bench's guest (2 vCPUs, TCG, `igb`, then on the HPET),
//! back-to-back ping-pong through `e1000 echo --irq msix`, which
//! busy-polls between frames: 55-60 µs p50 with a `PAUSE` and a clock
//! read per look, the same with either alone, and 30 µs with neither, as
//! in `--irq poll` (docs/real-stacks.md).
//!
//! Even one clock read every 256 looks slowed the first frame after a
//! long spin: with `forward --busy-poll 30ms` and pings 20 ms apart,
//! QEMU's trace put 51-84 µs (p50 of three rounds) between the NIC model
//! receiving a request and the guest's transmit, against 28-31 µs with the
//! reads spaced out (and `Poller`'s eventfd look skipped) and 20-36 µs
//! with `--irq poll` in the same boot. So
//! the reads are spaced out as the spin goes on: the next one comes after
//! as long again as the spin has lasted, at the rate of looks measured so
//! far, and never later than the window's end at that rate: about
//! log2(window / first interval) reads per window, however long.

use std::time::{Duration, Instant};

/// Looks before the first clock read of a spin: on bare metal a look is a
/// few nanoseconds (one descriptor in the cache), under TCG a fraction of
/// a microsecond; either way far less than a window of 500 µs.
pub(crate) const LOOKS_BEFORE_FIRST_CLOCK_READ: u64 = 256;

/// How long a wait busy-polls before it sleeps: its `busy_poll` window, or
/// nothing after a sleep that nothing ended (`slept_idle`: its timeout or a
/// signal), since nothing is coming soon then. A spin is for frames that
/// follow others; spinning after every timed-out sleep cost an idle queue
/// with a 30 ms window and 100 ms waits 23 % of a CPU.
pub(crate) fn window(busy_poll: Duration, slept_idle: bool) -> Duration {
    if slept_idle {
        Duration::ZERO
    } else {
        busy_poll
    }
}

/// Calls `ready` until it returns true (then returns true), or until
/// `window` has passed (then returns false). `ready` is called at least
/// once, even for a zero window.
pub(crate) fn spin(window: Duration, ready: impl FnMut() -> bool) -> bool {
    spin_on(window, Instant::now, ready)
}

/// [`spin`] on the clock `now`.
fn spin_on(
    window: Duration,
    mut now: impl FnMut() -> Instant,
    mut ready: impl FnMut() -> bool,
) -> bool {
    if ready() {
        return true;
    }
    if window.is_zero() {
        return false;
    }
    let start = now();
    let mut looks: u64 = 0;
    let mut next_read = LOOKS_BEFORE_FIRST_CLOCK_READ;
    loop {
        if ready() {
            return true;
        }
        looks += 1;
        if looks < next_read {
            continue;
        }
        let spun = now().saturating_duration_since(start);
        if spun >= window {
            return false;
        }
        // As long again as spun so far, but not past the window's end, at
        // the rate of looks so far (at least the first interval's looks).
        let ahead = (window - spun).min(spun);
        let more = (looks as f64 * ahead.as_secs_f64() / spun.as_secs_f64().max(1e-9)) as u64;
        next_read = looks + more.max(LOOKS_BEFORE_FIRST_CLOCK_READ);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spins_only_after_a_sleep_that_something_ended() {
        let busy_poll = Duration::from_millis(30);
        assert_eq!(window(busy_poll, false), busy_poll);
        assert_eq!(window(busy_poll, true), Duration::ZERO);
        assert_eq!(window(Duration::ZERO, false), Duration::ZERO);
    }

    #[test]
    fn returns_as_soon_as_ready() {
        let mut looks = 0;
        let ready = spin(Duration::from_secs(10), || {
            looks += 1;
            looks == 3
        });
        assert!(ready);
        assert_eq!(looks, 3);
    }

    #[test]
    fn a_zero_window_looks_once() {
        let mut looks = 0;
        assert!(!spin(Duration::ZERO, || {
            looks += 1;
            false
        }));
        assert_eq!(looks, 1);
    }

    #[test]
    fn gives_up_after_the_window_reading_the_clock_rarely() {
        let window = Duration::from_millis(5);
        let start = Instant::now();
        assert!(!spin(window, || false));
        let took = start.elapsed();
        assert!(took >= window, "gave up after {took:?}");
        assert!(took < Duration::from_secs(1), "spun for {took:?}");
    }

    /// A clock on which every look takes `per_look`, counting its reads.
    fn look_clock(per_look: Duration, window: Duration) -> (u64, u32) {
        let t0 = Instant::now();
        let looks = std::cell::Cell::new(0u64);
        let mut reads = 0;
        let now = || {
            reads += 1;
            t0 + per_look * looks.get() as u32
        };
        assert!(!spin_on(window, now, || {
            looks.set(looks.get() + 1);
            false
        }));
        (looks.get(), reads)
    }

    /// Spins out `window` on [`look_clock`]: it ends within two first
    /// intervals after the window, with at most `max_reads` clock reads.
    fn ends_on_time(per_look: Duration, window: Duration, max_reads: u32) {
        let (looks, reads) = look_clock(per_look, window);
        let exact = (window.as_nanos() / per_look.as_nanos()) as u64;
        assert!(reads <= max_reads, "{reads} clock reads");
        let late = exact + 2 * LOOKS_BEFORE_FIRST_CLOCK_READ + 1;
        assert!((exact..=late).contains(&looks), "{looks} looks");
    }

    #[test]
    fn a_long_window_costs_few_clock_reads_and_ends_on_time() {
        // 300,000 looks, where a read every 256 looks would be 1,172 reads.
        ends_on_time(Duration::from_nanos(100), Duration::from_millis(30), 16);
    }

    #[test]
    fn a_short_window_of_slow_looks_ends_on_time() {
        // 1 µs a look, as under TCG, in the default 500 µs window.
        ends_on_time(Duration::from_micros(1), Duration::from_micros(500), 6);
    }
}
