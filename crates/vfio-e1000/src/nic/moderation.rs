//! Adaptive interrupt moderation: the interval between interrupts follows
//! the load, in two levels like ixy's interrupt/poll switch and Linux's
//! "dynamic conservative" ITR. While a queue receives few frames, every
//! frame interrupts at once (lowest latency; QEMU's 8254x and 82574L models
//! still enforce their 128 µs minimum). Once it receives many, each
//! interrupt should carry a batch of about [`BATCH_FRAMES`]: the interval is
//! that batch's duration at the measured rate, between
//! [`BULK_MIN_INTERVAL_US`] and [`BULK_MAX_INTERVAL_US`]. A wake-up costs the
//! same whatever it carries, so the CPU per frame stays flat as the rate
//! falls, and a frame waits at most the batch's time. Pure logic: the queue
//! writes the register.

use std::time::{Duration, Instant};

/// How often the receive rate is measured.
pub(crate) const WINDOW: Duration = Duration::from_millis(10);
/// Above this many frames per second a queue is under load.
pub(crate) const BULK_ABOVE_FPS: u64 = 10_000;
/// Below this many it is back to latency (the gap avoids flapping).
pub(crate) const LATENCY_BELOW_FPS: u64 = 8_000;
/// Frames one interrupt should carry under load.
pub(crate) const BATCH_FRAMES: u64 = 20;
/// The shortest interval under load: at most 4,000 interrupts per second
/// (Linux's "bulk latency" setting), reached from 80,000 frames/s.
pub(crate) const BULK_MIN_INTERVAL_US: u32 = 250;
/// The longest: no frame waits more than 1 ms (20,000 frames/s and below).
pub(crate) const BULK_MAX_INTERVAL_US: u32 = 1_000;

/// One queue's adaptive state.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Moderation {
    /// The interval programmed, µs (0: the latency level).
    interval_us: u32,
    since: Instant,
    frames_then: u64,
}

impl Moderation {
    /// Starts in the latency level (interval 0) at `now`, having received `frames`.
    pub(crate) fn new(now: Instant, frames: u64) -> Moderation {
        Moderation {
            interval_us: 0,
            since: now,
            frames_then: frames,
        }
    }

    /// Looks at the receive rate once a [`WINDOW`] has passed since the
    /// last look (`frames`: received so far); returns the new interval in
    /// µs when it should change (level change, or the batch interval moved
    /// by more than a quarter: the register is not rewritten for jitter).
    #[inline]
    pub(crate) fn update(&mut self, now: Instant, frames: u64) -> Option<u32> {
        let elapsed = now.saturating_duration_since(self.since);
        if elapsed < WINDOW {
            return None;
        }
        let fps = (frames - self.frames_then) as f64 / elapsed.as_secs_f64();
        self.since = now;
        self.frames_then = frames;
        let bulk = if self.interval_us > 0 {
            fps >= LATENCY_BELOW_FPS as f64
        } else {
            fps > BULK_ABOVE_FPS as f64
        };
        let wanted = if bulk { bulk_interval_us(fps) } else { 0 };
        let old = self.interval_us;
        let moved = wanted.abs_diff(old) * 4 > old;
        if wanted == old || (bulk && old > 0 && !moved) {
            return None;
        }
        self.interval_us = wanted;
        Some(wanted)
    }
}

/// The interval (µs) in which `fps` frames/s bring [`BATCH_FRAMES`],
/// within the bulk bounds.
fn bulk_interval_us(fps: f64) -> u32 {
    let us = BATCH_FRAMES as f64 * 1e6 / fps.max(1.0);
    (us as u32).clamp(BULK_MIN_INTERVAL_US, BULK_MAX_INTERVAL_US)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Feeds `fps` for `ms` milliseconds in 1 ms steps; returns the changes.
    fn feed(m: &mut Moderation, t: &mut Instant, frames: &mut u64, fps: u64, ms: u64) -> Vec<u32> {
        let mut changes = Vec::new();
        for _ in 0..ms {
            *t += Duration::from_millis(1);
            *frames += fps / 1000;
            changes.extend(m.update(*t, *frames));
        }
        changes
    }

    #[test]
    fn follows_the_load_with_a_gap_between_the_levels() {
        let (mut t, mut frames) = (Instant::now(), 0);
        let mut m = Moderation::new(t, frames);
        assert!(
            feed(&mut m, &mut t, &mut frames, 2_000, 100).is_empty(),
            "stays at 0"
        );
        assert_eq!(feed(&mut m, &mut t, &mut frames, 50_000, 100), [400]);
        assert_eq!(
            feed(&mut m, &mut t, &mut frames, 9_000, 100),
            [BULK_MAX_INTERVAL_US],
            "between the thresholds: still under load, no flapping"
        );
        assert_eq!(feed(&mut m, &mut t, &mut frames, 1_000, 100), [0]);
        assert!(feed(&mut m, &mut t, &mut frames, 9_000, 100).is_empty());
    }

    #[test]
    fn looks_once_a_window() {
        let t = Instant::now();
        let mut m = Moderation::new(t, 0);
        assert_eq!(
            m.update(t + WINDOW / 2, 1_000_000),
            None,
            "too early to judge"
        );
        assert_eq!(
            m.update(t + WINDOW, 1_000_000),
            Some(BULK_MIN_INTERVAL_US),
            "100 M frames/s: the shortest bulk interval"
        );
    }

    #[test]
    fn under_load_an_interrupt_carries_a_batch_within_the_bounds() {
        assert_eq!(bulk_interval_us(20_000.0), 1_000);
        assert_eq!(bulk_interval_us(12_000.0), BULK_MAX_INTERVAL_US);
        assert_eq!(bulk_interval_us(40_000.0), 500);
        assert_eq!(bulk_interval_us(80_000.0), 250);
        assert_eq!(bulk_interval_us(150_000.0), BULK_MIN_INTERVAL_US);
    }

    #[test]
    fn rewrites_the_interval_only_when_the_rate_moves_by_a_quarter() {
        let (mut t, mut frames) = (Instant::now(), 0);
        let mut m = Moderation::new(t, frames);
        assert_eq!(feed(&mut m, &mut t, &mut frames, 40_000, 50), [500]);
        assert!(
            feed(&mut m, &mut t, &mut frames, 36_000, 100).is_empty(),
            "556 µs is within a quarter of 500"
        );
        assert_eq!(feed(&mut m, &mut t, &mut frames, 20_000, 50), [1_000]);
        assert_eq!(feed(&mut m, &mut t, &mut frames, 80_000, 50), [250]);
    }
}
