//! Scenarios that validate the bench itself: the guest agent, the guest
//! environment, the NIC links (with the guest kernel's drivers as the DUT)
//! and QMP.

use crate::ensure;
use crate::error::Result;
use crate::link::responder::Responder;
use crate::vm::guest::Guest;
use crate::vm::models::kernel_netdev_up;
use std::time::{Duration, Instant};

const SHORT: Duration = Duration::from_secs(20);

/// Output lines, stderr merged, exact exit statuses, partial last lines.
pub fn agent_output_and_status(g: &mut Guest) -> Result<()> {
    let r = g.run(
        "echo hello; echo oops >&2; printf 'a\\n\\nb'; exit 3",
        SHORT,
    )?;
    ensure!(r.status == 3, "status {} instead of 3", r.status);
    ensure!(
        r.lines == ["hello", "oops", "a", "", "b"],
        "unexpected lines {:?}",
        r.lines
    );
    let r = g.run("false | true; sh -c 'exit 7'", SHORT)?;
    ensure!(
        r.status == 7 && r.lines.is_empty(),
        "got {r:?}, want status 7 and no output"
    );
    let r = g.run(
        "echo '@@9| not a job' \"quotes 'and' \\$HOME=$HOME\"",
        SHORT,
    )?;
    ensure!(
        r.lines == ["@@9| not a job quotes 'and' $HOME=/root"],
        "quoting: {:?}",
        r.lines
    );
    Ok(())
}

/// A slow job (even one holding a partial line) does not stall other jobs.
pub fn agent_concurrent_jobs(g: &mut Guest) -> Result<()> {
    let mut slow = g.spawn("echo begun; printf partial; sleep 4; echo ' done'")?;
    slow.wait_line(|l| l == "begun", SHORT)?;
    let t = Instant::now();
    let fast = g.run("echo fast", SHORT)?;
    ensure!(fast.lines == ["fast"], "fast job printed {:?}", fast.lines);
    ensure!(
        t.elapsed() < Duration::from_secs(3),
        "fast job took {:?} behind a slow one",
        t.elapsed()
    );
    let r = slow.wait(SHORT)?;
    ensure!(
        r.status == 0 && r.lines == ["begun", "partial done"],
        "slow job gave {r:?}"
    );
    Ok(())
}

/// Background jobs can be interrupted with SIGINT (the agent uses job
/// control, so they do not start with SIGINT ignored).
pub fn agent_sigint_background_job(g: &mut Guest) -> Result<()> {
    let mut job = g.spawn("echo started; exec sleep 60")?;
    job.wait_line(|l| l == "started", SHORT)?;
    g.run_ok("killall -INT sleep", SHORT)?;
    let r = job.wait(SHORT)?;
    ensure!(
        r.status == 130,
        "sleep exited {} after SIGINT, want 130",
        r.status
    );
    Ok(())
}

/// vfio modules, hugepages, the non-root user and NIC discovery.
pub fn guest_environment(g: &mut Guest) -> Result<()> {
    g.run_ok("test -d /sys/module/vfio_pci && test -d /sys/module/vfio_iommu_type1 && test -c /dev/vfio/vfio", SHORT)?;
    let r = g.run_ok(
        "cat /proc/sys/vm/nr_hugepages; mount | grep -c hugetlbfs",
        SHORT,
    )?;
    ensure!(r.lines == ["64", "1"], "hugepages: {:?}", r.lines);
    let r = g.run_ok("as-user id; as-user sh -c 'echo $0 $1' x 'a b'", SHORT)?;
    ensure!(
        r.lines == ["uid=1000(user) gid=1000(user) groups=1000(user)", "x a b"],
        "as-user: {:?}",
        r.lines
    );
    let r = g.run_ok("list-nics", SHORT)?;
    let want: Vec<&str> = g.nics().iter().map(|n| n.pci.as_str()).collect();
    ensure!(
        r.lines == want,
        "list-nics gave {:?}, want {want:?}",
        r.lines
    );
    Ok(())
}

