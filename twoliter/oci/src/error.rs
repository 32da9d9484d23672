//! Errors of writing and reading OCI archives: each names the file and what failed.

use std::path::PathBuf;

/// Result type of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Why an OCI archive could not be written or read.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A file operation failed.
    #[error(transparent)]
    Io(#[from] fsutil::IoError),
    /// The image description is not valid (bad reference name, epoch, metadata key...).
    #[error("invalid image description: {0}")]
    InvalidSpec(String),
    /// The architecture is not one an OCI image of a kit can have.
    #[error("unsupported architecture {0:?}: expected x86_64/amd64 or aarch64/arm64")]
    UnsupportedArchitecture(String),
    /// A path inside a layer is not a plain relative path.
    #[error("layer {layer}: invalid path {path:?} inside the layer: {reason}")]
    InvalidLayerPath {
        /// Index of the layer in the image description.
        layer: usize,
        /// The path inside the layer.
        path: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// A layer source is not a regular file (directory, symlink in a tree, device...).
    #[error("{} cannot be stored in a layer: it is not a regular file", path.display())]
    NotARegularFile {
        /// The host file.
        path: PathBuf,
    },
    /// A layer source changed size while it was being archived.
    #[error("{} changed while it was being archived (expected {expected} bytes)", path.display())]
    SourceChanged {
        /// The host file.
        path: PathBuf,
        /// Its size when the archiving started.
        expected: u64,
    },
    /// A file the OCI layout requires is missing from the archive.
    #[error("{} is not an OCI archive: it has no {name}", archive.display())]
    MissingEntry {
        /// The archive.
        archive: PathBuf,
        /// The missing file (`index.json`, `blobs/sha256/...`).
        name: String,
    },
    /// A file is stored twice in the archive, so it is ambiguous.
    #[error("archive {} holds {name} more than once", archive.display())]
    DuplicateEntry {
        /// The archive.
        archive: PathBuf,
        /// The repeated file.
        name: String,
    },
    /// A JSON document in the archive does not parse.
    #[error("archive {}: {name} is not valid JSON of its kind", archive.display())]
    InvalidJson {
        /// The archive.
        archive: PathBuf,
        /// The document (`index.json`, or the blob's digest).
        name: String,
        /// The parse error.
        source: serde_json::Error,
    },
    /// The archive is structurally invalid.
    #[error("archive {} is not a valid OCI image: {detail}", archive.display())]
    InvalidArchive {
        /// The archive.
        archive: PathBuf,
        /// What is wrong.
        detail: String,
    },
    /// The archive uses a feature this crate does not read.
    #[error("archive {}: unsupported: {detail}", archive.display())]
    Unsupported {
        /// The archive.
        archive: PathBuf,
        /// What is unsupported.
        detail: String,
    },
    /// A blob's size differs from the one its descriptor declares.
    #[error("archive {}: blob {blob} is {actual} bytes but its descriptor says {expected}", archive.display())]
    BlobSize {
        /// The archive.
        archive: PathBuf,
        /// The blob's digest.
        blob: String,
        /// Size from the descriptor.
        expected: u64,
        /// Size stored in the archive.
        actual: u64,
    },
    /// A blob's content does not hash to its digest: the archive is corrupted.
    #[error("archive {}: blob {blob} is corrupted: its content hashes to {actual}", archive.display())]
    DigestMismatch {
        /// The archive.
        archive: PathBuf,
        /// The blob's digest (as named by its descriptor).
        blob: String,
        /// Digest of the stored content.
        actual: String,
    },
    /// A layer entry would be written outside the destination, or through a symlink.
    #[error("archive {}: layer {layer}: refusing entry {entry:?}: {reason}", archive.display())]
    UnsafeEntry {
        /// The archive.
        archive: PathBuf,
        /// The layer's digest.
        layer: String,
        /// The entry's path as stored.
        entry: String,
        /// Why it is refused.
        reason: &'static str,
    },
    /// A layer entry is of a kind this crate does not extract (symlink, device...).
    #[error("archive {}: layer {layer}: entry {entry:?} is a {kind}, only regular files and directories are extracted", archive.display())]
    UnsupportedEntry {
        /// The archive.
        archive: PathBuf,
        /// The layer's digest.
        layer: String,
        /// The entry's path as stored.
        entry: String,
        /// The entry kind.
        kind: String,
    },
}
