//! Header split on the 82576, measured: `e1000 echo --irq poll` with and
//! without `--header-split`, on IPv4/UDP frames (which the NIC splits)
//! of the smallest and the largest standard size.

use super::*;
use crate::link::frame::FrameKind;

/// The frame sizes measured (without FCS): the smallest, 42 bytes of
/// headers and 18 of payload, and the largest standard frame.
pub const SPLIT_SIZES: [usize; 2] = [60, 1514];

/// IPv4/UDP frames of `size` bytes (one of [`SPLIT_SIZES`]).
fn udp_frames(size: usize) -> TrafficSpec {
    TrafficSpec {
        kind: FrameKind::Udp,
        size: if size == SPLIT_SIZES[0] {
            |_| SPLIT_SIZES[0]
        } else {
            |_| SPLIT_SIZES[1]
        },
    }
}

/// One run of `e1000 echo` with or without header split.
#[derive(Clone, Debug, Default)]
pub struct SplitRun {
    /// Frame size without FCS.
    pub size: usize,
    /// `--header-split` on.
    pub split: bool,
    /// The highest lossless offered rate of the ladder.
    pub lossless: Option<u64>,
    /// Ping-pong round trips.
    pub ping: Option<Ping>,
}

/// `e1000 echo --irq poll [--header-split]` on `nic`: the ladder, then
/// ping-pong, both with IPv4/UDP frames of `size` bytes.
pub fn echo_split(
    g: &Guest,
    nic: &Nic,
    split: bool,
    size: usize,
    effort: Effort,
) -> Result<SplitRun> {
    let cmd = format!(
        "e1000 echo {} --irq poll{} --quiet",
        nic.pci,
        if split { " --header-split" } else { "" }
    );
    let spec = udp_frames(size);
    let ((rungs, ping), _) = with_echo_job(g, &cmd, Ready::Line("echo: ready"), "e1000", || {
        let rungs = ladder(&nic.socket, nic.mac, effort, None, spec)?;
        thread::sleep(Duration::from_millis(300));
        Ok((rungs, ping(&nic.socket, nic.mac, effort.pings(), spec)?))
    })?;
    Ok(SplitRun {
        size,
        split,
        lossless: ladder::highest_lossless(&rungs),
        ping: Some(ping),
    })
}
