//! Writes: validating a batch of changes and writing it into a pending transaction, or
//! committing it straight to live.

use super::read::{read_value, walk_from};
use super::*;

impl FilesystemDataStore {
    /// Sets data keys to serialized JSON values (see
    /// [`validate_data_value`]). With [`Committed::Live`] the
    /// change is committed atomically at once; with [`Committed::Pending`] it is added to the
    /// transaction (each file atomically).
    pub fn set_keys(&self, pairs: &HashMap<Key, String>, committed: &Committed) -> Result<()> {
        let mut changes = Vec::with_capacity(pairs.len());
        for (key, value) in pairs {
            expect_type(key, KeyType::Data)?;
            validate_data_value(key, value)?;
            changes.push(Change {
                entry: Entry {
                    data: key.clone(),
                    meta: None,
                },
                value: Some(value.clone()),
            });
        }
        self.apply(changes, committed).map(|_| ())
    }

    /// Sets one data key; see [`set_keys`](Self::set_keys).
    pub fn set_key(&self, key: &Key, value: &str, committed: &Committed) -> Result<()> {
        self.set_keys(
            &HashMap::from([(key.clone(), value.to_string())]),
            committed,
        )
    }

    /// Unsets a data key. In a transaction this records a tombstone, so committing removes the
    /// key from live; with [`Committed::Live`] the key is removed at once. Unsetting a missing
    /// key is not an error.
    pub fn unset_key(&self, key: &Key, committed: &Committed) -> Result<()> {
        self.unset_keys(std::slice::from_ref(key), committed)
    }

    /// Unsets several data keys at once; see [`unset_key`](Self::unset_key).
    pub fn unset_keys(&self, keys: &[Key], committed: &Committed) -> Result<()> {
        let mut changes = Vec::with_capacity(keys.len());
        for key in keys {
            expect_type(key, KeyType::Data)?;
            changes.push(Change {
                entry: Entry {
                    data: key.clone(),
                    meta: None,
                },
                value: None,
            });
        }
        self.apply(changes, committed).map(|_| ())
    }

    /// Sets metadata `meta` of data key `data` to a serialized JSON value.
    pub fn set_metadata(
        &self,
        meta: &Key,
        data: &Key,
        value: &str,
        committed: &Committed,
    ) -> Result<()> {
        let entry = metadata_entry(meta, data)?;
        validate_metadata_value(meta, value)?;
        let change = Change {
            entry,
            value: Some(value.to_string()),
        };
        self.apply(vec![change], committed).map(|_| ())
    }

    /// Unsets metadata `meta` of data key `data` (a tombstone in a transaction).
    pub fn unset_metadata(&self, meta: &Key, data: &Key, committed: &Committed) -> Result<()> {
        let change = Change {
            entry: metadata_entry(meta, data)?,
            value: None,
        };
        self.apply(vec![change], committed).map(|_| ())
    }

    /// Commits transaction `tx` atomically and durably, then removes it.
    ///
    /// Returns the data keys whose live value changed (added, modified or removed). Fails with
    /// [`Error::NothingToCommit`] if the transaction doesn't exist or holds no changes, and with
    /// [`Error::KeyConflict`] (leaving live and the transaction untouched) if a key would need to
    /// hold both a value and sub-keys.
    pub fn commit_transaction(&self, tx: &str) -> Result<HashSet<Key>> {
        validate_transaction_name(tx)?;
        let _guard = self.lock_for_write()?;
        self.recover(false)?;
        let tx_dir = self.root.join(PENDING).join(tx);
        let tree = walk_from(&tx_dir, &[])?;
        let mut changes = Vec::with_capacity(tree.len());
        for (entry, found) in tree {
            let value = if found.len == 0 {
                None
            } else {
                match read_value(&found.path)? {
                    Some(v) => Some(v),
                    None => continue,
                }
            };
            changes.push(Change { entry, value });
        }
        if changes.is_empty() {
            if tx_dir.exists() {
                self.remove_pending(tx)?;
            }
            return Err(Error::NothingToCommit { tx: tx.to_string() });
        }
        let changed = self.build_generation(&changes, Some(tx))?;
        info!(
            "committed transaction '{tx}': {} entries, {} keys changed",
            changes.len(),
            changed.len()
        );
        Ok(changed)
    }

    /// Discards transaction `tx`, returning the data keys it had pending changes for (empty if
    /// it didn't exist).
    pub fn delete_transaction(&self, tx: &str) -> Result<HashSet<Key>> {
        validate_transaction_name(tx)?;
        let _guard = self.lock_for_write()?;
        self.recover(false)?;
        let tx_dir = self.root.join(PENDING).join(tx);
        let keys = walk_from(&tx_dir, &[])?
            .into_keys()
            .filter(|e| e.meta.is_none())
            .map(|e| e.data)
            .collect();
        self.remove_pending(tx)?;
        Ok(keys)
    }

