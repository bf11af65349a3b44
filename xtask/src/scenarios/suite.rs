//! A suite: scenarios that share one guest boot, and how a scenario is
//! written (`fn(&mut Guest) -> Result<()>`).

use crate::error::Result;
use crate::vm::guest::{Guest, GuestConfig};

/// A scenario: runs against a booted guest, `Err` on failure.
pub type ScenarioFn = Box<dyn Fn(&mut Guest) -> Result<()>>;

/// A named scenario.
pub struct Scenario {
    /// Test name, `<model or area>::<what>`, e.g. `e1000e::echo_msix_flood`.
    pub name: String,
    /// The test body.
    pub run: ScenarioFn,
}

/// Scenarios that share one boot, run in order.
pub struct Suite {
    /// The guest they run in.
    pub config: GuestConfig,
    /// The scenarios.
    pub scenarios: Vec<Scenario>,
}

impl Suite {
    /// A suite booting `config`.
    pub fn new(config: GuestConfig) -> Suite {
        Suite {
            config,
            scenarios: Vec::new(),
        }
    }

    /// Adds a scenario.
    pub fn test(
        mut self,
        name: impl Into<String>,
        run: impl Fn(&mut Guest) -> Result<()> + 'static,
    ) -> Suite {
        self.scenarios.push(Scenario {
            name: name.into(),
            run: Box::new(run),
        });
        self
    }
}
