//! SR-IOV: the 82576's virtual functions on vfio-pci beside the guest
//! kernel's `igb` on the physical function, as a cloud VM or a host that
//! splits one port between the kernel and a fast path would run them.
//! The PF's driver enables two VFs (`sriov_numvfs`); the host sends into
//! the PF's link, addressed to each VF's MAC, and the PF sorts frames to
//! the VFs' pools.

use super::common::{json_summary, nic_counter, no_dmar_faults};
use super::suite::Suite;
use crate::ensure;
use crate::error::Result;
use crate::link::frame::Mac;
use crate::link::host_stack::HostStack;
use crate::link::peer::{EchoSummary, Peer, TrafficSpec};
use crate::vm::guest::{Guest, GuestConfig, JobResult};
use crate::vm::job::Job;
use crate::vm::sriov::{enable_vfs, set_vf_mac, PF, VFS, VF_MACS};
use std::time::Duration;

/// One boot: an `igb` left to the guest kernel's driver.
pub fn suite() -> Suite {
    let mut config = GuestConfig::with_nics(&["igb"]).unbound();
    config.dpdk = true; // for iproute2's `ip`, which sets a VF's MAC from the PF
    Suite::new(config)
        .test("igb_vf::echo_on_a_virtual_function", echo_one)
        .test(
            "igb_vf::two_vfs_in_two_processes_get_only_their_frames",
            two_vfs,
        )
        .test("igb_vf::list_shows_each_vf_with_its_pf", list)
        .test("igb_vf::tap_carries_ping_and_tcp_on_a_vf", tap)
        .test(
            "igb_vf::tap_sends_on_both_queue_pairs_of_a_vf",
            tap_two_queues,
        )
        .test("igb_vf::a_pf_that_is_down_is_named_in_the_error", pf_down)
        .test("igb_vf::a_running_vf_survives_a_pf_reset", pf_reset)
        .test("igb_vf::vf_to_vf_frames_stay_inside_the_nic", vf_to_vf)
        .test("igb_vf::forward_between_two_vfs_to_peer_macs", forward_vfs)
        .test("igb_vf::vlan_tags_sent_joined_and_stripped_on_a_vf", vlans)
        .test("igb_vf::a_mac_set_from_the_pf_is_honoured", pf_sets_mac)
}

/// The PF's driver with two VFs on vfio-pci; once per boot.
fn vfs_up(g: &Guest) -> Result<()> {
    enable_vfs(g, VFS.len())
}

/// Starts `e1000 echo` on VF `i` with its test MAC; waits until it is ready.
fn start_echo<'g>(g: &'g Guest, i: usize) -> Result<Job<'g>> {
    let mut job = g.spawn(&format!(
        "e1000 echo {} --mac {} --json",
        VFS[i], VF_MACS[i]
    ))?;
    job.wait_line(
        |l| l.contains(&format!("ready on {}", VFS[i])),
        Duration::from_secs(30),
    )?;
    // Reception starts with the PF's pool enables; give the PF's driver
    // time to answer the VF's requests.
    std::thread::sleep(Duration::from_millis(500));
    Ok(job)
}

/// Frames received by the run, from its JSON summary.
fn received(r: &JobResult) -> Option<u64> {
    json_summary(r).ok()?["rx_frames"].as_u64()
}

/// A ping-pong and a flood through `e1000 echo` on a VF, every echo checked
/// byte by byte.
fn echo_one(g: &mut Guest) -> Result<()> {
    vfs_up(g)?;
    let job = start_echo(g, 0)?;
    let peer = Peer::with_socket(g.nic(0).socket.try_clone()?, VF_MACS[0]);
    let ping = peer.ping_pong(200, TrafficSpec::default(), Duration::from_secs(2))?;
    let flood = peer.flood(
        2000,
        TrafficSpec::default(),
        Some(5_000),
        Duration::from_secs(3),
    )?;
    g.run_ok("killall -INT e1000", Duration::from_secs(10))?;
    let r = job.wait(Duration::from_secs(30))?;
    ensure!(
        ping.is_perfect() && flood.is_perfect() && r.status == 0,
        "echo on a VF: ping-pong {ping}, flood {flood}, exit {}:\n{}",
        r.status,
        r.output()
    );
    println!("    VF ping-pong {ping}\n    VF flood {flood}");
    Ok(())
}

