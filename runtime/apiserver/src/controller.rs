//! The [`Controller`]: executes [`Action`]s on the datastore, the apply and reboot commands and
//! the update state machine. It knows nothing of HTTP, so it is tested on its own.

use std::collections::{BTreeMap, HashMap};
use std::io::{Read, Write};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};

use api_model::ChangedKeys;
use datastore::{Committed, FilesystemDataStore, Key};
use serde_json::{json, Map, Value};
use tracing::warn;

use crate::action::{serialize_body, Action, Reply, Selection};
use crate::cache::{filter_prefix, LiveCache};
use crate::error::ApiError;
use crate::os_release;
use crate::updates::Updates;

/// How much of a failed command's stderr is returned, in bytes.
const STDERR_TAIL: usize = 4096;

/// What the controller runs and serves (the part of [`crate::Config`] it needs).
#[derive(Debug, Clone)]
pub struct Commands {
    /// The apply command: program and arguments; gets the changed keys as JSON on stdin.
    pub apply: Vec<String>,
    /// The reboot command: program and arguments.
    pub reboot: Vec<String>,
    /// The os-release file.
    pub os_release_path: PathBuf,
    /// The settings families accepted; `None` accepts all.
    pub settings_families: Option<Vec<String>>,
}

/// Executes actions (see the module documentation).
pub struct Controller {
    store: FilesystemDataStore,
    commands: Commands,
    /// Applies run one at a time.
    apply_lock: Mutex<()>,
    cache: LiveCache,
    updates: Arc<Updates>,
}

impl Controller {
    /// A controller of `store`.
    pub fn new(store: FilesystemDataStore, commands: Commands, updates: Arc<Updates>) -> Self {
        Self {
            store,
            commands,
            apply_lock: Mutex::new(()),
            cache: LiveCache::default(),
            updates,
        }
    }

    /// Executes `action`.
    pub fn execute(&self, action: Action) -> Result<Reply, ApiError> {
        match action {
            Action::GetRoot => self.get_root(),
            Action::GetSettings {
                from,
                selection,
                query,
            } => self.get_settings(from, &selection, &query),
            Action::PatchSettings { tx, settings } => self.write_settings(&tx, &settings),
            Action::GetTx { tx } => {
                let changes = self.store.pending_changes(&tx)?;
                Ok(Reply::Json(nest(&changes.set)?))
            }
            Action::DeleteTx { tx } => Ok(Reply::keys(names(self.store.delete_transaction(&tx)?))),
            Action::ListTx => Ok(Reply::keys(ChangedKeys::sorted(
                self.store.list_transactions()?,
            ))),
            Action::Commit { tx } => Ok(Reply::keys(names(self.store.commit_transaction(&tx)?))),
            Action::Apply { keys } => {
                let keys = match keys {
                    Some(keys) => names(keys),
                    None => names(
                        self.store
                            .list_populated_keys("settings.", &Committed::Live)?,
                    ),
                };
                self.run_apply(&keys)?;
                Ok(Reply::keys(keys))
            }
            Action::CommitAndApply { tx } => {
                let keys = names(self.store.commit_transaction(&tx)?);
                self.run_apply(&keys)
                    .map_err(|e| e.after_commit(&tx, keys.clone()))?;
                Ok(Reply::keys(keys))
            }
            Action::GetOs => Ok(Reply::Json(json!(os_release::read(
                &self.commands.os_release_path
            )?))),
            Action::GetMetadata { meta, keys } => self.get_metadata(&meta, keys),
            Action::GetTree { root, names } => {
                let (_, pairs) = self.cache.pairs(&self.store)?;
                let mut tree = subtree(&filter_prefix(&pairs, &format!("{root}.")), root)?;
                if let (Some(names), Value::Object(map)) = (names, &mut tree) {
                    map.retain(|k, _| names.contains(k));
                }
                Ok(Reply::Json(tree))
            }
            Action::Reboot => {
                run_command("reboot", &self.commands.reboot, None)?;
                Ok(Reply::NoContent)
            }
            Action::StartUpdate(cmd) => {
                self.updates.start(cmd)?;
                Ok(Reply::NoContent)
            }
            Action::GetUpdateStatus => Ok(Reply::Json(
                serde_json::to_value(self.updates.status()?).map_err(|e| {
                    ApiError::internal(format!("failed to serialize update status: {e}"))
                })?,
            )),
        }
    }

