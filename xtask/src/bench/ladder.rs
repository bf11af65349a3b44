//! The offered-rate ladder of the echo benchmark, as pure logic: which rates
//! to offer, when to stop climbing, and what the rungs say.

use super::attribution::CpuShare;
use crate::link::drops::LinkDrops;

/// Offered rates (frames per second), in the order they are tried.
pub const RATES: &[u64] = &[
    1_000, 2_000, 5_000, 10_000, 20_000, 30_000, 40_000, 50_000, 60_000, 70_000, 80_000, 100_000,
    120_000, 160_000, 240_000,
];

/// What one rung of the ladder observed.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Rung {
    /// The rate asked of the host peer.
    pub offered: u64,
    /// The rate the host peer actually sent at.
    pub sent_rate: f64,
    /// Frames sent.
    pub sent: u64,
    /// Frames echoed intact.
    pub echoed: u64,
    /// The rate echoes came back at (echoes over first send → last echo).
    pub echoed_rate: f64,
    /// Every frame came back intact, once, in order.
    pub perfect: bool,
    /// Echoes that came back only after the rung was over (not in `echoed`).
    pub late: u64,
    /// Frames the host kernel dropped at either end of the link.
    pub drops: Option<LinkDrops>,
    /// Where the host's CPU went during the rung.
    pub cpu: Option<CpuShare>,
}

/// How closely echoes must keep pace with the frames sent for a rung to
/// count as carried: a backlog that only drains after the rung (the link
/// sockets have large buffers) is not a rate the path carries.
pub const PACE: f64 = 0.95;

/// Whether the rung was carried: every frame back intact and in order, at
/// (nearly) the rate they were sent.
pub fn carried(r: &Rung) -> bool {
    r.perfect && r.echoed_rate >= PACE * r.sent_rate
}

/// How a progress line flags the rung: `  LOSSY`, `  LATE` or nothing.
pub fn flag(r: &Rung) -> &'static str {
    if !r.perfect {
        "  LOSSY"
    } else if !carried(r) {
        "  LATE"
    } else {
        ""
    }
}

/// Whether the host peer kept up with the offered rate (within 10 %).
pub fn peer_kept_up(r: &Rung) -> bool {
    r.sent_rate >= 0.9 * r.offered as f64
}

/// Whether to offer the next rate after `rungs`: stop once saturated (two
/// rungs in a row not carried, the second bringing back less than 10 % more
/// than the first), or once the host peer could not send at the rate asked.
pub fn keep_climbing(rungs: &[Rung]) -> bool {
    match rungs {
        [] => true,
        [.., a, b] if !carried(a) && !carried(b) && b.echoed_rate < 1.1 * a.echoed_rate => false,
        [.., last] => peer_kept_up(last),
    }
}

/// The highest offered rate such that it and every lower rung were carried
/// (lossless and at pace, and the peer really offered it); `None` if the
/// first rung was not.
pub fn highest_lossless(rungs: &[Rung]) -> Option<u64> {
    rungs
        .iter()
        .take_while(|r| carried(r))
        .filter(|r| peer_kept_up(r))
        .map(|r| r.offered)
        .last()
}

/// The highest rate echoes came back at on any rung (the saturation rate).
pub fn saturation(rungs: &[Rung]) -> f64 {
    rungs.iter().map(|r| r.echoed_rate).fold(0.0, f64::max)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rung(offered: u64, perfect: bool, sent_rate: f64, echoed_rate: f64) -> Rung {
        Rung {
            offered,
            sent_rate,
            perfect,
            echoed_rate,
            ..Rung::default()
        }
    }

    #[test]
    fn climbs_until_saturated() {
        let mut rungs = vec![rung(5_000, true, 5_000.0, 5_000.0)];
        assert!(keep_climbing(&rungs));
        rungs.push(rung(10_000, false, 10_000.0, 9_000.0));
        assert!(keep_climbing(&rungs), "one lossy rung may be noise");
        rungs.push(rung(20_000, true, 20_000.0, 20_000.0));
        assert!(keep_climbing(&rungs));
        rungs.push(rung(40_000, false, 40_000.0, 30_000.0));
        rungs.push(rung(80_000, false, 80_000.0, 40_000.0));
        assert!(
            keep_climbing(&rungs),
            "more offered, more echoed: not saturated"
        );
        rungs.push(rung(120_000, false, 120_000.0, 41_000.0));
        assert!(!keep_climbing(&rungs));
        // Lossless only up to the first loss, even if a later rung was clean.
        assert_eq!(highest_lossless(&rungs), Some(5_000));
        assert_eq!(saturation(&rungs), 41_000.0);
    }

    #[test]
    fn a_backlog_is_not_carried() {
        // Everything came back, but at 80 % of the rate sent: late.
        let late = rung(60_000, true, 60_000.0, 48_000.0);
        assert!(!carried(&late));
        let rungs = vec![rung(50_000, true, 50_000.0, 49_900.0), late];
        assert_eq!(highest_lossless(&rungs), Some(50_000));
    }

    #[test]
    fn stops_at_the_peer_ceiling() {
        let rungs = vec![
            rung(80_000, true, 80_000.0, 80_000.0),
            rung(120_000, true, 95_000.0, 95_000.0),
        ];
        assert!(!keep_climbing(&rungs));
        // 120 k was not really offered: it does not count as lossless at 120 k.
        assert_eq!(highest_lossless(&rungs), Some(80_000));
        assert_eq!(highest_lossless(&[rung(5_000, false, 5e3, 4e3)]), None);
        assert!(keep_climbing(&[]));
    }
}
