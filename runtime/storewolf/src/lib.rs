//! `storewolf`: creates the settings datastore on first boot and fills in the defaults that are
//! missing.
//!
//! # Defaults
//!
//! A `defaults.d`-style directory holds `*.toml` files, merged in file-name order: tables merge
//! recursively, arrays and scalars of a later file replace those of an earlier one. A file may
//! hold these top-level tables (anything else is an error naming the file and key):
//!
//! * `[settings...]`: default settings, validated per file with
//!   [`settings::validate_settings_json`];
//! * `[services.<name>]`: `configuration-files = ["name", ...]` and `restart-commands = [...]`
//!   (each command a shell string or an argv list);
//! * `[configuration-files.<name>]`: `path` (absolute), `template-path`, optional `mode` (an
//!   octal string such as `"0600"`);
//! * `[metadata.<dotted.data.key>]`: metadata of that data key, e.g.
//!   `[metadata.settings.motd] affected-services = ["motd"]`. A non-table value (or a known
//!   metadata name: `affected-services`, `setting-generator`, `template`) is a metadata entry;
//!   any other table is one more segment of the data key.
//!
//! # Datastore conventions (those `renderer` reads)
//!
//! Every value is serialized JSON and lists are stored whole: `services.<svc>.configuration-files`
//! = `["motd"]`, `services.<svc>.restart-commands`, `configuration-files.<name>.path`,
//! `configuration-files.<name>.template-path`, `configuration-files.<name>.mode`, and metadata
//! `affected-services` (a JSON list of service names) on the data key it covers.
//!
//! # Writing
//!
//! [`run`] creates the datastore with [`datastore::create`] (the `current` → `vX` → `vX.Y` →
//! `vX.Y.Z` → `vX.Y.Z_<id>` chain) when `<base>/current` is missing, then writes only the data
//! keys and metadata that live lacks (a user's setting is never overwritten) into the
//! [`TRANSACTION`] transaction and commits it, so the defaults land atomically. When nothing is
//! missing nothing is written (a second run is a no-op).

#![forbid(unsafe_code)]
#![warn(missing_docs)]

use std::collections::HashMap;
use std::fs;
use std::path::{Path, PathBuf};

use datastore::{Committed, FilesystemDataStore, Key, KeyType};
use serde_json::{Map, Value};
use tracing::{debug, info};

/// The transaction storewolf writes defaults into.
pub const TRANSACTION: &str = "storewolf";
/// Metadata names that are always metadata entries, even when their value is a table.
pub const KNOWN_METADATA: &[&str] = &["affected-services", "setting-generator", "template"];
/// Top-level tables a defaults file may hold.
pub const TOP_LEVEL: &[&str] = &["settings", "services", "configuration-files", "metadata"];

/// Result type of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A file or directory could not be read.
    #[error("cannot read {}", path.display())]
    Read {
        /// The path.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// A defaults file is not valid TOML.
    #[error("{}: invalid TOML: {message}", path.display())]
    Parse {
        /// The file.
        path: PathBuf,
        /// The parser's message.
        message: String,
    },
    /// A default is invalid.
    #[error("{}: {key}: {reason}", path.display())]
    InvalidDefault {
        /// The defaults file (or directory, for problems of the merged result).
        path: PathBuf,
        /// The dotted key at fault.
        key: String,
        /// What is wrong.
        reason: String,
    },
    /// A datastore operation failed.
    #[error("cannot {op}")]
    Datastore {
        /// What was being done.
        op: String,
        /// The underlying error.
        #[source]
        source: datastore::Error,
    },
}

fn ds(op: impl Into<String>) -> impl FnOnce(datastore::Error) -> Error {
    let op = op.into();
    move |source| Error::Datastore { op, source }
}

/// The merged defaults, flattened into datastore form.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Defaults {
    /// Data keys and their serialized JSON values.
    pub data: HashMap<Key, String>,
    /// Metadata: (metadata key, data key) → serialized JSON value.
    pub metadata: HashMap<(Key, Key), String>,
}

/// What [`run`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Summary {
    /// Whether the datastore was created by this run.
    pub created: bool,
    /// The data keys written (missing before).
    pub keys_written: Vec<String>,
    /// The metadata written, as `data-key/metadata-name`.
    pub metadata_written: Vec<String>,
}

