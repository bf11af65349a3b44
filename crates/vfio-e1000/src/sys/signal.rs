//! Stopping cleanly on SIGINT and SIGTERM: a program that asks for it gets
//! a flag that the signals set, checks it in its loop, and drops its `Nic`
//! (which stops the device before its memory goes) instead of dying with
//! the NIC still running. The handler is process-wide by nature; nothing is
//! installed unless [`stop_on_signals`] is called.

use crate::error::{Error, Result};
use std::sync::atomic::{AtomicBool, Ordering};

/// Set by the handler.
static REQUESTED: AtomicBool = AtomicBool::new(false);

extern "C" fn on_signal(_: libc::c_int) {
    // Async-signal-safe: one store to an atomic.
    REQUESTED.store(true, Ordering::SeqCst);
}

/// Whether SIGINT or SIGTERM arrived since [`stop_on_signals`]: a loop's
/// condition (`while !stop.requested()`).
#[derive(Debug, Clone, Copy)]
pub struct Stop(());

impl Stop {
    /// Whether a stop was asked for.
    pub fn requested(&self) -> bool {
        REQUESTED.load(Ordering::SeqCst)
    }
}

/// Catches SIGINT and SIGTERM from now on: instead of ending the process
/// they set the flag the returned [`Stop`] reads, and a wait blocked in
/// [`Queue::wait`](crate::Queue::wait) returns at once (the handler is
/// installed without `SA_RESTART`), so the program can leave its loop and
/// drop its `Nic`.
pub fn stop_on_signals() -> Result<Stop> {
    for sig in [libc::SIGINT, libc::SIGTERM] {
        // SAFETY: a zeroed sigaction is valid; its handler only stores to an
        // atomic, which is async-signal-safe; no old action is read back.
        let rc = unsafe {
            let mut sa: libc::sigaction = std::mem::zeroed();
            sa.sa_sigaction = on_signal as extern "C" fn(libc::c_int) as usize;
            libc::sigemptyset(&mut sa.sa_mask);
            libc::sigaction(sig, &sa, std::ptr::null_mut())
        };
        if rc != 0 {
            return Err(Error::last_os("sigaction"));
        }
    }
    Ok(Stop(()))
}
