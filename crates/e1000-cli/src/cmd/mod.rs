//! One module per group of subcommands.

pub mod info;
pub mod list;
pub mod ping;
pub mod traffic;

/// Why a command failed; decides the message and the exit code.
#[derive(Debug)]
pub enum CliError {
    /// Bad command line (exit 2, with usage).
    Usage(String),
    /// The driver refused (exit 1, one line with the fix).
    Driver(vfio_e1000::Error),
    /// The command ran but did not achieve its goal (exit 1).
    Failed(String),
}

impl From<vfio_e1000::Error> for CliError {
    fn from(e: vfio_e1000::Error) -> Self {
        CliError::Driver(e)
    }
}

/// The PCI address argument at `index`, or a usage error.
pub fn pci_arg(args: &crate::args::Args, index: usize) -> Result<String, CliError> {
    args.positional
        .get(index)
        .cloned()
        .ok_or_else(|| CliError::Usage("missing PCI address (e.g. 0000:00:03.0)".into()))
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
