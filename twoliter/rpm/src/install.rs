//! Installing an RPM's payload into a root directory, without running anything from it.

use crate::cpio::{self, CpioError};
use crate::error::{Error, Result};
use crate::info::RpmInfo;
use fsutil::io_err;
use rpm::{IndexTag, PackageMetadata};
use rustix::fs::{makedev, mknodat, utimensat, AtFlags, FileType, Mode, Timespec, Timestamps, CWD};
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, HashMap};
use std::ffi::{OsStr, OsString};
use std::fs::{self, File};
use std::io::{self, BufRead, BufReader, Read, Seek, SeekFrom, Write};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileTypeExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Component, Path, PathBuf};

/// `S_IFMT` and the file types of cpio modes.
const S_IFMT: u32 = 0o170000;
const S_IFLNK: u32 = 0o120000;
const S_IFREG: u32 = 0o100000;
const S_IFBLK: u32 = 0o060000;
const S_IFDIR: u32 = 0o040000;
const S_IFCHR: u32 = 0o020000;
const S_IFIFO: u32 = 0o010000;

/// `RPMFILE_GHOST`: listed in the header, absent from the payload.
const RPMFILE_GHOST: u32 = 1 << 6;
/// `PGPHASHALGO_SHA256`, the only payload digest algorithm rpm ≥ 4.14 writes by default.
const DIGEST_SHA256: u32 = 8;
/// Longest symlink target accepted.
const MAX_LINK_TARGET: u64 = 4096;
/// Symlinks followed while resolving one path inside the root (like Linux's `MAXSYMLINKS`).
const MAX_SYMLINK_HOPS: usize = 40;

/// How to install packages.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct InstallOptions {
    /// Install packages that have scriptlets anyway (their scriptlets are still not run).
    /// Off by default: such a package is refused with [`Error::Scriptlets`].
    pub allow_scriptlets: bool,
    /// User names → uids, consulted before the root's `/etc/passwd` and the built-in `root` = 0.
    pub users: BTreeMap<String, u32>,
    /// Group names → gids, consulted before the root's `/etc/group` and the built-in `root` = 0.
    pub groups: BTreeMap<String, u32>,
}

/// What one package installation put into the root.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct InstallReport {
    /// The package's name-version-release.arch.
    pub package: String,
    /// Regular files, hardlinks included.
    pub files: u64,
    /// Of [`InstallReport::files`], those installed as a hardlink to another path.
    pub hardlinks: u64,
    /// Directories the package lists.
    pub directories: u64,
    /// Symbolic links.
    pub symlinks: u64,
    /// Device nodes and FIFOs.
    pub devices: u64,
    /// Bytes of regular file contents written.
    pub bytes: u64,
}

/// Installs the payload of the RPM at `rpm` into `root` (see [`Installer::install`]).
///
/// A path already present in `root` is accepted if it is a directory on both sides, or holds
/// the same contents (file) or target (symlink); otherwise it is a conflict. To have conflict
/// errors name the package that installed the existing file, install every package through
/// one [`Installer`].
pub fn install(rpm: &Path, root: &Path, options: &InstallOptions) -> Result<InstallReport> {
    Installer::new(root, options.clone()).install(rpm)
}

/// Installs packages one after another into a root, remembering which package installed each
/// path so that file conflicts name both packages.
#[derive(Debug, Clone)]
pub struct Installer {
    root: PathBuf,
    options: InstallOptions,
    owners: HashMap<PathBuf, String>,
}

/// Metadata of one payload entry, merged from the cpio header and the RPM header.
#[derive(Debug, Clone)]
struct Meta {
    /// Path relative to the root.
    rel: PathBuf,
    mode: u32,
    uid: u32,
    gid: u32,
    mtime: i64,
}

/// A set of hardlinked payload entries.
#[derive(Debug, Default)]
struct LinkSet {
    /// The path holding the contents, once written.
    content: Option<PathBuf>,
    /// Members seen before the contents.
    pending: Vec<Meta>,
}

/// The per-file arrays of an RPM header.
#[derive(Debug, Default)]
struct FileTable {
    paths: Vec<String>,
    users: Vec<String>,
    groups: Vec<String>,
    modes: Vec<u16>,
    mtimes: Vec<u32>,
    inodes: Vec<u32>,
    devices: Vec<u32>,
    rdevs: Vec<u16>,
    flags: Vec<u32>,
    /// Payload path (no leading `/`) → index.
    by_path: HashMap<String, usize>,
    /// For stripped payloads: data size in the payload (0 for all but the last hardlink).
    payload_sizes: Vec<u64>,
    /// For stripped payloads: how many links each file's hardlink set has.
    nlinks: Vec<u32>,
}

