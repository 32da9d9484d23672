//! Filesystem images made with the real tools (mkfs.ext4, mkfs.erofs, resize2fs, debugfs),
//! reproducibly: UUIDs and hash seeds come from the caller, and every timestamp is pinned to the
//! build epoch (mtimes newer than it are clamped), whatever the input tree's own times.

use crate::error::{Error, Result};
use std::fs::File;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use twoliter_engine::{ToolCommand, ToolRunner};
use uuid::Uuid;

/// Filesystem block size for every image.
pub const BLOCK_SIZE: u64 = 4096;

pub use twoliter_artifacts::RootFs;

/// How to make one ext4 filesystem.
#[derive(Debug, Clone)]
pub struct Ext4Spec<'a> {
    /// Volume label.
    pub label: &'a str,
    /// Filesystem UUID (also used as the directory hash seed).
    pub uuid: Uuid,
    /// Build epoch for every timestamp.
    pub epoch: u64,
    /// Keep a journal (boot, private, data) or not (root).
    pub journal: bool,
    /// Tree to copy in, if any.
    pub source: Option<&'a Path>,
    /// Size of the filesystem in bytes (before any shrinking).
    pub size: u64,
    /// What the filesystem is for, in messages (`ROOT-A`).
    pub role: &'a str,
    /// Number of inodes, when the default ratio would waste space.
    pub inodes: Option<u64>,
}

/// Creates an ext4 image at `out` as described; returns its size in bytes.
pub fn make_ext4(runner: &dyn ToolRunner, spec: &Ext4Spec, out: &Path) -> Result<u64> {
    create_sparse(out, spec.size)?;
    let uuid = spec.uuid.to_string();
    let mut extended = format!("hash_seed={uuid},root_owner=0:0,lazy_itable_init=0,nodiscard");
    if spec.journal {
        extended.push_str(",lazy_journal_init=0");
    }
    // A read-only root needs neither a journal nor room to grow.
    let features = if spec.journal {
        ""
    } else {
        "^has_journal,^resize_inode"
    };
    let mut command = ToolCommand::new("mkfs.ext4")
        .args([
            "-q", "-F", "-b", "4096", "-I", "256", "-m", "0", "-U", &uuid, "-L", spec.label,
        ])
        .args(["-E", &extended])
        .env("E2FSPROGS_FAKE_TIME", spec.epoch.to_string());
    if !features.is_empty() {
        command = command.args(["-O", features]);
    }
    if let Some(inodes) = spec.inodes {
        command = command.arg("-N").arg(inodes.to_string());
    }
    if let Some(source) = spec.source {
        command = command.arg("-d").arg(source);
    }
    let command = command.arg(out).arg(format!("{}k", spec.size / 1024));
    runner.run(&command).map_err(|source| Error::Tool {
        what: format!("make the {} ext4 filesystem", spec.role),
        source,
    })?;
    if let Some(source) = spec.source {
        pin_ext4_times(runner, source, out, spec.epoch, spec.role)?;
    }
    Ok(spec.size)
}

/// Makes an ext4 image of `entries`' tree (from [`walk`]) sized to its content rather than to
/// its partition: the first try is an estimate with a little slack, grown by 15% while mkfs
/// runs out of space, up to `capacity`. (`resize2fs -M` would be the classic way, but its
/// minimum-size estimate ignores free space on flex_bg filesystems and often refuses to shrink.)
/// Returns the image size in bytes.
pub fn make_ext4_fitted(
    runner: &dyn ToolRunner,
    spec: &Ext4Spec,
    entries: &[Entry],
    capacity: u64,
    out: &Path,
) -> Result<u64> {
    const MIB: u64 = 1 << 20;
    let inodes = entries.len() as u64 + 64;
    let estimate = tree_footprint(entries) * 103 / 100 + inodes * 256 + 8 * MIB;
    let mut size = estimate.div_ceil(MIB) * MIB;
    loop {
        let attempt = size.min(capacity);
        let sized = Ext4Spec {
            size: attempt,
            inodes: Some(inodes),
            ..spec.clone()
        };
        match make_ext4(runner, &sized, out) {
            Ok(size) => return Ok(size),
            Err(error) if is_out_of_space(&error) && attempt < capacity => {
                tracing::debug!(
                    "{} MiB was too small for the {} tree",
                    attempt / MIB,
                    spec.role
                );
                size = (attempt * 115 / 100).div_ceil(MIB) * MIB;
            }
            Err(error) => return Err(error),
        }
    }
}

