//! The partition planner (DESIGN §2.5), compatible with Bottlerocket's `partyplanner`.
//!
//! Sizes scale with the OS image size G (GiB). In MiB, per bank: EFI 5 (`EFI-SYSTEM` in bank A,
//! `EFI-BACKUP` in bank B), BOOT 20·G, ROOT 460·G, HASH 5·G, RESERVED 15·G−5, so a bank is 500·G;
//! once per disk: GPT 1 at each end, BIOS-BOOT 4, PRIVATE 24·G−7, DATA-A.
//!
//! * **split**: DATA-A is a 1 MiB placeholder after PRIVATE (fallback DATA GUID) and the OS disk is
//!   exactly G GiB; the data disk (data GiB) holds DATA-B at 1 MiB, size data·1024−2 MiB
//!   (preferred DATA GUID).
//! * **unified**: DATA-A (preferred DATA GUID) follows PRIVATE with data·1024 MiB. The disk is
//!   (G + data) GiB, as Bottlerocket's `rpm2img` truncates it, which leaves 1 MiB unallocated
//!   between DATA-A and the final MiB that holds the backup GPT.
//! * **without in-place updates**: only bank A exists (no EFI-BACKUP, no `*-B` partitions) and
//!   every bank-A partition, EFI-SYSTEM included, is twice its size (EFI 10, BOOT 40·G, ROOT 460·2·G,
//!   HASH 10·G, RESERVED 30·G−10): bank A fills exactly the 1000·G MiB the two banks would, so
//!   PRIVATE, DATA-A and the disk size are unchanged. This is what twoliter's `partyplanner` does.
//!
//! Partitions are numbered 1, 2, … in disk order (as `sgdisk --sort` leaves them), so ROOT and
//! HASH are always BOOT's number + 1 and + 2 (`PARTNROFF=1/2` on the kernel command line).

use std::fmt;

use uuid::Uuid;

use crate::attrs::{Bank, GptAttributes};
use crate::guid;
use crate::{Error, Result, MIB, SECTORS_PER_MIB};

/// Smallest OS image size, in GiB.
pub const MIN_OS_IMAGE_GIB: u64 = 1;
/// Largest OS image size, in GiB.
pub const MAX_OS_IMAGE_GIB: u64 = 1024;
/// Smallest data image size, in GiB.
pub const MIN_DATA_IMAGE_GIB: u64 = 1;
/// Largest data image size, in GiB (64 TiB, the largest EBS volume).
pub const MAX_DATA_IMAGE_GIB: u64 = 64 * 1024;

/// MiB reserved for the GPT at each end of a disk.
pub const GPT_MIB: u64 = 1;
/// Size of BIOS-BOOT, in MiB.
pub const BIOS_MIB: u64 = 4;
/// Size of each bank's EFI partition with in-place updates, in MiB.
pub const EFI_MIB: u64 = 5;
/// Size of the DATA-A placeholder of the split plan, in MiB.
pub const DATA_A_SPLIT_MIB: u64 = 1;
/// BOOT MiB per GiB of OS image.
pub const BOOT_SCALE: u64 = 20;
/// ROOT MiB per GiB of OS image.
pub const ROOT_SCALE: u64 = 460;
/// HASH MiB per GiB of OS image.
pub const HASH_SCALE: u64 = 5;
/// RESERVED MiB per GiB of OS image (before the EFI partition is taken out of it).
pub const RESERVED_SCALE: u64 = 15;
/// PRIVATE MiB per GiB of OS image (before the fixed overhead is taken out of it).
pub const PRIVATE_SCALE: u64 = 24;

/// Where the data partition lives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PartitionPlan {
    /// OS and data on separate disks.
    Split,
    /// OS and data on one disk.
    Unified,
}

impl PartitionPlan {
    /// `"split"` or `"unified"`, as in variant manifests.
    pub fn as_str(self) -> &'static str {
        match self {
            PartitionPlan::Split => "split",
            PartitionPlan::Unified => "unified",
        }
    }
}

