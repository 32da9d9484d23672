//! The filesystem datastore: one directory (a datastore version, see [`crate::version`]) holding
//!
//! ```text
//! .lock                 writers' flock(2) lock file
//! live -> live.<g>      symlink to the current generation
//! live.<g>/             the committed key tree (immutable once `live` points at it)
//! pending/<tx>/         one key tree per open transaction
//! ```
//!
//! A key tree stores data key `a.b.c` in file `a/b/c` and metadata `m` of key `a.b.c` in file
//! `a/b/c.m`, every segment percent-encoded ([`crate::encoding`]). Files hold serialized JSON. In a
//! pending tree an empty file is a tombstone: the transaction unsets that key or metadata. Names
//! starting with `.` are the datastore's own (temp files, markers) and never keys.
//!
//! See the crate documentation for how commits stay atomic across crashes.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::fs;
use std::io;
use std::path::{Component, Path, PathBuf};

use tracing::{debug, info, warn};

use crate::encoding::{decode_segment, encode_segment};
use crate::error::{io_err, Error, Result};
use fsutil::{FileLock, Wait};

use crate::files::{self, Node};
use crate::key::{Key, KeyType, KEY_SEPARATOR};
use crate::serialization::{validate_data_value, validate_metadata_value};

/// Name of the symlink to the live generation.
pub const LIVE: &str = "live";
/// Name of the directory holding pending transactions.
pub const PENDING: &str = "pending";
/// Name of the writers' lock file.
pub const LOCK_FILE: &str = ".lock";
/// Marker file in a freshly committed generation naming the transaction whose pending tree is
/// still to be removed.
const COMMITTED_TX_MARKER: &str = ".committed-tx";
/// Prefix of pending trees that are being deleted.
const TRASH_PREFIX: &str = "trash";
/// Longest file name the datastore will create.
const MAX_FILE_NAME: usize = 255;
/// Longest transaction name.
pub const MAX_TX_LEN: usize = 64;
/// Optimistic (lock-free) read attempts before a reader takes the shared lock.
const OPTIMISTIC_READS: usize = 8;

/// Which view of the datastore an operation works on.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Committed {
    /// The committed settings.
    Live,
    /// A pending transaction. Reads see the transaction overlaid on live; writes go to the
    /// transaction only.
    Pending {
        /// The transaction name, `[A-Za-z0-9_-]{1,64}`.
        tx: String,
    },
}

impl Committed {
    /// A validated [`Committed::Pending`].
    pub fn pending(tx: impl Into<String>) -> Result<Committed> {
        let tx = tx.into();
        validate_transaction_name(&tx)?;
        Ok(Committed::Pending { tx })
    }

    /// The transaction name, if pending; validates it.
    fn tx(&self) -> Result<Option<&str>> {
        match self {
            Committed::Live => Ok(None),
            Committed::Pending { tx } => {
                validate_transaction_name(tx)?;
                Ok(Some(tx))
            }
        }
    }
}

/// Checks a transaction name: 1 to 64 characters of `A-Z a-z 0-9 _ -`.
pub fn validate_transaction_name(tx: &str) -> Result<()> {
    let invalid = |reason: String| Error::InvalidTransaction {
        tx: tx.to_string(),
        reason,
    };
    if tx.is_empty() {
        return Err(invalid("transaction name is empty".into()));
    }
    if tx.len() > MAX_TX_LEN {
        return Err(invalid(format!(
            "transaction name is {} characters long; the maximum is {MAX_TX_LEN}",
            tx.len()
        )));
    }
    if let Some(c) = tx
        .chars()
        .find(|&c| !(c.is_ascii_alphanumeric() || c == '_' || c == '-'))
    {
        return Err(invalid(format!(
            "character {c:?} is not allowed; transaction names may only contain A-Z, a-z, 0-9, \
             '_' and '-'"
        )));
    }
    Ok(())
}

/// The pending changes of one transaction, as stored (not overlaid on live).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TransactionChanges {
    /// Data keys the transaction sets, with their serialized JSON values.
    pub set: HashMap<Key, String>,
    /// Data keys the transaction removes.
    pub unset: HashSet<Key>,
    /// Metadata the transaction sets: data key → metadata key → value.
    pub metadata_set: HashMap<Key, HashMap<Key, String>>,
    /// Metadata the transaction removes: data key → metadata keys.
    pub metadata_unset: HashMap<Key, HashSet<Key>>,
}

