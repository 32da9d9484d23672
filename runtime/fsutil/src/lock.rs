//! Advisory lock files on std's `File::lock` family (`flock(2)` on Linux).
//!
//! A lock belongs to the open file: every call opens the lock file anew, so two callers exclude
//! each other whether they are threads of one process or separate processes.

use std::fs::{File, OpenOptions, TryLockError};
use std::io;
use std::path::{Path, PathBuf};

use crate::IoError;

/// Whether taking a lock may wait for its holder.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wait {
    /// Wait until the lock is free.
    Block,
    /// Fail at once if someone holds a conflicting lock: the error's
    /// [`is_would_block`](IoError::is_would_block) is true.
    NoBlock,
}

/// A held lock on a lock file; dropping it releases the lock.
#[derive(Debug)]
#[must_use = "the lock is released when this is dropped"]
pub struct FileLock {
    file: File,
    path: PathBuf,
}

impl FileLock {
    /// The lock file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The open lock file, e.g. to write the holder's pid into it.
    pub fn file(&self) -> &File {
        &self.file
    }
}

#[derive(Clone, Copy)]
enum Kind {
    Exclusive,
    Shared,
}

/// Takes an exclusive lock on `path`, creating the file if needed (its contents are left alone).
pub fn lock_exclusive(path: &Path, wait: Wait) -> Result<FileLock, IoError> {
    lock(path, Kind::Exclusive, wait)
}

/// Takes a shared lock on `path`: many holders at once, none while an exclusive lock is held.
/// The file is created if needed; a lock file the caller may only read is opened read-only.
pub fn lock_shared(path: &Path, wait: Wait) -> Result<FileLock, IoError> {
    lock(path, Kind::Shared, wait)
}

fn lock(path: &Path, kind: Kind, wait: Wait) -> Result<FileLock, IoError> {
    let file = open(path).map_err(|e| IoError::new("open lock file", path, e))?;
    loop {
        let result = match (kind, wait) {
            (Kind::Exclusive, Wait::Block) => file.lock(),
            (Kind::Shared, Wait::Block) => file.lock_shared(),
            (Kind::Exclusive, Wait::NoBlock) => file.try_lock().map_err(would_block),
            (Kind::Shared, Wait::NoBlock) => file.try_lock_shared().map_err(would_block),
        };
        match result {
            Ok(()) => {
                return Ok(FileLock {
                    file,
                    path: path.to_path_buf(),
                })
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(IoError::new("lock", path, e)),
        }
    }
}

fn open(path: &Path) -> io::Result<File> {
    let writable = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(path);
    match writable {
        Err(e) if e.kind() == io::ErrorKind::PermissionDenied && path.exists() => File::open(path),
        other => other,
    }
}

fn would_block(e: TryLockError) -> io::Error {
    match e {
        TryLockError::WouldBlock => io::ErrorKind::WouldBlock.into(),
        TryLockError::Error(e) => e,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::time::Duration;

    #[test]
    fn a_held_exclusive_lock_refuses_no_block_callers_until_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(".lock");
        let held = lock_exclusive(&path, Wait::Block).unwrap();
        assert_eq!(held.path(), path);
        let err = lock_exclusive(&path, Wait::NoBlock).unwrap_err();
        assert!(err.is_would_block(), "{err:?}");
        assert_eq!(err.to_string(), format!("cannot lock {}", path.display()));
        assert!(lock_shared(&path, Wait::NoBlock)
            .unwrap_err()
            .is_would_block());
        drop(held);
        let _again = lock_exclusive(&path, Wait::NoBlock).unwrap();
    }

    #[test]
    fn shared_locks_coexist_and_keep_out_exclusive_ones() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(".lock");
        let a = lock_shared(&path, Wait::Block).unwrap();
        let _b = lock_shared(&path, Wait::NoBlock).unwrap();
        assert!(lock_exclusive(&path, Wait::NoBlock)
            .unwrap_err()
            .is_would_block());
        drop(a);
    }

    #[test]
    fn a_blocking_caller_waits_for_the_holder() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(".lock");
        let released = AtomicBool::new(false);
        let held = lock_exclusive(&path, Wait::Block).unwrap();
        std::thread::scope(|s| {
            let waiter = s.spawn(|| {
                let _lock = lock_exclusive(&path, Wait::Block).unwrap();
                assert!(
                    released.load(Ordering::SeqCst),
                    "got the lock while it was held"
                );
            });
            std::thread::sleep(Duration::from_millis(50));
            released.store(true, Ordering::SeqCst);
            drop(held);
            waiter.join().unwrap();
        });
    }

    #[test]
    fn a_missing_directory_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("nope/.lock");
        let err = lock_exclusive(&path, Wait::Block).unwrap_err();
        assert_eq!(err.op, "open lock file");
        assert!(!err.is_would_block());
    }
}
