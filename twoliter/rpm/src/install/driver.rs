//! The extraction driver: one pass over the payload, each entry written by kind (directory,
//! regular file, hard link, symlink, device node) with its mode, owner and mtime.

use super::sys::{describe, mknod, same_contents, set_mtime};
use super::*;
use rustix::fs::makedev;

impl Run<'_> {
    pub(super) fn root(&self) -> &Path {
        &self.installer.root
    }

    pub(super) fn payload_err(&self, e: CpioError) -> Error {
        Error::InvalidPayload {
            path: self.rpm.to_owned(),
            entry: self.entry.clone(),
            detail: e.to_string(),
        }
    }

    pub(super) fn conflict(&self, rel: &Path, new: &str, old: String) -> Error {
        Error::Conflict {
            entry: rel.display().to_string(),
            package: self.package.to_owned(),
            owner: self.installer.owners.get(rel).cloned(),
            new: new.to_owned(),
            old,
        }
    }

    pub(super) fn extract<R: Read>(&mut self, mut archive: cpio::Reader<R>) -> Result<()> {
        let table = self.table;
        loop {
            let header = archive
                .next(|i| table.payload_sizes.get(i).copied())
                .map_err(|e| self.payload_err(e))?;
            let Some(mut h) = header else { break };
            let index = match h.stripped_index {
                Some(i) => {
                    let path = table.paths.get(i).cloned().unwrap_or_default();
                    h.name = format!(".{path}");
                    h.mode = table.modes.get(i).map(|&m| u32::from(m)).unwrap_or(0);
                    h.mtime = table.mtimes.get(i).copied().unwrap_or(0);
                    h.ino = table.inodes.get(i).copied().unwrap_or(0);
                    h.dev_major = table.devices.get(i).copied().unwrap_or(0);
                    h.nlink = table.nlinks.get(i).copied().unwrap_or(1);
                    let rdev = table.rdevs.get(i).copied().unwrap_or(0);
                    h.rdev_major = u32::from(rdev >> 8);
                    h.rdev_minor = u32::from(rdev & 0xff);
                    Some(i)
                }
                None => {
                    let key = h.name.strip_prefix('.').unwrap_or(&h.name);
                    table.by_path.get(key.trim_start_matches('/')).copied()
                }
            };
            self.entry = h.name.clone();
            let Some(rel) = self.relative(&h.name)? else {
                archive.skip(h.size).map_err(|e| self.payload_err(e))?;
                continue;
            };
            let uid = self.owner_id(&rel, "user", index.and_then(|i| table.users.get(i)), h.uid)?;
            let gid = self.owner_id(
                &rel,
                "group",
                index.and_then(|i| table.groups.get(i)),
                h.gid,
            )?;
            let meta = Meta {
                rel,
                mode: h.mode,
                uid,
                gid,
                mtime: i64::from(h.mtime),
            };
            match h.mode & S_IFMT {
                S_IFDIR => {
                    archive.skip(h.size).map_err(|e| self.payload_err(e))?;
                    self.directory(&meta)?;
                }
                S_IFREG if h.nlink > 1 => {
                    let key = (h.dev_major, h.dev_minor, h.ino);
                    let content = self.link_sets.get(&key).and_then(|s| s.content.clone());
                    match content {
                        Some(target) => {
                            archive.skip(h.size).map_err(|e| self.payload_err(e))?;
                            self.hardlink(&meta, &target)?;
                        }
                        None if h.size == 0 => {
                            archive.skip(0).map_err(|e| self.payload_err(e))?;
                            self.link_sets.entry(key).or_default().pending.push(meta);
                        }
                        None => {
                            let host = self.regular(&meta, &mut archive, h.size)?;
                            let pending = self
                                .link_sets
                                .entry(key)
                                .or_default()
                                .pending
                                .drain(..)
                                .collect::<Vec<_>>();
                            if let Some(set) = self.link_sets.get_mut(&key) {
                                set.content = Some(host.clone());
                            }
                            for m in pending {
                                self.hardlink(&m, &host)?;
                            }
                        }
                    }
                }
                S_IFREG => {
                    self.regular(&meta, &mut archive, h.size)?;
                }
                S_IFLNK => {
                    let target = archive
                        .data_vec(h.size, MAX_LINK_TARGET)
                        .map_err(|e| self.payload_err(e))?;
                    self.symlink(&meta, OsStr::from_bytes(&target))?;
                }
                S_IFCHR | S_IFBLK | S_IFIFO => {
                    archive.skip(h.size).map_err(|e| self.payload_err(e))?;
                    self.device(&meta, h.rdev_major, h.rdev_minor)?;
                }
                _ => {
                    return Err(Error::UnsupportedFileType {
                        path: self.rpm.to_owned(),
                        entry: h.name,
                        mode: h.mode,
                    })
                }
            }
        }
        // Hardlink sets whose members all had no data: an empty file, linked.
        let sets = std::mem::take(&mut self.link_sets);
        for set in sets.into_values() {
            let mut pending = set.pending.into_iter();
            if let Some(first) = pending.next() {
                self.entry = format!("./{}", first.rel.display());
                let host = self.regular(&first, &mut cpio::Reader::new(io::empty()), 0)?;
                for m in pending {
                    self.hardlink(&m, &host)?;
                }
            }
        }
        // Deepest first, so setting a parent's time comes after its children's changes.
        let mut dirs = std::mem::take(&mut self.dir_times);
        dirs.sort_by_key(|(p, _)| std::cmp::Reverse(p.components().count()));
        for (path, mtime) in dirs {
            set_mtime(&path, mtime).map_err(io_err("set the mtime of", &path))?;
        }
        Ok(())
    }

    /// Applies owner, mode and (for non-directories) mtime to a created path.
    pub(super) fn apply(&mut self, host: &Path, meta: &Meta, symlink: bool) -> Result<()> {
        std::os::unix::fs::lchown(host, Some(meta.uid), Some(meta.gid))
            .map_err(io_err("chown", host))?;
        if !symlink {
            fs::set_permissions(host, fs::Permissions::from_mode(meta.mode & 0o7777))
                .map_err(io_err("chmod", host))?;
        }
        set_mtime(host, meta.mtime).map_err(io_err("set the mtime of", host))?;
        Ok(())
    }

    pub(super) fn record(&mut self, meta: &Meta) {
        self.installer
            .owners
            .insert(meta.rel.clone(), self.package.to_owned());
    }

    pub(super) fn directory(&mut self, meta: &Meta) -> Result<()> {
        let host = self.host_path(&meta.rel)?;
        match fs::symlink_metadata(&host) {
            Ok(m) if m.is_dir() => {}
            Ok(m) if m.file_type().is_symlink() => {
                // A directory replaced by a symlink to a directory (`/lib -> usr/lib`) stays.
                if self.resolve_dir(&meta.rel, false)?.is_some() {
                    self.report.directories += 1;
                    return Ok(());
                }
                return Err(self.conflict(&meta.rel, "a directory", describe(&m, &host)));
            }
            Ok(m) => return Err(self.conflict(&meta.rel, "a directory", describe(&m, &host))),
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                fs::create_dir(&host).map_err(io_err("create directory", &host))?;
            }
            Err(e) => return Err(io_err("inspect", &host)(e).into()),
        }
        self.apply(&host, meta, false)?;
        self.dir_times.push((host, meta.mtime));
        self.report.directories += 1;
        Ok(())
    }

    /// Writes a regular file from the archive; returns its host path.
    pub(super) fn regular<R: Read>(
        &mut self,
        meta: &Meta,
        archive: &mut cpio::Reader<R>,
        size: u64,
    ) -> Result<PathBuf> {
        let host = self.host_path(&meta.rel)?;
        let mut tmp_name = OsString::from(".");
        tmp_name.push(host.file_name().unwrap_or_default());
        tmp_name.push(".twoliter-rpm-tmp");
        let tmp = host.with_file_name(tmp_name);
        let _ = fs::remove_file(&tmp);
        let file = fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&tmp)
            .map_err(io_err("create", &tmp))?;
        let mut out = io::BufWriter::with_capacity(1 << 16, file);
        let written = archive
            .data(size, &mut out)
            .map_err(|e| self.payload_err(e));
        let flushed = out
            .flush()
            .map_err(|e| io_err("write", &tmp)(e).into())
            .and(written);
        if let Err(e) = flushed {
            let _ = fs::remove_file(&tmp);
            return Err(e);
        }
        drop(out);
        match fs::symlink_metadata(&host) {
            Ok(m) if m.is_file() => {
                let same = same_contents(&tmp, &host).map_err(io_err("compare", &host));
                let _ = fs::remove_file(&tmp);
                if !same? {
                    return Err(self.conflict(
                        &meta.rel,
                        "a regular file",
                        "a regular file with different contents".into(),
                    ));
                }
            }
            Ok(m) => {
                let _ = fs::remove_file(&tmp);
                return Err(self.conflict(&meta.rel, "a regular file", describe(&m, &host)));
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                self.apply(&tmp, meta, false)?;
                fs::rename(&tmp, &host).map_err(io_err("rename into place", &host))?;
            }
            Err(e) => {
                let _ = fs::remove_file(&tmp);
                return Err(io_err("inspect", &host)(e).into());
            }
        }
        self.record(meta);
        self.report.files += 1;
        self.report.bytes += size;
        Ok(host)
    }

    pub(super) fn hardlink(&mut self, meta: &Meta, target: &Path) -> Result<()> {
        let host = self.host_path(&meta.rel)?;
        match fs::symlink_metadata(&host) {
            Ok(m) if m.is_file() => {
                let t = fs::metadata(target).map_err(io_err("inspect", target))?;
                let same = (m.dev(), m.ino()) == (t.dev(), t.ino())
                    || same_contents(target, &host).map_err(io_err("compare", &host))?;
                if !same {
                    return Err(self.conflict(
                        &meta.rel,
                        "a regular file",
                        "a regular file with different contents".into(),
                    ));
                }
            }
            Ok(m) => return Err(self.conflict(&meta.rel, "a regular file", describe(&m, &host))),
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                fs::hard_link(target, &host).map_err(io_err("hardlink", &host))?;
            }
            Err(e) => return Err(io_err("inspect", &host)(e).into()),
        }
        self.record(meta);
        self.report.files += 1;
        self.report.hardlinks += 1;
        Ok(())
    }

    pub(super) fn symlink(&mut self, meta: &Meta, target: &OsStr) -> Result<()> {
        let host = self.host_path(&meta.rel)?;
        let new = format!("a symlink to {}", Path::new(target).display());
        match fs::symlink_metadata(&host) {
            Ok(m) if m.file_type().is_symlink() => {
                let old = fs::read_link(&host).map_err(io_err("read symlink", &host))?;
                if old.as_os_str() != target {
                    return Err(self.conflict(&meta.rel, &new, describe(&m, &host)));
                }
            }
            Ok(m) => return Err(self.conflict(&meta.rel, &new, describe(&m, &host))),
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                std::os::unix::fs::symlink(target, &host)
                    .map_err(io_err("create symlink", &host))?;
                self.apply(&host, meta, true)?;
            }
            Err(e) => return Err(io_err("inspect", &host)(e).into()),
        }
        self.record(meta);
        self.report.symlinks += 1;
        Ok(())
    }

    pub(super) fn device(&mut self, meta: &Meta, major: u32, minor: u32) -> Result<()> {
        let host = self.host_path(&meta.rel)?;
        let kind = meta.mode & S_IFMT;
        let new = if kind == S_IFIFO {
            "a FIFO".to_string()
        } else {
            format!("a device node {major}:{minor}")
        };
        match fs::symlink_metadata(&host) {
            Ok(m) => {
                let same = m.mode() & S_IFMT == kind && m.rdev() == makedev(major, minor);
                if !same {
                    return Err(self.conflict(&meta.rel, &new, describe(&m, &host)));
                }
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                mknod(&host, kind | (meta.mode & 0o7777), major, minor)
                    .map_err(io_err("create device node", &host))?;
                self.apply(&host, meta, false)?;
            }
            Err(e) => return Err(io_err("inspect", &host)(e).into()),
        }
        self.record(meta);
        self.report.devices += 1;
        Ok(())
    }
}
