//! `cargo xtask man [DIR]` and `cargo xtask completions [DIR]`: the `e1000`
//! man pages and shell completions, generated from the command's own clap
//! definition (`e1000_cli::cli`), into `target/man/` and
//! `target/completions/` by default.

use crate::error::Result;
use clap::CommandFactory;
use clap_complete::Shell;
use std::path::{Path, PathBuf};

/// The `e1000` command definition, as the binary parses it.
fn command() -> clap::Command {
    e1000_cli::cli::Cli::command()
}

/// The output directory: the argument, or `target/<default>`.
fn out_dir(args: &[String], default: &str) -> Result<PathBuf> {
    match args {
        [] => Ok(crate::vm::assets::workspace_root()
            .join("target")
            .join(default)),
        [dir] if !dir.starts_with('-') => Ok(PathBuf::from(dir)),
        _ => crate::bail!(
            "usage: cargo xtask {default_cmd} [DIR]",
            default_cmd = default_cmd(default)
        ),
    }
}

fn default_cmd(default: &str) -> &'static str {
    if default == "man" {
        "man"
    } else {
        "completions"
    }
}

/// Writes `e1000.1` and one page per subcommand (`e1000-dump.1`, ...).
pub fn man(args: &[String]) -> Result<i32> {
    let dir = out_dir(args, "man")?;
    std::fs::create_dir_all(&dir)?;
    clap_mangen::generate_to(command(), &dir)?;
    list(&dir)?;
    Ok(0)
}

/// Writes completions for bash, zsh, fish, elvish and PowerShell.
pub fn completions(args: &[String]) -> Result<i32> {
    let dir = out_dir(args, "completions")?;
    std::fs::create_dir_all(&dir)?;
    for shell in [
        Shell::Bash,
        Shell::Zsh,
        Shell::Fish,
        Shell::Elvish,
        Shell::PowerShell,
    ] {
        clap_complete::generate_to(shell, &mut command(), "e1000", &dir)?;
    }
    list(&dir)?;
    Ok(0)
}

fn list(dir: &Path) -> Result<()> {
    let mut names: Vec<String> = std::fs::read_dir(dir)?
        .flatten()
        .map(|e| e.path().display().to_string())
        .collect();
    names.sort();
    for n in names {
        println!("{n}");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn man_page_has_every_subcommand_and_the_exit_codes() {
        let mut page = Vec::new();
        clap_mangen::Man::new(command()).render(&mut page).unwrap();
        let page = String::from_utf8(page).unwrap();
        for word in ["e1000", "dump", "unbind", "Exit status"] {
            assert!(page.contains(word), "man page lacks {word}");
        }
    }

    #[test]
    fn bash_completion_knows_the_options() {
        let mut out = Vec::new();
        clap_complete::generate(Shell::Bash, &mut command(), "e1000", &mut out);
        let text = String::from_utf8(out).unwrap();
        assert!(text.contains("--stats-period") && text.contains("unbind"));
    }
}
