//! The datastore's own file helpers (durable writes come from the `fsutil` crate).

use std::collections::BTreeSet;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use crate::error::{io_err, Result};

/// Permission bits of the files the datastore writes.
const FILE_MODE: u32 = 0o644;

static TEMP_COUNTER: AtomicU64 = AtomicU64::new(0);

/// A hidden name unique within this host (pid + counter); hidden names are never keys.
pub(crate) fn temp_name(kind: &str) -> String {
    format!(
        ".{kind}-{}-{}",
        std::process::id(),
        TEMP_COUNTER.fetch_add(1, Ordering::Relaxed)
    )
}

pub(crate) use fsutil::{replace_symlink, sync_dir};

/// Whether `name` is a temp symlink an interrupted [`replace_symlink`] left behind:
/// `.<link>.<random>.link`, or `.link-<pid>-<n>` as written by earlier releases.
pub(crate) fn is_temp_link(name: &str) -> bool {
    name.starts_with(".link-") || (name.starts_with('.') && name.ends_with(".link"))
}

/// Creates `path` (which must not exist), writes `contents` and fsyncs it.
pub(crate) fn write_new_file(path: &Path, contents: &[u8]) -> Result<()> {
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)
        .map_err(io_err("create", path))?;
    file.write_all(contents).map_err(io_err("write", path))?;
    file.sync_all().map_err(io_err("fsync", path))?;
    Ok(())
}

/// Replaces `path` with `contents` atomically (temp file, fsync, rename over it). The caller
/// fsyncs the directory to make the rename durable, once per directory for a batch.
pub(crate) fn write_file_atomic(path: &Path, contents: &[u8]) -> Result<()> {
    let mut file = fsutil::AtomicFile::create(path, FILE_MODE)?;
    file.write_all(contents).map_err(io_err("write", path))?;
    file.commit_unsynced_dir()?;
    Ok(())
}

/// Creates every missing directory of `rel` under `base`, recording the directories whose
/// entries changed (each new directory and its parent) in `dirty` for a later fsync.
pub(crate) fn create_dirs(base: &Path, rel: &Path, dirty: &mut BTreeSet<PathBuf>) -> Result<()> {
    let mut current = base.to_path_buf();
    for component in rel.components() {
        current.push(component);
        match fs::create_dir(&current) {
            Ok(()) => {
                if let Some(parent) = current.parent() {
                    dirty.insert(parent.to_path_buf());
                }
                dirty.insert(current.clone());
            }
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                let is_dir = fs::symlink_metadata(&current)
                    .map(|m| m.is_dir())
                    .unwrap_or(false);
                if !is_dir {
                    return Err(
                        io_err("create directory (a file is in the way)", &current)(e).into(),
                    );
                }
            }
            Err(e) => return Err(io_err("create directory", &current)(e).into()),
        }
    }
    Ok(())
}

/// Removes a directory tree; a missing one is fine.
pub(crate) fn remove_tree(path: &Path) -> Result<()> {
    match fs::remove_dir_all(path) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(io_err("remove", path)(e).into()),
        _ => Ok(()),
    }
}

/// Removes a file; a missing one is fine.
pub(crate) fn remove_file(path: &Path) -> Result<()> {
    match fs::remove_file(path) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(io_err("remove", path)(e).into()),
        _ => Ok(()),
    }
}

/// Reads a file as UTF-8; `None` when there is no file there (missing, a directory, or a file in
/// place of a parent directory).
pub(crate) fn read_optional(path: &Path) -> Result<Option<String>> {
    match fs::read_to_string(path) {
        Ok(s) => Ok(Some(s)),
        Err(e)
            if matches!(
                e.kind(),
                io::ErrorKind::NotFound
                    | io::ErrorKind::NotADirectory
                    | io::ErrorKind::IsADirectory
            ) =>
        {
            Ok(None)
        }
        Err(e) => Err(io_err("read", path)(e).into()),
    }
}

/// What, if anything, is at `path` (symlinks not followed).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Node {
    Missing,
    File,
    Dir,
    Other,
}

pub(crate) fn node(path: &Path) -> Result<Node> {
    match fs::symlink_metadata(path) {
        Ok(m) if m.is_file() => Ok(Node::File),
        Ok(m) if m.is_dir() => Ok(Node::Dir),
        Ok(_) => Ok(Node::Other),
        Err(e)
            if matches!(
                e.kind(),
                io::ErrorKind::NotFound | io::ErrorKind::NotADirectory
            ) =>
        {
            Ok(Node::Missing)
        }
        Err(e) => Err(io_err("inspect", path)(e).into()),
    }
}

/// `bytes` random bytes from the kernel, as lower-case hex.
pub(crate) fn random_hex(bytes: usize) -> Result<String> {
    let path = Path::new("/dev/urandom");
    let mut buf = vec![0u8; bytes];
    File::open(path)
        .and_then(|mut f| f.read_exact(&mut buf))
        .map_err(io_err("read", path))?;
    Ok(buf.iter().map(|b| format!("{b:02x}")).collect())
}
