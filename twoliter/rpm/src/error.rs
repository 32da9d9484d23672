//! Errors of reading RPMs, closing package sets and installing payloads: each names the RPM
//! file or package, the entry, what is wrong and how to fix it.

use crate::info::ScriptletKind;
use std::fmt;
use std::path::PathBuf;

/// Result type of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Why an RPM could not be read or installed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A file operation failed.
    #[error(transparent)]
    Io(#[from] fsutil::IoError),
    /// The RPM's lead or headers do not parse.
    #[error(
        "cannot read the RPM headers of {} (is it a complete binary RPM, not truncated, not \
         some other file?)",
        path.display()
    )]
    Header {
        /// The RPM file.
        path: PathBuf,
        /// The parser's error.
        source: rpm::Error,
    },
    /// The RPM's headers parse but hold something inconsistent or unsupported.
    #[error("RPM {}: {detail}", path.display())]
    InvalidHeader {
        /// The RPM file.
        path: PathBuf,
        /// What is wrong.
        detail: String,
    },
    /// The package has scriptlets, and they are not allowed.
    #[error(
        "package {package} ({}) has scriptlets ({}), which are never run when a root \
         filesystem is assembled from payloads; do that work in the spec's %install (files) or \
         at boot (a systemd unit) instead, then rebuild the package",
        path.display(),
        ScriptletList(kinds)
    )]
    Scriptlets {
        /// The package's name-version-release.arch.
        package: String,
        /// The RPM file.
        path: PathBuf,
        /// Which scriptlets it has.
        kinds: Vec<ScriptletKind>,
    },
    /// The payload is compressed with something this crate cannot decompress.
    #[error(
        "RPM {}: unsupported payload compression ({what}); rebuild it with \
         `_binary_payload w19.zstdio` (zstd), gzip or xz",
        path.display()
    )]
    UnsupportedCompression {
        /// The RPM file.
        path: PathBuf,
        /// The compressor (or the payload's first bytes).
        what: String,
    },
    /// The payload's sha256 does not match the header's `PAYLOADDIGEST`.
    #[error(
        "RPM {}: payload digest mismatch (header says sha256 {expected}, payload is {actual}); \
         the file is corrupt or was altered: fetch or build it again",
        path.display()
    )]
    PayloadDigest {
        /// The RPM file.
        path: PathBuf,
        /// The digest in the header.
        expected: String,
        /// The digest of the payload as read.
        actual: String,
    },
    /// The payload archive is malformed.
    #[error("RPM {}: payload is not a valid cpio archive: {detail} (at entry {entry:?})", path.display())]
    InvalidPayload {
        /// The RPM file.
        path: PathBuf,
        /// The entry being read (empty before the first one).
        entry: String,
        /// What is wrong.
        detail: String,
    },
    /// An entry's path would escape the root or is otherwise unusable.
    #[error("RPM {}: refusing payload entry {entry:?}: {reason}", path.display())]
    UnsafePath {
        /// The RPM file.
        path: PathBuf,
        /// The entry's name in the payload.
        entry: String,
        /// Why it is refused.
        reason: String,
    },
    /// An entry is owned by a user or group name with no known id.
    #[error(
        "package {package}: {entry} is owned by {kind} {name:?}, which has no id: it is not in \
         the root's /etc/{db}, nor root, nor in the install options; install the package that \
         creates it first or add it to InstallOptions::{kind}s",
        db = if *kind == "user" { "passwd" } else { "group" }
    )]
    UnknownOwner {
        /// The package's name-version-release.arch.
        package: String,
        /// The path in the root.
        entry: String,
        /// `"user"` or `"group"`.
        kind: &'static str,
        /// The name in the header.
        name: String,
    },
    /// A path is shipped by two packages with different contents or types.
    #[error(
        "file conflict on /{entry}: package {package} installs {new}, but {} already put {old} \
         there; remove the file from one of the packages (or make them identical)",
        owner.as_deref().map(|o| format!("package {o}")).unwrap_or_else(|| "an earlier install".into())
    )]
    Conflict {
        /// The path in the root.
        entry: String,
        /// The package being installed.
        package: String,
        /// The package that installed the existing file, when known.
        owner: Option<String>,
        /// What the new package ships there.
        new: String,
        /// What is already there.
        old: String,
    },
    /// An entry's file type cannot be installed.
    #[error("RPM {}: payload entry {entry:?} has unsupported file type (mode {mode:#o})", path.display())]
    UnsupportedFileType {
        /// The RPM file.
        path: PathBuf,
        /// The entry's name in the payload.
        entry: String,
        /// Its mode.
        mode: u32,
    },
}

/// Formats scriptlet kinds as `%pre, %post`.
struct ScriptletList<'a>(&'a [ScriptletKind]);

impl fmt::Display for ScriptletList<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, kind) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            write!(f, "{kind}")?;
        }
        Ok(())
    }
}

/// Why a set of wanted packages could not be closed over its requirements.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ClosureError {
    /// A wanted package name is not the name (nor a capability) of any available RPM.
    #[error(
        "package {name:?} is wanted, but no available RPM is named so or provides it{}; \
         check the variant's included-packages and that the kit providing it is listed",
        DidYouMean(suggestions)
    )]
    UnknownPackage {
        /// The wanted name.
        name: String,
        /// Similar package names that do exist.
        suggestions: Vec<String>,
    },
    /// A requirement of a package in the closure is provided by no available RPM.
    #[error(
        "{package} requires {capability}, which no available RPM provides{}: {}; add the \
         package providing it to a kit, or drop the requirement",
        Candidates(candidates),
        Chain(chain)
    )]
    MissingCapability {
        /// The requirement as written (`libbar.so.1()(64bit)`, `foo >= 1.2`).
        capability: String,
        /// The name it requires, without the version (`foo`): what a package that is not
        /// built yet may be named.
        name: String,
        /// The name-version-release.arch of the package requiring it.
        package: String,
        /// How the package came into the closure: `wanted kernel`, `requires foo (foo)`, ...,
        /// `requires libbar.so.1 (missing)`.
        chain: Vec<String>,
        /// RPMs that have the capability's name but in a version that does not satisfy it.
        candidates: Vec<String>,
    },
    /// A requirement uses rpm's boolean (rich) dependency syntax.
    #[error(
        "{package} requires {requirement:?}, a rich (boolean) dependency, which is not \
         supported; use plain Requires: lines"
    )]
    RichDependency {
        /// The package's name-version-release.arch.
        package: String,
        /// The requirement.
        requirement: String,
    },
}

struct DidYouMean<'a>(&'a [String]);

impl fmt::Display for DidYouMean<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.is_empty() {
            return Ok(());
        }
        f.write_str(" (did you mean ")?;
        for (i, s) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(" or ")?;
            }
            write!(f, "{s:?}")?;
        }
        f.write_str("?)")
    }
}

struct Candidates<'a>(&'a [String]);

impl fmt::Display for Candidates<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.is_empty() {
            return Ok(());
        }
        write!(f, " (only in other versions: {})", self.0.join(", "))
    }
}

struct Chain<'a>(&'a [String]);

impl fmt::Display for Chain<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0.join(" → "))
    }
}
