//! Directory-level durability: fsync of a directory, atomic symlink and directory replacement.

use std::fs::{self, File};
use std::io;
use std::path::Path;

use rustix::fs::{renameat_with, RenameFlags, CWD};

use crate::{io_err, parent_dir, temp_prefix, IoError};

/// fsyncs directory `dir`, so the entries created, renamed or removed in it are durable.
pub fn sync_dir(dir: &Path) -> Result<(), IoError> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io_err("fsync directory", dir))
}

/// Points symlink `link` at `target` in one step (a temp symlink renamed over it; `link` may
/// not exist yet), then fsyncs the directory holding `link`.
pub fn replace_symlink(link: &Path, target: &Path) -> Result<(), IoError> {
    let dir = parent_dir(link);
    let temp = tempfile::Builder::new()
        .prefix(&temp_prefix(link))
        .suffix(".link")
        .make_in(dir, |temp| std::os::unix::fs::symlink(target, temp))
        .map_err(io_err("create a temporary symlink in", dir))?;
    temp.persist(link)
        .map_err(|e| IoError::new("rename symlink into place", link, e.error))?;
    sync_dir(dir)
}

/// Puts directory `new` in place of `dest` in one step, so `dest` always names a complete tree:
/// when `dest` exists the two are exchanged (`renameat2(RENAME_EXCHANGE)`), the exchange is made
/// durable, and the previous tree (now at `new`) is removed; otherwise `new` is renamed to
/// `dest`. Both must be on one filesystem. An error from removing the previous tree is returned
/// after `dest` already holds the new one.
pub fn replace_dir_atomically(new: &Path, dest: &Path) -> Result<(), IoError> {
    let exists = match fs::symlink_metadata(dest) {
        Ok(_) => true,
        Err(e) if e.kind() == io::ErrorKind::NotFound => false,
        Err(e) => return Err(IoError::new("inspect", dest, e)),
    };
    if exists {
        renameat_with(CWD, new, CWD, dest, RenameFlags::EXCHANGE)
            .map_err(|e| IoError::new("exchange a new directory with", dest, e.into()))?;
    } else {
        fs::rename(new, dest).map_err(io_err("rename into place", dest))?;
    }
    sync_dir(parent_dir(dest))?;
    if exists {
        fs::remove_dir_all(new).map_err(io_err("remove the replaced directory", new))?;
        sync_dir(parent_dir(new))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replace_symlink_creates_then_repoints() {
        let dir = tempfile::tempdir().unwrap();
        let link = dir.path().join("live");
        replace_symlink(&link, Path::new("live.1")).unwrap();
        assert_eq!(fs::read_link(&link).unwrap(), Path::new("live.1"));
        replace_symlink(&link, Path::new("live.2")).unwrap();
        assert_eq!(fs::read_link(&link).unwrap(), Path::new("live.2"));
        assert_eq!(
            fs::read_dir(dir.path()).unwrap().count(),
            1,
            "no temp link left"
        );
    }

    #[test]
    fn replace_dir_atomically_renames_when_nothing_is_there() {
        let dir = tempfile::tempdir().unwrap();
        let (new, dest) = (dir.path().join(".new"), dir.path().join("build"));
        fs::create_dir(&new).unwrap();
        fs::write(new.join("a"), "new").unwrap();
        replace_dir_atomically(&new, &dest).unwrap();
        assert_eq!(fs::read_to_string(dest.join("a")).unwrap(), "new");
        assert!(!new.exists());
    }

    #[test]
    fn replace_dir_atomically_swaps_out_and_removes_the_previous_tree() {
        let dir = tempfile::tempdir().unwrap();
        let (new, dest) = (dir.path().join(".new"), dir.path().join("build"));
        fs::create_dir_all(dest.join("old-only")).unwrap();
        fs::write(dest.join("a"), "old").unwrap();
        fs::create_dir(&new).unwrap();
        fs::write(new.join("a"), "new").unwrap();
        replace_dir_atomically(&new, &dest).unwrap();
        assert_eq!(fs::read_to_string(dest.join("a")).unwrap(), "new");
        assert!(!dest.join("old-only").exists());
        assert!(!new.exists());
    }

    #[test]
    fn replace_dir_atomically_names_a_missing_source() {
        let dir = tempfile::tempdir().unwrap();
        let err = replace_dir_atomically(&dir.path().join("nope"), &dir.path().join("build"))
            .unwrap_err();
        assert_eq!(err.op, "rename into place");
        assert_eq!(err.kind(), io::ErrorKind::NotFound);
    }

    #[test]
    fn sync_dir_names_a_missing_directory() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("nope");
        let err = sync_dir(&missing).unwrap_err();
        assert_eq!(
            err.to_string(),
            format!("cannot fsync directory {}", missing.display())
        );
    }
}