/// Merges `from` into `into`: tables merge recursively, everything else replaces.
pub fn merge(into: &mut toml::Table, from: toml::Table) {
    for (k, v) in from {
        match (into.get_mut(&k), v) {
            (Some(toml::Value::Table(a)), toml::Value::Table(b)) => merge(a, b),
            (_, v) => {
                into.insert(k, v);
            }
        }
    }
}

/// Converts TOML to JSON (datetimes become strings).
pub fn toml_to_json(value: &toml::Value) -> Value {
    match value {
        toml::Value::String(s) => Value::String(s.clone()),
        toml::Value::Integer(i) => Value::from(*i),
        toml::Value::Float(f) => Value::from(*f),
        toml::Value::Boolean(b) => Value::Bool(*b),
        toml::Value::Datetime(d) => Value::String(d.to_string()),
        toml::Value::Array(a) => Value::Array(a.iter().map(toml_to_json).collect()),
        toml::Value::Table(t) => Value::Object(
            t.iter()
                .map(|(k, v)| (k.clone(), toml_to_json(v)))
                .collect::<Map<_, _>>(),
        ),
    }
}

/// Joins key segments into a dotted name, quoting segments that need it.
fn dotted(segments: &[&str]) -> String {
    segments
        .iter()
        .map(|s| settings::quote_segment(s).into_owned())
        .collect::<Vec<_>>()
        .join(".")
}

/// The `*.toml` files of `dir`, sorted by file name.
pub fn defaults_files(dir: &Path) -> Result<Vec<PathBuf>> {
    let read = |source| Error::Read {
        path: dir.to_path_buf(),
        source,
    };
    let mut files = Vec::new();
    for entry in fs::read_dir(dir).map_err(read)? {
        let path = entry.map_err(read)?.path();
        if path.extension().is_some_and(|e| e == "toml") && path.is_file() {
            files.push(path);
        }
    }
    files.sort_by(|a, b| a.file_name().cmp(&b.file_name()));
    Ok(files)
}

/// Reads and checks one defaults file.
pub fn load_file(path: &Path) -> Result<toml::Table> {
    let text = fs::read_to_string(path).map_err(|source| Error::Read {
        path: path.to_path_buf(),
        source,
    })?;
    let table: toml::Table = toml::from_str(&text).map_err(|e| Error::Parse {
        path: path.to_path_buf(),
        message: e.message().to_string(),
    })?;
    check_file(path, &table)?;
    Ok(table)
}

/// Checks the structure of one defaults file; errors name the file and key.
fn check_file(path: &Path, table: &toml::Table) -> Result<()> {
    let bad = |key: String, reason: String| Error::InvalidDefault {
        path: path.to_path_buf(),
        key,
        reason,
    };
    for (name, value) in table {
        if !TOP_LEVEL.contains(&name.as_str()) {
            return Err(bad(
                dotted(&[name]),
                format!(
                    "unknown top-level key; expected one of: {}",
                    TOP_LEVEL.join(", ")
                ),
            ));
        }
        let Some(inner) = value.as_table() else {
            return Err(bad(dotted(&[name]), "expected a table".into()));
        };
        match name.as_str() {
            "settings" => {
                let json = toml_to_json(value);
                settings::validate_settings_json(&json, None)
                    .map_err(|e| bad(e.path().to_string(), e.to_string()))?;
                datastore::to_pairs_with_prefix(&Key::data("settings").expect("valid"), &json)
                    .map_err(|e| bad("settings".into(), e.to_string()))?;
            }
            "services" => {
                for (svc, def) in inner {
                    check_service(svc, def).map_err(|(k, r)| bad(k, r))?;
                }
            }
            "configuration-files" => {
                for (file, def) in inner {
                    check_config_file(file, def).map_err(|(k, r)| bad(k, r))?;
                }
            }
            _ => {
                let mut out = HashMap::new();
                flatten_metadata(inner, &mut vec![], &mut out).map_err(|(k, r)| bad(k, r))?;
            }
        }
    }
    Ok(())
}

type Problem = (String, String);

