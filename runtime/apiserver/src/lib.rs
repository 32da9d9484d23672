//! The host API server: HTTP/1.1 on a Unix socket in front of the settings datastore.
//!
//! HTTP is hyper's (HTTP/1 only) on a tokio current-thread runtime (one thread serves every
//! connection: a cached read costs a few microseconds, and a new connection neither a thread nor
//! a hand-off); the request path is split the Firecracker way:
//!
//! * `routes/<resource>.rs` parse a request into a typed `Action`; the `ROUTES` table is the
//!   single source of truth for routing, `Allow` headers and the OpenAPI check in the tests;
//! * the `Controller` executes an action on the datastore, the apply and reboot commands and the
//!   update state machine, and knows nothing of HTTP;
//! * `cache.rs` is the live read cache: the whole live key tree and the rendered bodies of
//!   recent live `GET /settings` queries, keyed by the identity of the live generation, so any
//!   commit, by this server or another process, invalidates them;
//! * `service.rs` is the HTTP glue: at most [`Config::max_connections`] connections at once
//!   (further ones get a 503 and are closed), bounded request heads and bodies, and actions that
//!   write or run a command on the blocking pool, so a slow apply or reboot command never blocks
//!   concurrent reads. Datastore writes are serialized by the datastore's own lock, and applies
//!   by a mutex of their own.
//!
//! # Routes
//!
//! | Route | Meaning |
//! |---|---|
//! | `GET /` | everything: `{"settings", "services", "configuration-files", "os"}` |
//! | `GET /settings` | the object under `settings`; `keys=a,b` or `prefix=settings.x`; `tx=` reads a transaction overlaid on live |
//! | `PATCH /settings?tx=` | body: partial settings object (under `settings`), validated by `settings`; 204 |
//! | `PATCH /settings/keypair?tx=` | body: `{"key": "settings.motd", "value": "hi"}` or a list of them; 204 |
//! | `GET /tx?tx=` | the transaction's pending values, `{"settings": {...}}` |
//! | `DELETE /tx?tx=` | discards it; returns the keys it had changes for |
//! | `GET /tx/list` | open transaction names |
//! | `POST /tx/commit?tx=` | commits; returns changed keys; 422 when nothing is pending |
//! | `POST /tx/apply` | runs the apply command for `keys=a,b` (query) or a JSON array body; all live settings keys when none given |
//! | `POST /tx/commit_and_apply?tx=` | both; 422 when nothing is pending |
//! | `GET /os` | the os-release file as a JSON object with lower-case keys |
//! | `GET /metadata/{affected-services,setting-generators,templates}?keys=` | metadata `affected-services`, `setting-generator`, `template` by data key |
//! | `GET /services?names=`, `GET /configuration-files?names=` | data under `services.*`, `configuration-files.*` |
//! | `POST /actions/reboot` | runs the reboot command; 204 |
//! | `POST /actions/{refresh-updates,prepare-update,activate-update,deactivate-update}` | starts the update command in the background; 204 (see [Updates](#updates)) |
//! | `GET /updates/status` | the update status; 404 "no update status yet" before the first update command |
//!
//! The transaction defaults to `default`. Errors are JSON `{"error": "...", "key": "..."}` (key
//! when one is at fault): 400 bad query or body (invalid settings name their dotted key), 404
//! unknown route, 405 wrong method (with `Allow`), 409 key conflicts and update actions not
//! allowed in the current update state, 422 nothing to commit, 423 update actions and status
//! while an update command runs, 500 internal errors and failed apply/reboot commands (with
//! `stderr`, the tail of the command's standard error).
//!
//! # Updates
//!
//! The update actions drive `updog` with Bottlerocket's `thar-be-updates` state machine
//! (`Idle` → `Available` → `Staged` → `Ready`), each command on a background thread so the API
//! keeps serving; a command's failure is reported in the status (`most_recent_command`), not to
//! the request that started it. The status survives restarts in [`UpdateConfig::status_path`].
//! See [`UpdateConfig`] and the `updates` module.
//!
//! # Apply
//!
//! The apply command gets the changed keys as a JSON array on stdin; the request waits for it
//! and a non-zero exit is reported to the caller (unlike Bottlerocket, which fires and forgets).

#![warn(missing_docs)]

mod action;
mod cache;
mod controller;
mod error;
mod os_release;
mod routes;
mod service;
mod updates;

pub use routes::{Route, DEFAULT_TX, ROUTES};
pub use service::{MAX_BODY, MAX_HEAD};
pub use updates::{
    UpdateConfig, DEFAULT_UPDATE_COMMAND_TIMEOUT, DEFAULT_UPDATE_STATUS_PATH, DEFAULT_UPDOG_COMMAND,
};

use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::os::unix::net::UnixListener;
use std::path::PathBuf;
use std::sync::Arc;

use datastore::FilesystemDataStore;
use tracing::info;

use crate::controller::{Commands, Controller};

/// Default for [`Config::max_connections`].
pub const DEFAULT_MAX_CONNECTIONS: usize = 128;

