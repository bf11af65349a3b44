use super::*;
use clap::CommandFactory;

fn parse(line: &str) -> Result<Cli, clap::Error> {
    Cli::try_parse_from(std::iter::once("e1000").chain(line.split_whitespace()))
}

#[test]
fn definition_is_consistent() {
    Cli::command().debug_assert();
}

#[test]
fn short_options_and_values() {
    let Command::Dump(d) = parse("dump 0000:00:03.0 -c 5 -w - -x -q --stats-period 0.5")
        .unwrap()
        .command
    else {
        panic!("not dump")
    };
    assert_eq!(d.traffic.count, Some(5));
    assert_eq!(d.write.as_deref(), Some("-"));
    assert!(d.hex && d.traffic.quiet);
    assert_eq!(d.traffic.stats_period, Some(0.5));
    let Command::Send(s) =
        parse("send 00:03.0 --flows 8 --payload dead --dst-mac 02:00:00:00:00:01")
            .unwrap()
            .command
    else {
        panic!("not send")
    };
    assert_eq!(s.flows, 8);
    assert_eq!(s.payload, Payload::Repeat(vec![0xde, 0xad]));
    assert_eq!(s.dst_mac, [2, 0, 0, 0, 0, 1]);
}

#[test]
fn send_rates_sizes_and_bursts() {
    let send = |line: &str| match parse(line).unwrap().command {
        Command::Send(s) => s,
        _ => panic!("not send"),
    };
    let s = send("send 0000:00:03.0 --rate 100M --size 64,512,1514 --burst 32");
    assert_eq!(s.rate, Rate::Bits(1e8));
    assert_eq!(s.size, [64, 512, 1514]);
    assert_eq!(s.burst, Some(32));
    // 64-byte frames at 100 Mbit/s: 88 bytes each on the wire.
    let fps = s.rate.frames_per_second(64.0);
    assert!((fps - 1e8 / (88.0 * 8.0)).abs() < 1e-6);
    assert_eq!(
        send("send 0000:00:03.0 --rate 50000").rate,
        Rate::Frames(50000.0)
    );
    assert_eq!(
        send("send 0000:00:03.0 --rate 1.5Gbit").rate,
        Rate::Bits(1.5e9)
    );
    assert_eq!(send("send 0000:00:03.0 --rate 500k").rate, Rate::Bits(5e5));
    assert_eq!(send("send 0000:00:03.0 -s 100").size, [100]);
    assert_eq!(
        send("send 0000:00:03.0 --pcap f.pcap").pcap.as_deref(),
        Some("f.pcap")
    );
}

#[test]
fn dump_takes_a_filter_an_interface_or_a_file() {
    let dump = |line: &str| match parse(line).unwrap().command {
        Command::Dump(d) => d,
        _ => panic!("not dump"),
    };
    let d = dump("dump 0000:00:03.0 udp port 53");
    assert_eq!(d.pci(), Some("0000:00:03.0"));
    assert_eq!(d.filter_words(), ["udp", "port", "53"]);
    let d = dump("dump -n -e -i 0000:00:03.0 arp");
    assert_eq!(d.pci(), Some("0000:00:03.0"));
    assert_eq!(d.filter_words(), ["arp"]);
    let d = dump("dump -r capture.pcap not ip6");
    assert_eq!((d.pci(), d.read.as_deref()), (None, Some("capture.pcap")));
    assert_eq!(d.filter_words(), ["not", "ip6"]);
    assert!(parse("dump -r a.pcap -i 0000:00:03.0").is_err());
}

#[test]
fn usage_errors_exit_2() {
    for bad in [
        "dump",
        "dump 0000:00:03.0 --bogus",
        "echo 0000:00:03.0 --irq bogus",
        "send 0000:00:03.0 --size 59",
        "send 0000:00:03.0 --size 64,59",
        "send 0000:00:03.0 --rate 10X",
        "send 0000:00:03.0 --rate -5",
        "send 0000:00:03.0 --burst 0",
        "send 0000:00:03.0 --pcap f.pcap --tcp",
        "send 0000:00:03.0 --tso 0",
        "send 0000:00:03.0 --dst-mac 1:2:3",
        "send 0000:00:03.0 --payload xyz",
        "echo 0000:00:03.0 --ring 100",
        "echo 0000:00:03.0 --txd 8192",
        "echo 0000:00:03.0 --timeout 2parsecs",
        "echo 0000:00:03.0 --cpus 3-1",
        "echo 0000:00:03.0 --queues 17",
        "bind",
        "frobnicate",
    ] {
        let e = parse(bad).expect_err(bad);
        assert_eq!(e.exit_code(), 2, "{bad}: {e}");
    }
    assert_eq!(parse("--version").unwrap_err().exit_code(), 0);
    assert_eq!(parse("echo --help").unwrap_err().exit_code(), 0);
}

#[test]
fn mac_parsing() {
    assert_eq!(
        parse_mac("52:54:00:12:34:56"),
        Some([0x52, 0x54, 0, 0x12, 0x34, 0x56])
    );
    assert_eq!(parse_mac("52:54:00:12:34"), None);
    assert_eq!(parse_mac("5:54:00:12:34:56"), None);
}

#[test]
fn durations_take_units_and_plain_numbers_keep_the_flags_unit() {
    let Command::Echo(e) = parse(
        "echo 00:03.0 --timeout 500ms --busy-poll 1ms --irq-interval 250 --link-timeout 2s --stats-period 250ms",
    )
    .unwrap()
    .command
    else {
        panic!("not echo")
    };
    let t = &e.traffic;
    assert_eq!(t.timeout, Some(0.5));
    assert_eq!(
        (t.busy_poll, t.irq_interval, t.link_timeout),
        (1000, 250, 2000)
    );
    assert_eq!(t.stats_period, Some(0.25));
    assert_eq!(parse_duration("1.5", "s"), Ok(1.5));
    assert_eq!(parse_duration("90us", "ms"), Ok(0.09));
    assert!(parse_duration("-1", "s").is_err());
}

#[test]
fn rings_and_cpu_lists() {
    let Command::Echo(e) = parse("echo 00:03.0 --ring 256 --txd 1024 --cpus 0-2,5")
        .unwrap()
        .command
    else {
        panic!("not echo")
    };
    assert_eq!(
        (e.traffic.ring, e.traffic.rxd, e.traffic.txd),
        (Some(256), None, Some(1024))
    );
    assert_eq!(e.traffic.cpus, Some(CpuList(vec![0, 1, 2, 5])));
    assert_eq!(parse_cpu_list("7"), Ok(CpuList(vec![7])));
}
