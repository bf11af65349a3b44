//! A command running in the guest, started by `Guest::spawn`: follow its
//! output line by line, wait for a particular line, or wait for its end.

use super::console::{Console, JobState, WaitError};
use crate::bail;
use crate::error::{Error, Result};
use std::time::{Duration, Instant};

/// Output and exit status of a finished guest command.
#[derive(Debug, Clone)]
pub struct JobResult {
    /// Exit status of the shell command (128+N when killed by signal N).
    pub status: i32,
    /// Output lines, stdout and stderr merged.
    pub lines: Vec<String>,
}

impl JobResult {
    /// The output as one string.
    pub fn output(&self) -> String {
        self.lines.join("\n")
    }
}

/// What [`Job::next_output`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Output {
    /// An output line.
    Line(String),
    /// The job ended with this status; every line was returned.
    Ended(i32),
    /// Nothing within the timeout.
    Nothing,
}

/// What a job needs of the machine that runs it.
pub trait JobHost {
    /// The console on which the guest agent reports every job's output.
    fn agent_console(&self) -> &Console;
    /// An error about the machine, with its diagnostics attached.
    fn diagnosed(&self, message: String) -> Error;
}

/// A command running in the guest.
pub struct Job<'g> {
    guest: &'g dyn JobHost,
    id: u64,
    command: String,
    cursor: usize,
}

impl<'g> Job<'g> {
    /// Follows agent job `id` of `guest`, started as `command`.
    pub(crate) fn new(guest: &'g dyn JobHost, id: u64, command: &str) -> Job<'g> {
        Job {
            guest,
            id,
            command: command.to_string(),
            cursor: 0,
        }
    }

    /// The agent's job id.
    pub fn id(&self) -> u64 {
        self.id
    }

    /// The next output line not yet returned by `next_line`/`wait_line`, or
    /// `None` once the job has ended and every line was returned.
    pub fn next_line(&mut self, timeout: Duration) -> Result<Option<String>> {
        let (id, cursor) = (self.id, self.cursor);
        let got = self
            .guest
            .agent_console()
            .wait_until(timeout, |s| match s.jobs.get(&id) {
                Some(j) if j.lines.len() > cursor => Some(Some(j.lines[cursor].clone())),
                Some(j) if j.status.is_some() => Some(None),
                _ => None,
            });
        match got {
            Ok(line) => {
                self.cursor += usize::from(line.is_some());
                Ok(line)
            }
            Err(e) => Err(self.failure(e, "waiting for output")),
        }
    }

    /// The next output line within `timeout`, the exit status once the job
    /// has ended and every line was returned, or [`Output::Nothing`] yet.
    pub fn next_output(&mut self, timeout: Duration) -> Result<Output> {
        let (id, cursor) = (self.id, self.cursor);
        let got = self
            .guest
            .agent_console()
            .wait_until(timeout, |s| match s.jobs.get(&id) {
                Some(j) if j.lines.len() > cursor => Some(Output::Line(j.lines[cursor].clone())),
                Some(j) => j.status.map(Output::Ended),
                None => None,
            });
        match got {
            Ok(output) => {
                self.cursor += usize::from(matches!(output, Output::Line(_)));
                Ok(output)
            }
            Err(WaitError::Timeout) => Ok(Output::Nothing),
            Err(e) => Err(self.failure(e, "waiting for output")),
        }
    }

    /// Waits for an output line matching `pred` and returns it. Fails if the
    /// job ends first (the error shows its output and status).
    pub fn wait_line(
        &mut self,
        mut pred: impl FnMut(&str) -> bool,
        timeout: Duration,
    ) -> Result<String> {
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.next_line(left)? {
                Some(line) if pred(&line) => return Ok(line),
                Some(_) => {}
                None => {
                    let state = self.state();
                    bail!(
                        "guest job `{}` exited {} before printing the awaited line; its output:\n{}",
                        self.command,
                        state.status.unwrap_or(-1),
                        state.lines.join("\n")
                    );
                }
            }
        }
    }

    /// All output lines so far.
    pub fn lines(&self) -> Vec<String> {
        self.state().lines
    }

    fn state(&self) -> JobState {
        self.guest
            .agent_console()
            .lock()
            .jobs
            .get(&self.id)
            .cloned()
            .unwrap_or_default()
    }

    /// Waits for the job to end.
    pub fn wait(self, timeout: Duration) -> Result<JobResult> {
        let id = self.id;
        let got = self.guest.agent_console().wait_until(timeout, |s| {
            let j = s.jobs.get(&id)?;
            Some(JobResult {
                status: j.status?,
                lines: j.lines.clone(),
            })
        });
        got.map_err(|e| self.failure(e, &format!("waiting {timeout:?} for it to end")))
    }

    fn failure(&self, e: WaitError, what: &str) -> Error {
        let why = match e {
            WaitError::Timeout => "timed out",
            WaitError::Closed => "QEMU exited",
        };
        let lines = self.state().lines;
        let tail = lines[lines.len().saturating_sub(20)..].join("\n");
        self.guest.diagnosed(format!(
            "guest job {} `{}`: {why} {what}; its last output:\n{tail}",
            self.id, self.command
        ))
    }
}
