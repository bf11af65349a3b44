//! The library's examples, run as a user would run them: echo, pktgen,
//! pcap, the smoltcp UDP server, forward between two NICs, and closing and
//! reopening a NIC in one process.

use super::common::{base64_decode, no_dmar_faults, parse_pcap};
use super::driver::echo;
use super::suite::Suite;
use crate::ensure;
use crate::error::Result;
use crate::link::frame::{Mac, ETHERTYPE_ARP, MIN_FRAME};
use crate::link::peer::{Peer, TrafficSpec};
use crate::vm::guest::Guest;
use crate::vm::job::Output;
use crate::vm::models::irq_modes;
use e1000_wire::{write_ipv4_udp, Ipv4Udp, UDP_PAYLOAD};
use std::time::{Duration, Instant};

/// Adds the examples that need one NIC for `model` to `s`.
pub fn add(s: Suite, model: &'static str) -> Suite {
    let name = |what: &str| format!("{model}::{what}");
    s.test(name("reopen_while_old_packets_live"), reopen)
        .test(
            name("echo_example_prints_stats_and_stops_on_sigint"),
            echo_example,
        )
        .test(name("pktgen_example_sends_its_count"), pktgen_example)
        .test(name("pcap_example_writes_what_arrived"), pcap_example)
        .test(
            name("udp_responder_example_answers_arp_and_udp"),
            udp_responder_example,
        )
}

/// The library's `reopen` example: close and reopen the NIC in one process
/// with packets outliving it and the other way round; old packets refused,
/// nothing left pinned; then `e1000 echo` still works and the kernel logged
/// no DMA fault.
fn reopen(g: &mut Guest) -> Result<()> {
    let nic = g.nic(0);
    let r = g.run(&format!("reopen {}", nic.pci), Duration::from_secs(60))?;
    let out = r.output();
    ensure!(
        r.status == 0 && out.contains("reopen: ok") && !out.contains("leaking"),
        "reopen failed:\n{out}"
    );
    echo(g, "poll")?;
    no_dmar_faults(g)
}

/// The library's `echo` example (`example-echo` in the guest): a ping-pong
/// and a flood come back intact, a stats line appears every second, and
/// SIGINT ends it cleanly (exit 0, its last line, no DMA fault).
fn echo_example(g: &mut Guest) -> Result<()> {
    let nic = g.nic(0);
    let peer = Peer::new(nic)?;
    let mut job = g.spawn(&format!("example-echo {}", nic.pci))?;
    job.wait_line(|l| l.contains(": link up"), Duration::from_secs(30))?;
    if !irq_modes(&nic.model).contains(&"msi") {
        // The 8254x model holds reception for a second after RCTL is written.
        std::thread::sleep(Duration::from_millis(1500));
    }
    let ping = peer.ping_pong(100, TrafficSpec::default(), Duration::from_secs(2))?;
    let flood = peer.flood(
        1000,
        TrafficSpec::default(),
        Some(5_000),
        Duration::from_secs(3),
    )?;
    std::thread::sleep(Duration::from_millis(1200)); // a stats line at least
    g.run_ok("killall -INT example-echo", Duration::from_secs(10))?;
    let r = job.wait(Duration::from_secs(30))?;
    let out = r.output();
    ensure!(
        ping.is_perfect() && flood.is_perfect() && r.status == 0,
        "example-echo: ping-pong {ping}, flood {flood}:\n{out}"
    );
    ensure!(
        out.lines().any(|l| l.starts_with("echo: rx "))
            && out.contains("echo: stopped; in all: rx "),
        "example-echo printed no stats line or no final line:\n{out}"
    );
    no_dmar_faults(g)
}