impl fmt::Display for PartitionPlan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Identity of a planned partition.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PartitionId {
    /// `BIOS-BOOT`, GRUB's stage 2 for legacy BIOS boot.
    BiosBoot,
    /// `EFI-SYSTEM` (bank A) or `EFI-BACKUP` (bank B).
    Efi(Bank),
    /// `BOTTLEROCKET-BOOT-{A,B}`: kernel and GRUB config; carries the boot-counting bits.
    Boot(Bank),
    /// `BOTTLEROCKET-ROOT-{A,B}`: the dm-verity protected root filesystem.
    Root(Bank),
    /// `BOTTLEROCKET-HASH-{A,B}`: the dm-verity hash tree.
    Hash(Bank),
    /// `BOTTLEROCKET-RESERVED-{A,B}`.
    Reserved(Bank),
    /// `BOTTLEROCKET-PRIVATE`: persistent settings; carries the "boot ever succeeded" bit.
    Private,
    /// DATA-A (OS disk) or DATA-B (data disk of the split plan); unlabelled.
    Data(Bank),
}

impl PartitionId {
    /// Short stable name, as in Bottlerocket's `partyplanner`: `BIOS`, `EFI-A`, `BOOT-B`,
    /// `PRIVATE`, `DATA-A`, …; also the key for GUID derivation (`"partition/<key>"`).
    pub fn key(self) -> String {
        let bank_key = |part: &str, bank: Bank| format!("{part}-{bank}");
        match self {
            PartitionId::BiosBoot => "BIOS".to_string(),
            PartitionId::Efi(b) => bank_key("EFI", b),
            PartitionId::Boot(b) => bank_key("BOOT", b),
            PartitionId::Root(b) => bank_key("ROOT", b),
            PartitionId::Hash(b) => bank_key("HASH", b),
            PartitionId::Reserved(b) => bank_key("RESERVED", b),
            PartitionId::Private => "PRIVATE".to_string(),
            PartitionId::Data(b) => bank_key("DATA", b),
        }
    }

    /// The GPT partition name (label). DATA partitions have an empty label: the host labels the
    /// one it uses at boot.
    pub fn label(self) -> &'static str {
        use Bank::{A, B};
        match self {
            PartitionId::BiosBoot => "BIOS-BOOT",
            PartitionId::Efi(A) => "EFI-SYSTEM",
            PartitionId::Efi(B) => "EFI-BACKUP",
            PartitionId::Boot(bank) => bank.boot_label(),
            PartitionId::Root(A) => "BOTTLEROCKET-ROOT-A",
            PartitionId::Root(B) => "BOTTLEROCKET-ROOT-B",
            PartitionId::Hash(A) => "BOTTLEROCKET-HASH-A",
            PartitionId::Hash(B) => "BOTTLEROCKET-HASH-B",
            PartitionId::Reserved(A) => "BOTTLEROCKET-RESERVED-A",
            PartitionId::Reserved(B) => "BOTTLEROCKET-RESERVED-B",
            PartitionId::Private => "BOTTLEROCKET-PRIVATE",
            PartitionId::Data(_) => "",
        }
    }

    /// The partition type GUID.
    pub fn type_guid(self) -> Uuid {
        match self {
            PartitionId::BiosBoot => guid::BIOS_BOOT_TYPE,
            PartitionId::Efi(Bank::A) => guid::EFI_SYSTEM_TYPE,
            PartitionId::Efi(Bank::B) => guid::EFI_BACKUP_TYPE,
            PartitionId::Boot(_) => guid::BOOT_TYPE,
            PartitionId::Root(_) => guid::ROOT_TYPE,
            PartitionId::Hash(_) => guid::HASH_TYPE,
            PartitionId::Reserved(_) => guid::RESERVED_TYPE,
            PartitionId::Private => guid::PRIVATE_TYPE,
            PartitionId::Data(_) => guid::DATA_TYPE,
        }
    }
}

