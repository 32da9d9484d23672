//! dm-verity hash tree builder.
//!
//! Produces hash devices byte-identical to
//!
//! ```text
//! veritysetup format --format 1 --hash sha256 \
//!     --data-block-size 4096 --hash-block-size 4096 --salt <hex> [--uuid <uuid>] [--no-superblock]
//! ```
//!
//! # On-disk format (dm-verity format 1, as written by veritysetup)
//!
//! * Every digest is `sha256(salt || block)` (format 1 puts the salt first).
//! * The data device is split into 4096-byte blocks; its size must be a whole number of blocks.
//! * Level 0 holds one digest per data block, level `i + 1` one digest per 4096-byte block of
//!   level `i`. 4096 / 32 = 128 digests fit in a hash block; the last block of each level is
//!   zero-padded. Levels are added until a level fits in a single block (no levels at all for a
//!   single data block).
//! * Levels are stored top-down: the single-block top level first, level 0 last.
//! * The root hash is the digest of the top level's only block (or of the only data block when
//!   there are no levels).
//! * With a superblock (veritysetup's default) the hash device starts with a 4096-byte block
//!   holding the 512-byte `verity_sb` structure followed by zeros, and the tree starts at hash
//!   block 1. Without it (`--no-superblock`) the tree starts at hash block 0. The dm table's
//!   `<hash_start_block>` field is therefore 1 or 0, see [`VerityOutput::hash_start_block`].
//!
//! # Implementation
//!
//! The input is never loaded whole: each level is hashed in units of 128 blocks (512 KiB of
//! input, one output hash block) spread over the rayon thread pool. Every unit is read with
//! `pread`, hashed, and its hash block written with `pwrite` straight into a temporary file in
//! the output directory, so memory use is one unit buffer per worker thread. Upper levels are read
//! back from that file (they are 1/128 of the level below). The temporary file is synced and
//! renamed over the final name only once complete.

#![forbid(unsafe_code)]

use std::fs::File;
use std::io::{self, Seek, SeekFrom};
use std::os::unix::fs::{FileExt, MetadataExt};
use std::path::{Path, PathBuf};

use rayon::prelude::*;
use sha2::{Digest, Sha256};

/// Size in bytes of a data block and of a hash block (both are 4096).
pub const BLOCK_SIZE: u64 = 4096;
/// Size in bytes of a SHA-256 digest.
pub const DIGEST_SIZE: usize = 32;
/// Size in bytes of the salts this crate uses.
pub const SALT_SIZE: usize = 32;
/// Size in bytes of the veritysetup superblock structure (`struct verity_sb`).
pub const SUPERBLOCK_SIZE: usize = 512;
/// The GRUB variable Bottlerocket's `grub.cfg` fills with the PARTUUID of the BOOT partition
/// it booted from; pass it as `boot_partuuid` to get a command line GRUB completes at boot.
pub const GRUB_BOOT_PARTUUID_VAR: &str = "$boot_uuid";

const BLOCK: usize = BLOCK_SIZE as usize;
const HASHES_PER_BLOCK: u64 = BLOCK_SIZE / DIGEST_SIZE as u64;
const SECTORS_PER_BLOCK: u64 = BLOCK_SIZE / 512;
/// Blocks hashed per parallel task: exactly the inputs of one output hash block.
const UNIT_BLOCKS: u64 = HASHES_PER_BLOCK;
const UNIT_BYTES: usize = UNIT_BLOCKS as usize * BLOCK;

const SALT_DOMAIN: &[u8] = b"twoliter-verity/salt/v1\0";
const UUID_DOMAIN: &[u8] = b"twoliter-verity/uuid/v1\0";