    fn get_root(&self) -> Result<Reply, ApiError> {
        let (_, pairs) = self.cache.pairs(&self.store)?;
        let mut all = Map::new();
        if let Value::Object(nested) = nest(&pairs)? {
            all = nested;
        }
        for root in ["settings", "services", "configuration-files"] {
            all.entry(root).or_insert_with(|| json!({}));
        }
        all.insert(
            "os".into(),
            json!(os_release::read(&self.commands.os_release_path)?),
        );
        Ok(Reply::Json(Value::Object(all)))
    }

    /// Live reads come from the cache (rendered bodies first); transaction reads never do.
    fn get_settings(
        &self,
        from: Committed,
        selection: &Selection,
        query: &str,
    ) -> Result<Reply, ApiError> {
        let live = match from {
            Committed::Live => {
                let (id, pairs) = self.cache.pairs(&self.store)?;
                if let Some(body) = self.cache.rendered(id, query) {
                    return Ok(Reply::Serialized(body));
                }
                Some((id, pairs))
            }
            Committed::Pending { .. } => None,
        };
        let get_prefix = |prefix: &str| -> Result<HashMap<Key, String>, ApiError> {
            match &live {
                Some((_, pairs)) => Ok(filter_prefix(pairs, prefix)),
                None => Ok(self.store.get_prefix(prefix, &from)?),
            }
        };
        let pairs = match selection {
            Selection::Keys(keys) => {
                let mut out = HashMap::new();
                for key in keys {
                    out.extend(
                        get_prefix(key.name())?
                            .into_iter()
                            .filter(|(k, _)| k.starts_with_key(key)),
                    );
                }
                out
            }
            Selection::Prefix(prefix) => get_prefix(prefix)?,
            Selection::All => get_prefix("settings.")?,
        };
        let body = subtree(&pairs, "settings")?;
        Ok(match live {
            Some((id, _)) => {
                let raw = serialize_body(&body);
                self.cache.store_rendered(id, query, raw.clone());
                Reply::Serialized(raw)
            }
            None => Reply::Json(body),
        })
    }

    /// Validates a partial settings object and writes it to the transaction.
    fn write_settings(&self, tx: &str, settings: &Value) -> Result<Reply, ApiError> {
        let families: Option<Vec<&str>> = self
            .commands
            .settings_families
            .as_ref()
            .map(|list| list.iter().map(String::as_str).collect());
        settings::validate_settings_json(settings, families.as_deref())
            .map_err(|e| ApiError::bad(e.to_string()).with_key(e.path()))?;
        let prefix = Key::data("settings").map_err(|e| ApiError::internal(e.to_string()))?;
        let pairs = datastore::to_pairs_with_prefix(&prefix, settings)?;
        if !pairs.is_empty() {
            self.store.set_keys(&pairs, &Committed::pending(tx)?)?;
        }
        Ok(Reply::NoContent)
    }

    fn get_metadata(&self, meta: &Key, keys: Option<Vec<Key>>) -> Result<Reply, ApiError> {
        let found: Vec<(Key, String)> = match keys {
            Some(keys) => {
                let mut found = Vec::new();
                for key in keys {
                    if let Some(raw) = self.store.get_metadata(meta, &key, &Committed::Live)? {
                        found.push((key, raw));
                    }
                }
                found
            }
            None => self
                .store
                .get_metadata_prefix("", meta, &Committed::Live)?
                .into_iter()
                .collect(),
        };
        let out: BTreeMap<String, Value> = found
            .into_iter()
            .map(|(key, raw)| {
                let v = serde_json::from_str(&raw).unwrap_or(Value::String(raw));
                (key.name().to_string(), v)
            })
            .collect();
        Ok(Reply::Json(json!(out)))
    }

    /// Runs the apply command with `keys` (a JSON array) on stdin, one apply at a time.
    fn run_apply(&self, keys: &ChangedKeys) -> Result<(), ApiError> {
        let _guard = self
            .apply_lock
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let input = serde_json::to_string(keys)
            .map_err(|e| ApiError::internal(format!("failed to serialize keys: {e}")))?;
        run_command("apply", &self.commands.apply, Some(input))
    }
}

/// The sorted names of `keys`.
fn names(keys: impl IntoIterator<Item = Key>) -> ChangedKeys {
    ChangedKeys::sorted(keys.into_iter().map(|k| k.name().to_string()))
}

/// Nests pairs into one object.
fn nest(pairs: &HashMap<Key, String>) -> Result<Value, ApiError> {
    datastore::from_pairs(pairs).map_err(|e| ApiError::internal(logging::Chain(&e).to_string()))
}