/// The library's `pktgen` example (`example-pktgen` in the guest): the
/// host receives exactly the frames it says it sent, each from the NIC's
/// MAC with the local experimental EtherType and its sequence number.
fn pktgen_example(g: &mut Guest) -> Result<()> {
    const FRAMES: u64 = 2000;
    let nic = g.nic(0);
    let peer = Peer::new(nic)?;
    peer.drain()?;
    let r = g.run(
        &format!("example-pktgen {} {FRAMES}", nic.pci),
        Duration::from_secs(60),
    )?;
    let out = r.output();
    ensure!(
        r.status == 0 && out.contains(&format!("{FRAMES} frames in")),
        "example-pktgen:\n{out}"
    );
    let mut seen = std::collections::BTreeSet::new();
    while let Some(f) = peer.recv(Duration::from_secs(2))? {
        if f.len() >= 22 && f[6..12] == nic.mac.0 && f[12..14] == [0x88, 0xb5] {
            seen.insert(u64::from_be_bytes(f[14..22].try_into().expect("8 bytes")));
        }
    }
    ensure!(
        seen.len() as u64 == FRAMES && seen.iter().copied().eq(0..FRAMES),
        "the host got {} distinct frames of {FRAMES}:\n{out}",
        seen.len()
    );
    Ok(())
}

/// The library's `pcap` example (`example-pcap` in the guest): the host
/// sends numbered frames until the example has written its count and
/// exits; the file holds that many of them, consecutive and byte-exact.
fn pcap_example(g: &mut Guest) -> Result<()> {
    const N: usize = 20;
    let nic = g.nic(0);
    let peer = Peer::new(nic)?;
    let mut job = g.spawn(&format!("example-pcap {} /tmp/example.pcap {N}", nic.pci))?;
    let (mut sent, started) = (Vec::new(), Instant::now());
    let ended = loop {
        ensure!(
            started.elapsed() < Duration::from_secs(60),
            "example-pcap did not stop after {N} frames within 60 s"
        );
        let frame = peer.frame(&TrafficSpec::default(), sent.len());
        peer.send(&frame)?;
        sent.push(frame);
        match job.next_output(Duration::from_millis(50))? {
            Output::Ended(status) => break status,
            Output::Line(_) | Output::Nothing => {}
        }
    };
    let out = job.lines().join("\n");
    ensure!(
        ended == 0 && out.contains(&format!("{N} frames written")),
        "example-pcap exited {ended}:\n{out}"
    );
    let b64 = g.run_ok("base64 /tmp/example.pcap", Duration::from_secs(10))?;
    let got = parse_pcap(&base64_decode(&b64.output())?)?;
    ensure!(
        got.len() == N && sent.windows(N).any(|w| w == &got[..]),
        "the pcap holds {} frames, not {N} consecutive ones of the {} sent",
        got.len(),
        sent.len()
    );
    Ok(())
}

/// An ARP request from the host (10.11.12.1) for `ip`.
fn arp_request(ip: [u8; 4]) -> Vec<u8> {
    let mut f = vec![0u8; MIN_FRAME];
    f[0..6].fill(0xff);
    f[6..12].copy_from_slice(&Mac::HOST.0);
    f[12..14].copy_from_slice(&ETHERTYPE_ARP.to_be_bytes());
    // Ethernet, IPv4, 6- and 4-byte addresses, request (RFC 826).
    f[14..22].copy_from_slice(&[0, 1, 0x08, 0x00, 6, 4, 0, 1]);
    f[22..28].copy_from_slice(&Mac::HOST.0);
    f[28..32].copy_from_slice(&[10, 11, 12, 1]);
    f[38..42].copy_from_slice(&ip);
    f
}