    pub(super) fn apply(
        &self,
        changes: Vec<Change>,
        committed: &Committed,
    ) -> Result<HashSet<Key>> {
        let tx = committed.tx()?;
        if changes.is_empty() {
            return Ok(HashSet::new());
        }
        for change in &changes {
            change.entry.rel_path()?;
        }
        check_batch(&changes, tx.is_some())?;
        let _guard = self.lock_for_write()?;
        self.recover(false)?;
        match tx {
            None => self.build_generation(&changes, None),
            Some(tx) => {
                self.write_pending(tx, &changes)?;
                Ok(HashSet::new())
            }
        }
    }

    /// Writes changes into transaction `tx`'s tree; the write lock is held.
    pub(super) fn write_pending(&self, tx: &str, changes: &[Change]) -> Result<()> {
        let generation = self.current_generation()?;
        let gen_dir = self.gen_dir(generation);
        let pending = self.root.join(PENDING);
        let tx_dir = pending.join(tx);
        let mut dirty = BTreeSet::new();
        files::create_dirs(&pending, Path::new(tx), &mut dirty)?;
        let mut sorted: Vec<&Change> = changes.iter().collect();
        sorted.sort_by(|a, b| a.entry.cmp(&b.entry));
        for change in sorted {
            let rel = change.entry.rel_path()?;
            Self::check_pending_conflicts(&gen_dir, &tx_dir, change, &rel)?;
            let parent_rel = rel.parent().unwrap_or(Path::new(""));
            files::create_dirs(&tx_dir, parent_rel, &mut dirty)?;
            let dir = tx_dir.join(parent_rel);
            let name =
                rel.file_name()
                    .and_then(|n| n.to_str())
                    .ok_or_else(|| Error::InvalidKey {
                        key: change.entry.data.name().to_string(),
                        reason: "key has no file name".into(),
                    })?;
            let contents = change.value.as_deref().unwrap_or("");
            files::write_file_atomic(&dir.join(name), contents.as_bytes())?;
            dirty.insert(dir);
        }
        for dir in &dirty {
            files::sync_dir(dir)?;
        }
        debug!("wrote {} changes to transaction '{tx}'", changes.len());
        Ok(())
    }

    /// Refuses a pending change that would make a key hold both a value and sub-keys (counting
    /// live and the transaction), or that the transaction's own changes under the key block.
    pub(super) fn check_pending_conflicts(
        gen_dir: &Path,
        tx_dir: &Path,
        change: &Change,
        rel: &Path,
    ) -> Result<()> {
        let entry = &change.entry;
        let conflict = |existing: String, reason: String| Error::KeyConflict {
            key: entry.display(),
            existing,
            reason,
        };
        let components: Vec<Component<'_>> = rel.components().collect();
        let mut ancestor = PathBuf::new();
        for (depth, component) in components.iter().take(components.len() - 1).enumerate() {
            ancestor.push(component);
            for (base, which) in [(gen_dir, "a live value"), (tx_dir, "a pending change")] {
                if !matches!(
                    files::node(&base.join(&ancestor))?,
                    Node::Dir | Node::Missing
                ) {
                    let existing =
                        Key::from_segments(KeyType::Data, &entry.data.segments()[..=depth])?;
                    return Err(conflict(
                        existing.name().to_string(),
                        format!("'{existing}' has {which}, so it can't also have sub-keys"),
                    ));
                }
            }
        }
        // The first key under this one in `base`, if this key is a directory there.
        let child_in = |base: &Path| -> Result<Option<String>> {
            if files::node(&base.join(rel))? != Node::Dir {
                return Ok(None);
            }
            let child = walk_from(base, entry.data.segments())?
                .into_keys()
                .next()
                .map_or_else(
                    || format!("{}.*", entry.data),
                    |e| e.data.name().to_string(),
                );
            Ok(Some(child))
        };
        if let Some(child) = child_in(tx_dir)? {
            return Err(conflict(
                child,
                "the transaction has changes under this key, so it can't also change the key \
                 itself"
                    .into(),
            ));
        }
        if change.value.is_some() && entry.meta.is_none() {
            if let Some(child) = child_in(gen_dir)? {
                return Err(conflict(
                    child,
                    "the key has sub-keys, so it can't also hold a value".into(),
                ));
            }
        }
        Ok(())
    }
}

/// Refuses a batch of changes that sets a key and one of its sub-keys (in a transaction, where
/// an unset is a file too, also one that unsets a key and changes a sub-key).
pub(super) fn check_batch(changes: &[Change], pending: bool) -> Result<()> {
    let files: HashSet<&[String]> = changes
        .iter()
        .filter(|c| c.entry.meta.is_none() && (pending || c.value.is_some()))
        .map(|c| c.entry.data.segments())
        .collect();
    for change in changes.iter().filter(|c| pending || c.value.is_some()) {
        let segments = change.entry.data.segments();
        for depth in 1..segments.len() {
            if files.contains(&segments[..depth]) {
                let existing = Key::from_segments(KeyType::Data, &segments[..depth])?;
                return Err(Error::KeyConflict {
                    key: change.entry.display(),
                    existing: existing.name().to_string(),
                    reason: format!(
                        "both are changed at once, and '{existing}' can't hold a value and \
                         sub-keys"
                    ),
                });
            }
        }
    }
    Ok(())
}
