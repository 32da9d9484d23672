//! What a request asks for, parsed and validated ([`Action`], built by the `routes`), and what
//! the [`Controller`](crate::controller::Controller) answers ([`Reply`]). Neither knows HTTP.

use api_model::{ChangedKeys, CommandType};
use bytes::Bytes;
use datastore::{Committed, Key};
use serde_json::Value;

/// Which settings a `GET /settings` reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Selection {
    /// Every setting.
    All,
    /// These keys and everything below them (`keys=`).
    Keys(Vec<Key>),
    /// Every key whose name starts with this (`prefix=`).
    Prefix(String),
}

/// One request, typed.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// `GET /`: settings, services, configuration files and the os-release.
    GetRoot,
    /// `GET /settings`.
    GetSettings {
        /// Live, or a transaction overlaid on live.
        from: Committed,
        /// Which keys.
        selection: Selection,
        /// The raw query string, which names a rendered live answer in the cache.
        query: String,
    },
    /// `PATCH /settings` and `PATCH /settings/keypair`: validate and write a partial settings
    /// object (the object under `settings`) to a transaction.
    PatchSettings {
        /// The transaction.
        tx: String,
        /// The partial settings object.
        settings: Value,
    },
    /// `GET /tx`: a transaction's pending values.
    GetTx {
        /// The transaction.
        tx: String,
    },
    /// `DELETE /tx`: discard a transaction.
    DeleteTx {
        /// The transaction.
        tx: String,
    },
    /// `GET /tx/list`: open transactions.
    ListTx,
    /// `POST /tx/commit`.
    Commit {
        /// The transaction.
        tx: String,
    },
    /// `POST /tx/apply`: run the apply command for these keys (all live settings when `None`).
    Apply {
        /// The keys to apply.
        keys: Option<Vec<Key>>,
    },
    /// `POST /tx/commit_and_apply`.
    CommitAndApply {
        /// The transaction.
        tx: String,
    },
    /// `GET /os`.
    GetOs,
    /// `GET /metadata/...`: metadata `meta` by data key.
    GetMetadata {
        /// The metadata key, e.g. `affected-services`.
        meta: Key,
        /// Only these data keys (all when `None`).
        keys: Option<Vec<Key>>,
    },
    /// `GET /services`, `GET /configuration-files`: the live tree under `root`.
    GetTree {
        /// The root segment.
        root: &'static str,
        /// Only these children (all when `None`).
        names: Option<Vec<String>>,
    },
    /// `POST /actions/reboot`.
    Reboot,
    /// `POST /actions/{refresh,prepare,activate,deactivate}-update`.
    StartUpdate(CommandType),
    /// `GET /updates/status`.
    GetUpdateStatus,
}

impl Action {
    /// Whether executing it may block for long (it writes with fsync or runs a command), so
    /// the server runs it off the threads that serve connections.
    pub fn blocks(&self) -> bool {
        matches!(
            self,
            Action::PatchSettings { .. }
                | Action::DeleteTx { .. }
                | Action::Commit { .. }
                | Action::Apply { .. }
                | Action::CommitAndApply { .. }
                | Action::Reboot
                | Action::StartUpdate(_)
        )
    }
}

/// A successful answer.
#[derive(Debug, Clone, PartialEq)]
pub enum Reply {
    /// `204 No Content`.
    NoContent,
    /// `200` with a JSON body.
    Json(Value),
    /// `200` with an already serialized JSON body (a cached rendering).
    Serialized(Bytes),
}

impl Reply {
    /// `200` with a key list.
    pub fn keys(keys: ChangedKeys) -> Self {
        Reply::Json(Value::Array(
            keys.0.into_iter().map(Value::String).collect(),
        ))
    }
}

/// Serializes a JSON body as sent on the wire (with a trailing newline).
pub fn serialize_body(value: &impl serde::Serialize) -> Bytes {
    let mut b = serde_json::to_vec(value).unwrap_or_default();
    b.push(b'\n');
    b.into()
}
