//! The whole assembly: filesystems → dm-verity → GPT disk(s) → compressed artifacts, written
//! into a temporary directory that replaces the final one only when everything succeeded.

use crate::artifacts::ArtifactSet;
use crate::bios;
use crate::efi;
use crate::error::{Error, Result};
use crate::fs::{self, Ext4Spec, RootFs, Usage};
use crate::metadata::{verity_info, DiskRole, Metadata, PartitionUsage};
use partitions::{Bank, DiskPlan, Layout, PartitionId, PartitionPlan, PlanInput};
use sha2::{Digest, Sha256};
use std::fs::File;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};
use twoliter_artifacts::{ArtifactKind, ArtifactName};
use twoliter_engine::ToolRunner;
use uuid::Uuid;

pub use twoliter_artifacts::ImageFormat;

/// Everything that determines an image.
#[derive(Debug, Clone)]
pub struct AssembleInput {
    /// Tree of the root filesystem.
    pub root_dir: PathBuf,
    /// Tree of the BOOT filesystem (kernel, boot configuration).
    pub boot_dir: PathBuf,
    /// Files for the PRIVATE filesystem, if any.
    pub private_dir: Option<PathBuf>,
    /// Variant name.
    pub variant: String,
    /// Architecture name.
    pub arch: String,
    /// Release version (`X.Y.Z`).
    pub version: String,
    /// Build id (short commit, `-dirty` when the tree was dirty).
    pub build_id: String,
    /// OS disk size, GiB.
    pub os_image_gib: u64,
    /// Data disk (or unified DATA partition) size, GiB.
    pub data_image_gib: u64,
    /// Split or unified.
    pub plan: PartitionPlan,
    /// A/B banks.
    pub in_place_updates: bool,
    /// Root filesystem type.
    pub root_fs: RootFs,
    /// Kernel parameters placed before the generated ones.
    pub kernel_parameters: Vec<String>,
    /// Extra disk format.
    pub image_format: ImageFormat,
    /// Directory receiving `<version>-<build>/` and the `latest` link.
    pub output_dir: PathBuf,
    /// Timestamp for every file and filesystem (SOURCE_DATE_EPOCH).
    pub epoch: u64,
}

/// Largest build epoch: ext4's 256-byte inodes store 34-bit seconds.
pub const MAX_EPOCH: u64 = (1 << 34) - 1;

impl AssembleInput {
    /// Checks the values that end up in file names and timestamps; returns the build's name.
    pub fn validate(&self) -> Result<ArtifactName> {
        let name =
            ArtifactName::from_parts(&self.variant, &self.arch, &self.version, &self.build_id)?;
        if !(1..=MAX_EPOCH).contains(&self.epoch) {
            return Err(Error::Invalid(format!(
                "SOURCE_DATE_EPOCH {} is outside 1..={MAX_EPOCH} (0 means \"now\" to e2fsprogs, and ext4 cannot store later times)",
                self.epoch
            )));
        }
        Ok(name)
    }

    /// Seed for salts, UUIDs and GUIDs: a digest of what identifies the image.
    fn seed(&self) -> [u8; 32] {
        let mut hasher = Sha256::new();
        for part in [
            "twoliter-image-v1",
            &self.variant,
            &self.arch,
            &self.version,
            &self.build_id,
        ] {
            hasher.update((part.len() as u64).to_le_bytes());
            hasher.update(part.as_bytes());
        }
        hasher.finalize().into()
    }

    /// A UUID derived from the seed for one purpose (`fs/root`).
    fn uuid(&self, purpose: &str) -> Uuid {
        partitions::guid::derive_guid(&self.seed(), purpose)
    }
}

/// What the named step took.
#[derive(Debug, Clone)]
pub struct Timing {
    /// Step name.
    pub step: &'static str,
    /// Wall time.
    pub elapsed: Duration,
}

/// A finished assembly.
#[derive(Debug)]
pub struct Assembled {
    /// The directory holding the artifacts (`<output>/<version>-<build>`).
    pub dir: PathBuf,
    /// The metadata written beside them.
    pub metadata: Metadata,
    /// How long each step took.
    pub timings: Vec<Timing>,
}

