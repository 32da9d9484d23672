//! Small durable-filesystem helpers.

use std::collections::BTreeSet;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use crate::error::{io_err, Error, Result};

static TEMP_COUNTER: AtomicU64 = AtomicU64::new(0);

/// A hidden name unique within this host (pid + counter); hidden names are never keys.
pub(crate) fn temp_name(kind: &str) -> String {
    format!(
        ".{kind}-{}-{}",
        std::process::id(),
        TEMP_COUNTER.fetch_add(1, Ordering::Relaxed)
    )
}

/// fsyncs a directory so the entries created, renamed or removed in it are durable.
pub(crate) fn fsync_dir(path: &Path) -> Result<()> {
    File::open(path)
        .and_then(|dir| dir.sync_all())
        .map_err(io_err("fsync directory", path))
}

/// Creates `path` (which must not exist), writes `contents` and fsyncs it.
pub(crate) fn write_new_file(path: &Path, contents: &[u8]) -> Result<()> {
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)
        .map_err(io_err("create", path))?;
    file.write_all(contents).map_err(io_err("write", path))?;
    file.sync_all().map_err(io_err("fsync", path))
}

/// Replaces `dir/name` with `contents` atomically: write a temp file, fsync it, rename it over the
/// target. The caller fsyncs `dir` to make the rename durable.
pub(crate) fn write_file_atomic(dir: &Path, name: &str, contents: &[u8]) -> Result<()> {
    let tmp = dir.join(temp_name("tmp"));
    write_new_file(&tmp, contents)?;
    let dest = dir.join(name);
    if let Err(e) = fs::rename(&tmp, &dest) {
        let _ = fs::remove_file(&tmp);
        return Err(io_err("rename into place", &dest)(e));
    }
    Ok(())
}

/// Points symlink `dir/name` at `target` atomically (temp symlink renamed over it), then fsyncs
/// `dir`.
pub(crate) fn replace_symlink(dir: &Path, name: &str, target: &Path) -> Result<()> {
    let tmp = dir.join(temp_name("link"));
    symlink(target, &tmp).map_err(io_err("create symlink", &tmp))?;
    let dest = dir.join(name);
    if let Err(e) = fs::rename(&tmp, &dest) {
        let _ = fs::remove_file(&tmp);
        return Err(io_err("rename symlink into place", &dest)(e));
    }
    fsync_dir(dir)
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
                    return Err(Error::Io {
                        op: "create directory (a file is in the way)",
                        path: current,
                        source: e,
                    });
                }
            }
            Err(e) => return Err(io_err("create directory", &current)(e)),
        }
    }
    Ok(())
}

/// Removes a directory tree; a missing one is fine.
pub(crate) fn remove_tree(path: &Path) -> Result<()> {
    match fs::remove_dir_all(path) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(io_err("remove", path)(e)),
        _ => Ok(()),
    }
}

/// Removes a file; a missing one is fine.
pub(crate) fn remove_file(path: &Path) -> Result<()> {
    match fs::remove_file(path) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(io_err("remove", path)(e)),
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
        Err(e) => Err(io_err("read", path)(e)),
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
        Err(e) => Err(io_err("inspect", path)(e)),
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
