//! Atomic, durable file replacement: temp file in the same directory, fsync, rename, fsync of
//! the directory.

use std::fs::{File, Permissions};
use std::io::{self, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use tempfile::NamedTempFile;

use crate::{io_err, parent_dir, sync_dir, temp_prefix, IoError};

/// Replaces `path` with `contents`, atomically and durably, with permission bits `mode` (exactly
/// these, the umask does not apply). After a crash `path` holds either its old contents or
/// `contents`. The parent directory must exist.
pub fn atomic_write(path: &Path, contents: &[u8], mode: u32) -> Result<(), IoError> {
    let mut file = AtomicFile::create(path, mode)?;
    file.write_all(contents).map_err(io_err("write", path))?;
    file.commit()
}

/// A file being written in place of `path`: a hidden temp file in the same directory that
/// becomes `path` on [`commit`](Self::commit). Dropping it uncommitted removes the temp file and
/// leaves `path` as it was. Write to it through [`Write`] (for streamed contents).
#[derive(Debug)]
pub struct AtomicFile {
    temp: NamedTempFile,
    path: PathBuf,
}

impl AtomicFile {
    /// Starts replacing `path` (whose parent directory must exist) with a new file of permission
    /// bits `mode` (exactly these, the umask does not apply).
    pub fn create(path: &Path, mode: u32) -> Result<Self, IoError> {
        let dir = parent_dir(path);
        let temp = tempfile::Builder::new()
            .prefix(&temp_prefix(path))
            .suffix(".tmp")
            .tempfile_in(dir)
            .map_err(io_err("create a temporary file in", dir))?;
        temp.as_file()
            .set_permissions(Permissions::from_mode(mode))
            .map_err(io_err("set the mode of", temp.path()))?;
        Ok(Self {
            temp,
            path: path.to_path_buf(),
        })
    }

    /// The file being written (for `set_len`, positioned writes and the like).
    pub fn file(&self) -> &File {
        self.temp.as_file()
    }

    /// The file being written, mutably (for APIs that take `&mut File`).
    pub fn file_mut(&mut self) -> &mut File {
        self.temp.as_file_mut()
    }

    /// The path this file will replace.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// fsyncs the file, renames it over the target and fsyncs the directory: once this
    /// returns, the new contents survive a crash.
    pub fn commit(self) -> Result<(), IoError> {
        let dir = parent_dir(&self.path).to_path_buf();
        self.commit_unsynced_dir()?;
        sync_dir(&dir)
    }

    /// Like [`commit`](Self::commit) without the final fsync of the directory: the replacement
    /// is atomic but not yet durable. For callers replacing many files in one directory, which
    /// then call [`sync_dir`] once.
    pub fn commit_unsynced_dir(self) -> Result<(), IoError> {
        let Self { temp, path } = self;
        temp.as_file()
            .sync_all()
            .map_err(io_err("fsync", temp.path()))?;
        temp.persist(&path)
            .map_err(|e| IoError::new("rename into place", &path, e.error))?;
        Ok(())
    }
}

impl Write for AtomicFile {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.temp.write(buf)
    }

    fn write_all(&mut self, buf: &[u8]) -> io::Result<()> {
        self.temp.write_all(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.temp.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    fn entries(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }

    #[test]
    fn atomic_write_creates_and_replaces_with_the_exact_mode() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("conf");
        atomic_write(&path, b"one", 0o640).unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"one");
        atomic_write(&path, b"two", 0o604).unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"two");
        let mode = fs::metadata(&path).unwrap().permissions().mode() & 0o7777;
        assert_eq!(mode, 0o604, "the umask does not apply");
        assert_eq!(entries(dir.path()), ["conf"], "no temp file is left");
    }

    #[test]
    fn atomic_write_names_the_file_when_the_directory_is_missing() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("nope");
        let err = atomic_write(&missing.join("conf"), b"x", 0o644).unwrap_err();
        assert_eq!(err.op, "create a temporary file in");
        assert_eq!(err.path, missing);
        assert_eq!(err.kind(), io::ErrorKind::NotFound);
    }

    #[test]
    fn a_bare_file_name_lives_in_the_current_directory() {
        assert_eq!(parent_dir(Path::new("conf")), Path::new("."));
        assert_eq!(parent_dir(Path::new("/etc/conf")), Path::new("/etc"));
    }

    #[test]
    fn an_uncommitted_file_leaves_the_old_contents_and_no_temp_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state");
        atomic_write(&path, b"old", 0o644).unwrap();
        {
            let mut file = AtomicFile::create(&path, 0o644).unwrap();
            file.write_all(b"new, half written").unwrap();
            assert_eq!(file.path(), path);
            // Dropped without commit: the writer "crashed" before the rename.
        }
        assert_eq!(fs::read(&path).unwrap(), b"old");
        assert_eq!(entries(dir.path()), ["state"]);
    }

    #[test]
    fn a_reader_racing_writers_sees_only_whole_old_or_new_contents() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("value");
        let old = vec![b'o'; 64 * 1024];
        let new = vec![b'n'; 96 * 1024];
        atomic_write(&path, &old, 0o644).unwrap();
        std::thread::scope(|s| {
            let writer = s.spawn(|| {
                for i in 0..200 {
                    let contents = if i % 2 == 0 { &new } else { &old };
                    atomic_write(&path, contents, 0o644).unwrap();
                }
            });
            while !writer.is_finished() {
                let seen = fs::read(&path).unwrap();
                assert!(
                    seen == old || seen == new,
                    "torn read of {} bytes",
                    seen.len()
                );
            }
        });
        assert_eq!(entries(dir.path()), ["value"]);
    }

    /// Run as a child process by the next test: rewrites the file in a loop until killed.
    #[test]
    fn crash_child() {
        let Some(path) = std::env::var_os(CRASH_CHILD_ENV) else {
            return;
        };
        let path = PathBuf::from(path);
        for i in 0.. {
            atomic_write(&path, &crash_contents(i % 2 == 1), 0o644).unwrap();
        }
    }

    const CRASH_CHILD_ENV: &str = "FSUTIL_CRASH_CHILD";

    fn crash_contents(new: bool) -> Vec<u8> {
        if new {
            vec![b'n'; 256 * 1024]
        } else {
            vec![b'o'; 128 * 1024]
        }
    }

    #[test]
    fn a_writer_killed_at_any_moment_leaves_the_old_or_the_new_contents() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("value");
        for round in 0..10u64 {
            atomic_write(&path, &crash_contents(false), 0o644).unwrap();
            let mut child = std::process::Command::new(std::env::current_exe().unwrap())
                .args(["--exact", "write::tests::crash_child", "--quiet"])
                .env(CRASH_CHILD_ENV, &path)
                .stdout(std::process::Stdio::null())
                .spawn()
                .unwrap();
            // Kill it mid-loop: once it has replaced the file at least once, at a varying moment.
            while fs::read(&path).unwrap() != crash_contents(true) {
                std::thread::yield_now();
            }
            std::thread::sleep(std::time::Duration::from_millis(3 * round));
            child.kill().unwrap(); // SIGKILL: no destructor runs, the temp file may stay.
            child.wait().unwrap();
            let seen = fs::read(&path).unwrap();
            assert!(
                seen == crash_contents(false) || seen == crash_contents(true),
                "round {round}: torn file of {} bytes",
                seen.len()
            );
        }
        for name in entries(dir.path()) {
            assert!(name == "value" || name.starts_with(".value."), "{name}");
        }
    }

    #[test]
    fn commit_unsynced_dir_replaces_the_file_too() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a");
        let mut file = AtomicFile::create(&path, 0o600).unwrap();
        file.write_all(b"a").unwrap();
        file.file().sync_all().unwrap();
        file.commit_unsynced_dir().unwrap();
        sync_dir(dir.path()).unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"a");
    }
}
