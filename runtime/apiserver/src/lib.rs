//! The host API server: HTTP/1.1 on a Unix socket in front of the settings datastore.
//!
//! One thread per connection while it lasts (std only, no async runtime), so a slow apply or
//! reboot command never blocks concurrent reads. The threads are a pool of workers that each
//! block in `accept()` and serve what they accept, started ahead of need and kept for the next
//! connection, so a connection costs no thread start. At most [`Config::max_connections`]
//! connections are served at once, further ones get a 503 and are closed. Datastore writes are serialized by the
//! datastore's own lock, and applies are serialized by a mutex of their own.
//!
//! # Read cache
//!
//! Live reads are served from a cache of the whole live key tree, plus the rendered bodies of
//! recent live `GET /settings` queries. Both are keyed by the identity of the live generation
//! (its number and the inode of its directory, a `readlink` and a `stat` per request), so any
//! commit, by this server or any other process, invalidates them. Reads of a transaction
//! (`tx=`) and metadata reads always go to the datastore.
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

pub mod http;
mod updates;

pub use updates::{
    UpdateConfig, DEFAULT_UPDATE_COMMAND_TIMEOUT, DEFAULT_UPDATE_STATUS_PATH, DEFAULT_UPDOG_COMMAND,
};

use std::collections::{BTreeMap, HashMap, HashSet};
use std::io::{BufReader, Read, Write};
use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use datastore::{Committed, FilesystemDataStore, Key};
use serde_json::{json, Map, Value};
use tracing::{debug, info, warn};

use crate::http::{
    percent_decode, read_request, serialize_body, write_response, ReadError, Request, Response,
};
use crate::updates::CommandType;

/// The transaction used when a request names none.
pub const DEFAULT_TX: &str = "default";
/// How much of a failed command's stderr is returned, in bytes.
const STDERR_TAIL: usize = 4096;
/// Idle time after which a kept-alive connection is closed.
const IDLE_TIMEOUT: Duration = Duration::from_secs(60);
/// Default for [`Config::max_connections`].
pub const DEFAULT_MAX_CONNECTIONS: usize = 128;
/// How many rendered `GET /settings` bodies the cache keeps per live generation.
const MAX_RENDERED: usize = 64;

/// Errors starting the server.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The datastore could not be opened.
    #[error("failed to open datastore '{}': {source}", path.display())]
    Datastore {
        /// The datastore path.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: datastore::Error,
    },
    /// A socket operation failed.
    #[error("failed to {op} socket '{}': {source}", path.display())]
    Socket {
        /// What was being done.
        op: &'static str,
        /// The socket path.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
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
    /// Most connections served at once (each has a thread); more are answered 503 and closed.
    pub max_connections: usize,
    /// The settings families this variant accepts (from its manifest); `None` accepts all.
    pub settings_families: Option<Vec<String>>,
}

/// Shared server state.
struct State {
    store: FilesystemDataStore,
    config: Config,
    apply_lock: Mutex<()>,
    cache: Mutex<Option<LiveCache>>,
    updates: Arc<updates::Updates>,
}

/// Identifies one live generation: its number and its directory's inode (so a datastore swapped
/// under the same path, e.g. by a migration, is never mistaken for the old one).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct LiveId {
    generation: u64,
    dev: u64,
    ino: u64,
}

/// What is cached about one live generation.
struct LiveCache {
    id: LiveId,
    /// Every live data key and its value.
    pairs: Arc<HashMap<Key, String>>,
    /// Rendered `GET /settings` bodies by raw query string.
    rendered: HashMap<String, Arc<[u8]>>,
}

impl State {
    fn live_id(&self) -> Result<LiveId, ApiError> {
        use std::os::unix::fs::MetadataExt;
        let generation = self.store.generation()?;
        let dir = self.store.path().join(datastore::store::LIVE);
        let meta = std::fs::metadata(&dir)
            .map_err(|e| ApiError::new(500, format!("failed to stat '{}': {e}", dir.display())))?;
        Ok(LiveId {
            generation,
            dev: meta.dev(),
            ino: meta.ino(),
        })
    }