fn check_service(svc: &str, def: &toml::Value) -> Result<(), Problem> {
    let base = ["services", svc];
    let Some(def) = def.as_table() else {
        return Err((dotted(&base), "expected a table".into()));
    };
    for (field, value) in def {
        let key = dotted(&["services", svc, field]);
        match field.as_str() {
            "configuration-files" => {
                let ok = value
                    .as_array()
                    .is_some_and(|a| a.iter().all(|v| v.is_str()));
                if !ok {
                    return Err((key, "expected a list of configuration file names".into()));
                }
            }
            "restart-commands" => {
                let ok = value.as_array().is_some_and(|a| {
                    a.iter().all(|c| {
                        c.is_str()
                            || c.as_array().is_some_and(|argv| {
                                !argv.is_empty() && argv.iter().all(|s| s.is_str())
                            })
                    })
                });
                if !ok {
                    return Err((
                        key,
                        "expected a list of commands, each a shell string or a non-empty list \
                         of strings"
                            .into(),
                    ));
                }
            }
            _ => {
                return Err((
                    key,
                    "unknown service field; expected configuration-files or restart-commands"
                        .into(),
                ))
            }
        }
    }
    Ok(())
}

fn check_config_file(name: &str, def: &toml::Value) -> Result<(), Problem> {
    let Some(def) = def.as_table() else {
        return Err((
            dotted(&["configuration-files", name]),
            "expected a table".into(),
        ));
    };
    for (field, value) in def {
        let key = dotted(&["configuration-files", name, field]);
        match field.as_str() {
            "path" | "template-path" => match value.as_str() {
                Some(p) if p.starts_with('/') => {}
                _ => return Err((key, "expected an absolute path string".into())),
            },
            "mode" => match value.as_str() {
                Some(m)
                    if !m.is_empty()
                        && m.len() <= 4
                        && m.bytes().all(|b| (b'0'..=b'7').contains(&b)) =>
                {
                    if u32::from_str_radix(m, 8).map_or(true, |v| v > 0o7777) {
                        return Err((key, "mode out of range".into()));
                    }
                }
                _ => {
                    return Err((
                        key,
                        "expected an octal permission string such as \"0644\"".into(),
                    ))
                }
            },
            _ => {
                return Err((
                    key,
                    "unknown configuration-file field; expected path, template-path or mode".into(),
                ))
            }
        }
    }
    Ok(())
}

/// Walks a `[metadata...]` table: tables are key segments, other values metadata entries.
fn flatten_metadata(
    table: &toml::Table,
    path: &mut Vec<String>,
    out: &mut HashMap<(Key, Key), String>,
) -> Result<(), Problem> {
    for (name, value) in table {
        let is_entry = !value.is_table() || KNOWN_METADATA.contains(&name.as_str());
        if !is_entry {
            path.push(name.clone());
            flatten_metadata(value.as_table().expect("table"), path, out)?;
            path.pop();
            continue;
        }
        let mut full: Vec<&str> = vec!["metadata"];
        full.extend(path.iter().map(String::as_str));
        full.push(name);
        let at = dotted(&full);
        if path.is_empty() {
            return Err((
                at,
                "metadata must be under the data key it describes".into(),
            ));
        }
        let data =
            Key::from_segments(KeyType::Data, path).map_err(|e| (at.clone(), e.to_string()))?;
        let meta = Key::new(KeyType::Meta, name).map_err(|e| (at.clone(), e.to_string()))?;
        if name == "affected-services"
            && !value
                .as_array()
                .is_some_and(|a| a.iter().all(|v| v.is_str()))
        {
            return Err((at, "expected a list of service names".into()));
        }
        let serialized = toml_to_json(value).to_string();
        datastore::validate_metadata_value(&meta, &serialized).map_err(|e| (at, e.to_string()))?;
        out.insert((meta, data), serialized);
    }
    Ok(())
}