impl fmt::Display for PartitionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.key())
    }
}

/// What to plan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlanInput {
    /// OS image size in GiB ([`MIN_OS_IMAGE_GIB`]..=[`MAX_OS_IMAGE_GIB`]).
    pub os_image_gib: u64,
    /// Data image size in GiB ([`MIN_DATA_IMAGE_GIB`]..=[`MAX_DATA_IMAGE_GIB`]).
    pub data_image_gib: u64,
    /// Split or unified.
    pub plan: PartitionPlan,
    /// Two banks (A/B) for in-place updates, or one bank of doubled size.
    pub in_place_updates: bool,
    /// Seed for the disk and partition GUIDs (all except the fixed DATA GUIDs). Fold everything
    /// that identifies the image (variant, arch, version, build id) into it: identical seeds give
    /// identical GUIDs and therefore identical tables.
    pub seed: [u8; 32],
}

/// One partition of a [`DiskPlan`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlannedPartition {
    /// 1-based GPT entry number; partitions are numbered in disk order.
    pub number: u32,
    /// What the partition is.
    pub id: PartitionId,
    /// The GPT partition name.
    pub label: &'static str,
    /// The partition type GUID.
    pub type_guid: Uuid,
    /// The unique partition GUID (PARTUUID).
    pub partition_guid: Uuid,
    /// Offset from the start of the disk, in MiB.
    pub start_mib: u64,
    /// Size in MiB.
    pub size_mib: u64,
    /// The GPT attribute bits.
    pub attributes: GptAttributes,
}

impl PlannedPartition {
    /// First MiB after the partition.
    pub fn end_mib(&self) -> u64 {
        self.start_mib + self.size_mib
    }

    /// First 512-byte sector.
    pub fn start_lba(&self) -> u64 {
        self.start_mib * SECTORS_PER_MIB
    }

    /// Size in 512-byte sectors.
    pub fn size_sectors(&self) -> u64 {
        self.size_mib * SECTORS_PER_MIB
    }

    /// Last 512-byte sector (inclusive), as GPT records it.
    pub fn last_lba(&self) -> u64 {
        self.end_mib() * SECTORS_PER_MIB - 1
    }

    /// Offset from the start of the disk, in bytes.
    pub fn start_bytes(&self) -> u64 {
        self.start_mib * MIB
    }

    /// Size in bytes.
    pub fn size_bytes(&self) -> u64 {
        self.size_mib * MIB
    }
}

/// Which disk a [`DiskPlan`] describes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DiskKind {
    /// The OS disk (and, for the unified plan, the only disk).
    Os,
    /// The separate data disk of the split plan.
    Data,
}

/// The partition table of one disk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DiskPlan {
    /// OS or data disk.
    pub kind: DiskKind,
    /// The disk GUID written in the GPT header.
    pub disk_guid: Uuid,
    /// Total disk size in MiB; the image file is exactly this big.
    pub size_mib: u64,
    /// Partitions in disk order, numbered from 1.
    pub partitions: Vec<PlannedPartition>,
}

impl DiskPlan {
    /// Total disk size in bytes.
    pub fn size_bytes(&self) -> u64 {
        self.size_mib * MIB
    }

    /// Total disk size in 512-byte sectors.
    pub fn size_sectors(&self) -> u64 {
        self.size_mib * SECTORS_PER_MIB
    }

    /// The partition with this identity, if the plan has it.
    pub fn partition(&self, id: PartitionId) -> Option<&PlannedPartition> {
        self.partitions.iter().find(|p| p.id == id)
    }

    /// First MiB after the last partition. The last [`GPT_MIB`] of the disk always stays free for
    /// the backup GPT; for the unified plan one more MiB before it is unallocated.
    pub fn allocated_end_mib(&self) -> u64 {
        self.partitions.last().map_or(GPT_MIB, |p| p.end_mib())
    }
}