    fn cache(&self) -> std::sync::MutexGuard<'_, Option<LiveCache>> {
        self.cache.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Every live data key, from the cache when the live generation hasn't changed.
    fn live_pairs(&self) -> Result<(LiveId, Arc<HashMap<Key, String>>), ApiError> {
        let id = self.live_id()?;
        if let Some(c) = self.cache().as_ref().filter(|c| c.id == id) {
            return Ok((id, Arc::clone(&c.pairs)));
        }
        let pairs = Arc::new(self.store.get_prefix("", &Committed::Live)?);
        // Only cache what was certainly read from generation `id`.
        if self.live_id()? == id {
            *self.cache() = Some(LiveCache {
                id,
                pairs: Arc::clone(&pairs),
                rendered: HashMap::new(),
            });
        }
        Ok((id, pairs))
    }

    /// Live data keys whose name starts with `prefix` (like `get_prefix`), from the cache.
    fn live_prefix(&self, prefix: &str) -> Result<HashMap<Key, String>, ApiError> {
        let (_, pairs) = self.live_pairs()?;
        Ok(filter_prefix(&pairs, prefix))
    }

    fn rendered(&self, id: LiveId, query: &str) -> Option<Arc<[u8]>> {
        let cache = self.cache();
        let c = cache.as_ref().filter(|c| c.id == id)?;
        c.rendered.get(query).cloned()
    }

    fn store_rendered(&self, id: LiveId, query: &str, body: Arc<[u8]>) {
        let mut cache = self.cache();
        if let Some(c) = cache.as_mut().filter(|c| c.id == id) {
            if c.rendered.len() >= MAX_RENDERED {
                c.rendered.clear();
            }
            c.rendered.insert(query.to_string(), body);
        }
    }
}

fn filter_prefix(pairs: &HashMap<Key, String>, prefix: &str) -> HashMap<Key, String> {
    pairs
        .iter()
        .filter(|(k, _)| k.name().starts_with(prefix))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

/// A bound, ready server.
pub struct Server {
    listener: UnixListener,
    state: Arc<State>,
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
        if updates.updog_command.is_empty() {
            return Err(Error::EmptyCommand { which: "updog" });
        }
        if config.apply_command.is_empty() {
            return Err(Error::EmptyCommand { which: "apply" });
        }
        if config.reboot_command.is_empty() {
            return Err(Error::EmptyCommand { which: "reboot" });
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
        let path = &config.socket_path;
        let sock_err = |op| {
            move |source| Error::Socket {
                op,
                path: path.clone(),
                source,
            }
        };
        // Replace a stale socket, but never delete anything else that is in the way.
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
        if let Some(gid) = config.socket_gid {
            std::os::unix::fs::chown(path, None, Some(gid)).map_err(sock_err("set group of"))?;
        }
        info!("listening on {}", path.display());
        let updates = Arc::new(updates::Updates::load(
            updates,
            config.os_release_path.clone(),
        ));
        Ok(Self {
            listener,
            state: Arc::new(State {
                store,
                config,
                apply_lock: Mutex::new(()),
                cache: Mutex::new(None),
                updates,
            }),
        })
    }

    /// Serves connections forever, each on a thread of its own while it lasts, at most
    /// `max_connections` at once (see [`Pool`]).
    pub fn serve(self) -> Result<(), Error> {
        let pool = Arc::new(Pool {
            listener: self.listener,
            state: self.state,
            active: Arc::new(AtomicUsize::new(0)),
            idle: AtomicUsize::new(0),
        });
        for _ in 0..MIN_IDLE_WORKERS {
            if let Err(e) = Pool::spawn_worker(&pool) {
                warn!("failed to start a worker thread: {e}");
            }
        }
        // This thread is a worker too, and never retires.
        pool.idle.fetch_add(1, Ordering::AcqRel);
        pool.work(false);
        Ok(())
    }
}

/// Worker threads kept blocked in `accept()` when there is no load.
const MIN_IDLE_WORKERS: usize = 2;
/// Most idle workers kept; a worker finishing a connection beyond this exits.
const MAX_IDLE_WORKERS: usize = 8;

/// The connection threads: pre-spawned workers that each block in `accept()` on the shared
/// listener and serve the connection they get themselves, so a new connection costs neither a
/// thread start nor a hand-off between threads. When the last idle worker takes a connection it
/// starts another, so one is always accepting (and can answer 503 beyond the cap); workers
/// retire when more than [`MAX_IDLE_WORKERS`] are idle.
struct Pool {
    listener: UnixListener,
    state: Arc<State>,
    /// Connections being served (each holds a [`Slot`]).
    active: Arc<AtomicUsize>,
    /// Workers waiting in `accept()` (or about to).
    idle: AtomicUsize,
}

impl Pool {
    fn spawn_worker(pool: &Arc<Pool>) -> std::io::Result<()> {
        pool.idle.fetch_add(1, Ordering::AcqRel);
        let worker = Arc::clone(pool);
        std::thread::Builder::new()
            .name("api-conn".into())
            .spawn(move || worker.work(true))
            .map(drop)
            .inspect_err(|_| {
                pool.idle.fetch_sub(1, Ordering::AcqRel);
            })
    }

    /// Accepts and serves connections; counted as idle while accepting. Returns (retiring the
    /// thread) only when `may_retire` and enough other workers are idle.
    fn work(self: &Arc<Self>, may_retire: bool) {
        loop {
            let stream = match self.listener.accept() {
                Ok((stream, _)) => stream,
                Err(e) => {
                    warn!("accept failed: {e}");
                    // E.g. EMFILE: don't spin.
                    std::thread::sleep(Duration::from_millis(10));
                    continue;
                }
            };
            if self.active.fetch_add(1, Ordering::AcqRel) >= self.state.config.max_connections {
                self.active.fetch_sub(1, Ordering::AcqRel);
                reject(stream, "too many connections; try again later");
                continue;
            }
            let slot = Slot(Arc::clone(&self.active));
            if self.idle.fetch_sub(1, Ordering::AcqRel) == 1 {
                // This was the last accepting worker: start another before serving.
                // If that fails, new connections wait in the backlog until a worker is free.
                if let Err(e) = Pool::spawn_worker(self) {
                    warn!("failed to start a worker thread: {e}");
                }
            }
            // A bug that panics costs the connection, not the worker (the first worker is the
            // main thread); the state's locks tolerate poisoning.
            let served = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                handle_connection(&self.state, &stream)
            }));
            if served.is_err() {
                warn!("a connection handler panicked; connection closed");
            }
            drop(stream);
            drop(slot);
            if may_retire && self.idle.load(Ordering::Acquire) >= MAX_IDLE_WORKERS {
                return;
            }
            self.idle.fetch_add(1, Ordering::AcqRel);
        }
    }
}

