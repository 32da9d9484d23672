//! The update API: Bottlerocket's `thar-be-updates` semantics over the `updog` command.
//!
//! # State machine
//!
//! | State | refresh | prepare | activate | deactivate |
//! |---|---|---|---|---|
//! | `Idle` | → `Available` if an update is chosen, else `Idle` | 409 | 409 | 409 |
//! | `Available` | same as `Idle` | → `Staged` (failure → `Available`) | 409 | 409 |
//! | `Staged` | lists only | → `Staged` (failure → `Available`) | → `Ready` | 409 |
//! | `Ready` | lists only | 409 | 409 | → `Staged` |
//!
//! An action is accepted (204) once its `updog` child is started on a background thread; until it
//! ends, every action and `GET /updates/status` are answered 423. A prepare without a chosen
//! update is a 409 as well.
//!
//! | Action | updog command |
//! |---|---|
//! | refresh | `check-update --all --json` (the available versions), then `check-update --json` (the chosen update) |
//! | prepare | `update-image --image <chosen version> --ignore-waves` |
//! | activate | `update-apply` |
//! | deactivate | `update-revert` |
//!
//! A child that cannot be started, exits non-zero or prints output that is not the expected JSON
//! makes the command `Failed`, with the reason (or the tail of the child's stderr) in
//! `most_recent_command.stderr`; the action's request itself already got its 204.
//!
//! # Status
//!
//! The status document is written atomically (temporary file, fsync, rename) when a command
//! starts (with `cmd_status` `Unknown`) and when it ends, and read back when the server starts,
//! so a restart keeps the state. `active_partition` and `staging_partition` are recomputed on
//! every read: the images from the os-release file (this OS) and from the version prepared; which
//! bank boots next from the disk's GPT (`signpost`), or, when the disk cannot be read (no
//! Bottlerocket disk, e.g. in tests), from the state (`Ready` means the staging bank is next).

use std::io::Read;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc::RecvTimeoutError;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime};

use api_model::{
    CommandResult, CommandStatus, CommandType, Image, Partition, UpdateState, UpdateStatus,
};
use tracing::{debug, info, warn};
use update_metadata::Update;

use crate::error::ApiError;

/// Default of [`UpdateConfig::updog_command`].
pub const DEFAULT_UPDOG_COMMAND: &str = "updog";
/// Default of [`UpdateConfig::status_path`] (where Bottlerocket's `thar-be-updates` keeps it).
pub const DEFAULT_UPDATE_STATUS_PATH: &str = "/run/cache/thar-be-updates/status.json";
/// How much of an updog command's stderr is kept in the status, in bytes (the tail).
const STDERR_CAP: usize = 16 * 1024;
/// The most of an updog command's stdout that is read, in bytes.
const STDOUT_CAP: u64 = 64 << 20;

/// How the server runs and reports updates.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpdateConfig {
    /// The updog command: program and extra arguments (e.g. `--config`), before the subcommand.
    pub updog_command: Vec<String>,
    /// Where the update status is kept (its parent directory is created when needed).
    pub status_path: PathBuf,
    /// The OS disk, for which bank boots next; `None` = the disk holding the running root.
    pub signpost_disk: Option<PathBuf>,
    /// How long one updog run may take before it is stopped and the command fails (a stalled
    /// mirror must not hold the update lock forever).
    pub command_timeout: Duration,
}

/// Default of [`UpdateConfig::command_timeout`]: enough for a few GiB on a slow link.
pub const DEFAULT_UPDATE_COMMAND_TIMEOUT: Duration = Duration::from_secs(3600);

impl Default for UpdateConfig {
    fn default() -> Self {
        Self {
            updog_command: vec![DEFAULT_UPDOG_COMMAND.to_string()],
            status_path: DEFAULT_UPDATE_STATUS_PATH.into(),
            signpost_disk: None,
            command_timeout: DEFAULT_UPDATE_COMMAND_TIMEOUT,
        }
    }
}

/// The image an update offers.
fn image_of(u: &Update) -> Image {
    Image {
        arch: u.arch.clone(),
        version: u.version.to_string(),
        variant: u.variant.clone(),
    }
}

/// The update side of the server state.
pub(crate) struct Updates {
    config: UpdateConfig,
    os_release_path: PathBuf,
    inner: Mutex<Inner>,
}

struct Inner {
    /// `None` until the first command.
    status: Option<UpdateStatus>,
    /// The command whose child is running.
    running: Option<CommandType>,
}

/// What a finished command produced.
struct Outcome {
    success: bool,
    exit_status: Option<i32>,
    stderr: String,
    /// For a successful refresh: every applicable update and the chosen one.
    refreshed: Option<(Vec<Update>, Option<Update>)>,
}