/// Assembles the image described by `input`, running tools through `runner`. `progress` is told
/// the name of each step as it starts (for a progress display).
pub fn assemble(
    runner: &dyn ToolRunner,
    input: &AssembleInput,
    progress: &dyn Fn(&'static str),
) -> Result<Assembled> {
    let name = input.validate()?;
    let mut clock = Clock::start();
    let named = |what: &'static str| {
        move |error: Error| match error {
            Error::MissingInput { path, detail } => Error::MissingInput {
                path,
                detail: format!("{detail} (the {what})"),
            },
            other => other,
        }
    };
    let root_entries = fs::walk(&input.root_dir).map_err(named("root tree"))?;
    let boot_entries = fs::walk(&input.boot_dir).map_err(named("boot tree"))?;
    if let Some(private) = &input.private_dir {
        fs::walk(private).map_err(named("private tree"))?;
    }
    if input.output_dir.exists() && !input.output_dir.is_dir() {
        return Err(Error::MissingInput {
            path: input.output_dir.clone(),
            detail: "the output directory is not a directory".into(),
        });
    }
    let layout = partitions::plan(&PlanInput {
        os_image_gib: input.os_image_gib,
        data_image_gib: input.data_image_gib,
        plan: input.plan,
        in_place_updates: input.in_place_updates,
        seed: input.seed(),
    })?;
    let part = |id: PartitionId| -> Result<&partitions::PlannedPartition> {
        layout
            .disks()
            .find_map(|d| d.partition(id))
            .ok_or_else(|| Error::Invalid(format!("the layout has no {id} partition")))
    };
    let (efi, boot, root, hash, private) = (
        part(PartitionId::Efi(Bank::A))?,
        part(PartitionId::Boot(Bank::A))?,
        part(PartitionId::Root(Bank::A))?,
        part(PartitionId::Hash(Bank::A))?,
        part(PartitionId::Private)?,
    );
    let data_id = match input.plan {
        PartitionPlan::Split => PartitionId::Data(Bank::B),
        PartitionPlan::Unified => PartitionId::Data(Bank::A),
    };
    let data = part(data_id)?;
    fits("the root tree", fs::tree_footprint(&root_entries), root)?;
    fits("the boot tree", fs::tree_footprint(&boot_entries), boot)?;

    std::fs::create_dir_all(&input.output_dir)
        .map_err(|e| Error::io(&input.output_dir, "create", e))?;
    let set = ArtifactSet::begin(&input.output_dir, name.clone())?;
    let work = set.work_dir().to_path_buf();

    // Root filesystem.
    progress("root filesystem");
    let root_image = work.join(format!("root.{}", input.root_fs.extension()));
    let root_usage = match input.root_fs {
        RootFs::Ext4 => {
            fs::make_ext4_fitted(
                runner,
                &Ext4Spec {
                    label: "root",
                    uuid: input.uuid("fs/root"),
                    epoch: input.epoch,
                    journal: false,
                    source: Some(&input.root_dir),
                    size: root.size_bytes(),
                    role: "root",
                    inodes: None,
                },
                &root_entries,
                root.size_bytes(),
                &root_image,
            )
            .map_err(|e| {
                explain_overflow(e, "the root tree", fs::tree_footprint(&root_entries), root)
            })?;
            fs::ext4_usage(runner, &root_image, "root")?
        }
        RootFs::Erofs => {
            let size = fs::make_erofs(
                runner,
                &input.root_dir,
                &root_image,
                input.uuid("fs/root"),
                input.epoch,
            )?;
            Usage { size, used: size }
        }
    };
    fits("the root filesystem", root_usage.size, root)?;
    clock.lap("root filesystem");

    // dm-verity over the root filesystem.
    progress("dm-verity");
    let verity_path = work.join("root.verity");
    let params = twoliter_verity::VerityParams::from_inputs(&[&input.seed(), b"verity/root"]);
    let verity = twoliter_verity::build(&root_image, &verity_path, &params)?;
    fits("the dm-verity hash tree", verity.hash_size, hash)?;
    clock.lap("dm-verity");

    let cmdline = kernel_cmdline(&input.kernel_parameters, &verity);

    // EFI-SYSTEM, BOOT, PRIVATE and DATA filesystems. The boot tree's efi/ becomes the FAT
    // EFI system partition; BOOT gets the rest plus grub/grub.cfg with the command line, where
    // the boot stage reads it.
    progress("other filesystems");
    let boot_tree = work.join("boot-tree");
    fs::copy_tree(&input.boot_dir, &boot_tree)?;
    let efi_tree = work.join("efi-tree");
    match std::fs::rename(boot_tree.join(efi::EFI_TREE), &efi_tree) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            std::fs::create_dir(&efi_tree).map_err(|e| Error::io(&efi_tree, "create", e))?
        }
        other => other.map_err(|e| Error::io(&efi_tree, "move the EFI tree to", e))?,
    }
    // The boot tree's bios/ (GRUB's boot.img and core.img) goes into the MBR and BIOS-BOOT.
    let bios_tree = boot_tree.join(bios::BIOS_TREE);
    let bios_stage = bios::BiosStage::load(&bios_tree)?;
    if bios_tree.exists() {
        std::fs::remove_dir_all(&bios_tree).map_err(|e| Error::io(&bios_tree, "remove", e))?;
    }
    let firmware = twoliter_artifacts::FirmwareBoot {
        uefi: efi::removable_media_path(&input.arch)
            .is_some_and(|path| efi_tree.join(path).is_file()),
        bios: bios_stage.is_some(),
    };
    let efi_image = work.join("efi.vfat");
    let id = input.uuid("fs/efi");
    let volume_id = u32::from_le_bytes([
        id.as_bytes()[0],
        id.as_bytes()[1],
        id.as_bytes()[2],
        id.as_bytes()[3],
    ]);
    let efi_used = efi::make_fat(
        runner,
        &efi::EfiSpec {
            tree: &efi_tree,
            size: efi.size_bytes(),
            volume_id,
            epoch: input.epoch,
        },
        &efi_image,
    )?;
    fs::write_file(
        &boot_tree.join("grub/grub.cfg"),
        grub_config(input, &cmdline).as_bytes(),
    )?;
    let boot_image = work.join("boot.ext4");
    fs::make_ext4(
        runner,
        &Ext4Spec {
            label: "boot",
            uuid: input.uuid("fs/boot"),
            epoch: input.epoch,
            journal: true,
            source: Some(&boot_tree),
            size: boot.size_bytes(),
            role: "BOOT",
            inodes: None,
        },
        &boot_image,
    )
    .map_err(|e| explain_overflow(e, "the boot tree", fs::tree_footprint(&boot_entries), boot))?;
    let private_image = work.join("private.ext4");
    fs::make_ext4(
        runner,
        &Ext4Spec {
            label: "private",
            uuid: input.uuid("fs/private"),
            epoch: input.epoch,
            journal: true,
            source: input.private_dir.as_deref(),
            size: private.size_bytes(),
            role: "PRIVATE",
            inodes: None,
        },
        &private_image,
    )?;
    let data_image = work.join("data.ext4");
    fs::make_ext4(
        runner,
        &Ext4Spec {
            label: "data",
            uuid: input.uuid("fs/data"),
            epoch: input.epoch,
            journal: true,
            source: None,
            size: data.size_bytes(),
            role: "DATA",
            inodes: None,
        },
        &data_image,
    )?;
    clock.lap("other filesystems");

    // Disks.
    progress("GPT and copy");
    let os_disk = set.work_path(".img");
    write_disk(
        &layout.os,
        &os_disk,
        &[
            (PartitionId::Efi(Bank::A), &efi_image),
            (PartitionId::Boot(Bank::A), &boot_image),
            (PartitionId::Root(Bank::A), &root_image),
            (PartitionId::Hash(Bank::A), &verity_path),
            (PartitionId::Private, &private_image),
            (data_id, &data_image),
        ],
    )?;
    if let Some(stage) = &bios_stage {
        let bios = part(PartitionId::BiosBoot)?;
        stage.install(&os_disk, bios.start_bytes() / 512, bios.size_bytes() / 512)?;
    }
    let data_disk = match &layout.data {
        Some(disk) => {
            let path = set.work_path("-data.img");
            write_disk(disk, &path, &[(data_id, &data_image)])?;
            Some(path)
        }
        None => None,
    };
    clock.lap("GPT and copy");

    // Usage report.
    let usage = |id: PartitionId, used: u64| -> Result<PartitionUsage> {
        let p = part(id)?;
        Ok(PartitionUsage::new(p.label_or_key(), used, p.size_bytes()))
    };
    let partitions_usage = vec![
        usage(PartitionId::Efi(Bank::A), efi_used)?,
        usage(
            PartitionId::Boot(Bank::A),
            fs::ext4_usage(runner, &boot_image, "BOOT")?.used,
        )?,
        usage(PartitionId::Root(Bank::A), root_usage.size)?,
        usage(PartitionId::Hash(Bank::A), verity.hash_size)?,
        usage(
            PartitionId::Private,
            fs::ext4_usage(runner, &private_image, "PRIVATE")?.used,
        )?,
        usage(data_id, fs::ext4_usage(runner, &data_image, "DATA")?.used)?,
    ];

    // Compressed and converted artifacts.
    progress("compression");
    set.compress(&os_disk, ArtifactKind::OsDisk)?;
    if let Some(path) = &data_disk {
        set.compress(path, ArtifactKind::DataDisk)?;
    }
    set.compress(&boot_image, ArtifactKind::Boot)?;
    set.compress(&root_image, ArtifactKind::Root(input.root_fs))?;
    set.compress(&verity_path, ArtifactKind::Verity)?;
    clock.lap("compression");
    match input.image_format {
        ImageFormat::Raw => {}
        format => {
            progress("conversion");
            set.convert(runner, &os_disk, format, DiskRole::Os)?;
            if let Some(path) = &data_disk {
                set.convert(runner, path, format, DiskRole::Data)?;
            }
            clock.lap("conversion");
        }
    }

    let metadata = Metadata {
        name,
        image_format: input.image_format,
        partition_plan: input.plan,
        in_place_updates: input.in_place_updates,
        os_image_size_gib: input.os_image_gib,
        data_image_size_gib: input.data_image_gib,
        root_filesystem: input.root_fs,
        source_date_epoch: input.epoch,
        kernel_cmdline: cmdline,
        boot_partuuid_placeholder: twoliter_verity::GRUB_BOOT_PARTUUID_VAR.to_string(),
        firmware,
        verity: verity_info(&verity),
        disks: layout_report(&layout),
        partitions: partitions_usage,
        artifacts: Vec::new(),
    };
    progress("finish");
    let (dir, metadata) = set.finish(metadata)?;
    clock.lap("finish");
    Ok(Assembled {
        dir,
        metadata,
        timings: clock.laps,
    })
}

