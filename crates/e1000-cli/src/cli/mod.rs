//! The command line of `e1000`, as a `clap` definition. It is a library
//! module so that `cargo xtask man` and `cargo xtask completions` generate
//! the man page and the shell completions from the same definition the
//! command parses with.

mod values;

use clap::{Args, Parser, Subcommand, ValueEnum};
use std::net::Ipv4Addr;
use values::*;
pub use values::{
    parse_cpu_list, parse_duration, parse_mac, CpuList, Payload, Rate, WIRE_OVERHEAD,
};

/// Examples and exit codes, shown at the end of `e1000 --help` and in the man page.
pub const TOP_AFTER_HELP: &str = "\
Examples:
  e1000 list
  e1000 bind 0000:03:00.0
  e1000 dump 0000:03:00.0 -c 10
  e1000 dump 0000:03:00.0 -w - | tshark -r -
  e1000 echo 0000:03:00.0 --stats-period 1 --json
  e1000 unbind 0000:03:00.0

Exit status:
  0  success (a traffic command ran until --count, --timeout, SIGINT or SIGTERM)
  1  runtime error: the driver refused or failed (the message says why and how to fix it)
  2  usage error: unknown or missing argument, malformed value";

/// Drive Intel 1GbE NICs (8254x, 82574L, 82576) from user space through VFIO.
#[derive(Debug, Parser)]
#[command(
    name = "e1000",
    version,
    about = "Drive Intel 1GbE NICs (8254x, 82574L, 82576) from user space through VFIO",
    long_about = "Drive Intel 1GbE NICs (8254x, 82574L, 82576) from user space through VFIO.\n\n\
                  Bind a NIC to vfio-pci (`e1000 bind`), then receive, echo, send or forward \
                  frames on it; `e1000 unbind` gives it back to its kernel driver.",
    after_help = TOP_AFTER_HELP
)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Supported Intel NICs: PCI address, model, driver, interface, IOMMU group
    #[command(after_help = "Example:\n  e1000 list\n  e1000 list --json")]
    List(ListArgs),
    /// Bind NICs to vfio-pci (root); refuses an active interface unless --force
    #[command(after_help = "Example:\n  e1000 bind 0000:03:00.0 0000:03:00.1")]
    Bind(BindArgs),
    /// Give NICs back to their kernel driver (root)
    #[command(
        after_help = "Example:\n  e1000 unbind 0000:03:00.0\n  e1000 unbind 0000:03:00.0 --driver e1000e"
    )]
    Unbind(UnbindArgs),
    /// Model, MAC, link, BARs, IRQs, config space, registers of one NIC
    #[command(
        after_help = "Example:\n  e1000 info 0000:03:00.0\n  e1000 info 0000:03:00.0 --json"
    )]
    Info(InfoArgs),
    /// Print received frames (tcpdump style) or write them to a pcap file
    #[command(
        after_help = "Examples:\n  e1000 dump 0000:03:00.0 -c 10 -x\n  e1000 dump 0000:03:00.0 udp port 53 and not host 10.0.0.1\n  \
                      e1000 dump 0000:03:00.0 -w capture.pcap --timeout 5\n  e1000 dump -r capture.pcap arp\n  \
                      e1000 dump 0000:03:00.0 -w - | tshark -r -"
    )]
    Dump(DumpArgs),
    /// Send every frame back (dst := src, src := our MAC)
    #[command(
        after_help = "Examples:\n  e1000 echo 0000:03:00.0 --irq msix --stats-period 1\n  \
                      e1000 echo 0000:03:00.0 --queues 4 --json"
    )]
    Echo(EchoArgs),
    /// Send IPv4/UDP frames carrying a sequence number (from 10.11.12.2:40000
    /// to 10.11.12.1:40001, to 02:00:00:00:00:01, unless told otherwise)
    #[command(
        after_help = "Example:\n  e1000 send 0000:03:00.0 -c 100000 --size 64 --rate 50000 --flows 16 \\\n    \
                      --dst-mac 02:00:00:00:00:01 --dst-ip 10.0.0.1 --dst-port 9000"
    )]
    Send(SendArgs),
    /// Forward frames between two NICs, both ways (zero-copy)
    #[command(after_help = "Example:\n  e1000 forward 0000:03:00.0 0000:04:00.0 --stats-period 1")]
    Forward(ForwardArgs),
    /// A TAP interface that carries the NIC's frames to and from the kernel's
    /// own network stack, so that ordinary programs use the NIC
    #[command(
        after_help = "Example:\n  e1000 tap 0000:03:00.0 &\n  ip addr add 10.0.0.2/24 dev e1000tap0\n  ping 10.0.0.1"
    )]
    Tap(TapArgs),
    /// ICMP echo through smoltcp running on the NIC
    #[command(after_help = "Example:\n  e1000 ping 0000:03:00.0 10.0.0.1 --ip 10.0.0.2/24 -c 5")]
    Ping(PingArgs),
}