/// Both VFs echo at once, each in its own process: frames for one VF come
/// back from that VF only, and frames for the PF's own address reach
/// neither (each VF's count is exactly its own frames).
fn two_vfs(g: &mut Guest) -> Result<()> {
    const PINGS: usize = 100;
    const TO_PF: usize = 50;
    vfs_up(g)?;
    let jobs = [start_echo(g, 0)?, start_echo(g, 1)?];
    let socket = &g.nic(0).socket;
    let mut pings: Vec<EchoSummary> = Vec::new();
    for mac in VF_MACS {
        let peer = Peer::with_socket(socket.try_clone()?, mac);
        pings.push(peer.ping_pong(PINGS, TrafficSpec::default(), Duration::from_secs(2))?);
    }
    // Frames for the PF's address: its kernel driver takes them (and drops
    // them: no such protocol), no VF may.
    let to_pf = Peer::new(g.nic(0))?;
    for i in 0..TO_PF {
        to_pf.send(&to_pf.frame(&TrafficSpec::default(), i))?;
    }
    std::thread::sleep(Duration::from_millis(500));
    g.run_ok("killall -INT e1000", Duration::from_secs(10))?;
    let mut counts = Vec::new();
    for job in jobs {
        let r = job.wait(Duration::from_secs(30))?;
        ensure!(
            r.status == 0,
            "a VF's echo exited {}:\n{}",
            r.status,
            r.output()
        );
        counts.push(received(&r).unwrap_or(u64::MAX));
    }
    for (i, ping) in pings.iter().enumerate() {
        ensure!(
            ping.is_perfect(),
            "VF {i}: ping-pong {ping} (echoes must come from {} only)",
            VF_MACS[i]
        );
    }
    ensure!(
        counts.iter().all(|&c| c == PINGS as u64),
        "each VF must receive exactly its {PINGS} frames (none of the {TO_PF} for the PF): {counts:?}"
    );
    println!(
        "    two VFs: {} and {}; {TO_PF} frames for the PF reached neither",
        pings[0], pings[1]
    );
    Ok(())
}

/// `e1000 list` shows both VFs, each with its PF and the PF's driver.
fn list(g: &mut Guest) -> Result<()> {
    vfs_up(g)?;
    let out = g.run_ok("e1000 list", Duration::from_secs(10))?.output();
    for vf in VFS {
        let line = out.lines().find(|l| l.starts_with(vf)).unwrap_or("");
        ensure!(
            line.contains("'82576 virtual function'")
                && line.contains(&format!("vf_of={PF}(drv=igb)"))
                && line.contains("drv=vfio-pci"),
            "e1000 list on {vf}:\n{out}"
        );
    }
    Ok(())
}

/// The guest kernel's stack on a VF through `e1000 tap`, against the host
/// kernel's on the PF's link: ping, then 4 MiB of TCP from the guest,
/// which the guest kernel hands over as 64 KiB frames for the VF to cut.
fn tap(g: &mut Guest) -> Result<()> {
    vfs_up(g)?;
    let ten = Duration::from_secs(10);
    let host = HostStack::start(g.nic(0), [10, 11, 14, 1])?;
    let job = start_tap(g, "--json")?;
    let ping = g.run("ping -c 5 -W 2 10.11.14.1", Duration::from_secs(30))?;
    const BYTES: usize = 4 << 20;
    let (up, got) = tcp_to_host(g, &host, 1, BYTES)?;
    let got = got.first().copied().unwrap_or(0);
    let csum = host.run(crate::link::host_stack::counters)?;
    g.run_ok("killall -INT e1000", ten)?;
    let r = job.wait(Duration::from_secs(30))?;
    ensure!(
        ping.status == 0 && ping.output().contains("5 packets received"),
        "ping through e1000 tap on a VF:\n{}",
        ping.output()
    );
    ensure!(
        up.status == 0 && got == BYTES,
        "TCP through e1000 tap on a VF: {got} of {BYTES} bytes:\n{}",
        up.output()
    );
    let bad = crate::link::host_stack::counter(&csum, "Tcp:", "InCsumErrors");
    ensure!(
        bad == 0,
        "the host saw {bad} TCP segments with a bad checksum"
    );
    ensure!(
        r.status == 0,
        "e1000 tap exited {}:\n{}",
        r.status,
        r.output()
    );
    Ok(())
}

