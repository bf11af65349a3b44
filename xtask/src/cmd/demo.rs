//! `cargo xtask demo [--count N]`: the project's echo demo. Boots a guest with
//! one emulated 82574L (`e1000e`) bound to vfio-pci, starts
//! `e1000 echo <pci> --count N` in it, sends N frames of mixed sizes from the
//! host one at a time, checks every echo byte by byte and ends with
//! `demo: N/N frames echoed by <model> at <pci>`.

use crate::bail;
use crate::error::Result;
use crate::link::peer::{Peer, TrafficSpec};
use crate::vm::guest::{Guest, GuestConfig};
use std::time::Duration;

/// Model and PCI address as reported by the CLI's ready line, e.g.
/// `echo: ready on 0000:00:03.0 (82574L) mac 52:54:00:12:34:56, irq msix`.
fn parse_ready(line: &str) -> (Option<String>, Option<String>) {
    let words: Vec<&str> = line.split_whitespace().collect();
    let pci = words
        .windows(2)
        .find(|w| w[0] == "on")
        .map(|w| w[1].trim_end_matches(',').to_string());
    let model = line
        .split_once('(')
        .and_then(|(_, rest)| rest.split_once(')'))
        .map(|(m, _)| m.to_string());
    (model, pci)
}

/// Runs the demo; returns the exit status.
pub fn main(args: &[String]) -> Result<i32> {
    let count: usize = match args {
        [] => 200,
        [flag, n] if flag == "--count" => n.parse().map_err(|_| anyhow::anyhow!("bad --count"))?,
        _ => bail!("usage: cargo xtask demo [--count N]"),
    };
    let guest = Guest::boot(GuestConfig::with_nics(&["e1000e"]))?;
    eprintln!("demo: guest ready in {:.1?}", guest.boot_time());
    let nic = guest.nic(0);
    let command = format!("e1000 echo {} --count {count}", nic.pci);
    let mut job = guest.spawn(&command)?;
    let ready = job.wait_line(|l| l.contains("ready"), Duration::from_secs(60)).map_err(|e| {
        guest.error(format!(
            "demo: `{command}` in the guest never printed a line containing \"ready\", so no frames were sent \
             (is `e1000 echo` implemented yet?)\n{e}"
        ))
    })?;
    eprintln!("demo: guest says: {ready}");
    let (model, pci) = parse_ready(&ready);
    let model = model.unwrap_or_else(|| nic.model.clone());
    let pci = pci.unwrap_or_else(|| nic.pci.clone());

    let peer = Peer::new(nic)?;
    let summary = peer.ping_pong(count, TrafficSpec::default(), Duration::from_secs(3))?;
    eprintln!("demo: {summary}");
    let mut ok = summary.is_perfect();
    match job.wait(Duration::from_secs(30)) {
        Ok(r) if r.status == 0 => {}
        Ok(r) => {
            ok = false;
            eprintln!(
                "demo: `{command}` exited {}; its output:\n{}",
                r.status,
                r.output()
            );
        }
        Err(e) => {
            ok = false;
            eprintln!("demo: `{command}` did not exit: {e}");
        }
    }
    println!(
        "demo: {}/{count} frames echoed by {model} at {pci}",
        summary.echoed
    );
    Ok(if ok && summary.echoed == count as u64 {
        0
    } else {
        1
    })
}

#[cfg(test)]
mod tests {
    use super::parse_ready;

    #[test]
    fn parses_the_ready_line() {
        let (model, pci) =
            parse_ready("echo: ready on 0000:00:03.0 (82574L) mac 52:54:00:12:34:56, irq msix");
        assert_eq!(model.as_deref(), Some("82574L"));
        assert_eq!(pci.as_deref(), Some("0000:00:03.0"));
    }
}