/// The project's `e1000` binary is installed and runs.
pub fn cli_help_runs(g: &mut Guest) -> Result<()> {
    let r = g.run("e1000 --help", SHORT)?;
    ensure!(
        r.status == 0,
        "`e1000 --help` exited {}:\n{}",
        r.status,
        r.output()
    );
    ensure!(
        r.lines.iter().any(|l| l.contains("e1000")),
        "`e1000 --help` printed no line naming e1000: {:?}",
        r.lines
    );
    Ok(())
}

/// The kernel driver pings the host peer, which answers ARP and ICMP.
pub fn kernel_ping(g: &mut Guest, index: usize) -> Result<()> {
    let responder = Responder::start(g.nic(index), [10, 11, 12 + index as u8, 1])?;
    let result = kernel_netdev_up(g, index).and_then(|_| {
        g.run(
            &format!("ping -c 3 -w 20 10.11.{}.1", 12 + index),
            Duration::from_secs(40),
        )
    });
    let stats = responder.stop();
    let r = result?;
    let nic = g.nic(index);
    ensure!(
        stats.arp_senders.contains(&nic.mac),
        "no ARP request from {} ({stats:?})",
        nic.mac
    );
    ensure!(
        r.status == 0 && stats.echo_requests >= 3,
        "ping exited {} after {stats:?}:\n{}",
        r.status,
        r.output()
    );
    Ok(())
}