/// Holds one of the `max_connections` slots until dropped.
struct Slot(Arc<AtomicUsize>);

impl Drop for Slot {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

/// Answers a connection that won't be served with 503 and closes it, without blocking long.
fn reject(mut stream: UnixStream, message: &str) {
    warn!("rejecting a connection: {message}");
    let _ = stream.set_write_timeout(Some(Duration::from_millis(100)));
    let _ = write_response(&mut stream, &ApiError::new(503, message).into(), false);
    // Closing a socket whose request was never read resets the connection, and the client would
    // see ECONNRESET instead of the 503. Read what the client sent (briefly, off the accept
    // thread) before closing.
    let _ = stream.shutdown(std::net::Shutdown::Write);
    let _ = std::thread::Builder::new()
        .name("reject-drain".into())
        .spawn(move || {
            let _ = stream.set_read_timeout(Some(Duration::from_millis(200)));
            let mut sink = [0u8; 4096];
            let mut total = 0;
            while total < (64 << 10) {
                match stream.read(&mut sink) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => total += n,
                }
            }
        });
}

fn handle_connection(state: &State, stream: &UnixStream) {
    let _ = stream.set_read_timeout(Some(IDLE_TIMEOUT));
    let mut writer = stream;
    let mut reader = BufReader::new(stream);
    loop {
        let (response, keep_alive) = match read_request(&mut reader) {
            Ok(req) => {
                let response = route(state, &req);
                debug!(
                    "{} {}?{} -> {}",
                    req.method, req.path, req.query, response.status
                );
                (response, req.keep_alive)
            }
            Err(ReadError::Closed) => return,
            Err(ReadError::Io(e)) => {
                debug!("connection error: {e}");
                return;
            }
            Err(ReadError::Bad(status, msg)) => (ApiError::new(status, msg).into(), false),
        };
        if write_response(&mut writer, &response, keep_alive).is_err() || !keep_alive {
            return;
        }
    }
}

/// An error response.
#[derive(Debug)]
struct ApiError {
    status: u16,
    message: String,
    key: Option<String>,
    extra: Map<String, Value>,
}

impl ApiError {
    fn new(status: u16, message: impl Into<String>) -> Self {
        Self {
            status,
            message: message.into(),
            key: None,
            extra: Map::new(),
        }
    }

    fn bad(message: impl Into<String>) -> Self {
        Self::new(400, message)
    }

    fn with_key(mut self, key: impl Into<String>) -> Self {
        self.key = Some(key.into());
        self
    }
}

