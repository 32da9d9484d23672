//! Renders configuration files from the live settings and restarts the services they belong to
//! (`thar-be-settings`).
//!
//! After the apiserver commits settings it runs `thar-be-settings` with the changed keys; the
//! renderer finds the services those keys affect, renders each service's configuration files from
//! handlebars templates with the full live settings, writes them atomically, then runs the
//! services' restart commands. At boot, `--all` renders every service.
//!
//! # Datastore conventions (Bottlerocket-compatible)
//!
//! All values are serialized JSON, like every datastore value.
//!
//! * `services.<svc>.configuration-files`: list of configuration file names,
//!   e.g. `["motd"]`.
//! * `services.<svc>.restart-commands`: list of commands, run in order after the files are
//!   written. Each item is either a **string**, run as `/bin/sh -c <string>` (so Bottlerocket's
//!   `"/bin/systemctl try-restart foo.service"` works, with shell quoting), or a **list of
//!   strings**, run directly as an argv (no shell). Identical commands of several services run
//!   once.
//! * `configuration-files.<name>.path`: absolute path of the rendered file;
//!   `configuration-files.<name>.template-path`: path of its handlebars template;
//!   `configuration-files.<name>.mode`: optional octal permission string, default `"0644"`.
//! * Metadata `affected-services` (a JSON list of service names) on a data key: a changed key
//!   affects the services named on itself or on its **nearest ancestor** that has the metadata
//!   (metadata on `settings.kubernetes` covers `settings.kubernetes.node-labels.x`; metadata on
//!   the key itself wins over its ancestors'). In addition, a changed `services.<svc>.*` key
//!   affects `<svc>`, and a changed `configuration-files.<name>.*` key affects every service
//!   listing `<name>`.
//!
//! # Rendering
//!
//! The template context is `{"settings": {...}}` built with [`datastore::from_pairs`] from every
//! live `settings.*` key, plus `"os": {...}` when `os.*` keys exist. Templates render in strict
//! mode: using a missing setting is an error naming the file and template, unless it is guarded
//! (`{{#if settings.x}}`, `{{#if_not_null settings.x}}`, `{{default "v" settings.x}}`). Output
//! is not HTML-escaped. Helpers are listed in [`helpers`].
//!
//! [`apply`] renders every selected file before writing any, so a template error changes
//! nothing on disk. Each file is written to a temp file in its directory (parent directories are
//! created), given its mode, fsynced, renamed over the target, and the directory fsynced.
//! Restart commands run only after all files are written; every command is attempted and the
//! failures (exit status and stderr tail) are returned together.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod error;
pub mod helpers;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use datastore::{Committed, FilesystemDataStore, Key, KeyType};
use fsutil::IoError;
use handlebars::Handlebars;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use tracing::{debug, info, warn};

use error::ds;
pub use error::{ApplyError, CommandFailure, Result};

/// Name of the metadata key listing the services a setting affects.
pub const AFFECTED_SERVICES: &str = "affected-services";
/// Default permission mode of a rendered file.
pub const DEFAULT_MODE: u32 = 0o644;
/// Bytes of a failed command's stderr kept in the error.
const STDERR_TAIL: usize = 2048;

/// A restart command: a shell string or an argv list (see the crate docs).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(untagged)]
pub enum RestartCommand {
    /// Run as `/bin/sh -c <string>`.
    Shell(String),
    /// Run directly; the first item is the program.
    Argv(Vec<String>),
}

impl std::fmt::Display for RestartCommand {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RestartCommand::Shell(s) => f.write_str(s),
            RestartCommand::Argv(argv) => write!(f, "{}", argv.join(" ")),
        }
    }
}

/// A service as configured under `services.<name>`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Service {
    /// Names of its configuration files.
    pub configuration_files: Vec<String>,
    /// Its restart commands, in order.
    pub restart_commands: Vec<RestartCommand>,
}

/// A configuration file as configured under `configuration-files.<name>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigFile {
    /// Absolute path of the rendered file.
    pub path: PathBuf,
    /// Path of the handlebars template.
    pub template_path: PathBuf,
    /// Permission mode of the rendered file.
    pub mode: u32,
}

/// Which services [`apply`] handles.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Selection {
    /// Every configured service.
    All,
    /// The services affected by these changed data keys (see [`affected_services`]).
    Keys(BTreeSet<Key>),
}

/// How [`apply`] runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Options {
    /// Prefix every written path with this directory (for tests and image builds).
    pub root: Option<PathBuf>,
    /// Whether to run the services' restart commands after writing their files.
    pub run_restart_commands: bool,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            root: None,
            run_restart_commands: true,
        }
    }
}

