//! Reads: one generation at a time, retried if a commit replaced it meanwhile, overlaid with a
//! pending transaction when asked.

use super::*;

impl FilesystemDataStore {
    /// The value of data key `key`, or `None` if it's unset. With [`Committed::Pending`], a value
    /// or unset pending in the transaction wins over live.
    pub fn get_key(&self, key: &Key, committed: &Committed) -> Result<Option<String>> {
        expect_type(key, KeyType::Data)?;
        let entry = Entry {
            data: key.clone(),
            meta: None,
        };
        self.read_entry(&entry, committed)
    }

    /// Every populated data key whose name starts with `prefix` (a plain string prefix: `""` is
    /// everything, `settings.` everything under `settings`) and its value, in the view given by
    /// `committed`.
    pub fn get_prefix(&self, prefix: &str, committed: &Committed) -> Result<HashMap<Key, String>> {
        let tx = committed.tx()?;
        self.read_consistent(|gen_dir| {
            let view = self.view(gen_dir, tx, &prefix_dir_segments(prefix))?;
            let mut out = HashMap::new();
            for (entry, found) in view {
                if entry.meta.is_none() && entry.data.name().starts_with(prefix) {
                    if let Some(value) = read_value(&found.path)? {
                        out.insert(entry.data, value);
                    }
                }
            }
            Ok(out)
        })
    }

    /// Every populated data key whose name starts with `prefix`, without values.
    pub fn list_populated_keys(&self, prefix: &str, committed: &Committed) -> Result<HashSet<Key>> {
        let tx = committed.tx()?;
        self.read_consistent(|gen_dir| {
            let view = self.view(gen_dir, tx, &prefix_dir_segments(prefix))?;
            Ok(view
                .into_keys()
                .filter(|e| e.meta.is_none() && e.data.name().starts_with(prefix))
                .map(|e| e.data)
                .collect())
        })
    }

    /// The value of metadata `meta` of data key `data`, or `None`.
    pub fn get_metadata(
        &self,
        meta: &Key,
        data: &Key,
        committed: &Committed,
    ) -> Result<Option<String>> {
        let entry = metadata_entry(meta, data)?;
        self.read_entry(&entry, committed)
    }

    /// For every data key whose name starts with `prefix`, the metadata keys it has (only
    /// `metadata_key_name`, if given). Data keys with metadata but no value are included.
    pub fn list_populated_metadata(
        &self,
        prefix: &str,
        committed: &Committed,
        metadata_key_name: Option<&Key>,
    ) -> Result<HashMap<Key, HashSet<Key>>> {
        if let Some(meta) = metadata_key_name {
            expect_type(meta, KeyType::Meta)?;
        }
        let tx = committed.tx()?;
        self.read_consistent(|gen_dir| {
            let view = self.view(gen_dir, tx, &prefix_dir_segments(prefix))?;
            let mut out: HashMap<Key, HashSet<Key>> = HashMap::new();
            for entry in view.into_keys() {
                let Some(meta) = entry.meta else { continue };
                if entry.data.name().starts_with(prefix)
                    && metadata_key_name.is_none_or(|want| *want == meta)
                {
                    out.entry(entry.data).or_default().insert(meta);
                }
            }
            Ok(out)
        })
    }

    /// For every data key whose name starts with `prefix` and has metadata `meta`, that
    /// metadata's value.
    pub fn get_metadata_prefix(
        &self,
        prefix: &str,
        meta: &Key,
        committed: &Committed,
    ) -> Result<HashMap<Key, String>> {
        expect_type(meta, KeyType::Meta)?;
        let tx = committed.tx()?;
        self.read_consistent(|gen_dir| {
            let view = self.view(gen_dir, tx, &prefix_dir_segments(prefix))?;
            let mut out = HashMap::new();
            for (entry, found) in view {
                if entry.meta.as_ref() == Some(meta) && entry.data.name().starts_with(prefix) {
                    if let Some(value) = read_value(&found.path)? {
                        out.insert(entry.data, value);
                    }
                }
            }
            Ok(out)
        })
    }

    /// The open transactions (those with a pending tree).
    pub fn list_transactions(&self) -> Result<HashSet<String>> {
        let pending = self.root.join(PENDING);
        let mut out = HashSet::new();
        let entries = match fs::read_dir(&pending) {
            Ok(entries) => entries,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(out),
            Err(e) => return Err(io_err("read directory", &pending)(e).into()),
        };
        for dirent in entries {
            let dirent = dirent.map_err(io_err("read directory", &pending))?;
            if let Some(name) = dirent.file_name().to_str() {
                if validate_transaction_name(name).is_ok()
                    && dirent.file_type().map(|t| t.is_dir()).unwrap_or(false)
                {
                    out.insert(name.to_string());
                }
            }
        }
        Ok(out)
    }