impl Outcome {
    fn failed(stderr: String, exit_status: Option<i32>) -> Self {
        Self {
            success: false,
            exit_status,
            stderr,
            refreshed: None,
        }
    }
}

/// One run of an updog child.
struct ChildRun {
    success: bool,
    exit_status: Option<i32>,
    stdout: Vec<u8>,
    stderr: String,
}

/// A status saved while a command ran (`Unknown`) means the server stopped before it ended. The
/// command counts as failed; an interrupted prepare may have left the inactive bank half written
/// (updog clears it first, so it is not bootable), so nothing is staged any more.
fn recover_interrupted(status: &mut UpdateStatus) {
    let command = &mut status.most_recent_command;
    if command.cmd_status != CommandStatus::Unknown {
        return;
    }
    command.cmd_status = CommandStatus::Failed;
    command.stderr = format!(
        "the API server stopped while '{}' ran; run it again",
        command.cmd_type
    );
    if command.cmd_type == CommandType::Prepare {
        status.staging_partition = None;
        status.update_state = if status.chosen_update.is_some() {
            UpdateState::Available
        } else {
            UpdateState::Idle
        };
    }
}

impl Updates {
    /// Loads the persisted status, if any. A status that can't be read or parsed is logged and
    /// ignored (the next command replaces it), so a damaged cache file never keeps the API down.
    pub(crate) fn load(config: UpdateConfig, os_release_path: PathBuf) -> Self {
        let path = &config.status_path;
        let status = match std::fs::read(path) {
            Ok(bytes) => match serde_json::from_slice::<UpdateStatus>(&bytes) {
                Ok(mut s) => {
                    recover_interrupted(&mut s);
                    info!(
                        "loaded update status from '{}': {}",
                        path.display(),
                        s.update_state
                    );
                    Some(s)
                }
                Err(e) => {
                    warn!(
                        "ignoring unparsable update status '{}': {e}",
                        path.display()
                    );
                    None
                }
            },
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(e) => {
                warn!(
                    "ignoring unreadable update status '{}': {e}",
                    path.display()
                );
                None
            }
        };
        Self {
            config,
            os_release_path,
            inner: Mutex::new(Inner {
                status,
                running: None,
            }),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// `GET /updates/status`: 423 while a command runs, 404 before the first command.
    pub(crate) fn status(&self) -> Result<UpdateStatus, ApiError> {
        let mut status = {
            let inner = self.lock();
            if let Some(cmd) = inner.running {
                return Err(locked(cmd));
            }
            inner
                .status
                .clone()
                .ok_or_else(|| ApiError::new(404, "no update status yet"))?
        };
        self.fill_partitions(&mut status);
        Ok(status)
    }

    /// Checks that `cmd` is allowed now, records it as running and starts its updog child on a
    /// background thread.
    pub(crate) fn start(self: &Arc<Self>, cmd: CommandType) -> Result<(), ApiError> {
        let mut inner = self.lock();
        if let Some(running) = inner.running {
            return Err(locked(running));
        }
        let state = inner
            .status
            .as_ref()
            .map_or(UpdateState::Idle, |s| s.update_state);
        if !cmd.allowed_in().contains(&state) {
            let allowed_in: Vec<String> =
                cmd.allowed_in().iter().map(ToString::to_string).collect();
            return Err(ApiError::new(
                409,
                format!(
                    "cannot {cmd} in update state {state}: {cmd} is allowed in {}",
                    allowed_in.join(" or ")
                ),
            ));
        }
        let target = match cmd {
            CommandType::Prepare => Some(
                inner
                    .status
                    .as_ref()
                    .and_then(|s| s.chosen_update.clone())
                    .ok_or_else(|| {
                        ApiError::new(
                            409,
                            "cannot prepare: no update is chosen (refresh-updates found none)",
                        )
                    })?,
            ),
            _ => None,
        };
        let timestamp = humantime::format_rfc3339_nanos(SystemTime::now()).to_string();
        let command = CommandResult {
            cmd_type: cmd,
            cmd_status: CommandStatus::Unknown,
            timestamp,
            exit_status: None,
            stderr: String::new(),
        };
        let mut status = match inner.status.clone() {
            Some(mut s) => {
                s.most_recent_command = command;
                s
            }
            None => UpdateStatus {
                update_state: UpdateState::Idle,
                available_updates: Vec::new(),
                chosen_update: None,
                active_partition: None,
                staging_partition: None,
                most_recent_command: command,
            },
        };
        self.persist(&mut status)?;
        inner.status = Some(status);
        inner.running = Some(cmd);
        drop(inner);
        info!("update command {cmd} started");
        let this = Arc::clone(self);
        let spawned = std::thread::Builder::new()
            .name(format!("update-{cmd}"))
            .spawn(move || {
                let outcome = this.execute(cmd, target.as_ref());
                this.finish(cmd, target, outcome);
            });
        if let Err(e) = spawned {
            let reason = format!("failed to start a thread for update command {cmd}: {e}");
            self.finish(cmd, None, Outcome::failed(reason.clone(), None));
            return Err(ApiError::new(500, reason));
        }
        Ok(())
    }

    /// Runs the updog commands of `cmd` (on the background thread, without the lock).
    fn execute(&self, cmd: CommandType, target: Option<&Image>) -> Outcome {
        match (cmd, target) {
            (CommandType::Refresh, _) => self.refresh(),
            (CommandType::Prepare, Some(image)) => {
                self.simple(&["update-image", "--image", &image.version, "--ignore-waves"])
            }
            (CommandType::Prepare, None) => Outcome::failed(
                "internal error: prepare without a chosen update".into(),
                None,
            ),
            (CommandType::Activate, _) => self.simple(&["update-apply"]),
            (CommandType::Deactivate, _) => self.simple(&["update-revert"]),
        }
    }

    fn simple(&self, args: &[&str]) -> Outcome {
        let run = self.run_updog(args);
        Outcome {
            success: run.success,
            exit_status: run.exit_status,
            stderr: run.stderr,
            refreshed: None,
        }
    }

    fn refresh(&self) -> Outcome {
        let all = self.run_updog(&["check-update", "--all", "--json"]);
        if !all.success {
            return Outcome::failed(all.stderr, all.exit_status);
        }
        let all_updates = match parse_updates(&all.stdout, "check-update --all") {
            Ok(u) => u,
            Err(e) => return Outcome::failed(join(&all.stderr, &e), all.exit_status),
        };
        let chosen = self.run_updog(&["check-update", "--json"]);
        let stderr = join(&all.stderr, &chosen.stderr);
        if !chosen.success {
            return Outcome::failed(stderr, chosen.exit_status);
        }
        let chosen_updates = match parse_updates(&chosen.stdout, "check-update") {
            Ok(u) => u,
            Err(e) => return Outcome::failed(join(&stderr, &e), chosen.exit_status),
        };
        if chosen_updates.len() > 1 {
            let e = format!(
                "updog check-update printed {} updates; expected at most one",
                chosen_updates.len()
            );
            return Outcome::failed(join(&stderr, &e), chosen.exit_status);
        }
        Outcome {
            success: true,
            exit_status: chosen.exit_status,
            stderr,
            refreshed: Some((all_updates, chosen_updates.into_iter().next())),
        }
    }

    /// Runs `updog <args>`, capturing stdout and the tail of stderr; a child that can't be
    /// started is a failed run with the reason as its stderr.
    fn run_updog(&self, args: &[&str]) -> ChildRun {
        let argv = &self.config.updog_command;
        let shown = format!("{} {}", argv.join(" "), args.join(" "));
        debug!("running '{shown}'");
        let spawned = Command::new(&argv[0])
            .args(&argv[1..])
            .args(args)
            // Its own process group, so a timeout stops whatever it started too.
            .process_group(0)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn();
        let child = match spawned {
            Ok(c) => c,
            Err(e) => {
                warn!("failed to run '{shown}': {e}");
                return ChildRun {
                    success: false,
                    exit_status: None,
                    stdout: Vec::new(),
                    stderr: format!("failed to run '{shown}': {e}"),
                };
            }
        };
        let mut child = child;
        let (stdout_pipe, stderr_pipe) = (child.stdout.take(), child.stderr.take());
        // The watchdog stops a child that runs past the timeout; the pipes then close and the
        // reads below end. (The child is only reaped after `done`, so its pid stays its own.)
        let child = Arc::new(Mutex::new(child));
        let (done, finished) = std::sync::mpsc::channel::<()>();
        let timed_out = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let watchdog = {
            let (child, timed_out) = (Arc::clone(&child), Arc::clone(&timed_out));
            let timeout = self.config.command_timeout;
            std::thread::spawn(move || {
                if finished.recv_timeout(timeout) == Err(RecvTimeoutError::Timeout) {
                    timed_out.store(true, std::sync::atomic::Ordering::SeqCst);
                    let mut child = child.lock().unwrap_or_else(|p| p.into_inner());
                    // The child leads its own process group (`process_group(0)`), which exists
                    // until it is reaped: stop every process updog started too.
                    if let Some(group) = rustix::process::Pid::from_raw(child.id() as i32) {
                        let _ = rustix::process::kill_process_group(
                            group,
                            rustix::process::Signal::KILL,
                        );
                    }
                    let _ = child.kill();
                }
            })
        };
        let stderr_reader = stderr_pipe.map(|mut pipe| {
            std::thread::spawn(move || {
                let mut buf = Vec::new();
                let _ = pipe.read_to_end(&mut buf);
                buf
            })
        });
        let mut stdout = Vec::new();
        if let Some(pipe) = stdout_pipe {
            let mut limited = pipe.take(STDOUT_CAP);
            let _ = limited.read_to_end(&mut stdout);
            // Drain anything beyond the cap so the child doesn't block on a full pipe.
            let _ = std::io::copy(&mut limited.into_inner(), &mut std::io::sink());
        }
        let stderr = stderr_reader
            .and_then(|h| h.join().ok())
            .unwrap_or_default();
        let start = stderr.len().saturating_sub(STDERR_CAP);
        let mut stderr = String::from_utf8_lossy(&stderr[start..])
            .trim_end()
            .to_string();
        let _ = done.send(());
        let _ = watchdog.join();
        if timed_out.load(std::sync::atomic::Ordering::SeqCst) {
            let limit = humantime::format_duration(self.config.command_timeout);
            warn!("'{shown}' ran longer than {limit} and was stopped");
            stderr = join(
                &stderr,
                &format!("'{shown}' ran longer than {limit} and was stopped"),
            );
        }
        let waited = child.lock().unwrap_or_else(|p| p.into_inner()).wait();
        match waited {
            Ok(status) => {
                if !status.success() {
                    warn!("'{shown}' failed ({status}): {stderr}");
                }
                ChildRun {
                    success: status.success(),
                    exit_status: status.code(),
                    stdout,
                    stderr,
                }
            }
            Err(e) => ChildRun {
                success: false,
                exit_status: None,
                stdout,
                stderr: join(&stderr, &format!("failed to wait for '{shown}': {e}")),
            },
        }
    }

    /// Records the end of `cmd`: the state transition, the command result; persists.
    fn finish(&self, cmd: CommandType, target: Option<Image>, outcome: Outcome) {
        let mut inner = self.lock();
        inner.running = None;
        let Some(mut status) = inner.status.take() else {
            // `start` always sets a status before running a command.
            warn!("update command {cmd} finished without a status");
            return;
        };
        let state = status.update_state;
        match (cmd, outcome.success) {
            (CommandType::Refresh, true) => {
                if let Some((all, chosen)) = &outcome.refreshed {
                    let mut versions: Vec<_> = all.iter().map(|u| &u.version).collect();
                    versions.sort_by(|a, b| b.cmp(a));
                    versions.dedup();
                    status.available_updates = versions.iter().map(|v| v.to_string()).collect();
                    status.chosen_update = chosen.as_ref().map(image_of);
                }
                if matches!(state, UpdateState::Idle | UpdateState::Available) {
                    status.update_state = if status.chosen_update.is_some() {
                        UpdateState::Available
                    } else {
                        UpdateState::Idle
                    };
                }
            }
            (CommandType::Prepare, true) => {
                status.update_state = UpdateState::Staged;
                status.staging_partition = target.map(|image| Partition {
                    image,
                    next_to_boot: false,
                });
            }
            (CommandType::Prepare, false) => {
                // The inactive bank may be half written: nothing is staged any more.
                status.update_state = UpdateState::Available;
                status.staging_partition = None;
            }
            (CommandType::Activate, true) => status.update_state = UpdateState::Ready,
            (CommandType::Deactivate, true) => status.update_state = UpdateState::Staged,
            (CommandType::Refresh | CommandType::Activate | CommandType::Deactivate, false) => {}
        }
        let result = &mut status.most_recent_command;
        result.cmd_status = if outcome.success {
            CommandStatus::Success
        } else {
            CommandStatus::Failed
        };
        result.exit_status = outcome.exit_status;
        result.stderr = outcome.stderr;
        info!(
            "update command {cmd} finished: {:?}, update state {}",
            result.cmd_status, status.update_state
        );
        if let Err(e) = self.persist(&mut status) {
            warn!("{}", e.body.error);
        }
        inner.status = Some(status);
    }

    /// Fills in the partitions (see the module documentation).
    fn fill_partitions(&self, status: &mut UpdateStatus) {
        let os = match std::fs::read_to_string(&self.os_release_path) {
            Ok(text) => crate::os_release::parse(&text),
            Err(e) => {
                warn!(
                    "failed to read os-release '{}': {e}",
                    self.os_release_path.display()
                );
                Default::default()
            }
        };
        let field = |k: &str| os.get(k).cloned().unwrap_or_default();
        let image = Image {
            arch: std::env::consts::ARCH.to_string(),
            version: field("version_id"),
            variant: field("variant_id"),
        };
        let active_next = self
            .active_is_next()
            .unwrap_or(status.update_state != UpdateState::Ready);
        status.active_partition = Some(Partition {
            image,
            next_to_boot: active_next,
        });
        if let Some(staging) = &mut status.staging_partition {
            staging.next_to_boot = !active_next;
        }
    }

    /// Whether the active bank boots next, from the disk; `None` if the disk can't tell.
    fn active_is_next(&self) -> Option<bool> {
        let options = signpost::LoadOptions {
            disk: self.config.signpost_disk.clone(),
            ..Default::default()
        };
        let disk = match signpost::Signpost::load(&options) {
            Ok(d) => d,
            Err(e) => {
                debug!("boot banks unknown, judging from the update state: {e}");
                return None;
            }
        };
        let (active, _) = disk.active()?;
        Some(disk.peek_next()?.bank == active)
    }

    /// Writes the status atomically (partitions filled in).
    fn persist(&self, status: &mut UpdateStatus) -> Result<(), ApiError> {
        self.fill_partitions(status);
        let path = &self.config.status_path;
        let mut bytes = serde_json::to_vec_pretty(status)
            .map_err(|e| ApiError::new(500, format!("failed to serialize update status: {e}")))?;
        bytes.push(b'\n');
        write_atomically(path, &bytes)
            .map_err(|e| ApiError::new(500, logging::Chain(&e).to_string()))
    }
}

/// The 423 answer while `cmd` runs.
fn locked(cmd: CommandType) -> ApiError {
    ApiError::new(
        423,
        format!("update command '{cmd}' is running; try again when it has finished"),
    )
}

/// Parses updog's `--json` output: an array of manifest update entries.
fn parse_updates(stdout: &[u8], what: &str) -> Result<Vec<Update>, String> {
    serde_json::from_slice(stdout).map_err(|e| {
        let start = stdout.len().saturating_sub(512);
        format!(
            "updog {what} printed no valid JSON array of updates ({e}): {}",
            String::from_utf8_lossy(&stdout[start..]).trim()
        )
    })
}

/// Joins two stderr texts with a newline, skipping empty ones, keeping the last
/// [`STDERR_CAP`] bytes.
fn join(a: &str, b: &str) -> String {
    let joined = match (a.is_empty(), b.is_empty()) {
        (true, _) => b.to_string(),
        (_, true) => a.to_string(),
        _ => format!("{a}\n{b}"),
    };
    let mut start = joined.len().saturating_sub(STDERR_CAP);
    while !joined.is_char_boundary(start) {
        start += 1;
    }
    joined[start..].to_string()
}

/// Writes `bytes` to `path` atomically (see [`fsutil::atomic_write`]), its directory created
/// if missing.
fn write_atomically(path: &Path, bytes: &[u8]) -> Result<(), fsutil::IoError> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(fsutil::io_err("create", dir))?;
    }
    fsutil::atomic_write(path, bytes, 0o644)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_updog_output() {
        let json = br#"[{"variant": "aws-dev", "arch": "x86_64", "version": "1.2.0",
            "max_version": "1.2.0", "waves": {},
            "images": {"boot": "b.lz4", "root": "r.lz4", "hash": "h.lz4"}}]"#;
        let updates = parse_updates(json, "check-update").unwrap();
        assert_eq!(
            image_of(&updates[0]),
            Image {
                arch: "x86_64".into(),
                version: "1.2.0".into(),
                variant: "aws-dev".into()
            }
        );
        assert!(parse_updates(b"[]", "x").unwrap().is_empty());
        let e = parse_updates(b"oops", "check-update").unwrap_err();
        assert!(e.contains("oops"), "{e}");
    }

    #[test]
    fn joins_and_caps_stderr() {
        assert_eq!(join("", "b"), "b");
        assert_eq!(join("a", ""), "a");
        assert_eq!(join("a", "b"), "a\nb");
        let long = "é".repeat(STDERR_CAP);
        assert!(join(&long, "end").len() <= STDERR_CAP);
        assert!(join(&long, "end").ends_with("end"));
    }

    #[test]
    fn writes_atomically() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a/b/status.json");
        write_atomically(&path, b"one").unwrap();
        write_atomically(&path, b"two").unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"two");
        assert_eq!(
            std::fs::read_dir(path.parent().unwrap()).unwrap().count(),
            1
        );
    }
}
