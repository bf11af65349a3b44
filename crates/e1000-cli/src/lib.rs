//! The `e1000` command's definition, shared with `cargo xtask` (which
//! generates the man page and shell completions from it). The command
//! itself is `src/main.rs`.

pub mod cli;