/// Loads, checks and merges every defaults file of `dir` and flattens the result.
pub fn load_defaults(dir: &Path) -> Result<Defaults> {
    let mut merged = toml::Table::new();
    for file in defaults_files(dir)? {
        debug!("reading defaults from {}", file.display());
        merge(&mut merged, load_file(&file)?);
    }
    // The merged result is re-checked: a later file may replace a table by a value.
    check_file(dir, &merged)?;
    let bad = |key: String, reason: String| Error::InvalidDefault {
        path: dir.to_path_buf(),
        key,
        reason,
    };
    let mut defaults = Defaults::default();
    if let Some(toml::Value::Table(meta)) = merged.remove("metadata") {
        flatten_metadata(&meta, &mut vec![], &mut defaults.metadata).map_err(|(k, r)| bad(k, r))?;
    }
    if let Some(toml::Value::Table(files)) = merged.get("configuration-files") {
        for (name, def) in files {
            for field in ["path", "template-path"] {
                if def.get(field).is_none() {
                    return Err(bad(
                        dotted(&["configuration-files", name, field]),
                        "missing; every configuration file needs path and template-path".into(),
                    ));
                }
            }
        }
    }
    let json = toml_to_json(&toml::Value::Table(merged));
    defaults.data =
        datastore::to_pairs(&json).map_err(|e| bad("(merged)".into(), e.to_string()))?;
    Ok(defaults)
}

/// Creates the datastore under `base` for `version` if `base/current` is missing, and returns
/// whether it did, with the path of `current`.
pub fn ensure_datastore(base: &Path, version: &str) -> Result<(bool, PathBuf)> {
    let current = base.join(datastore::version::CURRENT);
    if fs::symlink_metadata(&current).is_ok() {
        return Ok((false, current));
    }
    let path = datastore::create(base, version)
        .map_err(ds(format!("create datastore under '{}'", base.display())))?;
    info!("created datastore {} for version {version}", path.display());
    Ok((true, path))
}

/// Writes into `store` the defaults it lacks, in one committed transaction; returns what it
/// wrote.
pub fn populate(store: &FilesystemDataStore, defaults: &Defaults) -> Result<Summary> {
    let live = Committed::Live;
    // A leftover transaction of an interrupted run is discarded.
    store
        .delete_transaction(TRANSACTION)
        .map_err(ds("discard a stale storewolf transaction"))?;
    let existing = store
        .list_populated_keys("", &live)
        .map_err(ds("list live keys"))?;
    let missing: HashMap<Key, String> = defaults
        .data
        .iter()
        .filter(|(k, _)| !existing.contains(*k))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let mut meta_missing = Vec::new();
    for ((meta, data), value) in &defaults.metadata {
        let have = store.get_metadata(meta, data, &live).map_err(ds(format!(
            "read metadata {} of {}",
            meta.name(),
            data.name()
        )))?;
        if have.is_none() {
            meta_missing.push((meta, data, value));
        }
    }
    let mut summary = Summary::default();
    if missing.is_empty() && meta_missing.is_empty() {
        info!("every default is already set; nothing to write");
        return Ok(summary);
    }
    let tx = Committed::pending(TRANSACTION).map_err(ds("name the transaction"))?;
    let result = (|| {
        if !missing.is_empty() {
            store
                .set_keys(&missing, &tx)
                .map_err(ds("write default settings"))?;
        }
        for (meta, data, value) in &meta_missing {
            store
                .set_metadata(meta, data, value, &tx)
                .map_err(ds(format!(
                    "write metadata {} of {}",
                    meta.name(),
                    data.name()
                )))?;
        }
        store
            .commit_transaction(TRANSACTION)
            .map_err(ds("commit the defaults"))
    })();
    if let Err(e) = result {
        let _ = store.delete_transaction(TRANSACTION);
        return Err(e);
    }
    summary.keys_written = missing.keys().map(|k| k.name().to_string()).collect();
    summary.keys_written.sort();
    summary.metadata_written = meta_missing
        .iter()
        .map(|(m, d, _)| format!("{}/{}", d.name(), m.name()))
        .collect();
    summary.metadata_written.sort();
    info!(
        "wrote {} default keys and {} metadata entries",
        summary.keys_written.len(),
        summary.metadata_written.len()
    );
    Ok(summary)
}

/// Loads the defaults of `defaults_dir`, creates the datastore under `base` for `version` if
/// missing, and writes the missing defaults. Defaults are checked before anything is created.
pub fn run(base: &Path, version: &str, defaults_dir: &Path) -> Result<Summary> {
    let defaults = load_defaults(defaults_dir)?;
    version
        .parse::<datastore::DatastoreVersion>()
        .map_err(ds("parse the version"))?;
    let (created, current) = ensure_datastore(base, version)?;
    let store = FilesystemDataStore::open(&current)
        .map_err(ds(format!("open datastore '{}'", current.display())))?;
    let mut summary = populate(&store, &defaults)?;
    summary.created = created;
    Ok(summary)
}
