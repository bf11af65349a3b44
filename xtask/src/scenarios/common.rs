//! Helpers that scenarios of several themes share: starting a CLI command
//! and reading its JSON, checking the guest for IOMMU faults, a quick echo
//! check, frames received on a link, and pcap and base64 decoding.

use crate::error::{Error, Result};
use crate::link::peer::{Peer, TrafficSpec};
use crate::vm::guest::Guest;
use crate::vm::job::Job;
use crate::vm::models::irq_modes;
use crate::{bail, ensure};
use std::time::Duration;

/// Fails if the guest kernel logged any DMA remapping fault.
pub(crate) fn no_dmar_faults(g: &Guest) -> Result<()> {
    let r = g.run(
        "dmesg | grep -iE 'DMAR.*fault|DMA (Read|Write)' || true",
        Duration::from_secs(10),
    )?;
    ensure!(
        r.lines.is_empty(),
        "DMAR faults in the guest log:\n{}",
        r.output()
    );
    Ok(())
}

/// Starts `e1000 COMMAND NIC0 OPTIONS --quiet --json` (`echo`, `dump`) in the
/// background and returns once it is ready and receiving: QEMU's 8254x
/// models hold reception for 1 s after the RCTL write, so every model gets
/// that long.
pub(crate) fn start_cli<'g>(g: &'g Guest, command: &str, options: &str) -> Result<Job<'g>> {
    let mut job = g.spawn(&format!(
        "e1000 {command} {} {options} --quiet --json",
        g.nic(0).pci
    ))?;
    let ready = format!("{command}: ready");
    job.wait_line(|l| l.contains(&ready), Duration::from_secs(30))?;
    std::thread::sleep(Duration::from_millis(1500));
    Ok(job)
}

/// The `--json` summary object among a finished command's output lines.
pub(crate) fn json_summary(r: &crate::vm::guest::JobResult) -> Result<serde_json::Value> {
    let objects = json_objects(&r.lines)?;
    json_one(&objects, "summary")
        .cloned()
        .map_err(|e| crate::error::Error::msg(format!("{e:#}:\n{}", r.output())))
}

/// Counter `name` of the NIC (`rx_ring_full`, `rx_driver_dropped`, …) from a
/// `--json` summary.
pub(crate) fn nic_counter(summary: &serde_json::Value, name: &str) -> Result<u64> {
    summary["nic"][name]
        .as_u64()
        .ok_or_else(|| crate::error::Error::msg(format!("no counter {name} in {summary}")))
}

/// A short ping-pong through a fresh `e1000 echo` (which may first see stale
/// frames of an earlier flood; the peer skips their echoes), then no DMAR
/// fault in the guest log.
pub(crate) fn echo_works(g: &Guest) -> Result<()> {
    let nic = g.nic(0);
    let peer = Peer::new(nic)?;
    let mut job = g.spawn(&format!("e1000 echo {} --timeout 60 --quiet", nic.pci))?;
    job.wait_line(|l| l.contains("echo: ready"), Duration::from_secs(30))?;
    if !irq_modes(&nic.model).contains(&"msi") {
        // QEMU's 8254x model holds reception for 1 s after every RCTL write;
        // the rest of an earlier flood piles up meanwhile and can overflow its
        // backlog. Let that clear before measuring.
        std::thread::sleep(Duration::from_millis(1500));
    }
    let s = peer.ping_pong(50, TrafficSpec::default(), Duration::from_secs(2))?;
    g.run_ok("killall -INT e1000", Duration::from_secs(10))?;
    let r = job.wait(Duration::from_secs(30))?;
    ensure!(
        s.sent == s.echoed && s.mismatched == 0 && r.status == 0,
        "echo after restart: {s}\n{}",
        r.output()
    );
    no_dmar_faults(g)
}

/// The JSON objects among a command's output lines (those starting with `{`;
/// each must parse).
pub(crate) fn json_objects(lines: &[String]) -> Result<Vec<serde_json::Value>> {
    lines
        .iter()
        .filter(|l| l.starts_with('{'))
        .map(|l| {
            serde_json::from_str(l).map_err(|e| Error::msg(format!("bad JSON line {l:?}: {e}")))
        })
        .collect()
}

/// The object with `"type": KIND`, which must be there exactly once.
pub(crate) fn json_one<'a>(
    objects: &'a [serde_json::Value],
    kind: &str,
) -> Result<&'a serde_json::Value> {
    let found: Vec<&serde_json::Value> = objects.iter().filter(|o| o["type"] == kind).collect();
    match found.as_slice() {
        [one] => Ok(one),
        _ => bail!("{} JSON objects of type {kind}", found.len()),
    }
}

/// Receives the IPv4 frames `e1000 send` numbers 0, 1, … on `peer` (other
/// frames are skipped) until `n` arrived or 60 s passed: each must carry the
/// next sequence number and a valid IPv4 header checksum, then pass `check`.
/// Returns how many arrived.
pub(crate) fn receive_sent(
    peer: &Peer,
    n: u64,
    mut check: impl FnMut(u64, &[u8]) -> Result<()>,
) -> Result<u64> {
    let mut next = 0u64;
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while next < n && std::time::Instant::now() < deadline {
        let Some(f) = peer.recv(Duration::from_millis(500))? else {
            continue;
        };
        if f.len() < 50 || f[12..14] != [0x08, 0x00] {
            continue; // not ours (nothing else should come, but be tolerant)
        }
        ensure!(
            crate::link::frame::checksum(&f[14..34]) == 0,
            "bad IPv4 header checksum in frame {next}"
        );
        let seq = u64::from_be_bytes(f[42..50].try_into().unwrap());
        ensure!(seq == next, "sequence gap: got {seq}, expected {next}");
        check(seq, &f)?;
        next += 1;
    }
    Ok(next)
}

