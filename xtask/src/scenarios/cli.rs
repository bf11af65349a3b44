//! The `e1000` command as a user types it: `--version`, `--help`, usage
//! errors and their exit codes; `dump` writing pcap to a file and to stdout
//! (checked frame by frame here and, when installed, by `tshark`); `--json`
//! and `--stats-period` lines; `unbind` giving the NIC back to the kernel,
//! `list` showing it active, and `bind` refusing it without `--force`.

use super::common::{base64_decode, json_objects, json_one, parse_pcap, receive_sent};
use super::suite::Suite;
use crate::error::Result;
use crate::link::frame::FrameKind;
use crate::link::peer::{Peer, TrafficSpec};
use crate::vm::guest::Guest;
use crate::vm::job::Job;
use crate::{bail, ensure};
use std::io::Write;
use std::process::{Command, Stdio};
use std::time::Duration;

const SHORT: Duration = Duration::from_secs(30);

/// Adds the CLI scenarios to a model's suite.
pub fn add(s: Suite, model: &str) -> Suite {
    let name = |what: &str| format!("{model}::{what}");
    s.test(name("cli_version_help_and_usage_errors"), usage)
        .test(name("cli_dump_pcap_file_matches_sent_frames"), pcap_file)
        .test(name("cli_dump_pcap_stream_to_stdout"), pcap_stream)
        .test(name("cli_json_and_stats_lines_parse"), json_lines)
        .test(name("cli_output_into_a_closed_pipe_is_quiet"), closed_pipe)
        .test(name("cli_send_addresses_flows_payload"), send_options)
        .test(
            name("cli_unbind_to_kernel_then_bind_refuses_active"),
            unbind_bind,
        )
}

/// `e1000 info | head -1`: the reader goes away while `info` still writes.
/// No panic message, exit status 0 (all written in time) or 141 (128 +
/// SIGPIPE, as a killed program reports), and the NIC usable afterwards.
fn closed_pipe(g: &mut Guest) -> Result<()> {
    let pci = g.nic(0).pci.clone();
    for _ in 0..3 {
        let r = g.run(
            &format!("(e1000 info {pci} 2>/tmp/info.err; echo $? >/tmp/info.st) | head -1; cat /tmp/info.st /tmp/info.err"),
            SHORT,
        )?;
        let out = r.output();
        ensure!(
            r.lines.len() == 2 && ["0", "141"].contains(&r.lines[1].trim()),
            "want the first line of `info` and its exit status 0 or 141, then nothing on stderr:\n{out}"
        );
    }
    super::common::echo_works(g)
}

/// `--version`, `--help` exit 0; an unknown option, an extra argument and a
/// bad value exit 2 with a usage message.
fn usage(g: &mut Guest) -> Result<()> {
    let pci = g.nic(0).pci.clone();
    let r = g.run("e1000 --version", SHORT)?;
    ensure!(
        r.status == 0 && r.lines.first().is_some_and(|l| l.starts_with("e1000 0.")),
        "`e1000 --version` exited {}:\n{}",
        r.status,
        r.output()
    );
    let r = g.run("e1000 echo --help", SHORT)?;
    let out = r.output();
    ensure!(
        r.status == 0
            && out.contains("Usage: e1000 echo [OPTIONS] <PCI>")
            && out.contains("--stats-period")
            && out.contains("Examples:"),
        "`e1000 echo --help` exited {}:\n{out}",
        r.status
    );
    for bad in [
        format!("e1000 dump {pci} --bogus"),
        format!("e1000 dump {pci} -c 5 extra"),
        format!("e1000 send {pci} --size 20"),
        "e1000 frobnicate".to_string(),
    ] {
        let r = g.run(&bad, SHORT)?;
        ensure!(
            r.status == 2 && r.output().contains("error: ") && r.output().contains("--help"),
            "`{bad}` exited {}, want 2 with a usage error:\n{}",
            r.status,
            r.output()
        );
    }
    Ok(())
}

/// Spawns `cmd`, waits for `WHAT: ready`, then 1.5 s (QEMU's 8254x models
/// hold reception for 1 s after the RCTL write).
fn spawn_ready<'g>(g: &'g Guest, cmd: &str, what: &str) -> Result<Job<'g>> {
    let mut job = g.spawn(cmd)?;
    let ready = format!("{what}: ready");
    job.wait_line(|l| l.contains(&ready), SHORT)?;
    std::thread::sleep(Duration::from_millis(1500));
    Ok(job)
}