/// The planned disks of an image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layout {
    /// The input this layout was planned from.
    pub input: PlanInput,
    /// The OS disk.
    pub os: DiskPlan,
    /// The data disk (split plan only).
    pub data: Option<DiskPlan>,
}

impl Layout {
    /// The OS disk and, for the split plan, the data disk.
    pub fn disks(&self) -> impl Iterator<Item = &DiskPlan> {
        std::iter::once(&self.os).chain(self.data.as_ref())
    }
}

/// Plans the OS disk and, for the split plan, the data disk. See the [module docs](self) for the
/// rules.
pub fn plan(input: &PlanInput) -> Result<Layout> {
    let g = input.os_image_gib;
    if !(MIN_OS_IMAGE_GIB..=MAX_OS_IMAGE_GIB).contains(&g) {
        return Err(Error::OsImageSize { gib: g });
    }
    let data_gib = input.data_image_gib;
    if !(MIN_DATA_IMAGE_GIB..=MAX_DATA_IMAGE_GIB).contains(&data_gib) {
        return Err(Error::DataImageSize {
            gib: data_gib,
            plan: input.plan,
        });
    }

    let scale = if input.in_place_updates { 1 } else { 2 };
    let banks: &[Bank] = if input.in_place_updates {
        &[Bank::A, Bank::B]
    } else {
        &[Bank::A]
    };
    let efi = EFI_MIB * scale;
    let boot = BOOT_SCALE * g * scale;
    let root = ROOT_SCALE * g * scale;
    let hash = HASH_SCALE * g * scale;
    let reserved = (RESERVED_SCALE * g - EFI_MIB) * scale;
    let private = PRIVATE_SCALE * g - 2 * GPT_MIB - BIOS_MIB - DATA_A_SPLIT_MIB;

    let mut os = DiskBuilder::new(input, DiskKind::Os);
    os.push(PartitionId::BiosBoot, BIOS_MIB);
    for &bank in banks {
        os.push(PartitionId::Efi(bank), efi);
        os.push(PartitionId::Boot(bank), boot);
        os.push(PartitionId::Root(bank), root);
        os.push(PartitionId::Hash(bank), hash);
        os.push(PartitionId::Reserved(bank), reserved);
    }
    os.push(PartitionId::Private, private);

    let gib = 1024;
    let (os, data) = match input.plan {
        PartitionPlan::Split => {
            os.push(PartitionId::Data(Bank::A), DATA_A_SPLIT_MIB);
            let mut data = DiskBuilder::new(input, DiskKind::Data);
            data.push(PartitionId::Data(Bank::B), data_gib * gib - 2 * GPT_MIB);
            (os.finish(g * gib), Some(data.finish(data_gib * gib)))
        }
        PartitionPlan::Unified => {
            os.push(PartitionId::Data(Bank::A), data_gib * gib);
            (os.finish((g + data_gib) * gib), None)
        }
    };

    Ok(Layout {
        input: input.clone(),
        os,
        data,
    })
}

struct DiskBuilder<'a> {
    input: &'a PlanInput,
    kind: DiskKind,
    offset_mib: u64,
    partitions: Vec<PlannedPartition>,
}

impl<'a> DiskBuilder<'a> {
    fn new(input: &'a PlanInput, kind: DiskKind) -> Self {
        DiskBuilder {
            input,
            kind,
            offset_mib: GPT_MIB,
            partitions: Vec::new(),
        }
    }

    fn push(&mut self, id: PartitionId, size_mib: u64) {
        let partition_guid = match (id, self.input.plan) {
            (PartitionId::Data(Bank::A), PartitionPlan::Split) => {
                guid::DATA_FALLBACK_PARTITION_GUID
            }
            (PartitionId::Data(_), _) => guid::DATA_PREFERRED_PARTITION_GUID,
            _ => guid::derive_guid(&self.input.seed, &format!("partition/{}", id.key())),
        };
        let attributes = match id {
            // A fresh image boots bank A: priority 1 + successful. Everything else is zero.
            PartitionId::Boot(Bank::A) => GptAttributes(
                (1 << crate::attrs::PRIORITY_SHIFT) | (1 << crate::attrs::SUCCESSFUL_BIT),
            ),
            _ => GptAttributes::NONE,
        };
        self.partitions.push(PlannedPartition {
            number: self.partitions.len() as u32 + 1,
            id,
            label: id.label(),
            type_guid: id.type_guid(),
            partition_guid,
            start_mib: self.offset_mib,
            size_mib,
            attributes,
        });
        self.offset_mib += size_mib;
    }

