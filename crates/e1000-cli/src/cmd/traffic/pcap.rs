//! Classic pcap files: the stream `dump -w` writes (nanosecond timestamps,
//! Ethernet), and the files `dump -r` and `send --pcap` read (micro- or
//! nanosecond timestamps, either byte order, Ethernet only).

use super::CliError;
use std::io::{Read, Write};
use std::time::{Duration, SystemTime};

/// The magic number of a classic pcap file whose timestamps count ns.
const PCAP_MAGIC_NS: u32 = 0xa1b2_3c4d;

/// A pcap stream (classic format, nanosecond timestamps, Ethernet link
/// type) to a file or stdout.
pub(super) struct Pcap {
    out: std::io::BufWriter<Box<dyn Write>>,
    name: String,
    /// The reader closed the pipe: nothing more can be written.
    pub(super) closed: bool,
}

impl Pcap {
    pub(super) fn new(sink: Box<dyn Write>, name: &str) -> Result<Pcap, CliError> {
        let mut pcap = Pcap {
            out: std::io::BufWriter::with_capacity(256 * 1024, sink),
            name: name.to_string(),
            closed: false,
        };
        let mut header = Vec::with_capacity(24);
        header.extend_from_slice(&PCAP_MAGIC_NS.to_le_bytes());
        header.extend_from_slice(&2u16.to_le_bytes()); // version 2.4
        header.extend_from_slice(&4u16.to_le_bytes());
        header.extend_from_slice(&0i32.to_le_bytes()); // GMT offset
        header.extend_from_slice(&0u32.to_le_bytes()); // accuracy
        header.extend_from_slice(&65535u32.to_le_bytes()); // snap length
        header.extend_from_slice(&1u32.to_le_bytes()); // LINKTYPE_ETHERNET
        pcap.put(&header)?;
        pcap.flush()?;
        Ok(pcap)
    }

    /// A stream to `target`: a file it creates, or stdout for `-`.
    pub(super) fn create(target: &str) -> Result<Pcap, CliError> {
        if target == "-" {
            return Pcap::new(Box::new(std::io::stdout()), "stdout");
        }
        let file = std::fs::File::create(target)
            .map_err(|e| CliError::Failed(format!("cannot create {target}: {e}")))?;
        Pcap::new(Box::new(file), target)
    }

    fn put(&mut self, bytes: &[u8]) -> Result<(), CliError> {
        if self.closed {
            return Ok(());
        }
        let result = self.out.write_all(bytes);
        self.check(result)
    }

    /// A closed pipe marks the stream closed; other errors fail the run.
    fn check(&mut self, result: std::io::Result<()>) -> Result<(), CliError> {
        match result {
            Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => {
                self.closed = true;
                Ok(())
            }
            Err(e) => Err(CliError::Failed(format!(
                "writing pcap to {}: {e}",
                self.name
            ))),
            Ok(()) => Ok(()),
        }
    }

    /// Appends one frame received at `t`.
    pub(super) fn write(&mut self, frame: &[u8], t: SystemTime) -> Result<(), CliError> {
        let t = t.duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
        let mut rec = [0u8; 16];
        rec[0..4].copy_from_slice(&(t.as_secs() as u32).to_le_bytes());
        rec[4..8].copy_from_slice(&t.subsec_nanos().to_le_bytes());
        rec[8..12].copy_from_slice(&(frame.len() as u32).to_le_bytes());
        rec[12..16].copy_from_slice(&(frame.len() as u32).to_le_bytes());
        self.put(&rec)?;
        self.put(frame)
    }

    pub(super) fn flush(&mut self) -> Result<(), CliError> {
        if self.closed {
            return Ok(());
        }
        let result = self.out.flush();
        self.check(result)
    }
}

/// The magic number of a classic pcap file whose timestamps count µs.
const PCAP_MAGIC_US: u32 = 0xa1b2_c3d4;
/// `LINKTYPE_ETHERNET`.
const LINKTYPE_ETHERNET: u32 = 1;

/// One frame of a pcap file and when it was captured.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Record {
    pub(super) time: SystemTime,
    pub(super) frame: Vec<u8>,
}