/// `flows` TCP connections in turn from the guest to the host stack at
/// 10.11.14.1, each carrying `bytes` of zeros (`dd | nc`); returns the
/// guest's command and the bytes the host received on each connection.
fn tcp_to_host(
    g: &Guest,
    host: &HostStack,
    flows: usize,
    bytes: usize,
) -> Result<(JobResult, Vec<usize>)> {
    let received = host.spawn(move || -> std::io::Result<Vec<usize>> {
        use std::io::Read;
        let listener = std::net::TcpListener::bind("10.11.14.1:5001")?;
        let mut got = Vec::new();
        for _ in 0..flows {
            let (mut s, _) = listener.accept()?;
            s.set_read_timeout(Some(Duration::from_secs(60)))?;
            let mut all = Vec::new();
            s.read_to_end(&mut all)?;
            got.push(all.len());
        }
        Ok(got)
    })?;
    std::thread::sleep(Duration::from_millis(200));
    let sent = g.run(
        &format!(
            "for i in $(seq {flows}); do dd if=/dev/zero bs=65536 count={} 2>/dev/null | nc 10.11.14.1 5001 || exit 1; done",
            bytes / 65536
        ),
        Duration::from_secs(180),
    )?;
    let got = received
        .recv_timeout(Duration::from_secs(180))
        .map_err(|_| crate::error::Error::msg("the host's receiver never finished"))?
        .unwrap_or_default();
    Ok((sent, got))
}

/// `e1000 tap` on VF 0 with `options`, its interface up as 10.11.14.2/24.
fn start_tap<'g>(g: &'g Guest, options: &str) -> Result<Job<'g>> {
    let args = format!("{} --mac {} {options}", VFS[0], VF_MACS[0]);
    let job = crate::vm::models::start_tap(g, &args, "10.11.14.2/24")?;
    // Reception starts with the PF's pool enables.
    std::thread::sleep(Duration::from_millis(500));
    Ok(job)
}

/// `e1000 tap --queues 2` on a VF: eight TCP connections from the guest's
/// kernel to a host stack all arrive whole, and the VF's two TX queues
/// both carry frames that the host answers (one thread and one VF queue
/// per TAP queue). Received frames come on queue 0 only, as the PF's
/// driver keeps RSS for its own pool; the TAP then steers each flow's
/// later frames to the queue its replies came in on, so queue 1 carries
/// little more than the connections' first segments (15 of 1,623 frames
/// in one run).
fn tap_two_queues(g: &mut Guest) -> Result<()> {
    const FLOWS: usize = 8;
    const BYTES: usize = 256 * 1024;
    vfs_up(g)?;
    let host = HostStack::start(g.nic(0), [10, 11, 14, 1])?;
    let job = start_tap(g, "--queues 2")?;
    let (sent, got) = tcp_to_host(g, &host, FLOWS, BYTES)?;
    g.run_ok("killall -INT e1000", Duration::from_secs(10))?;
    let r = job.wait(Duration::from_secs(30))?;
    let summary = r.output();
    // "tap: queue Q: rx N frames B bytes, tx M frames"
    let per_queue: Vec<(u64, u64)> = summary
        .lines()
        .filter_map(|l| {
            let words: Vec<&str> = l
                .trim()
                .strip_prefix("tap: queue ")?
                .split_whitespace()
                .collect();
            Some((words.get(2)?.parse().ok()?, words.get(7)?.parse().ok()?))
        })
        .collect();
    println!("    {FLOWS} TCP flows from the guest; per VF queue (rx, tx frames): {per_queue:?}");
    ensure!(
        sent.status == 0 && got.len() == FLOWS && got.iter().all(|&n| n == BYTES),
        "TCP through e1000 tap --queues 2 on a VF: the host got {got:?}, want {FLOWS} x {BYTES}:\n{}",
        sent.output()
    );
    ensure!(
        r.status == 0 && per_queue.len() == 2 && per_queue.iter().all(|&(_, tx)| tx > 0),
        "both VF queues should have sent frames: {per_queue:?}:\n{summary}"
    );
    no_dmar_faults(g)
}

