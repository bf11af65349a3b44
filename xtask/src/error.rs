//! Errors: `anyhow`'s, which carry the context they were raised in
//! (`.context("while booting")`) up to the human reading the report.

pub use anyhow::{Context, Error, Result};
