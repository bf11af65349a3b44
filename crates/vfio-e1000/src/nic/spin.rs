//! Busy-polling: looking at the rings for a while before sleeping, without
//! making the looking itself slow down what it waits for.
//!
//! The loop has no `PAUSE` (`std::hint::spin_loop`) and reads the clock
//! only every [`LOOKS_PER_CLOCK_READ`] looks, as DPDK's receive loops read
//! no clock and do not pause. On bare metal either would cost little; in a
//! virtual machine both leave the guest, and the device model that is to
//! deliver the awaited frame runs in the same host process:
//! - Under QEMU's TCG, `PAUSE` ends the vCPU's run of translated code to
//!   "let another CPU run", and the vCPU thread takes QEMU's big lock
//!   before it goes on. The NIC model's receive path needs that lock.
//!   Under KVM, a tight `PAUSE` loop is what pause-loop exiting traps.
//! - A guest whose TSC the kernel does not trust (QEMU guests with more
//!   than one vCPU under TCG) reads time from the HPET: every
//!   `Instant::now()` is a system call and an emulated register read,
//!   under the same lock.
//!
//! Measured in the bench's guest (2 vCPUs, TCG, `igb`), back-to-back
//! ping-pong through `e1000 echo --irq msix`, which busy-polls between
//! frames: 55-60 µs p50 with a `PAUSE` and a clock read per look, the same
//! with either alone, and 30 µs with neither, as in `--irq poll`
//! (docs/performance.md).

use std::time::{Duration, Instant};

/// Looks between two clock reads while busy-polling: on bare metal a
/// look is a few nanoseconds (one descriptor in the cache), so the window
/// overshoots by a microsecond or two at most; under TCG by some tens of
/// microseconds, against a 500 µs default window.
pub(crate) const LOOKS_PER_CLOCK_READ: u32 = 256;

/// Calls `ready` until it returns true (then returns true), or until
/// `window` has passed (then returns false). `ready` is called at least
/// once, even for a zero window.
pub(crate) fn spin(window: Duration, mut ready: impl FnMut() -> bool) -> bool {
    if ready() {
        return true;
    }
    if window.is_zero() {
        return false;
    }
    let until = Instant::now() + window;
    let mut looks: u32 = 0;
    loop {
        if ready() {
            return true;
        }
        looks = looks.wrapping_add(1);
        if looks.is_multiple_of(LOOKS_PER_CLOCK_READ) && Instant::now() >= until {
            return false;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
        let mut looks: u64 = 0;
        assert!(!spin(window, || {
            looks += 1;
            false
        }));
        let took = start.elapsed();
        assert!(took >= window, "gave up after {took:?}");
        assert!(took < Duration::from_secs(1), "spun for {took:?}");
        // The window ends only at a clock read: after a whole number of
        // LOOKS_PER_CLOCK_READ looks (plus the first look).
        assert_eq!((looks - 1) % u64::from(LOOKS_PER_CLOCK_READ), 0);
    }
}
