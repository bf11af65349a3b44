//! The host side of the guest agent protocol: reads QEMU's serial console
//! line by line in a thread, keeps the full console text, and demultiplexes
//! agent lines (`@@READY`, `@@<id>| <line>`, `@@<id>$ <status>`) into
//! per-job state that waiters can block on.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread;
use std::time::{Duration, Instant};

/// Output and exit status of one agent job.
#[derive(Default, Debug, Clone)]
pub struct JobState {
    /// Output lines so far (stdout and stderr merged).
    pub lines: Vec<String>,
    /// Exit status, once the job has ended.
    pub status: Option<i32>,
}

/// Everything read from the console so far.
#[derive(Default)]
pub struct ConsoleState {
    /// The full console text, `\r` removed.
    pub text: String,
    /// Whether the agent announced itself.
    pub ready: bool,
    /// Whether the console reached end of file (QEMU exited).
    pub closed: bool,
    /// Agent jobs by id.
    pub jobs: HashMap<u64, JobState>,
}

/// Console state shared between the reader thread and waiters.
#[derive(Default)]
pub struct Console {
    state: Mutex<ConsoleState>,
    changed: Condvar,
}

/// Why a wait on the console ended without a result.
#[derive(Debug, PartialEq, Eq)]
pub enum WaitError {
    /// The deadline passed.
    Timeout,
    /// QEMU's console closed.
    Closed,
}

impl Console {
    /// Starts a thread that feeds `stream` into a new console. With `echo`,
    /// every line is also copied to stderr as it arrives.
    pub fn spawn_reader(stream: impl Read + Send + 'static, echo: bool) -> Arc<Console> {
        let console = Arc::new(Console::default());
        let c = Arc::clone(&console);
        thread::spawn(move || {
            let mut reader = BufReader::new(stream);
            let mut buf = Vec::new();
            loop {
                buf.clear();
                match reader.read_until(b'\n', &mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(_) => {
                        let line = String::from_utf8_lossy(&buf);
                        let line = line.trim_end_matches(['\n', '\r']).replace('\r', "");
                        if echo {
                            eprintln!("guest| {line}");
                        }
                        c.feed(&line);
                    }
                }
            }
            c.lock().closed = true;
            c.changed.notify_all();
        });
        console
    }

    /// Locks the state.
    pub fn lock(&self) -> MutexGuard<'_, ConsoleState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Records one console line.
    fn feed(&self, line: &str) {
        let mut s = self.lock();
        s.text.push_str(line);
        s.text.push('\n');
        match parse_agent_line(line) {
            Some(AgentLine::Ready) => s.ready = true,
            Some(AgentLine::Output(id, text)) => {
                s.jobs.entry(id).or_default().lines.push(text.to_string())
            }
            Some(AgentLine::Exit(id, status)) => {
                s.jobs.entry(id).or_default().status = Some(status)
            }
            None => return,
        }
        drop(s);
        self.changed.notify_all();
    }

    /// Blocks until `check` returns `Some`, the deadline passes, or the console closes.
    pub fn wait_until<T>(
        &self,
        timeout: Duration,
        mut check: impl FnMut(&ConsoleState) -> Option<T>,
    ) -> Result<T, WaitError> {
        let deadline = Instant::now() + timeout;
        let mut s = self.lock();
        loop {
            if let Some(v) = check(&s) {
                return Ok(v);
            }
            if s.closed {
                return Err(WaitError::Closed);
            }
            let now = Instant::now();
            if now >= deadline {
                return Err(WaitError::Timeout);
            }
            s = self
                .changed
                .wait_timeout(s, deadline - now)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
    }

    /// The last `n` lines of the console.
    pub fn tail(&self, n: usize) -> String {
        let s = self.lock();
        let lines: Vec<&str> = s.text.lines().collect();
        lines[lines.len().saturating_sub(n)..].join("\n")
    }
}

/// A line of the agent protocol.
#[derive(Debug, PartialEq, Eq)]
enum AgentLine<'a> {
    Ready,
    Output(u64, &'a str),
    Exit(u64, i32),
}

/// Recognizes an agent line; a kernel message may precede it on the same line.
fn parse_agent_line(line: &str) -> Option<AgentLine<'_>> {
    let at = line.find("@@")?;
    let rest = &line[at + 2..];
    if rest.starts_with("READY") {
        return Some(AgentLine::Ready);
    }
    let digits = rest.find(|c: char| !c.is_ascii_digit())?;
    let id = rest[..digits].parse().ok()?;
    let rest = &rest[digits..];
    if let Some(text) = rest.strip_prefix("| ") {
        Some(AgentLine::Output(id, text))
    } else if rest == "|" {
        Some(AgentLine::Output(id, ""))
    } else {
        let status = rest.strip_prefix("$ ")?.trim().parse().ok()?;
        Some(AgentLine::Exit(id, status))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_agent_lines() {
        assert_eq!(parse_agent_line("@@READY"), Some(AgentLine::Ready));
        assert_eq!(
            parse_agent_line("@@12| hello @@3| x"),
            Some(AgentLine::Output(12, "hello @@3| x"))
        );
        assert_eq!(parse_agent_line("@@4| "), Some(AgentLine::Output(4, "")));
        assert_eq!(
            parse_agent_line("[ 1.0] oops@@7$ 130"),
            Some(AgentLine::Exit(7, 130))
        );
        assert_eq!(parse_agent_line("plain kernel line"), None);
        assert_eq!(parse_agent_line("@@x| no"), None);
    }

    #[test]
    fn feeds_jobs_and_waits() {
        let c = Console::default();
        c.feed("@@1| a");
        c.feed("@@1$ 3");
        let st = c
            .wait_until(Duration::from_millis(10), |s| s.jobs.get(&1)?.status)
            .unwrap();
        assert_eq!(st, 3);
        assert_eq!(
            c.wait_until(Duration::from_millis(10), |s| s.jobs.get(&2).cloned())
                .unwrap_err(),
            WaitError::Timeout
        );
    }
}
