//! QEMU's reaction time from its own trace, and the profile of an echo
//! under load.

use super::*;

/// QEMU trace events that time the guest's side of a round trip: the NIC
/// model starts receiving a frame (its receive path, in QEMU's main loop),
/// and a register write (the TX tail among them, from the vCPU). The start,
/// not the model's "written to guest" event: a polling guest sees the
/// descriptor's DD bit, and may answer, before the main loop gets to log
/// that one. QEMU's 82574L and 82576 models have both events (the 82576
/// reuses the 82574L's); its 8254x model has neither.
pub(super) const REACTION_EVENTS: [&str; 2] = ["e1000e_rx_receive_iov", "e1000e_core_write"];

/// Queue 0's TX tail register on `model`, where the reaction ends, and
/// the distance to the next queue's (the kernel's drivers send on several).
pub(super) fn tx_tail(model: &str) -> Option<TxTails> {
    match model {
        "e1000e" => Some(TxTails {
            queue0: 0x3818,
            stride: 0x100,
        }),
        "igb" => Some(TxTails {
            queue0: 0xE018,
            stride: 0x40,
        }),
        _ => None,
    }
}

/// The TX tail registers of a NIC's queues.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TxTails {
    /// Queue 0's.
    pub queue0: u32,
    /// From one queue's to the next.
    pub stride: u32,
}

impl TxTails {
    /// Queues looked at: the 82574L has 2, the 82576 16, the kernel's
    /// drivers in a 2-vCPU guest use 2.
    const QUEUES: u32 = 4;

    /// Whether a trace line's `register 0x..., ` names one of them.
    fn named_in(&self, event: &str) -> bool {
        let Some(hex) = event
            .split_once("register 0x")
            .and_then(|(_, rest)| rest.split_once(','))
            .map(|(hex, _)| hex)
        else {
            return false;
        };
        u32::from_str_radix(hex, 16).is_ok_and(|r| {
            r >= self.queue0
                && (r - self.queue0).is_multiple_of(self.stride)
                && (r - self.queue0) / self.stride < Self::QUEUES
        })
    }
}

/// The guest's reaction in ping-pong, µs at p50: from QEMU's NIC model
/// starting to receive a frame to the guest's next write of the TX tail,
/// over `count` round trips traced for this alone (tracing costs QEMU a
/// little, so the timed ping-pong runs untraced). It is the echo path's own
/// latency (noticing the frame, building the reply, telling the NIC) plus
/// the model's receive path, the same for every driver, and without the
/// link. `None` where the model has no such events or the guest no trace
/// file.
pub fn reaction(g: &Guest, nic: &Nic, count: usize) -> Result<Option<f64>> {
    let peer = Peer::with_socket(nic.socket.try_clone()?, nic.mac);
    let ((), found) = traced(g, &nic.model, || {
        peer.ping_pong(count, small_frames(), Duration::from_secs(1))?;
        Ok(())
    })?;
    let r = reaction_p50(&found);
    if let Some(us) = r {
        println!("      reaction (NIC model receives → TX tail write): p50 {us:.1} µs");
    }
    Ok(r)
}

/// The p50 of `found`'s reactions, µs.
pub fn reaction_p50(found: &[Reaction]) -> Option<f64> {
    median(&mut found.iter().map(|r| r.us).collect::<Vec<_>>())
}

/// One frame's reaction in a QEMU trace: from the NIC model starting to
/// receive it to the next TX tail write.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Reaction {
    /// The reaction, µs.
    pub us: f64,
    /// How long no frame had been received before this one, µs (infinite
    /// for the first of the trace).
    pub quiet_us: f64,
}

