//! The crate's error type.

use std::path::PathBuf;

/// Result type of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong in the datastore.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A key failed validation.
    #[error("invalid key '{key}': {reason}")]
    InvalidKey {
        /// The key as given.
        key: String,
        /// The rule that was broken.
        reason: String,
    },

    /// A transaction name failed validation.
    #[error("invalid transaction name '{tx}': {reason}")]
    InvalidTransaction {
        /// The transaction name as given.
        tx: String,
        /// The rule that was broken.
        reason: String,
    },

    /// A value can't be stored.
    #[error("invalid value for key '{key}': {reason}")]
    InvalidValue {
        /// The key the value was meant for.
        key: String,
        /// Why the value was refused.
        reason: String,
    },

    /// A key can't hold a value because of another key (a key can hold a value or sub-keys, never both).
    #[error("key '{key}' conflicts with key '{existing}': {reason}")]
    KeyConflict {
        /// The key being written.
        key: String,
        /// The key already in the way.
        existing: String,
        /// What the conflict is.
        reason: String,
    },

    /// A commit found no pending changes (the transaction is empty or doesn't exist).
    ///
    /// The API maps this to HTTP 422.
    #[error("transaction '{tx}' has nothing to commit")]
    NothingToCommit {
        /// The transaction that was committed.
        tx: String,
    },

    /// A filesystem operation failed.
    #[error(transparent)]
    Io(#[from] fsutil::IoError),

    /// The on-disk state breaks the datastore's invariants in a way recovery can't repair.
    #[error("datastore at '{}' is corrupt: {reason}", path.display())]
    Corrupt {
        /// The file or directory at fault.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },

    /// A directory that should be a datastore isn't one.
    #[error("'{}' is not a datastore: {reason}", path.display())]
    NotADatastore {
        /// The directory that was opened.
        path: PathBuf,
        /// Why it isn't a datastore.
        reason: String,
    },

    /// Something that must be created fresh already exists.
    #[error("'{}' already exists: {reason}", path.display())]
    AlreadyExists {
        /// The path in the way.
        path: PathBuf,
        /// Why that is a problem.
        reason: String,
    },

    /// A datastore version string is malformed.
    #[error("invalid datastore version '{version}': {reason}")]
    InvalidVersion {
        /// The version as given.
        version: String,
        /// The rule that was broken.
        reason: String,
    },

    /// A JSON document can't be flattened into key/value pairs.
    #[error("cannot flatten JSON at '{path}': {reason}")]
    ToPairs {
        /// Where in the document the problem is (dotted path).
        path: String,
        /// What is wrong.
        reason: String,
    },

    /// Key/value pairs can't be nested into a JSON document.
    #[error("cannot nest key '{key}' into JSON: {reason}")]
    FromPairs {
        /// The key at fault.
        key: String,
        /// What is wrong.
        reason: String,
    },
}

impl Error {
    /// Whether this is [`Error::NothingToCommit`].
    pub fn is_nothing_to_commit(&self) -> bool {
        matches!(self, Error::NothingToCommit { .. })
    }
}

pub(crate) use fsutil::io_err;