/// `e1000 list`.
#[derive(Debug, Args)]
pub struct ListArgs {
    /// One JSON object per NIC instead of the table
    #[arg(long)]
    pub json: bool,
}

/// `e1000 bind`.
#[derive(Debug, Args)]
pub struct BindArgs {
    /// PCI addresses, e.g. 0000:03:00.0
    #[arg(required = true, value_name = "PCI")]
    pub pci: Vec<String>,
    /// Bind even if the NIC's interface is up with addresses (cuts that traffic)
    #[arg(short, long)]
    pub force: bool,
}

/// `e1000 unbind`.
#[derive(Debug, Args)]
pub struct UnbindArgs {
    /// PCI addresses, e.g. 0000:03:00.0
    #[arg(required = true, value_name = "PCI")]
    pub pci: Vec<String>,
    /// Kernel driver to bind to (default: whichever claims the device, e.g. e1000, e1000e, igb)
    #[arg(long, value_name = "NAME")]
    pub driver: Option<String>,
}

/// `e1000 info`.
#[derive(Debug, Args)]
pub struct InfoArgs {
    /// PCI address, e.g. 0000:03:00.0
    pub pci: String,
    /// One JSON object with every field instead of the text
    #[arg(long)]
    pub json: bool,
}

/// Interrupt mode on the command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum IrqArg {
    /// Busy-poll the rings, no interrupt
    Poll,
    /// Legacy INTx
    Intx,
    /// MSI, one vector
    Msi,
    /// MSI-X, a vector per queue
    Msix,
}

impl IrqArg {
    /// The mode's name, as `vfio_e1000::IrqMode::parse` takes it.
    pub fn name(self) -> &'static str {
        match self {
            IrqArg::Poll => "poll",
            IrqArg::Intx => "intx",
            IrqArg::Msi => "msi",
            IrqArg::Msix => "msix",
        }
    }
}

/// How device addresses (IOVAs) are chosen.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum IovaArg {
    /// Allocated from 4 GiB up
    Allocated,
    /// Equal to virtual addresses (needs a 48-bit IOMMU)
    Identity,
}

