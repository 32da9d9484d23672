//! The machine-readable description written beside the artifacts (`<name>.json`).

use crate::assemble::ImageFormat;
use crate::fs::RootFs;
use serde::{Deserialize, Serialize};

/// Everything a later step (boot, repo, publish) needs to know about a built image.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct Metadata {
    /// Variant name.
    pub variant: String,
    /// Architecture.
    pub arch: String,
    /// Release version.
    pub version: String,
    /// Build id.
    pub build_id: String,
    /// Extra disk format.
    pub image_format: ImageFormat,
    /// `split` or `unified`.
    pub partition_plan: String,
    /// Whether the disk has A/B banks.
    pub in_place_updates: bool,
    /// OS disk size, GiB.
    pub os_image_size_gib: u64,
    /// Data disk size, GiB.
    pub data_image_size_gib: u64,
    /// Root filesystem type.
    pub root_filesystem: RootFs,
    /// Timestamp of every file in the images.
    pub source_date_epoch: u64,
    /// Kernel command line, with the BOOT PARTUUID left as `boot-partuuid-placeholder`.
    pub kernel_cmdline: String,
    /// The text in `kernel-cmdline` that the boot stage replaces by the chosen BOOT PARTUUID.
    pub boot_partuuid_placeholder: String,
    /// The dm-verity parameters of the root filesystem.
    pub verity: VerityInfo,
    /// The partition tables.
    pub disks: Vec<DiskReport>,
    /// Use of each partition that holds content.
    pub partitions: Vec<PartitionUsage>,
    /// Every artifact file with its size and SHA-256.
    pub artifacts: Vec<ArtifactFile>,
}

/// dm-verity parameters.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct VerityInfo {
    /// Root hash, hex.
    pub root_hash: String,
    /// Salt, hex.
    pub salt: String,
    /// Data blocks (4096 bytes) covered.
    pub data_blocks: u64,
    /// Size of the hash image (superblock and tree), bytes.
    pub hash_size: u64,
    /// Whether the hash image starts with a verity superblock.
    pub superblock: bool,
}

impl From<&twoliter_verity::VerityOutput> for VerityInfo {
    fn from(v: &twoliter_verity::VerityOutput) -> Self {
        Self {
            root_hash: v.root_hash_hex(),
            salt: v.salt_hex(),
            data_blocks: v.data_blocks,
            hash_size: v.hash_size,
            superblock: v.has_superblock(),
        }
    }
}

/// One disk's partition table.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct DiskReport {
    /// `os` or `data`.
    pub disk: String,
    /// Size, MiB.
    pub size_mib: u64,
    /// Disk GUID.
    pub disk_guid: String,
    /// Partitions in disk order.
    pub partitions: Vec<PartitionReport>,
}

/// One partition table entry.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct PartitionReport {
    /// GPT entry number.
    pub number: u32,
    /// GPT label (or `DATA-A`/`DATA-B` for the unlabelled DATA partitions).
    pub name: String,
    /// Type GUID.
    pub type_guid: String,
    /// Partition GUID.
    pub partuuid: String,
    /// Start, MiB.
    pub start_mib: u64,
    /// Size, MiB.
    pub size_mib: u64,
    /// GPT attribute bits.
    pub attributes: u64,
}

/// How full a partition is.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct PartitionUsage {
    /// Partition name.
    pub partition: String,
    /// Bytes used.
    pub used_bytes: u64,
    /// Partition size, bytes.
    pub capacity_bytes: u64,
    /// Used as a percentage of capacity, one decimal.
    pub percent: f64,
}

impl PartitionUsage {
    /// Usage of `capacity` bytes of which `used` are taken.
    pub fn new(partition: String, used: u64, capacity: u64) -> Self {
        let percent = if capacity == 0 {
            0.0
        } else {
            (used as f64 * 1000.0 / capacity as f64).round() / 10.0
        };
        Self {
            partition,
            used_bytes: used,
            capacity_bytes: capacity,
            percent,
        }
    }
}

/// One artifact file.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct ArtifactFile {
    /// File name in the artifact directory.
    pub file: String,
    /// Size, bytes.
    pub size: u64,
    /// SHA-256, hex.
    pub sha256: String,
}

/// The usage table as printed after a build.
pub fn usage_table(partitions: &[PartitionUsage]) -> String {
    let mib = |b: u64| b as f64 / (1024.0 * 1024.0);
    let mut out = format!(
        "{:<26} {:>10} {:>10} {:>6}\n",
        "PARTITION", "USED MiB", "SIZE MiB", "USE%"
    );
    for p in partitions {
        out.push_str(&format!(
            "{:<26} {:>10.1} {:>10.1} {:>5.1}%\n",
            p.partition,
            mib(p.used_bytes),
            mib(p.capacity_bytes),
            p.percent
        ));
    }
    out
}
