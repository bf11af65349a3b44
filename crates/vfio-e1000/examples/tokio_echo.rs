//! An echo on tokio: the task sleeps on the queue's interrupt eventfd
//! (`AsyncFd`), and each wake-up acknowledges the interrupt without blocking
//! (`Nic::wait` with a zero timeout), then drains the ring. Nothing spins:
//! between bursts the process uses no CPU. Stops after `COUNT` frames or on
//! Ctrl-C, and prints what it echoed.
//!
//! ```sh
//! cargo run --release --example tokio_echo -- 0000:03:00.0 [COUNT]
//! ```

use std::time::Duration;
use tokio::io::unix::AsyncFd;
use vfio_e1000::{Config, IrqMode, Nic};

/// Swaps source and destination MAC of every frame waiting, sends them back;
/// returns how many were echoed.
fn drain(nic: &mut Nic, batch: &mut Vec<vfio_e1000::Packet>) -> u64 {
    let mut echoed = 0;
    while nic.rx_batch(batch, 64) > 0 {
        for frame in batch.iter_mut().filter(|f| f.len() >= 12) {
            let mut macs = [0u8; 12];
            macs.copy_from_slice(&frame[..12]);
            frame[..6].copy_from_slice(&macs[6..]);
            frame[6..12].copy_from_slice(&macs[..6]);
        }
        echoed += nic.tx_batch(batch) as u64;
        batch.clear();
    }
    echoed
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let pci = args.next().ok_or("usage: tokio_echo PCI-ADDRESS [COUNT]")?;
    let count: u64 = args
        .next()
        .map(|n| n.parse())
        .transpose()?
        .unwrap_or(u64::MAX);
    let mut config = Config::default();
    config.busy_poll_us = 0; // the runtime does the waiting
    let mut nic = Nic::open(&pci, &config)?;
    if nic.irq_mode() == IrqMode::Poll {
        return Err("this NIC offers no interrupts here: an async echo needs one".into());
    }
    nic.wait_link(Duration::from_secs(5))?;
    // Queue 0's first eventfd is its receive vector (MSI-X) or the one
    // vector; the reactor gets its own descriptor for it.
    let fd = nic.queue(0)?.fds()[0].try_clone_to_owned()?;
    // SAFETY: the AsyncFd owns `fd`, so it stays open as long as the AsyncFd.
    let irq = unsafe { AsyncFd::register(fd) }.map_err(|e| e.into_parts().1)?;
    println!(
        "tokio_echo: ready on {} ({}, {} interrupts)",
        nic.pci(),
        nic.model(),
        nic.irq_mode()
    );
    let mut batch = Vec::with_capacity(64);
    let mut echoed = drain(&mut nic, &mut batch);
    while echoed < count {
        tokio::select! {
            guard = irq.readable() => {
                let mut guard = guard?;
                nic.wait(Duration::ZERO)?; // acknowledge, without blocking
                guard.clear_ready();
                echoed += drain(&mut nic, &mut batch);
            }
            _ = tokio::signal::ctrl_c() => break,
        }
    }
    nic.tx_flush(Duration::from_secs(2));
    println!("tokio_echo: echoed {echoed} frames");
    Ok(())
}
