//! End-to-end scenarios of checksum offload and VLAN tagging on every
//! model: frames the NIC completed, checked at the host byte by byte, and
//! what `e1000 dump` reports of frames the host crafted.

use super::common::{frame_lines, json_summary, start_cli};
use super::suite::Suite;
use crate::error::Result;
use crate::link::peer::Peer;
use crate::vm::guest::Guest;
use crate::{bail, ensure};
use e1000_wire::ip::{self, Headers, Network, Transport};
use e1000_wire::{checksum, write_ipv4_udp, Ipv4Udp};
use std::time::{Duration, Instant};

/// Adds this module's scenarios to a model's suite.
pub fn add(s: Suite, model: &'static str) -> Suite {
    let name = |what: &str| format!("{model}::{what}");
    // QEMU's 8254x models set IXSM on every receive descriptor.
    let checks = model == "e1000e" || model == "igb";
    // QEMU's 8254x models (and the datasheet) segment TCP over IPv4 only.
    let tso6 = checks;
    // Only the 82576's context descriptor computes SCTP's CRC32c.
    let nic_crc = model == "igb";
    let s = s
        .test(name("checksum_offload_tx_filled_by_the_nic"), tx_checksums)
        .test(name("checksum_offload_ipv6_and_tcp"), tx_checksums_ipv6_tcp)
        .test(name("sctp_crc_offload_tx_and_rx"), move |g| {
            sctp_crc(g, nic_crc)
        })
        .test(name("checksum_offload_rx_verdicts"), move |g| {
            rx_verdicts(g, checks)
        })
        .test(name("tso_segments_tile_the_stream"), move |g| {
            tso_segments(g, tso6)
        })
        .test(name("vlan_insert_strip_and_filter"), vlan);
    // Only the 82576 splits headers off (SRRCTL.DESCTYPE).
    if model == "igb" {
        s.test(name("header_split_echo"), header_split_echo)
    } else {
        s
    }
}

/// The 802.1Q TPID.
const TPID: [u8; 2] = [0x81, 0x00];

/// Whether the IPv4 header checksum and the UDP checksum (present: not 0)
/// of an untagged Ethernet/IPv4/UDP frame are right.
fn checksums_ok(f: &[u8]) -> bool {
    if f.len() < 42 || f[12..14] != [0x08, 0x00] || f[23] != 17 {
        return false;
    }
    let total = u16::from_be_bytes([f[16], f[17]]) as usize;
    if f.len() < 14 + total || f[40..42] == [0, 0] {
        return false;
    }
    let mut pseudo = f[26..34].to_vec();
    pseudo.extend_from_slice(&[0, 17]);
    pseudo.extend_from_slice(&((total - 20) as u16).to_be_bytes());
    pseudo.extend_from_slice(&f[34..14 + total]);
    checksum(&f[14..34]) == 0 && checksum(&pseudo) == 0
}

/// Collects the frames the NIC sends until `n` arrived or `timeout`.
fn collect(peer: &Peer, n: usize, timeout: Duration) -> Result<Vec<Vec<u8>>> {
    let deadline = Instant::now() + timeout;
    let mut got = Vec::new();
    while got.len() < n {
        let Some(left) = deadline.checked_duration_since(Instant::now()) else {
            break;
        };
        match peer.recv(left)? {
            Some(f) => got.push(f),
            None => break,
        }
    }
    Ok(got)
}

/// `e1000 send --offload`: the frames leave with the IPv4 checksum zeroed
/// and the UDP checksum seeded by the driver; every one must reach the host
/// with both right, and the UDP checksum present (without `--offload` the
/// command sends none). At 60 bytes (the driver's padding threshold) and
/// at 1000.
fn tx_checksums(g: &mut Guest) -> Result<()> {
    let nic = g.nic(0);
    let peer = Peer::new(nic)?;
    for size in [60, 1000] {
        peer.drain()?;
        let n = 200;
        let r = g.run(
            &format!(
                "e1000 send {} --offload -c {n} -s {size} --flows 7 --payload counter --quiet",
                nic.pci
            ),
            Duration::from_secs(60),
        )?;
        ensure!(r.status == 0, "send --offload failed:\n{}", r.output());
        let got = collect(&peer, n, Duration::from_secs(5))?;
        let bad = got.iter().filter(|f| !checksums_ok(f)).count();
        ensure!(
            got.len() == n && bad == 0,
            "send --offload -s {size}: {} of {n} frames arrived, {bad} with a wrong or missing checksum",
            got.len()
        );
        println!("    {n} frames of {size} bytes: IPv4 and UDP checksums filled in by the NIC");
    }
    // The contrast: without --offload the UDP checksum is absent.
    peer.drain()?;
    g.run_ok(
        &format!("e1000 send {} -c 5 -s 100 --quiet", nic.pci),
        Duration::from_secs(60),
    )?;
    let plain = collect(&peer, 5, Duration::from_secs(5))?;
    ensure!(
        plain.len() == 5 && plain.iter().all(|f| f[40..42] == [0, 0]),
        "without --offload the UDP checksum should be 0"
    );
    Ok(())
}

