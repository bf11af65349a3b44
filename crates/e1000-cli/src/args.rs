//! A small command-line parser: positional arguments and `--flag value` options.

use std::collections::HashMap;

/// Parsed arguments of one subcommand.
#[derive(Debug, Default)]
pub struct Args {
    /// Positional arguments in order.
    pub positional: Vec<String>,
    options: HashMap<String, String>,
    flags: Vec<String>,
}

/// Options that take no value.
const FLAGS: &[&str] = &["--quiet", "--no-link-wait", "--help", "-h"];

impl Args {
    /// Splits `argv` into positionals, `--opt value` pairs and flags.
    pub fn parse(argv: &[String]) -> Result<Args, String> {
        let mut args = Args::default();
        let mut it = argv.iter();
        while let Some(a) = it.next() {
            if FLAGS.contains(&a.as_str()) {
                args.flags.push(a.clone());
            } else if let Some((k, v)) = a.strip_prefix("--").and_then(|s| s.split_once('=')) {
                args.options.insert(k.to_string(), v.to_string());
            } else if let Some(k) = a.strip_prefix("--") {
                let v = it
                    .next()
                    .ok_or_else(|| format!("option --{k} needs a value"))?;
                args.options.insert(k.to_string(), v.clone());
            } else {
                args.positional.push(a.clone());
            }
        }
        Ok(args)
    }

    /// Whether flag `name` (e.g. `--quiet`) was given.
    pub fn flag(&self, name: &str) -> bool {
        self.flags.iter().any(|f| f == name)
    }

    /// The raw value of option `name`.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.options.get(name).map(String::as_str)
    }

    /// Option `name` parsed as a number, or `default`.
    pub fn num<T: std::str::FromStr>(&self, name: &str, default: T) -> Result<T, String> {
        match self.get(name) {
            None => Ok(default),
            Some(v) => v
                .parse()
                .map_err(|_| format!("--{name} {v}: not a valid number")),
        }
    }

    /// Rejects options other than `known`, so typos are not silently ignored.
    pub fn only(&self, known: &[&str]) -> Result<(), String> {
        match self.options.keys().find(|k| !known.contains(&k.as_str())) {
            Some(k) => Err(format!(
                "unknown option --{k} (known: {})",
                known
                    .iter()
                    .map(|k| format!("--{k}"))
                    .collect::<Vec<_>>()
                    .join(" ")
            )),
            None => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn argv(s: &str) -> Vec<String> {
        s.split_whitespace().map(String::from).collect()
    }

    #[test]
    fn options_flags_positionals() {
        let a = Args::parse(&argv("0000:00:03.0 --count 5 --irq=msi --quiet")).unwrap();
        assert_eq!(a.positional, vec!["0000:00:03.0"]);
        assert_eq!(a.num("count", 0u64).unwrap(), 5);
        assert_eq!(a.get("irq"), Some("msi"));
        assert!(a.flag("--quiet"));
        assert!(a.only(&["count"]).is_err());
        assert!(Args::parse(&argv("--count")).is_err());
        assert!(a.num::<u64>("irq", 0).is_err());
    }
}