/// Errors from building a hash tree. Each carries the file concerned.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum VerityError {
    /// The data file could not be opened or inspected.
    #[error("cannot {op} data file {}", path.display())]
    DataFile {
        /// What was being done ("open", "stat", "find the size of").
        op: &'static str,
        /// The data file.
        path: PathBuf,
        /// The underlying error.
        source: io::Error,
    },
    /// The data file is a directory or another kind of file that cannot be hashed.
    #[error("data file {} is not a regular file or block device", path.display())]
    NotAFile {
        /// The data file.
        path: PathBuf,
    },
    /// The data file holds no data block.
    #[error("data file {} is empty: dm-verity needs at least one {BLOCK_SIZE}-byte block", path.display())]
    EmptyData {
        /// The data file.
        path: PathBuf,
    },
    /// The data file size is not a multiple of the block size.
    #[error(
        "data file {} is {size} bytes, which is not a multiple of the {BLOCK_SIZE}-byte dm-verity \
         data block size (pad the filesystem image to a multiple of {BLOCK_SIZE} bytes)",
        path.display()
    )]
    UnalignedData {
        /// The data file.
        path: PathBuf,
        /// Its size in bytes.
        size: u64,
    },
    /// The output path names the data file itself.
    #[error("hash output {} is the data file itself", path.display())]
    SameFile {
        /// The output path.
        path: PathBuf,
    },
    /// The output path has no file name component.
    #[error("hash output path {} does not name a file", path.display())]
    InvalidOutputPath {
        /// The output path.
        path: PathBuf,
    },
    /// Reading the data file failed (including it shrinking while being hashed).
    #[error("cannot read data file {} at offset {offset}", path.display())]
    ReadData {
        /// The data file.
        path: PathBuf,
        /// Byte offset of the failed read.
        offset: u64,
        /// The underlying error.
        source: io::Error,
    },
    /// The temporary hash file could not be created.
    #[error("cannot create a temporary hash file in {}", dir.display())]
    CreateTemp {
        /// The directory of the output path.
        dir: PathBuf,
        /// The underlying error.
        source: io::Error,
    },
    /// Reading or writing the hash tree (in its temporary file) failed.
    #[error("cannot {op} hash tree for {} at offset {offset}", path.display())]
    HashIo {
        /// "read" or "write".
        op: &'static str,
        /// The final output path the tree was being built for.
        path: PathBuf,
        /// Byte offset in the hash file.
        offset: u64,
        /// The underlying error.
        source: io::Error,
    },
    /// Finishing the hash file (sizing, syncing, renaming into place) failed.
    #[error("cannot {op} hash file {}", path.display())]
    Finish {
        /// What was being done.
        op: &'static str,
        /// The final output path.
        path: PathBuf,
        /// The underlying error.
        source: io::Error,
    },
}

/// Result type of this crate.
pub type Result<T, E = VerityError> = std::result::Result<T, E>;

/// Derives a reproducible 32-byte salt from build inputs.
///
/// The salt is `sha256("twoliter-verity/salt/v1\0" || n || len(input_1) || input_1 || ...)` with
/// `n` and every length as little-endian `u64`, so the same inputs always give the same salt and
/// different splits of the same bytes give different salts.
pub fn derive_salt(inputs: &[&[u8]]) -> [u8; SALT_SIZE] {
    let mut h = Sha256::new();
    h.update(SALT_DOMAIN);
    h.update((inputs.len() as u64).to_le_bytes());
    for input in inputs {
        h.update((input.len() as u64).to_le_bytes());
        h.update(input);
    }
    h.finalize().into()
}

/// Derives the superblock UUID from a salt: `sha256("twoliter-verity/uuid/v1\0" || salt)`
/// truncated to 16 bytes, marked as an RFC 9562 version 8 (custom) UUID. Never random, so
/// the hash device is reproducible.
pub fn derive_uuid(salt: &[u8; SALT_SIZE]) -> [u8; 16] {
    let mut h = Sha256::new();
    h.update(UUID_DOMAIN);
    h.update(salt);
    let digest = h.finalize();
    let mut uuid = [0u8; 16];
    uuid.copy_from_slice(&digest[..16]);
    uuid[6] = (uuid[6] & 0x0f) | 0x80;
    uuid[8] = (uuid[8] & 0x3f) | 0x80;
    uuid
}

/// Formats 16 bytes as a hyphenated lower-case UUID string (as `veritysetup --uuid` takes it).
pub fn format_uuid(uuid: &[u8; 16]) -> String {
    let h = hex::encode(uuid);
    format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}