impl From<ApiError> for Response {
    fn from(e: ApiError) -> Self {
        let mut body = e.extra;
        body.insert("error".into(), Value::String(e.message));
        if let Some(key) = e.key {
            body.insert("key".into(), Value::String(key));
        }
        Response::json(e.status, Value::Object(body))
    }
}

impl From<datastore::Error> for ApiError {
    fn from(e: datastore::Error) -> Self {
        use datastore::Error as D;
        let msg = e.to_string();
        match &e {
            D::InvalidKey { key, .. } | D::InvalidValue { key, .. } => {
                ApiError::bad(msg).with_key(key.clone())
            }
            D::ToPairs { path, .. } => ApiError::bad(msg).with_key(path.clone()),
            D::InvalidTransaction { .. } => ApiError::bad(msg),
            D::KeyConflict { key, .. } => ApiError::new(409, msg).with_key(key.clone()),
            D::NothingToCommit { .. } => ApiError::new(422, msg),
            _ => ApiError::new(500, msg),
        }
    }
}

type ApiResult = Result<Response, ApiError>;

/// Parsed query parameters, restricted to the names a route accepts.
struct Query(HashMap<String, String>);

impl Query {
    fn parse(raw: &str, allowed: &[&str]) -> Result<Self, ApiError> {
        let mut out = HashMap::new();
        for pair in raw.split('&').filter(|p| !p.is_empty()) {
            let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
            let name = percent_decode(name)
                .ok_or_else(|| ApiError::bad(format!("bad escape in query '{pair}'")))?;
            let value = percent_decode(value)
                .ok_or_else(|| ApiError::bad(format!("bad escape in query '{pair}'")))?;
            if !allowed.contains(&name.as_str()) {
                return Err(ApiError::bad(format!(
                    "unknown query parameter '{name}'; allowed: {}",
                    allowed.join(", ")
                )));
            }
            if out.insert(name.clone(), value).is_some() {
                return Err(ApiError::bad(format!(
                    "query parameter '{name}' given twice"
                )));
            }
        }
        Ok(Self(out))
    }

    fn get(&self, name: &str) -> Option<&str> {
        self.0.get(name).map(String::as_str)
    }

    /// A comma-separated list parameter.
    fn list(&self, name: &str) -> Option<Vec<String>> {
        self.get(name).map(|v| {
            v.split(',')
                .filter(|s| !s.is_empty())
                .map(String::from)
                .collect()
        })
    }

    /// The transaction name (`default` when absent), validated.
    fn tx(&self) -> Result<String, ApiError> {
        let tx = self.get("tx").unwrap_or(DEFAULT_TX).to_string();
        datastore::validate_transaction_name(&tx)?;
        Ok(tx)
    }
}

/// One route the server serves: a method on an exact path.
#[derive(Clone, Copy)]
pub struct Route {
    /// The method, upper-case.
    pub method: &'static str,
    /// The path, exact.
    pub path: &'static str,
    handler: Handler,
}

impl std::fmt::Debug for Route {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.method, self.path)
    }
}

type Handler = fn(&State, &Request) -> ApiResult;

const fn r(method: &'static str, path: &'static str, handler: Handler) -> Route {
    Route {
        method,
        path,
        handler,
    }
}

/// Every route the server serves (the single source of truth for routing, `Allow` headers and
/// the OpenAPI check in the tests).
pub const ROUTES: &[Route] = &[
    r("GET", "/", get_root),
    r("GET", "/settings", get_settings),
    r("PATCH", "/settings", patch_settings),
    r("PATCH", "/settings/keypair", patch_keypair),
    r("GET", "/tx", get_tx),
    r("DELETE", "/tx", delete_tx),
    r("GET", "/tx/list", list_tx),
    r("POST", "/tx/commit", commit),
    r("POST", "/tx/apply", apply),
    r("POST", "/tx/commit_and_apply", commit_and_apply),
    r("GET", "/os", get_os),
    r("GET", "/metadata/affected-services", |s, q| {
        get_metadata(s, q, "affected-services")
    }),
    r("GET", "/metadata/setting-generators", |s, q| {
        get_metadata(s, q, "setting-generator")
    }),
    r("GET", "/metadata/templates", |s, q| {
        get_metadata(s, q, "template")
    }),
    r("GET", "/services", |s, q| get_named_tree(s, q, "services")),
    r("GET", "/configuration-files", |s, q| {
        get_named_tree(s, q, "configuration-files")
    }),
    r("POST", "/actions/reboot", reboot),
    r("POST", "/actions/refresh-updates", |s, q| {
        update_action(s, q, CommandType::Refresh)
    }),
    r("POST", "/actions/prepare-update", |s, q| {
        update_action(s, q, CommandType::Prepare)
    }),
    r("POST", "/actions/activate-update", |s, q| {
        update_action(s, q, CommandType::Activate)
    }),
    r("POST", "/actions/deactivate-update", |s, q| {
        update_action(s, q, CommandType::Deactivate)
    }),
    r("GET", "/updates/status", update_status),
];