    fn finish(self, size_mib: u64) -> DiskPlan {
        debug_assert!(self.offset_mib + GPT_MIB <= size_mib);
        let key = match self.kind {
            DiskKind::Os => "disk/os",
            DiskKind::Data => "disk/data",
        };
        DiskPlan {
            kind: self.kind,
            disk_guid: guid::derive_guid(&self.input.seed, key),
            size_mib,
            partitions: self.partitions,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input(g: u64, data: u64, plan: PartitionPlan, in_place: bool) -> PlanInput {
        PlanInput {
            os_image_gib: g,
            data_image_gib: data,
            plan,
            in_place_updates: in_place,
            seed: [0x5a; 32],
        }
    }

    fn table(disk: &DiskPlan) -> Vec<(String, u64, u64)> {
        disk.partitions
            .iter()
            .map(|p| (p.id.key(), p.start_mib, p.size_mib))
            .collect()
    }

    fn rows(rows: &[(&str, u64, u64)]) -> Vec<(String, u64, u64)> {
        rows.iter()
            .map(|&(k, o, s)| (k.to_string(), o, s))
            .collect()
    }

    /// DESIGN §2.5 table, 2 GiB column.
    #[test]
    fn design_table_2_gib() {
        let layout = plan(&input(2, 20, PartitionPlan::Split, true)).unwrap();
        assert_eq!(
            table(&layout.os),
            rows(&[
                ("BIOS", 1, 4),
                ("EFI-A", 5, 5),
                ("BOOT-A", 10, 40),
                ("ROOT-A", 50, 920),
                ("HASH-A", 970, 10),
                ("RESERVED-A", 980, 25),
                ("EFI-B", 1005, 5),
                ("BOOT-B", 1010, 40),
                ("ROOT-B", 1050, 920),
                ("HASH-B", 1970, 10),
                ("RESERVED-B", 1980, 25),
                ("PRIVATE", 2005, 41),
                ("DATA-A", 2046, 1),
            ])
        );
        assert_eq!(layout.os.size_mib, 2048);
        let data = layout.data.unwrap();
        assert_eq!(table(&data), rows(&[("DATA-B", 1, 20 * 1024 - 2)]));
        assert_eq!(data.size_mib, 20 * 1024);
    }

    /// DESIGN §2.5 table, 4 GiB column.
    #[test]
    fn design_table_4_gib() {
        let layout = plan(&input(4, 1, PartitionPlan::Split, true)).unwrap();
        assert_eq!(
            table(&layout.os),
            rows(&[
                ("BIOS", 1, 4),
                ("EFI-A", 5, 5),
                ("BOOT-A", 10, 80),
                ("ROOT-A", 90, 1840),
                ("HASH-A", 1930, 20),
                ("RESERVED-A", 1950, 55),
                ("EFI-B", 2005, 5),
                ("BOOT-B", 2010, 80),
                ("ROOT-B", 2090, 1840),
                ("HASH-B", 3930, 20),
                ("RESERVED-B", 3950, 55),
                ("PRIVATE", 4005, 89),
                ("DATA-A", 4094, 1),
            ])
        );
        assert_eq!(layout.os.size_mib, 4096);
        assert_eq!(
            table(layout.data.as_ref().unwrap()),
            rows(&[("DATA-B", 1, 1022)])
        );
    }

    #[test]
    fn unified_puts_data_after_private() {
        let layout = plan(&input(2, 3, PartitionPlan::Unified, true)).unwrap();
        assert!(layout.data.is_none());
        let data_a = layout.os.partition(PartitionId::Data(Bank::A)).unwrap();
        assert_eq!((data_a.start_mib, data_a.size_mib), (2046, 3072));
        assert_eq!(data_a.number, 13);
        assert_eq!(data_a.partition_guid, guid::DATA_PREFERRED_PARTITION_GUID);
        assert_eq!(layout.os.size_mib, 5 * 1024);
        assert_eq!(layout.os.allocated_end_mib(), 5 * 1024 - 2);
        // Everything before DATA-A is the same as the split plan.
        let split = plan(&input(2, 3, PartitionPlan::Split, true)).unwrap();
        assert_eq!(layout.os.partitions[..12], split.os.partitions[..12],);
    }

    #[test]
    fn without_in_place_updates_one_doubled_bank() {
        let layout = plan(&input(2, 1, PartitionPlan::Split, false)).unwrap();
        assert_eq!(
            table(&layout.os),
            rows(&[
                ("BIOS", 1, 4),
                ("EFI-A", 5, 10),
                ("BOOT-A", 15, 80),
                ("ROOT-A", 95, 1840),
                ("HASH-A", 1935, 20),
                ("RESERVED-A", 1955, 50),
                ("PRIVATE", 2005, 41),
                ("DATA-A", 2046, 1),
            ])
        );
        assert_eq!(layout.os.size_mib, 2048);
        let unified = plan(&input(4, 2, PartitionPlan::Unified, false)).unwrap();
        assert_eq!(
            table(&unified.os),
            rows(&[
                ("BIOS", 1, 4),
                ("EFI-A", 5, 10),
                ("BOOT-A", 15, 160),
                ("ROOT-A", 175, 3680),
                ("HASH-A", 3855, 40),
                ("RESERVED-A", 3895, 110),
                ("PRIVATE", 4005, 89),
                ("DATA-A", 4094, 2048),
            ])
        );
        assert_eq!(unified.os.size_mib, 6 * 1024);
    }

    #[test]
    fn labels_types_guids_and_attributes() {
        let layout = plan(&input(2, 1, PartitionPlan::Split, true)).unwrap();
        let os = &layout.os;
        let labels: Vec<_> = os.partitions.iter().map(|p| p.label).collect();
        assert_eq!(
            labels,
            [
                "BIOS-BOOT",
                "EFI-SYSTEM",
                "BOTTLEROCKET-BOOT-A",
                "BOTTLEROCKET-ROOT-A",
                "BOTTLEROCKET-HASH-A",
                "BOTTLEROCKET-RESERVED-A",
                "EFI-BACKUP",
                "BOTTLEROCKET-BOOT-B",
                "BOTTLEROCKET-ROOT-B",
                "BOTTLEROCKET-HASH-B",
                "BOTTLEROCKET-RESERVED-B",
                "BOTTLEROCKET-PRIVATE",
                "",
            ]
        );
        for (i, p) in os.partitions.iter().enumerate() {
            assert_eq!(p.number as usize, i + 1);
            let expected = if p.id == PartitionId::Boot(Bank::A) {
                0x0101_0000_0000_0000
            } else {
                0
            };
            assert_eq!(p.attributes.bits(), expected, "{}", p.id);
        }
        let boot_b = os.partition(PartitionId::Boot(Bank::B)).unwrap();
        assert_eq!(boot_b.type_guid, guid::BOOT_TYPE);
        assert_eq!(
            os.partition(PartitionId::Root(Bank::B)).unwrap().number,
            boot_b.number + 1
        );
        assert_eq!(
            os.partition(PartitionId::Hash(Bank::B)).unwrap().number,
            boot_b.number + 2
        );
        assert_eq!(
            os.partition(PartitionId::Data(Bank::A))
                .unwrap()
                .partition_guid,
            guid::DATA_FALLBACK_PARTITION_GUID
        );
        let data = layout.data.as_ref().unwrap();
        assert_eq!(
            data.partitions[0].partition_guid,
            guid::DATA_PREFERRED_PARTITION_GUID
        );
        assert_eq!(data.partitions[0].type_guid, guid::DATA_TYPE);
        assert_eq!(data.partitions[0].label, "");

        // Derived GUIDs: all distinct, reproducible, and seed-dependent.
        let mut all: Vec<Uuid> = os.partitions.iter().map(|p| p.partition_guid).collect();
        all.push(os.disk_guid);
        all.push(data.disk_guid);
        let n = all.len();
        all.sort();
        all.dedup();
        assert_eq!(all.len(), n);
        assert_eq!(
            boot_b.partition_guid,
            guid::derive_guid(&[0x5a; 32], "partition/BOOT-B")
        );
        assert_eq!(os.disk_guid, guid::derive_guid(&[0x5a; 32], "disk/os"));
        let again = plan(&input(2, 1, PartitionPlan::Split, true)).unwrap();
        assert_eq!(again, layout);
        let mut other = input(2, 1, PartitionPlan::Split, true);
        other.seed[0] ^= 1;
        assert_ne!(plan(&other).unwrap().os.disk_guid, os.disk_guid);
    }

    #[test]
    fn sector_arithmetic() {
        let layout = plan(&input(2, 1, PartitionPlan::Split, true)).unwrap();
        let p = layout.os.partition(PartitionId::BiosBoot).unwrap();
        assert_eq!(
            (p.start_lba(), p.size_sectors(), p.last_lba()),
            (2048, 8192, 10239)
        );
        assert_eq!((p.start_bytes(), p.size_bytes()), (MIB, 4 * MIB));
        assert_eq!(layout.os.size_sectors(), 2048 * 2048);
        assert_eq!(layout.os.size_bytes(), 2 << 30);
    }

    #[test]
    fn every_plan_is_contiguous_and_fits() {
        for g in [1, 2, 3, 4, 8, 16, MAX_OS_IMAGE_GIB] {
            for plan_kind in [PartitionPlan::Split, PartitionPlan::Unified] {
                for in_place in [true, false] {
                    for data in [1, 2, 20] {
                        let layout = plan(&input(g, data, plan_kind, in_place)).unwrap();
                        for disk in layout.disks() {
                            let mut offset = GPT_MIB;
                            for p in &disk.partitions {
                                assert_eq!(p.start_mib, offset);
                                assert!(p.size_mib > 0);
                                offset = p.end_mib();
                            }
                            let slack = if plan_kind == PartitionPlan::Unified {
                                1
                            } else {
                                0
                            };
                            assert_eq!(offset + GPT_MIB + slack, disk.size_mib);
                        }
                        // PRIVATE sits at the same place with or without in-place updates.
                        let private = layout.os.partition(PartitionId::Private).unwrap();
                        assert_eq!(private.start_mib, 1000 * g + 5);
                    }
                }
            }
        }
    }

    #[test]
    fn invalid_inputs() {
        let err = plan(&input(0, 1, PartitionPlan::Split, true)).unwrap_err();
        assert!(matches!(err, Error::OsImageSize { gib: 0 }));
        assert!(err.to_string().contains("between 1 and 1024 GiB"), "{err}");
        assert!(matches!(
            plan(&input(MAX_OS_IMAGE_GIB + 1, 1, PartitionPlan::Split, true)),
            Err(Error::OsImageSize { .. })
        ));
        let err = plan(&input(2, 0, PartitionPlan::Unified, true)).unwrap_err();
        assert!(matches!(
            err,
            Error::DataImageSize {
                gib: 0,
                plan: PartitionPlan::Unified
            }
        ));
        assert!(err.to_string().contains("unified"), "{err}");
        assert!(matches!(
            plan(&input(
                2,
                MAX_DATA_IMAGE_GIB + 1,
                PartitionPlan::Split,
                true
            )),
            Err(Error::DataImageSize { .. })
        ));
    }
}
