//! Errors of image assembly: each names what was being done, the file and the cause.

use std::path::{Path, PathBuf};

/// Result of image assembly steps.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Why an image could not be assembled.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// An input directory is missing or not a directory.
    #[error("input {} is not usable: {detail}", path.display())]
    MissingInput {
        /// The input path.
        path: PathBuf,
        /// What is wrong with it.
        detail: String,
    },
    /// A file operation failed.
    #[error("cannot {op} {}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// What was being done.
        op: &'static str,
        /// The OS error.
        source: std::io::Error,
    },
    /// An external tool failed.
    #[error("cannot {what}")]
    Tool {
        /// What the tool was run for.
        what: String,
        /// The tool's failure.
        source: twoliter_engine::ExecError,
    },
    /// A tool's output could not be understood.
    #[error("cannot parse {what}: {detail}")]
    Parse {
        /// Whose output.
        what: String,
        /// What was missing.
        detail: String,
    },
    /// A file in an input tree cannot be stored in the image.
    #[error("{} cannot be stored in the image: {reason}", path.display())]
    UnstorableName {
        /// The file.
        path: PathBuf,
        /// Why not.
        reason: &'static str,
    },
    /// Content does not fit its partition.
    #[error("{what} needs {needed_mib} MiB but {partition} holds {capacity_mib} MiB; {hint}")]
    DoesNotFit {
        /// What does not fit (`the root filesystem`).
        what: String,
        /// The partition (`ROOT-A`).
        partition: String,
        /// Size needed, MiB (rounded up).
        needed_mib: u64,
        /// Partition size, MiB.
        capacity_mib: u64,
        /// How to make it fit.
        hint: &'static str,
    },
    /// Content fits its partition by size, but not with the filesystem's own metadata.
    #[error("{what} ({content_mib} MiB of files) does not fit in {partition} ({capacity_mib} MiB) once the filesystem's own metadata (journal, inode tables) is added; raise the OS image size (image-layout.os-image-size-gib, or --os-image-size-gib) or make the tree smaller")]
    NoRoomForMetadata {
        /// What does not fit.
        what: String,
        /// The partition.
        partition: String,
        /// Size of the files, MiB.
        content_mib: u64,
        /// Partition size, MiB.
        capacity_mib: u64,
    },
    /// The partition plan is invalid.
    #[error("invalid partition layout")]
    Plan(#[from] partitions::Error),
    /// dm-verity hashing failed.
    #[error("cannot build the dm-verity hash tree")]
    Verity(#[from] twoliter_verity::VerityError),
    /// A file could not be written durably.
    #[error(transparent)]
    Fs(#[from] fsutil::IoError),
    /// The inputs describe no valid image.
    #[error("{0}")]
    Invalid(String),
    /// A name or artifact-directory rule of the artifact contract is broken (a variant, arch,
    /// version or build id that cannot be in a file name).
    #[error(transparent)]
    Artifact(#[from] twoliter_artifacts::Error),
}

impl Error {
    /// An I/O error on `path` while doing `op`.
    pub fn io(path: &Path, op: &'static str, source: std::io::Error) -> Self {
        Error::Io {
            path: path.to_path_buf(),
            op,
            source,
        }
    }
}
