//! End-to-end scenarios of the hardware features and the recovery paths that
//! need the `e1000` command's newer options: the TX watchdog (through the
//! fault-injection hook), jumbo frames, and the receive address filters.

use super::common::{cpu_ticks, vfio_interrupts};
use super::suite::Suite;
use crate::error::Result;
use crate::link::frame::{Mac, ETHERTYPE_TEST};
use crate::link::peer::{Peer, TrafficSpec};
use crate::vm::guest::Guest;
use crate::{bail, ensure};
use std::time::Duration;

/// Adds this module's scenarios to a model's suite.
pub fn add(s: Suite, model: &'static str) -> Suite {
    let name = |what: &str| format!("{model}::{what}");
    let s = s
        .test(name("tx_hang_detected_and_queue_recovers"), tx_hang)
        .test(name("jumbo_frames_echo_at_mtu_9000"), jumbo)
        .test(name("jumbo_frames_sent_at_mtu_9000"), jumbo_send)
        .test(name("address_filters_decide_what_is_received"), filters)
        .test(
            name("adaptive_irq_fewer_interrupts_under_load_none_idle"),
            adaptive_irq,
        )
        .test(
            name("busy_poll_masks_the_interrupts_it_would_not_sleep_for"),
            busy_poll_masks,
        );
    if model == "e1000e" {
        // The command's wait, the same for every model.
        s.test(
            name("sigint_while_waiting_for_link_stops_at_once"),
            sigint_during_link_wait,
        )
    } else {
        s
    }
}

/// With the link down, `e1000 echo` waits for it (here up to 30 s); SIGINT
/// must end that wait at once, with the NIC released (the next run works).
fn sigint_during_link_wait(g: &mut Guest) -> Result<()> {
    let nic = g.nic(0);
    g.set_link(0, false)?;
    let result = (|| -> Result<()> {
        let job = g.spawn(&format!("e1000 echo {} --link-timeout 30000", nic.pci))?;
        std::thread::sleep(Duration::from_secs(2));
        let sent = std::time::Instant::now();
        g.run_ok("killall -INT e1000", Duration::from_secs(10))?;
        let r = job.wait(Duration::from_secs(10))?;
        let took = sent.elapsed();
        ensure!(
            r.status == 1
                && r.output()
                    .contains("interrupted while waiting for the link"),
            "echo exited {} after SIGINT:\n{}",
            r.status,
            r.output()
        );
        ensure!(
            took < Duration::from_secs(3),
            "SIGINT took {took:?} to end the wait"
        );
        println!("    SIGINT ended the link wait in {took:.2?}");
        Ok(())
    })();
    g.set_link(0, true)?;
    result?;
    let r = g.run(
        &format!("e1000 echo {} --count 0 --timeout 0.5", nic.pci),
        Duration::from_secs(30),
    )?;
    ensure!(r.status == 0, "the next run failed:\n{}", r.output());
    Ok(())
}

/// A frame of `len` bytes from the host to `dst`: the test EtherType and a
/// payload that differs per `seq`.
fn frame(dst: [u8; 6], seq: u32, len: usize) -> Vec<u8> {
    let mut f = vec![0u8; len];
    f[..6].copy_from_slice(&dst);
    f[6..12].copy_from_slice(&Mac::HOST.0);
    f[12..14].copy_from_slice(&ETHERTYPE_TEST.to_be_bytes());
    for (i, b) in f.iter_mut().enumerate().skip(14) {
        *b = (i as u32).wrapping_mul(31).wrapping_add(seq) as u8;
    }
    f
}

/// Sends `f` and waits up to `timeout` for its echo (dst and src swapped,
/// src = `src`, the rest unchanged). `Ok(false)` if none came.
fn echoed(peer: &Peer, f: &[u8], src: [u8; 6], timeout: Duration) -> Result<bool> {
    peer.send(f)?;
    let deadline = std::time::Instant::now() + timeout;
    while let Some(left) = deadline.checked_duration_since(std::time::Instant::now()) {
        let Some(got) = peer.recv(left)? else {
            return Ok(false);
        };
        if got.len() == f.len() && got[14..] == f[14..] {
            ensure!(
                got[..6] == Mac::HOST.0 && got[6..12] == src,
                "echo with addresses {:02x?} {:02x?}",
                &got[..6],
                &got[6..12]
            );
            return Ok(true);
        }
    }
    Ok(false)
}