    /// What transaction `tx` changes, not overlaid on live (empty if it doesn't exist).
    pub fn pending_changes(&self, tx: &str) -> Result<TransactionChanges> {
        validate_transaction_name(tx)?;
        self.read_consistent(|gen_dir| {
            if committed_marker(gen_dir)?.as_deref() == Some(tx) {
                return Ok(TransactionChanges::default());
            }
            let tree = walk_from(&self.root.join(PENDING).join(tx), &[])?;
            let mut changes = TransactionChanges::default();
            for (entry, found) in tree {
                let value = if found.len == 0 {
                    None
                } else {
                    match read_value(&found.path)? {
                        Some(v) => Some(v),
                        None => continue,
                    }
                };
                match (entry.meta, value) {
                    (None, Some(v)) => {
                        changes.set.insert(entry.data, v);
                    }
                    (None, None) => {
                        changes.unset.insert(entry.data);
                    }
                    (Some(m), Some(v)) => {
                        changes
                            .metadata_set
                            .entry(entry.data)
                            .or_default()
                            .insert(m, v);
                    }
                    (Some(m), None) => {
                        changes
                            .metadata_unset
                            .entry(entry.data)
                            .or_default()
                            .insert(m);
                    }
                }
            }
            Ok(changes)
        })
    }

    pub(super) fn current_generation(&self) -> Result<u64> {
        let link = self.root.join(LIVE);
        let target = fs::read_link(&link).map_err(io_err("read symlink", &link))?;
        let mut components = target.components();
        match (components.next(), components.next()) {
            (Some(Component::Normal(name)), None) => name.to_str().and_then(parse_gen),
            _ => None,
        }
        .ok_or_else(|| Error::Corrupt {
            path: link,
            reason: format!(
                "'{LIVE}' points at '{}', not at a '{LIVE}.<generation>' directory",
                target.display()
            ),
        })
    }

    pub(super) fn gen_dir(&self, generation: u64) -> PathBuf {
        self.root.join(gen_name(generation))
    }

    /// Runs `read` on the live generation directory, retrying if a commit replaced it meanwhile
    /// (which may also delete it), and after a few tries under the shared lock.
    pub(super) fn read_consistent<T>(&self, read: impl Fn(&Path) -> Result<T>) -> Result<T> {
        for _ in 0..OPTIMISTIC_READS {
            let generation = self.current_generation()?;
            let result = read(&self.gen_dir(generation));
            if self.current_generation()? == generation {
                return result;
            }
        }
        let _lock = self.lock_for_read()?;
        let generation = self.current_generation()?;
        read(&self.gen_dir(generation))
    }

    pub(super) fn read_entry(
        &self,
        entry: &Entry,
        committed: &Committed,
    ) -> Result<Option<String>> {
        let tx = committed.tx()?;
        let rel = entry.rel_path()?;
        self.read_consistent(|gen_dir| {
            if let Some(tx) = tx {
                if committed_marker(gen_dir)?.as_deref() != Some(tx) {
                    let pending = self.root.join(PENDING).join(tx).join(&rel);
                    if let Some(value) = files::read_optional(&pending)? {
                        return Ok((!value.is_empty()).then_some(value));
                    }
                }
            }
            Ok(files::read_optional(&gen_dir.join(&rel))?.filter(|v| !v.is_empty()))
        })
    }

    /// The entries under key segments `start` in generation `gen_dir`, overlaid with transaction
    /// `tx` (pending values replace live ones, tombstones remove them).
    pub(super) fn view(
        &self,
        gen_dir: &Path,
        tx: Option<&str>,
        start: &[String],
    ) -> Result<BTreeMap<Entry, Found>> {
        let mut view = walk_from(gen_dir, start)?;
        if let Some(tx) = tx {
            if committed_marker(gen_dir)?.as_deref() != Some(tx) {
                for (entry, found) in walk_from(&self.root.join(PENDING).join(tx), start)? {
                    if found.len == 0 {
                        view.remove(&entry);
                    } else {
                        view.insert(entry, found);
                    }
                }
            }
        }
        Ok(view)
    }
}