impl TransactionChanges {
    /// Whether the transaction changes nothing.
    pub fn is_empty(&self) -> bool {
        self.set.is_empty()
            && self.unset.is_empty()
            && self.metadata_set.is_empty()
            && self.metadata_unset.is_empty()
    }
}

/// One file of a key tree: a data key, or a metadata key attached to one.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
struct Entry {
    data: Key,
    meta: Option<Key>,
}

/// An entry found while walking a key tree.
#[derive(Debug)]
struct Found {
    path: PathBuf,
    /// Zero for a pending tombstone.
    len: u64,
}

/// A change to apply: set (`Some`) or unset (`None`) one entry.
#[derive(Debug, Clone)]
struct Change {
    entry: Entry,
    value: Option<String>,
}

impl Entry {
    fn display(&self) -> String {
        match &self.meta {
            None => self.data.name().to_string(),
            Some(meta) => format!("{} (metadata '{}')", self.data, meta),
        }
    }

    /// Path of the entry's file relative to a key tree root.
    fn rel_path(&self) -> Result<PathBuf> {
        let too_long = |name: &str| Error::InvalidKey {
            key: self.data.name().to_string(),
            reason: format!(
                "file name '{name}' is {} bytes once percent-encoded; the limit is {MAX_FILE_NAME}",
                name.len()
            ),
        };
        let (last, parents) =
            self.data
                .segments()
                .split_last()
                .ok_or_else(|| Error::InvalidKey {
                    key: self.data.name().to_string(),
                    reason: "key has no segments".into(),
                })?;
        let mut path = PathBuf::new();
        for segment in parents {
            let name = encode_segment(segment);
            if name.len() > MAX_FILE_NAME {
                return Err(too_long(&name));
            }
            path.push(name);
        }
        let mut name = encode_segment(last);
        if let Some(meta) = &self.meta {
            name.push(KEY_SEPARATOR);
            name.push_str(&encode_segment(meta.name()));
        }
        if name.len() > MAX_FILE_NAME {
            return Err(too_long(&name));
        }
        path.push(name);
        Ok(path)
    }
}

/// Generation directory name.
fn gen_name(generation: u64) -> String {
    format!("{LIVE}.{generation}")
}

