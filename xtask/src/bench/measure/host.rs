//! The host peer's own ceiling, measured against a socket on the host.

use super::*;

/// The host peer's own limits, with no guest involved.
#[derive(Clone, Debug, Default)]
pub struct HostCeiling {
    /// Frames per second the peer sends into a plain UDP socket nobody reads.
    pub send_fps: f64,
    /// The ladder against a plain UDP echo thread on the host.
    pub echo: Vec<Rung>,
}

/// Measures the host peer against plain UDP sockets on the host.
pub fn host_ceiling(effort: Effort) -> Result<HostCeiling> {
    let mac = Mac::nic(0);
    // Send rate: into a socket nobody reads.
    let sink = UdpSocket::bind("127.0.0.1:0")?;
    let tx = UdpSocket::bind("127.0.0.1:0")?;
    tx.connect(sink.local_addr()?)?;
    let peer = Peer::with_socket(tx, mac);
    let n = effort.rung_min() * 20;
    let s = peer.flood(n, small_frames(), None, Duration::ZERO)?;
    let send_fps = s.sent as f64 / s.send_elapsed.as_secs_f64().max(1e-6);
    drop(sink);
    // Echo: a thread that echoes by the contract.
    let nic = UdpSocket::bind("127.0.0.1:0")?;
    let host = UdpSocket::bind("127.0.0.1:0")?;
    // Large buffers on both ends, as the bench gives the real peer socket:
    // this measures the peer, not the loopback's default buffer.
    crate::vm::qemu::grow_receive_buffer(&nic);
    crate::vm::qemu::grow_receive_buffer(&host);
    nic.connect(host.local_addr()?)?;
    host.connect(nic.local_addr()?)?;
    nic.set_read_timeout(Some(Duration::from_millis(200)))?;
    let stop = Arc::new(AtomicBool::new(false));
    let flag = Arc::clone(&stop);
    let echo = thread::spawn(move || {
        let mut buf = vec![0u8; 65536];
        while !flag.load(Ordering::Relaxed) {
            if let Ok(len) = nic.recv(&mut buf) {
                let _ = nic.send(&expected_echo(&buf[..len], mac));
            }
        }
    });
    let rungs = ladder(&host, mac, effort, None, small_frames());
    stop.store(true, Ordering::Relaxed);
    let _ = echo.join();
    Ok(HostCeiling {
        send_fps,
        echo: rungs?,
    })
}
