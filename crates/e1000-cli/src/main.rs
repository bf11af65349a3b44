//! `e1000`: drive Intel 1GbE NICs from user space through VFIO.

mod args;
mod cmd;
mod frame;
mod signal;

use args::Args;

const USAGE: &str = "\
usage: e1000 <command> [options]

commands:
  list                       Intel NICs on this machine, their driver and IOMMU group
  bind <pci>                 bind a NIC to vfio-pci (root)
  info <pci>                 model, MAC, link, BARs, IRQs, config space, registers
  dump <pci> [--count N] [--pcap FILE]
                             one line per received frame (or a pcap file)
  echo <pci> [--count N] [--queues Q]
                             send every frame back (dst := src, src := our MAC);
                             with Q > 1, RSS spreads flows over Q queues, one thread each
  send <pci> [--count N] [--size BYTES] [--rate PPS] [--dst-mac MAC]
                             IPv4/UDP frames with a sequence number
  forward <pci> <pci2> [--count N]
                             forward frames between two NICs, both ways
  ping <pci> <ipv4> --ip ADDR/PREFIX [--count N]
                             ICMP echo through smoltcp running on the NIC
  <pci>                      same as dump

options for the traffic commands:
  --irq poll|intx|msi|msix   interrupt mode (default: the best the device offers)
  --ring N                   descriptors per ring (default 512)
  --irq-interval US          minimum µs between interrupts (default 128)
  --busy-poll US             with interrupts: poll the ring this long before
                             sleeping (default 500, 0 = sleep at once)
  --iova allocated|identity  device addresses: allocated from 4 GiB up (default),
                             or equal to virtual addresses (needs a 48-bit IOMMU)
  --link-timeout MS          how long to wait for link up (default 10000)
  --timeout SECS             stop after this many seconds
  --quiet                    no per-frame output

Runs until --count frames, --timeout, or SIGINT/SIGTERM; then prints a summary.";

fn main() {
    let argv: Vec<String> = std::env::args().skip(1).collect();
    let code = match run(&argv) {
        Ok(()) => 0,
        Err(cmd::CliError::Usage(msg)) => {
            eprintln!("e1000: {msg}\n\n{USAGE}");
            2
        }
        Err(cmd::CliError::Driver(e)) => {
            eprintln!("e1000: error: {e}");
            1
        }
        Err(cmd::CliError::Failed(msg)) => {
            eprintln!("e1000: {msg}");
            1
        }
    };
    std::process::exit(code);
}

fn run(argv: &[String]) -> Result<(), cmd::CliError> {
    let Some(first) = argv.first() else {
        println!("{USAGE}");
        return Ok(());
    };
    let rest = Args::parse(&argv[1..]).map_err(cmd::CliError::Usage)?;
    signal::install();
    match first.as_str() {
        "-h" | "--help" | "help" => {
            println!("{USAGE}");
            Ok(())
        }
        "list" => cmd::list::run(&rest),
        "bind" => cmd::list::bind(&rest),
        "info" => cmd::info::run(&rest),
        "dump" => cmd::traffic::dump(&rest),
        "echo" => cmd::traffic::echo(&rest),
        "send" => cmd::traffic::send(&rest),
        "forward" => cmd::traffic::forward(&rest),
        "ping" => cmd::ping::run(&rest),
        pci if pci.contains(':') => {
            let all = Args::parse(argv).map_err(cmd::CliError::Usage)?;
            cmd::traffic::dump(&all)
        }
        other => Err(cmd::CliError::Usage(format!("unknown command '{other}'"))),
    }
}
