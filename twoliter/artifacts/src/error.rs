//! Errors of the artifact contract: each names the name, file or directory at fault, what is
//! wrong and how to fix it. Causes are reached through `source()`, not repeated in the text.

use std::path::PathBuf;
use twoliter_project::Arch;

/// An artifact name, directory or metadata file that is missing or not what it must be.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A part of an artifact name is not usable in file names.
    #[error("{field} `{value}` is not valid: {reason}")]
    InvalidPart {
        /// `variant`, `build id`, `release version`.
        field: &'static str,
        /// The value given.
        value: String,
        /// What is wrong and what is allowed.
        reason: String,
    },
    /// A text is not an artifact name.
    #[error("`{name}` is not an artifact name (bottlerocket-<variant>-<arch>-<X.Y.Z>-<build>): {reason}")]
    InvalidName {
        /// The text.
        name: String,
        /// What is wrong.
        reason: String,
    },
    /// No build of the variant matches.
    #[error("no build of {variant} for {arch} in {}: {reason}; run `twoliter build variant {variant} --arch {arch}` first", dir.display())]
    NoBuild {
        /// The variant.
        variant: String,
        /// The architecture.
        arch: Arch,
        /// The variant's images directory.
        dir: PathBuf,
        /// What was looked for.
        reason: String,
    },
    /// A directory is not one build's artifact directory.
    #[error("{} is not an artifact directory: {reason}", dir.display())]
    NotArtifactDir {
        /// The directory.
        dir: PathBuf,
        /// What is wrong and how to fix it.
        reason: String,
    },
    /// A metadata file cannot be parsed.
    #[error("{} is not a twoliter image metadata file; rebuild the variant", path.display())]
    Metadata {
        /// The file.
        path: PathBuf,
        /// The parse error.
        source: serde_json::Error,
    },
    /// Another process holds the build's publish lock.
    #[error("another `twoliter publish ami` is publishing the build in {}; wait for it to finish", dir.display())]
    Locked {
        /// The artifact directory.
        dir: PathBuf,
    },
    /// A file or directory cannot be read or written.
    #[error("cannot {op} {}", path.display())]
    Io {
        /// What was being done (`list`, `read`, `write`).
        op: &'static str,
        /// The file or directory.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// A file could not be written durably or a lock taken.
    #[error(transparent)]
    Fs(#[from] fsutil::IoError),
}

/// Result with [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub(crate) fn io(op: &'static str, path: impl Into<PathBuf>, source: std::io::Error) -> Error {
        Error::Io {
            op,
            path: path.into(),
            source,
        }
    }
}
