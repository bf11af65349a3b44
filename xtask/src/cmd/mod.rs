//! The `cargo xtask` commands other than `bench` (which is its own layer):
//! the test runner, one-off runs, the demo, the soak, fuzzing and the
//! generated docs.

pub mod demo;
pub mod docs;
pub mod fuzz;
pub mod run;
pub mod setup;
pub mod shell;
pub mod soak;
pub mod test;