/// QMP `set_link` takes the carrier of NIC 0 down and up again.
pub fn qmp_set_link(g: &mut Guest) -> Result<()> {
    let netdev = kernel_netdev_up(g, 0)?;
    let wait_carrier = |want: u8| -> Result<()> {
        let script = format!(
            "for i in $(seq 100); do [ \"$(cat /sys/class/net/{netdev}/carrier)\" = {want} ] && exit 0; sleep 0.1; done; exit 1"
        );
        let r = g.run(&script, SHORT)?;
        ensure!(r.status == 0, "carrier of {netdev} did not become {want}");
        Ok(())
    };
    g.set_link(0, false)?;
    wait_carrier(0)?;
    g.set_link(0, true)?;
    wait_carrier(1)?;
    let reply = g.qmp(r#"{"execute":"query-status"}"#)?;
    ensure!(reply.contains("\"running\""), "query-status: {reply}");
    Ok(())
}

/// Every NIC is bound to vfio-pci with its group device node present.
pub fn vfio_bound(g: &mut Guest) -> Result<()> {
    for nic in g.nics() {
        let d = format!("/sys/bus/pci/devices/{}", nic.pci);
        let r = g.run_ok(
            &format!("basename $(readlink {d}/driver); test -c /dev/vfio/$(basename $(readlink {d}/iommu_group)) && echo group-ok"),
            SHORT,
        )?;
        ensure!(
            r.lines == ["vfio-pci", "group-ok"],
            "{} ({}): {:?}",
            nic.pci,
            nic.model,
            r.lines
        );
    }
    Ok(())
}

/// DPDK's testpmd, the bench's peer, runs from the bench's initramfs (2
/// vCPUs, hugepages, its PMDs loaded with `-d`) on the vfio-pci NIC, echoes
/// a ping-pong through `macswap`, and ends cleanly on SIGINT.
pub fn dpdk_testpmd_echoes(g: &mut Guest) -> Result<()> {
    use crate::link::peer::{small_frames, wait_echoing};
    let nic = g.nic(0);
    let job = g.spawn(&crate::vm::dpdk::testpmd_command(
        &[&nic.pci],
        "macswap",
        "",
    ))?;
    let pings = wait_echoing(nic, Duration::from_secs(90)).and_then(|()| {
        let peer = crate::link::peer::Peer::with_socket(nic.socket.try_clone()?, nic.mac);
        peer.ping_pong(50, small_frames(), Duration::from_secs(1))
    });
    g.run("killall -INT dpdk-testpmd", SHORT)?;
    let r = job.wait(Duration::from_secs(60))?;
    let s = pings
        .map_err(|e| crate::error::Error::msg(format!("{e}\ntestpmd printed:\n{}", r.output())))?;
    ensure!(
        s.sent == 50 && s.is_perfect(),
        "ping-pong through testpmd: {s}"
    );
    ensure!(
        r.status == 0 && r.lines.iter().any(|l| l.contains("Bye")),
        "testpmd exited {} without its goodbye:\n{}",
        r.status,
        r.output()
    );
    Ok(())
}

/// In interrupt modes `e1000 echo` on NIC `index` runs its queue's thread
/// on the CPU that takes the queue's interrupt (2 vCPUs here, so the choice
/// is real) and says so; `--cpus` puts it elsewhere; `--no-pin` leaves the
/// thread free.
pub fn echo_thread_runs_where_its_interrupt_lands(g: &mut Guest, index: usize) -> Result<()> {
    let nic = g.nic(index);
    let pci = nic.pci.clone();
    let mode = crate::vm::models::irq_modes(&nic.model)
        .last()
        .copied()
        .unwrap_or("intx");
    let mut irq_cpu = None;
    for flag in ["", " --cpus OTHER", " --no-pin"] {
        let flag = flag.replace("OTHER", &(1 - irq_cpu.unwrap_or(1)).to_string());
        let mut job = g.spawn(&format!(
            "e1000 echo {pci} --irq {mode} --busy-poll 0 --timeout 60 --quiet{flag}"
        ))?;
        let said = job.wait_line(|l| l.contains("echo: ready"), Duration::from_secs(30));
        let peer = crate::link::peer::Peer::with_socket(nic.socket.try_clone()?, nic.mac);
        let s = peer.ping_pong(
            50,
            crate::link::peer::small_frames(),
            Duration::from_secs(1),
        );
        let irqs = g.run_ok(&format!("grep 'vfio-.*{pci}' /proc/interrupts"), SHORT)?;
        let allowed = g.run_ok(
            "cat /proc/$(pidof e1000)/task/*/status | grep Cpus_allowed_list",
            SHORT,
        )?;
        g.run("killall -INT e1000", SHORT)?;
        let r = job.wait(Duration::from_secs(30))?;
        said?;
        let s = s?;
        ensure!(s.is_perfect(), "ping-pong{flag}: {s}");
        let cpus = busiest_vector_cpus(&irqs.lines);
        ensure!(
            cpus.len() == 1,
            "the RX vector's interrupts landed on CPUs {cpus:?}:\n{}",
            irqs.output()
        );
        let irq = *irq_cpu.get_or_insert(cpus[0]);
        let alone_on = |cpu: usize| {
            allowed
                .lines
                .iter()
                .filter(|l| l.split_whitespace().last() == Some(&cpu.to_string()))
                .count()
        };
        let (cpu, why) = match flag.as_str() {
            "" => (irq, "which takes its interrupt"),
            " --no-pin" => {
                ensure!(
                    alone_on(0) + alone_on(1) == 0 && !r.output().contains("runs on CPU"),
                    "--no-pin, yet a thread is pinned:\n{}\n{}",
                    allowed.output(),
                    r.output()
                );
                println!("    interrupts on CPU {irq}; --no-pin: no thread pinned");
                continue;
            }
            _ => (1 - irq, "as --cpus asks"),
        };
        let says = format!("queue 0 runs on CPU {cpu}, {why}");
        ensure!(
            alone_on(cpu) == 1 && r.output().contains(&says),
            "wanted one thread on CPU {cpu} ({why}); threads' CPUs:\n{}\necho printed:\n{}",
            allowed.output(),
            r.output()
        );
        println!("    interrupts on CPU {irq}; `{says}`{flag}");
    }
    Ok(())
}

/// The CPUs that took interrupts on the busiest of `lines` (a NIC's lines
/// of `/proc/interrupts`): its RX vector's, while it receives.
pub fn busiest_vector_cpus(lines: &[String]) -> Vec<usize> {
    let busiest: Vec<u64> = lines
        .iter()
        .map(|l| {
            l.split_whitespace()
                .skip(1)
                .map_while(|w| w.parse().ok())
                .collect::<Vec<u64>>()
        })
        .max_by_key(|c| c.iter().sum::<u64>())
        .unwrap_or_default();
    (0..busiest.len()).filter(|&c| busiest[c] > 0).collect()
}