trait LabelOrKey {
    fn label_or_key(&self) -> String;
}

impl LabelOrKey for partitions::PlannedPartition {
    /// The GPT label, or the key for the unlabelled DATA partitions.
    fn label_or_key(&self) -> String {
        if self.label.is_empty() {
            self.id.key()
        } else {
            self.label.to_string()
        }
    }
}

fn layout_report(layout: &Layout) -> Vec<crate::metadata::DiskReport> {
    layout
        .disks()
        .map(|disk| crate::metadata::DiskReport {
            disk: match disk.kind {
                partitions::DiskKind::Os => DiskRole::Os,
                partitions::DiskKind::Data => DiskRole::Data,
            },
            size_mib: disk.size_mib,
            disk_guid: disk.disk_guid.to_string(),
            partitions: disk
                .partitions
                .iter()
                .map(|p| crate::metadata::PartitionReport {
                    number: p.number,
                    name: p.label_or_key(),
                    type_guid: p.type_guid.to_string(),
                    partuuid: p.partition_guid.to_string(),
                    start_mib: p.start_mib,
                    size_mib: p.size_mib,
                    attributes: p.attributes.bits(),
                })
                .collect(),
        })
        .collect()
}

/// The GRUB configuration written to BOOT: one entry booting `vmlinuz` with `cmdline`, whose
/// `$boot_uuid` the boot stage sets to the PARTUUID of the BOOT partition it chose.
pub fn grub_config(input: &AssembleInput, cmdline: &str) -> String {
    format!(
        "# Written by twoliter. The boot stage sets $boot_uuid to the PARTUUID of the BOOT\n\
         # partition it chose, so this command line serves either bank.\n\
         set default=\"0\"\n\
         set timeout=\"0\"\n\
         menuentry \"{} {} {}-{}\" {{\n    linux ($root)/vmlinuz {cmdline}\n}}\n",
        input.variant, input.arch, input.version, input.build_id
    )
}

