//! Atomic file replacement for the project's own files.

use std::io::Write;
use std::path::Path;

/// Replaces `path` with `bytes`: a temporary file beside it, fsynced, renamed over it, and the
/// directory fsynced, so a crash leaves the old file or the new one.
pub(crate) fn write(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let mut temp = tempfile::NamedTempFile::new_in(dir)?;
    temp.write_all(bytes)?;
    temp.as_file().sync_all()?;
    temp.persist(path).map_err(|e| e.error)?;
    std::fs::File::open(dir)?.sync_all()
}