/// What [`apply`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ApplyReport {
    /// The services handled.
    pub services: BTreeSet<String>,
    /// Every file written (with [`Options::root`] applied), in order.
    pub files_written: Vec<PathBuf>,
    /// Every restart command run, in order.
    pub commands_run: Vec<String>,
}

fn invalid(key: &Key, reason: impl Into<String>) -> ApplyError {
    ApplyError::InvalidData {
        key: key.name().to_string(),
        reason: reason.into(),
    }
}

fn parse_json<T: serde::de::DeserializeOwned>(key: &Key, raw: &str, what: &str) -> Result<T> {
    serde_json::from_str(raw).map_err(|e| invalid(key, format!("expected {what}: {e}")))
}

/// Reads every service under `services.*` of the live settings.
pub fn load_services(store: &FilesystemDataStore) -> Result<BTreeMap<String, Service>> {
    let pairs = store
        .get_prefix("services.", &Committed::Live)
        .map_err(ds("read services.*"))?;
    let mut services: BTreeMap<String, Service> = BTreeMap::new();
    for (key, raw) in &pairs {
        let [_, name, field] = key.segments() else {
            debug!(key = %key, "ignoring unknown service key");
            continue;
        };
        match field.as_str() {
            "configuration-files" => {
                services
                    .entry(name.clone())
                    .or_default()
                    .configuration_files =
                    parse_json(key, raw, "a JSON list of configuration file names")?;
            }
            "restart-commands" => {
                let commands: Vec<RestartCommand> =
                    parse_json(key, raw, "a JSON list of command strings or argv lists")?;
                if commands
                    .iter()
                    .any(|c| matches!(c, RestartCommand::Argv(a) if a.is_empty()))
                {
                    return Err(invalid(key, "an argv list is empty"));
                }
                services.entry(name.clone()).or_default().restart_commands = commands;
            }
            _ => debug!(key = %key, "ignoring unknown service key"),
        }
    }
    Ok(services)
}

/// Reads every configuration file under `configuration-files.*` of the live settings.
pub fn load_config_files(store: &FilesystemDataStore) -> Result<BTreeMap<String, ConfigFile>> {
    let pairs = store
        .get_prefix("configuration-files.", &Committed::Live)
        .map_err(ds("read configuration-files.*"))?;
    let mut fields: BTreeMap<String, BTreeMap<String, (Key, String)>> = BTreeMap::new();
    for (key, raw) in pairs {
        let [_, name, field] = key.segments() else {
            debug!(key = %key, "ignoring unknown configuration-file key");
            continue;
        };
        let (name, field) = (name.clone(), field.clone());
        fields.entry(name).or_default().insert(field, (key, raw));
    }
    let mut out = BTreeMap::new();
    for (name, f) in fields {
        let string_field = |field: &'static str| -> Result<Option<String>> {
            f.get(field)
                .map(|(key, raw)| parse_json::<String>(key, raw, "a JSON string"))
                .transpose()
        };
        let missing = |field| ApplyError::MissingField {
            file: name.clone(),
            field,
        };
        let path = PathBuf::from(string_field("path")?.ok_or_else(|| missing("path"))?);
        if !path.is_absolute() {
            return Err(ApplyError::RelativePath { file: name, path });
        }
        let template_path =
            PathBuf::from(string_field("template-path")?.ok_or_else(|| missing("template-path"))?);
        let mode = match string_field("mode")? {
            None => DEFAULT_MODE,
            Some(m) => parse_mode(&m).ok_or_else(|| ApplyError::InvalidMode {
                file: name.clone(),
                mode: m.clone(),
            })?,
        };
        out.insert(
            name,
            ConfigFile {
                path,
                template_path,
                mode,
            },
        );
    }
    Ok(out)
}

/// Parses an octal mode such as `"0644"`, `"644"` or `"0o600"` (at most `07777`).
pub fn parse_mode(mode: &str) -> Option<u32> {
    let digits = mode.strip_prefix("0o").unwrap_or(mode);
    if digits.is_empty() || !digits.bytes().all(|b| (b'0'..=b'7').contains(&b)) {
        return None;
    }
    u32::from_str_radix(digits, 8).ok().filter(|m| *m <= 0o7777)
}

