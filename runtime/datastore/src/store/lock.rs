//! The writers' exclusive lock and the readers' fallback shared lock on `.lock`.

use super::*;

impl FilesystemDataStore {
    /// Takes the writers' lock; it is held until the returned guard is dropped.
    pub(super) fn lock_for_write(&self) -> Result<FileLock> {
        Ok(fsutil::lock_exclusive(
            &self.root.join(LOCK_FILE),
            Wait::Block,
        )?)
    }

    /// Takes the shared lock a reader falls back to after its optimistic tries: it waits for a
    /// writer to finish and keeps the next one out while held.
    pub(super) fn lock_for_read(&self) -> Result<FileLock> {
        Ok(fsutil::lock_shared(
            &self.root.join(LOCK_FILE),
            Wait::Block,
        )?)
    }
}
