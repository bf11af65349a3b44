//! Temporary manual check of the 82576 driver (to be removed).
use std::time::{Duration, Instant};
use xtask::frame::FrameKind;
use xtask::guest::{Guest, GuestConfig};
use xtask::peer::{Peer, TrafficSpec};

fn main() -> xtask::error::Result<()> {
    let modes: Vec<String> = std::env::args().skip(1).collect();
    let model = std::env::var("MODEL").unwrap_or("igb".into());
    let g = Guest::boot(GuestConfig::with_nics(&[model.as_str()]))?;
    let pci = g.nic(0).pci.clone();
    let peer = Peer::new(g.nic(0))?;
    for mode in &modes {
        if mode == "send" {
            peer.drain()?;
            let sock = g.nic(0).socket.try_clone()?;
            {
                use std::os::fd::AsRawFd;
                let v: libc::c_int = 8 << 20;
                let p = &v as *const libc::c_int as *const libc::c_void;
                let rc = unsafe {
                    libc::setsockopt(
                        sock.as_raw_fd(),
                        libc::SOL_SOCKET,
                        libc::SO_RCVBUFFORCE,
                        p,
                        4,
                    )
                };
                let rc2 = unsafe {
                    libc::setsockopt(sock.as_raw_fd(), libc::SOL_SOCKET, libc::SO_RCVBUF, p, 4)
                };
                println!("setsockopt {rc} {rc2}");
            }
            let rx = std::thread::spawn(move || {
                let mut got = 0;
                loop {
                    match xtask::peer::recv(
                        &sock,
                        Duration::from_millis(if got > 0 { 2000 } else { 30000 }),
                    ) {
                        Ok(Some(_)) => got += 1,
                        Ok(None) => break,
                        Err(e) => {
                            println!("recv error {e}");
                            break;
                        }
                    }
                }
                got
            });
            let r = g.run(
                &format!(
                    "e1000 send {pci} --count 1000 {}",
                    std::env::var("SENDARGS").unwrap_or_default()
                ),
                Duration::from_secs(60),
            )?;
            let got = rx.join().unwrap();
            println!("== send: host received {got}/1000\n{}", r.output());
            continue;
        }
        if mode == "dump" {
            let mut job = g.spawn(&format!("e1000 dump {pci} --count 5 --irq msix"))?;
            job.wait_line(|l| l.contains("ready"), Duration::from_secs(30))?;
            for i in 0..5 {
                peer.send(&xtask::frame::test_frame(
                    FrameKind::Udp,
                    g.nic(0).mac,
                    peer.host_mac,
                    i,
                    100,
                ))?;
            }
            let r = job.wait(Duration::from_secs(20))?;
            println!("== dump\n{}", r.output());
            continue;
        }
        if mode == "kernel" {
            let r = g.run(
                &format!("load-kernel-driver igb; unbind-vfio {pci}; for i in $(seq 50); do n=$(pci-netdev {pci}); [ -n \"$n\" ] && break; sleep 0.2; done; ip link set $n up; for i in $(seq 100); do [ \"$(cat /sys/class/net/$n/carrier 2>/dev/null)\" = 1 ] && break; sleep 0.1; done; echo netdev=$n carrier=$(cat /sys/class/net/$n/carrier)"),
                Duration::from_secs(60),
            )?;
            println!("== kernel\n{}", r.output());
            continue;
        }
        let secs = 40;
        let mut job = g.spawn(&format!("e1000 echo {pci} --irq {mode} --timeout {secs}"))?;
        let ready = job.wait_line(|l| l.contains("ready"), Duration::from_secs(30))?;
        println!("== {mode}: {ready}");
        let t = Instant::now();
        let pp = peer.ping_pong(300, TrafficSpec::default(), Duration::from_secs(1))?;
        println!(
            "ping-pong: {pp}  p50 {:?} p99 {:?}",
            pp.rtt_quantile(0.5),
            pp.rtt_quantile(0.99)
        );
        let fl = peer.flood(
            5000,
            TrafficSpec::default(),
            Some(20_000),
            Duration::from_secs(2),
        )?;
        println!("flood 20k/s: {fl}");
        let fl = peer.flood(
            5000,
            TrafficSpec {
                kind: FrameKind::Udp,
                size: |_| 60,
            },
            None,
            Duration::from_secs(2),
        )?;
        println!("flood max: {fl}");
        println!("host side took {:?}", t.elapsed());
        let r = job.wait(Duration::from_secs(secs + 10))?;
        println!("{}", r.output());
    }
    g.shutdown()?;
    Ok(())
}