fn route(state: &State, req: &Request) -> Response {
    let m = req.method.as_str();
    let mut on_path = ROUTES.iter().filter(|r| r.path == req.path).peekable();
    if on_path.peek().is_none() {
        return ApiError::new(404, format!("no such route '{}'", req.path)).into();
    }
    let mut allowed = Vec::new();
    for route in on_path {
        if route.method == m {
            return (route.handler)(state, req).unwrap_or_else(Into::into);
        }
        allowed.push(route.method);
    }
    let allowed = allowed.join(", ");
    let mut r: Response = ApiError::new(
        405,
        format!("method {m} not allowed on {}; use {allowed}", req.path),
    )
    .into();
    r.allow = Some(allowed);
    r
}

fn get_os(state: &State, req: &Request) -> ApiResult {
    Query::parse(&req.query, &[])?;
    Ok(Response::json(
        200,
        os_release(&state.config.os_release_path)?,
    ))
}

/// Starts an update command (see [`updates`]); 204 once its child is started.
fn update_action(state: &State, req: &Request, cmd: CommandType) -> ApiResult {
    Query::parse(&req.query, &[])?;
    state.updates.start(cmd)?;
    Ok(Response::no_content())
}

fn update_status(state: &State, req: &Request) -> ApiResult {
    Query::parse(&req.query, &[])?;
    Ok(Response::json(200, state.updates.status()?))
}

/// Nests pairs and returns the object under root segment `root` (empty object if none).
fn subtree(pairs: &HashMap<Key, String>, root: &str) -> Result<Value, ApiError> {
    let mut nested = datastore::from_pairs(pairs).map_err(|e| ApiError::new(500, e.to_string()))?;
    Ok(nested
        .get_mut(root)
        .map(Value::take)
        .unwrap_or_else(|| json!({})))
}

fn get_root(state: &State, req: &Request) -> ApiResult {
    Query::parse(&req.query, &[])?;
    let (_, pairs) = state.live_pairs()?;
    let mut all = datastore::from_pairs(&pairs).map_err(|e| ApiError::new(500, e.to_string()))?;
    let obj = all.as_object_mut().expect("from_pairs returns an object");
    for root in ["settings", "services", "configuration-files"] {
        obj.entry(root).or_insert_with(|| json!({}));
    }
    obj.insert("os".into(), os_release(&state.config.os_release_path)?);
    Ok(Response::json(200, all))
}

/// Parses a key name that must be a data key under `settings`.
fn settings_key(name: &str) -> Result<Key, ApiError> {
    let key = Key::data(name).map_err(|e| ApiError::bad(e.to_string()).with_key(name))?;
    if key.segments().first().map(String::as_str) != Some("settings") {
        return Err(ApiError::bad(format!("key '{name}' is not under 'settings'")).with_key(name));
    }
    Ok(key)
}

fn committed_for(query: &Query) -> Result<Committed, ApiError> {
    match query.get("tx") {
        None => Ok(Committed::Live),
        Some(_) => Ok(Committed::pending(query.tx()?)?),
    }
}