/// With the PF's interface down, its driver serves no mailbox: opening a
/// VF fails in a bounded time and the error says to bring the PF up.
fn pf_down(g: &mut Guest) -> Result<()> {
    vfs_up(g)?;
    let ten = Duration::from_secs(10);
    g.run_ok(&format!("ip link set $(pci-netdev {PF}) down"), ten)?;
    let r = g.run(&format!("e1000 info {}", VFS[0]), Duration::from_secs(30));
    g.run_ok(
        &format!(
            "n=$(pci-netdev {PF}); ip link set $n up; \
             for i in $(seq 100); do [ \"$(cat /sys/class/net/$n/carrier)\" = 1 ] && break; sleep 0.1; done"
        ),
        Duration::from_secs(30),
    )?;
    let r = r?;
    ensure!(
        r.status == 1 && r.output().contains("interface up"),
        "e1000 info on a VF whose PF is down (exit {}):\n{}",
        r.status,
        r.output()
    );
    // And once the PF is back, the VF works again.
    let job = start_echo(g, 0)?;
    let peer = Peer::with_socket(g.nic(0).socket.try_clone()?, VF_MACS[0]);
    let ping = peer.ping_pong(50, TrafficSpec::default(), Duration::from_secs(2))?;
    g.run_ok("killall -INT e1000", ten)?;
    job.wait(Duration::from_secs(30))?;
    ensure!(
        ping.is_perfect(),
        "echo on the VF after the PF came back: {ping}"
    );
    Ok(())
}

/// `e1000 forward VF0 VF1 --peer-a HOST --peer-b HOST`: a frame the host
/// sends to either VF comes back to the host out of the other, addressed to
/// the host from that VF's MAC and otherwise unchanged, 100 each way.
/// (Unchanged frames would still be addressed to the first VF, which the
/// PF's switch would hand straight back to it.)
fn forward_vfs(g: &mut Guest) -> Result<()> {
    const N: usize = 100;
    vfs_up(g)?;
    let mut job = g.spawn(&format!(
        "e1000 forward {} {} --peer-a {host} --peer-b {host} --count {} --timeout 60",
        VFS[0],
        VFS[1],
        2 * N,
        host = Mac::HOST
    ))?;
    // "forward: ready on PCI (82576 VF) mac M, ...", once per VF.
    let mut macs = Vec::new();
    for vf in VFS {
        let line = job.wait_line(
            |l| l.contains(&format!("ready on {vf}")),
            Duration::from_secs(30),
        )?;
        let mac = line
            .split(" mac ")
            .nth(1)
            .and_then(|rest| rest.split(',').next())
            .and_then(|m| m.parse::<Mac>().ok())
            .ok_or_else(|| crate::error::Error::msg(format!("no MAC in {line:?}")))?;
        macs.push(mac);
    }
    std::thread::sleep(Duration::from_millis(500));
    for (from, to) in [(0, 1), (1, 0)] {
        let peer = Peer::with_socket(g.nic(0).socket.try_clone()?, macs[from]);
        peer.drain()?;
        for i in 0..N {
            let frame = peer.frame(&TrafficSpec::default(), i);
            peer.send(&frame)?;
            let mut want = frame.clone();
            want[0..6].copy_from_slice(&Mac::HOST.0);
            want[6..12].copy_from_slice(&macs[to].0);
            let got = peer.recv(Duration::from_secs(2))?;
            ensure!(
                got.as_deref() == Some(&want[..]),
                "frame {i} sent to VF {from} did not come out of VF {to} to the host: {:02x?}",
                got.as_ref().map(|f| &f[..f.len().min(16)])
            );
        }
    }
    let r = job.wait(Duration::from_secs(30))?;
    ensure!(
        r.status == 0,
        "forward exited {}:\n{}",
        r.status,
        r.output()
    );
    no_dmar_faults(g)
}