/// The frames of a classic pcap file (Ethernet).
pub(crate) fn parse_pcap(b: &[u8]) -> Result<Vec<Vec<u8>>> {
    Ok(pcap_records(b)?.into_iter().map(|(_, f)| f).collect())
}

/// The records of a classic pcap file (Ethernet): each frame with its
/// timestamp in ns since the Unix epoch. `e1000 dump` writes ns
/// timestamps (magic a1b23c4d); µs files (a1b2c3d4) are read too.
pub(crate) fn pcap_records(b: &[u8]) -> Result<Vec<(u64, Vec<u8>)>> {
    let u32_at = |at: usize| -> Result<u32> {
        b.get(at..at + 4)
            .map(|s| u32::from_le_bytes(s.try_into().unwrap()))
            .ok_or_else(|| Error::msg(format!("pcap truncated at byte {at} of {}", b.len())))
    };
    let ns_per_fraction = match u32_at(0)? {
        0xa1b2_3c4d => 1,
        0xa1b2_c3d4 => 1000,
        magic => bail!("not a little-endian pcap: magic {magic:#x}"),
    };
    ensure!(
        u32_at(20)? == 1,
        "pcap link type {} is not Ethernet",
        u32_at(20)?
    );
    let mut records = Vec::new();
    let mut at = 24;
    while at < b.len() {
        let (caplen, len) = (u32_at(at + 8)? as usize, u32_at(at + 12)? as usize);
        ensure!(
            caplen == len,
            "record at {at}: captured {caplen} of {len} bytes"
        );
        let data = b
            .get(at + 16..at + 16 + caplen)
            .ok_or_else(|| Error::msg(format!("pcap record at {at} truncated")))?;
        let ns = u32_at(at)? as u64 * 1_000_000_000 + u32_at(at + 4)? as u64 * ns_per_fraction;
        records.push((ns, data.to_vec()));
        at += 16 + caplen;
    }
    Ok(records)
}

/// Decodes standard base64 (what busybox `base64` prints), ignoring line breaks.
pub(crate) fn base64_decode(text: &str) -> Result<Vec<u8>> {
    let value = |c: u8| -> Option<u32> {
        Some(match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => return None,
        } as u32)
    };
    let chars: Vec<u8> = text
        .bytes()
        .filter(|c| !c.is_ascii_whitespace() && *c != b'=')
        .collect();
    let mut out = Vec::with_capacity(chars.len() * 3 / 4);
    for chunk in chars.chunks(4) {
        let mut acc = 0u32;
        for (i, &c) in chunk.iter().enumerate() {
            let v = value(c).ok_or_else(|| Error::msg(format!("not base64: {:?}", c as char)))?;
            acc |= v << (18 - 6 * i);
        }
        let bytes = acc.to_be_bytes();
        out.extend_from_slice(&bytes[1..chunk.len()]);
    }
    Ok(out)
}

/// The `"type":"frame"` JSON lines of a `dump --json` run.
pub(crate) fn frame_lines(out: &str) -> Vec<serde_json::Value> {
    out.lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l.trim()).ok())
        .filter(|v| v["type"] == "frame")
        .collect()
}

/// The interrupts the guest kernel has taken for `pci`'s vfio vectors
/// (`/proc/interrupts` lines `vfio-msix[n](PCI)`, `vfio-intx(PCI)`…).
pub(crate) fn vfio_interrupts(g: &Guest, pci: &str) -> Result<u64> {
    let out = g
        .run_ok(
            &format!("grep 'vfio.*{pci}' /proc/interrupts"),
            Duration::from_secs(10),
        )?
        .output();
    Ok(out
        .lines()
        .flat_map(|l| {
            l.split_whitespace()
                .skip(1)
                .map_while(|w| w.parse::<u64>().ok())
        })
        .sum())
}

/// The CPU time of the guest's `e1000` process so far, in clock ticks
/// (10 ms: utime + stime of `/proc/PID/stat`).
pub(crate) fn cpu_ticks(g: &Guest) -> Result<u64> {
    let stat = g
        .run_ok("cat /proc/$(pidof e1000)/stat", Duration::from_secs(10))?
        .output();
    // The fields after the command name, which is in parentheses.
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map_or("", |(_, rest)| rest)
        .split_whitespace()
        .collect();
    let field = |i: usize| fields.get(i).and_then(|f| f.parse::<u64>().ok());
    // utime and stime are fields 14 and 15, the 12th and 13th after it.
    match (field(11), field(12)) {
        (Some(user), Some(system)) => Ok(user + system),
        _ => Err(crate::error::Error::msg(format!(
            "no CPU times in /proc/PID/stat: {stat}"
        ))),
    }
}