/// Parses `live.<n>`.
fn parse_gen(name: &str) -> Option<u64> {
    let digits = name.strip_prefix(LIVE)?.strip_prefix('.')?;
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

/// Parses `live.<n>.tmp`.
fn parse_tmp_gen(name: &str) -> Option<u64> {
    parse_gen(name.strip_suffix(".tmp")?)
}

/// Walks the key tree under `dir`, whose key segments are `segments`, collecting entries. Hidden
/// names are skipped; names that don't decode are skipped with a warning. A missing directory
/// is an empty tree.
fn walk(dir: &Path, segments: &mut Vec<String>, out: &mut BTreeMap<Entry, Found>) -> Result<()> {
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
fn walk_from(root: &Path, start: &[String]) -> Result<BTreeMap<Entry, Found>> {
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
fn prefix_dir_segments(prefix: &str) -> Vec<String> {
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

/// A datastore in a directory on a local filesystem.
///
/// Every method takes `&self`; share one instance between threads with an `Arc`. Writers are
/// serialized by an exclusive `flock` on `.lock`, taken through its own open file by every write,
/// so it excludes threads and processes alike.
/// Readers take no lock: they read one generation and retry if `live` moved meanwhile (falling
/// back to a shared `flock` after a few tries), so they never block writers.
#[derive(Debug)]
pub struct FilesystemDataStore {
    root: PathBuf,
}

/// The name the rest of the runtime uses for the datastore.
pub type Datastore = FilesystemDataStore;

impl FilesystemDataStore {
    /// Opens the datastore in `path` (a version directory, or a symlink such as `current` that
    /// resolves to one; it is resolved once, here) and recovers from any interrupted commit:
    /// generations `live` doesn't point at and half-built `*.tmp` generations are removed, an
    /// interrupted cleanup of a committed transaction is finished, and leftover temp files in
    /// pending trees are removed.
    pub fn open(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        let root = fs::canonicalize(path).map_err(io_err("resolve", path))?;
        if !root.is_dir() {
            return Err(Error::NotADatastore {
                path: root,
                reason: "not a directory".into(),
            });
        }
        let has_live = fs::symlink_metadata(root.join(LIVE)).is_ok();
        let has_gen = fs::read_dir(&root)
            .map_err(io_err("read directory", &root))?
            .filter_map(|d| d.ok())
            .any(|d| d.file_name().to_str().and_then(parse_gen).is_some());
        if !has_live && !has_gen {
            return Err(Error::NotADatastore {
                path: root,
                reason: format!("it has no '{LIVE}' tree"),
            });
        }
        let store = Self::with_root(root)?;
        {
            let _guard = store.lock_for_write()?;
            store.recover(true)?;
        }
        Ok(store)
    }

    /// Initializes a new, empty datastore in `path` (created if missing; must be empty) and
    /// opens it. [`crate::create`] does this inside a versioned directory structure.
    pub fn create_at(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        match fs::read_dir(path) {
            Ok(mut entries) => {
                if entries.next().is_some() {
                    return Err(Error::AlreadyExists {
                        path: path.to_path_buf(),
                        reason: "a new datastore needs an empty directory".into(),
                    });
                }
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                fs::create_dir_all(path).map_err(io_err("create directory", path))?;
                if let Some(parent) = path.parent() {
                    files::sync_dir(parent)?;
                }
            }
            Err(e) => return Err(io_err("read directory", path)(e).into()),
        }
        initialize(path)?;
        Self::open(path)
    }

    fn with_root(root: PathBuf) -> Result<Self> {
        Ok(Self { root })
    }

    /// The datastore directory (resolved).
    pub fn path(&self) -> &Path {
        &self.root
    }

    /// The live generation number (it grows by one per commit).
    pub fn generation(&self) -> Result<u64> {
        self.current_generation()
    }

    // ----- reads -------------------------------------------------------------------------------

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

    // ----- writes ------------------------------------------------------------------------------

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

    // ----- internals: reading ------------------------------------------------------------------

    fn current_generation(&self) -> Result<u64> {
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

    fn gen_dir(&self, generation: u64) -> PathBuf {
        self.root.join(gen_name(generation))
    }

    /// Runs `read` on the live generation directory, retrying if a commit replaced it meanwhile
    /// (which may also delete it), and after a few tries under the shared lock.
    fn read_consistent<T>(&self, read: impl Fn(&Path) -> Result<T>) -> Result<T> {
        for _ in 0..OPTIMISTIC_READS {
            let generation = self.current_generation()?;
            let result = read(&self.gen_dir(generation));
            if self.current_generation()? == generation {
                return result;
            }
        }
        let _lock = fsutil::lock_shared(&self.root.join(LOCK_FILE), Wait::Block)?;
        let generation = self.current_generation()?;
        read(&self.gen_dir(generation))
    }

    fn read_entry(&self, entry: &Entry, committed: &Committed) -> Result<Option<String>> {
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
    fn view(
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

    // ----- internals: writing ------------------------------------------------------------------

    /// Takes the writers' lock; it is held until the returned guard is dropped.
    fn lock_for_write(&self) -> Result<FileLock> {
        Ok(fsutil::lock_exclusive(
            &self.root.join(LOCK_FILE),
            Wait::Block,
        )?)
    }

    fn apply(&self, changes: Vec<Change>, committed: &Committed) -> Result<HashSet<Key>> {
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
    fn write_pending(&self, tx: &str, changes: &[Change]) -> Result<()> {
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
    fn check_pending_conflicts(
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

    /// Builds and atomically installs the next generation: the current one with `changes`
    /// applied. Returns the data keys whose value changed. The write lock is held.
    fn build_generation(&self, changes: &[Change], tx: Option<&str>) -> Result<HashSet<Key>> {
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
    fn fill_generation(
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
    fn install_generation(
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
    fn finish_commit(&self, gen_dir: &Path, tx: &str) -> Result<()> {
        self.remove_pending(tx)?;
        let marker = gen_dir.join(COMMITTED_TX_MARKER);
        files::remove_file(&marker)?;
        Ok(files::sync_dir(gen_dir)?)
    }

    /// Atomically removes a pending tree: rename it to a trash name, then delete that.
    fn remove_pending(&self, tx: &str) -> Result<()> {
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

    // ----- internals: recovery -----------------------------------------------------------------

    /// Repairs whatever an interrupted writer left; the write lock is held. Returns the live
    /// generation.
    fn recover(&self, sweep_temp_files: bool) -> Result<u64> {
        let generation = self.ensure_live_link()?;
        let entries = fs::read_dir(&self.root).map_err(io_err("read directory", &self.root))?;
        for dirent in entries {
            let dirent = dirent.map_err(io_err("read directory", &self.root))?;
            let Some(name) = dirent.file_name().to_str().map(str::to_string) else {
                continue;
            };
            let path = dirent.path();
            if parse_tmp_gen(&name).is_some() {
                info!("removing unfinished generation '{}'", path.display());
                files::remove_tree(&path)?;
            } else if parse_gen(&name).is_some_and(|g| g != generation) {
                info!("removing stale generation '{}'", path.display());
                files::remove_tree(&path)?;
            } else if files::is_temp_link(&name) {
                files::remove_file(&path)?;
            }
        }
        let gen_dir = self.gen_dir(generation);
        if let Some(tx) = committed_marker(&gen_dir)? {
            info!("finishing the interrupted commit of transaction '{tx}'");
            if validate_transaction_name(&tx).is_ok() {
                self.finish_commit(&gen_dir, &tx)?;
            } else {
                files::remove_file(&gen_dir.join(COMMITTED_TX_MARKER))?;
            }
        }
        let pending = self.root.join(PENDING);
        if files::node(&pending)? == Node::Missing {
            fs::create_dir(&pending).map_err(io_err("create directory", &pending))?;
            files::sync_dir(&self.root)?;
        }
        let entries = fs::read_dir(&pending).map_err(io_err("read directory", &pending))?;
        for dirent in entries {
            let dirent = dirent.map_err(io_err("read directory", &pending))?;
            let path = dirent.path();
            let name = dirent.file_name();
            let name = name.to_string_lossy();
            if name.starts_with('.') {
                if dirent.file_type().map(|t| t.is_dir()).unwrap_or(false) {
                    files::remove_tree(&path)?;
                } else {
                    files::remove_file(&path)?;
                }
            } else if sweep_temp_files {
                sweep_hidden_files(&path)?;
            }
        }
        Ok(generation)
    }

    /// Makes sure `live` is a symlink to a generation and returns it. Converts a plain `live`
    /// directory (the Bottlerocket layout) into generation 0, and repairs a missing link left by
    /// an interrupted initialization or conversion.
    fn ensure_live_link(&self) -> Result<u64> {
        let link = self.root.join(LIVE);
        let meta = match fs::symlink_metadata(&link) {
            Ok(meta) => Some(meta),
            Err(e) if e.kind() == io::ErrorKind::NotFound => None,
            Err(e) => return Err(io_err("inspect", &link)(e).into()),
        };
        match meta {
            Some(meta) if meta.file_type().is_symlink() => {
                let generation = self.current_generation()?;
                if files::node(&self.gen_dir(generation))? != Node::Dir {
                    return Err(Error::Corrupt {
                        path: link,
                        reason: format!(
                            "generation {generation} that '{LIVE}' points at is missing"
                        ),
                    });
                }
                Ok(generation)
            }
            Some(meta) if meta.is_dir() => {
                let first = self.gen_dir(0);
                if files::node(&first)? != Node::Missing {
                    return Err(Error::Corrupt {
                        path: link,
                        reason: format!("'{LIVE}' is a directory but '{}' exists too", gen_name(0)),
                    });
                }
                info!("converting plain '{}' into generation 0", link.display());
                fs::rename(&link, &first).map_err(io_err("rename", &link))?;
                files::sync_dir(&self.root)?;
                files::replace_symlink(&self.root.join(LIVE), Path::new(&gen_name(0)))?;
                Ok(0)
            }
            Some(_) => Err(Error::Corrupt {
                path: link,
                reason: format!("'{LIVE}' is neither a symlink nor a directory"),
            }),
            None => {
                let mut generations = Vec::new();
                for dirent in
                    fs::read_dir(&self.root).map_err(io_err("read directory", &self.root))?
                {
                    let dirent = dirent.map_err(io_err("read directory", &self.root))?;
                    if let Some(g) = dirent.file_name().to_str().and_then(parse_gen) {
                        generations.push(g);
                    }
                }
                match generations.as_slice() {
                    [only] => {
                        info!("restoring the missing '{LIVE}' link to generation {only}");
                        files::replace_symlink(&self.root.join(LIVE), Path::new(&gen_name(*only)))?;
                        Ok(*only)
                    }
                    [] => Err(Error::NotADatastore {
                        path: self.root.clone(),
                        reason: format!("it has no '{LIVE}' tree"),
                    }),
                    _ => Err(Error::Corrupt {
                        path: link,
                        reason: format!(
                            "'{LIVE}' is missing and several generations exist: {generations:?}"
                        ),
                    }),
                }
            }
        }
    }
}

/// Creates the empty datastore layout in existing directory `dir`.
pub(crate) fn initialize(dir: &Path) -> Result<()> {
    let first = dir.join(gen_name(0));
    fs::create_dir(&first).map_err(io_err("create directory", &first))?;
    let pending = dir.join(PENDING);
    fs::create_dir(&pending).map_err(io_err("create directory", &pending))?;
    let lock = dir.join(LOCK_FILE);
    files::write_new_file(&lock, b"")?;
    files::sync_dir(dir)?;
    Ok(files::replace_symlink(
        &dir.join(LIVE),
        Path::new(&gen_name(0)),
    )?)
}

/// The entries of `dir`, or `None` when it does not exist (or is not a directory).
fn read_dir_if_present(dir: &Path) -> Result<Option<fs::ReadDir>> {
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

/// Removes hidden (temp) files left in a pending tree by interrupted writes.
fn sweep_hidden_files(dir: &Path) -> Result<()> {
    let Some(entries) = read_dir_if_present(dir)? else {
        return Ok(());
    };
    for dirent in entries {
        let dirent = dirent.map_err(io_err("read directory", dir))?;
        let path = dirent.path();
        let is_dir = dirent.file_type().map(|t| t.is_dir()).unwrap_or(false);
        if dirent.file_name().to_string_lossy().starts_with('.') {
            debug!("removing leftover temp file '{}'", path.display());
            if is_dir {
                files::remove_tree(&path)?;
            } else {
                files::remove_file(&path)?;
            }
        } else if is_dir {
            sweep_hidden_files(&path)?;
        }
    }
    Ok(())
}

/// Refuses a batch of changes that sets a key and one of its sub-keys (in a transaction, where
/// an unset is a file too, also one that unsets a key and changes a sub-key).
fn check_batch(changes: &[Change], pending: bool) -> Result<()> {
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

/// The transaction named by a generation's commit marker, if any.
fn committed_marker(gen_dir: &Path) -> Result<Option<String>> {
    files::read_optional(&gen_dir.join(COMMITTED_TX_MARKER))
}

/// Reads a stored value; `None` if the file vanished or is a tombstone.
fn read_value(path: &Path) -> Result<Option<String>> {
    Ok(files::read_optional(path)?.filter(|v| !v.is_empty()))
}

fn expect_type(key: &Key, want: KeyType) -> Result<()> {
    if key.key_type() == want {
        Ok(())
    } else {
        Err(Error::InvalidKey {
            key: key.name().to_string(),
            reason: format!("expected a {want} key, got a {} key", key.key_type()),
        })
    }
}

fn metadata_entry(meta: &Key, data: &Key) -> Result<Entry> {
    expect_type(meta, KeyType::Meta)?;
    expect_type(data, KeyType::Data)?;
    Ok(Entry {
        data: data.clone(),
        meta: Some(meta.clone()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generation_names() {
        assert_eq!(parse_gen("live.0"), Some(0));
        assert_eq!(parse_gen("live.42"), Some(42));
        assert_eq!(parse_gen("live.42.tmp"), None);
        assert_eq!(parse_gen("live."), None);
        assert_eq!(parse_gen("live"), None);
        assert_eq!(parse_gen("live.+1"), None);
        assert_eq!(parse_tmp_gen("live.7.tmp"), Some(7));
        assert_eq!(parse_tmp_gen("live.7"), None);
    }

    #[test]
    fn transaction_names() {
        for ok in ["default", "a", "tx-1_B", &"x".repeat(64)] {
            assert!(validate_transaction_name(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            ".",
            "..",
            "a/b",
            "a.b",
            "a b",
            &"x".repeat(65),
            ".trash",
        ] {
            let err = validate_transaction_name(bad).expect_err(bad).to_string();
            assert!(err.contains(&format!("'{bad}'")), "{err}");
        }
    }

    #[test]
    fn entry_paths() {
        let entry = Entry {
            data: Key::data("settings.kubernetes.node-labels.\"example.com/role\"").unwrap(),
            meta: None,
        };
        assert_eq!(
            entry.rel_path().unwrap(),
            Path::new("settings/kubernetes/node-labels/example%2Ecom%2Frole")
        );
        let entry = Entry {
            data: Key::data("settings.motd").unwrap(),
            meta: Some(Key::meta("affected-services").unwrap()),
        };
        assert_eq!(
            entry.rel_path().unwrap(),
            Path::new("settings/motd.affected-services")
        );
        // 100 dots fit in a key but not, encoded, in a file name.
        let entry = Entry {
            data: Key::from_segments(KeyType::Data, &["a", &".".repeat(100)]).unwrap(),
            meta: None,
        };
        let err = entry.rel_path().unwrap_err().to_string();
        assert!(err.contains("percent-encoded"), "{err}");
    }

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