/// The TX watchdog end to end: `e1000 echo` stops the NIC's transmitter
/// after 100 echoes (the fault-injection hook turns the queue's transmit
/// enable off, as a hung NIC would). Frames then pile up in the TX ring; the
/// watchdog sees no completion for a second with the link up, resets the
/// queue, and the echo carries on: a ping-pong afterwards is perfect and the
/// summary reports the hang once.
fn tx_hang(g: &mut Guest) -> Result<()> {
    let nic = g.nic(0);
    let peer = Peer::new(nic)?;
    let mut job = g.spawn(&format!(
        "e1000 echo {} --inject-tx-stall-after 100 --timeout 90 --quiet",
        nic.pci
    ))?;
    job.wait_line(|l| l.contains("echo: ready"), Duration::from_secs(30))?;
    let before = peer.ping_pong(100, TrafficSpec::default(), Duration::from_secs(3))?;
    // Enough frames to fill the 512-descriptor ring behind the stall, then
    // time for the watchdog (1 s) to act.
    let stalled = peer.flood(
        1500,
        TrafficSpec::default(),
        Some(1000),
        Duration::from_secs(2),
    )?;
    std::thread::sleep(Duration::from_secs(2));
    peer.drain()?;
    let after = peer.ping_pong(50, TrafficSpec::default(), Duration::from_secs(3))?;
    g.run_ok("killall -INT e1000", Duration::from_secs(10))?;
    let r = job.wait(Duration::from_secs(30))?;
    let out = r.output();
    ensure!(
        before.is_perfect() && after.is_perfect() && r.status == 0,
        "before the stall: {before}\nafter the recovery: {after}\n{out}"
    );
    ensure!(
        out.contains("transmit hang") && out.contains("reset 1 time(s)"),
        "no transmit hang reported once:\n{out}"
    );
    ensure!(
        stalled.lost > 0,
        "no frame was held by the stalled transmitter? {stalled}"
    );
    // Every frame the driver queued was either sent by the NIC or counted
    // as lost to the reset (the ring a stalled queue held).
    let number = |prefix: &str| -> Option<u64> {
        out.lines()
            .find_map(|l| l.trim().strip_prefix(prefix))
            .and_then(|t| t.trim().split(' ').next())
            .and_then(|n| n.parse().ok())
    };
    let queued = out
        .lines()
        .find_map(|l| {
            l.split(", tx ")
                .nth(1)
                .filter(|_| l.contains("echo: summary:"))
        })
        .and_then(|t| t.split(' ').next())
        .and_then(|n| n.parse::<u64>().ok());
    let (sent, reset_dropped) = (number("tx_packets:"), number("tx_reset_dropped:"));
    ensure!(
        matches!((queued, sent, reset_dropped), (Some(q), Some(s), Some(d)) if q == s + d && d > 0),
        "queued {queued:?} != sent {sent:?} + lost to the reset {reset_dropped:?}:\n{out}"
    );
    println!(
        "    during the stall: {stalled}\n    after the recovery: {after}\n    queued {} = sent {} + lost to the reset {}",
        queued.unwrap_or(0),
        sent.unwrap_or(0),
        reset_dropped.unwrap_or(0)
    );
    Ok(())
}

/// `e1000 send --mtu 9000 --size 9014`: 9014-byte frames leave whole, to
/// the default destination (a locally administered unicast address); a
/// size over what the MTU allows is a usage error (exit 2).
fn jumbo_send(g: &mut Guest) -> Result<()> {
    const N: u64 = 20;
    let nic = g.nic(0);
    let peer = Peer::new(nic)?;
    peer.drain()?;
    let r = g.run(
        &format!(
            "e1000 send {} --mtu 9000 --size 9014 -c {N} --quiet",
            nic.pci
        ),
        Duration::from_secs(60),
    )?;
    ensure!(r.status == 0, "send --size 9014 failed:\n{}", r.output());
    let got = super::common::receive_sent(&peer, N, |seq, f| {
        ensure!(
            f.len() == 9014,
            "frame {seq} is {} bytes, not 9014",
            f.len()
        );
        ensure!(
            f[0..6] == [2, 0, 0, 0, 0, 1],
            "frame {seq} to {:02x?}",
            &f[0..6]
        );
        Ok(())
    })?;
    ensure!(got == N, "{got} of {N} jumbo frames arrived");
    let r = g.run(
        &format!("e1000 send {} --size 1515 -c 1", nic.pci),
        Duration::from_secs(30),
    )?;
    ensure!(
        r.status == 2 && r.output().contains("raise --mtu"),
        "--size 1515 at the standard MTU: exit {}:\n{}",
        r.status,
        r.output()
    );
    Ok(())
}