/// The services affected by the changed data keys (see the crate docs for the rules).
///
/// Metadata keys in `changed` are ignored. Services named in metadata need not be configured.
pub fn affected_services<'a, I>(store: &FilesystemDataStore, changed: I) -> Result<BTreeSet<String>>
where
    I: IntoIterator<Item = &'a Key>,
{
    let meta = Key::meta(AFFECTED_SERVICES).expect("valid metadata key name");
    let annotated = store
        .get_metadata_prefix("", &meta, &Committed::Live)
        .map_err(ds(format!("read '{AFFECTED_SERVICES}' metadata")))?;
    let mut out = BTreeSet::new();
    let mut config_files: Option<BTreeMap<String, Service>> = None;
    for key in changed {
        if key.key_type() != KeyType::Data {
            continue;
        }
        let segments = key.segments();
        // The nearest key (itself, then its ancestors) carrying the metadata.
        for len in (1..=segments.len()).rev() {
            let Ok(ancestor) = Key::from_segments(KeyType::Data, &segments[..len]) else {
                continue;
            };
            if let Some(raw) = annotated.get(&ancestor) {
                let names: Vec<String> =
                    serde_json::from_str(raw).map_err(|e| ApplyError::InvalidData {
                        key: format!("{ancestor} (metadata {AFFECTED_SERVICES})"),
                        reason: format!("expected a JSON list of service names: {e}"),
                    })?;
                out.extend(names);
                break;
            }
        }
        match segments.first().map(String::as_str) {
            Some("services") if segments.len() >= 2 => {
                out.insert(segments[1].clone());
            }
            Some("configuration-files") if segments.len() >= 2 => {
                if config_files.is_none() {
                    config_files = Some(load_services(store)?);
                }
                let services = config_files.as_ref().expect("loaded above");
                out.extend(
                    services
                        .iter()
                        .filter(|(_, s)| s.configuration_files.contains(&segments[1]))
                        .map(|(name, _)| name.clone()),
                );
            }
            _ => {}
        }
    }
    Ok(out)
}

/// The template context: `{"settings": {...}}` from the live `settings.*` keys, plus
/// `"os": {...}` when `os.*` keys exist.
pub fn template_context(store: &FilesystemDataStore) -> Result<Value> {
    let mut pairs: HashMap<Key, String> = store
        .get_prefix("settings.", &Committed::Live)
        .map_err(ds("read settings.*"))?;
    pairs.extend(
        store
            .get_prefix("os.", &Committed::Live)
            .map_err(ds("read os.*"))?,
    );
    let mut context =
        datastore::from_pairs(&pairs).map_err(|source| ApplyError::Context { source })?;
    if let Value::Object(map) = &mut context {
        map.entry("settings")
            .or_insert_with(|| Value::Object(Default::default()));
    }
    Ok(context)
}

/// A handlebars registry in strict mode, without HTML escaping, with [`helpers`] registered.
pub fn registry() -> Handlebars<'static> {
    let mut hb = Handlebars::new();
    hb.set_strict_mode(true);
    hb.register_escape_fn(handlebars::no_escape);
    helpers::register_all(&mut hb);
    hb
}

/// Renders one configuration file's template with `context`.
pub fn render_file(
    hb: &mut Handlebars<'_>,
    name: &str,
    file: &ConfigFile,
    context: &Value,
) -> Result<String> {
    let template = &file.template_path;
    let text = fs::read_to_string(template).map_err(|source| ApplyError::TemplateRead {
        file: name.to_string(),
        template: template.clone(),
        source,
    })?;
    let template_name = template.display().to_string();
    hb.register_template_string(&template_name, text)
        .map_err(|e| ApplyError::TemplateParse {
            file: name.to_string(),
            template: template.clone(),
            reason: e.to_string(),
        })?;
    hb.render(&template_name, context)
        .map_err(|e| ApplyError::Render {
            file: name.to_string(),
            template: template.clone(),
            reason: e.to_string(),
        })
}

/// `path` under `root`, if any.
fn rooted(root: Option<&Path>, path: &Path) -> PathBuf {
    match root {
        Some(root) => root.join(path.strip_prefix("/").unwrap_or(path)),
        None => path.to_path_buf(),
    }
}

/// Writes `contents` to `path` atomically and durably with permission `mode`: temp file in the
/// same directory, fsync, rename, fsync of the directory. Parent directories are created.
pub fn write_atomic(name: &str, path: &Path, contents: &[u8], mode: u32) -> Result<()> {
    let fail = |source| ApplyError::Write {
        file: name.to_string(),
        source,
    };
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    fs::create_dir_all(dir).map_err(|e| fail(IoError::new("create directory", dir, e)))?;
    fsutil::atomic_write(path, contents, mode).map_err(fail)
}

fn tail(bytes: &[u8]) -> String {
    let start = bytes.len().saturating_sub(STDERR_TAIL);
    String::from_utf8_lossy(&bytes[start..]).trim().to_string()
}

