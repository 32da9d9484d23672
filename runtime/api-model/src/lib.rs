//! The vocabulary of the host API, shared by the server (`apiserver`) and its clients
//! (`apiclient`, `early-boot-config`): what goes over the socket, typed once.
//!
//! * [`update`]: the update status document of `GET /updates/status` ([`UpdateStatus`] with its
//!   [`UpdateState`], [`CommandType`] and [`CommandStatus`]), serialized with Bottlerocket's
//!   field names and values (`update_state`, `"Staged"`, `cmd_type`, `"refresh"`, ...).
//! * [`settings`]: the bodies that write settings: a nested [`SettingsPatch`] (built from dotted
//!   keys, with conflicts found in one place) and the [`KeyPair`]s of
//!   `PATCH /settings/keypair`.
//! * [`ChangedKeys`], the answer of the commit and apply routes, and [`ErrorBody`], the JSON body
//!   of every error answer.

#![warn(missing_docs)]

pub mod settings;
pub mod update;

pub use settings::{KeyPair, KeyPairError, PatchError, SettingsPatch};
pub use update::{
    CommandResult, CommandStatus, CommandType, Image, Partition, UpdateState, UpdateStatus,
};

use serde::{Deserialize, Serialize};

/// The answer of `POST /tx/commit`, `/tx/apply`, `/tx/commit_and_apply` and `DELETE /tx`: the
/// names of the keys changed (or applied, or discarded), sorted.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ChangedKeys(pub Vec<String>);

impl ChangedKeys {
    /// Sorts `names` into a key list.
    pub fn sorted(names: impl IntoIterator<Item = String>) -> Self {
        let mut names: Vec<String> = names.into_iter().collect();
        names.sort();
        Self(names)
    }
}

/// The JSON body of an error answer: `{"error": "..."}`, with the key at fault when there is
/// one, and for a failed apply the command's stderr tail and the keys that were committed
/// anyway. (Fields are in alphabetical order, the order the server has always sent.)
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorBody {
    /// For `commit_and_apply` whose apply failed: the keys the commit changed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub committed: Option<ChangedKeys>,
    /// What went wrong.
    pub error: String,
    /// The dotted key at fault, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    /// For a failed command: the tail of its standard error.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stderr: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn changed_keys_are_a_sorted_array() {
        let keys = ChangedKeys::sorted(["settings.b".to_string(), "settings.a".to_string()]);
        assert_eq!(
            serde_json::to_value(&keys).unwrap(),
            json!(["settings.a", "settings.b"])
        );
        assert_eq!(
            serde_json::from_value::<ChangedKeys>(json!(["x"]))
                .unwrap()
                .0,
            ["x"]
        );
    }

    #[test]
    fn error_bodies_serialize_as_served() {
        let plain = ErrorBody {
            error: "no such route '/x'".into(),
            ..Default::default()
        };
        assert_eq!(
            serde_json::to_string(&plain).unwrap(),
            r#"{"error":"no such route '/x'"}"#
        );
        let full = ErrorBody {
            committed: Some(ChangedKeys(vec!["settings.motd".into()])),
            error: "apply failed".into(),
            key: Some("settings.motd".into()),
            stderr: Some("boom".into()),
        };
        let text = serde_json::to_string(&full).unwrap();
        assert_eq!(
            text,
            r#"{"committed":["settings.motd"],"error":"apply failed","key":"settings.motd","stderr":"boom"}"#
        );
        assert_eq!(serde_json::from_str::<ErrorBody>(&text).unwrap(), full);
    }
}
