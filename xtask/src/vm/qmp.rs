//! A minimal client for the QEMU Machine Protocol over a unix socket.
//!
//! Commands are JSON strings written by the caller; replies are returned as
//! raw JSON lines (asynchronous events are skipped).

use crate::bail;
use crate::error::{Context, Result};
use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::Duration;

/// A connected QMP session, in command mode.
pub struct Qmp {
    reader: BufReader<UnixStream>,
    writer: UnixStream,
}

impl Qmp {
    /// Connects to `socket`, reads the greeting and negotiates capabilities.
    pub fn connect(socket: &Path) -> Result<Qmp> {
        let stream = UnixStream::connect(socket)
            .with_context(|| format!("connecting to QMP at {}", socket.display()))?;
        stream.set_read_timeout(Some(Duration::from_secs(10)))?;
        let writer = stream.try_clone()?;
        let mut qmp = Qmp {
            reader: BufReader::new(stream),
            writer,
        };
        let greeting = qmp.read_line()?;
        if !greeting.contains("\"QMP\"") {
            bail!("unexpected QMP greeting: {greeting}");
        }
        qmp.execute(r#"{"execute":"qmp_capabilities"}"#)?;
        Ok(qmp)
    }

    fn read_line(&mut self) -> Result<String> {
        let mut line = String::new();
        let n = self
            .reader
            .read_line(&mut line)
            .context("reading from QMP")?;
        if n == 0 {
            bail!("QMP connection closed");
        }
        Ok(line.trim_end().to_string())
    }

    /// Sends one command and returns its reply line. A reply holding an
    /// `"error"` member is returned as an error.
    pub fn execute(&mut self, command: &str) -> Result<String> {
        if command.contains('\n') {
            bail!("QMP command must be one line: {command}");
        }
        self.writer
            .write_all(format!("{command}\n").as_bytes())
            .context("writing to QMP")?;
        loop {
            let line = self.read_line()?;
            if line.starts_with("{\"return\"") {
                return Ok(line);
            }
            if line.starts_with("{\"error\"") {
                bail!("QMP command {command} failed: {line}");
            }
            // Anything else is an asynchronous event; skip it.
        }
    }
}
