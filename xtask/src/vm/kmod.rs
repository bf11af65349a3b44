//! Kernel module lookup: finds `.ko` files in the unpacked kernel tree and
//! orders them so that every module comes after the modules it depends on
//! (read from the `depends=` entry of its `.modinfo`).

use crate::bail;
use crate::error::{Context, Result};
use std::collections::{HashMap, HashSet};
use std::fs;
use std::path::{Path, PathBuf};

/// One module file of the kernel tree.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Module {
    /// Canonical module name (`-` replaced by `_`).
    pub name: String,
    /// Path relative to `lib/modules/<version>/`, e.g. `kernel/drivers/vfio/vfio.ko`.
    pub rel_path: PathBuf,
}

/// Module names use `-` and `_` interchangeably; this is the `_` spelling.
pub fn canonical(name: &str) -> String {
    name.replace('-', "_")
}

/// All modules of a kernel tree, by canonical name.
pub struct ModuleIndex {
    dir: PathBuf,
    by_name: HashMap<String, PathBuf>,
}

impl ModuleIndex {
    /// Indexes every `.ko` file under `modules_dir` (`lib/modules/<version>`).
    pub fn new(modules_dir: &Path) -> Result<ModuleIndex> {
        let mut by_name = HashMap::new();
        let mut stack = vec![modules_dir.join("kernel")];
        while let Some(dir) = stack.pop() {
            for entry in fs::read_dir(&dir)
                .with_context(|| dir.display().to_string())?
                .flatten()
            {
                let path = entry.path();
                if entry.file_type()?.is_dir() {
                    stack.push(path);
                } else if let Some(stem) = path
                    .file_name()
                    .and_then(|n| n.to_str()?.strip_suffix(".ko"))
                {
                    let rel = path
                        .strip_prefix(modules_dir)
                        .expect("under modules_dir")
                        .to_path_buf();
                    by_name.insert(canonical(stem), rel);
                }
            }
        }
        Ok(ModuleIndex {
            dir: modules_dir.to_path_buf(),
            by_name,
        })
    }

    /// The modules `name` depends on directly.
    fn depends(&self, rel: &Path) -> Result<Vec<String>> {
        let bytes = fs::read(self.dir.join(rel))?;
        let key = b"depends=";
        let found = bytes
            .windows(key.len())
            .enumerate()
            .find(|(i, w)| *w == key && (*i == 0 || bytes[i - 1] == 0))
            .map(|(i, _)| i + key.len());
        let Some(start) = found else {
            return Ok(Vec::new());
        };
        let end = bytes[start..]
            .iter()
            .position(|&b| b == 0)
            .map_or(bytes.len(), |p| start + p);
        let list = String::from_utf8_lossy(&bytes[start..end]);
        Ok(list
            .split(',')
            .filter(|s| !s.is_empty())
            .map(canonical)
            .collect())
    }

    /// Resolves `names` and all their dependencies, dependencies first,
    /// keeping the given order otherwise. Each module appears once.
    pub fn resolve(&self, names: &[&str]) -> Result<Vec<Module>> {
        let mut out = Vec::new();
        let mut done = HashSet::new();
        for name in names {
            self.visit(&canonical(name), &mut done, &mut Vec::new(), &mut out)?;
        }
        Ok(out)
    }

    fn visit(
        &self,
        name: &str,
        done: &mut HashSet<String>,
        path: &mut Vec<String>,
        out: &mut Vec<Module>,
    ) -> Result<()> {
        if done.contains(name) {
            return Ok(());
        }
        if path.iter().any(|p| p == name) {
            bail!("module dependency cycle: {} -> {name}", path.join(" -> "));
        }
        let Some(rel) = self.by_name.get(name) else {
            bail!(
                "kernel module {name} not found under {}",
                self.dir.display()
            );
        };
        path.push(name.to_string());
        for dep in self
            .depends(rel)
            .with_context(|| format!("reading {}", rel.display()))?
        {
            self.visit(&dep, done, path, out)?;
        }
        path.pop();
        done.insert(name.to_string());
        out.push(Module {
            name: name.to_string(),
            rel_path: rel.clone(),
        });
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolves_dependencies_first() {
        let dir = std::env::temp_dir().join(format!("xtask-kmod-test-{}", std::process::id()));
        let k = dir.join("kernel/drivers");
        fs::create_dir_all(&k).unwrap();
        // Fake modules: only the `.modinfo` strings matter.
        fs::write(
            k.join("igb.ko"),
            b"\x7fELF\0license=GPL\0depends=dca,i2c-algo-bit\0vermagic=x\0",
        )
        .unwrap();
        fs::write(k.join("dca.ko"), b"\0depends=\0").unwrap();
        fs::write(k.join("i2c-algo-bit.ko"), b"nodepends=igb\0").unwrap();
        let index = ModuleIndex::new(&dir).unwrap();
        let names: Vec<String> = index
            .resolve(&["igb", "dca"])
            .unwrap()
            .into_iter()
            .map(|m| m.name)
            .collect();
        fs::remove_dir_all(&dir).unwrap();
        assert_eq!(names, ["dca", "i2c_algo_bit", "igb"]);
    }
}
