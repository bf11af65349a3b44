//! Where QEMU's CPU time goes while an echo is saturated: `perf record`
//! with call graphs on QEMU's process, each sample put in one bucket by the
//! functions on its call chain. QEMU's binary is stripped, but it exports
//! the entry points that matter (`memory_region_dispatch_write` for a
//! register write, `net_tx_pkt_send` for a transmitted frame, the net
//! queue's `qemu_net_queue_send` for a received one, `main_loop_wait`, the
//! big lock), and the host kernel's symbols name the socket calls.

use crate::error::{Error, Result};
use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

/// Sampling frequency, per thread (Hz).
const FREQUENCY: u32 = 499;

/// What a sample was doing, in the order the rules are tried.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Bucket {
    /// The NIC model's transmit path, in the host kernel: sending the frame
    /// on the link socket.
    TxSocket,
    /// The NIC model's transmit path in QEMU: descriptors, DMA through the
    /// IOMMU, the net layer.
    TxModel,
    /// Other register writes (a tail write with nothing new, interrupt
    /// registers).
    RegWrite,
    /// Register reads.
    RegRead,
    /// The NIC model's receive path: filtering, DMA of the frame and its
    /// descriptor through the IOMMU, interrupts.
    RxModel,
    /// Reading a frame from the link socket (host kernel).
    RxSocket,
    /// Taking or releasing QEMU's big lock.
    Lock,
    /// Guest code, translated by TCG.
    GuestCode,
    /// TCG's runtime: finding and translating guest code, helpers.
    Tcg,
    /// The main loop's own work: `ppoll`, glib, timers, bottom halves.
    MainLoop,
    /// Anything else.
    Other,
}

impl Bucket {
    /// Every bucket, in report order.
    pub const ALL: [Bucket; 11] = [
        Bucket::GuestCode,
        Bucket::Tcg,
        Bucket::TxModel,
        Bucket::TxSocket,
        Bucket::RegWrite,
        Bucket::RegRead,
        Bucket::RxSocket,
        Bucket::RxModel,
        Bucket::MainLoop,
        Bucket::Lock,
        Bucket::Other,
    ];

    /// The NIC's emulation proper: the model and its socket calls, which
    /// QEMU runs under its big lock.
    pub fn is_device_work(self) -> bool {
        matches!(
            self,
            Bucket::TxSocket
                | Bucket::TxModel
                | Bucket::RegWrite
                | Bucket::RegRead
                | Bucket::RxModel
                | Bucket::RxSocket
        )
    }

    /// What the bucket is, for the report.
    pub fn label(self) -> &'static str {
        match self {
            Bucket::TxSocket => "transmit: the host kernel sends the frame (link socket)",
            Bucket::TxModel => "transmit: NIC model and net layer (descriptors, DMA, IOMMU)",
            Bucket::RegWrite => "other register writes (RX tail, interrupt registers)",
            Bucket::RegRead => "register reads",
            Bucket::RxModel => {
                "receive: NIC model (filter, DMA of frame and descriptor, IOMMU, interrupt)"
            }
            Bucket::RxSocket => "receive: the host kernel reads the frame (link socket)",
            Bucket::Lock => "QEMU's big lock (taking, handing over)",
            Bucket::GuestCode => "guest code (our driver, the guest kernel), translated",
            Bucket::Tcg => "TCG runtime (finding and translating guest code, helpers)",
            Bucket::MainLoop => "main loop itself (ppoll, glib, timers)",
            Bucket::Other => "other",
        }
    }
}

/// One stack frame of a sample: (symbol, object).
type Frame = (String, String);

fn is_kernel(f: &Frame) -> bool {
    f.1.contains("kernel.kallsyms")
}

/// Code TCG generated: perf sees an anonymous map (or QEMU's perf map).
fn is_jit(f: &Frame) -> bool {
    f.1.contains("perf-") || f.1.contains("[JIT]") || f.1 == "[unknown]" || f.1.contains("anon")
}

fn is_qemu(f: &Frame) -> bool {
    f.1.contains("qemu-system")
}

