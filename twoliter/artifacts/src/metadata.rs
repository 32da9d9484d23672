//! The machine-readable description written beside the artifacts (`<name>.json`).

use crate::name::{ArtifactKind, ArtifactName};
use partitions::PartitionPlan;
use serde::{Deserialize, Serialize};

/// Output disk formats besides the raw image: the variant manifest's `image-format`.
pub use twoliter_project::ImageFormat;

/// Which filesystem the root partition gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
#[cfg_attr(feature = "clap", derive(clap::ValueEnum))]
pub enum RootFs {
    /// ext4 without a journal, 4 KiB blocks, shrunk to its content.
    Ext4,
    /// erofs (lz4-compressed), read-only by design.
    Erofs,
}

impl RootFs {
    /// The file extension of an image of this filesystem.
    pub fn extension(self) -> &'static str {
        match self {
            RootFs::Ext4 => "ext4",
            RootFs::Erofs => "erofs",
        }
    }
}

/// The firmware boot stages an OS disk carries.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct FirmwareBoot {
    /// A UEFI boot stage at EFI-SYSTEM's removable-media path (`/EFI/BOOT/BOOTX64.EFI`, or
    /// `BOOTAA64.EFI` on aarch64).
    pub uefi: bool,
    /// A BIOS boot stage (GRUB's boot.img in the MBR and core.img in BIOS-BOOT).
    pub bios: bool,
}

impl FirmwareBoot {
    /// The EC2 boot mode an image with these stages boots in: `uefi-preferred` with both,
    /// `uefi` or `legacy-bios` with one; `None` when it cannot boot from firmware at all.
    pub fn boot_mode(self) -> Option<twoliter_project::BootMode> {
        use twoliter_project::BootMode;
        match (self.uefi, self.bios) {
            (true, true) => Some(BootMode::UefiPreferred),
            (true, false) => Some(BootMode::Uefi),
            (false, true) => Some(BootMode::LegacyBios),
            (false, false) => None,
        }
    }

    /// Whether an instance started in `mode` finds a stage it can run. `uefi-preferred` needs
    /// both: EC2 falls back to BIOS on instance types without UEFI.
    pub fn boots_in(self, mode: twoliter_project::BootMode) -> bool {
        use twoliter_project::BootMode;
        match mode {
            BootMode::Uefi => self.uefi,
            BootMode::LegacyBios => self.bios,
            BootMode::UefiPreferred => self.uefi && self.bios,
        }
    }
}

/// Everything a later step (boot, repo, publish) needs to know about a built image.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct Metadata {
    /// Variant, architecture, version and build id.
    #[serde(flatten)]
    pub name: ArtifactName,
    /// Extra disk format.
    pub image_format: ImageFormat,
    /// Where DATA lives.
    #[serde(with = "plan_text")]
    pub partition_plan: PartitionPlan,
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
    /// The firmware boot stages the OS disk carries (none in builds made before they existed).
    #[serde(default)]
    pub firmware: FirmwareBoot,
    /// The dm-verity parameters of the root filesystem.
    pub verity: VerityInfo,
    /// The partition tables.
    pub disks: Vec<DiskReport>,
    /// Use of each partition that holds content.
    pub partitions: Vec<PartitionUsage>,
    /// Every artifact file with its size and SHA-256.
    pub artifacts: Vec<ArtifactFile>,
}

impl Metadata {
    /// The partition table recorded for `role`, if the build has that disk.
    pub fn disk(&self, role: DiskRole) -> Option<&DiskReport> {
        self.disks.iter().find(|d| d.disk == role)
    }

    /// The compressed disk images the build has: the OS disk, and the data disk for the split
    /// plan.
    pub fn disk_kinds(&self) -> Vec<(DiskRole, ArtifactKind)> {
        let mut kinds = vec![(DiskRole::Os, ArtifactKind::OsDisk)];
        if self.partition_plan == PartitionPlan::Split {
            kinds.push((DiskRole::Data, ArtifactKind::DataDisk));
        }
        kinds
    }
}

/// `split` / `unified` in the metadata file.
mod plan_text {
    use partitions::PartitionPlan;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(plan: &PartitionPlan, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(plan.as_str())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<PartitionPlan, D::Error> {
        let text = String::deserialize(d)?;
        match text.as_str() {
            "split" => Ok(PartitionPlan::Split),
            "unified" => Ok(PartitionPlan::Unified),
            other => Err(serde::de::Error::custom(format!(
                "partition plan `{other}` is neither `split` nor `unified`"
            ))),
        }
    }
}

/// dm-verity parameters.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
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

/// Which disk a partition table describes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum DiskRole {
    /// The OS disk.
    Os,
    /// The data disk (split plan).
    Data,
}

impl std::fmt::Display for DiskRole {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            DiskRole::Os => "os",
            DiskRole::Data => "data",
        })
    }
}

/// One disk's partition table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct DiskReport {
    /// Which disk.
    pub disk: DiskRole,
    /// Size, MiB.
    pub size_mib: u64,
    /// Disk GUID.
    pub disk_guid: String,
    /// Partitions in disk order.
    pub partitions: Vec<PartitionReport>,
}