/// Options every traffic command (`dump`, `echo`, `send`, `forward`) takes.
#[derive(Debug, Clone, Args)]
pub struct TrafficArgs {
    /// Stop after N frames (received; sent for `send`)
    #[arg(short = 'c', long, value_name = "N")]
    pub count: Option<u64>,
    /// Stop after this long (seconds, or with a unit: 500ms, 2s, 1m)
    #[arg(long, value_name = "SECS", value_parser = parse_secs)]
    pub timeout: Option<f64>,
    /// Interrupt mode (default: the best the device offers)
    #[arg(long, value_enum, value_name = "MODE")]
    pub irq: Option<IrqArg>,
    /// Descriptors per ring, RX and TX: a multiple of 8 from 8 to 4096
    /// (default 512; forward's RX rings 4096)
    #[arg(long, value_name = "N", value_parser = parse_ring)]
    pub ring: Option<usize>,
    /// Descriptors in the RX ring (default: --ring)
    #[arg(long, value_name = "N", value_parser = parse_ring)]
    pub rxd: Option<usize>,
    /// Descriptors in the TX ring (default: --ring)
    #[arg(long, value_name = "N", value_parser = parse_ring)]
    pub txd: Option<usize>,
    /// Packet buffers per queue (default: 4 per ring descriptor, at least
    /// 2048); each takes 2 KiB of locked memory (more with --mtu)
    #[arg(long, value_name = "N")]
    pub pool: Option<usize>,
    /// Minimum time between interrupts (µs, or with a unit: 128us, 1ms)
    #[arg(
        long,
        value_name = "US",
        default_value_t = 128,
        value_parser = parse_us,
        conflicts_with = "adaptive_irq"
    )]
    pub irq_interval: u32,
    /// Adapt the interval between interrupts to the load: none below about
    /// 10,000 frames/s; above, about 20 frames per interrupt (250 µs to 1 ms)
    #[arg(long)]
    pub adaptive_irq: bool,
    /// Run queue N's thread on the N-th CPU of this list (e.g. 0-3,6),
    /// like DPDK's lcores. By default, with interrupts, each queue's thread
    /// runs on the CPU that takes its interrupt (`forward`'s one thread on
    /// the CPU most of its queues' interrupts land on)
    #[arg(
        long,
        value_name = "LIST",
        value_parser = parse_cpu_list,
        conflicts_with = "no_pin"
    )]
    pub cpus: Option<CpuList>,
    /// Leave each queue's thread where the scheduler puts it
    #[arg(long)]
    pub no_pin: bool,
    /// With interrupts: poll the ring this long before sleeping (µs, or
    /// with a unit: 500us, 1ms; 0 = sleep at once)
    #[arg(long, value_name = "US", default_value_t = 500, value_parser = parse_us)]
    pub busy_poll: u32,
    /// Device addresses
    #[arg(long, value_enum, value_name = "POLICY", default_value = "allocated")]
    pub iova: IovaArg,
    /// How long to wait for link up (ms, or with a unit: 1500ms, 10s)
    #[arg(long, value_name = "MS", default_value_t = 10_000, value_parser = parse_ms)]
    pub link_timeout: u64,
    /// No per-frame output
    #[arg(short, long)]
    pub quiet: bool,
    /// Print rates, drops and ring-full counts every SECS seconds (or with
    /// a unit: 500ms)
    #[arg(long, value_name = "SECS", value_parser = parse_period)]
    pub stats_period: Option<f64>,
    /// Machine-readable output: each stats line and the summary as one JSON
    /// object per line on stdout (the human lines go to stderr)
    #[arg(long)]
    pub json: bool,
    /// Largest IP packet per frame, 68 to 9000 (over 1500: jumbo frames)
    #[arg(long, value_name = "BYTES", default_value_t = 1500,
          value_parser = clap::value_parser!(u16).range(68..=9000))]
    pub mtu: u16,
    /// Accept only frames to our MAC address, --unicast and --multicast
    /// addresses and broadcast (default: promiscuous, like tcpdump)
    #[arg(long)]
    pub no_promisc: bool,
    /// Use this MAC address instead of the NIC's own
    #[arg(long, value_name = "MAC", value_parser = parse_mac_arg)]
    pub mac: Option<[u8; 6]>,
    /// Also accept frames to this unicast address (up to 15 times)
    #[arg(long, value_name = "MAC", value_parser = parse_mac_arg)]
    pub unicast: Vec<[u8; 6]>,
    /// Also accept this multicast group (repeatable)
    #[arg(long, value_name = "MAC", value_parser = parse_mac_arg)]
    pub multicast: Vec<[u8; 6]>,
    /// Strip the 802.1Q tag of received frames into the descriptor (shown
    /// by dump as `vlan ID`, put back by echo and forward) and let the NIC
    /// insert tags on send (CTRL.VME)
    #[arg(long)]
    pub vlan_strip: bool,
    /// Accept tagged frames of this VLAN ID only (repeatable or comma-separated;
    /// untagged frames always pass): the NIC's VLAN filter table
    #[arg(long, value_name = "ID", value_delimiter = ',',
          value_parser = clap::value_parser!(u16).range(0..=4095))]
    pub vlan_filter: Vec<u16>,
    /// Test hook: stop the NIC's transmitter after N frames, so that the
    /// TX watchdog must notice and recover (needs the fault-injection feature)
    #[arg(long, value_name = "N", hide = true)]
    pub inject_tx_stall_after: Option<u64>,
}

