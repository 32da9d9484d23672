//! File system calls the standard library lacks (through rustix) and small file helpers.

use super::*;
use rustix::fs::{makedev, mknodat, utimensat, AtFlags, FileType, Mode, Timespec, Timestamps, CWD};

/// Whether two files have the same contents.
pub(super) fn same_contents(a: &Path, b: &Path) -> io::Result<bool> {
    let (fa, fb) = (File::open(a)?, File::open(b)?);
    if fa.metadata()?.len() != fb.metadata()?.len() {
        return Ok(false);
    }
    let (mut ra, mut rb) = (BufReader::new(fa), BufReader::new(fb));
    loop {
        let ba = ra.fill_buf()?;
        if ba.is_empty() {
            return Ok(rb.fill_buf()?.is_empty());
        }
        let bb = rb.fill_buf()?;
        let n = ba.len().min(bb.len());
        if n == 0 || ba[..n] != bb[..n] {
            return Ok(false);
        }
        ra.consume(n);
        rb.consume(n);
    }
}

/// Sets a path's atime and mtime without following a final symlink.
pub(super) fn set_mtime(path: &Path, mtime: i64) -> io::Result<()> {
    let time = Timespec {
        tv_sec: mtime,
        tv_nsec: 0,
    };
    let times = Timestamps {
        last_access: time,
        last_modification: time,
    };
    Ok(utimensat(CWD, path, &times, AtFlags::SYMLINK_NOFOLLOW)?)
}

/// Creates a device node or FIFO; `mode` holds the file type and the permission bits.
pub(super) fn mknod(path: &Path, mode: u32, major: u32, minor: u32) -> io::Result<()> {
    Ok(mknodat(
        CWD,
        path,
        FileType::from_raw_mode(mode),
        Mode::from_raw_mode(mode),
        makedev(major, minor),
    )?)
}

/// What is at a path, for conflict messages.
pub(super) fn describe(meta: &fs::Metadata, path: &Path) -> String {
    let ft = meta.file_type();
    if ft.is_dir() {
        "a directory".into()
    } else if ft.is_symlink() {
        match fs::read_link(path) {
            Ok(t) => format!("a symlink to {}", t.display()),
            Err(_) => "a symlink".into(),
        }
    } else if ft.is_file() {
        "a regular file".into()
    } else if ft.is_char_device() || ft.is_block_device() {
        "a device node".into()
    } else {
        "a special file".into()
    }
}