/// VLANs on a VF: `send --vlan 100 --vlan-prio 3` puts tagged frames on
/// the PF's link; `dump --vlan-filter 100` (the VF joins VLAN 100 through
/// the PF's driver) receives VLAN 100's frames with the tag stripped and
/// reported, untagged frames too, and none of VLAN 200.
fn vlans(g: &mut Guest) -> Result<()> {
    const N: usize = 10;
    vfs_up(g)?;
    let peer = Peer::with_socket(g.nic(0).socket.try_clone()?, VF_MACS[0]);
    peer.drain()?;
    let sent = g.run(
        &format!(
            "e1000 send {} --mac {} -c {N} --vlan 100 --vlan-prio 3",
            VFS[0], VF_MACS[0]
        ),
        Duration::from_secs(30),
    )?;
    let mut tagged = 0;
    while let Some(f) = peer.recv(Duration::from_secs(2))? {
        let tci = u16::from_be_bytes([f[14], f[15]]);
        if f[6..12] == VF_MACS[0].0 && f[12..14] == [0x81, 0x00] && tci == 3 << 13 | 100 {
            tagged += 1;
        }
    }
    ensure!(
        sent.status == 0 && tagged == N,
        "{tagged} of {N} frames sent with --vlan 100 arrived tagged 100 (priority 3):\n{}",
        sent.output()
    );

    let mut job = g.spawn(&format!(
        "e1000 dump {} --mac {} --vlan-filter 100 --json --timeout 8",
        VFS[0], VF_MACS[0]
    ))?;
    job.wait_line(|l| l.contains("\"ready\""), Duration::from_secs(30))?;
    std::thread::sleep(Duration::from_millis(500));
    let tag = |f: &[u8], vid: u16| {
        let mut t = f[..12].to_vec();
        t.extend_from_slice(&[0x81, 0x00]);
        t.extend_from_slice(&vid.to_be_bytes());
        t.extend_from_slice(&f[12..]);
        t
    };
    for i in 0..N {
        let f = peer.frame(&TrafficSpec::default(), i);
        peer.send(&tag(&f, 100))?;
        peer.send(&tag(&f, 200))?;
        peer.send(&f)?;
    }
    let r = job.wait(Duration::from_secs(30))?;
    let frames: Vec<serde_json::Value> = super::common::json_objects(&r.lines)?
        .into_iter()
        .filter(|o| o["type"] == "frame")
        .collect();
    let count = |vlan: serde_json::Value| frames.iter().filter(|f| f["vlan"] == vlan).count();
    let (vlan100, untagged) = (count(100.into()), count(serde_json::Value::Null));
    ensure!(
        vlan100 == N && untagged == N && frames.len() == 2 * N,
        "dump --vlan-filter 100 on a VF got {vlan100} frames of VLAN 100, {untagged} untagged, {} in all; want {N}, {N}, {}:\n{}",
        frames.len(),
        2 * N,
        r.output()
    );
    Ok(())
}

/// `e1000 echo` keeps running on a VF while the PF's driver resets the
/// device under it (`ip link set PF down`, then up: the PF's reset clears
/// the VF's queue registers): echoes stop while the PF is down, and come
/// back without restarting the program once it is up; the summary counts
/// the reset.
fn pf_reset(g: &mut Guest) -> Result<()> {
    vfs_up(g)?;
    let job = start_echo(g, 0)?;
    let peer = Peer::with_socket(g.nic(0).socket.try_clone()?, VF_MACS[0]);
    let before = peer.ping_pong(50, TrafficSpec::default(), Duration::from_secs(2))?;
    g.run_ok(
        &format!(
            "n=$(pci-netdev {PF}); ip link set $n down; sleep 1; ip link set $n up; \
             for i in $(seq 100); do [ \"$(cat /sys/class/net/$n/carrier)\" = 1 ] && break; sleep 0.1; done"
        ),
        Duration::from_secs(30),
    )?;
    // The VF notices on its next idle look (every 100 ms) and asks the
    // PF's driver again; give it a few seconds before counting.
    let mut after = peer.ping_pong(20, TrafficSpec::default(), Duration::from_secs(1))?;
    for _ in 0..10 {
        if after.is_perfect() {
            break;
        }
        after = peer.ping_pong(20, TrafficSpec::default(), Duration::from_secs(1))?;
    }
    let steady = peer.ping_pong(100, TrafficSpec::default(), Duration::from_secs(2))?;
    g.run_ok("killall -INT e1000", Duration::from_secs(10))?;
    let r = job.wait(Duration::from_secs(30))?;
    let out = r.output();
    let resets = json_summary(&r)
        .and_then(|s| nic_counter(&s, "pf_resets"))
        .unwrap_or(0);
    ensure!(
        before.is_perfect() && steady.is_perfect() && r.status == 0 && resets >= 1,
        "echo on a VF across a PF reset: before {before}, after {steady}, \
         pf_resets {resets}, exit {}:\n{out}",
        r.status
    );
    println!("    VF across a PF reset: before {before}, after {steady}, pf_resets {resets}");
    Ok(())
}

