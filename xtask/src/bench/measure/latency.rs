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

/// Queue 0's TX tail register on `model`, where the reaction ends.
pub(super) fn tx_tail(model: &str) -> Option<u32> {
    match model {
        "e1000e" => Some(0x3818),
        "igb" => Some(0xE018),
        _ => None,
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
    let (Some(tail), Some(path)) = (tx_tail(&nic.model), g.trace_path()) else {
        return Ok(None);
    };
    let start = std::fs::metadata(path)?.len();
    g.trace_events(&REACTION_EVENTS, true)?;
    let peer = Peer::with_socket(nic.socket.try_clone()?, nic.mac);
    let pinged = peer.ping_pong(count, small_frames(), Duration::from_secs(1));
    g.trace_events(&REACTION_EVENTS, false)?;
    pinged?;
    let mut text = String::new();
    {
        use std::io::{Read, Seek, SeekFrom};
        let mut f = std::fs::File::open(path)?;
        f.seek(SeekFrom::Start(start))?;
        f.read_to_string(&mut text)?;
    }
    let r = reaction_p50(&text, tail);
    if let Some(us) = r {
        println!("      reaction (NIC model receives → TX tail write): p50 {us:.1} µs");
    }
    Ok(r)
}

/// The p50 of the gaps (µs) from each "receive" line of `trace` to the
/// first write of register `tail` after it, when no other frame came in
/// between. Lines look like
/// `123@1796070364.029515:e1000e_core_write Write to register 0x3818, ...`.
pub fn reaction_p50(trace: &str, tail: u32) -> Option<f64> {
    let tail = format!("register {tail:#x},");
    let mut received: Option<f64> = None;
    let mut gaps = Vec::new();
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
            received = Some(t);
        } else if event.starts_with("e1000e_core_write") && event.contains(&tail) {
            if let Some(r) = received.take() {
                gaps.push((t - r) * 1e6);
            }
        }
    }
    median(&mut gaps)
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
