//! The artifacts of a built variant, read through the artifact contract
//! ([`twoliter_artifacts`]) and checked before anything is uploaded: a wrong file must be an
//! error here, not a broken AMI later.

use crate::{Error, Result};
use std::path::{Path, PathBuf};
use twoliter_artifacts::{ArtifactDir, ArtifactKind, DiskReport, DiskRole};
use twoliter_project::Arch;

/// Opens the artifact directory `dir` and checks that it holds a build of `variant` (when
/// named) for `arch` (when named).
///
/// # Errors
/// [`Error::Artifacts`] when `dir` is no artifact directory, [`Error::Artifact`] when it holds
/// another variant's or architecture's build.
pub fn open_checked(dir: &Path, variant: Option<&str>, arch: Option<Arch>) -> Result<ArtifactDir> {
    let artifacts = ArtifactDir::open(dir)?;
    let name = artifacts.name();
    if let Some(arch) = arch.filter(|arch| *arch != name.arch) {
        return Err(Error::Artifact {
            path: dir.to_path_buf(),
            message: format!(
                "holds a {} build, not {arch}; drop --arch or pass the {arch} build",
                name.arch
            ),
        });
    }
    if let Some(variant) = variant.filter(|variant| *variant != name.variant) {
        return Err(Error::Artifact {
            path: dir.to_path_buf(),
            message: format!("holds a build of {}, not {variant}", name.variant),
        });
    }
    Ok(artifacts)
}

/// Decompresses the OS (and data) image of `artifacts` into `work` and checks each against the
/// metadata: the size, both GPT copies, the disk GUID and every partition's name, type and
/// GUID.
///
/// # Errors
/// [`Error::Artifact`] naming the image that is missing or does not match, and
/// [`Error::Decompress`].
pub fn prepare(artifacts: &ArtifactDir, work: &Path) -> Result<PreparedImages> {
    let mut os = None;
    let mut data = None;
    for (role, kind) in artifacts.metadata().disk_kinds() {
        let raw = prepare_disk(artifacts, role, kind, work)?;
        match role {
            DiskRole::Os => os = Some(raw),
            DiskRole::Data => data = Some(raw),
        }
    }
    let os = os.ok_or_else(|| Error::Artifact {
        path: artifacts.path(ArtifactKind::Metadata),
        message: "the build has no OS disk".into(),
    })?;
    Ok(PreparedImages { os, data })
}

fn prepare_disk(
    artifacts: &ArtifactDir,
    role: DiskRole,
    kind: ArtifactKind,
    work: &Path,
) -> Result<PathBuf> {
    let report = artifacts
        .metadata()
        .disk(role)
        .ok_or_else(|| Error::Artifact {
            path: artifacts.path(ArtifactKind::Metadata),
            message: format!("the metadata describes no `{role}` disk"),
        })?;
    let compressed = artifacts.path(kind);
    if !compressed.is_file() {
        return Err(Error::Artifact {
            path: compressed,
            message: "is missing; rebuild the variant".into(),
        });
    }
    let raw = work.join(format!("{}-{role}.img", artifacts.name()));
    let size =
        twoliter_image::lz4::decompress_file(&compressed, &raw).map_err(Error::Decompress)?;
    check_disk(&compressed, &raw, size, report)?;
    Ok(raw)
}

/// Decompressed, checked raw disk images.
#[derive(Debug, Clone)]
pub struct PreparedImages {
    /// The OS disk.
    pub os: PathBuf,
    /// The data disk, if the build has one.
    pub data: Option<PathBuf>,
}

/// Checks a raw disk image against the partition table the metadata records.
pub fn check_disk(shown: &Path, raw: &Path, size: u64, report: &DiskReport) -> Result<()> {
    let bad = |message: String| Error::Artifact {
        path: shown.to_path_buf(),
        message,
    };
    let expected = report.size_mib * 1024 * 1024;
    if size != expected {
        return Err(bad(format!(
            "decompresses to {size} bytes, but the metadata says the {} disk is {expected} bytes; rebuild the variant",
            report.disk
        )));
    }
    let inspection = partitions::image::inspect_table(raw).map_err(|e| {
        bad(format!(
            "is not a raw disk image with a GUID partition table ({e}); publish takes the raw .img.lz4 that `twoliter build variant` writes"
        ))
    })?;
    if let Some(problem) = inspection
        .primary_problem
        .as_ref()
        .or(inspection.backup_problem.as_ref())
    {
        return Err(bad(format!("has a damaged GPT copy: {problem}")));
    }
    let table = inspection.table;
    if !table
        .disk_guid
        .to_string()
        .eq_ignore_ascii_case(&report.disk_guid)
    {
        return Err(bad(format!(
            "has disk GUID {}, but the metadata records {}; the image and metadata come from different builds",
            table.disk_guid, report.disk_guid
        )));
    }
    for expected in &report.partitions {
        let Some(found) = table.partition(expected.number) else {
            return Err(bad(format!(
                "has no partition {} ({} in the metadata)",
                expected.number, expected.name
            )));
        };
        // The DATA partitions carry no GPT label; the metadata calls them DATA-A/DATA-B.
        let label_ok = found.label == expected.name || found.label.is_empty();
        if !label_ok
            || !found
                .type_guid
                .to_string()
                .eq_ignore_ascii_case(&expected.type_guid)
            || !found
                .partition_guid
                .to_string()
                .eq_ignore_ascii_case(&expected.partuuid)
        {
            return Err(bad(format!(
                "partition {} is '{}' (type {}, PARTUUID {}), but the metadata records {} (type {}, PARTUUID {}); the image and metadata come from different builds",
                expected.number,
                found.label,
                found.type_guid,
                found.partition_guid,
                expected.name,
                expected.type_guid,
                expected.partuuid
            )));
        }
    }
    if table.partitions.len() != report.partitions.len() {
        return Err(bad(format!(
            "has {} partitions, the metadata records {}",
            table.partitions.len(),
            report.partitions.len()
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use partitions::PartitionPlan;

    #[test]
    fn open_checked_names_the_build_it_found() {
        let tmp = tempfile::tempdir().unwrap();
        let name = test_support::build::name("aws-dev", "x86_64", "1.2.3", "abc");
        let dir = test_support::build::write_build(tmp.path(), &name, PartitionPlan::Split, |_| {
            b"x".to_vec()
        });
        let opened = open_checked(&dir, Some("aws-dev"), Some(Arch::X86_64)).unwrap();
        assert_eq!(opened.name(), &name);
        let error = open_checked(&dir, None, Some(Arch::Aarch64)).unwrap_err();
        assert!(
            error
                .to_string()
                .contains("holds a x86_64 build, not aarch64"),
            "{error}"
        );
        let error = open_checked(&dir, Some("aws-ecs-2"), None).unwrap_err();
        assert!(error.to_string().contains("not aws-ecs-2"), "{error}");
        let error = open_checked(&tmp.path().join("none"), None, None).unwrap_err();
        assert!(
            error.to_string().contains("twoliter build variant"),
            "{error}"
        );
    }
}