fn get_settings(state: &State, req: &Request) -> ApiResult {
    let q = Query::parse(&req.query, &["keys", "prefix", "tx"])?;
    let committed = committed_for(&q)?;
    // Live reads come from the cache (rendered bodies first); transaction reads never do.
    let live = match committed {
        Committed::Live => {
            let (id, pairs) = state.live_pairs()?;
            if let Some(body) = state.rendered(id, &req.query) {
                return Ok(Response::raw(200, body));
            }
            Some((id, pairs))
        }
        _ => None,
    };
    let get_prefix = |prefix: &str| -> Result<HashMap<Key, String>, ApiError> {
        match &live {
            Some((_, pairs)) => Ok(filter_prefix(pairs, prefix)),
            None => Ok(state.store.get_prefix(prefix, &committed)?),
        }
    };
    let pairs = match (q.list("keys"), q.get("prefix")) {
        (Some(_), Some(_)) => return Err(ApiError::bad("give either keys= or prefix=, not both")),
        (Some(names), None) => {
            let keys = names
                .iter()
                .map(|n| settings_key(n))
                .collect::<Result<Vec<_>, _>>()?;
            let mut out = HashMap::new();
            for key in &keys {
                for (k, v) in get_prefix(key.name())? {
                    if k.starts_with_key(key) {
                        out.insert(k, v);
                    }
                }
            }
            out
        }
        (None, Some(prefix)) => {
            if !(prefix == "settings" || prefix.starts_with("settings.")) {
                return Err(ApiError::bad(format!(
                    "prefix '{prefix}' is not under 'settings'"
                )));
            }
            get_prefix(prefix)?
        }
        (None, None) => get_prefix("settings.")?,
    };
    let body = subtree(&pairs, "settings")?;
    match live {
        Some((id, _)) => {
            let raw: Arc<[u8]> = serialize_body(&body).into();
            state.store_rendered(id, &req.query, Arc::clone(&raw));
            Ok(Response::raw(200, raw))
        }
        None => Ok(Response::json(200, body)),
    }
}

fn parse_body(req: &Request) -> Result<Value, ApiError> {
    serde_json::from_slice(&req.body)
        .map_err(|e| ApiError::bad(format!("request body is not valid JSON: {e}")))
}

/// Validates a partial settings object and writes it to the transaction.
fn write_settings(state: &State, tx: &str, settings: &Value) -> ApiResult {
    let families: Option<Vec<&str>> = state
        .config
        .settings_families
        .as_ref()
        .map(|list| list.iter().map(String::as_str).collect());
    settings::validate_settings_json(settings, families.as_deref())
        .map_err(|e| ApiError::bad(e.to_string()).with_key(e.path()))?;
    let prefix = Key::data("settings").map_err(|e| ApiError::new(500, e.to_string()))?;
    let pairs = datastore::to_pairs_with_prefix(&prefix, settings)?;
    if !pairs.is_empty() {
        state.store.set_keys(&pairs, &Committed::pending(tx)?)?;
    }
    Ok(Response::no_content())
}

fn patch_settings(state: &State, req: &Request) -> ApiResult {
    let q = Query::parse(&req.query, &["tx"])?;
    let tx = q.tx()?;
    let body = parse_body(req)?;
    write_settings(state, &tx, &body)
}

/// `PATCH /settings/keypair`: one `{"key": "settings.x", "value": v}` object or a list of them,
/// written together (all or nothing).
fn patch_keypair(state: &State, req: &Request) -> ApiResult {
    let q = Query::parse(&req.query, &["tx"])?;
    let tx = q.tx()?;
    let body = parse_body(req)?;
    let items = match body {
        Value::Array(items) => items,
        obj @ Value::Object(_) => vec![obj],
        _ => {
            return Err(ApiError::bad(
                "body must be a {key, value} object or a list of them",
            ))
        }
    };
    let mut nested = Map::new();
    for item in &items {
        let (Some(name), Some(value), 2) = (
            item.get("key").and_then(Value::as_str),
            item.get("value"),
            item.as_object().map_or(0, Map::len),
        ) else {
            return Err(ApiError::bad(
                "each keypair must be an object with exactly a string 'key' and a 'value'",
            ));
        };
        let key = settings_key(name)?;
        let segments = &key.segments()[1..];
        let Some((last, parents)) = segments.split_last() else {
            return Err(
                ApiError::bad("the key must name a setting below 'settings'").with_key(name),
            );
        };
        let mut cur = &mut nested;
        for seg in parents {
            let entry = cur
                .entry(seg.clone())
                .or_insert_with(|| Value::Object(Map::new()));
            cur = entry.as_object_mut().ok_or_else(|| {
                ApiError::new(
                    409,
                    format!("key '{name}' conflicts with an earlier keypair"),
                )
                .with_key(name)
            })?;
        }
        if cur.contains_key(last) {
            return Err(ApiError::new(
                409,
                format!("key '{name}' conflicts with an earlier keypair"),
            )
            .with_key(name));
        }
        cur.insert(last.clone(), value.clone());
    }
    write_settings(state, &tx, &Value::Object(nested))
}

fn sorted_names(keys: HashSet<Key>) -> Value {
    let mut names: Vec<String> = keys.into_iter().map(|k| k.name().to_string()).collect();
    names.sort();
    json!(names)
}