/// The bucket of one sample; `chain` is leaf first.
pub fn classify(chain: &[Frame]) -> Bucket {
    let has = |names: &[&str]| chain.iter().any(|f| names.contains(&f.0.as_str()));
    let kernel_has = |parts: &[&str]| {
        chain
            .iter()
            .any(|f| is_kernel(f) && parts.iter().any(|p| f.0.contains(p)))
    };
    let Some(leaf) = chain.first() else {
        return Bucket::Other;
    };
    if has(&["memory_region_dispatch_write"]) {
        if has(&[
            "net_tx_pkt_send",
            "net_tx_pkt_send_custom",
            "qemu_sendv_packet",
        ]) {
            return if kernel_has(&["sendto", "sendmsg"]) {
                Bucket::TxSocket
            } else {
                Bucket::TxModel
            };
        }
        return Bucket::RegWrite;
    }
    if has(&["memory_region_dispatch_read"]) {
        return Bucket::RegRead;
    }
    if has(&[
        "qemu_net_queue_send",
        "qemu_net_queue_send_iov",
        "qemu_net_queue_flush",
        "qemu_send_packet_async",
        "qemu_receive_packet",
        "qemu_can_send_packet",
    ]) {
        return Bucket::RxModel;
    }
    if kernel_has(&["recvfrom", "recvmsg"]) {
        return Bucket::RxSocket;
    }
    if has(&["bql_lock_impl", "bql_unlock", "qemu_mutex_lock_impl"]) {
        return Bucket::Lock;
    }
    if is_jit(leaf) {
        return Bucket::GuestCode;
    }
    if has(&["main_loop_wait", "qemu_poll_ns"]) {
        return Bucket::MainLoop;
    }
    if is_qemu(leaf) {
        return Bucket::Tcg;
    }
    Bucket::Other
}

/// Samples of one thread, by bucket.
#[derive(Clone, Debug, Default)]
pub struct ThreadProfile {
    /// Samples per bucket.
    pub buckets: BTreeMap<Bucket, u64>,
}

impl ThreadProfile {
    /// All samples of the thread.
    pub fn samples(&self) -> u64 {
        self.buckets.values().sum()
    }

    /// Samples in bucket `b`.
    pub fn of(&self, b: Bucket) -> u64 {
        self.buckets.get(&b).copied().unwrap_or(0)
    }
}

/// A recording: the vCPU thread and the main loop.
#[derive(Clone, Debug, Default)]
pub struct Profile {
    /// What QEMU was doing meanwhile (for the report).
    pub during: String,
    /// Seconds recorded.
    pub seconds: f64,
    /// Sampling frequency (Hz): samples / (frequency × seconds) is the
    /// share of one core.
    pub frequency: u32,
    /// Frames/s the guest echoed meanwhile.
    pub echoed_rate: f64,
    /// QEMU's vCPU thread(s).
    pub vcpu: ThreadProfile,
    /// QEMU's main loop.
    pub main_loop: ThreadProfile,
}

impl Profile {
    /// `samples` as a share of one core.
    pub fn share(&self, samples: u64) -> f64 {
        samples as f64 / (self.frequency as f64 * self.seconds).max(1e-9)
    }

    /// `samples` as CPU time per echoed frame, in µs.
    pub fn us_per_frame(&self, samples: u64) -> f64 {
        self.share(samples) * 1e6 / self.echoed_rate.max(1e-9)
    }
}

/// Whether `perf` can record here.
pub fn available() -> bool {
    Command::new("perf")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
}

/// Records QEMU (`pid`) for `length` and sorts its samples. The raw data
/// goes to `scratch` and is deleted.
pub fn record(pid: u32, length: Duration, scratch: &Path) -> Result<Profile> {
    let data = scratch.join(format!("qemu-{pid}.perf"));
    let rec = Command::new("perf")
        .args(["record", "-q", "-F", &FREQUENCY.to_string()])
        .args(["--call-graph", "dwarf,16384", "-p", &pid.to_string(), "-o"])
        .arg(&data)
        .args(["--", "sleep", &format!("{:.2}", length.as_secs_f64())])
        .output()?;
    if !rec.status.success() {
        return Err(Error::msg(format!(
            "perf record: {}",
            String::from_utf8_lossy(&rec.stderr).trim()
        )));
    }
    let script = Command::new("perf")
        .args(["script", "-F", "tid,ip,sym,dso", "-i"])
        .arg(&data)
        .output()?;
    let _ = std::fs::remove_file(&data);
    let text = String::from_utf8_lossy(&script.stdout);
    let mut p = Profile {
        seconds: length.as_secs_f64(),
        frequency: FREQUENCY,
        ..Profile::default()
    };
    // Whether each thread is a vCPU, from its name (read once per thread).
    let mut is_vcpu = BTreeMap::new();
    for (tid, chain) in samples(&text) {
        let vcpu = *is_vcpu.entry(tid).or_insert_with(|| {
            let name = std::fs::read_to_string(format!("/proc/{pid}/task/{tid}/comm"));
            name.is_ok_and(|n| n.contains("/TCG") || n.contains("/KVM"))
        });
        let thread = if tid == pid {
            &mut p.main_loop
        } else if vcpu {
            &mut p.vcpu
        } else {
            continue;
        };
        *thread.buckets.entry(classify(&chain)).or_default() += 1;
    }
    if p.vcpu.samples() + p.main_loop.samples() == 0 {
        return Err(Error::msg(format!(
            "perf recorded no samples of QEMU: {}",
            String::from_utf8_lossy(&script.stderr).trim()
        )));
    }
    Ok(p)
}