/// `e1000 echo --mtu 9000`: 9014-byte frames (and every size between) come
/// back byte for byte, each one descriptor and one packet.
fn jumbo(g: &mut Guest) -> Result<()> {
    let nic = g.nic(0);
    let peer = Peer::new(nic)?;
    let mut job = g.spawn(&format!(
        "e1000 echo {} --mtu 9000 --timeout 60 --quiet",
        nic.pci
    ))?;
    job.wait_line(|l| l.contains("echo: ready"), Duration::from_secs(30))?;
    let sizes = [9014usize, 60, 1514, 1515, 4000, 8192, 9014];
    let mut missing = Vec::new();
    for (seq, &len) in (0u32..).zip(sizes.iter().cycle().take(3 * sizes.len())) {
        if !echoed(
            &peer,
            &frame(nic.mac.0, seq, len),
            nic.mac.0,
            Duration::from_secs(3),
        )? {
            missing.push(len);
        }
    }
    g.run_ok("killall -INT e1000", Duration::from_secs(10))?;
    let r = job.wait(Duration::from_secs(30))?;
    ensure!(
        missing.is_empty() && r.status == 0,
        "jumbo echo: no echo for frames of {missing:?} bytes\n{}",
        r.output()
    );
    println!(
        "    {} frames of 60 to 9014 bytes echoed intact",
        3 * sizes.len()
    );
    Ok(())
}

/// A destination address and whether the NIC should accept it.
type Case = ([u8; 6], bool);

/// Promiscuous off: frames to our address, broadcast and an added unicast
/// address and multicast group are echoed; a foreign unicast address and
/// another group are not. With `--mac`, the new address is ours and the
/// NIC's own is foreign.
fn filters(g: &mut Guest) -> Result<()> {
    let nic = g.nic(0);
    let peer = Peer::new(nic)?;
    let own = nic.mac.0;
    let extra = [0x02, 0, 0, 0, 0x10, 0x01];
    let group = [0x01, 0x00, 0x5e, 0x00, 0x00, 0xfb];
    let foreign = [0x02, 0, 0, 0, 0x10, 0x99];
    let other_group = [0x01, 0x00, 0x5e, 0x00, 0x00, 0x01];
    let mac_str = |m: [u8; 6]| {
        m.iter()
            .map(|b| format!("{b:02x}"))
            .collect::<Vec<_>>()
            .join(":")
    };
    let runs: [(String, [u8; 6], Vec<Case>); 2] = [
        (
            format!(
                "--no-promisc --unicast {} --multicast {}",
                mac_str(extra),
                mac_str(group)
            ),
            own,
            vec![
                (own, true),
                ([0xff; 6], true),
                (extra, true),
                (group, true),
                (foreign, false),
                (other_group, false),
            ],
        ),
        (
            format!("--no-promisc --mac {}", mac_str(extra)),
            extra,
            vec![(extra, true), (own, false), ([0xff; 6], true)],
        ),
    ];
    for (options, src, cases) in runs {
        let mut job = g.spawn(&format!(
            "e1000 echo {} {options} --timeout 60 --quiet",
            nic.pci
        ))?;
        job.wait_line(|l| l.contains("echo: ready"), Duration::from_secs(30))?;
        // The 8254x models hold reception for a second after RCTL is written.
        let warm = frame(src, 999, 60);
        let mut up = false;
        for _ in 0..5 {
            if echoed(&peer, &warm, src, Duration::from_millis(800))? {
                up = true;
                break;
            }
        }
        let mut wrong = Vec::new();
        for (seq, (dst, accepted)) in (0u32..).zip(&cases) {
            let wait = Duration::from_millis(if *accepted { 2000 } else { 500 });
            if echoed(&peer, &frame(*dst, seq, 100), src, wait)? != *accepted {
                wrong.push((mac_str(*dst), *accepted));
            }
        }
        g.run_ok("killall -INT e1000", Duration::from_secs(10))?;
        let r = job.wait(Duration::from_secs(30))?;
        if !up || !wrong.is_empty() || r.status != 0 {
            bail!(
                "echo {options}: echoing at all: {up}; destinations not handled as expected (address, should be accepted): {wrong:?}\n{}",
                r.output()
            );
        }
        println!(
            "    {options}: {} destinations accepted or dropped as configured",
            cases.len()
        );
    }
    Ok(())
}