/// The library's smoltcp example (`example-udp-responder`): it answers the
/// host's ARP request with the NIC's MAC, then echoes each UDP datagram to
/// port 7 back to its sender with the same payload; SIGINT ends it with
/// exit 0.
fn udp_responder_example(g: &mut Guest) -> Result<()> {
    const IP: [u8; 4] = [10, 11, 12, 2];
    let nic = g.nic(0);
    let peer = Peer::new(nic)?;
    let mut job = g.spawn(&format!("example-udp-responder {} 10.11.12.2/24", nic.pci))?;
    job.wait_line(|l| l.contains("udp echo on"), Duration::from_secs(30))?;
    // Until the NIC receives (the 8254x holds reception for a second).
    let started = Instant::now();
    let reply = loop {
        ensure!(
            started.elapsed() < Duration::from_secs(20),
            "no ARP reply for 10.11.12.2 within 20 s"
        );
        peer.send(&arp_request(IP))?;
        match peer.recv(Duration::from_millis(300))? {
            Some(f) if f.len() >= 42 && f[12..14] == ETHERTYPE_ARP.to_be_bytes() => break f,
            _ => {}
        }
    };
    ensure!(
        reply[20..22] == [0, 2] && reply[22..28] == nic.mac.0 && reply[28..32] == IP,
        "not an ARP reply from {} for 10.11.12.2: {reply:02x?}",
        nic.mac
    );
    for seq in 0..5u16 {
        let payload = format!("datagram {seq} for the smoltcp example");
        let mut f = vec![0u8; UDP_PAYLOAD + payload.len()];
        f[UDP_PAYLOAD..].copy_from_slice(payload.as_bytes());
        write_ipv4_udp(
            &mut f,
            &Ipv4Udp {
                dst_mac: nic.mac.0,
                src_mac: Mac::HOST.0,
                src_ip: [10, 11, 12, 1],
                dst_ip: IP,
                src_port: 40_000 + seq,
                dst_port: 7,
                ident: seq,
                udp_checksum: true,
            },
        );
        peer.send(&f)?;
        // Skip the replies to the ARP requests sent while the NIC was not
        // receiving yet.
        let got = loop {
            match peer.recv(Duration::from_secs(5))? {
                Some(r) if r[12..14] == ETHERTYPE_ARP.to_be_bytes() => continue,
                other => break other,
            }
        };
        let ok = got.as_ref().is_some_and(|r| {
            r.len() >= UDP_PAYLOAD + payload.len()
                && r[0..6] == Mac::HOST.0
                && r[26..30] == IP
                && r[36..38] == (40_000 + seq).to_be_bytes()
                && &r[UDP_PAYLOAD..UDP_PAYLOAD + payload.len()] == payload.as_bytes()
        });
        ensure!(ok, "datagram {seq}: no echo, or a wrong one: {got:02x?}");
    }
    g.run_ok(
        "killall -INT example-udp-responder",
        Duration::from_secs(10),
    )?;
    let r = job.wait(Duration::from_secs(30))?;
    ensure!(
        r.status == 0,
        "example-udp-responder exited {}:\n{}",
        r.status,
        r.output()
    );
    no_dmar_faults(g)
}

/// The library's `forward` example between the guest's two NICs: frames
/// sent into either come out of the other byte for byte, a stats line per
/// NIC each second, and SIGINT ends it with exit 0.
pub(super) fn forward_example(g: &mut Guest) -> Result<()> {
    let (a, b) = (g.nic(0), g.nic(1));
    let job = g.spawn(&format!("example-forward {} {}", a.pci, b.pci))?;
    let (pa, pb) = (Peer::new(a)?, Peer::new(b)?);
    // Until both NICs receive: the first frame that comes through.
    let started = Instant::now();
    loop {
        ensure!(
            started.elapsed() < Duration::from_secs(30),
            "nothing came through example-forward within 30 s:\n{}",
            job.lines().join("\n")
        );
        pa.send(&pa.frame(&TrafficSpec::default(), 0))?;
        if pb.recv(Duration::from_millis(300))?.is_some() {
            break;
        }
    }
    pb.drain()?;
    for (from, to) in [(&pa, &pb), (&pb, &pa)] {
        for i in 0..100 {
            let frame = from.frame(&TrafficSpec::default(), i);
            from.send(&frame)?;
            let got = to.recv(Duration::from_secs(2))?;
            ensure!(
                got.as_deref() == Some(&frame[..]),
                "frame {i} did not come out of the other NIC unchanged"
            );
        }
    }
    std::thread::sleep(Duration::from_millis(1200)); // a stats line at least
    g.run_ok("killall -INT example-forward", Duration::from_secs(10))?;
    let r = job.wait(Duration::from_secs(30))?;
    let out = r.output();
    ensure!(
        r.status == 0 && out.contains(&format!("forward: {}:", a.pci)),
        "example-forward exited {} or printed no stats line:\n{out}",
        r.status
    );
    no_dmar_faults(g)
}