/// Runs `e1000 send ARGS -c N --flows 3` on the first NIC; every one of
/// the `n` frames must reach the host with all its checksums right.
fn sent_frames_check_out(g: &Guest, peer: &Peer, args: &str, n: usize) -> Result<()> {
    peer.drain()?;
    g.run_ok(
        &format!(
            "e1000 send {} {args} -c {n} --flows 3 --quiet",
            g.nic(0).pci
        ),
        Duration::from_secs(60),
    )?;
    let got = collect(peer, n, Duration::from_secs(5))?;
    let bad = got
        .iter()
        .filter(|f| ip::checksums_ok(f) != Some(true))
        .count();
    ensure!(
        got.len() == n && bad == 0,
        "send {args}: {} of {n} frames arrived, {bad} with a wrong checksum",
        got.len()
    );
    Ok(())
}

/// `e1000 send --offload` over IPv6 (UDP and TCP) and TCP over IPv4: every
/// frame must reach the host with its checksums right.
fn tx_checksums_ipv6_tcp(g: &mut Guest) -> Result<()> {
    let nic = g.nic(0);
    let peer = Peer::new(nic)?;
    for what in ["--ipv6", "--ipv6 --tcp", "--tcp"] {
        let n = 100;
        sent_frames_check_out(g, &peer, &format!("{what} --offload -s 700"), n)?;
        println!("    send {what} --offload: {n} frames, every checksum right");
    }
    Ok(())
}

/// SCTP's CRC32c. With the offload (`nic_crc`, the 82576): `send --sctp
/// --offload` over IPv4 and IPv6 must reach the host with every CRC right,
/// and `dump` must judge a good and a corrupted SCTP packet from the host
/// good and bad. Without: `--sctp --offload` is refused up front (exit 2),
/// `--sctp` alone gets the CRC in software, and `dump` gives no verdict.
fn sctp_crc(g: &mut Guest, nic_crc: bool) -> Result<()> {
    let nic = g.nic(0);
    let peer = Peer::new(nic)?;
    let n = 100;
    let sends: &[&str] = if nic_crc {
        &["--sctp --offload", "--ipv6 --sctp --offload"]
    } else {
        let r = g.run(
            &format!("e1000 send {} --sctp --offload -c 1", nic.pci),
            Duration::from_secs(30),
        )?;
        ensure!(
            r.status == 2 && r.output().contains("cannot compute SCTP's CRC"),
            "send --sctp --offload on a NIC without the offload: exit {}\n{}",
            r.status,
            r.output()
        );
        &["--sctp", "--ipv6 --sctp"]
    };
    for what in sends {
        sent_frames_check_out(g, &peer, &format!("{what} -s 300"), n)?;
        println!("    send {what}: {n} SCTP packets, every CRC right");
    }
    // Receive: a good and a corrupted packet from the host.
    let job = start_dump(g, "-c 2")?;
    let good = sctp_frame(nic.mac.0, 1, 200);
    let mut bad = sctp_frame(nic.mac.0, 2, 200);
    bad[150] ^= 0x55;
    for f in [&good, &bad] {
        peer.send(f)?;
        std::thread::sleep(Duration::from_millis(50));
    }
    let r = job.wait(Duration::from_secs(30))?;
    let verdicts: Vec<String> = frame_lines(&r.output())
        .iter()
        .map(|v| v["l4_checksum"].to_string())
        .collect();
    let expected = if nic_crc {
        ["\"good\"", "\"bad\""]
    } else {
        ["null", "null"]
    };
    ensure!(
        r.status == 0 && verdicts == expected,
        "dump's SCTP verdicts {verdicts:?}, expected {expected:?}:\n{}",
        r.output()
    );
    println!("    received SCTP CRC verdicts: {}", verdicts.join(", "));
    Ok(())
}

