//! Capture and replay as a tcpdump or testpmd user would: `dump` with a
//! filter, `dump -r` reading a capture back, `send --pcap` replaying one,
//! and `send` with a size list, a bit rate and bursts.

use super::common::{base64_decode, json_objects, json_one, parse_pcap, receive_sent};
use super::suite::Suite;
use crate::ensure;
use crate::error::Result;
use crate::link::frame::Mac;
use crate::link::peer::Peer;
use crate::vm::guest::Guest;
use e1000_wire::{write_ipv4_udp, Ipv4Udp, UDP_PAYLOAD};
use std::time::{Duration, Instant};

const SHORT: Duration = Duration::from_secs(30);

/// Adds the capture-and-replay scenarios to a model's suite.
pub fn add(s: Suite, model: &str) -> Suite {
    let name = |what: &str| format!("{model}::{what}");
    s.test(
        name("cli_dump_filters_and_reads_back"),
        filter_and_read_back,
    )
    .test(name("cli_send_replays_a_capture"), replay)
    .test(name("cli_send_sizes_rate_and_bursts"), sizes_rate_bursts)
}

/// UDP frames from the host to the NIC, to `port`, numbered `seq`.
fn udp_to_port(nic_mac: Mac, port: u16, seq: u16) -> Vec<u8> {
    let mut f = vec![0u8; UDP_PAYLOAD + 20];
    f[UDP_PAYLOAD..UDP_PAYLOAD + 2].copy_from_slice(&seq.to_be_bytes());
    write_ipv4_udp(
        &mut f,
        &Ipv4Udp {
            dst_mac: nic_mac.0,
            src_mac: Mac::HOST.0,
            src_ip: [10, 11, 12, 1],
            dst_ip: [10, 11, 12, 2],
            src_port: 30_000 + seq,
            dst_port: port,
            ident: seq,
            udp_checksum: true,
        },
    );
    f
}

/// Starts `command` in the guest and sends `frames` once it is receiving
/// (the 8254x holds reception for a second after it starts).
fn capture(g: &Guest, command: &str, frames: &[Vec<u8>]) -> Result<crate::vm::job::JobResult> {
    let peer = Peer::new(g.nic(0))?;
    let mut job = g.spawn(command)?;
    job.wait_line(|l| l.contains("dump: ready"), SHORT)?;
    std::thread::sleep(Duration::from_millis(1200));
    for f in frames {
        peer.send(f)?;
        std::thread::sleep(Duration::from_millis(2));
    }
    job.wait(SHORT)
}

/// `frames` sent to the NIC and written by `dump -w FILE` in the guest.
fn write_capture(g: &Guest, file: &str, frames: &[Vec<u8>]) -> Result<()> {
    let command = format!("e1000 dump {} -c {} -w {file}", g.nic(0).pci, frames.len());
    let r = capture(g, &command, frames)?;
    ensure!(
        r.status == 0,
        "`{command}` exited {}:\n{}",
        r.status,
        r.output()
    );
    Ok(())
}

/// `dump PCI udp dst port 53`: of 20 frames, the 10 to port 53 are shown;
/// the same 20 written with `-w`, then `dump -r FILE udp port 9` shows the
/// other 10, and `-r FILE -w OUT port 9` writes exactly those frames.
fn filter_and_read_back(g: &mut Guest) -> Result<()> {
    let nic = g.nic(0);
    let frames: Vec<Vec<u8>> = (0..20u16)
        .map(|i| udp_to_port(nic.mac, if i % 2 == 0 { 53 } else { 9 }, i))
        .collect();
    let to_9: Vec<&Vec<u8>> = frames.iter().skip(1).step_by(2).collect();

    let r = capture(
        g,
        &format!("e1000 dump {} udp dst port 53 -c 20 --json", nic.pci),
        &frames,
    )?;
    let objects = json_objects(&r.lines)?;
    let shown: Vec<&serde_json::Value> = objects.iter().filter(|o| o["type"] == "frame").collect();
    ensure!(
        r.status == 0
            && shown.len() == 10
            && shown.iter().all(|o| o["summary"]
                .as_str()
                .is_some_and(|s| s.contains(".53: UDP"))),
        "dump with the filter showed {} frames, want the 10 to port 53:\n{}",
        shown.len(),
        r.output()
    );
    ensure!(
        json_one(&objects, "summary")?["shown"] == 10,
        "the summary does not count 10 shown:\n{}",
        r.output()
    );

    write_capture(g, "/tmp/all.pcap", &frames)?;
    let back = g.run_ok("e1000 dump -n -r /tmp/all.pcap udp port 9", SHORT)?;
    let lines: Vec<&String> = back.lines.iter().filter(|l| l.contains(" #")).collect();
    ensure!(
        lines.len() == 10
            && lines.iter().all(|l| l.contains(".9: UDP"))
            && back
                .output()
                .contains("dump: 10 of 20 frames of /tmp/all.pcap shown"),
        "dump -r with the filter:\n{}",
        back.output()
    );
    g.run_ok(
        "e1000 dump -r /tmp/all.pcap -w /tmp/nine.pcap port 9",
        SHORT,
    )?;
    let b64 = g.run_ok("base64 /tmp/nine.pcap", SHORT)?;
    let written = parse_pcap(&base64_decode(&b64.output())?)?;
    ensure!(
        written.len() == 10 && written.iter().zip(&to_9).all(|(a, b)| a == *b),
        "the filtered file holds {} frames, not the 10 sent to port 9",
        written.len()
    );
    Ok(())
}

