//! The update status document (`GET /updates/status`, also persisted by the server), with
//! Bottlerocket's `thar-be-updates` field names and values.

use std::fmt;

use serde::{Deserialize, Serialize};

/// The state of the update state machine: `Idle` → (refresh) `Available` → (prepare) `Staged`
/// → (activate) `Ready` → (deactivate) `Staged`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum UpdateState {
    /// No update is chosen.
    Idle,
    /// An update is chosen but not written.
    Available,
    /// The chosen update is written to the inactive bank.
    Staged,
    /// The staged update boots next.
    Ready,
}

impl fmt::Display for UpdateState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self, f)
    }
}

/// An update command, started by its action route.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CommandType {
    /// `POST /actions/refresh-updates`: list the available updates and choose one.
    Refresh,
    /// `POST /actions/prepare-update`: write the chosen update to the inactive bank.
    Prepare,
    /// `POST /actions/activate-update`: boot the prepared bank next.
    Activate,
    /// `POST /actions/deactivate-update`: undo activate.
    Deactivate,
}

impl CommandType {
    /// Every command, in the order of the state machine.
    pub const ALL: [CommandType; 4] = [
        CommandType::Refresh,
        CommandType::Prepare,
        CommandType::Activate,
        CommandType::Deactivate,
    ];

    /// The `cmd_type` name, e.g. `refresh`.
    pub const fn as_str(self) -> &'static str {
        match self {
            CommandType::Refresh => "refresh",
            CommandType::Prepare => "prepare",
            CommandType::Activate => "activate",
            CommandType::Deactivate => "deactivate",
        }
    }

    /// The update states in which the command may start.
    pub const fn allowed_in(self) -> &'static [UpdateState] {
        match self {
            CommandType::Refresh => &[
                UpdateState::Idle,
                UpdateState::Available,
                UpdateState::Staged,
                UpdateState::Ready,
            ],
            CommandType::Prepare => &[UpdateState::Available, UpdateState::Staged],
            CommandType::Activate => &[UpdateState::Staged],
            CommandType::Deactivate => &[UpdateState::Ready],
        }
    }

    /// The route that starts the command (`POST`).
    pub const fn action_path(self) -> &'static str {
        match self {
            CommandType::Refresh => "/actions/refresh-updates",
            CommandType::Prepare => "/actions/prepare-update",
            CommandType::Activate => "/actions/activate-update",
            CommandType::Deactivate => "/actions/deactivate-update",
        }
    }
}

impl fmt::Display for CommandType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How a command ended; `Unknown` while it runs (or when the server died while it ran).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum CommandStatus {
    /// It succeeded.
    Success,
    /// It failed; `stderr` says why.
    Failed,
    /// It has not finished.
    Unknown,
}

/// An OS image: what a partition holds or an update offers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Image {
    /// The architecture, e.g. `x86_64`.
    pub arch: String,
    /// The version, e.g. `1.4.0`.
    pub version: String,
    /// The variant, e.g. `aws-k8s-1.31`.
    pub variant: String,
}

/// A boot bank's image and whether it boots next.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Partition {
    /// What the bank holds.
    pub image: Image,
    /// Whether it boots next.
    pub next_to_boot: bool,
}

/// The most recent update command.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CommandResult {
    /// Which command.
    pub cmd_type: CommandType,
    /// How it ended.
    pub cmd_status: CommandStatus,
    /// When it was accepted, RFC 3339.
    pub timestamp: String,
    /// The exit status of its (last) updog run, if it exited.
    pub exit_status: Option<i32>,
    /// The tail of its standard error, or why it failed.
    pub stderr: String,
}

/// The status document served by `GET /updates/status`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UpdateStatus {
    /// The state.
    pub update_state: UpdateState,
    /// Available versions, newest first.
    pub available_updates: Vec<String>,
    /// The update a prepare would write.
    pub chosen_update: Option<Image>,
    /// The running bank.
    pub active_partition: Option<Partition>,
    /// The other bank, once an update is staged there.
    pub staging_partition: Option<Partition>,
    /// The most recent command.
    pub most_recent_command: CommandResult,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn sample() -> UpdateStatus {
        let image = |version: &str| Image {
            arch: "x86_64".into(),
            version: version.into(),
            variant: "aws-k8s-1.31".into(),
        };
        UpdateStatus {
            update_state: UpdateState::Staged,
            available_updates: vec!["1.4.0".into(), "1.3.0".into()],
            chosen_update: Some(image("1.4.0")),
            active_partition: Some(Partition {
                image: image("1.2.3"),
                next_to_boot: true,
            }),
            staging_partition: Some(Partition {
                image: image("1.4.0"),
                next_to_boot: false,
            }),
            most_recent_command: CommandResult {
                cmd_type: CommandType::Prepare,
                cmd_status: CommandStatus::Success,
                timestamp: "2026-01-01T00:00:00.000000000Z".into(),
                exit_status: Some(0),
                stderr: String::new(),
            },
        }
    }

    #[test]
    fn status_has_bottlerocket_field_names_and_values() {
        let value = serde_json::to_value(sample()).unwrap();
        let image = |version: &str| json!({"arch": "x86_64", "version": version, "variant": "aws-k8s-1.31"});
        assert_eq!(
            value,
            json!({
                "update_state": "Staged",
                "available_updates": ["1.4.0", "1.3.0"],
                "chosen_update": image("1.4.0"),
                "active_partition": {"image": image("1.2.3"), "next_to_boot": true},
                "staging_partition": {"image": image("1.4.0"), "next_to_boot": false},
                "most_recent_command": {
                    "cmd_type": "prepare", "cmd_status": "Success",
                    "timestamp": "2026-01-01T00:00:00.000000000Z", "exit_status": 0, "stderr": ""
                }
            })
        );
        // Field order on the wire is the declaration order above.
        let text = serde_json::to_string(&sample()).unwrap();
        assert!(
            text.starts_with(r#"{"update_state":"Staged","available_updates":"#),
            "{text}"
        );
        assert_eq!(
            serde_json::from_str::<UpdateStatus>(&text).unwrap(),
            sample()
        );
    }

    #[test]
    fn enums_round_trip_by_their_wire_names() {
        for (state, name) in [
            (UpdateState::Idle, "Idle"),
            (UpdateState::Available, "Available"),
            (UpdateState::Staged, "Staged"),
            (UpdateState::Ready, "Ready"),
        ] {
            assert_eq!(serde_json::to_value(state).unwrap(), json!(name));
            assert_eq!(
                serde_json::from_value::<UpdateState>(json!(name)).unwrap(),
                state
            );
            assert_eq!(state.to_string(), name);
        }
        for cmd in CommandType::ALL {
            assert_eq!(serde_json::to_value(cmd).unwrap(), json!(cmd.as_str()));
            assert_eq!(
                serde_json::from_value::<CommandType>(json!(cmd.as_str())).unwrap(),
                cmd
            );
            assert!(cmd.action_path().starts_with("/actions/"));
            assert!(!cmd.allowed_in().is_empty());
        }
        for (status, name) in [
            (CommandStatus::Success, "Success"),
            (CommandStatus::Failed, "Failed"),
            (CommandStatus::Unknown, "Unknown"),
        ] {
            assert_eq!(serde_json::to_value(status).unwrap(), json!(name));
            assert_eq!(
                serde_json::from_value::<CommandStatus>(json!(name)).unwrap(),
                status
            );
        }
        assert!(serde_json::from_value::<UpdateState>(json!("staged")).is_err());
        assert!(serde_json::from_value::<CommandType>(json!("Refresh")).is_err());
    }
}