/// `e1000 send` on VF 0 to VF 1's address while `e1000 dump` runs on VF 1:
/// the PF's switch (loopback on, as Linux's igb sets it with VFs) hands
/// every frame to VF 1 inside the NIC, and none goes out on the wire.
fn vf_to_vf(g: &mut Guest) -> Result<()> {
    const N: u64 = 100;
    vfs_up(g)?;
    let socket = g.nic(0).socket.try_clone()?;
    let mut dump = g.spawn(&format!(
        "e1000 dump {} --mac {} -c {N} --json --timeout 60",
        VFS[1], VF_MACS[1]
    ))?;
    dump.wait_line(
        |l| l.contains(&format!("ready on {}", VFS[1])),
        Duration::from_secs(30),
    )?;
    std::thread::sleep(Duration::from_millis(500));
    // Whatever the wire carried before the send is not counted.
    socket.set_read_timeout(Some(Duration::from_millis(50)))?;
    let mut buf = vec![0u8; 16384];
    while socket.recv(&mut buf).is_ok() {}
    let send = g.run(
        &format!(
            "e1000 send {} --mac {} --dst-mac {} -c {N} --rate 1000",
            VFS[0], VF_MACS[0], VF_MACS[1]
        ),
        Duration::from_secs(60),
    )?;
    let r = dump.wait(Duration::from_secs(60))?;
    let mut on_wire = 0;
    socket.set_read_timeout(Some(Duration::from_millis(300)))?;
    while let Ok(n) = socket.recv(&mut buf) {
        on_wire += (n >= 6 && buf[..6] == VF_MACS[1].0) as u64;
    }
    let got = received(&r);
    ensure!(
        send.status == 0 && r.status == 0 && got == Some(N) && on_wire == 0,
        "VF to VF: dump on VF 1 got {got:?} of {N} (exit {}), {on_wire} on the wire; send exit {}:\n{}\n{}",
        r.status,
        send.status,
        send.output(),
        r.output()
    );
    println!("    VF 0 to VF 1: {N}/{N} inside the NIC, 0 on the wire");
    Ok(())
}

/// The PF's administrator gives VF 0 an address (`ip link set PF vf 0 mac`,
/// iproute2's `ip`): `e1000 echo` without `--mac` takes it from the PF's
/// answer to its reset and echoes frames sent to it; `--mac` with another
/// address is refused by the PF with an error that says why. The address is
/// cleared afterwards (all zeros) so that the VF chooses again.
fn pf_sets_mac(g: &mut Guest) -> Result<()> {
    const PF_SET: Mac = Mac([0x02, 0x00, 0x00, 0x00, 0x0b, 0x00]);
    vfs_up(g)?;
    let ten = Duration::from_secs(10);
    set_vf_mac(g, 0, PF_SET)?;
    let result = (|| -> Result<()> {
        let mut job = g.spawn(&format!("e1000 echo {} --json", VFS[0]))?;
        let ready = job.wait_line(
            |l| l.contains(&format!("ready on {}", VFS[0])),
            Duration::from_secs(30),
        )?;
        std::thread::sleep(Duration::from_millis(500));
        let peer = Peer::with_socket(g.nic(0).socket.try_clone()?, PF_SET);
        let ping = peer.ping_pong(50, TrafficSpec::default(), Duration::from_secs(2))?;
        g.run_ok("killall -INT e1000", ten)?;
        job.wait(Duration::from_secs(30))?;
        ensure!(
            ready.contains(&PF_SET.to_string()) && ping.is_perfect(),
            "echo on a VF whose MAC the PF set: ready line {ready:?}, ping-pong {ping}"
        );
        let other = g.run(
            &format!(
                "e1000 echo {} --mac {} -c 1 --timeout 5",
                VFS[0], VF_MACS[0]
            ),
            Duration::from_secs(30),
        )?;
        ensure!(
            other.status == 1 && other.output().contains("refused"),
            "--mac against the PF's choice (exit {}):\n{}",
            other.status,
            other.output()
        );
        println!("    PF-set MAC {PF_SET}: {ping}; another --mac refused");
        Ok(())
    })();
    set_vf_mac(g, 0, Mac([0; 6]))?;
    result
}
