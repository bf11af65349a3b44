//! Where the library's log records go: standard error, one line each,
//! `e1000: warning: ...` style. Warnings and errors by default; the
//! `E1000_LOG` environment variable (`error`, `warn`, `info`, `debug`,
//! `trace`, `off`) changes the level.

use log::{Level, LevelFilter, Log, Metadata, Record};

/// The command's logger.
struct Stderr;

impl Log for Stderr {
    fn enabled(&self, metadata: &Metadata) -> bool {
        metadata.level() <= log::max_level()
    }

    fn log(&self, record: &Record) {
        if self.enabled(record.metadata()) {
            let level = match record.level() {
                Level::Error => "error",
                Level::Warn => "warning",
                Level::Info => "info",
                Level::Debug => "debug",
                Level::Trace => "trace",
            };
            eprintln!("e1000: {level}: {}", record.args());
        }
    }

    fn flush(&self) {}
}

/// Installs the logger, at the level `E1000_LOG` names (warnings by default).
pub fn install() {
    let level = std::env::var("E1000_LOG")
        .ok()
        .and_then(|v| v.parse::<LevelFilter>().ok())
        .unwrap_or(LevelFilter::Warn);
    if log::set_logger(&Stderr).is_ok() {
        log::set_max_level(level);
    }
}
