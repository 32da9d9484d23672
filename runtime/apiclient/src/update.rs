//! `apiclient update`: drives the server's update actions and waits for their results.
//!
//! Each action (`POST /actions/...`) only starts an update command on the server; the result
//! appears in `GET /updates/status` as `most_recent_command` once the command has finished
//! (until then the server answers 423, which is retried, as is a 423 to the action itself while
//! another command runs). A command counts as ours when its type matches and its timestamp is
//! not older than the moment we sent the action. Polling stops at the caller's timeout.

use std::path::Path;
use std::time::{Duration, Instant, SystemTime};

use api_model::{CommandStatus, CommandType, UpdateState, UpdateStatus};

use crate::{check, request, Error, Response, Result};

/// How often the status is polled while a command runs.
pub const POLL_INTERVAL: Duration = Duration::from_millis(250);
/// Default of how long to wait for an update command.
pub const DEFAULT_UPDATE_TIMEOUT: Duration = Duration::from_secs(1800);

const STATUS_URI: &str = "/updates/status";

/// Sends `method uri`, retrying while the server answers 423 (an update command runs); other
/// non-2xx answers are errors, except a 404 to the status, which is `None`. Returns the 2xx
/// response.
fn request_unlocked(
    socket: &Path,
    method: &str,
    uri: &str,
    deadline: Instant,
    waiting_for: &str,
    timeout: Duration,
) -> Result<Option<Response>> {
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
            _ => return Ok(Some(check(response, method, uri)?)),
        }
    }
}

/// `GET /updates/status`, waiting while a command runs; `None` before the first refresh.
fn get_status(
    socket: &Path,
    deadline: Instant,
    waiting_for: &str,
    timeout: Duration,
) -> Result<Option<UpdateStatus>> {
    let Some(response) =
        request_unlocked(socket, "GET", STATUS_URI, deadline, waiting_for, timeout)?
    else {
        return Ok(None);
    };
    serde_json::from_str(&response.body)
        .map(Some)
        .map_err(|e| Error::UpdateState {
            reason: format!("the server's answer to {STATUS_URI} is not an update status: {e}"),
        })
}

/// The current update status (waiting while a command runs); `None` before the first refresh.
pub fn update_status(socket: &Path, timeout: Duration) -> Result<Option<UpdateStatus>> {
    let deadline = Instant::now() + timeout;
    get_status(
        socket,
        deadline,
        "the running update command to finish",
        timeout,
    )
}

/// Whether `status`'s most recent command is a finished `cmd_type` started at or after `since`.
fn is_done(status: &UpdateStatus, cmd_type: CommandType, since: SystemTime) -> bool {
    let cmd = &status.most_recent_command;
    let started = humantime::parse_rfc3339(&cmd.timestamp).ok();
    cmd.cmd_type == cmd_type
        && cmd.cmd_status != CommandStatus::Unknown
        && started.is_some_and(|t| t >= since)
}

/// Starts the command `cmd_type` (its action route), waits for it to finish and returns the
/// status; [`Error::UpdateFailed`] if the command failed, [`Error::UpdateTimeout`] after
/// `timeout`.
pub fn run_update_action(
    socket: &Path,
    cmd_type: CommandType,
    timeout: Duration,
) -> Result<UpdateStatus> {
    let deadline = Instant::now() + timeout;
    let waiting_for = format!("update command '{cmd_type}' to finish");
    // Timestamps are whole nanoseconds in RFC 3339; the server stamps the command after this.
    let since = SystemTime::now();
    request_unlocked(
        socket,
        "POST",
        cmd_type.action_path(),
        deadline,
        &waiting_for,
        timeout,
    )?;
    loop {
        let status = get_status(socket, deadline, &waiting_for, timeout)?.ok_or_else(|| {
            Error::UpdateState {
                reason: format!("the server has no update status after starting '{cmd_type}'"),
            }
        })?;
        if is_done(&status, cmd_type, since) {
            let cmd = &status.most_recent_command;
            if cmd.cmd_status != CommandStatus::Success {
                return Err(Error::UpdateFailed {
                    cmd_type,
                    exit_status: cmd.exit_status,
                    stderr: cmd.stderr.clone(),
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
pub fn update_check(socket: &Path, timeout: Duration) -> Result<UpdateStatus> {
    run_update_action(socket, CommandType::Refresh, timeout)
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
) -> Result<Option<UpdateStatus>> {
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
    if status.update_state == UpdateState::Available {
        let version = status
            .chosen_update
            .as_ref()
            .map_or("(unknown version)", |image| image.version.as_str())
            .to_string();
        progress(&format!("Preparing update {version}"));
        status = run_update_action(socket, CommandType::Prepare, left())?;
        expect_state(&status, UpdateState::Staged)?;
        progress(&format!("Update {version} is staged"));
    }
    let staged = status
        .staging_partition
        .as_ref()
        .map_or("(unknown version)", |p| p.image.version.as_str())
        .to_string();
    match status.update_state {
        UpdateState::Staged => {
            progress(&format!("Activating update {staged}"));
            status = run_update_action(socket, CommandType::Activate, left())?;
            expect_state(&status, UpdateState::Ready)?;
            progress(&format!(
                "Update {staged} is activated and boots next; reboot to use it"
            ));
            Ok(Some(status))
        }
        UpdateState::Ready => {
            progress(&format!(
                "Update {staged} is already activated and boots next; reboot to use it"
            ));
            Ok(Some(status))
        }
        UpdateState::Idle if check => {
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
pub fn update_cancel(socket: &Path, timeout: Duration) -> Result<UpdateStatus> {
    let status = run_update_action(socket, CommandType::Deactivate, timeout)?;
    expect_state(&status, UpdateState::Staged)?;
    Ok(status)
}

fn expect_state(status: &UpdateStatus, state: UpdateState) -> Result<()> {
    if status.update_state == state {
        Ok(())
    } else {
        Err(Error::UpdateState {
            reason: format!(
                "expected update state {state} but the server reports \"{}\"",
                status.update_state
            ),
        })
    }
}

#[cfg(test)]
mod tests {
    use api_model::CommandResult;

    use super::*;

    #[test]
    fn recognizes_our_finished_command() {
        let since = SystemTime::now();
        let later = humantime::format_rfc3339_nanos(since + Duration::from_millis(1)).to_string();
        let earlier = humantime::format_rfc3339_nanos(since - Duration::from_secs(1)).to_string();
        let status = |ts: &str, st: CommandStatus| UpdateStatus {
            update_state: UpdateState::Idle,
            available_updates: Vec::new(),
            chosen_update: None,
            active_partition: None,
            staging_partition: None,
            most_recent_command: CommandResult {
                cmd_type: CommandType::Refresh,
                cmd_status: st,
                timestamp: ts.into(),
                exit_status: None,
                stderr: String::new(),
            },
        };
        let refresh = CommandType::Refresh;
        assert!(is_done(
            &status(&later, CommandStatus::Success),
            refresh,
            since
        ));
        assert!(is_done(
            &status(&later, CommandStatus::Failed),
            refresh,
            since
        ));
        assert!(!is_done(
            &status(&later, CommandStatus::Unknown),
            refresh,
            since
        ));
        assert!(!is_done(
            &status(&later, CommandStatus::Success),
            CommandType::Prepare,
            since
        ));
        assert!(!is_done(
            &status(&earlier, CommandStatus::Success),
            refresh,
            since
        ));
        assert!(!is_done(
            &status("junk", CommandStatus::Success),
            refresh,
            since
        ));
    }
}