/// Parameters of a hash tree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerityParams {
    /// The salt prepended to every hashed block.
    pub salt: [u8; SALT_SIZE],
    /// Whether to write veritysetup's superblock in the first hash block (veritysetup's default).
    pub superblock: bool,
    /// UUID stored in the superblock (unused without one).
    pub uuid: [u8; 16],
}

impl VerityParams {
    /// Parameters with the given salt, a superblock and the UUID [`derive_uuid`] gives.
    pub fn new(salt: [u8; SALT_SIZE]) -> Self {
        Self {
            salt,
            superblock: true,
            uuid: derive_uuid(&salt),
        }
    }

    /// Parameters with the salt [`derive_salt`] gives for `inputs` (see [`VerityParams::new`]).
    pub fn from_inputs(inputs: &[&[u8]]) -> Self {
        Self::new(derive_salt(inputs))
    }

    /// Sets whether a superblock is written.
    pub fn with_superblock(mut self, superblock: bool) -> Self {
        self.superblock = superblock;
        self
    }

    /// Sets the superblock UUID.
    pub fn with_uuid(mut self, uuid: [u8; 16]) -> Self {
        self.uuid = uuid;
        self
    }

    /// The salt as lower-case hex.
    pub fn salt_hex(&self) -> String {
        hex::encode(self.salt)
    }

    /// The UUID as a hyphenated string.
    pub fn uuid_string(&self) -> String {
        format_uuid(&self.uuid)
    }
}

/// The result of [`build`]: what a dm-verity table needs, and the shape of the hash file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerityOutput {
    /// Root hash of the tree.
    pub root_hash: [u8; DIGEST_SIZE],
    /// Salt used.
    pub salt: [u8; SALT_SIZE],
    /// The superblock UUID, if a superblock was written.
    pub uuid: Option<[u8; 16]>,
    /// Number of 4096-byte data blocks.
    pub data_blocks: u64,
    /// Hash blocks of the tree itself, superblock excluded (veritysetup's "Hash blocks").
    pub tree_blocks: u64,
    /// Size of the hash file in bytes (superblock block included).
    pub hash_size: u64,
}

impl VerityOutput {
    /// Root hash as lower-case hex.
    pub fn root_hash_hex(&self) -> String {
        hex::encode(self.root_hash)
    }

    /// Salt as lower-case hex.
    pub fn salt_hex(&self) -> String {
        hex::encode(self.salt)
    }

    /// Whether the hash file starts with a superblock.
    pub fn has_superblock(&self) -> bool {
        self.uuid.is_some()
    }

    /// First block of the tree in the hash device, in hash blocks: 1 after a superblock (the
    /// superblock occupies the first 4096-byte block), 0 without one. This is the dm table's
    /// `<hash_start_block>`.
    pub fn hash_start_block(&self) -> u64 {
        u64::from(self.has_superblock())
    }

    /// Size of the data in 512-byte sectors (the dm table's length).
    pub fn data_sectors(&self) -> u64 {
        self.data_blocks * SECTORS_PER_BLOCK
    }

    /// The dm-verity table line for arbitrary data and hash device specifications:
    ///
    /// `0 <sectors> verity 1 <data_dev> <hash_dev> 4096 4096 <data_blocks> <hash_start>
    ///  sha256 <root_hash> <salt> 2 restart_on_corruption ignore_zero_blocks`
    pub fn dm_table_for_devices(&self, data_dev: &str, hash_dev: &str) -> String {
        format!(
            "0 {} verity 1 {} {} {} {} {} {} sha256 {} {} 2 restart_on_corruption ignore_zero_blocks",
            self.data_sectors(),
            data_dev,
            hash_dev,
            BLOCK_SIZE,
            BLOCK_SIZE,
            self.data_blocks,
            self.hash_start_block(),
            self.root_hash_hex(),
            self.salt_hex(),
        )
    }