/// Whether a failed mkfs ran out of space (blocks or inodes).
pub fn is_out_of_space(error: &Error) -> bool {
    let text = error.to_string();
    [
        "Could not allocate block",
        "No space left",
        "Could not allocate inode",
    ]
    .iter()
    .any(|needle| text.contains(needle))
}

/// Size and use of a filesystem image.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Usage {
    /// The filesystem's size in bytes.
    pub size: u64,
    /// Bytes in use.
    pub used: u64,
}

/// Reads block counts from an ext4 superblock with `dumpe2fs -h`.
pub fn ext4_usage(runner: &dyn ToolRunner, image: &Path, role: &str) -> Result<Usage> {
    let output = runner
        .run(&ToolCommand::new("dumpe2fs").arg("-h").arg(image))
        .map_err(|source| Error::Tool {
            what: format!("read the {role} ext4 superblock"),
            source,
        })?;
    let text = output.stdout_text();
    let field = |name: &str| -> Option<u64> {
        text.lines()
            .find_map(|line| line.strip_prefix(name)?.trim().strip_prefix(':'))
            .and_then(|v| v.trim().parse().ok())
    };
    match (
        field("Block count"),
        field("Free blocks"),
        field("Block size"),
    ) {
        (Some(blocks), Some(free), Some(size)) => Ok(Usage {
            size: blocks * size,
            used: (blocks - free.min(blocks)) * size,
        }),
        _ => Err(Error::Parse {
            what: format!("dumpe2fs output for {}", image.display()),
            detail: "no Block count / Free blocks / Block size".into(),
        }),
    }
}

/// Sets every inode's times in an ext4 image to the epoch (mtimes clamped to it), since
/// `mkfs.ext4 -d` copies them, including the uncontrollable ctime, from the source tree.
fn pin_ext4_times(
    runner: &dyn ToolRunner,
    source: &Path,
    image: &Path,
    epoch: u64,
    role: &str,
) -> Result<()> {
    let root_mtime = std::fs::symlink_metadata(source)
        .map_err(|e| Error::io(source, "stat", e))?
        .mtime();
    let mut script = String::new();
    let root = Entry {
        path: source.to_path_buf(),
        relative: PathBuf::new(),
        mtime: root_mtime,
        allocated: 0,
    };
    for entry in std::iter::once(root).chain(walk(source)?) {
        // `walk` admits only UTF-8 names without quotes, backslashes or newlines.
        let name = entry.relative.to_string_lossy();
        let mtime = entry
            .mtime
            .clamp(0, i64::try_from(epoch).unwrap_or(i64::MAX));
        let target = format!("\"/{name}\"");
        for field in ["atime", "ctime", "crtime"] {
            script.push_str(&format!("sif {target} {field} @{epoch}\n"));
        }
        script.push_str(&format!("sif {target} mtime @{mtime}\n"));
    }
    runner
        .run(
            &ToolCommand::new("debugfs")
                .args(["-w", "-f", "-"])
                .arg(image)
                .stdin(script)
                .env("E2FSPROGS_FAKE_TIME", epoch.to_string()),
        )
        .map_err(|source| Error::Tool {
            what: format!("pin timestamps in the {role} ext4 filesystem"),
            source,
        })?;
    Ok(())
}

/// Creates an erofs image of `source` at `out`; returns its size in bytes.
pub fn make_erofs(
    runner: &dyn ToolRunner,
    source: &Path,
    out: &Path,
    uuid: Uuid,
    epoch: u64,
) -> Result<u64> {
    // Names must be valid for erofs too; walking also catches unreadable entries early.
    walk(source)?;
    if out.exists() {
        std::fs::remove_file(out).map_err(|e| Error::io(out, "remove", e))?;
    }
    runner
        .run(
            &ToolCommand::new("mkfs.erofs")
                .args(["--quiet", "-zlz4"])
                .arg(format!("-U{uuid}"))
                .arg(format!("-T{epoch}"))
                .arg(out)
                .arg(source),
        )
        .map_err(|source| Error::Tool {
            what: "make the root erofs filesystem".into(),
            source,
        })?;
    let size = std::fs::metadata(out)
        .map_err(|e| Error::io(out, "stat", e))?
        .len();
    // dm-verity works on whole 4 KiB blocks.
    let padded = size.div_ceil(BLOCK_SIZE) * BLOCK_SIZE;
    if padded != size {
        create_sparse(out, padded)?;
    }
    Ok(padded)
}

