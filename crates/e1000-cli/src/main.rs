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

fn main() {
    // Usage errors exit 2, --help and --version exit 0 (clap's convention).
    let cli = Cli::parse();
    signal::install();
    logger::install();
    let code = match run(cli) {
        Ok(()) => 0,
        Err(CliError::Usage(msg)) => Cli::command()
            .error(clap::error::ErrorKind::ArgumentConflict, msg)
            .exit(),
        Err(e) => {
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
