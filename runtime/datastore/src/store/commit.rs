//! Generation commits: building `live.<g+1>`, the atomic switch of `live`, and the cleanup of the
//! committed transaction.

use super::read::walk_from;
use super::*;

impl FilesystemDataStore {
    /// Builds and atomically installs the next generation: the current one with `changes`
    /// applied. Returns the data keys whose value changed. The write lock is held.
    pub(super) fn build_generation(
        &self,
        changes: &[Change],
        tx: Option<&str>,
    ) -> Result<HashSet<Key>> {
        let generation = self.current_generation()?;
        let old_dir = self.gen_dir(generation);
        let next = generation + 1;
        let new_dir = self.gen_dir(next);
        let tmp_dir = self.root.join(format!("{}.tmp", gen_name(next)));
        files::remove_tree(&tmp_dir)?;
        files::remove_tree(&new_dir)?;
        fs::create_dir(&tmp_dir).map_err(io_err("create directory", &tmp_dir))?;
        match self.fill_generation(&old_dir, &tmp_dir, changes, tx) {
            Ok(changed) => {
                self.install_generation(generation, &tmp_dir, next, tx)?;
                Ok(changed)
            }
            Err(e) => {
                if let Err(cleanup) = files::remove_tree(&tmp_dir) {
                    warn!("failed to remove unfinished generation: {cleanup}");
                }
                Err(e)
            }
        }
    }

    /// Fills `tmp_dir` with `old_dir`'s files (hard links) and `changes`, all durable.
    pub(super) fn fill_generation(
        &self,
        old_dir: &Path,
        tmp_dir: &Path,
        changes: &[Change],
        tx: Option<&str>,
    ) -> Result<HashSet<Key>> {
        let mut by_path: BTreeMap<PathBuf, &Change> = BTreeMap::new();
        for change in changes {
            by_path.insert(change.entry.rel_path()?, change);
        }
        let mut changed = HashSet::new();
        let mut seen = HashSet::new();
        let mut dirty = BTreeSet::new();
        dirty.insert(tmp_dir.to_path_buf());

        // Unchanged files are shared with the old generation. Files are never modified in place,
        // so sharing inodes is safe.
        for (entry, found) in walk_from(old_dir, &[])? {
            let rel = found
                .path
                .strip_prefix(old_dir)
                .map_err(|_| Error::Corrupt {
                    path: found.path.clone(),
                    reason: "walked outside the generation directory".into(),
                })?;
            if let Some(change) = by_path.get(rel) {
                seen.insert(rel.to_path_buf());
                if entry.meta.is_none() {
                    let differs = match &change.value {
                        None => true,
                        Some(new) => files::read_optional(&found.path)?.as_ref() != Some(new),
                    };
                    if differs {
                        changed.insert(entry.data.clone());
                    }
                }
                continue;
            }
            if let Some(parent) = rel.parent() {
                files::create_dirs(tmp_dir, parent, &mut dirty)?;
            }
            let dest = tmp_dir.join(rel);
            fs::hard_link(&found.path, &dest).map_err(io_err("hard-link into", &dest))?;
        }

        for (rel, change) in &by_path {
            let Some(value) = &change.value else { continue };
            let entry = &change.entry;
            if entry.meta.is_none() && !seen.contains(rel) {
                changed.insert(entry.data.clone());
            }
            // A key holds a value or sub-keys, never both.
            let mut ancestor = PathBuf::new();
            let parents: Vec<Component<'_>> = rel
                .parent()
                .into_iter()
                .flat_map(|p| p.components())
                .collect();
            for (depth, component) in parents.iter().enumerate() {
                ancestor.push(component);
                if !matches!(
                    files::node(&tmp_dir.join(&ancestor))?,
                    Node::Dir | Node::Missing
                ) {
                    let existing =
                        Key::from_segments(KeyType::Data, &entry.data.segments()[..=depth])?;
                    return Err(Error::KeyConflict {
                        key: entry.display(),
                        existing: existing.name().to_string(),
                        reason: format!(
                            "'{existing}' holds a value, so it can't also have sub-keys"
                        ),
                    });
                }
            }
            let dest = tmp_dir.join(rel);
            if files::node(&dest)? == Node::Dir {
                let child = walk_from(tmp_dir, entry.data.segments())?
                    .into_keys()
                    .next()
                    .map(|e| e.data.name().to_string())
                    .unwrap_or_else(|| format!("{}.*", entry.data));
                return Err(Error::KeyConflict {
                    key: entry.display(),
                    existing: child,
                    reason: "the key has sub-keys, so it can't also hold a value".into(),
                });
            }
            if let Some(parent) = rel.parent() {
                files::create_dirs(tmp_dir, parent, &mut dirty)?;
            }
            files::write_new_file(&dest, value.as_bytes())?;
            if let Some(parent) = dest.parent() {
                dirty.insert(parent.to_path_buf());
            }
        }

        if let Some(tx) = tx {
            files::write_new_file(&tmp_dir.join(COMMITTED_TX_MARKER), tx.as_bytes())?;
        }
        // Hard links and new files are only durable once their directories are.
        for dir in &dirty {
            files::sync_dir(dir)?;
        }
        Ok(changed)
    }

    /// Makes the finished `tmp_dir` generation `next` live, then cleans up.
    pub(super) fn install_generation(
        &self,
        old: u64,
        tmp_dir: &Path,
        next: u64,
        tx: Option<&str>,
    ) -> Result<()> {
        let new_dir = self.gen_dir(next);
        fs::rename(tmp_dir, &new_dir).map_err(io_err("rename into place", &new_dir))?;
        files::sync_dir(&self.root)?;
        // The commit point: one atomic rename of a symlink, then an fsync of the directory.
        files::replace_symlink(&self.root.join(LIVE), Path::new(&gen_name(next)))?;
        debug!("generation {next} is live");
        if let Some(tx) = tx {
            self.finish_commit(&new_dir, tx)?;
        }
        files::remove_tree(&self.gen_dir(old))
    }

    /// Removes the pending tree of the transaction committed into `gen_dir`, then the marker.
    pub(super) fn finish_commit(&self, gen_dir: &Path, tx: &str) -> Result<()> {
        self.remove_pending(tx)?;
        let marker = gen_dir.join(COMMITTED_TX_MARKER);
        files::remove_file(&marker)?;
        Ok(files::sync_dir(gen_dir)?)
    }

    /// Atomically removes a pending tree: rename it to a trash name, then delete that.
    pub(super) fn remove_pending(&self, tx: &str) -> Result<()> {
        let pending = self.root.join(PENDING);
        let tx_dir = pending.join(tx);
        let trash = pending.join(files::temp_name(&format!("{TRASH_PREFIX}-{tx}")));
        match fs::rename(&tx_dir, &trash) {
            Ok(()) => {
                files::sync_dir(&pending)?;
                files::remove_tree(&trash)
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(io_err("remove transaction", &tx_dir)(e).into()),
        }
    }
}