    /// The dm-verity table with the data and hash partitions found relative to the BOOT
    /// partition (`PARTUUID=<boot>/PARTNROFF=1` and `/PARTNROFF=2`), so one table serves either
    /// bank. `boot_partuuid` is inserted verbatim: a PARTUUID, or a placeholder such as
    /// [`GRUB_BOOT_PARTUUID_VAR`] that the boot stage substitutes.
    pub fn dm_table(&self, boot_partuuid: &str) -> String {
        self.dm_table_for_devices(
            &format!("PARTUUID={boot_partuuid}/PARTNROFF=1"),
            &format!("PARTUUID={boot_partuuid}/PARTNROFF=2"),
        )
    }

    /// The kernel command line parameter creating the read-only `root` verity device (needs
    /// `CONFIG_DM_INIT`): `dm-mod.create="root,,,ro,<dm_table(boot_partuuid)>"`.
    pub fn kernel_dm_mod_create(&self, boot_partuuid: &str) -> String {
        format!(
            "dm-mod.create=\"root,,,ro,{}\"",
            self.dm_table(boot_partuuid)
        )
    }
}

/// Position and size (in hash blocks) of each tree level, bottom level first.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Level {
    start: u64,
    blocks: u64,
}

/// Lays out the tree as veritysetup does: levels top-down from `hash_start`.
/// Returns the levels (index 0 = the level hashing the data) and the end block.
fn layout(data_blocks: u64, hash_start: u64) -> (Vec<Level>, u64) {
    let mut sizes = Vec::new();
    let mut n = data_blocks;
    while n > 1 {
        n = n.div_ceil(HASHES_PER_BLOCK);
        sizes.push(n);
    }
    let mut levels = vec![
        Level {
            start: 0,
            blocks: 0
        };
        sizes.len()
    ];
    let mut pos = hash_start;
    for (i, &blocks) in sizes.iter().enumerate().rev() {
        levels[i] = Level { start: pos, blocks };
        pos += blocks;
    }
    (levels, pos)
}

/// Builds veritysetup's 512-byte `struct verity_sb` (little-endian, packed).
fn superblock(params: &VerityParams, data_blocks: u64) -> [u8; SUPERBLOCK_SIZE] {
    let mut sb = [0u8; SUPERBLOCK_SIZE];
    sb[0..8].copy_from_slice(b"verity\0\0"); // signature
    sb[8..12].copy_from_slice(&1u32.to_le_bytes()); // version
    sb[12..16].copy_from_slice(&1u32.to_le_bytes()); // hash_type: 1 = normal
    sb[16..32].copy_from_slice(&params.uuid);
    sb[32..38].copy_from_slice(b"sha256"); // algorithm[32], NUL-padded
    sb[64..68].copy_from_slice(&(BLOCK_SIZE as u32).to_le_bytes()); // data_block_size
    sb[68..72].copy_from_slice(&(BLOCK_SIZE as u32).to_le_bytes()); // hash_block_size
    sb[72..80].copy_from_slice(&data_blocks.to_le_bytes());
    sb[80..82].copy_from_slice(&(SALT_SIZE as u16).to_le_bytes()); // salt_size; _pad1[6]
    sb[88..88 + SALT_SIZE].copy_from_slice(&params.salt); // salt[256]; _pad2[168]
    sb
}

/// Where a level's input blocks come from.
struct Source<'a> {
    file: &'a File,
    offset: u64,
    /// True for the data file, false for the hash file (for error reporting).
    is_data: bool,
}

struct Ctx<'a> {
    data_path: &'a Path,
    hash_path: &'a Path,
    base: Sha256,
}