/// An Ethernet/IPv4/SCTP packet to `dst` (one DATA chunk) with its CRC
/// right.
fn sctp_frame(dst: [u8; 6], seq: u16, len: usize) -> Vec<u8> {
    let mut f: Vec<u8> = (0..len)
        .map(|i| (i as u16).wrapping_add(seq) as u8)
        .collect();
    let h = Headers {
        dst_mac: dst,
        src_mac: crate::link::frame::Mac::HOST.0,
        network: Network::V4 {
            src: [10, 11, 12, 1],
            dst: [10, 11, 12, 2],
            ident: seq,
        },
        transport: Transport::Sctp { tag: 0x5C7B },
        src_port: 5000 + seq,
        dst_port: 7,
    };
    h.write(&mut f, len);
    ip::fill_l4_checksum(&mut f);
    f
}

/// `e1000 send --tso MSS -s 9014`: every frame leaves as ceil(payload /
/// MSS) segments; at the host each must be at most MSS bytes of payload,
/// with right IP and TCP checksums, and their sequence numbers must tile
/// the stream with no gap and no overlap. Over IPv6 where the model
/// segments it; on the 8254x models `--ipv6 --tso` is refused up front.
fn tso_segments(g: &mut Guest, ipv6: bool) -> Result<()> {
    let nic = g.nic(0);
    let peer = Peer::new(nic)?;
    let frames = 50;
    let size: usize = 9014;
    let mut cases: Vec<(&str, usize, usize)> = vec![("", 1460, 54)];
    if ipv6 {
        cases.push((" --ipv6", 1440, 74));
    } else {
        let r = g.run(
            &format!(
                "e1000 send {} --ipv6 --tso 1440 -s 9014 -c 1 --quiet",
                nic.pci
            ),
            Duration::from_secs(60),
        )?;
        ensure!(
            r.status == 2 && r.output().contains("cannot segment TCP over IPv6"),
            "--ipv6 --tso on the 8254x should be refused with a usage error:\n{}",
            r.output()
        );
    }
    for (family, mss, headers) in cases {
        peer.drain()?;
        let payload = size - headers;
        let per_frame = payload.div_ceil(mss);
        let r = g.run(
            &format!(
                "e1000 send {} {family} --tso {mss} -s {size} -c {frames} --json",
                nic.pci
            ),
            Duration::from_secs(120),
        )?;
        ensure!(r.status == 0, "send --tso failed:\n{}", r.output());
        let want = frames * per_frame;
        let got = collect(&peer, want, Duration::from_secs(10))?;
        let mut spans = Vec::new();
        for f in &got {
            ensure!(
                ip::checksums_ok(f) == Some(true),
                "a segment with a wrong checksum: {}",
                e1000_wire::summary(f)
            );
            let len = f.len() - headers;
            ensure!(len <= mss, "a segment of {len} payload bytes, MSS {mss}");
            let seq = u32::from_be_bytes(f[headers - 16..headers - 12].try_into().unwrap());
            spans.push((seq as usize, len));
        }
        spans.sort();
        let mut next = 1;
        for (seq, len) in &spans {
            ensure!(
                *seq == next,
                "segments do not tile: {seq} where {next} was due"
            );
            next += len;
        }
        ensure!(
            got.len() == want && next == 1 + frames * payload,
            "send{family} --tso {mss}: {} of {want} segments arrived",
            got.len()
        );
        println!(
            "    send{family} --tso {mss} -s {size}: {frames} frames became {want} valid segments tiling {} bytes",
            frames * payload
        );
    }
    Ok(())
}

