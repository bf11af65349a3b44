//! Adaptive interrupt moderation: the interval between interrupts follows
//! the load, in two levels like ixy's interrupt/poll switch and Linux's
//! "dynamic conservative" ITR. While a queue receives few frames, every
//! frame interrupts at once (lowest latency; QEMU's 8254x and 82574L models
//! still enforce their 128 µs minimum); once it receives many, interrupts
//! come at most every [`BULK_INTERVAL_US`], so each carries a batch and the
//! CPU cost per frame falls. Pure logic: the queue writes the register.

use std::time::{Duration, Instant};

/// How often the receive rate is measured.
pub(crate) const WINDOW: Duration = Duration::from_millis(10);
/// Above this many frames per second a queue is under load.
pub(crate) const BULK_ABOVE_FPS: u64 = 10_000;
/// Below this many it is back to latency (the gap avoids flapping).
pub(crate) const LATENCY_BELOW_FPS: u64 = 8_000;
/// The interval under load: at most 4,000 interrupts per second (Linux's
/// "bulk latency" setting).
pub(crate) const BULK_INTERVAL_US: u32 = 250;

/// One queue's adaptive state.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Moderation {
    bulk: bool,
    since: Instant,
    frames_then: u64,
}

impl Moderation {
    /// Starts in the latency level (interval 0) at `now`, having received `frames`.
    pub(crate) fn new(now: Instant, frames: u64) -> Moderation {
        Moderation {
            bulk: false,
            since: now,
            frames_then: frames,
        }
    }

    /// Looks at the receive rate once a [`WINDOW`] has passed since the
    /// last look (`frames`: received so far); returns the new interval in
    /// µs when the level changes.
    #[inline]
    pub(crate) fn update(&mut self, now: Instant, frames: u64) -> Option<u32> {
        let elapsed = now.saturating_duration_since(self.since);
        if elapsed < WINDOW {
            return None;
        }
        let fps = (frames - self.frames_then) as f64 / elapsed.as_secs_f64();
        self.since = now;
        self.frames_then = frames;
        let bulk = if self.bulk {
            fps >= LATENCY_BELOW_FPS as f64
        } else {
            fps > BULK_ABOVE_FPS as f64
        };
        if bulk == self.bulk {
            return None;
        }
        self.bulk = bulk;
        Some(if bulk { BULK_INTERVAL_US } else { 0 })
    }
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
        assert_eq!(
            feed(&mut m, &mut t, &mut frames, 50_000, 100),
            [BULK_INTERVAL_US]
        );
        assert!(
            feed(&mut m, &mut t, &mut frames, 9_000, 100).is_empty(),
            "between the thresholds: no flapping"
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
        assert_eq!(m.update(t + WINDOW, 1_000_000), Some(BULK_INTERVAL_US));
    }
}