impl Ctx<'_> {
    fn read_err(&self, is_data: bool, offset: u64, source: io::Error) -> VerityError {
        if is_data {
            VerityError::ReadData {
                path: self.data_path.to_path_buf(),
                offset,
                source,
            }
        } else {
            VerityError::HashIo {
                op: "read",
                path: self.hash_path.to_path_buf(),
                offset,
                source,
            }
        }
    }

    #[inline]
    fn hash_block(&self, block: &[u8], out: &mut [u8]) {
        let mut h = self.base.clone();
        h.update(block);
        out.copy_from_slice(&h.finalize());
    }

    /// Hashes `blocks` blocks of `src` into hash blocks written at block `dst_start` of `dst`.
    fn hash_level(&self, src: &Source<'_>, blocks: u64, dst: &File, dst_start: u64) -> Result<()> {
        let units = blocks.div_ceil(UNIT_BLOCKS);
        (0..units).into_par_iter().try_for_each_init(
            || (vec![0u8; UNIT_BYTES], vec![0u8; BLOCK]),
            |(buf, out), unit| {
                let first = unit * UNIT_BLOCKS;
                let n = (blocks - first).min(UNIT_BLOCKS) as usize;
                let input = &mut buf[..n * BLOCK];
                let offset = src.offset + first * BLOCK_SIZE;
                src.file
                    .read_exact_at(input, offset)
                    .map_err(|e| self.read_err(src.is_data, offset, e))?;
                for (block, digest) in input
                    .chunks_exact(BLOCK)
                    .zip(out.chunks_exact_mut(DIGEST_SIZE))
                {
                    self.hash_block(block, digest);
                }
                out[n * DIGEST_SIZE..].fill(0);
                let offset = (dst_start + unit) * BLOCK_SIZE;
                dst.write_all_at(out, offset)
                    .map_err(|source| VerityError::HashIo {
                        op: "write",
                        path: self.hash_path.to_path_buf(),
                        offset,
                        source,
                    })
            },
        )
    }

    /// Digest of the single block at `offset` of `file`.
    fn hash_one(&self, file: &File, offset: u64, is_data: bool) -> Result<[u8; DIGEST_SIZE]> {
        let mut block = vec![0u8; BLOCK];
        file.read_exact_at(&mut block, offset)
            .map_err(|e| self.read_err(is_data, offset, e))?;
        let mut digest = [0u8; DIGEST_SIZE];
        self.hash_block(&block, &mut digest);
        Ok(digest)
    }
}

/// Opens the data file and returns it with its size in blocks.
fn open_data(path: &Path) -> Result<(File, std::fs::Metadata, u64)> {
    let data_err = |op, source| VerityError::DataFile {
        op,
        path: path.to_path_buf(),
        source,
    };
    let mut file = File::open(path).map_err(|e| data_err("open", e))?;
    let meta = file.metadata().map_err(|e| data_err("stat", e))?;
    let ft = meta.file_type();
    if !(ft.is_file() || std::os::unix::fs::FileTypeExt::is_block_device(&ft)) {
        return Err(VerityError::NotAFile {
            path: path.to_path_buf(),
        });
    }
    // Seeking to the end gives the size of block devices too.
    let size = file
        .seek(SeekFrom::End(0))
        .map_err(|e| data_err("find the size of", e))?;
    if size == 0 {
        return Err(VerityError::EmptyData {
            path: path.to_path_buf(),
        });
    }
    if size % BLOCK_SIZE != 0 {
        return Err(VerityError::UnalignedData {
            path: path.to_path_buf(),
            size,
        });
    }
    Ok((file, meta, size / BLOCK_SIZE))
}

