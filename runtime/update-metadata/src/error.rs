//! The crate's error type.

use semver::Version;

/// A specialized `Result` for this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong reading, editing or querying an update manifest or a wave policy.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A filesystem operation failed.
    #[error(transparent)]
    Io(#[from] fsutil::IoError),

    /// `manifest.json` is not valid JSON or does not have the manifest's shape.
    #[error("invalid update manifest {origin}: at '{field}'")]
    ParseManifest {
        /// Where the manifest came from: a quoted path, or a description such as "(in memory)".
        origin: String,
        /// The path of the offending field, e.g. `updates[0].waves`; `.` for the top level.
        field: String,
        /// The underlying JSON error (with line and column).
        source: serde_json::Error,
    },

    /// The manifest could not be serialized to JSON.
    #[error("cannot serialize the update manifest")]
    SerializeManifest {
        /// The underlying JSON error.
        source: serde_json::Error,
    },

    /// The manifest parsed but its contents are inconsistent.
    #[error("invalid update manifest: {field}: {reason}")]
    InvalidManifest {
        /// The offending field, e.g. `updates[2].waves`.
        field: String,
        /// What is wrong and how to fix it.
        reason: String,
    },

    /// A wave policy is not valid TOML or does not have the policy's shape.
    #[error("invalid wave policy {origin}")]
    ParsePolicy {
        /// Where the policy came from: a quoted path, or a description such as "(in memory)".
        origin: String,
        /// The underlying TOML error (names the key and location).
        source: toml::de::Error,
    },

    /// A wave policy parsed but breaks a rule (ordering, percentages, durations).
    #[error("invalid wave policy: {reason}")]
    InvalidPolicy {
        /// What is wrong and how to fix it.
        reason: String,
    },

    /// An update for the same variant, arch and version is already in the manifest.
    #[error("the manifest already has {id}; ask to replace it to overwrite the entry")]
    DuplicateUpdate {
        /// The duplicated entry.
        id: Box<UpdateId>,
    },

    /// The update is older than the newest one already published for its variant and arch.
    #[error(
        "{id} is older than the newest published version {newest}; ask to allow older \
         versions to add it anyway"
    )]
    OlderThanNewest {
        /// The entry being added.
        id: Box<UpdateId>,
        /// The newest version already in the manifest for the same variant and arch.
        newest: Version,
    },

    /// No update in the manifest matches the given variant, arch and version.
    #[error("the manifest has no {id}")]
    UpdateNotFound {
        /// The requested entry.
        id: Box<UpdateId>,
    },

    /// An update entry is malformed (empty names, bad waves, ...).
    #[error("invalid update {id}: {reason}")]
    InvalidUpdate {
        /// The offending entry.
        id: Box<UpdateId>,
        /// What is wrong and how to fix it.
        reason: String,
    },

    /// The migration chain from one version to another has a gap.
    #[error(
        "no migrations lead from {at} towards {to} (migrating {from} -> {to}); every release \
         pair needs a migrations entry, even an empty one: \"({at}, <next version>)\": []"
    )]
    MissingMigration {
        /// The version the chain started from.
        from: Version,
        /// The version the chain should reach.
        to: Version,
        /// The version where the chain stopped.
        at: Version,
    },

    /// A migrations entry is unusable.
    #[error("invalid migrations entry ({from}, {to}): {reason}")]
    InvalidMigration {
        /// The entry's start version.
        from: Version,
        /// The entry's end version.
        to: Version,
        /// What is wrong and how to fix it.
        reason: String,
    },

    /// A time is outside what a manifest can hold (years 0000 to 9999 in RFC 3339).
    #[error("time out of range: {reason}")]
    TimeOutOfRange {
        /// What was being computed.
        reason: String,
    },

    /// A string is not an RFC 3339 timestamp.
    #[error("invalid RFC 3339 timestamp '{value}': {reason} (expected e.g. 2024-05-01T00:00:00Z)")]
    InvalidTimestamp {
        /// The rejected text.
        value: String,
        /// What is wrong with it.
        reason: String,
    },
}

/// Names one entry of the manifest: variant, arch and version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpdateId {
    /// The variant, e.g. `aws-k8s-1.31`.
    pub variant: String,
    /// The architecture, e.g. `x86_64`.
    pub arch: String,
    /// The OS version.
    pub version: Version,
}

impl UpdateId {
    /// Boxes an id for an error variant.
    pub(crate) fn boxed(variant: &str, arch: &str, version: &Version) -> Box<Self> {
        Box::new(Self {
            variant: variant.to_string(),
            arch: arch.to_string(),
            version: version.clone(),
        })
    }
}

impl std::fmt::Display for UpdateId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "version {} for variant '{}' arch '{}'",
            self.version, self.variant, self.arch
        )
    }
}