fn get_tx(state: &State, req: &Request) -> ApiResult {
    let tx = Query::parse(&req.query, &["tx"])?.tx()?;
    let changes = state.store.pending_changes(&tx)?;
    let nested =
        datastore::from_pairs(&changes.set).map_err(|e| ApiError::new(500, e.to_string()))?;
    Ok(Response::json(200, nested))
}

fn delete_tx(state: &State, req: &Request) -> ApiResult {
    let tx = Query::parse(&req.query, &["tx"])?.tx()?;
    Ok(Response::json(
        200,
        sorted_names(state.store.delete_transaction(&tx)?),
    ))
}

fn list_tx(state: &State, req: &Request) -> ApiResult {
    Query::parse(&req.query, &[])?;
    let mut names: Vec<String> = state.store.list_transactions()?.into_iter().collect();
    names.sort();
    Ok(Response::json(200, json!(names)))
}

fn commit(state: &State, req: &Request) -> ApiResult {
    let tx = Query::parse(&req.query, &["tx"])?.tx()?;
    Ok(Response::json(
        200,
        sorted_names(state.store.commit_transaction(&tx)?),
    ))
}

fn apply(state: &State, req: &Request) -> ApiResult {
    let q = Query::parse(&req.query, &["keys"])?;
    let from_body = if req.body.iter().all(u8::is_ascii_whitespace) {
        None
    } else {
        let body = parse_body(req)?;
        let Value::Array(items) = body else {
            return Err(ApiError::bad("body must be a JSON array of keys"));
        };
        Some(
            items
                .iter()
                .map(|v| {
                    v.as_str()
                        .map(String::from)
                        .ok_or_else(|| ApiError::bad("body must be a JSON array of key strings"))
                })
                .collect::<Result<Vec<_>, _>>()?,
        )
    };
    let names = match (q.list("keys"), from_body) {
        (Some(_), Some(_)) => {
            return Err(ApiError::bad(
                "give keys in the query or the body, not both",
            ))
        }
        (Some(n), None) | (None, Some(n)) => n,
        (None, None) => Vec::new(),
    };
    let keys = if names.is_empty() {
        state
            .store
            .list_populated_keys("settings.", &Committed::Live)?
    } else {
        names
            .iter()
            .map(|n| settings_key(n))
            .collect::<Result<HashSet<_>, _>>()?
    };
    let keys = sorted_names(keys);
    run_apply(state, &keys)?;
    Ok(Response::json(200, keys))
}

fn commit_and_apply(state: &State, req: &Request) -> ApiResult {
    let tx = Query::parse(&req.query, &["tx"])?.tx()?;
    let keys = sorted_names(state.store.commit_transaction(&tx)?);
    if let Err(mut e) = run_apply(state, &keys) {
        e.message = format!(
            "transaction '{tx}' was committed, but applying it failed: {}",
            e.message
        );
        e.extra.insert("committed".into(), keys);
        return Err(e);
    }
    Ok(Response::json(200, keys))
}

/// Runs the apply command with `keys` (a JSON array) on stdin, one apply at a time.
fn run_apply(state: &State, keys: &Value) -> Result<(), ApiError> {
    let _guard = state
        .apply_lock
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    run_command("apply", &state.config.apply_command, Some(keys.to_string()))
}

/// Runs a command to completion; a spawn failure or non-zero exit is a 500 with its stderr tail.
fn run_command(which: &str, argv: &[String], stdin: Option<String>) -> Result<(), ApiError> {
    let shown = argv.join(" ");
    let mut child = Command::new(&argv[0])
        .args(&argv[1..])
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        // The command's output goes to the server's stdout (the journal on a host).
        .stdout(Stdio::inherit())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| ApiError::new(500, format!("failed to run {which} command '{shown}': {e}")))?;
    let writer = match (stdin, child.stdin.take()) {
        (Some(input), Some(mut pipe)) => Some(std::thread::spawn(move || {
            // A command that exits without reading its input is judged by its exit status.
            let _ = pipe.write_all(input.as_bytes());
        })),
        _ => None,
    };
    let mut stderr = Vec::new();
    if let Some(mut pipe) = child.stderr.take() {
        let _ = pipe.read_to_end(&mut stderr);
    }
    let status = child.wait().map_err(|e| {
        ApiError::new(
            500,
            format!("failed to wait for {which} command '{shown}': {e}"),
        )
    })?;
    if let Some(w) = writer {
        let _ = w.join();
    }
    if status.success() {
        return Ok(());
    }
    let start = stderr.len().saturating_sub(STDERR_TAIL);
    let tail = String::from_utf8_lossy(&stderr[start..])
        .trim_end()
        .to_string();
    warn!("{which} command '{shown}' failed ({status}): {tail}");
    let mut e = ApiError::new(500, format!("{which} command '{shown}' failed ({status})"));
    e.extra.insert("stderr".into(), Value::String(tail));
    Err(e)
}

