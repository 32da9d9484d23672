//! Crash-safe writes: a half-written file is never visible under its final name.

use crate::error::Result;
use std::path::Path;

/// Writes `bytes` to `path` atomically with mode 0644 ([`fsutil::atomic_write`]: a temporary
/// file beside it is written, synced and renamed over `path`, then the directory is synced).
///
/// # Errors
/// [`Error::Fs`](crate::Error::Fs) naming the file when any step fails.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    Ok(fsutil::atomic_write(path, bytes, 0o644)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replaces_the_file_and_leaves_no_temporary() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("a.json");
        write_atomic(&path, b"one").unwrap();
        write_atomic(&path, b"two").unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"two");
        let names: Vec<_> = std::fs::read_dir(tmp.path()).unwrap().collect();
        assert_eq!(names.len(), 1);
    }

    #[test]
    fn a_missing_directory_names_the_file() {
        let error = write_atomic(Path::new("/nonexistent-dir/x/a.json"), b"x").unwrap_err();
        assert!(error.to_string().contains("/nonexistent-dir/x"), "{error}");
    }
}
