//! `e1000 dump`'s capture filter: a small subset of tcpdump's expressions,
//! enough for the questions asked of a capture on a NIC.
//!
//! ```text
//! expression := term { (and | &&) term }
//! term       := (not | !) term | primitive
//! primitive  := arp | ip | ip6 | vlan | icmp | icmp6 | tcp | udp | sctp
//!             | ether proto N | ether [src|dst] host MAC
//!             | [src|dst] host IPv4-or-IPv6
//!             | [tcp|udp|sctp] [src|dst] port N
//! ```
//!
//! Frames are matched as they were on the wire: a VLAN tag the NIC
//! stripped counts for `vlan`, and the protocols behind a tag are seen.

use e1000_wire::ip::{PROTO_SCTP, PROTO_TCP, PROTO_UDP};
use e1000_wire::{ETHERTYPE_ARP, ETHERTYPE_IPV4, ETHERTYPE_IPV6, ETHERTYPE_VLAN};
use std::net::IpAddr;

/// IP protocol number of ICMP (IPv4).
const PROTO_ICMP: u8 = 1;
/// IP protocol number (next header) of ICMPv6.
const PROTO_ICMPV6: u8 = 58;

/// Which end of a frame an address or port is matched against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Dir {
    Src,
    Dst,
    Either,
}

/// One test of a frame.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Primitive {
    EtherType(u16),
    Vlan,
    Proto(u8),
    EtherHost(Dir, [u8; 6]),
    Host(Dir, IpAddr),
    Port(Option<u8>, Dir, u16),
}

/// A parsed filter: every term must hold (`not` negates one).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Filter {
    terms: Vec<(bool, Primitive)>,
}

/// What a frame is, as far as the filter looks.
struct Fields<'a> {
    frame: &'a [u8],
    tagged: bool,
    ethertype: u16,
    l3: usize,
}

impl<'a> Fields<'a> {
    fn of(frame: &'a [u8], stripped_tag: bool) -> Option<Fields<'a>> {
        let be16 = |at: usize| Some(u16::from_be_bytes([*frame.get(at)?, *frame.get(at + 1)?]));
        let (tagged, l3, ethertype) = match be16(12)? {
            ETHERTYPE_VLAN => (true, 18, be16(16)?),
            t => (stripped_tag, 14, t),
        };
        Some(Fields {
            frame,
            tagged,
            ethertype,
            l3,
        })
    }

    /// Source and destination IP addresses, the protocol and where its
    /// header starts.
    fn ip(&self) -> Option<(IpAddr, IpAddr, u8, usize)> {
        let (f, l3) = (self.frame, self.l3);
        match self.ethertype {
            ETHERTYPE_IPV4 => {
                let h = f.get(l3..l3 + 20)?;
                let src: [u8; 4] = h[12..16].try_into().ok()?;
                let dst: [u8; 4] = h[16..20].try_into().ok()?;
                let ihl = usize::from(h[0] & 0xF) * 4;
                Some((src.into(), dst.into(), h[9], l3 + ihl))
            }
            ETHERTYPE_IPV6 => {
                let h = f.get(l3..l3 + 40)?;
                let src: [u8; 16] = h[8..24].try_into().ok()?;
                let dst: [u8; 16] = h[24..40].try_into().ok()?;
                Some((src.into(), dst.into(), h[6], l3 + 40))
            }
            _ => None,
        }
    }

    fn ports(&self) -> Option<(u8, u16, u16)> {
        let (_, _, proto, l4) = self.ip()?;
        if ![PROTO_TCP, PROTO_UDP, PROTO_SCTP].contains(&proto) {
            return None;
        }
        let p = self.frame.get(l4..l4 + 4)?;
        Some((
            proto,
            u16::from_be_bytes([p[0], p[1]]),
            u16::from_be_bytes([p[2], p[3]]),
        ))
    }
}

fn dir_matches<T: PartialEq>(dir: Dir, src: T, dst: T, want: T) -> bool {
    match dir {
        Dir::Src => src == want,
        Dir::Dst => dst == want,
        Dir::Either => src == want || dst == want,
    }
}

impl Primitive {
    fn matches(&self, f: &Fields) -> bool {
        match *self {
            Primitive::EtherType(t) => f.ethertype == t,
            Primitive::Vlan => f.tagged,
            Primitive::Proto(p) => f.ip().is_some_and(|(_, _, proto, _)| proto == p),
            Primitive::EtherHost(dir, mac) => {
                let (dst, src) = (&f.frame[0..6], &f.frame[6..12]);
                dir_matches(dir, src, dst, &mac[..])
            }
            Primitive::Host(dir, ip) => f
                .ip()
                .is_some_and(|(src, dst, _, _)| dir_matches(dir, src, dst, ip)),
            Primitive::Port(proto, dir, port) => f.ports().is_some_and(|(p, src, dst)| {
                proto.is_none_or(|want| want == p) && dir_matches(dir, src, dst, port)
            }),
        }
    }
}

impl Filter {
    /// Whether `frame` passes; `stripped_tag`: the NIC removed its VLAN tag.
    pub fn matches(&self, frame: &[u8], stripped_tag: bool) -> bool {
        if self.terms.is_empty() {
            return true;
        }
        let Some(fields) = Fields::of(frame, stripped_tag) else {
            return false;
        };
        self.terms
            .iter()
            .all(|(negated, p)| p.matches(&fields) != *negated)
    }

