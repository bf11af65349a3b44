//! `cargo xtask shell [--model M]... [--trace PATTERN] [--cpus N]`: a guest
//! to play in.
//!
//! Boots a guest with the NICs bound to vfio-pci (one `e1000e` unless
//! `--model` says otherwise; one vCPU unless `--cpus` says otherwise: the
//! bench's guests have two) and reads commands from the terminal. A line is
//! a shell command for the guest; its output is printed as it comes, and
//! Ctrl-C interrupts it. A line ending in `&` runs in the background (its
//! lines are printed with `[id]` in front). Lines starting with `:` act on
//! the host's end of a NIC's link ([`HELP`]), so that every `e1000` command
//! has traffic to work with. Ctrl-D or `:quit` powers the guest off.

use crate::error::{Error, Result};
use crate::link::peer::{Peer, TrafficSpec};
use crate::link::responder::Responder;
use crate::vm::guest::{Guest, GuestConfig};
use crate::vm::job::{Job, Output};
use crate::vm::qemu::shell_quote;
use crate::{bail, ensure};
use std::io::BufRead;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

/// Usage text of the `shell` command.
pub const USAGE: &str = "cargo xtask shell [--model M]... [--trace PATTERN] [--cpus N]";

/// What the host-side commands are.
pub const HELP: &str = "\
host commands (NIC = index into the list above, default 0):
  :ping [N] [NIC]          N test frames one at a time, each echo checked (run `e1000 echo` first)
  :flood N RATE [NIC]      N test frames at RATE frames/s, echoes checked
  :send [N] [NIC]          N test frames into the NIC, nothing expected back (for `e1000 dump`)
  :recv [SECS] [NIC]       count what the NIC transmits for SECS seconds (for `e1000 send`)
  :responder on|off [NIC]  answer ARP and ICMP echo as 10.11.12.1 (for `e1000 ping 10.11.12.1 --ip 10.11.12.2/24`)
  :link up|down [NIC]      the NIC's link (QMP set_link)
  :jobs                    the background commands still running
  :help, :quit
a guest command runs in the foreground (Ctrl-C interrupts it), or in the background with a trailing &";

/// The address the host answers as with `:responder`.
const RESPONDER_IP: [u8; 4] = [10, 11, 12, 1];

/// Set by SIGINT: interrupt the foreground guest command.
static INTERRUPTED: AtomicBool = AtomicBool::new(false);

extern "C" fn on_sigint(_: libc::c_int) {
    INTERRUPTED.store(true, Ordering::Relaxed);
}

/// Makes Ctrl-C set [`INTERRUPTED`] instead of ending the process (which
/// would take the guest with it).
fn catch_sigint() -> Result<()> {
    // SAFETY: a zeroed sigaction is valid; the handler only stores to an
    // atomic, which is async-signal-safe; SA_RESTART keeps stdin reads going.
    let r = unsafe {
        let mut action: libc::sigaction = std::mem::zeroed();
        action.sa_sigaction = on_sigint as *const () as libc::sighandler_t;
        action.sa_flags = libc::SA_RESTART;
        libc::sigaction(libc::SIGINT, &action, std::ptr::null_mut())
    };
    ensure!(r == 0, "sigaction: {}", std::io::Error::last_os_error());
    Ok(())
}

/// Lines typed at the terminal, read on their own thread so that output of
/// guest commands is printed while the user has not pressed Enter.
fn stdin_lines() -> Receiver<String> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::stdin().lock().lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    rx
}

/// A guest command started by the shell.
struct Command<'g> {
    id: usize,
    text: String,
    job: Job<'g>,
}