/// Runs one restart command, waiting for it; `Err` describes the failure.
pub fn run_command(service: &str, command: &RestartCommand) -> Result<(), CommandFailure> {
    let mut cmd = match command {
        RestartCommand::Shell(s) => {
            let mut c = Command::new("/bin/sh");
            c.arg("-c").arg(s);
            c
        }
        RestartCommand::Argv(argv) => {
            let mut c = Command::new(&argv[0]);
            c.args(&argv[1..]);
            c
        }
    };
    let failure = |status: String, stderr: &[u8]| CommandFailure {
        service: service.to_string(),
        command: command.to_string(),
        status,
        stderr_tail: tail(stderr),
    };
    let output = cmd
        .stdin(std::process::Stdio::null())
        .output()
        .map_err(|e| failure(format!("could not start: {e}"), b""))?;
    if output.status.success() {
        Ok(())
    } else {
        Err(failure(output.status.to_string(), &output.stderr))
    }
}

/// Renders, writes and restarts the selected services (see the crate docs).
pub fn apply(
    store: &FilesystemDataStore,
    selection: &Selection,
    options: &Options,
) -> Result<ApplyReport> {
    let services = load_services(store)?;
    let selected: BTreeSet<String> = match selection {
        Selection::All => services.keys().cloned().collect(),
        Selection::Keys(keys) => affected_services(store, keys)?,
    };
    let mut report = ApplyReport::default();
    let mut chosen = Vec::new();
    for name in &selected {
        match services.get(name) {
            Some(service) => {
                report.services.insert(name.clone());
                chosen.push((name, service));
            }
            None => warn!(service = %name, "affected service is not configured; skipping"),
        }
    }
    if chosen.is_empty() {
        info!("no services to update");
        return Ok(report);
    }

    // Render everything first, so a template error writes nothing.
    let files = load_config_files(store)?;
    let context = template_context(store)?;
    let mut hb = registry();
    let mut rendered: Vec<(&str, &ConfigFile, String)> = Vec::new();
    let mut seen = BTreeSet::new();
    for (service, svc) in &chosen {
        for file_name in &svc.configuration_files {
            if !seen.insert(file_name.as_str()) {
                continue;
            }
            let file = files
                .get(file_name)
                .ok_or_else(|| ApplyError::UnknownConfigFile {
                    service: service.to_string(),
                    file: file_name.clone(),
                })?;
            let text = render_file(&mut hb, file_name, file, &context)?;
            rendered.push((file_name, file, text));
        }
    }

    for (name, file, text) in rendered {
        let path = rooted(options.root.as_deref(), &file.path);
        write_atomic(name, &path, text.as_bytes(), file.mode)?;
        info!(file = %name, path = %path.display(), "wrote configuration file");
        report.files_written.push(path);
    }

    if options.run_restart_commands {
        let mut failures = Vec::new();
        let mut done = std::collections::HashSet::new();
        for (service, svc) in &chosen {
            for command in &svc.restart_commands {
                if !done.insert(command) {
                    continue;
                }
                info!(service = %service, command = %command, "running restart command");
                report.commands_run.push(command.to_string());
                if let Err(failure) = run_command(service, command) {
                    warn!(%failure, "restart command failed");
                    failures.push(failure);
                }
            }
        }
        if !failures.is_empty() {
            return Err(ApplyError::RestartFailed { failures });
        }
    }
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modes() {
        assert_eq!(parse_mode("0644"), Some(0o644));
        assert_eq!(parse_mode("600"), Some(0o600));
        assert_eq!(parse_mode("0o4755"), Some(0o4755));
        assert_eq!(parse_mode("0888"), None);
        assert_eq!(parse_mode("17777"), None);
        assert_eq!(parse_mode(""), None);
    }

    #[test]
    fn restart_command_forms() {
        let cmds: Vec<RestartCommand> =
            serde_json::from_str(r#"["systemctl try-restart a", ["/bin/true", "x"]]"#).unwrap();
        assert_eq!(
            cmds[0],
            RestartCommand::Shell("systemctl try-restart a".into())
        );
        assert_eq!(
            cmds[1],
            RestartCommand::Argv(vec!["/bin/true".into(), "x".into()])
        );
        assert!(run_command("s", &cmds[1]).is_ok());
        let err =
            run_command("s", &RestartCommand::Argv(vec!["/nonexistent/x".into()])).unwrap_err();
        assert!(err.status.contains("could not start"), "{err}");
    }

    #[test]
    fn rooted_paths() {
        assert_eq!(
            rooted(Some(Path::new("/tmp/r")), Path::new("/etc/motd")),
            PathBuf::from("/tmp/r/etc/motd")
        );
        assert_eq!(
            rooted(None, Path::new("/etc/motd")),
            PathBuf::from("/etc/motd")
        );
    }
}