/// The kernel command line of DESIGN §2.6, with the BOOT PARTUUID left as GRUB's variable.
pub fn kernel_cmdline(parameters: &[String], verity: &twoliter_verity::VerityOutput) -> String {
    let mut parts: Vec<String> = parameters.to_vec();
    parts.extend(["root=/dev/dm-0", "rootwait", "ro"].map(String::from));
    parts.push(verity.kernel_dm_mod_create(twoliter_verity::GRUB_BOOT_PARTUUID_VAR));
    parts.join(" ")
}

fn fits(what: &str, needed: u64, partition: &partitions::PlannedPartition) -> Result<()> {
    if needed <= partition.size_bytes() {
        return Ok(());
    }
    Err(Error::DoesNotFit {
        what: what.to_string(),
        partition: partition.label_or_key(),
        needed_mib: needed.div_ceil(partitions::MIB),
        capacity_mib: partition.size_mib,
        hint: "raise the OS image size (image-layout.os-image-size-gib, or --os-image-size-gib) or make the tree smaller",
    })
}

/// Turns a failed mkfs for a too-large tree into a size error naming the partition.
fn explain_overflow(
    error: Error,
    what: &str,
    footprint: u64,
    partition: &partitions::PlannedPartition,
) -> Error {
    if fs::is_out_of_space(&error) {
        Error::NoRoomForMetadata {
            what: what.to_string(),
            partition: partition.label_or_key(),
            content_mib: footprint.div_ceil(partitions::MIB),
            capacity_mib: partition.size_mib,
        }
    } else {
        error
    }
}