impl FileTable {
    fn read(metadata: &PackageMetadata, path: &Path) -> Result<FileTable> {
        let header = &metadata.header;
        let paths: Vec<String> = metadata
            .get_file_paths()
            .map_err(|e| Error::InvalidHeader {
                path: path.to_owned(),
                detail: format!("cannot read the file list: {e}"),
            })?
            .into_iter()
            .map(|p| p.to_string_lossy().into_owned())
            .collect();
        let strings = |tag| {
            header
                .get_entry_data_as_string_array(tag)
                .map(|v| v.into_iter().map(str::to_owned).collect())
                .unwrap_or_default()
        };
        let u32s = |tag| header.get_entry_data_as_u32_array(tag).unwrap_or_default();
        let u16s = |tag| header.get_entry_data_as_u16_array(tag).unwrap_or_default();
        let sizes = header
            .get_entry_data_as_u64_array(IndexTag::RPMTAG_LONGFILESIZES)
            .unwrap_or_else(|_| {
                u32s(IndexTag::RPMTAG_FILESIZES)
                    .into_iter()
                    .map(u64::from)
                    .collect()
            });
        let mut table = FileTable {
            by_path: paths
                .iter()
                .enumerate()
                .map(|(i, p)| (p.trim_start_matches('/').to_owned(), i))
                .collect(),
            paths,
            users: strings(IndexTag::RPMTAG_FILEUSERNAME),
            groups: strings(IndexTag::RPMTAG_FILEGROUPNAME),
            modes: u16s(IndexTag::RPMTAG_FILEMODES),
            mtimes: u32s(IndexTag::RPMTAG_FILEMTIMES),
            payload_sizes: sizes,
            inodes: u32s(IndexTag::RPMTAG_FILEINODES),
            devices: u32s(IndexTag::RPMTAG_FILEDEVICES),
            rdevs: u16s(IndexTag::RPMTAG_FILERDEVS),
            flags: u32s(IndexTag::RPMTAG_FILEFLAGS),
            nlinks: Vec::new(),
        };
        // Stripped payloads carry a hardlink set's contents with its last member (header order).
        let mut sets: HashMap<(u32, u32), Vec<usize>> = HashMap::new();
        for i in 0..table.paths.len() {
            let regular = table.modes.get(i).map(|&m| u32::from(m) & S_IFMT) == Some(S_IFREG);
            let ghost = table.flags.get(i).copied().unwrap_or(0) & RPMFILE_GHOST != 0;
            if let (true, false, Some(&dev), Some(&ino)) =
                (regular, ghost, table.devices.get(i), table.inodes.get(i))
            {
                sets.entry((dev, ino)).or_default().push(i);
            }
        }
        table.nlinks = vec![1; table.paths.len()];
        for members in sets.values().filter(|m| m.len() > 1) {
            let last = members.last().copied();
            for &m in members {
                table.nlinks[m] = members.len() as u32;
                if Some(m) != last {
                    if let Some(size) = table.payload_sizes.get_mut(m) {
                        *size = 0;
                    }
                }
            }
        }
        for (i, flags) in table.flags.iter().enumerate() {
            if flags & RPMFILE_GHOST != 0 {
                if let Some(size) = table.payload_sizes.get_mut(i) {
                    *size = 0;
                }
            }
        }
        Ok(table)
    }
}

/// Name → id maps for owners.
struct Ids {
    users: HashMap<String, u32>,
    groups: HashMap<String, u32>,
}

/// Reads `name:x:id:...` lines of a passwd or group file in the root, if it is a regular file.
fn read_id_file(path: &Path) -> Result<HashMap<String, u32>> {
    let mut map = HashMap::new();
    match fs::symlink_metadata(path) {
        Ok(m) if m.is_file() => {}
        _ => return Ok(map),
    }
    let text = fs::read(path).map_err(io_err("read", path))?;
    for line in String::from_utf8_lossy(&text).lines() {
        let mut fields = line.split(':');
        if let (Some(name), Some(_), Some(id)) = (fields.next(), fields.next(), fields.next()) {
            if let Ok(id) = id.trim().parse::<u32>() {
                map.entry(name.trim().to_owned()).or_insert(id);
            }
        }
    }
    Ok(map)
}

