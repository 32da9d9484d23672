//! Errors of `updog`, each naming the file, URL, target or partition involved and why it failed.

use std::path::PathBuf;

/// Everything that can go wrong in `updog`.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A local file could not be read, written or synced.
    #[error(transparent)]
    Io(#[from] fsutil::IoError),

    /// The configuration file is not valid TOML of the expected shape (unknown keys included).
    #[error("invalid updog configuration {}: {reason}", path.display())]
    Config {
        /// The configuration file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },

    /// The os-release file lacks a field or holds a bad value.
    #[error("invalid os-release file {}: {reason}", path.display())]
    OsRelease {
        /// The os-release file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },

    /// A `--now` value is not an RFC 3339 time.
    #[error("invalid --now time {value:?}: {reason}")]
    Now {
        /// The rejected value.
        value: String,
        /// Why.
        reason: String,
    },

    /// The TUF repository could not be loaded or its metadata is not trusted (bad signature,
    /// expired, rolled back, too large, missing).
    #[error(
        "cannot load the update repository (metadata {metadata_url}, targets {targets_url}, trusted \
         root {}): {reason}",
        root.display()
    )]
    LoadRepository {
        /// The metadata base URL.
        metadata_url: String,
        /// The targets base URL.
        targets_url: String,
        /// The trusted root.json.
        root: PathBuf,
        /// The chain of causes from tough.
        reason: String,
    },

    /// A target is not listed in the signed targets metadata.
    #[error("target {target:?} is not listed in the repository's signed targets metadata")]
    TargetNotListed {
        /// The target name.
        target: String,
    },

    /// A target name is not a valid TUF target name.
    #[error("target name {target:?} is invalid: {reason}")]
    TargetName {
        /// The target name.
        target: String,
        /// Why.
        reason: String,
    },

    /// Downloading or verifying a target failed (transport error, length or sha256 mismatch).
    #[error("cannot download target {target:?}: {reason}")]
    Fetch {
        /// The target name.
        target: String,
        /// The chain of causes (tough's hash or length check, or the transport).
        reason: String,
    },

    /// `manifest.json` is not a valid manifest.
    #[error("the repository's manifest.json is invalid")]
    Manifest(#[source] Box<update_metadata::Error>),

    /// The migrations needed between two versions are not listed.
    #[error("cannot find the migrations from {from} to {to}")]
    Migrations {
        /// The running version.
        from: semver::Version,
        /// The target version.
        to: semver::Version,
        /// Why.
        #[source]
        source: Box<update_metadata::Error>,
    },

    /// `--image VERSION` names no entry for this variant and architecture.
    #[error(
        "the repository has no update {version} for variant {variant} on {arch} (or it is above \
         its max_version, i.e. pulled)"
    )]
    NoSuchImage {
        /// The variant.
        variant: String,
        /// The architecture.
        arch: String,
        /// The version asked for.
        version: semver::Version,
    },

    /// A migration target name could escape the migrations directory.
    #[error("refusing migration target name {name:?}: it must be a plain file name")]
    MigrationName {
        /// The rejected name.
        name: String,
    },

    /// An image target decompresses to more bytes than its partition holds.
    #[error(
        "target {target:?} does not fit partition {label} of {}: it decompresses to more than the \
         partition's {capacity} bytes; the inactive bank stays unbootable",
        disk.display()
    )]
    TooLarge {
        /// The target name.
        target: String,
        /// The partition label.
        label: String,
        /// The disk.
        disk: PathBuf,
        /// The partition size in bytes.
        capacity: u64,
    },

    /// An image target is not a valid lz4 frame.
    #[error("target {target:?} (for partition {label}) is not a valid lz4 frame: {reason}")]
    Decompress {
        /// The target name.
        target: String,
        /// The partition label.
        label: String,
        /// The decoder's error.
        reason: String,
    },

    /// Writing into a partition failed.
    #[error(
        "cannot write target {target:?} into partition {label} of {} at byte {offset}",
        disk.display()
    )]
    WritePartition {
        /// The target name.
        target: String,
        /// The partition label.
        label: String,
        /// The disk.
        disk: PathBuf,
        /// Absolute byte offset on the disk.
        offset: u64,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },

    /// A partition of the inactive bank is missing from the partition table.
    #[error("partition {number} ({label}) is not in the partition table of {}", disk.display())]
    NoPartition {
        /// The disk.
        disk: PathBuf,
        /// The partition number.
        number: u32,
        /// Its expected label.
        label: String,
    },

    /// The boot-bank bits could not be read or changed.
    #[error(transparent)]
    Signpost(#[from] signpost::Error),

    /// The disk has no known active bank, so the inactive bank cannot be chosen.
    #[error("cannot tell which bank of {} is active; pass --disk for the running OS disk", disk.display())]
    NoActiveBank {
        /// The disk.
        disk: PathBuf,
    },

    /// `update-apply` without a staged image for the inactive bank.
    #[error(
        "no update image is staged for bank {bank} of {} ({} is missing or names another bank \
         or disk); run `updog update-image` first",
        disk.display(),
        record.display()
    )]
    NothingStaged {
        /// The disk.
        disk: PathBuf,
        /// The inactive bank.
        bank: String,
        /// The staging record file.
        record: PathBuf,
    },

    /// The reboot command failed.
    #[error("the update is applied, but the reboot command {command:?} failed: {reason}")]
    Reboot {
        /// The command.
        command: String,
        /// Why.
        reason: String,
    },

    /// A worker thread panicked (a bug).
    #[error("internal error: the {0} thread panicked")]
    Thread(&'static str),
}

/// Result type of this crate.
pub type Result<T> = std::result::Result<T, Error>;

/// The error and its chain of sources, joined with ": ".
pub(crate) fn chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let next = s.to_string();
        if !text.contains(&next) {
            text.push_str(": ");
            text.push_str(&next);
        }
        source = s.source();
    }
    text
}