/// Walks the key tree under `dir`, whose key segments are `segments`, collecting entries. Hidden
/// names are skipped; names that don't decode are skipped with a warning. A missing directory
/// is an empty tree.
pub(super) fn walk(
    dir: &Path,
    segments: &mut Vec<String>,
    out: &mut BTreeMap<Entry, Found>,
) -> Result<()> {
    let Some(entries) = read_dir_if_present(dir)? else {
        return Ok(());
    };
    for dirent in entries {
        let dirent = match dirent {
            Ok(d) => d,
            // The directory vanished under a concurrent reader; the caller re-validates.
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(io_err("read directory", dir)(e).into()),
        };
        let path = dirent.path();
        let os_name = dirent.file_name();
        let Some(name) = os_name.to_str() else {
            warn!("ignoring non-UTF-8 file name '{}'", path.display());
            continue;
        };
        if name.starts_with('.') {
            continue;
        }
        let file_type = match dirent.file_type() {
            Ok(t) => t,
            Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
            Err(e) => return Err(io_err("inspect", &path)(e).into()),
        };
        if file_type.is_dir() {
            match decode_segment(name) {
                Ok(segment) => {
                    segments.push(segment);
                    let result = walk(&path, segments, out);
                    segments.pop();
                    result?;
                }
                Err(reason) => warn!("ignoring directory '{}': {reason}", path.display()),
            }
        } else if file_type.is_file() {
            let (base, meta) = match name.split_once(KEY_SEPARATOR) {
                Some((base, meta)) => (base, Some(meta)),
                None => (name, None),
            };
            let parsed = (|| -> Result<Entry, String> {
                let mut all = segments.clone();
                all.push(decode_segment(base)?);
                let data = Key::from_segments(KeyType::Data, &all).map_err(|e| e.to_string())?;
                let meta = match meta {
                    None => None,
                    Some(m) => Some(
                        Key::from_segments(KeyType::Meta, &[decode_segment(m)?])
                            .map_err(|e| e.to_string())?,
                    ),
                };
                Ok(Entry { data, meta })
            })();
            match parsed {
                Ok(entry) => {
                    let len = match dirent.metadata() {
                        Ok(m) => m.len(),
                        Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                        Err(e) => return Err(io_err("inspect", &path)(e).into()),
                    };
                    out.insert(entry, Found { path, len });
                }
                Err(reason) => warn!("ignoring file '{}': {reason}", path.display()),
            }
        } else {
            warn!(
                "ignoring '{}': neither a file nor a directory",
                path.display()
            );
        }
    }
    Ok(())
}

/// Walks the tree rooted at `root`, starting at the directory for key segments `start`.
pub(super) fn walk_from(root: &Path, start: &[String]) -> Result<BTreeMap<Entry, Found>> {
    let mut dir = root.to_path_buf();
    for segment in start {
        dir.push(encode_segment(segment));
    }
    let mut out = BTreeMap::new();
    let mut segments = start.to_vec();
    walk(&dir, &mut segments, &mut out)?;
    Ok(out)
}

/// The key segments of the deepest directory that can hold every key whose name starts with
/// `prefix`: the part before the last unquoted `.`, if that is a valid key.
pub(super) fn prefix_dir_segments(prefix: &str) -> Vec<String> {
    let mut in_quote = false;
    let mut last_dot = None;
    for (i, c) in prefix.char_indices() {
        match c {
            '"' => in_quote = !in_quote,
            KEY_SEPARATOR if !in_quote => last_dot = Some(i),
            _ => {}
        }
    }
    last_dot
        .and_then(|i| Key::new(KeyType::Data, &prefix[..i]).ok())
        .map(|k| k.segments().to_vec())
        .unwrap_or_default()
}

/// The entries of `dir`, or `None` when it does not exist (or is not a directory).
pub(super) fn read_dir_if_present(dir: &Path) -> Result<Option<fs::ReadDir>> {
    match fs::read_dir(dir) {
        Ok(entries) => Ok(Some(entries)),
        Err(e)
            if matches!(
                e.kind(),
                io::ErrorKind::NotFound | io::ErrorKind::NotADirectory
            ) =>
        {
            Ok(None)
        }
        Err(e) => Err(io_err("read directory", dir)(e).into()),
    }
}

/// The transaction named by a generation's commit marker, if any.
pub(super) fn committed_marker(gen_dir: &Path) -> Result<Option<String>> {
    files::read_optional(&gen_dir.join(COMMITTED_TX_MARKER))
}

/// Reads a stored value; `None` if the file vanished or is a tombstone.
pub(super) fn read_value(path: &Path) -> Result<Option<String>> {
    Ok(files::read_optional(path)?.filter(|v| !v.is_empty()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefix_dirs() {
        assert!(prefix_dir_segments("").is_empty());
        assert!(prefix_dir_segments("settings").is_empty());
        assert_eq!(prefix_dir_segments("settings."), ["settings"]);
        assert_eq!(prefix_dir_segments("settings.mo"), ["settings"]);
        assert_eq!(
            prefix_dir_segments("settings.\"a.b\".c"),
            ["settings", "a.b"]
        );
        assert_eq!(prefix_dir_segments("settings.\"a.b"), ["settings"]);
        assert!(prefix_dir_segments("bad key.x").is_empty());
    }
}
