//! What goes into an image: [`ImageSpec`], [`LayerSpec`], [`Architecture`].

use crate::error::{Error, Result};
use fsutil::{io_err, IoError};
use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

/// Largest epoch accepted: the largest value tar's 11-digit octal mtime field holds
/// (2242-03-16T12:56:31Z).
pub const MAX_EPOCH: u64 = 0o777_7777_7777;

/// The architecture of a kit image, in OCI terms.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Architecture {
    /// `amd64` (Bottlerocket's `x86_64`).
    Amd64,
    /// `arm64` (Bottlerocket's `aarch64`).
    Arm64,
}

impl Architecture {
    /// The OCI name: `amd64` or `arm64`.
    pub fn oci_name(self) -> &'static str {
        match self {
            Architecture::Amd64 => "amd64",
            Architecture::Arm64 => "arm64",
        }
    }
}

impl FromStr for Architecture {
    type Err = Error;

    /// Accepts the OCI names (`amd64`, `arm64`) and the kernel/RPM names (`x86_64`, `aarch64`).
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "amd64" | "x86_64" => Ok(Architecture::Amd64),
            "arm64" | "aarch64" => Ok(Architecture::Arm64),
            other => Err(Error::UnsupportedArchitecture(other.to_string())),
        }
    }
}

impl fmt::Display for Architecture {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.oci_name())
    }
}

/// Everything that goes into a kit image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageSpec {
    /// Reference name stored in `index.json` (annotation `org.opencontainers.image.ref.name`),
    /// for example the kit version. Must follow the OCI image-layout `ref` grammar:
    /// `/`-separated components of letters and digits joined by `-._:@+` or `--`.
    pub ref_name: String,
    /// Architecture of the packages.
    pub architecture: Architecture,
    /// The layers, bottom first.
    pub layers: Vec<LayerSpec>,
    /// Kit metadata: stored as the image config's `config.Labels` and as manifest annotations.
    pub metadata: BTreeMap<String, String>,
    /// Seconds since the Unix epoch (as `SOURCE_DATE_EPOCH`) used for every timestamp: tar
    /// mtimes and the config's `created`. At most [`MAX_EPOCH`].
    pub epoch: u64,
}

/// One file of a layer: a host file and where it goes inside the layer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LayerFile {
    /// The host file (read when the archive is written; symlinks are followed).
    pub source: PathBuf,
    /// `/`-separated relative path inside the layer, such as `repodata/repomd.xml`.
    pub dest: String,
}

/// The files of one layer. Their parent directories are added to the layer automatically.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LayerSpec {
    /// The files, in any order (the layer is sorted by path).
    pub files: Vec<LayerFile>,
}

impl LayerSpec {
    /// An empty layer.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds `source` at `dest` inside the layer.
    pub fn with_file(mut self, source: impl Into<PathBuf>, dest: impl Into<String>) -> Self {
        self.files.push(LayerFile {
            source: source.into(),
            dest: dest.into(),
        });
        self
    }

    /// A layer holding every regular file under `dir`, at `prefix/<path relative to dir>` (or
    /// at the relative path itself when `prefix` is empty), e.g. `from_dir("build/repodata",
    /// "repodata")`. Empty directories are not kept; symlinks, devices and other non-regular
    /// files are refused, as are names that are not UTF-8.
    pub fn from_dir(dir: &Path, prefix: &str) -> Result<Self> {
        let mut layer = LayerSpec::new();
        let prefix = prefix.trim_end_matches('/');
        walk(dir, prefix, &mut layer)?;
        Ok(layer)
    }
}

fn walk(dir: &Path, dest: &str, layer: &mut LayerSpec) -> Result<()> {
    let mut entries = std::fs::read_dir(dir)
        .map_err(io_err("list", dir))?
        .map(|entry| entry.map_err(io_err("list", dir)))
        .collect::<Result<Vec<_>, IoError>>()?;
    entries.sort_by_key(|entry| entry.file_name());
    for entry in entries {
        let path = entry.path();
        let Some(name) = entry.file_name().to_str().map(str::to_string) else {
            return Err(Error::InvalidSpec(format!(
                "file name {} is not UTF-8",
                path.display()
            )));
        };
        let child = if dest.is_empty() {
            name
        } else {
            format!("{dest}/{name}")
        };
        let kind = entry.file_type().map_err(io_err("stat", &path))?;
        if kind.is_dir() {
            walk(&path, &child, layer)?;
        } else if kind.is_file() {
            layer.files.push(LayerFile {
                source: path,
                dest: child,
            });
        } else {
            return Err(Error::NotARegularFile { path });
        }
    }
    Ok(())
}

/// Checks a reference name against the OCI image-layout grammar:
/// `component ("/" component)*`, `component ::= alphanum (separator alphanum)*`,
/// `alphanum ::= [A-Za-z0-9]+`, `separator ::= [-._:@+] | "--"`.
pub(crate) fn validate_ref_name(name: &str) -> Result<()> {
    let bad = |why: &str| {
        Err(Error::InvalidSpec(format!(
            "reference name {name:?} {why} (expected letters and digits joined by one of -._:@+ \
             or --, in /-separated components)"
        )))
    };
    if name.is_empty() {
        return bad("is empty");
    }
    for component in name.split('/') {
        let bytes = component.as_bytes();
        if bytes.is_empty() {
            return bad("has an empty component");
        }
        if !bytes[0].is_ascii_alphanumeric() || !bytes[bytes.len() - 1].is_ascii_alphanumeric() {
            return bad("has a component not starting and ending with a letter or digit");
        }
        let mut run = String::new();
        for &b in bytes {
            if b.is_ascii_alphanumeric() {
                if !run.is_empty() && run != "--" && run.len() != 1 {
                    return bad("joins characters with more than one separator");
                }
                run.clear();
            } else if b"-._:@+".contains(&b) {
                run.push(b as char);
            } else {
                return bad("holds a character outside [A-Za-z0-9-._:@+/]");
            }
        }
    }
    Ok(())
}

/// Checks a path inside a layer; returns its components.
pub(crate) fn layer_path_components(layer: usize, path: &str) -> Result<Vec<&str>> {
    let bad = |reason| {
        Err(Error::InvalidLayerPath {
            layer,
            path: path.to_string(),
            reason,
        })
    };
    if path.is_empty() {
        return bad("it is empty");
    }
    if path.starts_with('/') {
        return bad("it is absolute");
    }
    if path.contains('\0') {
        return bad("it holds a NUL byte");
    }
    let components: Vec<&str> = path.split('/').collect();
    for component in &components {
        match *component {
            "" => return bad("it has an empty component (// or a trailing /)"),
            "." | ".." => return bad("it has a . or .. component"),
            c if c.starts_with(".wh.") => {
                return bad("names starting with .wh. are OCI whiteouts (deletions)")
            }
            _ => {}
        }
    }
    Ok(components)
}