/// Computes the dm-verity hash tree of `data` and writes it to `hash_out`.
///
/// `data` (a regular file or block device) must be a non-empty multiple of 4096 bytes. The
/// hash file is byte-identical to what `veritysetup format --format 1 --hash sha256
/// --data-block-size 4096 --hash-block-size 4096 --salt <salt> --uuid <uuid>` (plus
/// `--no-superblock` when `params.superblock` is false) writes to a new file.
///
/// `hash_out` is replaced atomically: the tree is built in a temporary file in the same
/// directory, synced, made mode 0644 and renamed over `hash_out`, and the directory is synced.
/// On error no file is left under either name.
pub fn build(data: &Path, hash_out: &Path, params: &VerityParams) -> Result<VerityOutput> {
    let (data_file, data_meta, data_blocks) = open_data(data)?;

    if let Ok(out_meta) = std::fs::metadata(hash_out) {
        if out_meta.dev() == data_meta.dev() && out_meta.ino() == data_meta.ino() {
            return Err(VerityError::SameFile {
                path: hash_out.to_path_buf(),
            });
        }
    }
    if hash_out.file_name().is_none() {
        return Err(VerityError::InvalidOutputPath {
            path: hash_out.to_path_buf(),
        });
    }
    let dir = match hash_out.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let finish_err = |op, source| VerityError::Finish {
        op,
        path: hash_out.to_path_buf(),
        source,
    };

    let hash_start = u64::from(params.superblock);
    let (levels, end_block) = layout(data_blocks, hash_start);
    let hash_size = end_block * BLOCK_SIZE;

    // The IoError's op names the step; the error names the final output path.
    let tmp = fsutil::AtomicFile::create(hash_out, 0o644).map_err(|e| VerityError::CreateTemp {
        dir: dir.to_path_buf(),
        source: e.source,
    })?;
    let hash_file = tmp.file();
    hash_file
        .set_len(hash_size)
        .map_err(|e| finish_err("set the size of", e))?;

    let mut base = Sha256::new();
    base.update(params.salt);
    let ctx = Ctx {
        data_path: data,
        hash_path: hash_out,
        base,
    };

    if params.superblock {
        let mut block = vec![0u8; BLOCK];
        block[..SUPERBLOCK_SIZE].copy_from_slice(&superblock(params, data_blocks));
        hash_file
            .write_all_at(&block, 0)
            .map_err(|source| VerityError::HashIo {
                op: "write",
                path: hash_out.to_path_buf(),
                offset: 0,
                source,
            })?;
    }

    let mut src = Source {
        file: &data_file,
        offset: 0,
        is_data: true,
    };
    let mut src_blocks = data_blocks;
    for level in &levels {
        ctx.hash_level(&src, src_blocks, hash_file, level.start)?;
        src = Source {
            file: hash_file,
            offset: level.start * BLOCK_SIZE,
            is_data: false,
        };
        src_blocks = level.blocks;
    }
    // The top level (or the only data block) is a single block; its digest is the root.
    debug_assert_eq!(src_blocks, 1);
    let root_hash = ctx.hash_one(src.file, src.offset, src.is_data)?;

    tmp.commit().map_err(|e| finish_err(e.op, e.source))?;

    Ok(VerityOutput {
        root_hash,
        salt: params.salt,
        uuid: params.superblock.then_some(params.uuid),
        data_blocks,
        tree_blocks: end_block - hash_start,
        hash_size,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layout_matches_veritysetup_rules() {
        // One data block: no levels, root = digest of the data block.
        assert_eq!(layout(1, 1), (vec![], 1));
        assert_eq!(layout(1, 0), (vec![], 0));
        assert_eq!(
            layout(128, 1),
            (
                vec![Level {
                    start: 1,
                    blocks: 1
                }],
                2
            )
        );
        // 129 blocks: level 0 has two blocks, level 1 (the top) one, stored first.
        assert_eq!(
            layout(129, 0),
            (
                vec![
                    Level {
                        start: 1,
                        blocks: 2
                    },
                    Level {
                        start: 0,
                        blocks: 1
                    }
                ],
                3
            )
        );
        let (levels, end) = layout(128 * 128 + 1, 1);
        assert_eq!(
            levels,
            vec![
                Level {
                    start: 4,
                    blocks: 129
                },
                Level {
                    start: 2,
                    blocks: 2
                },
                Level {
                    start: 1,
                    blocks: 1
                },
            ]
        );
        assert_eq!(end, 133);
    }

    #[test]
    fn uuid_is_derived_and_formatted() {
        let salt = [7u8; 32];
        let a = derive_uuid(&salt);
        assert_eq!(a, derive_uuid(&salt));
        assert_ne!(a, derive_uuid(&[8u8; 32]));
        let s = format_uuid(&a);
        assert_eq!(s.len(), 36);
        assert_eq!(&s[14..15], "8", "version 8 UUID: {s}");
    }

    #[test]
    fn superblock_layout() {
        let p = VerityParams::new([0xab; 32]).with_uuid([0x11; 16]);
        let sb = superblock(&p, 0x0102_0304);
        assert_eq!(&sb[..8], b"verity\0\0");
        assert_eq!(&sb[72..80], &0x0102_0304u64.to_le_bytes());
        assert_eq!(&sb[88..120], &[0xab; 32]);
        assert!(sb[120..].iter().all(|&b| b == 0));
    }
}