/// `--busy-poll 30ms` in each interrupt mode, host frames one at a time
/// (each sent when the last came back, well within 30 ms): the queue's RX
/// interrupt is masked while the thread spins, so the frames come back with
/// almost no interrupt. Unmasked, every frame raised one in MSI and MSI-X
/// mode (208 and 212 for 300 frames on `igb` and `e1000e`), and each cost
/// the spinning vCPU an interrupt handler: about 0.3 ms more per ping
/// through `forward` in the stacks bench. (INTx needs no mask: VFIO keeps
/// the line masked from an interrupt until the driver unmasks it after its
/// next sleep; the check there is that nothing unmasks it while spinning.)
/// Then 2 s without a frame cost no CPU beyond the one spin after the last:
/// every wait that timed out used to spin 30 ms again first (23 % of a CPU).
fn busy_poll_masks(g: &mut Guest) -> Result<()> {
    const FRAMES: usize = 300;
    let nic = g.nic(0);
    let pci = nic.pci.clone();
    let peer = Peer::new(nic)?;
    for mode in crate::vm::models::irq_modes(&nic.model) {
        if *mode == "poll" {
            continue;
        }
        // The MAC the host addresses (an earlier scenario may have left
        // another in the 8254x models' receive address register).
        let mut job = g.spawn(&format!(
            "e1000 echo {pci} --mac {} --irq {mode} --busy-poll 30ms --timeout 120 --quiet",
            nic.mac
        ))?;
        job.wait_line(|l| l.contains("echo: ready"), Duration::from_secs(30))?;
        std::thread::sleep(Duration::from_millis(1500)); // the 8254x's RCTL hold
        let before = vfio_interrupts(g, &pci)?;
        let pongs = peer.ping_pong(FRAMES, TrafficSpec::default(), Duration::from_secs(1))?;
        let irqs = vfio_interrupts(g, &pci)? - before;
        // Idle, it spins once more after the last frame, then sleeps: its
        // waits that time out go back to sleep without spinning again.
        let idle_from = cpu_ticks(g)?;
        std::thread::sleep(Duration::from_secs(2));
        let idle_ms = (cpu_ticks(g)? - idle_from) * 10;
        g.run_ok("killall -INT e1000", Duration::from_secs(10))?;
        job.wait(Duration::from_secs(30))?;
        println!(
            "    {mode}: {} of {FRAMES} frames back with {irqs} interrupts; idle 2 s: {idle_ms} ms of CPU",
            pongs.echoed
        );
        ensure!(
            idle_ms <= 100,
            "{mode}: echo --busy-poll 30ms took {idle_ms} ms of CPU in 2 s without a frame"
        );
        ensure!(
            pongs.echoed == FRAMES as u64,
            "{mode}: {} of {FRAMES} frames came back ({} lost, {} mismatched)",
            pongs.echoed,
            pongs.lost,
            pongs.mismatched
        );
        ensure!(
            irqs * 10 < FRAMES as u64,
            "{mode}: {irqs} interrupts for {FRAMES} frames that arrived while the queue busy-polled"
        );
    }
    Ok(())
}

