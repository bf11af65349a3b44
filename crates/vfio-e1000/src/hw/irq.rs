//! Interrupt modes and how a family lays its causes out on vectors.

/// How the driver learns that frames arrived.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum IrqMode {
    /// No interrupts: the caller polls the rings (lowest latency, one busy core).
    Poll,
    /// Legacy INTx line, unmasked through VFIO after each interrupt.
    Intx,
    /// One MSI vector.
    Msi,
    /// MSI-X, one vector per cause (RX queue, link).
    Msix,
}

impl IrqMode {
    /// Parses `poll`, `intx`, `msi` or `msix` (also `msi-x`).
    pub fn parse(s: &str) -> Option<IrqMode> {
        match s {
            "poll" => Some(IrqMode::Poll),
            "intx" => Some(IrqMode::Intx),
            "msi" => Some(IrqMode::Msi),
            "msix" | "msi-x" => Some(IrqMode::Msix),
            _ => None,
        }
    }
}

impl std::str::FromStr for IrqMode {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        IrqMode::parse(s)
            .ok_or_else(|| format!("'{s}' is not an interrupt mode (poll, intx, msi, msix)"))
    }
}

impl std::fmt::Display for IrqMode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            IrqMode::Poll => "poll",
            IrqMode::Intx => "intx",
            IrqMode::Msi => "msi",
            IrqMode::Msix => "msix",
        })
    }
}

/// How a family lays its interrupt causes out on vectors for one mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct VectorPlan {
    /// Number of vectors to request from VFIO (0 in poll mode).
    pub count: u32,
    /// The vector that signals received frames on queue 0 (queue q: + q).
    pub rx_queue0: u32,
    /// The vector that signals link changes.
    pub other: u32,
}

impl VectorPlan {
    /// Poll mode: no vectors.
    pub(crate) const NONE: VectorPlan = VectorPlan {
        count: 0,
        rx_queue0: 0,
        other: 0,
    };

    /// One vector for every cause (INTx, MSI).
    pub(crate) const SINGLE: VectorPlan = VectorPlan {
        count: 1,
        rx_queue0: 0,
        other: 0,
    };
}
