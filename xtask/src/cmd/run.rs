//! `cargo xtask run [--model M]... [--bind PCI|none]... [--trace PATTERN]
//! [--timeout SECS] [--dpdk] -- <guest shell command>`: boots a guest, runs one
//! command, streams its output and exits with its status. A debugging aid.

use crate::error::Result;
use crate::vm::guest::{Guest, GuestConfig};
use crate::{bail, ensure};
use std::time::{Duration, Instant};

/// Usage text of the `run` command.
pub const USAGE: &str = "cargo xtask run [--model M]... [--bind PCI|none]... [--trace PATTERN] [--timeout SECS] [--dpdk] -- <command>";

/// Parses the arguments, boots, runs the command; returns its exit status.
pub fn main(args: &[String]) -> Result<i32> {
    let mut models = Vec::new();
    let mut bind: Option<Vec<String>> = None;
    let mut trace = None;
    let mut timeout = Duration::from_secs(300);
    let mut dpdk = false;
    let mut it = args.iter();
    let mut command = Vec::new();
    while let Some(a) = it.next() {
        let mut value = || {
            it.next()
                .cloned()
                .ok_or_else(|| crate::error::Error::msg(format!("{a} needs a value\n{USAGE}")))
        };
        match a.as_str() {
            "--model" => models.push(value()?),
            "--bind" => {
                let v = value()?;
                let list = bind.get_or_insert_with(Vec::new);
                if v != "none" {
                    list.push(v);
                }
            }
            "--trace" => trace = Some(value()?),
            // The bench's guest: DPDK's testpmd in the initramfs, 2 vCPUs.
            "--dpdk" => dpdk = true,
            "--timeout" => {
                timeout = Duration::from_secs(
                    value()?
                        .parse()
                        .map_err(|_| anyhow::anyhow!("bad --timeout"))?,
                )
            }
            "--" => {
                command.extend(it.by_ref().cloned());
                break;
            }
            other => bail!("unknown argument {other}\n{USAGE}"),
        }
    }
    ensure!(!command.is_empty(), "no guest command given\n{USAGE}");
    if models.is_empty() {
        models.push("e1000e".to_string());
    }
    let model_refs: Vec<&str> = models.iter().map(String::as_str).collect();
    let mut config = GuestConfig::with_nics(&model_refs);
    config.bind = bind;
    config.trace = trace;
    if dpdk {
        config.dpdk = true;
        config.cpus = crate::vm::GUEST_CPUS;
    }

    let guest = Guest::boot(config)?;
    eprintln!("xtask: guest ready in {:.1?}", guest.boot_time());
    for nic in guest.nics() {
        eprintln!(
            "xtask: {} at {} mac {} (host peer {:?})",
            nic.model,
            nic.pci,
            nic.mac,
            nic.socket.local_addr()?
        );
    }
    if let Some(p) = guest.trace_path() {
        eprintln!("xtask: QEMU trace output: {}", p.display());
    }
    let command = command.join(" ");
    let started = Instant::now();
    let mut job = guest.spawn(&command)?;
    while let Some(line) = job.next_line(timeout.saturating_sub(started.elapsed()))? {
        println!("{line}");
    }
    let result = job.wait(Duration::from_secs(1))?;
    eprintln!(
        "xtask: `{command}` exited {} after {:.1?}",
        result.status,
        started.elapsed()
    );
    if let Some(p) = guest.trace_path() {
        eprintln!("xtask: QEMU trace output: {}", p.display());
    }
    if let Err(e) = guest.shutdown() {
        eprintln!("xtask: {e}");
    }
    Ok(result.status)
}