/// `e1000 dump`.
#[derive(Debug, Args)]
pub struct DumpArgs {
    /// PCI address (e.g. 0000:03:00.0), then an optional filter, tcpdump
    /// style: arp, ip, ip6, vlan, icmp, icmp6, tcp, udp, sctp,
    /// `ether proto N`, `ether [src|dst] host MAC`, `[src|dst] host IP`,
    /// `[tcp|udp|sctp] [src|dst] port N`, each after `not` if wanted,
    /// joined by `and`. With -i or -r every word is filter
    #[arg(value_name = "PCI [FILTER]", required_unless_present_any = ["interface", "read"])]
    pub words: Vec<String>,
    /// The NIC's PCI address, as tcpdump's -i names an interface
    #[arg(short = 'i', long = "interface", value_name = "PCI")]
    pub interface: Option<String>,
    /// Read frames from a pcap FILE (`-` is stdin) instead of a NIC, and
    /// print them (or write them again with -w) through the filter
    #[arg(
        short = 'r',
        long = "read",
        value_name = "FILE",
        conflicts_with = "interface"
    )]
    pub read: Option<String>,
    /// Accepted for tcpdump habits: names are never resolved
    #[arg(short = 'n')]
    pub numeric: bool,
    /// Accepted for tcpdump habits: the link-level header is always shown
    #[arg(short = 'e')]
    pub link_level: bool,
    /// Write the frames to FILE in pcap format instead of printing them; `-` is stdout
    #[arg(short = 'w', long = "write", value_name = "FILE", alias = "pcap")]
    pub write: Option<String>,
    /// Print each frame in hex after its line, link-level header included
    #[arg(short = 'x', long = "hex")]
    pub hex: bool,
    /// Latch the NIC's IEEE 1588 clock when PTPv2 messages of TYPE arrive
    /// (sync, delay-req, or the message's first byte as a number) and show
    /// that time per frame (in pcap files too); 82576 only
    #[arg(long, value_name = "TYPE", value_parser = parse_ptp_message)]
    pub ptp: Option<u8>,
    /// Options of every traffic command
    #[command(flatten)]
    pub traffic: TrafficArgs,
}

impl DumpArgs {
    /// The NIC to capture on: `-i`, or the first word without `-r`.
    pub fn pci(&self) -> Option<&str> {
        match (&self.interface, &self.read) {
            (Some(pci), _) => Some(pci),
            (None, Some(_)) => None,
            (None, None) => self.words.first().map(String::as_str),
        }
    }

    /// The words of the filter expression.
    pub fn filter_words(&self) -> &[String] {
        if self.interface.is_some() || self.read.is_some() {
            &self.words
        } else {
            self.words.get(1..).unwrap_or_default()
        }
    }
}

/// `e1000 echo`.
#[derive(Debug, Args)]
pub struct EchoArgs {
    /// PCI address, e.g. 0000:03:00.0
    pub pci: String,
    /// Queue pairs (RSS spreads flows over them; one thread each)
    #[arg(long, value_name = "N", default_value_t = 1, value_parser = clap::value_parser!(u16).range(1..=16))]
    pub queues: u16,
    /// Receive the headers of TCP/UDP frames into buffers of their own and
    /// send each frame back from its two buffers (82576 only)
    #[arg(long)]
    pub header_split: bool,
    /// Options of every traffic command
    #[command(flatten)]
    pub traffic: TrafficArgs,
}

