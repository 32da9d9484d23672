//! `apiclient update`: drives the server's update actions and waits for their results.
//!
//! Each action (`POST /actions/...`) only starts an update command on the server; the result
//! appears in `GET /updates/status` as `most_recent_command` once the command has finished
//! (until then the server answers 423, which is retried, as is a 423 to the action itself while
//! another command runs). A command counts as ours when its type matches and its timestamp is
//! not older than the moment we sent the action. Polling stops at the caller's timeout.

use std::path::Path;
use std::time::{Duration, Instant, SystemTime};

use serde_json::Value;

use crate::{check, request, Error, Result};

/// How often the status is polled while a command runs.
pub const POLL_INTERVAL: Duration = Duration::from_millis(250);
/// Default of how long to wait for an update command.
pub const DEFAULT_UPDATE_TIMEOUT: Duration = Duration::from_secs(1800);

const STATUS_URI: &str = "/updates/status";

/// An update action of the API server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UpdateAction {
    /// `refresh-updates`: list the available updates and choose one.
    Refresh,
    /// `prepare-update`: write the chosen update to the inactive bank.
    Prepare,
    /// `activate-update`: boot the prepared bank next.
    Activate,
    /// `deactivate-update`: undo activate.
    Deactivate,
}

impl UpdateAction {
    /// The action's route.
    pub fn uri(self) -> &'static str {
        match self {
            UpdateAction::Refresh => "/actions/refresh-updates",
            UpdateAction::Prepare => "/actions/prepare-update",
            UpdateAction::Activate => "/actions/activate-update",
            UpdateAction::Deactivate => "/actions/deactivate-update",
        }
    }

    /// The `cmd_type` the status reports for it.
    pub fn cmd_type(self) -> &'static str {
        match self {
            UpdateAction::Refresh => "refresh",
            UpdateAction::Prepare => "prepare",
            UpdateAction::Activate => "activate",
            UpdateAction::Deactivate => "deactivate",
        }
    }
}

/// Sends `method uri`, retrying while the server answers 423 (an update command runs); other
/// non-2xx answers are errors, except a 404 to the status, which is `None`.
fn request_unlocked(
    socket: &Path,
    method: &str,
    uri: &str,
    deadline: Instant,
    waiting_for: &str,
    timeout: Duration,
) -> Result<Option<Value>> {
    loop {
        let response = request(socket, method, uri, None)?;
        match response.status {
            423 if Instant::now() < deadline => std::thread::sleep(POLL_INTERVAL),
            423 => {
                return Err(Error::UpdateTimeout {
                    waiting_for: waiting_for.to_string(),
                    timeout,
                })
            }
            404 if uri == STATUS_URI => return Ok(None),
            _ => return Ok(Some(check(response, method, uri)?.json())),
        }
    }
}

/// The current update status (waiting while a command runs); `None` before the first refresh.
pub fn update_status(socket: &Path, timeout: Duration) -> Result<Option<Value>> {
    let deadline = Instant::now() + timeout;
    request_unlocked(
        socket,
        "GET",
        STATUS_URI,
        deadline,
        "the running update command to finish",
        timeout,
    )
}

/// Whether `status`'s most recent command is a finished `cmd_type` started at or after `since`.
fn is_done(status: &Value, cmd_type: &str, since: SystemTime) -> bool {
    let cmd = &status["most_recent_command"];
    let started = cmd["timestamp"]
        .as_str()
        .and_then(|t| humantime::parse_rfc3339(t).ok());
    cmd["cmd_type"] == cmd_type
        && cmd["cmd_status"] != "Unknown"
        && started.is_some_and(|t| t >= since)
}

/// Starts `action`, waits for it to finish and returns the status; [`Error::UpdateFailed`] if
/// the command failed, [`Error::UpdateTimeout`] after `timeout`.
pub fn run_update_action(socket: &Path, action: UpdateAction, timeout: Duration) -> Result<Value> {
    let deadline = Instant::now() + timeout;
    let cmd_type = action.cmd_type();
    let waiting_for = format!("update command '{cmd_type}' to finish");
    // Timestamps are whole nanoseconds in RFC 3339; the server stamps the command after this.
    let since = SystemTime::now();
    request_unlocked(
        socket,
        "POST",
        action.uri(),
        deadline,
        &waiting_for,
        timeout,
    )?;
    loop {
        let status = request_unlocked(socket, "GET", STATUS_URI, deadline, &waiting_for, timeout)?
            .ok_or_else(|| Error::UpdateState {
                reason: format!("the server has no update status after starting '{cmd_type}'"),
            })?;
        if is_done(&status, cmd_type, since) {
            let cmd = &status["most_recent_command"];
            if cmd["cmd_status"] != "Success" {
                return Err(Error::UpdateFailed {
                    cmd_type: cmd_type.to_string(),
                    exit_status: cmd["exit_status"].as_i64(),
                    stderr: cmd["stderr"].as_str().unwrap_or_default().to_string(),
                });
            }
            return Ok(status);
        }
        if Instant::now() >= deadline {
            return Err(Error::UpdateTimeout {
                waiting_for,
                timeout,
            });
        }
        std::thread::sleep(POLL_INTERVAL);
    }
}