    /// Parses the words of an expression (as the shell split them).
    pub fn parse(words: &[String]) -> Result<Filter, String> {
        let words: Vec<&str> = words.iter().flat_map(|w| w.split_whitespace()).collect();
        let mut filter = Filter::default();
        let mut at = 0;
        while at < words.len() {
            let mut negated = false;
            while matches!(words.get(at), Some(&"not" | &"!")) {
                negated = !negated;
                at += 1;
            }
            let (p, used) = primitive(&words[at..])?;
            filter.terms.push((negated, p));
            at += used;
            match words.get(at) {
                None => {}
                Some(&"and" | &"&&") if at + 1 < words.len() => at += 1,
                Some(w) => {
                    return Err(format!(
                        "{w:?}: only `and` joins terms (no `or`, no parentheses)"
                    ))
                }
            }
        }
        Ok(filter)
    }
}

/// A number, decimal or 0x-hexadecimal.
fn number(w: Option<&&str>, what: &str) -> Result<u64, String> {
    let w = w.ok_or_else(|| format!("{what} needs a number"))?;
    let parsed = match w.strip_prefix("0x") {
        Some(hex) => u64::from_str_radix(hex, 16),
        None => w.parse(),
    };
    parsed.map_err(|_| format!("{w:?} is not a number ({what})"))
}

fn mac(w: Option<&&str>) -> Result<[u8; 6], String> {
    let w = w.ok_or("ether host needs a MAC address")?;
    let parts: Vec<u8> = w
        .split(':')
        .map(|p| u8::from_str_radix(p, 16))
        .collect::<Result<_, _>>()
        .map_err(|_| format!("{w:?} is not a MAC address"))?;
    parts
        .try_into()
        .map_err(|_| format!("{w:?} is not a MAC address"))
}

/// One primitive at the start of `w`, and how many words it took.
fn primitive(w: &[&str]) -> Result<(Primitive, usize), String> {
    let proto = |name: &str| match name {
        "tcp" => Some(PROTO_TCP),
        "udp" => Some(PROTO_UDP),
        "sctp" => Some(PROTO_SCTP),
        _ => None,
    };
    let dir = |name: Option<&&str>| match name {
        Some(&"src") => Some(Dir::Src),
        Some(&"dst") => Some(Dir::Dst),
        _ => None,
    };
    let first = *w.first().ok_or("the filter ends where a term should be")?;
    // [tcp|udp|sctp] [src|dst] port N, [src|dst] host IP
    let (l4, rest) = match proto(first) {
        Some(p) if matches!(w.get(1), Some(&"port" | &"src" | &"dst")) => (Some(p), &w[1..]),
        _ => (None, w),
    };
    let (d, rest) = match dir(rest.first()) {
        Some(d) => (d, &rest[1..]),
        None => (Dir::Either, rest),
    };
    let taken = w.len() - rest.len();
    match rest.first() {
        Some(&"port") => {
            let port = number(rest.get(1), "port")?;
            let port = u16::try_from(port).map_err(|_| format!("port {port} is over 65535"))?;
            return Ok((Primitive::Port(l4, d, port), taken + 2));
        }
        Some(&"host") if l4.is_none() => {
            let w = rest.get(1).ok_or("host needs an address")?;
            let ip = w
                .parse()
                .map_err(|_| format!("{w:?} is not an IPv4 or IPv6 address"))?;
            return Ok((Primitive::Host(d, ip), taken + 2));
        }
        _ if taken > 0 && l4.is_none() => {
            return Err(format!("{first:?} must be followed by `host` or `port`"))
        }
        _ => {}
    }
    Ok(match first {
        "arp" => (Primitive::EtherType(ETHERTYPE_ARP), 1),
        "ip" => (Primitive::EtherType(ETHERTYPE_IPV4), 1),
        "ip6" => (Primitive::EtherType(ETHERTYPE_IPV6), 1),
        "vlan" => (Primitive::Vlan, 1),
        "icmp" => (Primitive::Proto(PROTO_ICMP), 1),
        "icmp6" => (Primitive::Proto(PROTO_ICMPV6), 1),
        p if proto(p).is_some() => (Primitive::Proto(proto(p).expect("checked")), 1),
        "ether" => match w.get(1) {
            Some(&"proto") => {
                let t = number(w.get(2), "ether proto")?;
                let t = u16::try_from(t).map_err(|_| format!("ether proto {t} is over 0xffff"))?;
                (Primitive::EtherType(t), 3)
            }
            _ => {
                let (d, at) = match dir(w.get(1)) {
                    Some(d) => (d, 2),
                    None => (Dir::Either, 1),
                };
                if w.get(at) != Some(&"host") {
                    return Err("ether takes `proto N` or `[src|dst] host MAC`".into());
                }
                (Primitive::EtherHost(d, mac(w.get(at + 1))?), at + 2)
            }
        },
        other => {
            return Err(format!(
                "{other:?} is not a filter term (see `e1000 dump --help`)"
            ))
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use e1000_wire::ip::{Headers, Network, Transport};

    fn words(s: &str) -> Vec<String> {
        s.split_whitespace().map(str::to_string).collect()
    }

    fn frame(v6: bool, transport: Transport, dst_port: u16) -> Vec<u8> {
        let h = Headers {
            dst_mac: [2, 0, 0, 0, 0, 1],
            src_mac: [0x52, 0x54, 0, 0x12, 0x34, 0x56],
            network: if v6 {
                Network::V6 {
                    src: [0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2],
                    dst: [0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1],
                }
            } else {
                Network::V4 {
                    src: [10, 11, 12, 2],
                    dst: [10, 11, 12, 1],
                    ident: 1,
                }
            },
            transport,
            src_port: 40000,
            dst_port,
        };
        let mut f = vec![0u8; h.len() + 8];
        let end = f.len();
        h.write(&mut f, end);
        f
    }

    fn passes(expr: &str, f: &[u8]) -> bool {
        Filter::parse(&words(expr)).unwrap().matches(f, false)
    }

    #[test]
    fn protocols_hosts_and_ports() {
        let udp4 = frame(false, Transport::Udp, 53);
        let tcp6 = frame(
            true,
            Transport::Tcp {
                seq: 1,
                flags: 0x18,
            },
            443,
        );
        assert!(passes("", &udp4));
        assert!(passes("ip and udp and port 53", &udp4));
        assert!(passes("udp dst port 53 and src port 40000", &udp4));
        assert!(!passes("udp src port 53", &udp4));
        assert!(!passes("tcp port 53", &udp4));
        assert!(passes("host 10.11.12.1 and src host 10.11.12.2", &udp4));
        assert!(!passes("dst host 10.11.12.2", &udp4));
        assert!(passes("ip6 and tcp port 443 and host fd00::1", &tcp6));
        assert!(!passes("ip", &tcp6));
        assert!(passes("not ip and not udp", &tcp6));
        assert!(passes("ether src host 52:54:00:12:34:56", &udp4));
        assert!(passes("ether proto 0x86dd", &tcp6));
        assert!(!passes("arp", &udp4));
    }

    #[test]
    fn vlan_seen_in_the_bytes_or_stripped_by_the_nic() {
        let plain = frame(false, Transport::Udp, 9);
        let mut tagged = plain[..12].to_vec();
        tagged.extend_from_slice(&[0x81, 0x00, 0x00, 0x64]);
        tagged.extend_from_slice(&plain[12..]);
        let f = Filter::parse(&words("vlan and udp port 9")).unwrap();
        assert!(f.matches(&tagged, false));
        assert!(f.matches(&plain, true));
        assert!(!f.matches(&plain, false));
    }

    #[test]
    fn bad_expressions_say_why() {
        for bad in [
            "udp or tcp",
            "port",
            "port 70000",
            "host nothing",
            "bogus",
            "ether host 1:2",
            "src udp",
            "udp and",
        ] {
            assert!(Filter::parse(&words(bad)).is_err(), "{bad} parsed");
        }
    }
}