/// An Ethernet/IPv6/UDP frame to `dst` with its checksum right.
fn udp6_frame(dst: [u8; 6], seq: u16, len: usize) -> Vec<u8> {
    let mut f: Vec<u8> = (0..len)
        .map(|i| (i as u16).wrapping_mul(7).wrapping_add(seq) as u8)
        .collect();
    let address = |last: u8| {
        let mut a = [0u8; 16];
        a[0] = 0xfd;
        a[15] = last;
        a
    };
    let h = Headers {
        dst_mac: dst,
        src_mac: crate::link::frame::Mac::HOST.0,
        network: Network::V6 {
            src: address(1),
            dst: address(2),
        },
        transport: Transport::Udp,
        src_port: 5000 + seq,
        dst_port: 7,
    };
    h.write(&mut f, len);
    ip::fill_l4_checksum(&mut f);
    f
}

/// An Ethernet/IPv4/UDP frame to `dst` with both checksums right.
fn udp_frame(dst: [u8; 6], seq: u16, len: usize) -> Vec<u8> {
    let mut f = vec![0u8; len];
    for (i, b) in f.iter_mut().enumerate().skip(42) {
        *b = (i as u16).wrapping_mul(13).wrapping_add(seq) as u8;
    }
    write_ipv4_udp(
        &mut f,
        &Ipv4Udp {
            dst_mac: dst,
            src_mac: crate::link::frame::Mac::HOST.0,
            src_ip: [10, 11, 12, 1],
            dst_ip: [10, 11, 12, 2],
            src_port: 5000 + seq,
            dst_port: 7,
            ident: seq,
            udp_checksum: true,
        },
    );
    f
}

/// `f` with an 802.1Q tag `tci` after the addresses.
fn tagged(f: &[u8], tci: u16) -> Vec<u8> {
    let mut t = f[..12].to_vec();
    t.extend_from_slice(&TPID);
    t.extend_from_slice(&tci.to_be_bytes());
    t.extend_from_slice(&f[12..]);
    t
}

/// Starts `e1000 dump ARGS --json` and waits until it receives (the 8254x
/// models hold reception for a second after RCTL is written).
fn start_dump<'g>(g: &'g Guest, args: &str) -> Result<crate::vm::guest::Job<'g>> {
    let nic = g.nic(0);
    let mut job = g.spawn(&format!(
        "e1000 dump {} {args} --json --timeout 60",
        nic.pci
    ))?;
    job.wait_line(|l| l.contains("dump: ready"), Duration::from_secs(30))?;
    std::thread::sleep(Duration::from_millis(1500));
    Ok(job)
}

/// The host sends a good UDP frame, one with a wrong IPv4 header checksum,
/// one with a wrong UDP checksum, a non-IP frame, and a good and a bad
/// IPv6 UDP frame; `dump --json` must show good/good, bad/good, good/bad,
/// no verdict, and for IPv6 (no header checksum) -/good and -/bad, and the
/// summary count the three errors. QEMU's 8254x models do not check (they set IXSM on every
/// descriptor): there, no verdict at all.
fn rx_verdicts(g: &mut Guest, checks: bool) -> Result<()> {
    let nic = g.nic(0);
    let peer = Peer::new(nic)?;
    let job = start_dump(g, "-c 6")?;
    let good = udp_frame(nic.mac.0, 1, 200);
    let mut bad_ip = udp_frame(nic.mac.0, 2, 200);
    bad_ip[24] ^= 0x55;
    let mut bad_udp = udp_frame(nic.mac.0, 3, 200);
    bad_udp[100] ^= 0x55;
    let mut other = udp_frame(nic.mac.0, 4, 200);
    other[12..14].copy_from_slice(&[0x88, 0xb5]);
    let good6 = udp6_frame(nic.mac.0, 5, 200);
    let mut bad6 = udp6_frame(nic.mac.0, 6, 200);
    bad6[120] ^= 0x55;
    for f in [&good, &bad_ip, &bad_udp, &other, &good6, &bad6] {
        peer.send(f)?;
        std::thread::sleep(Duration::from_millis(50));
    }
    let r = job.wait(Duration::from_secs(30))?;
    let out = r.output();
    let lines = frame_lines(&out);
    let verdicts: Vec<(String, String)> = lines
        .iter()
        .map(|v| (v["ip_checksum"].to_string(), v["l4_checksum"].to_string()))
        .collect();
    let expected: Vec<(String, String)> = if checks {
        [
            ("good", "good"),
            ("bad", "good"),
            ("good", "bad"),
            ("null", "null"),
            ("null", "good"),
            ("null", "bad"),
        ]
        .iter()
        .map(|(a, b)| {
            let q = |s: &str| {
                if s == "null" {
                    s.to_string()
                } else {
                    format!("\"{s}\"")
                }
            };
            (q(a), q(b))
        })
        .collect()
    } else {
        vec![("null".into(), "null".into()); 6]
    };
    if r.status != 0 || verdicts != expected {
        bail!("dump verdicts {verdicts:?}, expected {expected:?}:\n{out}");
    }
    if checks {
        ensure!(
            out.contains("\"rx_ip_checksum_errors\":1")
                && out.contains("\"rx_l4_checksum_errors\":2"),
            "the summary does not count one IP and two L4 checksum errors:\n{out}"
        );
        println!(
            "    verdicts good/good, bad/good, good/bad, none, IPv6 -/good, -/bad; errors counted"
        );
    } else {
        println!("    no verdicts: QEMU's 8254x models do not check receive checksums (IXSM)");
    }
    Ok(())
}