fn reboot(state: &State, req: &Request) -> ApiResult {
    Query::parse(&req.query, &[])?;
    run_command("reboot", &state.config.reboot_command, None)?;
    Ok(Response::no_content())
}

/// Parses an os-release file into a JSON object with lower-case keys.
fn os_release(path: &Path) -> Result<Value, ApiError> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        ApiError::new(
            500,
            format!("failed to read os-release '{}': {e}", path.display()),
        )
    })?;
    Ok(json!(parse_os_release(&text)))
}

/// Parses os-release `KEY=value` lines (values optionally quoted; comments and blank lines
/// skipped).
pub fn parse_os_release(text: &str) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for line in text.lines().map(str::trim) {
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let Some((k, v)) = line.split_once('=') else {
            continue;
        };
        let v = v.trim();
        let unquoted = if v.len() >= 2
            && ((v.starts_with('"') && v.ends_with('"'))
                || (v.starts_with('\'') && v.ends_with('\'')))
        {
            v[1..v.len() - 1]
                .replace("\\\"", "\"")
                .replace("\\\\", "\\")
        } else {
            v.to_string()
        };
        out.insert(k.trim().to_ascii_lowercase(), unquoted);
    }
    out
}

fn get_metadata(state: &State, req: &Request, meta_name: &str) -> ApiResult {
    let q = Query::parse(&req.query, &["keys"])?;
    let meta = Key::meta(meta_name).map_err(|e| ApiError::new(500, e.to_string()))?;
    let mut out = Map::new();
    let mut insert = |key: &Key, raw: &str| {
        let v = serde_json::from_str(raw).unwrap_or_else(|_| Value::String(raw.to_string()));
        out.insert(key.name().to_string(), v);
    };
    match q.list("keys") {
        Some(names) => {
            for name in names {
                let key =
                    Key::data(&name).map_err(|e| ApiError::bad(e.to_string()).with_key(&name))?;
                if let Some(raw) = state.store.get_metadata(&meta, &key, &Committed::Live)? {
                    insert(&key, &raw);
                }
            }
        }
        None => {
            for (key, raw) in state
                .store
                .get_metadata_prefix("", &meta, &Committed::Live)?
            {
                insert(&key, &raw);
            }
        }
    }
    let sorted: BTreeMap<String, Value> = out.into_iter().collect();
    Ok(Response::json(200, json!(sorted)))
}

fn get_named_tree(state: &State, req: &Request, root: &str) -> ApiResult {
    let q = Query::parse(&req.query, &["names"])?;
    let pairs = state.live_prefix(&format!("{root}."))?;
    let mut tree = subtree(&pairs, root)?;
    if let (Some(names), Value::Object(map)) = (q.list("names"), &mut tree) {
        map.retain(|k, _| names.contains(k));
    }
    Ok(Response::json(200, tree))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_os_release() {
        let parsed = parse_os_release(
            "# c\nNAME=Bottlerocket\nVERSION_ID=\"1.2.3\"\nPRETTY_NAME='Bottlerocket OS'\n\nbad\n",
        );
        assert_eq!(parsed["name"], "Bottlerocket");
        assert_eq!(parsed["version_id"], "1.2.3");
        assert_eq!(parsed["pretty_name"], "Bottlerocket OS");
        assert_eq!(parsed.len(), 3);
    }

    #[test]
    fn parses_queries() {
        let q = Query::parse("tx=a&keys=settings.x,%22y%22", &["tx", "keys"]).unwrap();
        assert_eq!(q.tx().unwrap(), "a");
        assert_eq!(q.list("keys").unwrap(), vec!["settings.x", "\"y\""]);
        assert!(Query::parse("bogus=1", &["tx"]).is_err());
        assert!(Query::parse("tx=a&tx=b", &["tx"]).is_err());
        assert!(Query::parse("tx=a%2", &["tx"]).is_err());
        let q = Query::parse("tx=bad/name", &["tx"]).unwrap();
        assert_eq!(q.tx().unwrap_err().status, 400);
    }
}