/// Errors starting the server.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The datastore could not be opened.
    #[error("cannot open the datastore {}", path.display())]
    Datastore {
        /// The datastore path.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: datastore::Error,
    },
    /// A socket operation failed.
    #[error("cannot {op} socket {}", path.display())]
    Socket {
        /// What was being done.
        op: &'static str,
        /// The socket path.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// The async runtime could not be started.
    #[error("failed to start the server runtime: {0}")]
    Runtime(#[source] std::io::Error),
    /// `max_connections` is zero.
    #[error("max_connections must be at least 1")]
    NoConnections,
    /// A command line (apply, reboot or updog command) is empty.
    #[error("the {which} command is empty")]
    EmptyCommand {
        /// Which command.
        which: &'static str,
    },
}

/// Server configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// Where to create the socket.
    pub socket_path: PathBuf,
    /// The datastore (e.g. its `current` link).
    pub datastore_path: PathBuf,
    /// Group to give the socket, if any.
    pub socket_gid: Option<u32>,
    /// The apply command: program and arguments; gets the changed keys as JSON on stdin.
    pub apply_command: Vec<String>,
    /// The reboot command: program and arguments.
    pub reboot_command: Vec<String>,
    /// The os-release file served by `GET /os`.
    pub os_release_path: PathBuf,
    /// Most connections served at once; more are answered 503 and closed.
    pub max_connections: usize,
    /// The settings families this variant accepts (from its manifest); `None` accepts all.
    pub settings_families: Option<Vec<String>>,
}

/// A bound, ready server.
pub struct Server {
    listener: UnixListener,
    socket_path: PathBuf,
    max_connections: usize,
    controller: Arc<Controller>,
}

impl Server {
    /// Opens the datastore and binds the socket (replacing a stale one), with mode 0660 and the
    /// configured group; updates as in [`UpdateConfig::default`].
    pub fn bind(config: Config) -> Result<Self, Error> {
        Self::bind_with_updates(config, UpdateConfig::default())
    }

    /// Like [`Server::bind`], with the update settings `updates`; loads the persisted update
    /// status, if any.
    pub fn bind_with_updates(config: Config, updates: UpdateConfig) -> Result<Self, Error> {
        for (which, argv) in [
            ("updog", &updates.updog_command),
            ("apply", &config.apply_command),
            ("reboot", &config.reboot_command),
        ] {
            if argv.is_empty() {
                return Err(Error::EmptyCommand { which });
            }
        }
        if config.max_connections == 0 {
            return Err(Error::NoConnections);
        }
        let store = FilesystemDataStore::open(&config.datastore_path).map_err(|source| {
            Error::Datastore {
                path: config.datastore_path.clone(),
                source,
            }
        })?;
        let listener = bind_socket(&config.socket_path, config.socket_gid)?;
        info!("listening on {}", config.socket_path.display());
        let updates = Arc::new(updates::Updates::load(
            updates,
            config.os_release_path.clone(),
        ));
        let commands = Commands {
            apply: config.apply_command,
            reboot: config.reboot_command,
            os_release_path: config.os_release_path,
            settings_families: config.settings_families,
        };
        Ok(Self {
            listener,
            socket_path: config.socket_path,
            max_connections: config.max_connections,
            controller: Arc::new(Controller::new(store, commands, updates)),
        })
    }

    /// Serves connections forever on this thread (see the crate documentation); actions that
    /// block run on the runtime's blocking pool.
    pub fn serve(self) -> Result<(), Error> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .thread_name("api")
            .enable_io()
            .enable_time()
            .build()
            .map_err(Error::Runtime)?;
        let socket_err = |source| Error::Socket {
            op: "serve",
            path: self.socket_path.clone(),
            source,
        };
        self.listener.set_nonblocking(true).map_err(socket_err)?;
        runtime.block_on(async {
            let listener = tokio::net::UnixListener::from_std(self.listener).map_err(socket_err)?;
            notify_ready();
            service::serve(listener, self.controller, self.max_connections).await;
            Ok(())
        })
    }
}

/// Tells systemd that the API is served (`READY=1` on `$NOTIFY_SOCKET`, what `sd_notify` does)
/// when it started the server as a `Type=notify` service; nothing otherwise. A failure is
/// logged: systemd then times the start out, which says more than failing here would.
fn notify_ready() {
    use std::os::linux::net::SocketAddrExt;
    use std::os::unix::net::{SocketAddr, UnixDatagram};
    let Some(target) = std::env::var_os("NOTIFY_SOCKET") else {
        return;
    };
    let bytes = std::os::unix::ffi::OsStrExt::as_bytes(target.as_os_str());
    let address = match bytes.strip_prefix(b"@") {
        Some(name) => SocketAddr::from_abstract_name(name),
        None => SocketAddr::from_pathname(&target),
    };
    let sent =
        address.and_then(|address| UnixDatagram::unbound()?.send_to_addr(b"READY=1", &address));
    if let Err(e) = sent {
        tracing::warn!("cannot notify systemd on {}: {e}", target.to_string_lossy());
    }
}

/// Binds the socket at `path`, replacing a stale socket but nothing else, with mode 0660 and
/// group `gid`.
fn bind_socket(path: &std::path::Path, gid: Option<u32>) -> Result<UnixListener, Error> {
    let sock_err = |op| {
        move |source| Error::Socket {
            op,
            path: path.to_path_buf(),
            source,
        }
    };
    match std::fs::symlink_metadata(path) {
        Ok(meta) if meta.file_type().is_socket() => {
            std::fs::remove_file(path).map_err(sock_err("remove stale"))?
        }
        Ok(_) => {
            return Err(sock_err("replace")(std::io::Error::new(
                std::io::ErrorKind::AlreadyExists,
                "a file that is not a socket is in the way",
            )))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(sock_err("inspect")(e)),
    }
    let listener = UnixListener::bind(path).map_err(sock_err("bind"))?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o660))
        .map_err(sock_err("set mode of"))?;
    if let Some(gid) = gid {
        std::os::unix::fs::chown(path, None, Some(gid)).map_err(sock_err("set group of"))?;
    }
    Ok(listener)
}