/// `e1000 send`.
#[derive(Debug, Args)]
pub struct SendArgs {
    /// PCI address, e.g. 0000:03:00.0
    pub pci: String,
    /// Frame size without FCS, 60 to 9014 (over 1514 needs --mtu SIZE-14);
    /// with --tso up to 65535, which the NIC cuts into segments. A list
    /// (`64,512,1514`) sends the sizes in turn. Default: 60, or the least
    /// that holds the headers and the sequence number (70 with --ipv6 or
    /// --sctp, 82 with --ipv6 --tcp, 90 with --ipv6 --sctp)
    #[arg(short, long, value_name = "BYTES[,BYTES...]", value_delimiter = ',',
          value_parser = clap::value_parser!(u16).range(60..))]
    pub size: Vec<u16>,
    /// Frames per second, or a bit rate on the wire with a unit (`100M`,
    /// `1.5G`, `500k`, `100Mbit`: preamble, FCS and gap included); 0 = as
    /// fast as the NIC takes them
    #[arg(long, value_name = "RATE", default_value = "0", value_parser = parse_rate)]
    pub rate: Rate,
    /// Frames handed to the NIC per tail write (1-512); with --rate they
    /// leave in bursts of this many. Default: up to 64, as soon as allowed
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..=512))]
    pub burst: Option<u16>,
    /// Send the frames of this pcap file as they are (in a loop if -c asks
    /// for more; default: the file once), instead of generated ones
    #[arg(long, value_name = "FILE", conflicts_with_all = ["size", "tcp", "sctp", "ipv6", "tso", "offload", "payload", "flows"])]
    pub pcap: Option<String>,
    /// Destination MAC. The default is a locally administered unicast
    /// address (as testpmd's txonly uses), which no host on a real LAN has:
    /// switches flood it at worst, but no host's stack takes the frames
    #[arg(long, value_name = "MAC", default_value = "02:00:00:00:00:01", value_parser = parse_mac_arg)]
    pub dst_mac: [u8; 6],
    /// Source IPv4 address
    #[arg(long, value_name = "IP", default_value = "10.11.12.2")]
    pub src_ip: Ipv4Addr,
    /// Destination IPv4 address
    #[arg(long, value_name = "IP", default_value = "10.11.12.1")]
    pub dst_ip: Ipv4Addr,
    /// UDP source port (the first one with --flows)
    #[arg(long, value_name = "PORT", default_value_t = 40000)]
    pub src_port: u16,
    /// UDP destination port
    #[arg(long, value_name = "PORT", default_value_t = 40001)]
    pub dst_port: u16,
    /// Spread the frames over N flows (source ports SRC_PORT..SRC_PORT+N), so RSS has something to spread
    #[arg(long, value_name = "N", default_value_t = 1, value_parser = clap::value_parser!(u16).range(1..))]
    pub flows: u16,
    /// Let the NIC fill in the IPv4 and UDP (TCP, SCTP) checksums
    /// (checksum offload); without it the IPv4 checksum is computed once,
    /// UDP over IPv4 sends none, and TCP, SCTP and IPv6 get theirs in
    /// software
    #[arg(long)]
    pub offload: bool,
    /// IPv6 frames, from fd00::SRC_IP to fd00::DST_IP (the IPv4 addresses
    /// in the last 4 bytes)
    #[arg(long)]
    pub ipv6: bool,
    /// TCP segments (flags PSH ACK, sequence numbers tiling one stream)
    /// instead of UDP datagrams
    #[arg(long)]
    pub tcp: bool,
    /// SCTP packets (one DATA chunk each) instead of UDP datagrams; with
    /// --offload the NIC computes their CRC32c (the 82576 and its VFs)
    #[arg(long, conflicts_with_all = ["tcp", "tso"])]
    pub sctp: bool,
    /// TCP segmentation offload: send TCP frames of --size bytes that the
    /// NIC cuts into segments of MSS payload bytes (implies --tcp; MSS plus
    /// the headers must fit the --mtu)
    #[arg(long, value_name = "MSS", value_parser = clap::value_parser!(u16).range(1..))]
    pub tso: Option<u16>,
    /// Send every frame tagged with this 802.1Q VLAN ID (inserted by the
    /// NIC with --vlan-strip, else by the driver; SIZE excludes the tag)
    #[arg(long, value_name = "ID", value_parser = clap::value_parser!(u16).range(0..=4095))]
    pub vlan: Option<u16>,
    /// Priority (PCP, 0 to 7) of the --vlan tag
    #[arg(long, value_name = "P", default_value_t = 0, requires = "vlan",
          value_parser = clap::value_parser!(u16).range(0..=7))]
    pub vlan_prio: u16,
    /// Bytes after the sequence number: `counter` (0, 1, 2, ...), `zeros`, or hex bytes repeated (e.g. `deadbeef`)
    #[arg(long, value_name = "PATTERN", default_value = "counter", value_parser = parse_payload)]
    pub payload: Payload,
    /// Options of every traffic command
    #[command(flatten)]
    pub traffic: TrafficArgs,
}