/// One entry of a source tree.
#[derive(Debug)]
pub struct Entry {
    /// Absolute path.
    pub path: PathBuf,
    /// Path relative to the tree root.
    pub relative: PathBuf,
    /// Modification time in seconds.
    pub mtime: i64,
    /// Bytes allocated on disk, rounded up to whole blocks.
    pub allocated: u64,
}

/// Every entry below `root` (not `root` itself), in sorted order.
pub fn walk(root: &Path) -> Result<Vec<Entry>> {
    let meta = std::fs::symlink_metadata(root).map_err(|e| Error::MissingInput {
        path: root.to_path_buf(),
        detail: e.to_string(),
    })?;
    if !meta.is_dir() {
        return Err(Error::MissingInput {
            path: root.to_path_buf(),
            detail: "not a directory".into(),
        });
    }
    let mut entries = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let mut children: Vec<_> = std::fs::read_dir(&dir)
            .map_err(|e| Error::io(&dir, "list", e))?
            .collect::<std::result::Result<_, _>>()
            .map_err(|e| Error::io(&dir, "list", e))?;
        children.sort_by_key(|c| c.file_name());
        for child in children {
            let path = child.path();
            let meta = std::fs::symlink_metadata(&path).map_err(|e| Error::io(&path, "stat", e))?;
            let file_name = child.file_name();
            if file_name.len() > 255 {
                return Err(Error::UnstorableName {
                    path,
                    reason: "its name is longer than 255 bytes",
                });
            }
            match file_name.to_str() {
                None => {
                    return Err(Error::UnstorableName {
                        path,
                        reason: "its name is not UTF-8",
                    })
                }
                Some(name) if name.contains(['"', '\n', '\\']) => {
                    return Err(Error::UnstorableName {
                        path,
                        reason: "its name holds a quote, backslash or newline",
                    })
                }
                Some(_) => {}
            }
            if meta.is_dir() {
                stack.push(path.clone());
            }
            let relative = path.strip_prefix(root).unwrap_or(&path).to_path_buf();
            entries.push(Entry {
                allocated: (meta.blocks() * 512).div_ceil(BLOCK_SIZE) * BLOCK_SIZE,
                mtime: meta.mtime(),
                relative,
                path,
            });
        }
    }
    entries.sort_by(|a, b| a.relative.cmp(&b.relative));
    Ok(entries)
}

/// Bytes a tree needs at least: its allocated data plus one block per entry for metadata.
pub fn tree_footprint(entries: &[Entry]) -> u64 {
    entries.iter().map(|e| e.allocated + BLOCK_SIZE).sum()
}

/// Creates (or resizes) a sparse file of `size` bytes.
pub fn create_sparse(path: &Path, size: u64) -> Result<()> {
    let file = File::options()
        .create(true)
        .write(true)
        .truncate(false)
        .open(path)
        .map_err(|e| Error::io(path, "create", e))?;
    file.set_len(size).map_err(|e| Error::io(path, "resize", e))
}

/// Copies the tree `from` into `to` (created): directories, files (with their permissions) and
/// symlinks. Used for the small BOOT tree, which gets generated files added.
pub fn copy_tree(from: &Path, to: &Path) -> Result<()> {
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| Error::Io {
            op: "copy the boot tree",
            path,
            source,
        }
    };
    std::fs::create_dir_all(to).map_err(io(to))?;
    for entry in std::fs::read_dir(from).map_err(io(from))? {
        let entry = entry.map_err(io(from))?;
        let (source, target) = (entry.path(), to.join(entry.file_name()));
        let kind = entry.file_type().map_err(io(&source))?;
        if kind.is_dir() {
            copy_tree(&source, &target)?;
        } else if kind.is_symlink() {
            let link = std::fs::read_link(&source).map_err(io(&source))?;
            std::os::unix::fs::symlink(link, &target).map_err(io(&target))?;
        } else {
            std::fs::copy(&source, &target).map_err(io(&target))?;
        }
    }
    Ok(())
}

/// Writes `bytes` to `path`, creating its directory.
pub fn write_file(path: &Path, bytes: &[u8]) -> Result<()> {
    let io = |source| Error::Io {
        op: "write a boot file",
        path: path.to_path_buf(),
        source,
    };
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(io)?;
    }
    std::fs::write(path, bytes).map_err(io)
}
