//! Versioned datastore directories.
//!
//! ```text
//! <base>/current -> v1
//! <base>/v1 -> v1.2
//! <base>/v1.2 -> v1.2.3
//! <base>/v1.2.3 -> v1.2.3_0123456789abcdef
//! <base>/v1.2.3_0123456789abcdef/   the datastore (see crate::store)
//! ```
//!
//! All links are relative, so the tree can be moved or mounted elsewhere. Each link is replaced
//! atomically (temp symlink renamed over it); [`link_version`] updates them innermost first, so a
//! migration switches `current` to the new datastore in exactly one rename.

use std::fmt;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use crate::error::{io_err, Error, Result};
use crate::files;
use crate::store::initialize;

/// Name of the top-level link to the datastore in use.
pub const CURRENT: &str = "current";

/// A datastore version, `major.minor.patch`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct DatastoreVersion {
    /// Major version.
    pub major: u64,
    /// Minor version.
    pub minor: u64,
    /// Patch version.
    pub patch: u64,
}

impl DatastoreVersion {
    /// A version from its parts.
    pub fn new(major: u64, minor: u64, patch: u64) -> Self {
        Self {
            major,
            minor,
            patch,
        }
    }
}

impl fmt::Display for DatastoreVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}.{}", self.major, self.minor, self.patch)
    }
}

impl FromStr for DatastoreVersion {
    type Err = Error;

    /// Parses `X.Y.Z` (an optional leading `v` is accepted), each part decimal digits.
    fn from_str(input: &str) -> Result<Self> {
        let invalid = |reason: &str| Error::InvalidVersion {
            version: input.to_string(),
            reason: reason.to_string(),
        };
        let s = input.strip_prefix('v').unwrap_or(input);
        let parts: Vec<&str> = s.split('.').collect();
        if parts.len() != 3 {
            return Err(invalid("expected three dot-separated numbers, like 1.2.3"));
        }
        let mut numbers = [0u64; 3];
        for (slot, part) in numbers.iter_mut().zip(&parts) {
            if part.is_empty() || !part.bytes().all(|b| b.is_ascii_digit()) {
                return Err(invalid("each part must be a decimal number"));
            }
            *slot = part
                .parse()
                .map_err(|_| invalid("a part is too large for a 64-bit number"))?;
        }
        Ok(Self::new(numbers[0], numbers[1], numbers[2]))
    }
}