impl<'g> Command<'g> {
    /// Starts `text` in its own session, so that Ctrl-C can reach every
    /// process of it (a pipeline too) without reaching the guest agent.
    fn start(g: &'g Guest, id: usize, text: &str) -> Result<Command<'g>> {
        let script = format!("echo $$ >{}; {text}", Self::pid_file(id));
        let job = g.spawn(&format!("setsid sh -c {}", shell_quote(&script)))?;
        Ok(Command {
            id,
            text: text.to_string(),
            job,
        })
    }

    fn pid_file(id: usize) -> String {
        format!("/tmp/xtask-shell.{id}.pid")
    }

    /// SIGINT to the command's process group.
    fn interrupt(&self, g: &Guest) -> Result<()> {
        let file = Self::pid_file(self.id);
        g.run(
            &format!("kill -INT -$(cat {file}) 2>/dev/null; rm -f {file}"),
            Duration::from_secs(10),
        )?;
        Ok(())
    }

    /// Prints the lines that came since the last call, waiting up to
    /// `wait` for the first; `Some(status)` once it has ended.
    fn pump(&mut self, prefix: &str, wait: Duration) -> Result<Option<i32>> {
        let mut wait = wait;
        loop {
            match self.job.next_output(wait)? {
                Output::Line(line) => println!("{prefix}{line}"),
                Output::Ended(status) => return Ok(Some(status)),
                Output::Nothing => return Ok(None),
            }
            wait = Duration::ZERO;
        }
    }
}

/// The shell's state: the guest, its background commands and responders.
struct Shell<'g> {
    guest: &'g Guest,
    background: Vec<Command<'g>>,
    responders: Vec<Option<Responder>>,
    next_id: usize,
}

impl<'g> Shell<'g> {
    /// Prints what background commands printed; reports those that ended.
    fn pump_background(&mut self) -> Result<()> {
        let mut ended = Vec::new();
        for (i, c) in self.background.iter_mut().enumerate() {
            if let Some(status) = c.pump(&format!("[{}] ", c.id), Duration::ZERO)? {
                println!("[{}] exited {status}: {}", c.id, c.text);
                ended.push(i);
            }
        }
        for i in ended.into_iter().rev() {
            self.background.remove(i);
        }
        Ok(())
    }

    /// Runs a guest command in the foreground, passing Ctrl-C on.
    fn foreground(&mut self, text: &str) -> Result<()> {
        self.next_id += 1;
        let mut c = Command::start(self.guest, self.next_id, text)?;
        INTERRUPTED.store(false, Ordering::Relaxed);
        loop {
            if let Some(status) = c.pump("", Duration::from_millis(100))? {
                if status != 0 {
                    println!("(exited {status})");
                }
                return Ok(());
            }
            if INTERRUPTED.swap(false, Ordering::Relaxed) {
                c.interrupt(self.guest)?;
            }
            self.pump_background()?;
        }
    }

    /// Runs one line: a host command, a background or a foreground guest
    /// command. `Ok(false)` to leave.
    fn line(&mut self, line: &str) -> Result<bool> {
        let line = line.trim();
        if line.is_empty() {
            return Ok(true);
        }
        if let Some(host) = line.strip_prefix(':') {
            let words: Vec<&str> = host.split_whitespace().collect();
            return match self.host(&words) {
                Ok(go_on) => Ok(go_on),
                Err(e) => {
                    println!(":{host}: {e:#}");
                    Ok(true)
                }
            };
        }
        if let Some(text) = line.strip_suffix('&') {
            self.next_id += 1;
            let c = Command::start(self.guest, self.next_id, text.trim())?;
            println!("[{}] started", c.id);
            self.background.push(c);
        } else {
            self.foreground(line)?;
        }
        Ok(true)
    }