/// VLAN end to end: `send --vlan` tags every frame (inserted by the driver,
/// then by the NIC with `--vlan-strip`); `dump --vlan-strip --vlan-filter`
/// reports the stripped tags and drops other VLANs; `echo --vlan-strip`
/// sends a tagged frame back tagged.
fn vlan(g: &mut Guest) -> Result<()> {
    let nic = g.nic(0);
    let peer = Peer::new(nic)?;
    let tci: u16 = 3 << 13 | 100;
    for strip in ["", "--vlan-strip"] {
        peer.drain()?;
        g.run_ok(
            &format!(
                "e1000 send {} --vlan 100 --vlan-prio 3 {strip} --offload -c 20 -s 200 --quiet",
                nic.pci
            ),
            Duration::from_secs(60),
        )?;
        let got = collect(&peer, 20, Duration::from_secs(5))?;
        let wrong = got
            .iter()
            .filter(|f| {
                let inner: Vec<u8> = [&f[..12], &f[16..]].concat();
                f.len() != 204
                    || f[12..14] != TPID
                    || f[14..16] != tci.to_be_bytes()
                    || !checksums_ok(&inner)
            })
            .count();
        ensure!(
            got.len() == 20 && wrong == 0,
            "send --vlan 100 {strip}: {} of 20 arrived, {wrong} without the tag or a right checksum",
            got.len()
        );
    }
    println!("    send --vlan: tag inserted by the driver and by the NIC, checksums under it");

    let job = start_dump(g, "--vlan-strip --vlan-filter 100,200 -c 3")?;
    let plain = udp_frame(nic.mac.0, 9, 120);
    let sent = [
        (tagged(&plain, 5 << 13 | 100), true),
        (tagged(&plain, 300), false),
        (plain.clone(), true),
        (tagged(&plain, 200), true),
    ];
    for (f, _) in &sent {
        peer.send(f)?;
        std::thread::sleep(Duration::from_millis(50));
    }
    let r = job.wait(Duration::from_secs(30))?;
    let out = r.output();
    let seen: Vec<(String, String, u64)> = frame_lines(&out)
        .iter()
        .map(|v| {
            (
                v["vlan"].to_string(),
                v["vlan_pcp"].to_string(),
                v["len"].as_u64().unwrap_or(0),
            )
        })
        .collect();
    let expected = vec![
        ("100".to_string(), "5".to_string(), 120),
        ("null".into(), "null".into(), 120),
        ("200".into(), "0".into(), 120),
    ];
    ensure!(
        r.status == 0 && seen == expected,
        "dump --vlan-strip --vlan-filter 100,200 saw {seen:?}, expected {expected:?}:\n{out}"
    );
    println!("    dump: VLANs 100 and 200 stripped and reported, 300 filtered, untagged passed");

    let mut job = g.spawn(&format!(
        "e1000 echo {} --vlan-strip --timeout 60 --quiet",
        nic.pci
    ))?;
    job.wait_line(|l| l.contains("echo: ready"), Duration::from_secs(30))?;
    std::thread::sleep(Duration::from_millis(1500));
    peer.drain()?;
    let f = tagged(&udp_frame([0xff; 6], 11, 300), 42);
    peer.send(&f)?;
    let back = collect(&peer, 1, Duration::from_secs(5))?;
    g.run_ok("killall -INT e1000", Duration::from_secs(10))?;
    job.wait(Duration::from_secs(30))?;
    ensure!(
        back.len() == 1 && back[0][12..] == f[12..],
        "echo --vlan-strip did not send the tagged frame back tagged: {:02x?}",
        back.first().map(|b| &b[..18.min(b.len())])
    );
    println!("    echo --vlan-strip: the stripped tag went back out");
    Ok(())
}

