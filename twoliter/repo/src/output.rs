//! Writing a repository directory atomically: everything goes into a hidden temporary directory
//! next to the final one, which is renamed into place only when complete.

use crate::error::{io_err, Result};
use std::path::{Path, PathBuf};

/// A repository directory being written.
#[derive(Debug)]
pub(crate) struct Output {
    temp: tempfile::TempDir,
    staging: tempfile::TempDir,
    parent: PathBuf,
    name: String,
    /// Held until the output is finished or dropped: one writer per repository directory.
    _lock: fsutil::FileLock,
}

/// Prefixes of the hidden work entries an `Output` makes beside the final directories.
/// (`.old-` and `.latest-` are the names earlier versions used.)
const WORK_PREFIXES: [&str; 4] = [".tmp-", ".staging-", ".old-", ".latest-"];

impl Output {
    /// Starts `<output_root>/<repo>/<name>`. Takes the repository directory's lock, then removes
    /// work directories that an interrupted run (killed, power loss) left behind.
    pub(crate) fn start(output_root: &Path, repo: &str, name: &str) -> Result<Self> {
        let parent = output_root.join(repo);
        std::fs::create_dir_all(&parent).map_err(io_err("create directory", &parent))?;
        let lock_path = parent.join(".lock");
        let lock = match fsutil::lock_exclusive(&lock_path, fsutil::Wait::NoBlock) {
            Err(busy) if busy.is_would_block() => {
                return Err(io_err("lock", &lock_path)(std::io::Error::other(
                    "another twoliter is writing this repository directory; wait for it to finish",
                )))
            }
            taken => taken?,
        };
        remove_leftovers(&parent)?;
        let temp = tempfile::Builder::new()
            .prefix(&format!(".tmp-{name}-"))
            .tempdir_in(&parent)
            .map_err(io_err("create a temporary directory in", &parent))?;
        let staging = tempfile::Builder::new()
            .prefix(&format!(".staging-{name}-"))
            .tempdir_in(&parent)
            .map_err(io_err("create a temporary directory in", &parent))?;
        Ok(Self {
            temp,
            staging,
            parent,
            name: name.to_string(),
            _lock: lock,
        })
    }

    /// The directory being filled (renamed to the final name by [`Output::finish`]).
    pub(crate) fn dir(&self) -> &Path {
        self.temp.path()
    }

    /// Scratch space for generated inputs (removed at the end).
    pub(crate) fn staging(&self) -> &Path {
        self.staging.path()
    }

    /// Moves the finished directory to its final name, replacing an earlier one, and points
    /// `latest` at it when `latest` is true. Returns the final path.
    pub(crate) fn finish(self, latest: bool) -> Result<PathBuf> {
        let final_dir = self.parent.join(&self.name);
        // Every file of the new repository reaches the disk before it gets its final name.
        sync_file_system(self.temp.path())?;
        let temp = self.temp.keep();
        // The final name always holds a complete repository: a rebuilt one is swapped in.
        fsutil::replace_dir_atomically(&temp, &final_dir)?;
        if latest {
            fsutil::replace_symlink(&self.parent.join("latest"), Path::new(&self.name))?;
        }
        Ok(final_dir)
    }
}

/// Removes the work entries (see [`WORK_PREFIXES`]) in `parent`; only called with its lock held,
/// so they belong to runs that ended without cleaning up.
fn remove_leftovers(parent: &Path) -> Result<()> {
    let entries = std::fs::read_dir(parent).map_err(io_err("list", parent))?;
    for entry in entries.filter_map(|e| e.ok()) {
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if !WORK_PREFIXES.iter().any(|p| name.starts_with(p)) {
            continue;
        }
        let path = entry.path();
        let removed = if entry.file_type().is_ok_and(|t| t.is_dir()) {
            std::fs::remove_dir_all(&path)
        } else {
            std::fs::remove_file(&path)
        };
        removed.map_err(io_err("remove the leftover", &path))?;
        tracing::info!("removed {} left by an interrupted run", path.display());
    }
    Ok(())
}

/// Flushes the file system holding `dir`: one `syncfs` covers the metadata files, copied targets
/// and directory entries (a thousand targets need no thousand `fsync`s).
fn sync_file_system(dir: &Path) -> Result<()> {
    let handle = std::fs::File::open(dir).map_err(io_err("open", dir))?;
    rustix::fs::syncfs(&handle)
        .map_err(|e| io_err("sync the file system of", dir)(std::io::Error::from(e)))
}

/// Puts `source` at `dest`: a hard link when both are on one file system, else a copy.
pub(crate) fn place_file(source: &Path, dest: &Path) -> Result<()> {
    // Follow symlinks so the link points at the data, not at a relative link.
    let real = source.canonicalize().map_err(io_err("find", source))?;
    if std::fs::hard_link(&real, dest).is_ok() {
        return Ok(());
    }
    std::fs::copy(&real, dest)
        .map(|_| ())
        .map_err(io_err("copy into the repository", source))
}
