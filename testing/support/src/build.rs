//! Fake builds, laid out through the artifact contract as image assembly writes them: the
//! images (with made-up contents), the metadata file, the friendly links and `latest`.

use partitions::PartitionPlan;
use std::path::{Path, PathBuf};
use twoliter_artifacts::{
    images_dir, ArtifactKind, ArtifactName, DiskReport, DiskRole, ImageFormat, Metadata, RootFs,
    VerityInfo, LATEST,
};

/// The images a build of `plan` has, in the order image assembly writes them.
pub fn image_kinds(plan: PartitionPlan) -> Vec<ArtifactKind> {
    let mut kinds = vec![ArtifactKind::OsDisk];
    if plan == PartitionPlan::Split {
        kinds.push(ArtifactKind::DataDisk);
    }
    kinds.extend([
        ArtifactKind::Boot,
        ArtifactKind::Root(RootFs::Ext4),
        ArtifactKind::Verity,
    ]);
    kinds
}

/// A build named `name` of the partition `plan` under `build_dir` (a project's `build/`), with
/// each image holding `contents(kind)`; `latest` points at it. Returns the artifact directory.
pub fn write_build(
    build_dir: &Path,
    name: &ArtifactName,
    plan: PartitionPlan,
    contents: impl Fn(ArtifactKind) -> Vec<u8>,
) -> PathBuf {
    let base = images_dir(build_dir, name.arch, &name.variant);
    let dir = base.join(name.release());
    std::fs::create_dir_all(&dir).unwrap();
    let mut files = Vec::new();
    for kind in image_kinds(plan) {
        let file = kind.file_name(name);
        std::fs::write(dir.join(&file), contents(kind)).unwrap();
        files.push(file);
    }
    let disk = |disk| DiskReport {
        disk,
        size_mib: 1,
        disk_guid: "00000000-0000-0000-0000-000000000000".into(),
        partitions: Vec::new(),
    };
    let metadata = Metadata {
        name: name.clone(),
        image_format: ImageFormat::Raw,
        partition_plan: plan,
        in_place_updates: true,
        os_image_size_gib: 2,
        data_image_size_gib: 1,
        root_filesystem: RootFs::Ext4,
        source_date_epoch: 1,
        kernel_cmdline: String::new(),
        boot_partuuid_placeholder: "$boot_uuid".into(),
        firmware: twoliter_artifacts::FirmwareBoot {
            uefi: true,
            bios: false,
        },
        verity: VerityInfo {
            root_hash: String::new(),
            salt: String::new(),
            data_blocks: 0,
            hash_size: 0,
            superblock: true,
        },
        disks: std::iter::once(disk(DiskRole::Os))
            .chain((plan == PartitionPlan::Split).then(|| disk(DiskRole::Data)))
            .collect(),
        partitions: Vec::new(),
        artifacts: Vec::new(),
    };
    let file = ArtifactKind::Metadata.file_name(name);
    std::fs::write(
        dir.join(&file),
        serde_json::to_string_pretty(&metadata).unwrap(),
    )
    .unwrap();
    files.push(file);
    let versioned = name.to_string();
    for file in &files {
        let rest = file.strip_prefix(&versioned).unwrap();
        let link = dir.join(format!("{}{rest}", name.friendly()));
        let _ = std::fs::remove_file(&link);
        std::os::unix::fs::symlink(file, link).unwrap();
    }
    let latest = base.join(LATEST);
    let _ = std::fs::remove_file(&latest);
    std::os::unix::fs::symlink(name.release(), latest).unwrap();
    dir
}

/// The name of a build from text parts (`"metal-dev", "x86_64", "1.0.0", "abcd1234"`).
pub fn name(variant: &str, arch: &str, version: &str, build_id: &str) -> ArtifactName {
    ArtifactName::from_parts(variant, arch, version, build_id).unwrap()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fake_build_opens_through_the_contract() {
        let tmp = std::env::temp_dir().join(format!("test-support-build-{}", std::process::id()));
        let n = name("metal-dev", "x86_64", "1.0.0", "abc");
        write_build(&tmp, &n, PartitionPlan::Split, |_| b"x".to_vec());
        let dir = twoliter_artifacts::ArtifactDir::find(&tmp, "metal-dev", n.arch, None).unwrap();
        assert_eq!(dir.name(), &n);
        assert!(dir.path(ArtifactKind::DataDisk).is_file());
        std::fs::remove_dir_all(&tmp).unwrap();
    }
}