/// A capture of 12 frames of different sizes and kinds, replayed with
/// `send --pcap` (`-c 24`: twice round): the host gets them byte for byte,
/// in order.
fn replay(g: &mut Guest) -> Result<()> {
    let nic = g.nic(0);
    let frames: Vec<Vec<u8>> = (0..12u16)
        .map(|i| {
            let mut f = udp_to_port(nic.mac, 7000 + i, i);
            f.resize(60 + usize::from(i) * 100, 0xA5);
            // A destination the host's peer takes: its own MAC.
            f[0..6].copy_from_slice(&Mac::HOST.0);
            f
        })
        .collect();
    write_capture(g, "/tmp/replay.pcap", &frames)?;
    let peer = Peer::new(nic)?;
    peer.drain()?;
    let sent = g.run(
        &format!("e1000 send {} --pcap /tmp/replay.pcap -c 24", nic.pci),
        SHORT,
    )?;
    ensure!(
        sent.status == 0 && sent.output().contains("send: 24 frames"),
        "send --pcap:\n{}",
        sent.output()
    );
    for i in 0..24 {
        let got = peer.recv(Duration::from_secs(5))?;
        ensure!(
            got.as_deref() == Some(&frames[i % 12][..]),
            "replayed frame {i} is missing or differs from the captured one"
        );
    }
    Ok(())
}

/// `send --size 64,512,1514 --burst 8`: sizes in turn by sequence number;
/// `send --rate 10M`: about 10 Mbit/s on the wire, as measured by the host.
fn sizes_rate_bursts(g: &mut Guest) -> Result<()> {
    const SIZES: [usize; 3] = [64, 512, 1514];
    let nic = g.nic(0);
    let peer = Peer::new(nic)?;
    peer.drain()?;
    let job = g.spawn(&format!(
        "e1000 send {} -c 300 --size 64,512,1514 --burst 8",
        nic.pci
    ))?;
    let next = receive_sent(&peer, 300, |seq, f| {
        ensure!(
            f.len() == SIZES[(seq % 3) as usize],
            "frame {seq} is {} bytes, want {}",
            f.len(),
            SIZES[(seq % 3) as usize]
        );
        Ok(())
    })?;
    let r = job.wait(SHORT)?;
    ensure!(
        next == 300 && r.status == 0,
        "{next}/300 frames:\n{}",
        r.output()
    );

    // 400 frames of 1000 bytes at 10 Mbit/s: 1,024 bytes each on the wire,
    // about 0.33 s from first to last.
    const N: u64 = 400;
    let job = g.spawn(&format!(
        "e1000 send {} -c {N} --size 1000 --rate 10M",
        nic.pci
    ))?;
    let (mut first, mut last) = (None, Instant::now());
    let next = receive_sent(&peer, N, |_, _| {
        last = Instant::now();
        first.get_or_insert(last);
        Ok(())
    })?;
    let r = job.wait(SHORT)?;
    let secs = first.map_or(0.0, |f| last.duration_since(f).as_secs_f64());
    let mbit = (N - 1) as f64 * 1024.0 * 8.0 / secs.max(1e-9) / 1e6;
    println!("    --rate 10M: {mbit:.1} Mbit/s on the wire at the host");
    ensure!(
        next == N && r.status == 0 && (5.0..=20.0).contains(&mbit),
        "{next}/{N} frames at {mbit:.1} Mbit/s, want about 10:\n{}",
        r.output()
    );
    Ok(())
}