/// `e1000 forward`.
#[derive(Debug, Args)]
pub struct ForwardArgs {
    /// First NIC's PCI address
    pub pci_a: String,
    /// Second NIC's PCI address
    pub pci_b: String,
    /// Destination MAC of the frames sent out of the first NIC, whose own
    /// MAC becomes their source (testpmd's mac forwarding with --eth-peer);
    /// without it frames go out unchanged. Needed between two VFs of one
    /// PF, whose switch would send a frame still addressed to the other VF
    /// straight back to it
    #[arg(long, value_name = "MAC", value_parser = parse_mac_arg)]
    pub peer_a: Option<[u8; 6]>,
    /// The same for the frames sent out of the second NIC
    #[arg(long, value_name = "MAC", value_parser = parse_mac_arg)]
    pub peer_b: Option<[u8; 6]>,
    /// Options of every traffic command
    #[command(flatten)]
    pub traffic: TrafficArgs,
}

/// `e1000 tap`.
#[derive(Debug, Args)]
pub struct TapArgs {
    /// PCI address, e.g. 0000:03:00.0
    pub pci: String,
    /// Name of the TAP interface (gone when the command ends)
    #[arg(long, value_name = "IFNAME", default_value = "e1000tap0")]
    pub name: String,
    /// Queue pairs, each with its own TAP queue and thread (RSS spreads the
    /// received flows; the kernel sends each flow back on its queue)
    #[arg(long, value_name = "N", default_value_t = 1, value_parser = clap::value_parser!(u16).range(1..=16))]
    pub queues: u16,
    /// Options of every traffic command
    #[command(flatten)]
    pub traffic: TrafficArgs,
}

/// `e1000 ping`.
#[derive(Debug, Args)]
pub struct PingArgs {
    /// PCI address, e.g. 0000:03:00.0
    pub pci: String,
    /// IPv4 address to ping
    pub target: Ipv4Addr,
    /// Our address on the NIC, ADDR/PREFIX
    #[arg(long, value_name = "ADDR/PREFIX", required = true)]
    pub ip: String,
    /// Echo requests to send
    #[arg(short = 'c', long, value_name = "N", default_value_t = 3)]
    pub count: u16,
    /// Time between requests (ms, or with a unit: 1s)
    #[arg(long, value_name = "MS", default_value_t = 200, value_parser = parse_ms)]
    pub interval: u64,
    /// Give up on a reply after this long (seconds, or with a unit: 500ms)
    #[arg(short = 'W', long, value_name = "SECS", default_value_t = 5.0, value_parser = parse_secs)]
    pub timeout: f64,
    /// How long to wait for link up (ms, or with a unit: 10s)
    #[arg(long, value_name = "MS", default_value_t = 10_000, value_parser = parse_ms)]
    pub link_timeout: u64,
    /// Interrupt mode (default: the best the device offers)
    #[arg(long, value_enum, value_name = "MODE")]
    pub irq: Option<IrqArg>,
}

#[cfg(test)]
mod tests;