    /// A `:` command.
    fn host(&mut self, words: &[&str]) -> Result<bool> {
        let nics = self.guest.nics();
        let number = |i: usize, default: u64| -> Result<u64> {
            words.get(i).map_or(Ok(default), |w| {
                w.parse()
                    .map_err(|_| Error::msg(format!("{w:?} is not a number")))
            })
        };
        let nic = |i: usize| -> Result<usize> {
            let n = number(i, 0)? as usize;
            ensure!(n < nics.len(), "no NIC {n}: there are {}", nics.len());
            Ok(n)
        };
        let spec = TrafficSpec::default();
        match words.first().copied().unwrap_or("help") {
            "ping" => {
                let peer = Peer::new(&nics[nic(2)?])?;
                let s = peer.ping_pong(number(1, 10)? as usize, spec, Duration::from_secs(1))?;
                println!("{s}");
            }
            "flood" => {
                let (n, rate) = (number(1, 1000)? as usize, number(2, 1000)?);
                let peer = Peer::new(&nics[nic(3)?])?;
                let s = peer.flood(n, spec, Some(rate), Duration::from_secs(1))?;
                println!("{s}");
            }
            "send" => {
                let target = &nics[nic(2)?];
                let peer = Peer::new(target)?;
                let n = number(1, 10)? as usize;
                for i in 0..n {
                    peer.send(&peer.frame(&spec, i))?;
                }
                println!("sent {n} test frames into {}", target.pci);
            }
            "recv" => {
                let secs = number(1, 5)?;
                let peer = Peer::new(&nics[nic(2)?])?;
                let (mut frames, mut bytes, mut test) = (0u64, 0u64, 0u64);
                let until = Instant::now() + Duration::from_secs(secs);
                while let Some(left) = until.checked_duration_since(Instant::now()) {
                    if let Some(f) = peer.recv(left.min(Duration::from_millis(200)))? {
                        frames += 1;
                        bytes += f.len() as u64;
                        test += u64::from(crate::link::frame::test_seq(&f).is_some());
                    }
                    self.pump_background()?;
                }
                println!("received {frames} frames, {bytes} bytes ({test} of them test frames) in {secs} s");
            }
            "responder" => {
                let i = nic(2)?;
                self.responders.resize_with(nics.len(), || None);
                if let Some(r) = self.responders[i].take() {
                    println!("responder stopped: {:?}", r.stop());
                }
                if words.get(1) == Some(&"on") {
                    self.responders[i] = Some(Responder::start(&nics[i], RESPONDER_IP)?);
                    println!("answering as 10.11.12.1 on {}", nics[i].pci);
                }
            }
            "link" => {
                let up = match words.get(1) {
                    Some(&"up") => true,
                    Some(&"down") => false,
                    _ => bail!("say :link up or :link down"),
                };
                self.guest.set_link(nic(2)?, up)?;
            }
            "jobs" => {
                for c in &self.background {
                    println!("[{}] {}", c.id, c.text);
                }
            }
            "quit" | "exit" => return Ok(false),
            "help" => println!("{HELP}"),
            other => bail!("unknown host command :{other}; :help lists them"),
        }
        Ok(true)
    }
}

/// Parses the arguments, boots, runs the shell; returns the exit status.
pub fn main(args: &[String]) -> Result<i32> {
    let mut models = Vec::new();
    let mut trace = None;
    let mut cpus = None;
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--model" => models.push(it.next().cloned().ok_or_else(|| Error::msg(USAGE))?),
            "--trace" => trace = Some(it.next().cloned().ok_or_else(|| Error::msg(USAGE))?),
            "--cpus" => {
                let n = it
                    .next()
                    .and_then(|n| n.parse().ok())
                    .filter(|&n| n > 0)
                    .ok_or_else(|| Error::msg(USAGE))?;
                cpus = Some(n);
            }
            other => bail!("unknown argument {other}\nusage: {USAGE}"),
        }
    }
    if models.is_empty() {
        models.push("e1000e".to_string());
    }
    let refs: Vec<&str> = models.iter().map(String::as_str).collect();
    let mut config = GuestConfig::with_nics(&refs);
    config.trace = trace;
    if let Some(cpus) = cpus {
        config.cpus = cpus;
    }
    eprintln!("xtask: booting a guest with {} ...", refs.join(", "));
    let guest = Guest::boot(config)?;
    println!(
        "guest ready in {:.1?}; its NICs, bound to vfio-pci:",
        guest.boot_time()
    );
    for (i, nic) in guest.nics().iter().enumerate() {
        println!("  NIC {i}: {} at {} mac {}", nic.model, nic.pci, nic.mac);
    }
    if let Some(p) = guest.trace_path() {
        println!("QEMU trace output: {}", p.display());
    }
    println!(
        "try: e1000 info {0}, then `e1000 echo {0} &` and :ping 100\n{HELP}",
        guest.nic(0).pci
    );
    catch_sigint()?;
    let lines = stdin_lines();
    let mut shell = Shell {
        guest: &guest,
        background: Vec::new(),
        responders: Vec::new(),
        next_id: 0,
    };
    loop {
        shell.pump_background()?;
        match lines.recv_timeout(Duration::from_millis(200)) {
            Ok(line) => {
                if !shell.line(&line)? {
                    break;
                }
            }
            Err(RecvTimeoutError::Timeout) => {
                if INTERRUPTED.swap(false, Ordering::Relaxed) {
                    println!("(Ctrl-D or :quit leaves the shell)");
                }
            }
            Err(RecvTimeoutError::Disconnected) => break,
        }
    }
    for r in shell.responders.into_iter().flatten() {
        r.stop();
    }
    drop(shell.background);
    guest.shutdown()?;
    Ok(0)
}
