//! SIGINT/SIGTERM set the library's stop flag ([`vfio_e1000::stop_on_signals`]),
//! which every command's loop checks, so the NIC is always torn down by
//! `Nic`'s `Drop` before the process exits.

use std::sync::OnceLock;

static STOP: OnceLock<vfio_e1000::Stop> = OnceLock::new();

/// Catches SIGINT and SIGTERM (a blocking wait then returns at once).
pub fn install() {
    match vfio_e1000::stop_on_signals() {
        Ok(stop) => {
            let _ = STOP.set(stop);
        }
        Err(e) => eprintln!("e1000: warning: {e}: Ctrl-C will not stop the NIC cleanly"),
    }
}

/// Whether a stop was requested.
pub fn stopped() -> bool {
    STOP.get().is_some_and(|s| s.requested())
}