/// Creates a fresh, empty datastore for `version` (e.g. `"1.2.3"`) under `base_dir` (created if
/// missing), with the `current` → `vX` → `vX.Y` → `vX.Y.Z` → `vX.Y.Z_<id>` links, and returns the
/// path of `current`, ready for [`FilesystemDataStore::open`](crate::FilesystemDataStore::open).
///
/// Fails with [`Error::AlreadyExists`] if `base_dir` already has a `current` link.
pub fn create(base_dir: impl AsRef<Path>, version: &str) -> Result<PathBuf> {
    let base = base_dir.as_ref();
    let version: DatastoreVersion = version.parse()?;
    fs::create_dir_all(base).map_err(io_err("create directory", base))?;
    let current = base.join(CURRENT);
    match fs::symlink_metadata(&current) {
        Ok(_) => {
            return Err(Error::AlreadyExists {
                path: current,
                reason: "a datastore already exists here; migrate it instead".into(),
            })
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(io_err("inspect", &current)(e).into()),
    }
    let dir = create_version_dir(base, &version)?;
    link_version(base, &version, &dir)
}

/// Creates and initializes an empty datastore directory `vX.Y.Z_<random id>` under `base_dir`
/// without linking it, and returns its path. A migrator fills it, then calls [`link_version`].
pub fn create_version_dir(
    base_dir: impl AsRef<Path>,
    version: &DatastoreVersion,
) -> Result<PathBuf> {
    let base = base_dir.as_ref();
    let dir = base.join(format!("v{version}_{}", files::random_hex(8)?));
    fs::create_dir(&dir).map_err(io_err("create directory", &dir))?;
    initialize(&dir)?;
    files::sync_dir(base)?;
    Ok(dir)
}

/// Points the version links under `base_dir` at datastore directory `dir` (which must be directly
/// inside `base_dir`): `vX.Y.Z` → `dir`, `vX.Y` → `vX.Y.Z`, `vX` → `vX.Y`, `current` → `vX`, each
/// atomically and durably, innermost first. Returns the path of `current`.
pub fn link_version(
    base_dir: impl AsRef<Path>,
    version: &DatastoreVersion,
    dir: &Path,
) -> Result<PathBuf> {
    let base = base_dir.as_ref();
    let dir_name = match (dir.parent(), dir.file_name()) {
        (Some(parent), Some(name)) if parent == base || parent.as_os_str().is_empty() => {
            PathBuf::from(name)
        }
        _ => {
            return Err(Error::NotADatastore {
                path: dir.to_path_buf(),
                reason: format!("it must be directly inside '{}'", base.display()),
            })
        }
    };
    if !base.join(&dir_name).is_dir() {
        return Err(Error::NotADatastore {
            path: dir.to_path_buf(),
            reason: "no such directory".into(),
        });
    }
    remove_stale_temp_links(base)?;
    let patch = format!("v{version}");
    let minor = format!("v{}.{}", version.major, version.minor);
    let major = format!("v{}", version.major);
    files::replace_symlink(&base.join(&patch), &dir_name)?;
    files::replace_symlink(&base.join(&minor), Path::new(&patch))?;
    files::replace_symlink(&base.join(&major), Path::new(&minor))?;
    files::replace_symlink(&base.join(CURRENT), Path::new(&major))?;
    Ok(base.join(CURRENT))
}

/// Removes temp symlinks an interrupted [`link_version`] left in `base`.
fn remove_stale_temp_links(base: &Path) -> Result<()> {
    for dirent in fs::read_dir(base).map_err(io_err("read directory", base))? {
        let dirent = dirent.map_err(io_err("read directory", base))?;
        let is_link = dirent.file_type().map(|t| t.is_symlink()).unwrap_or(false);
        if is_link && files::is_temp_link(&dirent.file_name().to_string_lossy()) {
            files::remove_file(&dirent.path())?;
        }
    }
    Ok(())
}

/// The version of the datastore `current` leads to under `base_dir`, read from the name of the
/// directory at the end of the link chain.
pub fn current_version(base_dir: impl AsRef<Path>) -> Result<DatastoreVersion> {
    let base = base_dir.as_ref();
    let current = base.join(CURRENT);
    let resolved = fs::canonicalize(&current).map_err(io_err("resolve", &current))?;
    let name = resolved
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or_default();
    let version = name.split_once('_').map_or(name, |(v, _)| v);
    version.parse().map_err(|_| Error::NotADatastore {
        path: resolved.clone(),
        reason: "its name isn't of the form vX.Y.Z_<id>".into(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_versions() {
        assert_eq!(
            "1.2.3".parse::<DatastoreVersion>().ok(),
            Some(DatastoreVersion::new(1, 2, 3))
        );
        assert_eq!(
            "v0.0.10".parse::<DatastoreVersion>().ok(),
            Some(DatastoreVersion::new(0, 0, 10))
        );
        assert_eq!(DatastoreVersion::new(1, 20, 3).to_string(), "1.20.3");
        for bad in [
            "",
            "1",
            "1.2",
            "1.2.3.4",
            "1..3",
            "a.b.c",
            "1.2.+3",
            "1.2.3-rc1",
            "vv1.2.3",
        ] {
            let err = bad.parse::<DatastoreVersion>().expect_err(bad).to_string();
            assert!(err.contains(&format!("'{bad}'")), "{err}");
        }
    }
}