/// Sends `n` UDP frames of mixed sizes into NIC 0, 5 ms apart; returns them.
fn send_frames(g: &Guest, n: usize) -> Result<Vec<Vec<u8>>> {
    let peer = Peer::new(g.nic(0))?;
    let spec = TrafficSpec {
        kind: FrameKind::Udp,
        ..TrafficSpec::default()
    };
    let mut sent = Vec::new();
    for i in 0..n {
        let f = peer.frame(&spec, i);
        peer.send(&f)?;
        sent.push(f);
        std::thread::sleep(Duration::from_millis(5));
    }
    Ok(sent)
}

/// Every captured frame equals the frame sent, in order.
fn check_frames(got: &[Vec<u8>], sent: &[Vec<u8>]) -> Result<()> {
    ensure!(
        got.len() == sent.len(),
        "pcap holds {} frames, {} were sent",
        got.len(),
        sent.len()
    );
    for (i, (g, s)) in got.iter().zip(sent).enumerate() {
        ensure!(
            g == s,
            "pcap frame {i} ({} bytes) differs from the frame sent ({} bytes)",
            g.len(),
            s.len()
        );
    }
    Ok(())
}

/// `tshark` on the host reads `pcap` (a file path, or stdin when `None`
/// with `bytes`) and must see the sent frames' lengths; skipped (with a
/// note) when tshark is not installed.
fn tshark_check(pcap: &[u8], sent: &[Vec<u8>], via_stdin: bool) -> Result<()> {
    if Command::new("tshark").arg("--version").output().is_err() {
        println!("    tshark not installed on the host: its check skipped");
        return Ok(());
    }
    let file = crate::vm::assets::guest_dir().join("cli-test.pcap");
    let mut cmd = Command::new("tshark");
    if via_stdin {
        cmd.args(["-r", "-"]);
    } else {
        std::fs::write(&file, pcap)?;
        cmd.arg("-r").arg(&file);
    }
    cmd.args(["-T", "fields", "-e", "frame.len", "-e", "udp.srcport"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn()?;
    {
        let mut stdin = child.stdin.take().expect("piped");
        if via_stdin {
            stdin.write_all(pcap)?;
        }
    }
    let out = child.wait_with_output()?;
    let _ = std::fs::remove_file(&file);
    let text = String::from_utf8_lossy(&out.stdout);
    let lens: Vec<usize> = text
        .lines()
        .filter_map(|l| l.split('\t').next()?.parse().ok())
        .collect();
    let want: Vec<usize> = sent.iter().map(Vec::len).collect();
    ensure!(
        out.status.success() && lens == want,
        "tshark -r {} read lengths {lens:?}, sent {want:?} ({}):\n{}",
        if via_stdin { "-" } else { "FILE" },
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    println!(
        "    tshark -r {}: {} frames, lengths match",
        if via_stdin { "-" } else { "FILE" },
        lens.len()
    );
    Ok(())
}

/// `dump -c N -w FILE`: no per-frame lines, and the file holds exactly the
/// frames sent (checked here and by tshark).
fn pcap_file(g: &mut Guest) -> Result<()> {
    const N: usize = 24;
    let pci = g.nic(0).pci.clone();
    let job = spawn_ready(
        g,
        &format!("rm -f /tmp/cap.pcap; e1000 dump {pci} -c {N} -w /tmp/cap.pcap --timeout 60"),
        "dump",
    )?;
    let sent = send_frames(g, N)?;
    let r = job.wait(SHORT)?;
    let out = r.output();
    ensure!(r.status == 0, "dump exited {}:\n{out}", r.status);
    ensure!(
        !r.lines.iter().any(|l| l.contains(" #1 ")),
        "dump -w printed per-frame lines:\n{out}"
    );
    ensure!(
        out.contains(&format!("dump: summary: rx {N} frames")),
        "no summary for {N} frames:\n{out}"
    );
    let b64 = g.run_ok("base64 /tmp/cap.pcap", SHORT)?;
    let pcap = base64_decode(&b64.output())?;
    check_frames(&parse_pcap(&pcap)?, &sent)?;
    let want_bytes = 24 + sent.iter().map(|f| 16 + f.len()).sum::<usize>();
    ensure!(
        pcap.len() == want_bytes,
        "pcap is {} bytes, want {want_bytes}",
        pcap.len()
    );
    tshark_check(&pcap, &sent, false)
}

/// `dump -w -` streams pcap into a pipe (`| cat >FILE`: the stream's bytes,
/// read back with `base64`, then into `tshark -r -` on the host, and
/// counted with `wc -c`); the human lines go to stderr.
fn pcap_stream(g: &mut Guest) -> Result<()> {
    const N: usize = 16;
    let pci = g.nic(0).pci.clone();
    let job = g.spawn(&format!(
        "rm -f /tmp/dump.err; e1000 dump {pci} -c {N} -w - --timeout 60 2>/tmp/dump.err | cat >/tmp/stream.pcap"
    ))?;
    let ready = g.run(
        "for i in $(seq 300); do grep -q 'dump: ready' /tmp/dump.err 2>/dev/null && exit 0; sleep 0.1; done; exit 1",
        SHORT,
    )?;
    if ready.status != 0 {
        let r = job.wait(SHORT)?;
        let err = g.run("cat /tmp/dump.err", SHORT)?;
        bail!(
            "dump -w - never got ready:\n{}\n{}",
            r.output(),
            err.output()
        );
    }
    std::thread::sleep(Duration::from_millis(1500));
    let sent = send_frames(g, N)?;
    let r = job.wait(SHORT)?;
    let err = g.run_ok("cat /tmp/dump.err", SHORT)?.output();
    ensure!(
        r.status == 0 && r.lines.is_empty(),
        "dump -w - | cat exited {} with output on the terminal:\n{}\nstderr:\n{err}",
        r.status,
        r.output()
    );
    ensure!(
        err.contains(&format!("dump: summary: rx {N} frames")),
        "no summary on stderr for {N} frames:\n{err}"
    );
    let b64 = g.run_ok("base64 /tmp/stream.pcap", SHORT)?;
    let pcap = base64_decode(&b64.output())?;
    check_frames(&parse_pcap(&pcap)?, &sent)?;
    let wc = g.run_ok("wc -c </tmp/stream.pcap", SHORT)?;
    let want_bytes = 24 + sent.iter().map(|f| 16 + f.len()).sum::<usize>();
    ensure!(
        wc.output().trim() == want_bytes.to_string(),
        "wc -c says {}, want {want_bytes}",
        wc.output()
    );
    tshark_check(&pcap, &sent, true)?;
    // A reader that goes away ends the capture, with the summary and exit 0.
    let mut job = g.spawn(&format!(
        "{{ e1000 dump {pci} -w - --timeout 60; echo \"e1000 exited $?\" >&2; }} | head -c 24 | wc -c"
    ))?;
    job.wait_line(|l| l.contains("dump: ready"), SHORT)?;
    let peer = Peer::new(g.nic(0))?;
    let spec = TrafficSpec::default();
    for i in 0..100 {
        if job.lines().iter().any(|l| l.starts_with("e1000 exited")) {
            break;
        }
        peer.send(&peer.frame(&spec, i))?;
        std::thread::sleep(Duration::from_millis(50));
    }
    let r = job.wait(SHORT)?;
    ensure!(
        r.lines.iter().any(|l| l == "e1000 exited 0")
            && r.lines.iter().any(|l| l.trim() == "24")
            && r.output().contains("dump: summary: rx "),
        "dump -w - | head -c 24 did not end cleanly:\n{}",
        r.output()
    );
    Ok(())
}

/// `echo --json --stats-period`: every stdout line is a JSON object (ready,
/// stats, summary); the summary counts at least the ping-pong (a frame left
/// over from an earlier scenario may reach the NIC too, so the run ends on
/// SIGINT rather than at a count); the human summary is still there (on
/// stderr).
fn json_lines(g: &mut Guest) -> Result<()> {
    const N: usize = 150;
    let nic = g.nic(0);
    let peer = Peer::new(nic)?;
    let job = spawn_ready(
        g,
        &format!(
            "e1000 echo {} --json --stats-period 0.5 --timeout 60",
            nic.pci
        ),
        "echo",
    )?;
    let pings = peer.ping_pong(N, TrafficSpec::default(), Duration::from_secs(2))?;
    g.run_ok("killall -INT e1000", SHORT)?;
    let r = job.wait(SHORT)?;
    let out = r.output();
    ensure!(
        r.status == 0 && pings.is_perfect(),
        "echo --json exited {} after {pings}:\n{out}",
        r.status
    );
    let objects = json_objects(&r.lines)?;
    let ready = json_one(&objects, "ready")?;
    ensure!(ready["pci"] == nic.pci.as_str(), "ready object {ready}");
    let summary = json_one(&objects, "summary")?;
    let rx = summary["rx_frames"].as_u64().unwrap_or(0);
    ensure!(
        rx >= N as u64 && summary["tx_frames"] == rx,
        "JSON summary {summary} does not count {N} frames or more, all echoed"
    );
    ensure!(
        summary["nic"]["rx_packets"].as_u64() >= Some(N as u64)
            && summary["nic"]["rx_ring_full"] == 0
            && summary["mmio_writes_per_frame"].is_f64(),
        "JSON summary lacks the NIC counters: {summary}"
    );
    let stats: Vec<&serde_json::Value> = objects.iter().filter(|o| o["type"] == "stats").collect();
    ensure!(
        stats.len() >= 2
            && stats
                .iter()
                .all(|s| s["rx_fps"].is_f64() && s["tx_mbps"].is_f64() && s["drops"].is_u64()),
        "want at least 2 stats objects with rates and drops, got {stats:?}"
    );
    ensure!(
        out.contains(&format!("echo: summary: rx {rx} frames"))
            && r.lines.iter().any(|l| l.starts_with("echo: stats ")),
        "the human summary and stats lines (stderr) are missing:\n{out}"
    );
    // stdout alone is JSON only.
    let quiet = g.run(
        &format!("e1000 echo {} --json --timeout 1 2>/dev/null", nic.pci),
        SHORT,
    )?;
    ensure!(
        quiet.status == 0
            && !quiet.lines.is_empty()
            && quiet.lines.iter().all(|l| l.starts_with('{')),
        "stdout of echo --json has non-JSON lines:\n{}",
        quiet.output()
    );
    json_one(&json_objects(&quiet.lines)?, "summary")?;
    // dump --json -x: one frame object per frame, with its bytes in hex.
    let job = spawn_ready(
        g,
        &format!("e1000 dump {} -c 3 --json -x --timeout 60", nic.pci),
        "dump",
    )?;
    let sent = send_frames(g, 3)?;
    let r = job.wait(SHORT)?;
    let objects = json_objects(&r.lines)?;
    let frames: Vec<&serde_json::Value> = objects.iter().filter(|o| o["type"] == "frame").collect();
    ensure!(
        r.status == 0 && frames.len() == 3,
        "dump --json gave {} frame objects:\n{}",
        frames.len(),
        r.output()
    );
    for (f, s) in frames.iter().zip(&sent) {
        let hex: String = s.iter().map(|b| format!("{b:02x}")).collect();
        ensure!(
            f["len"] == s.len() && f["hex"] == hex.as_str() && f["summary"].is_string(),
            "frame object {f} does not match the {}-byte frame sent",
            s.len()
        );
    }
    Ok(())
}

/// `send` with every addressing option: the host receives frames with the
/// IPs, ports, flows (source ports cycling), payload and checksum asked for;
/// the JSON summary counts them. More frames than the pool has buffers, so
/// buffers come back from the NIC and are sent again (send builds each
/// buffer's frame once and then only rewrites the sequence number and port).
fn send_options(g: &mut Guest) -> Result<()> {
    const N: u64 = 3000;
    let nic = g.nic(0);
    let peer = Peer::new(nic)?;
    peer.drain()?;
    let job = g.spawn(&format!(
        "e1000 send {} -c {N} -s 100 --rate 10000 --dst-mac 02:00:00:00:00:01 --src-ip 10.11.12.7 \
         --dst-ip 10.11.12.9 --src-port 5000 --dst-port 6000 --flows 4 --payload c0ffee --json",
        nic.pci
    ))?;
    let next = receive_sent(&peer, N, |seq, f| {
        let port = |at: usize| u16::from_be_bytes([f[at], f[at + 1]]);
        ensure!(
            f.len() == 100
                && f[0..6] == [2, 0, 0, 0, 0, 1]
                && f[6..12] == nic.mac.0
                && f[26..30] == [10, 11, 12, 7]
                && f[30..34] == [10, 11, 12, 9]
                && port(34) == 5000 + (seq % 4) as u16
                && port(36) == 6000,
            "frame {seq} has the wrong headers: {:02x?}",
            &f[..42]
        );
        ensure!(
            f[50..]
                .iter()
                .enumerate()
                .all(|(i, &b)| b == [0xc0, 0xff, 0xee][i % 3]),
            "payload of frame {seq} is not c0ffee repeated: {:02x?}",
            &f[50..]
        );
        Ok(())
    })?;
    let r = job.wait(SHORT)?;
    ensure!(
        next == N && r.status == 0,
        "received {next}/{N} frames; send exited {}:\n{}",
        r.status,
        r.output()
    );
    let objects = json_objects(&r.lines)?;
    let summary = json_one(&objects, "summary")?;
    ensure!(
        summary["tx_frames"] == N && summary["completed"] == true,
        "send's JSON summary: {summary}"
    );
    Ok(())
}

/// `unbind` gives the NIC back to the kernel driver, whose interface comes
/// back and pings; `list` shows it active; `bind` refuses it, `bind --force`
/// takes it; then our echo works again.
fn unbind_bind(g: &mut Guest) -> Result<()> {
    let nic = g.nic(0);
    let pci = nic.pci.clone();
    let driver = match nic.model.as_str() {
        "e1000e" => "e1000e",
        "igb" => "igb",
        _ => "e1000",
    };
    g.run_ok(&format!("load-kernel-driver {driver}"), SHORT)?;
    let r = g.run(&format!("e1000 unbind {pci}"), SHORT)?;
    ensure!(
        r.status == 0
            && r.output()
                .contains(&format!("{pci} bound to {driver} (was vfio-pci)")),
        "`e1000 unbind {pci}` exited {}:\n{}",
        r.status,
        r.output()
    );
    super::harness::kernel_ping(g, 0)?;
    let list = g.run_ok("e1000 list", SHORT)?;
    let line = list
        .lines
        .iter()
        .find(|l| l.starts_with(&pci))
        .cloned()
        .unwrap_or_default();
    ensure!(
        line.contains(&format!("drv={driver}"))
            && line.contains("if=")
            && line.ends_with("*Active*"),
        "`e1000 list` does not show {pci} active on {driver}:\n{}",
        list.output()
    );
    let refused = g.run(&format!("e1000 bind {pci}"), SHORT)?;
    ensure!(
        refused.status == 1
            && refused.output().contains("is active")
            && refused.output().contains("--force"),
        "`e1000 bind {pci}` on an active interface exited {}:\n{}",
        refused.status,
        refused.output()
    );
    let still = g.run_ok(
        &format!("basename $(readlink /sys/bus/pci/devices/{pci}/driver)"),
        SHORT,
    )?;
    ensure!(
        still.lines == [driver],
        "after the refused bind {pci} is on {:?}",
        still.lines
    );
    let forced = g.run(&format!("e1000 bind {pci} --force"), SHORT)?;
    ensure!(
        forced.status == 0
            && forced
                .output()
                .contains(&format!("{pci} bound to vfio-pci")),
        "`e1000 bind {pci} --force` exited {}:\n{}",
        forced.status,
        forced.output()
    );
    // With --driver: the named kernel driver takes it; its interface comes
    // back down and without addresses, so a plain bind is not refused.
    let named = g.run(&format!("e1000 unbind {pci} --driver {driver}"), SHORT)?;
    ensure!(
        named.status == 0
            && named
                .output()
                .contains(&format!("{pci} bound to {driver} (was vfio-pci)")),
        "`e1000 unbind {pci} --driver {driver}` exited {}:\n{}",
        named.status,
        named.output()
    );
    let override_cleared = g.run_ok(
        &format!("cat /sys/bus/pci/devices/{pci}/driver_override"),
        SHORT,
    )?;
    ensure!(
        override_cleared.lines == ["(null)"],
        "driver_override left set: {:?}",
        override_cleared.lines
    );
    let plain = g.run(&format!("e1000 bind {pci}"), SHORT)?;
    ensure!(
        plain.status == 0 && plain.output().contains(&format!("{pci} bound to vfio-pci")),
        "`e1000 bind {pci}` of an idle interface exited {}:\n{}",
        plain.status,
        plain.output()
    );
    super::common::echo_works(g)
}