/// The frames of the pcap file at `path` (`-` is stdin).
pub(super) fn read_file(path: &str) -> Result<Vec<Record>, CliError> {
    let mut bytes = Vec::new();
    let read = if path == "-" {
        std::io::stdin().lock().read_to_end(&mut bytes)
    } else {
        std::fs::File::open(path).and_then(|mut f| f.read_to_end(&mut bytes))
    };
    read.map_err(|e| CliError::Failed(format!("cannot read {path}: {e}")))?;
    parse(&bytes).map_err(|e| CliError::Failed(format!("{path}: {e}")))
}

/// The frames of a classic pcap file's bytes.
pub(super) fn parse(b: &[u8]) -> Result<Vec<Record>, String> {
    let word = |at: usize, swap: bool| -> Option<u32> {
        let w = u32::from_le_bytes(b.get(at..at + 4)?.try_into().ok()?);
        Some(if swap { w.swap_bytes() } else { w })
    };
    let magic = word(0, false).ok_or("not a pcap file: shorter than its header")?;
    let (swap, ns) = match magic {
        PCAP_MAGIC_US => (false, false),
        PCAP_MAGIC_NS => (false, true),
        m if m.swap_bytes() == PCAP_MAGIC_US => (true, false),
        m if m.swap_bytes() == PCAP_MAGIC_NS => (true, true),
        _ => return Err("not a classic pcap file (pcapng is not read)".into()),
    };
    let link = word(20, swap).ok_or("not a pcap file: shorter than its header")?;
    if link != LINKTYPE_ETHERNET {
        return Err(format!("link type {link}, not Ethernet"));
    }
    let mut records = Vec::new();
    let mut at = 24;
    while at < b.len() {
        let field =
            |k: usize| word(at + 4 * k, swap).ok_or(format!("record at byte {at} cut short"));
        let (secs, frac, len) = (field(0)?, field(1)?, field(2)? as usize);
        let frame = b
            .get(at + 16..at + 16 + len)
            .ok_or(format!("record at byte {at} cut short"))?;
        let frac = if ns {
            Duration::from_nanos(frac.into())
        } else {
            Duration::from_micros(frac.into())
        };
        records.push(Record {
            time: SystemTime::UNIX_EPOCH + Duration::from_secs(secs.into()) + frac,
            frame: frame.to_vec(),
        });
        at += 16 + len;
    }
    Ok(records)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_is_written_reads_back() {
        /// A sink whose bytes the test can read after the writer is gone.
        #[derive(Clone, Default)]
        struct Shared(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);
        impl Write for Shared {
            fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
                self.0.lock().unwrap().extend_from_slice(b);
                Ok(b.len())
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }
        let sink = Shared::default();
        let mut p = Pcap::new(Box::new(sink.clone()), "memory").unwrap();
        let t = SystemTime::UNIX_EPOCH + Duration::new(1_700_000_000, 123_456_789);
        p.write(&[1u8; 60], t).unwrap();
        p.write(&[2u8; 1514], t + Duration::from_micros(5)).unwrap();
        p.flush().unwrap();
        drop(p);
        let buf = sink.0.lock().unwrap().clone();
        let r = parse(&buf).unwrap();
        assert_eq!(r.len(), 2);
        assert_eq!(r[0].frame, vec![1u8; 60]);
        assert_eq!(r[1].frame.len(), 1514);
        assert_eq!(
            r[1].time.duration_since(r[0].time).unwrap(),
            Duration::from_micros(5)
        );
    }

    #[test]
    fn microsecond_big_endian_files_read_and_others_are_refused() {
        let mut b = Vec::new();
        b.extend_from_slice(&PCAP_MAGIC_US.to_be_bytes());
        b.extend_from_slice(&[0, 2, 0, 4]);
        b.extend_from_slice(&[0; 12]);
        b.extend_from_slice(&LINKTYPE_ETHERNET.to_be_bytes());
        for w in [10u32, 7, 3, 3] {
            b.extend_from_slice(&w.to_be_bytes());
        }
        b.extend_from_slice(&[9, 8, 7]);
        let r = parse(&b).unwrap();
        assert_eq!(r[0].frame, vec![9, 8, 7]);
        assert_eq!(
            r[0].time,
            SystemTime::UNIX_EPOCH + Duration::from_secs(10) + Duration::from_micros(7)
        );
        assert!(parse(&b[..b.len() - 1]).is_err());
        assert!(parse(b"\x0a\x0d\x0d\x0a pcapng").is_err());
    }
}