/// Every reaction of `trace`, in order: the gap from each "receive" line
/// to the first write of a TX tail register (`tail`) after it, when no
/// other frame came in between. Lines look like
/// `123@1796070364.029515:e1000e_core_write Write to register 0x3818, ...`.
pub fn reactions(trace: &str, tail: TxTails) -> Vec<Reaction> {
    // The frame waiting for its tail write, and when the one before came.
    let mut received: Option<Reaction> = None;
    let mut last_receive: Option<f64> = None;
    let mut out = Vec::new();
    for line in trace.lines() {
        let Some((time, event)) = line
            .split_once('@')
            .and_then(|(_, rest)| rest.split_once(':'))
        else {
            continue;
        };
        let Ok(t) = time.parse::<f64>() else {
            continue;
        };
        if event.starts_with("e1000e_rx_receive_iov") {
            let quiet_us = last_receive.map_or(f64::INFINITY, |l| (t - l) * 1e6);
            last_receive = Some(t);
            received = Some(Reaction { us: t, quiet_us });
        } else if event.starts_with("e1000e_core_write") && tail.named_in(event) {
            if let Some(r) = received.take() {
                out.push(Reaction {
                    us: (t - r.us) * 1e6,
                    quiet_us: r.quiet_us,
                });
            }
        }
    }
    out
}

/// Runs `traffic` with QEMU's [`REACTION_EVENTS`] traced and returns its
/// result with the reactions it caused, where `model` has the events and
/// `g` a trace file (else none).
pub fn traced<T>(
    g: &Guest,
    model: &str,
    traffic: impl FnOnce() -> Result<T>,
) -> Result<(T, Vec<Reaction>)> {
    let (Some(tail), Some(path)) = (tx_tail(model), g.trace_path()) else {
        return Ok((traffic()?, Vec::new()));
    };
    let start = std::fs::metadata(path)?.len();
    g.trace_events(&REACTION_EVENTS, true)?;
    let result = traffic();
    g.trace_events(&REACTION_EVENTS, false)?;
    let result = result?;
    let mut text = String::new();
    {
        use std::io::{Read, Seek, SeekFrom};
        let mut f = std::fs::File::open(path)?;
        f.seek(SeekFrom::Start(start))?;
        f.read_to_string(&mut text)?;
    }
    Ok((result, reactions(&text, tail)))
}

/// `testpmd`, or `e1000 echo --irq MODE`.
pub(super) fn path_label(mode: &str) -> String {
    if mode == "testpmd" {
        "dpdk-testpmd macswap".into()
    } else {
        format!("e1000 echo --irq {mode}")
    }
}

/// A profile of QEMU while `e1000 echo --irq {mode}` is saturated: the
/// host peer offers `rate` frames/s for a few seconds and `perf` records
/// QEMU's threads over the middle of it. The echoed rate under the
/// profiler (which itself takes CPU) turns shares into time per frame.
pub fn profile_echo(g: &Guest, nic: &Nic, mode: &str, rate: u64) -> Result<Profile> {
    let cmd = format!("e1000 echo {} --irq {mode} --quiet", nic.pci);
    let (mut p, _) = with_echo_job(g, &cmd, Ready::Line("echo: ready"), "e1000", || {
        let pid = g.pid();
        let recording = thread::spawn(move || {
            thread::sleep(Duration::from_secs(1));
            profile::record(pid, Duration::from_secs(2), &std::env::temp_dir())
        });
        let peer = Peer::with_socket(nic.socket.try_clone()?, nic.mac);
        let s = peer.flood(
            rate as usize * 4,
            small_frames(),
            Some(rate),
            Duration::from_secs(1),
        )?;
        let mut p = recording
            .join()
            .map_err(|_| Error::msg("the perf thread panicked"))??;
        wait_drained(&nic.socket, Duration::from_secs(5));
        count_late(&nic.socket);
        let span = s.last_echo.unwrap_or(s.elapsed).as_secs_f64().max(1e-6);
        p.echoed_rate = s.echoed as f64 / span;
        Ok(p)
    })?;
    p.during = format!("`e1000 echo --irq {mode}`, {} frames/s offered", rate);
    println!(
        "      profiled at {rate} fps offered, {:.0} fps echoed: vCPU {} samples, main loop {}",
        p.echoed_rate,
        p.vcpu.samples(),
        p.main_loop.samples()
    );
    Ok(p)
}
