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
//! See the crate documentation for how commits stay atomic across crashes. The parts:
//! `store/read.rs` (generation-consistent reads), `store/write.rs` (batches into a transaction
//! or live), `store/commit.rs` (building and switching generations), `store/recover.rs` (after
//! an interrupted writer), `store/lock.rs` (the writers' and readers' locks).

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

mod commit;
mod lock;
mod read;
mod recover;
mod write;

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
}
