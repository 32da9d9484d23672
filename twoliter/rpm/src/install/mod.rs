//! Installing an RPM's payload into a root directory, without running anything from it.
//!
//! The parts: this module (options, report, the file table from the headers, [`Installer`]),
//! `driver.rs` (the pass over the payload, by entry kind), `resolve.rs` (paths confined to the
//! root), `owners.rs` (owner names to ids from the root's passwd and group), `sys.rs` (file
//! system calls through rustix).

use crate::cpio::{self, CpioError};
use crate::error::{Error, Result};
use crate::info::RpmInfo;
use fsutil::io_err;
use rpm::{IndexTag, PackageMetadata};
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, HashMap};
use std::ffi::{OsStr, OsString};
use std::fs::{self, File};
use std::io::{self, BufRead, BufReader, Read, Seek, SeekFrom, Write};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileTypeExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Component, Path, PathBuf};

mod driver;
mod owners;
mod resolve;
mod sys;

use owners::Ids;

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
