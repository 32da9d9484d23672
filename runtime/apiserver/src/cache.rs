//! The live read cache: the whole live key tree, plus the rendered bodies of recent live
//! `GET /settings` queries.
//!
//! Both are keyed by the identity of the live generation (its number and the inode of its
//! directory: a `readlink` and a `stat` per request), so any commit, by this server or any other
//! process, invalidates them. Reads of a transaction and metadata reads never use it.

use std::collections::HashMap;
use std::os::unix::fs::MetadataExt;
use std::sync::{Arc, Mutex, MutexGuard};

use bytes::Bytes;
use datastore::{Committed, FilesystemDataStore, Key};

use crate::error::ApiError;

/// How many rendered `GET /settings` bodies are kept per live generation.
const MAX_RENDERED: usize = 64;

/// Every live data key and its value.
pub type Pairs = Arc<HashMap<Key, String>>;

/// Identifies one live generation: its number and its directory's inode (so a datastore swapped
/// under the same path, e.g. by a migration, is never mistaken for the old one).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LiveId {
    generation: u64,
    dev: u64,
    ino: u64,
}

/// What is cached about one live generation.
struct Entry {
    id: LiveId,
    pairs: Pairs,
    /// Rendered `GET /settings` bodies by raw query string.
    rendered: HashMap<String, Bytes>,
}

/// The cache (see the module documentation).
#[derive(Default)]
pub struct LiveCache(Mutex<Option<Entry>>);

impl LiveCache {
    fn lock(&self) -> MutexGuard<'_, Option<Entry>> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The identity of the current live generation.
    pub fn live_id(store: &FilesystemDataStore) -> Result<LiveId, ApiError> {
        let generation = store.generation()?;
        let dir = store.path().join(datastore::store::LIVE);
        let meta = std::fs::metadata(&dir)
            .map_err(|e| ApiError::internal(format!("failed to stat '{}': {e}", dir.display())))?;
        Ok(LiveId {
            generation,
            dev: meta.dev(),
            ino: meta.ino(),
        })
    }

    /// Every live data key, from the cache when the live generation hasn't changed.
    pub fn pairs(&self, store: &FilesystemDataStore) -> Result<(LiveId, Pairs), ApiError> {
        let id = Self::live_id(store)?;
        if let Some(entry) = self.lock().as_ref().filter(|e| e.id == id) {
            return Ok((id, Arc::clone(&entry.pairs)));
        }
        let pairs = Arc::new(store.get_prefix("", &Committed::Live)?);
        // Only cache what was certainly read from generation `id`.
        if Self::live_id(store)? == id {
            *self.lock() = Some(Entry {
                id,
                pairs: Arc::clone(&pairs),
                rendered: HashMap::new(),
            });
        }
        Ok((id, pairs))
    }

    /// The rendered body of `query` for generation `id`, if cached.
    pub fn rendered(&self, id: LiveId, query: &str) -> Option<Bytes> {
        let cache = self.lock();
        let entry = cache.as_ref().filter(|e| e.id == id)?;
        entry.rendered.get(query).cloned()
    }

    /// Keeps the rendered body of `query` for generation `id` (if that is still the cached one).
    pub fn store_rendered(&self, id: LiveId, query: &str, body: Bytes) {
        let mut cache = self.lock();
        if let Some(entry) = cache.as_mut().filter(|e| e.id == id) {
            if entry.rendered.len() >= MAX_RENDERED {
                entry.rendered.clear();
            }
            entry.rendered.insert(query.to_string(), body);
        }
    }
}

/// The pairs of `pairs` whose key name starts with `prefix`.
pub fn filter_prefix(pairs: &HashMap<Key, String>, prefix: &str) -> HashMap<Key, String> {
    pairs
        .iter()
        .filter(|(k, _)| k.name().starts_with(prefix))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn follows_the_live_generation() {
        let dir = tempfile::tempdir().unwrap();
        let path = datastore::create(dir.path().join("ds"), "1.0.0").unwrap();
        let store = FilesystemDataStore::open(&path).unwrap();
        let motd = Key::data("settings.motd").unwrap();
        store.set_key(&motd, "\"a\"", &Committed::Live).unwrap();
        let cache = LiveCache::default();
        let (id, pairs) = cache.pairs(&store).unwrap();
        assert_eq!(pairs[&motd], "\"a\"");
        cache.store_rendered(id, "", Bytes::from_static(b"{}\n"));
        assert_eq!(cache.rendered(id, "").as_deref(), Some(&b"{}\n"[..]));
        // Another handle's write is a new generation: nothing old is served.
        let other = FilesystemDataStore::open(&path).unwrap();
        other.set_key(&motd, "\"b\"", &Committed::Live).unwrap();
        let (new_id, pairs) = cache.pairs(&store).unwrap();
        assert_ne!(new_id, id);
        assert_eq!(pairs[&motd], "\"b\"");
        assert_eq!(cache.rendered(new_id, ""), None);
        assert_eq!(filter_prefix(&pairs, "settings.m").len(), 1);
        assert!(filter_prefix(&pairs, "services.").is_empty());
    }
}
