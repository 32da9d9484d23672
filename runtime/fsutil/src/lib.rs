//! Durable filesystem helpers shared by the host runtime and the build tools.
//!
//! | Helper | What it guarantees |
//! |---|---|
//! | [`atomic_write`], [`AtomicFile`] | After a crash the target holds either its old or its new contents, never a mix: a temp file in the same directory is written, fsynced, renamed over the target, and the directory fsynced. |
//! | [`sync_dir`] | The entries created, renamed or removed in a directory are durable. |
//! | [`replace_symlink`] | A symlink is repointed in one step (temp symlink renamed over it). |
//! | [`replace_dir_atomically`] | A directory tree is swapped for another in one step (`renameat2(RENAME_EXCHANGE)`), so its name always holds a complete tree. |
//! | [`lock_exclusive`], [`lock_shared`] | An advisory `flock(2)` lock on a lock file (std [`std::fs::File::lock`]), held until the [`FileLock`] is dropped. |
//!
//! Every failure is one [`IoError`]: the operation and the path ("cannot fsync /var/lib/x"), with
//! the OS error as its [`source`](std::error::Error::source), not repeated in the message.
//!
//! ```
//! # fn main() -> Result<(), fsutil::IoError> {
//! let dir = tempfile::tempdir().unwrap();
//! let path = dir.path().join("motd");
//! fsutil::atomic_write(&path, b"hi\n", 0o644)?;
//! assert_eq!(std::fs::read(&path).unwrap(), b"hi\n");
//! # Ok(())
//! # }
//! ```

#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod dir;
mod error;
mod lock;
mod write;

pub use dir::{replace_dir_atomically, replace_symlink, sync_dir};
pub use error::{io_err, IoError};
pub use lock::{lock_exclusive, lock_shared, FileLock, Wait};
pub use write::{atomic_write, AtomicFile};

use std::path::Path;

/// The directory holding `path` (`.` for a bare file name).
fn parent_dir(path: &Path) -> &Path {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    }
}

/// Prefix for temp files next to `path`: hidden, and named after the file they replace.
fn temp_prefix(path: &Path) -> String {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    format!(".{name}.")
}