/// Whether two files have the same contents.
fn same_contents(a: &Path, b: &Path) -> io::Result<bool> {
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
fn set_mtime(path: &Path, mtime: i64) -> io::Result<()> {
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
fn mknod(path: &Path, mode: u32, major: u32, minor: u32) -> io::Result<()> {
    Ok(mknodat(
        CWD,
        path,
        FileType::from_raw_mode(mode),
        Mode::from_raw_mode(mode),
        makedev(major, minor),
    )?)
}

/// What is at a path, for conflict messages.
fn describe(meta: &fs::Metadata, path: &Path) -> String {
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

impl Installer {
    /// An installer writing into `root`, which must exist.
    pub fn new(root: impl Into<PathBuf>, options: InstallOptions) -> Installer {
        Installer {
            root: root.into(),
            options,
            owners: HashMap::new(),
        }
    }

    /// The package (name-version-release.arch) that this installer put at `path` (relative to
    /// the root, or absolute inside the image: `/usr/bin/foo`), if any.
    pub fn owner(&self, path: &Path) -> Option<&str> {
        let rel = path.strip_prefix("/").unwrap_or(path);
        self.owners.get(rel).map(String::as_str)
    }

    /// Installs the payload of the RPM at `rpm` into the root.
    ///
    /// * A package with scriptlets is refused unless [`InstallOptions::allow_scriptlets`]; none
    ///   is ever run.
    /// * The payload's sha256 is checked against the header before anything is written.
    /// * Entries keep their exact mode (setuid bits included), owner and mtime. Owners come
    ///   from the header's user and group names, mapped through the options, the root's
    ///   `/etc/passwd` and `/etc/group`, and `root` = 0; an unknown name is an error.
    /// * Symlinks, hardlinks (the contents come with the last link of a set), device nodes and
    ///   FIFOs are created as such. Parent directories the payload implies but does not list
    ///   are created mode 0755, owned by root.
    /// * Entry paths with `..` or absolute paths are refused; symlinks already in the root are
    ///   followed as if the root were `/`, so nothing is ever written outside it.
    /// * A path already present is accepted if both are directories (the package's metadata
    ///   is applied), or both hold the same file contents, symlink target or device;
    ///   otherwise it is a conflict.
    pub fn install(&mut self, rpm: &Path) -> Result<InstallReport> {
        let file = File::open(rpm).map_err(io_err("open RPM", rpm))?;
        let mut reader = BufReader::with_capacity(1 << 16, file);
        let metadata = PackageMetadata::parse(&mut reader).map_err(|source| Error::Header {
            path: rpm.to_owned(),
            source,
        })?;
        let info = RpmInfo::from_metadata(rpm, &metadata)?;
        let package = info.nevra();
        if !info.scriptlets.is_empty() && !self.options.allow_scriptlets {
            return Err(Error::Scriptlets {
                package,
                path: rpm.to_owned(),
                kinds: info.scriptlets,
            });
        }
        if let Ok(format) = metadata
            .header
            .get_entry_data_as_string(IndexTag::RPMTAG_PAYLOADFORMAT)
        {
            if format != "cpio" {
                return Err(Error::InvalidHeader {
                    path: rpm.to_owned(),
                    detail: format!("payload format {format:?} is not supported (only cpio)"),
                });
            }
        }
        let table = FileTable::read(&metadata, rpm)?;

        // Check the payload digest before writing anything.
        let payload_start = reader.stream_position().map_err(io_err("read", rpm))?;
        if let Ok(digests) = metadata
            .header
            .get_entry_data_as_string_array(IndexTag::RPMTAG_PAYLOADSHA256)
        {
            let algo = metadata
                .header
                .get_entry_data_as_u32(IndexTag::RPMTAG_PAYLOADSHA256ALGO)
                .unwrap_or(DIGEST_SHA256);
            if let (Some(expected), DIGEST_SHA256) = (digests.first(), algo) {
                let mut hasher = Sha256::new();
                io::copy(&mut reader, &mut hasher).map_err(io_err("read", rpm))?;
                let actual = hex::encode(hasher.finalize());
                if !actual.eq_ignore_ascii_case(expected) {
                    return Err(Error::PayloadDigest {
                        path: rpm.to_owned(),
                        expected: (*expected).to_owned(),
                        actual,
                    });
                }
                reader
                    .seek(SeekFrom::Start(payload_start))
                    .map_err(io_err("seek in", rpm))?;
            }
        }

        let magic = reader.fill_buf().map_err(io_err("read", rpm))?;
        let decoder: Box<dyn Read> = if magic.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
            Box::new(zstd::stream::read::Decoder::with_buffer(reader).map_err(io_err("read", rpm))?)
        } else if magic.starts_with(&[0x1f, 0x8b]) {
            Box::new(flate2::bufread::MultiGzDecoder::new(reader))
        } else if magic.starts_with(&[0xfd, b'7', b'z', b'X', b'Z', 0]) {
            Box::new(liblzma::bufread::XzDecoder::new_multi_decoder(reader))
        } else if magic.starts_with(b"0707") {
            Box::new(reader)
        } else {
            return Err(Error::UnsupportedCompression {
                path: rpm.to_owned(),
                what: format!(
                    "header says {:?}, payload starts with {:02x?}",
                    info.payload_compressor,
                    &magic[..magic.len().min(6)]
                ),
            });
        };

        let ids = self.load_ids()?;
        let mut run = Run {
            installer: self,
            rpm,
            package: &package,
            table: &table,
            ids,
            report: InstallReport {
                package: package.clone(),
                ..InstallReport::default()
            },
            link_sets: BTreeMap::new(),
            dir_times: Vec::new(),
            entry: String::new(),
        };
        run.extract(cpio::Reader::new(decoder))?;
        Ok(run.report)
    }

    fn load_ids(&self) -> Result<Ids> {
        let mut users = read_id_file(&self.root.join("etc/passwd"))?;
        let mut groups = read_id_file(&self.root.join("etc/group"))?;
        for (name, id) in &self.options.users {
            users.insert(name.clone(), *id);
        }
        for (name, id) in &self.options.groups {
            groups.insert(name.clone(), *id);
        }
        users.entry("root".into()).or_insert(0);
        groups.entry("root".into()).or_insert(0);
        Ok(Ids { users, groups })
    }
}

/// The state of one package installation.
struct Run<'a> {
    installer: &'a mut Installer,
    rpm: &'a Path,
    package: &'a str,
    table: &'a FileTable,
    ids: Ids,
    report: InstallReport,
    /// Hardlink sets by cpio (dev major, dev minor, inode).
    link_sets: BTreeMap<(u32, u32, u32), LinkSet>,
    /// Directories and their mtimes, set last (creating children changes them).
    dir_times: Vec<(PathBuf, i64)>,
    /// The payload entry being processed, for error messages.
    entry: String,
}

impl Run<'_> {
    fn root(&self) -> &Path {
        &self.installer.root
    }

    fn payload_err(&self, e: CpioError) -> Error {
        Error::InvalidPayload {
            path: self.rpm.to_owned(),
            entry: self.entry.clone(),
            detail: e.to_string(),
        }
    }

    fn unsafe_path(&self, reason: impl Into<String>) -> Error {
        Error::UnsafePath {
            path: self.rpm.to_owned(),
            entry: self.entry.clone(),
            reason: reason.into(),
        }
    }

    fn conflict(&self, rel: &Path, new: &str, old: String) -> Error {
        Error::Conflict {
            entry: rel.display().to_string(),
            package: self.package.to_owned(),
            owner: self.installer.owners.get(rel).cloned(),
            new: new.to_owned(),
            old,
        }
    }

    /// Turns a payload name into a path relative to the root, refusing escapes.
    fn relative(&self, name: &str) -> Result<Option<PathBuf>> {
        let trimmed = name.strip_prefix("./").unwrap_or(name);
        let mut rel = PathBuf::new();
        for c in Path::new(trimmed).components() {
            match c {
                Component::Normal(part) => rel.push(part),
                Component::CurDir => {}
                Component::ParentDir => return Err(self.unsafe_path("it contains `..`")),
                Component::RootDir | Component::Prefix(_) => {
                    return Err(self.unsafe_path("it is an absolute path (expected ./...)"))
                }
            }
        }
        Ok((!rel.as_os_str().is_empty()).then_some(rel))
    }

    fn owner_id(
        &self,
        rel: &Path,
        kind: &'static str,
        name: Option<&String>,
        raw: u32,
    ) -> Result<u32> {
        let Some(name) = name else {
            return Ok(raw);
        };
        let map = if kind == "user" {
            &self.ids.users
        } else {
            &self.ids.groups
        };
        if let Some(id) = map.get(name) {
            return Ok(*id);
        }
        if let Ok(id) = name.parse::<u32>() {
            return Ok(id);
        }
        Err(Error::UnknownOwner {
            package: self.package.to_owned(),
            entry: format!("/{}", rel.display()),
            kind,
            name: name.clone(),
        })
    }

    fn extract<R: Read>(&mut self, mut archive: cpio::Reader<R>) -> Result<()> {
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

    /// Resolves `rel`'s parent inside the root, following symlinks as if the root were `/` and
    /// creating missing directories (0755, root-owned). Returns the host path of `rel`.
    fn host_path(&mut self, rel: &Path) -> Result<PathBuf> {
        let parent = rel.parent().unwrap_or(Path::new(""));
        let Some(name) = rel.file_name() else {
            return Err(self.unsafe_path("it has no file name"));
        };
        let dir = self.resolve_dir(parent, true)?.ok_or_else(|| {
            self.conflict(
                rel,
                "a file",
                "a non-directory in one of its parent paths".into(),
            )
        })?;
        Ok(dir.join(name))
    }

    /// The host path of directory `rel` inside the root, or `None` if some component is not a
    /// directory (or, without `create`, is missing).
    fn resolve_dir(&self, rel: &Path, create: bool) -> Result<Option<PathBuf>> {
        let root = self.root().to_owned();
        let mut resolved: Vec<OsString> = Vec::new();
        let mut todo: Vec<OsString> = rel
            .components()
            .rev()
            .map(|c| c.as_os_str().to_owned())
            .collect();
        let mut hops = 0;
        while let Some(part) = todo.pop() {
            if part == "." || part == "/" || part.is_empty() {
                continue;
            }
            if part == ".." {
                resolved.pop();
                continue;
            }
            let mut host = root.clone();
            host.extend(&resolved);
            host.push(&part);
            match fs::symlink_metadata(&host) {
                Ok(m) if m.is_dir() => resolved.push(part),
                Ok(m) if m.file_type().is_symlink() => {
                    hops += 1;
                    if hops > MAX_SYMLINK_HOPS {
                        return Err(self.unsafe_path(format!(
                            "resolving it inside the root follows more than {MAX_SYMLINK_HOPS} symlinks"
                        )));
                    }
                    let target = fs::read_link(&host).map_err(io_err("read symlink", &host))?;
                    if target.is_absolute() {
                        resolved.clear();
                    }
                    todo.extend(target.components().rev().map(|c| c.as_os_str().to_owned()));
                }
                Ok(_) => return Ok(None),
                Err(e) if e.kind() == io::ErrorKind::NotFound && create => {
                    fs::create_dir(&host).map_err(io_err("create directory", &host))?;
                    std::os::unix::fs::lchown(&host, Some(0), Some(0))
                        .map_err(io_err("chown", &host))?;
                    fs::set_permissions(&host, fs::Permissions::from_mode(0o755))
                        .map_err(io_err("chmod", &host))?;
                    resolved.push(part);
                }
                Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
                Err(e) => return Err(io_err("inspect", &host)(e).into()),
            }
        }
        let mut host = root;
        host.extend(&resolved);
        Ok(Some(host))
    }

    /// Applies owner, mode and (for non-directories) mtime to a created path.
    fn apply(&mut self, host: &Path, meta: &Meta, symlink: bool) -> Result<()> {
        std::os::unix::fs::lchown(host, Some(meta.uid), Some(meta.gid))
            .map_err(io_err("chown", host))?;
        if !symlink {
            fs::set_permissions(host, fs::Permissions::from_mode(meta.mode & 0o7777))
                .map_err(io_err("chmod", host))?;
        }
        set_mtime(host, meta.mtime).map_err(io_err("set the mtime of", host))?;
        Ok(())
    }

    fn record(&mut self, meta: &Meta) {
        self.installer
            .owners
            .insert(meta.rel.clone(), self.package.to_owned());
    }

    fn directory(&mut self, meta: &Meta) -> Result<()> {
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
    fn regular<R: Read>(
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

    fn hardlink(&mut self, meta: &Meta, target: &Path) -> Result<()> {
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

    fn symlink(&mut self, meta: &Meta, target: &OsStr) -> Result<()> {
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

    fn device(&mut self, meta: &Meta, major: u32, minor: u32) -> Result<()> {
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
