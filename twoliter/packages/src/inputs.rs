//! Cache keys: every input of a package build, named and hashed, so a key changes exactly when
//! an input does and a miss can say which one.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256, Sha512};
use std::collections::BTreeMap;
use std::io::Read;
use std::path::Path;

/// Bump whenever the way packages are built changes (container script, rpmbuild macros, ...),
/// so every cached package is rebuilt.
pub const BUILD_LOGIC_VERSION: &str = "twoliter-build-1";

/// The named inputs of one package build: `file:busybox.spec` → sha256, `dep:kernel` → its key.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Inputs(pub BTreeMap<String, String>);

impl Inputs {
    /// Records one input.
    pub fn add(&mut self, name: impl Into<String>, value: impl Into<String>) {
        self.0.insert(name.into(), value.into());
    }

    /// The cache key: sha256 over the sorted `name=value` lines, as 64 hex digits.
    pub fn key(&self) -> String {
        let mut hasher = Sha256::new();
        for (name, value) in &self.0 {
            hasher.update(name.as_bytes());
            hasher.update(b"=");
            hasher.update(value.as_bytes());
            hasher.update(b"\n");
        }
        hex::encode(hasher.finalize())
    }

    /// Why `self` differs from `before`, in words (`changed file:busybox.spec`, ...).
    pub fn explain_change(&self, before: &Inputs) -> Vec<String> {
        let mut reasons = Vec::new();
        for (name, value) in &self.0 {
            match before.0.get(name) {
                None => reasons.push(format!("new {}", describe(name))),
                Some(old) if old != value => reasons.push(format!("changed {}", describe(name))),
                _ => {}
            }
        }
        for name in before.0.keys().filter(|n| !self.0.contains_key(*n)) {
            reasons.push(format!("removed {}", describe(name)));
        }
        reasons
    }
}

fn describe(name: &str) -> String {
    match name.split_once(':') {
        Some(("file", path)) => format!("file {path}"),
        Some(("dep", dep)) => format!("dependency {dep}"),
        Some(("external", file)) => format!("external file {file}"),
        Some(("firstparty", file)) => format!("first-party {file}"),
        _ => name.to_string(),
    }
}

/// sha256 of a text, as hex.
pub fn sha256_text(text: &str) -> String {
    hex::encode(Sha256::digest(text.as_bytes()))
}

/// sha256 of a file's contents, as hex.
pub fn sha256_file(path: &Path) -> std::io::Result<String> {
    let mut hasher = Sha256::new();
    stream(path, |chunk| hasher.update(chunk))?;
    Ok(hex::encode(hasher.finalize()))
}

/// sha512 of a file's contents, as hex.
pub fn sha512_file(path: &Path) -> std::io::Result<String> {
    sha512_reader(std::fs::File::open(path)?)
}

/// sha512 of everything `reader` yields, as hex.
pub fn sha512_reader(reader: impl Read) -> std::io::Result<String> {
    let mut hasher = Sha512::new();
    read_chunks(reader, |chunk| hasher.update(chunk))?;
    Ok(hex::encode(hasher.finalize()))
}

fn stream(path: &Path, each: impl FnMut(&[u8])) -> std::io::Result<()> {
    read_chunks(std::fs::File::open(path)?, each)
}

fn read_chunks(mut file: impl Read, mut each: impl FnMut(&[u8])) -> std::io::Result<()> {
    let mut buffer = vec![0u8; 1 << 20];
    loop {
        let n = file.read(&mut buffer)?;
        if n == 0 {
            return Ok(());
        }
        each(&buffer[..n]);
    }
}

/// Every file under `dir` as (path relative to `dir`, sha256 of its contents), sorted;
/// symlinks are followed.
pub fn hash_tree(dir: &Path) -> std::io::Result<Vec<(String, String)>> {
    let mut out = Vec::new();
    walk(dir, dir, &mut out)?;
    out.sort();
    Ok(out)
}

fn walk(base: &Path, dir: &Path, out: &mut Vec<(String, String)>) -> std::io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let path = entry.path();
        if is_scratch(&entry.file_name().to_string_lossy()) {
            continue;
        }
        let relative = path
            .strip_prefix(base)
            .unwrap_or(&path)
            .to_string_lossy()
            .into_owned();
        // Symlinks are followed (what the build sees is the target's content); a dangling one
        // is an error naming it.
        let kind = std::fs::metadata(&path)
            .map_err(|e| std::io::Error::new(e.kind(), format!("{}: {e}", path.display())))?;
        if kind.is_dir() {
            walk(base, &path, out)?;
        } else {
            out.push((relative, sha256_file(&path)?));
        }
    }
    Ok(())
}

/// Editor swap and backup files, and partial downloads: never inputs.
pub fn is_scratch(name: &str) -> bool {
    name.ends_with(".swp")
        || name.ends_with('~')
        || name.starts_with(".#")
        || name.contains(".part-")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_and_explanations() {
        let mut a = Inputs::default();
        a.add("file:busybox.spec", "1");
        a.add("dep:kernel", "k");
        let mut b = a.clone();
        assert_eq!(a.key(), b.key());
        b.add("file:busybox.spec", "2");
        b.add("external:x.tar.gz", "s");
        assert_ne!(a.key(), b.key());
        assert_eq!(
            b.explain_change(&a),
            vec!["new external file x.tar.gz", "changed file busybox.spec"]
        );
        b.0.remove("dep:kernel");
        assert!(b
            .explain_change(&a)
            .contains(&"removed dependency kernel".to_string()));
    }
}
