//! Where a command's output goes. Human lines go to stdout, or to stderr
//! when stdout carries data (a pcap stream, JSON lines); JSON objects go to
//! stdout, one per line. Write errors (a closed pipe) are ignored here: the
//! data path reports its own.

use std::io::Write;

/// The output streams of one command.
#[derive(Debug, Clone, Copy)]
pub struct Out {
    json: bool,
    human_to_stderr: bool,
}

impl Out {
    /// `json`: JSON lines on stdout; `data_on_stdout`: stdout carries other data.
    pub fn new(json: bool, data_on_stdout: bool) -> Out {
        Out {
            json,
            human_to_stderr: json || data_on_stdout,
        }
    }

    /// Whether JSON objects are wanted.
    pub fn json_mode(&self) -> bool {
        self.json
    }

    /// Prints one human line.
    pub fn say(&self, line: &str) {
        if self.human_to_stderr {
            let _ = writeln!(std::io::stderr().lock(), "{line}");
        } else {
            let _ = writeln!(std::io::stdout().lock(), "{line}");
        }
    }

    /// Prints one JSON object on its own line, if JSON output is on.
    pub fn json(&self, value: &serde_json::Value) {
        if self.json {
            let _ = writeln!(std::io::stdout().lock(), "{value}");
        }
    }
}

/// `HH:MM:SS.uuuuuu` (UTC) of `t`, as tcpdump prints it.
pub fn clock(t: std::time::SystemTime) -> String {
    let d = t.duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    let s = d.as_secs() % 86_400;
    format!(
        "{:02}:{:02}:{:02}.{:06}",
        s / 3600,
        s / 60 % 60,
        s % 60,
        d.subsec_micros()
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, UNIX_EPOCH};

    #[test]
    fn clock_format() {
        let t = UNIX_EPOCH + Duration::from_micros(86_400_000_000 * 3 + 3_723_000_042);
        assert_eq!(clock(t), "01:02:03.000042");
    }
}