/// Creates `path` as a sparse disk with `disk`'s GPT and copies each image to its partition.
fn write_disk(disk: &DiskPlan, path: &Path, contents: &[(PartitionId, &Path)]) -> Result<()> {
    fs::create_sparse(path, disk.size_bytes())?;
    let mut out = File::options()
        .write(true)
        .open(path)
        .map_err(|e| Error::io(path, "open", e))?;
    for (id, image) in contents {
        if let Some(partition) = disk.partition(*id) {
            copy_sparse(image, &mut out, path, partition.start_bytes())?;
        }
    }
    out.sync_all().map_err(|e| Error::io(path, "sync", e))?;
    drop(out);
    partitions::write_table(disk, path)?;
    Ok(())
}

/// Copies `image` into `out` at `offset`, reading only the data ranges of a sparse image and
/// skipping all-zero 4 KiB blocks, so the disk stays sparse.
fn copy_sparse(image: &Path, out: &mut File, out_path: &Path, offset: u64) -> Result<()> {
    use std::os::unix::fs::FileExt;
    const BLOCK: usize = 4096;
    let input = File::open(image).map_err(|e| Error::io(image, "open", e))?;
    let len = input
        .metadata()
        .map_err(|e| Error::io(image, "stat", e))?
        .len();
    let ranges =
        twoliter_sparse_file::data_ranges(&input, len).map_err(|e| Error::io(image, "scan", e))?;
    let mut buffer = vec![0u8; 1 << 20];
    for (start, end) in ranges {
        let mut position = start;
        while position < end {
            let n = ((end - position) as usize).min(buffer.len());
            input
                .read_exact_at(&mut buffer[..n], position)
                .map_err(|e| Error::io(image, "read", e))?;
            for (index, block) in buffer[..n].chunks(BLOCK).enumerate() {
                if block.iter().any(|&b| b != 0) {
                    out.write_all_at(block, offset + position + (index * BLOCK) as u64)
                        .map_err(|e| Error::io(out_path, "write", e))?;
                }
            }
            position += n as u64;
        }
    }
    Ok(())
}

/// Times consecutive steps.
struct Clock {
    last: Instant,
    laps: Vec<Timing>,
}

impl Clock {
    fn start() -> Self {
        Self {
            last: Instant::now(),
            laps: Vec::new(),
        }
    }

    fn lap(&mut self, step: &'static str) {
        let now = Instant::now();
        let elapsed = now - self.last;
        tracing::debug!("{step}: {:.2} s", elapsed.as_secs_f64());
        self.laps.push(Timing { step, elapsed });
        self.last = now;
    }
}