/// Interrupts per second and the flood's summary while the host offers
/// `rate` frames/s for `secs` to `e1000 echo OPTIONS` in pure interrupt
/// mode (the best one the model has, no busy-polling).
fn interrupts_under(
    g: &mut Guest,
    options: &str,
    rate: u64,
    secs: f64,
) -> Result<(f64, crate::link::peer::EchoSummary)> {
    let nic = g.nic(0);
    let pci = nic.pci.clone();
    let peer = Peer::new(nic)?;
    let mode = crate::vm::models::irq_modes(&nic.model)
        .last()
        .copied()
        .unwrap_or("intx");
    let mut job = g.spawn(&format!(
        "e1000 echo {pci} --irq {mode} --busy-poll 0 {options} --timeout 120 --quiet"
    ))?;
    job.wait_line(|l| l.contains("echo: ready"), Duration::from_secs(30))?;
    std::thread::sleep(Duration::from_millis(1500)); // the 8254x's RCTL hold
    let before = vfio_interrupts(g, &pci)?;
    let start = std::time::Instant::now();
    let count = (rate as f64 * secs) as usize;
    let flood = peer.flood(
        count,
        TrafficSpec::default(),
        Some(rate),
        Duration::from_secs(1),
    )?;
    let irqs = vfio_interrupts(g, &pci)? - before;
    let took = start.elapsed().as_secs_f64();
    g.run_ok("killall -INT e1000", Duration::from_secs(10))?;
    job.wait(Duration::from_secs(30))?;
    Ok((irqs as f64 / took, flood))
}

/// `--adaptive-irq`: under a 20,000 frames/s flood the interval grows to
/// the time 20 frames take (1 ms at that rate), so the echo takes about
/// 1,000 interrupts/s (neither far more nor far fewer), markedly fewer than with the fixed 128 µs (and loses
/// nothing more); at 200 frames/s every frame interrupts at once.
fn adaptive_irq(g: &mut Guest) -> Result<()> {
    let (fixed, fixed_flood) = interrupts_under(g, "", 20_000, 3.0)?;
    let (adaptive, adaptive_flood) = interrupts_under(g, "--adaptive-irq", 20_000, 3.0)?;
    let (idle, idle_flood) = interrupts_under(g, "--adaptive-irq", 200, 3.0)?;
    println!(
        "    20,000 frames/s: {fixed:.0} interrupts/s fixed 128 µs ({} lost), {adaptive:.0} adaptive ({} lost); 200 frames/s adaptive: {idle:.0} interrupts/s",
        fixed_flood.lost, adaptive_flood.lost
    );
    // 1 ms allows 1,000 interrupts/s; the rate measured over 10 ms windows
    // jitters, and a window that sees 25,000 frames/s shortens the interval
    // to 800 µs for a while, hence the margin. The 128 µs interval lets
    // 2,000 to 7,000 through (the 8254x models' INTx handling keeps it low).
    ensure!(
        adaptive < 1_000.0 * 1.6,
        "adaptive moderation took {adaptive:.0} interrupts/s under load: over the 1 ms interval's 1,000"
    );
    // And not far under: an interval the device reads as several times
    // longer than asked (QEMU's 82576 model read the datasheet's EITR
    // encoding as about 4 ms: 306 interrupts/s) would let frames wait that
    // long. The driver caps the rate too: after each interrupt it busy-polls
    // the ring, so on a slow host or with INTx (the 8254x models) it takes
    // fewer interrupts than 1,000/s under any interval. The fixed 128 µs run
    // shows that cap, and the bound follows whichever is lower.
    let expected = fixed.min(1_000.0);
    let mut adaptive = adaptive;
    if adaptive <= 0.4 * expected {
        // A slow moment of the shared host (seen once: 399/s on an 8254x
        // model, where 380-945 is usual) looks the same for one run; a
        // device that waits too long does so every time.
        let (again, _) = interrupts_under(g, "--adaptive-irq", 20_000, 3.0)?;
        println!("    adaptive once more: {again:.0} interrupts/s");
        adaptive = adaptive.max(again);
    }
    ensure!(
        adaptive > 0.4 * expected,
        "adaptive moderation took only {adaptive:.0} interrupts/s under load, under 40 % of {expected:.0} \
         (the 1 ms interval, or the fixed run's rate if lower): the device waits longer than the interval"
    );
    if fixed > 2_000.0 {
        ensure!(
            adaptive < 0.7 * fixed,
            "adaptive moderation took {adaptive:.0} interrupts/s under load, fixed {fixed:.0}"
        );
    }
    ensure!(
        adaptive_flood.lost <= fixed_flood.lost + fixed_flood.sent / 100,
        "adaptive lost {} frames, fixed {}",
        adaptive_flood.lost,
        fixed_flood.lost
    );
    ensure!(
        idle > 150.0 && idle_flood.lost == 0,
        "at 200 frames/s every frame should interrupt: {idle:.0}/s, {idle_flood}"
    );
    Ok(())
}
