//! `e1000`: drive Intel 1GbE NICs from user space through VFIO.
//!
//! Exit status: 0 success, 1 runtime error, 2 usage error (see `e1000 --help`).

mod affinity;
mod cmd;
mod frame;
mod internals;
mod logger;
mod out;
mod signal;
mod sysfs;
mod tun;
mod vnet;

use clap::{CommandFactory, Parser};
use cmd::CliError;
use e1000_cli::cli::{Cli, Command};

/// Exit status after the reader of our output went away (`e1000 info | head`):
/// 128 + SIGPIPE, as a program killed by it would report.
const EXIT_BROKEN_PIPE: i32 = 128 + libc::SIGPIPE;

/// Whether a panic is `println!`'s on a closed pipe.
fn is_broken_pipe(message: &str) -> bool {
    message.contains("failed printing to stdout") && message.contains("Broken pipe")
}

/// Keeps Rust's SIGPIPE disposition (ignored, so that a closed pipe is an
/// error and not a kill that would skip the NIC's teardown), but makes the
/// resulting panic quiet: unwinding still drops the `Nic`, then `main`
/// exits with [`EXIT_BROKEN_PIPE`].
fn quiet_broken_pipe() {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let message = info
            .payload()
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| info.payload().downcast_ref::<&str>().copied())
            .unwrap_or("");
        if !is_broken_pipe(message) {
            default(info);
        }
    }));
}

fn main() {
    // Usage errors exit 2, --help and --version exit 0 (clap's convention).
    let cli = Cli::parse();
    signal::install();
    logger::install();
    quiet_broken_pipe();
    let outcome = std::panic::catch_unwind(|| run(cli));
    let code = match outcome {
        Err(payload) => {
            let message = payload
                .downcast_ref::<String>()
                .map(String::as_str)
                .unwrap_or("");
            if is_broken_pipe(message) {
                EXIT_BROKEN_PIPE
            } else {
                std::panic::resume_unwind(payload)
            }
        }
        Ok(Ok(())) => 0,
        Ok(Err(CliError::Usage(msg))) => Cli::command()
            .error(clap::error::ErrorKind::ArgumentConflict, msg)
            .exit(),
        Ok(Err(e)) => {
            eprintln!("e1000: {e}");
            1
        }
    };
    std::process::exit(code);
}

fn run(cli: Cli) -> Result<(), CliError> {
    match cli.command {
        Command::List(a) => cmd::list::list(&a),
        Command::Bind(a) => cmd::list::bind(&a),
        Command::Unbind(a) => cmd::list::unbind(&a),
        Command::Info(a) => cmd::info::run(&a),
        Command::Dump(a) => cmd::traffic::dump(&a),
        Command::Echo(a) => cmd::traffic::echo(&a),
        Command::Send(a) => cmd::traffic::send(&a),
        Command::Forward(a) => cmd::traffic::forward(&a),
        Command::Tap(a) => cmd::traffic::tap(&a),
        Command::Ping(a) => cmd::ping::run(&a),
    }
}
