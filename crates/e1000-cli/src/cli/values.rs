//! The values of the options: MAC addresses, durations with units, rates,
//! ring sizes, CPU lists, payload patterns, PTP message types.

/// The first byte of a PTPv2 message type, by name or as a number.
pub(crate) fn parse_ptp_message(s: &str) -> Result<u8, String> {
    match s {
        "sync" => Ok(vfio_e1000::PTP_SYNC),
        "delay-req" => Ok(vfio_e1000::PTP_DELAY_REQ),
        n => n
            .parse()
            .map_err(|_| format!("{n}: sync, delay-req or a byte (0-255)")),
    }
}

/// Payload of the frames `send` builds, after the 8-byte sequence number.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Payload {
    /// Byte `i` is `i as u8`.
    Counter,
    /// These bytes, repeated.
    Repeat(Vec<u8>),
}

/// How fast `send` sends.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Rate {
    /// Frames per second (0: as fast as the NIC takes them).
    Frames(f64),
    /// Bits per second on the wire.
    Bits(f64),
}

/// Bytes a frame takes on the wire besides its own: FCS (4), preamble and
/// start delimiter (8), inter-frame gap (12).
pub const WIRE_OVERHEAD: usize = 24;

impl Rate {
    /// Frames per second for frames of `frame_bytes` on average (without
    /// FCS); 0 means unpaced.
    pub fn frames_per_second(self, frame_bytes: f64) -> f64 {
        match self {
            Rate::Frames(fps) => fps,
            Rate::Bits(bps) => bps / ((frame_bytes + WIRE_OVERHEAD as f64) * 8.0),
        }
    }
}

/// `50000` (frames/s), or `100M`, `1.5G`, `500k`, `100Mbit`, `10Mbps`.
pub(crate) fn parse_rate(s: &str) -> Result<Rate, String> {
    let bad = || format!("{s}: frames per second (50000) or a bit rate (100M, 1G, 500k)");
    let unit_at = s.find(|c: char| c.is_ascii_alphabetic()).unwrap_or(s.len());
    let (number, unit) = s.split_at(unit_at);
    let value: f64 = number.parse().map_err(|_| bad())?;
    if !value.is_finite() || value < 0.0 {
        return Err(bad());
    }
    let scale = match unit.trim_end_matches("bit").trim_end_matches("bps") {
        "" if unit.is_empty() => return Ok(Rate::Frames(value)),
        "" => 1.0,
        "k" | "K" => 1e3,
        "M" => 1e6,
        "G" => 1e9,
        _ => return Err(bad()),
    };
    Ok(Rate::Bits(value * scale))
}

/// Parses `aa:bb:cc:dd:ee:ff`.
pub fn parse_mac(s: &str) -> Option<[u8; 6]> {
    let parts: Vec<&str> = s.split(':').collect();
    if parts.len() != 6 || parts.iter().any(|p| p.len() != 2) {
        return None;
    }
    let mut mac = [0u8; 6];
    for (b, p) in mac.iter_mut().zip(parts) {
        *b = u8::from_str_radix(p, 16).ok()?;
    }
    Some(mac)
}

pub(crate) fn parse_mac_arg(s: &str) -> Result<[u8; 6], String> {
    parse_mac(s).ok_or_else(|| "expected a MAC address like aa:bb:cc:dd:ee:ff".into())
}

/// Nanoseconds per unit of a duration.
const UNITS: [(&str, f64); 7] = [
    ("ns", 1.0),
    ("us", 1e3),
    ("µs", 1e3),
    ("ms", 1e6),
    ("s", 1e9),
    ("m", 60e9),
    ("h", 3600e9),
];

/// Parses a duration: a number in `unit` (a suffix of [`UNITS`]), or a
/// number with one of those suffixes; returns it in `unit`.
pub fn parse_duration(s: &str, unit: &str) -> Result<f64, String> {
    let per_unit = UNITS
        .iter()
        .find(|(u, _)| *u == unit)
        .map_or(1e9, |(_, n)| *n);
    let split = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(s.len());
    let (number, suffix) = s.split_at(split);
    let scale = match suffix {
        "" => 1.0,
        suffix => match UNITS.iter().find(|(u, _)| *u == suffix) {
            Some((_, ns)) => ns / per_unit,
            None => {
                return Err(format!(
                    "unknown unit '{suffix}': use ns, us, ms, s, m or h"
                ))
            }
        },
    };
    match number.parse::<f64>() {
        Ok(v) if v.is_finite() && v >= 0.0 => Ok(v * scale),
        _ => Err(format!(
            "expected a duration like 2.5 ({unit}), 500ms or 2s"
        )),
    }
}

pub(crate) fn parse_secs(s: &str) -> Result<f64, String> {
    parse_duration(s, "s")
}

pub(crate) fn parse_ms(s: &str) -> Result<u64, String> {
    Ok(parse_duration(s, "ms")?.round() as u64)
}

pub(crate) fn parse_us(s: &str) -> Result<u32, String> {
    let us = parse_duration(s, "us")?.round();
    if us > u32::MAX as f64 {
        return Err("too long: at most 4294 s".into());
    }
    Ok(us as u32)
}

/// A ring size as the NICs take it: a multiple of 8 from 8 to 4096.
pub(crate) fn parse_ring(s: &str) -> Result<usize, String> {
    match s.parse::<usize>() {
        Ok(n) if (8..=4096).contains(&n) && n % 8 == 0 => Ok(n),
        _ => Err("expected a multiple of 8 from 8 to 4096".into()),
    }
}

/// CPUs, in the order given (`--cpus`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CpuList(pub Vec<usize>);

/// A CPU list as `taskset -c` takes it: numbers and ranges, comma-separated.
pub fn parse_cpu_list(s: &str) -> Result<CpuList, String> {
    let bad = || format!("expected CPUs like 0-3,6, not '{s}'");
    let mut cpus = Vec::new();
    for item in s.split(',') {
        match item.split_once('-') {
            Some((a, b)) => {
                let (a, b): (usize, usize) =
                    (a.parse().map_err(|_| bad())?, b.parse().map_err(|_| bad())?);
                if a > b {
                    return Err(bad());
                }
                cpus.extend(a..=b);
            }
            None => cpus.push(item.parse().map_err(|_| bad())?),
        }
    }
    Ok(CpuList(cpus))
}

pub(crate) fn parse_period(s: &str) -> Result<f64, String> {
    match parse_secs(s)? {
        v if v >= 0.01 => Ok(v),
        _ => Err("the period must be at least 0.01 s".into()),
    }
}

pub(crate) fn parse_payload(s: &str) -> Result<Payload, String> {
    match s {
        "counter" => Ok(Payload::Counter),
        "zeros" => Ok(Payload::Repeat(vec![0])),
        hex => {
            let hex = hex.strip_prefix("0x").unwrap_or(hex);
            if hex.is_empty() || hex.len() % 2 != 0 {
                return Err("expected counter, zeros or an even number of hex digits".into());
            }
            (0..hex.len())
                .step_by(2)
                .map(|i| u8::from_str_radix(&hex[i..i + 2], 16))
                .collect::<Result<Vec<u8>, _>>()
                .map(Payload::Repeat)
                .map_err(|_| "expected counter, zeros or an even number of hex digits".into())
        }
    }
}