/// `apiclient update check`: refreshes the list of updates and returns the new status.
pub fn update_check(socket: &Path, timeout: Duration) -> Result<Value> {
    run_update_action(socket, UpdateAction::Refresh, timeout)
}

/// The `update_state` of a status.
fn state_of(status: &Value) -> &str {
    status["update_state"].as_str().unwrap_or_default()
}

/// `apiclient update apply`: with `check`, refreshes first; then prepares the chosen update (if
/// the state is `Available`) and activates it (if `Staged`), so the state ends `Ready`.
/// `progress` gets a line for each step. Returns the final status, or `None` when `check` found
/// no update (not an error). Without `check`, no status or no chosen update is an error.
pub fn update_apply(
    socket: &Path,
    check: bool,
    timeout: Duration,
    progress: &mut dyn FnMut(&str),
) -> Result<Option<Value>> {
    let deadline = Instant::now() + timeout;
    let left = || deadline.saturating_duration_since(Instant::now());
    let mut status = if check {
        progress("Refreshing the list of updates");
        update_check(socket, left())?
    } else {
        update_status(socket, left())?.ok_or_else(|| Error::UpdateState {
            reason: "no update status yet; run 'apiclient update check' or use --check".into(),
        })?
    };
    if state_of(&status) == "Available" {
        let version = status["chosen_update"]["version"]
            .as_str()
            .unwrap_or("(unknown version)")
            .to_string();
        progress(&format!("Preparing update {version}"));
        status = run_update_action(socket, UpdateAction::Prepare, left())?;
        expect_state(&status, "Staged")?;
        progress(&format!("Update {version} is staged"));
    }
    let staged = status["staging_partition"]["image"]["version"]
        .as_str()
        .unwrap_or("(unknown version)")
        .to_string();
    match state_of(&status) {
        "Staged" => {
            progress(&format!("Activating update {staged}"));
            status = run_update_action(socket, UpdateAction::Activate, left())?;
            expect_state(&status, "Ready")?;
            progress(&format!(
                "Update {staged} is activated and boots next; reboot to use it"
            ));
            Ok(Some(status))
        }
        "Ready" => {
            progress(&format!(
                "Update {staged} is already activated and boots next; reboot to use it"
            ));
            Ok(Some(status))
        }
        "Idle" if check => {
            progress("No update available");
            Ok(None)
        }
        state => Err(Error::UpdateState {
            reason: format!(
                "no update is chosen (update state {state}); run 'apiclient update check' or \
                 use --check"
            ),
        }),
    }
}

/// `apiclient update cancel`: deactivates a `Ready` update, so the state is `Staged` again.
pub fn update_cancel(socket: &Path, timeout: Duration) -> Result<Value> {
    let status = run_update_action(socket, UpdateAction::Deactivate, timeout)?;
    expect_state(&status, "Staged")?;
    Ok(status)
}

fn expect_state(status: &Value, state: &str) -> Result<()> {
    if status["update_state"] == state {
        Ok(())
    } else {
        Err(Error::UpdateState {
            reason: format!(
                "expected update state {state} but the server reports {}",
                status["update_state"]
            ),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn recognizes_our_finished_command() {
        let since = SystemTime::now();
        let later = humantime::format_rfc3339_nanos(since + Duration::from_millis(1)).to_string();
        let earlier = humantime::format_rfc3339_nanos(since - Duration::from_secs(1)).to_string();
        let status = |ts: &str, st: &str| json!({"most_recent_command": {"cmd_type": "refresh", "cmd_status": st, "timestamp": ts}});
        assert!(is_done(&status(&later, "Success"), "refresh", since));
        assert!(is_done(&status(&later, "Failed"), "refresh", since));
        assert!(!is_done(&status(&later, "Unknown"), "refresh", since));
        assert!(!is_done(&status(&later, "Success"), "prepare", since));
        assert!(!is_done(&status(&earlier, "Success"), "refresh", since));
        assert!(!is_done(&status("junk", "Success"), "refresh", since));
    }
}