/// An Ethernet/IP frame of `len` bytes to `dst` over `network` and
/// `transport`, with its checksums right and a payload that differs per
/// `seq`.
fn ip_frame(dst: [u8; 6], network: Network, transport: Transport, seq: u16, len: usize) -> Vec<u8> {
    let mut f: Vec<u8> = (0..len)
        .map(|i| (i as u16).wrapping_mul(11).wrapping_add(seq) as u8)
        .collect();
    let h = Headers {
        dst_mac: dst,
        src_mac: crate::link::frame::Mac::HOST.0,
        network,
        transport,
        src_port: 6000 + seq,
        dst_port: 7,
    };
    h.write(&mut f, len);
    ip::fill_l4_checksum(&mut f);
    f
}

/// `e1000 echo --header-split` on the 82576: the NIC writes the headers of
/// TCP and UDP frames over IPv4 and IPv6 into buffers of their own and the
/// driver sends each frame back from its two buffers. Every frame must come
/// back byte for byte as the echo rule makes it, the non-IP one too (which
/// the NIC leaves whole), and the summary must count every IP frame with
/// a payload as split.
fn header_split_echo(g: &mut Guest) -> Result<()> {
    let nic = g.nic(0);
    let peer = Peer::new(nic)?;
    let v4 = Network::V4 {
        src: [10, 11, 12, 1],
        dst: [10, 11, 12, 2],
        ident: 7,
    };
    let address = |last: u8| {
        let mut a = [0u8; 16];
        a[0] = 0xfd;
        a[15] = last;
        a
    };
    let v6 = Network::V6 {
        src: address(1),
        dst: address(2),
    };
    let tcp = Transport::Tcp {
        seq: 1000,
        flags: ip::TCP_PSH_ACK,
    };
    // Headers only (IPv6 frames of 74 and 62 bytes) come as one packet:
    // they count as split only with a payload.
    let (mut frames, mut split) = (Vec::new(), 0);
    for (i, len) in [60usize, 200, 1000, 1514].into_iter().enumerate() {
        let seq = i as u16 * 4;
        let kinds = [
            (v4, tcp, 54),
            (v4, Transport::Udp, 42),
            (v6, tcp, 74),
            (v6, Transport::Udp, 62),
        ];
        for (k, (network, transport, headers)) in kinds.into_iter().enumerate() {
            let len = len.max(headers);
            frames.push(ip_frame(nic.mac.0, network, transport, seq + k as u16, len));
            split += (len > headers) as usize;
        }
    }
    let mut other = udp_frame(nic.mac.0, 99, 300);
    other[12..14].copy_from_slice(&[0x88, 0xb5]);
    frames.push(other);
    let job = start_cli(g, "echo", "--header-split --timeout 60")?;
    peer.drain()?;
    for f in &frames {
        peer.send(f)?;
        std::thread::sleep(Duration::from_millis(20));
    }
    let back = collect(&peer, frames.len(), Duration::from_secs(10))?;
    g.run_ok("killall -INT e1000", Duration::from_secs(10))?;
    let r = job.wait(Duration::from_secs(30))?;
    let expected: Vec<Vec<u8>> = frames
        .iter()
        .map(|f| e1000_wire::echo_of(f, nic.mac.0))
        .collect();
    let wrong = back.iter().zip(&expected).filter(|(b, e)| b != e).count();
    ensure!(
        back.len() == expected.len() && wrong == 0,
        "echo --header-split: {} of {} frames came back, {wrong} of them changed",
        back.len(),
        expected.len()
    );
    let summary = json_summary(&r)?;
    ensure!(
        summary["rx_split"].as_u64() == Some(split as u64),
        "echo --header-split: {split} frames should have been split: {summary}"
    );
    println!(
        "    {} frames (TCP/UDP over IPv4/IPv6, 60-1514 bytes, one non-IP) echoed intact; {split} came as headers and payload",
        frames.len()
    );
    Ok(())
}
