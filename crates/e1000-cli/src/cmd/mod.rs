//! One module per group of subcommands.

pub mod info;
pub mod list;
pub mod ping;
pub mod traffic;

/// Why a command failed; decides the message and the exit code.
#[derive(Debug)]
pub enum CliError {
    /// Bad command line that clap could not catch (exit 2, with usage).
    Usage(String),
    /// The driver refused (exit 1, one line with the fix).
    Driver(vfio_e1000::Error),
    /// The command ran but did not achieve its goal (exit 1).
    Failed(String),
}

impl std::fmt::Display for CliError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CliError::Usage(m) => f.write_str(m),
            CliError::Failed(m) => write!(f, "error: {m}"),
            // The library's message is the command's, with the flag that
            // changes what it names.
            CliError::Driver(e @ vfio_e1000::Error::LinkDown { .. }) => {
                write!(f, "error: {e} (--link-timeout)")
            }
            CliError::Driver(e) => write!(f, "error: {e}"),
        }
    }
}

impl From<vfio_e1000::Error> for CliError {
    fn from(e: vfio_e1000::Error) -> Self {
        CliError::Driver(e)
    }
}

/// The library's interrupt mode for the command line's.
pub fn irq_mode(arg: Option<e1000_cli::cli::IrqArg>) -> Option<vfio_e1000::IrqMode> {
    arg.and_then(|a| vfio_e1000::IrqMode::parse(a.name()))
}

/// The library's default configuration, promiscuous as a capture tool
/// should be, with what the environment asks: `E1000_NO_HUGEPAGES=1` keeps
/// DMA memory on 4 KiB pages.
pub fn default_config() -> vfio_e1000::Config {
    let mut config = vfio_e1000::Config::default();
    config.promiscuous = true;
    config.hugepages = std::env::var_os("E1000_NO_HUGEPAGES").is_none();
    config
}

/// Waits up to `timeout` for the link, as [`vfio_e1000::Nic::wait_link`]
/// does, but gives up at once on SIGINT or SIGTERM.
pub fn wait_link(
    nic: &vfio_e1000::Nic,
    timeout: std::time::Duration,
) -> Result<vfio_e1000::LinkStatus, CliError> {
    let start = std::time::Instant::now();
    loop {
        let link = nic.link()?;
        if link.up {
            return Ok(link);
        }
        if crate::signal::stopped() {
            return Err(CliError::Failed(format!(
                "interrupted while waiting for the link on {}",
                nic.pci()
            )));
        }
        if start.elapsed() >= timeout {
            return Err(CliError::Driver(vfio_e1000::Error::LinkDown {
                pci: nic.pci(),
                waited_ms: timeout.as_millis() as u64,
            }));
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}