/// Parses `perf script -F tid,ip,sym,dso` output with call chains: a line
/// with the thread id, then one line per frame (`address symbol (object)`),
/// a blank line between samples.
fn samples(text: &str) -> Vec<(u32, Vec<Frame>)> {
    let mut out = Vec::new();
    for block in text.split("\n\n") {
        let mut lines = block.lines().filter(|l| !l.trim().is_empty());
        let Some(tid) = lines.next().and_then(|l| l.trim().parse::<u32>().ok()) else {
            continue;
        };
        let chain = lines
            .filter_map(|l| {
                let (_addr, rest) = l.trim().split_once(' ')?;
                let (sym, obj) = rest.rsplit_once(" (")?;
                Some((
                    sym.trim().to_string(),
                    obj.trim_end_matches(')').to_string(),
                ))
            })
            .collect();
        out.push((tid, chain));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const SCRIPT: &str = "14457 \n\t    7f4677c31abf [unknown] (/tmp/perf-14452.map)\n\n\
        14457 \n\t          8dde13 helper_lookup_tb_ptr (/usr/bin/qemu-system-x86_64)\n\t    7f4677c3090f [unknown] (/tmp/perf-14452.map)\n\n\
        14457 \n\tffffffff81e01234 udp_sendmsg ([kernel.kallsyms])\n\tffffffff81e00000 __sys_sendto ([kernel.kallsyms])\n\t 7f00 __send (/usr/lib/x86_64-linux-gnu/libc.so.6)\n\t 123 [unknown] (/usr/bin/qemu-system-x86_64)\n\t 456 net_tx_pkt_send (/usr/bin/qemu-system-x86_64)\n\t 789 memory_region_dispatch_write (/usr/bin/qemu-system-x86_64)\n\t 7f4677c3090f [unknown] (/tmp/perf-14452.map)\n\n\
        14452 \n\tffffffff81e7d03d sock_poll ([kernel.kallsyms])\n\t 55 qemu_poll_ns (/usr/bin/qemu-system-x86_64)\n\t 56 main_loop_wait (/usr/bin/qemu-system-x86_64)\n\n\
        14452 \n\t 606922 igb_can_receive (/usr/bin/qemu-system-x86_64)\n\t 788c6d qemu_net_queue_send (/usr/bin/qemu-system-x86_64)\n\t 56 main_loop_wait (/usr/bin/qemu-system-x86_64)\n";

    #[test]
    fn samples_parse_and_sort_into_buckets() {
        let s = samples(SCRIPT);
        assert_eq!(s.len(), 5);
        let buckets: Vec<(u32, Bucket)> = s.iter().map(|(t, c)| (*t, classify(c))).collect();
        assert_eq!(
            buckets,
            vec![
                (14457, Bucket::GuestCode),
                (14457, Bucket::Tcg),
                (14457, Bucket::TxSocket),
                (14452, Bucket::MainLoop),
                (14452, Bucket::RxModel),
            ]
        );
        assert_eq!(s[2].1[1].0, "__sys_sendto");
        assert_eq!(s[2].1[2].1, "/usr/lib/x86_64-linux-gnu/libc.so.6");
    }

    #[test]
    fn a_register_write_without_a_frame_is_its_own_bucket() {
        let chain = vec![
            (
                "igb_core_write".to_string(),
                "/usr/bin/qemu-system-x86_64".to_string(),
            ),
            (
                "memory_region_dispatch_write".to_string(),
                "/usr/bin/qemu-system-x86_64".to_string(),
            ),
        ];
        assert_eq!(classify(&chain), Bucket::RegWrite);
        assert_eq!(classify(&[]), Bucket::Other);
    }
}