/// One partition table entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
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
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
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
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct ArtifactFile {
    /// File name in the artifact directory.
    pub file: String,
    /// Size, bytes.
    pub size: u64,
    /// SHA-256, hex.
    pub sha256: String,
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use semver::Version;
    use twoliter_project::Arch;

    /// A small metadata value of the given plan.
    pub(crate) fn sample(name: ArtifactName, plan: PartitionPlan) -> Metadata {
        let disk = |disk| DiskReport {
            disk,
            size_mib: 2048,
            disk_guid: "5b94e8df-28b8-485c-9d19-362263b5944c".into(),
            partitions: vec![],
        };
        Metadata {
            name,
            image_format: ImageFormat::Raw,
            partition_plan: plan,
            in_place_updates: true,
            os_image_size_gib: 2,
            data_image_size_gib: 1,
            root_filesystem: RootFs::Ext4,
            source_date_epoch: 1,
            kernel_cmdline: "ro".into(),
            boot_partuuid_placeholder: "$boot_uuid".into(),
            firmware: FirmwareBoot::default(),
            verity: VerityInfo {
                root_hash: "00".into(),
                salt: "11".into(),
                data_blocks: 1,
                hash_size: 4096,
                superblock: true,
            },
            disks: vec![disk(DiskRole::Os), disk(DiskRole::Data)],
            partitions: vec![PartitionUsage::new("BOTTLEROCKET-ROOT-A".into(), 1, 3)],
            artifacts: vec![],
        }
    }

    pub(crate) fn name(version: &str, build: &str) -> ArtifactName {
        ArtifactName::new(
            "metal-dev",
            Arch::X86_64,
            Version::parse(version).unwrap(),
            build,
        )
        .unwrap()
    }

    #[test]
    fn round_trips_with_the_file_format_field_names() {
        let metadata = sample(name("1.2.3", "abc"), PartitionPlan::Unified);
        let json = serde_json::to_value(&metadata).unwrap();
        for (key, value) in [
            ("variant", "metal-dev"),
            ("arch", "x86_64"),
            ("version", "1.2.3"),
            ("build-id", "abc"),
            ("partition-plan", "unified"),
            ("image-format", "raw"),
            ("root-filesystem", "ext4"),
        ] {
            assert_eq!(json[key], value, "{key}");
        }
        assert_eq!(json["disks"][1]["disk"], "data");
        let back: Metadata = serde_json::from_value(json).unwrap();
        assert_eq!(back, metadata);
    }

    #[test]
    fn bad_fields_are_refused() {
        let mut json =
            serde_json::to_value(sample(name("1.2.3", "abc"), PartitionPlan::Split)).unwrap();
        json["partition-plan"] = "striped".into();
        let error = serde_json::from_value::<Metadata>(json.clone()).unwrap_err();
        assert!(error.to_string().contains("striped"), "{error}");
        json["partition-plan"] = "split".into();
        json["arch"] = "riscv64".into();
        assert!(serde_json::from_value::<Metadata>(json).is_err());
    }

    #[test]
    fn disks_follow_the_plan() {
        let split = sample(name("1.2.3", "abc"), PartitionPlan::Split);
        assert_eq!(split.disk_kinds().len(), 2);
        assert_eq!(split.disk(DiskRole::Data).unwrap().disk, DiskRole::Data);
        let unified = sample(name("1.2.3", "abc"), PartitionPlan::Unified);
        assert_eq!(
            unified.disk_kinds(),
            vec![(DiskRole::Os, ArtifactKind::OsDisk)]
        );
        assert_eq!(PartitionUsage::new("X".into(), 1, 3).percent, 33.3);
        assert_eq!(PartitionUsage::new("X".into(), 1, 0).percent, 0.0);
        assert_eq!(ImageFormat::Raw.extension(), None);
        assert_eq!(RootFs::Erofs.extension(), "erofs");
    }

    #[test]
    fn the_boot_mode_follows_the_stages_an_image_carries() {
        use twoliter_project::BootMode;
        let stages = |uefi, bios| FirmwareBoot { uefi, bios };
        assert_eq!(
            stages(true, true).boot_mode(),
            Some(BootMode::UefiPreferred)
        );
        assert_eq!(stages(true, false).boot_mode(), Some(BootMode::Uefi));
        assert_eq!(stages(false, true).boot_mode(), Some(BootMode::LegacyBios));
        assert_eq!(stages(false, false).boot_mode(), None);
        assert!(stages(true, false).boots_in(BootMode::Uefi));
        assert!(!stages(true, false).boots_in(BootMode::UefiPreferred));
        assert!(!stages(true, false).boots_in(BootMode::LegacyBios));
        assert!(stages(true, true).boots_in(BootMode::UefiPreferred));
        // Builds from before the stages existed read back as carrying none.
        let mut old = serde_json::to_value(sample(
            ArtifactName::new("metal-dev", Arch::X86_64, Version::new(1, 0, 0), "abc").unwrap(),
            PartitionPlan::Split,
        ))
        .unwrap();
        old.as_object_mut().unwrap().remove("firmware");
        let read: Metadata = serde_json::from_value(old).unwrap();
        assert_eq!(read.firmware, FirmwareBoot::default());
    }
}