/// Nests pairs and returns the object under root segment `root` (empty object if none).
fn subtree(pairs: &HashMap<Key, String>, root: &str) -> Result<Value, ApiError> {
    Ok(nest(pairs)?
        .get_mut(root)
        .map(Value::take)
        .unwrap_or_else(|| json!({})))
}

/// Runs a command to completion; a spawn failure or non-zero exit is a 500 with its stderr tail.
fn run_command(which: &str, argv: &[String], stdin: Option<String>) -> Result<(), ApiError> {
    let shown = argv.join(" ");
    let (program, args) = argv
        .split_first()
        .ok_or_else(|| ApiError::internal(format!("the {which} command is empty")))?;
    let mut child = Command::new(program)
        .args(args)
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        // The command's output goes to the server's stdout (the journal on a host).
        .stdout(Stdio::inherit())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| ApiError::internal(format!("failed to run {which} command '{shown}': {e}")))?;
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
        ApiError::internal(format!("failed to wait for {which} command '{shown}': {e}"))
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
    Err(
        ApiError::internal(format!("{which} command '{shown}' failed ({status})"))
            .with_stderr(tail),
    )
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;
    use std::path::Path;

    use api_model::CommandType;
    use serde_json::json;

    use super::*;
    use crate::updates::UpdateConfig;

    /// A controller on a fresh datastore in `dir`, whose apply command is `apply` (a shell body).
    fn controller(dir: &Path, apply: &str) -> Controller {
        let path = datastore::create(dir.join("ds"), "1.0.0").unwrap();
        let script = dir.join("apply.sh");
        std::fs::write(&script, format!("#!/bin/sh\n{apply}\n")).unwrap();
        std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
        let os_release = dir.join("os-release");
        std::fs::write(&os_release, "NAME=Bottlerocket\nVERSION_ID=1.2.3\n").unwrap();
        let updates = UpdateConfig {
            updog_command: vec!["false".into()],
            status_path: dir.join("status.json"),
            signpost_disk: Some(dir.join("no-disk")),
            ..Default::default()
        };
        Controller::new(
            FilesystemDataStore::open(&path).unwrap(),
            Commands {
                apply: vec![script.display().to_string()],
                reboot: vec!["true".into()],
                os_release_path: os_release.clone(),
                settings_families: None,
            },
            Arc::new(Updates::load(updates, os_release)),
        )
    }

    fn live(c: &Controller, selection: Selection, query: &str) -> Value {
        let reply = c
            .execute(Action::GetSettings {
                from: Committed::Live,
                selection,
                query: query.into(),
            })
            .unwrap();
        match reply {
            Reply::Serialized(body) => serde_json::from_slice(&body).unwrap(),
            other => panic!("live reads are served rendered: {other:?}"),
        }
    }

    fn patch(c: &Controller, tx: &str, settings: Value) -> Result<Reply, ApiError> {
        c.execute(Action::PatchSettings {
            tx: tx.into(),
            settings,
        })
    }

    #[test]
    fn writes_commits_and_reads() {
        let dir = tempfile::tempdir().unwrap();
        let c = controller(dir.path(), "cat >> \"$(dirname \"$0\")/applied.log\"");
        assert_eq!(live(&c, Selection::All, ""), json!({}));
        assert_eq!(
            patch(
                &c,
                "t",
                json!({"motd": "hi", "kubernetes": {"max-pods": 20}})
            )
            .unwrap(),
            Reply::NoContent
        );
        assert_eq!(
            c.execute(Action::GetTx { tx: "t".into() }).unwrap(),
            Reply::Json(json!({"settings": {"motd": "hi", "kubernetes": {"max-pods": 20}}}))
        );
        assert_eq!(
            c.execute(Action::ListTx).unwrap(),
            Reply::Json(json!(["t"]))
        );
        assert_eq!(
            c.execute(Action::CommitAndApply { tx: "t".into() })
                .unwrap(),
            Reply::Json(json!(["settings.kubernetes.max-pods", "settings.motd"]))
        );
        let applied = std::fs::read_to_string(dir.path().join("applied.log")).unwrap();
        assert_eq!(
            applied,
            r#"["settings.kubernetes.max-pods","settings.motd"]"#
        );
        assert_eq!(
            live(&c, Selection::All, ""),
            json!({"motd": "hi", "kubernetes": {"max-pods": 20}})
        );
        assert_eq!(
            live(
                &c,
                Selection::Keys(vec![Key::data("settings.motd").unwrap()]),
                "keys=settings.motd"
            ),
            json!({"motd": "hi"})
        );
        assert_eq!(
            live(
                &c,
                Selection::Prefix("settings.kub".into()),
                "prefix=settings.kub"
            ),
            json!({"kubernetes": {"max-pods": 20}})
        );
        // Nothing pending any more: 422.
        let e = c.execute(Action::Commit { tx: "t".into() }).unwrap_err();
        assert_eq!(e.status, 422);
        assert_eq!(
            c.execute(Action::DeleteTx { tx: "t".into() }).unwrap(),
            Reply::Json(json!([]))
        );
    }

    #[test]
    fn invalid_settings_name_their_key_and_write_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let c = controller(dir.path(), "cat > /dev/null");
        let e = patch(
            &c,
            "t",
            json!({"motd": "ok", "kernel": {"lockdown": "full"}}),
        )
        .unwrap_err();
        assert_eq!(
            (e.status, e.body.key.as_deref()),
            (400, Some("settings.kernel.lockdown"))
        );
        assert_eq!(c.execute(Action::ListTx).unwrap(), Reply::Json(json!([])));
    }

    #[test]
    fn failed_applies_report_stderr_and_what_was_committed() {
        let dir = tempfile::tempdir().unwrap();
        let c = controller(
            dir.path(),
            "cat > /dev/null; echo 'template motd: boom' >&2; exit 3",
        );
        patch(&c, "default", json!({"motd": "x"})).unwrap();
        let e = c
            .execute(Action::CommitAndApply {
                tx: "default".into(),
            })
            .unwrap_err();
        assert_eq!(e.status, 500);
        assert!(e.body.error.contains("was committed"), "{e:?}");
        assert_eq!(
            e.body.committed,
            Some(ChangedKeys(vec!["settings.motd".into()]))
        );
        assert!(e.body.stderr.as_deref().unwrap().contains("boom"));
        // The commit stands, and a plain apply of every live key fails the same way.
        assert_eq!(live(&c, Selection::All, ""), json!({"motd": "x"}));
        assert_eq!(
            c.execute(Action::Apply { keys: None }).unwrap_err().status,
            500
        );
    }

    #[test]
    fn live_reads_see_other_writers_and_trees_filter_names() {
        let dir = tempfile::tempdir().unwrap();
        let c = controller(dir.path(), "true");
        let other = FilesystemDataStore::open(c.store.path()).unwrap();
        let motd = Key::data("settings.motd").unwrap();
        for i in 0..3 {
            other
                .set_key(&motd, &format!("\"v{i}\""), &Committed::Live)
                .unwrap();
            assert_eq!(
                live(&c, Selection::All, ""),
                json!({"motd": format!("v{i}")})
            );
        }
        for (k, v) in [
            ("services.a.restart-commands", "[]"),
            ("services.b.restart-commands", "[\"x\"]"),
        ] {
            other
                .set_key(&Key::data(k).unwrap(), v, &Committed::Live)
                .unwrap();
        }
        assert_eq!(
            c.execute(Action::GetTree {
                root: "services",
                names: Some(vec!["b".into()])
            })
            .unwrap(),
            Reply::Json(json!({"b": {"restart-commands": ["x"]}}))
        );
        let Reply::Json(root) = c.execute(Action::GetRoot).unwrap() else {
            panic!()
        };
        assert_eq!(root["os"]["version_id"], "1.2.3");
        assert_eq!(root["configuration-files"], json!({}));
        other
            .set_metadata(
                &Key::meta("template").unwrap(),
                &motd,
                "\"{{motd}}\"",
                &Committed::Live,
            )
            .unwrap();
        assert_eq!(
            c.execute(Action::GetMetadata {
                meta: Key::meta("template").unwrap(),
                keys: None
            })
            .unwrap(),
            Reply::Json(json!({"settings.motd": "{{motd}}"}))
        );
    }

    #[test]
    fn updates_and_commands() {
        let dir = tempfile::tempdir().unwrap();
        let c = controller(dir.path(), "true");
        assert_eq!(c.execute(Action::GetUpdateStatus).unwrap_err().status, 404);
        let e = c
            .execute(Action::StartUpdate(CommandType::Prepare))
            .unwrap_err();
        assert_eq!(e.status, 409);
        assert!(e.body.error.contains("Idle"), "{e:?}");
        assert_eq!(c.execute(Action::Reboot).unwrap(), Reply::NoContent);
    }
}
