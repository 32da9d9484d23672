//! Publishing one build as AMIs: the request's rules (AMI name, volume sizes, default
//! settings), the lock and work directory beside the artifacts, the upload and registration,
//! and the `<name>-amis.json` record merged with what earlier runs published.

use crate::ami::{self, AmiOptions, PublishReport};
use crate::amis::{self, AmisFile};
use crate::artifacts;
use crate::aws::{Aws, Region};
use crate::{Error, Result};
use partitions::PartitionPlan;
use std::num::NonZeroUsize;
use std::path::PathBuf;
use std::time::Duration;
use twoliter_artifacts::{ArtifactDir, ArtifactKind, FirmwareBoot};
use twoliter_project::{AmiSpec, BootMode};

/// What to publish a build as.
#[derive(Debug, Clone)]
pub struct AmiRequest {
    /// The AMI name; `None` for the build's name.
    pub name: Option<String>,
    /// The AMI description; `None` for the name.
    pub description: Option<String>,
    /// Regions, the first one the source.
    pub regions: Vec<Region>,
    /// The variant's AMI settings.
    pub spec: AmiSpec,
    /// The variant's published volume size hint, GiB.
    pub size_hint_gib: u32,
    /// EBS blocks uploaded at the same time.
    pub concurrency: NonZeroUsize,
    /// How long to wait for snapshots and images to become ready.
    pub wait_timeout: Duration,
}

/// What [`publish_build`] did.
#[derive(Debug, Clone, serde::Serialize)]
pub struct PublishOutcome {
    /// Where the AMIs are recorded.
    pub amis_file: PathBuf,
    /// The AMIs, by region (with those earlier runs published in other regions).
    pub amis: AmisFile,
    /// What was reused, created and uploaded.
    pub report: PublishReport,
}

/// EC2's rule for AMI names: 3–128 characters of letters, digits, ( ) [ ] space . / - ' @ _.
///
/// # Errors
/// [`Error::Usage`] naming the rule.
pub fn check_ami_name(name: &str) -> Result<()> {
    let ok = (3..=128).contains(&name.len())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "()[] ./-'@_".contains(c));
    if ok {
        Ok(())
    } else {
        Err(Error::Usage(format!(
            "--name '{name}': AMI names are 3 to 128 letters, digits and ( ) [ ] space . / - ' @ _"
        )))
    }
}

/// The root and data volume sizes, GiB, for an OS disk of `os_gib` and the size hint: with a
/// data disk (split plan) the root volume is the OS disk and the data volume takes the rest of
/// the hint (at least 1 GiB); without one, the root volume is the hint (or the OS disk when
/// larger).
///
/// # Errors
/// [`Error::Usage`] when a size does not fit EC2's 32-bit volume size.
pub fn volume_sizes(os_gib: u64, hint_gib: u32, plan: PartitionPlan) -> Result<(i32, Option<i32>)> {
    let too_big = |what: &str, gib: u64| {
        Error::Usage(format!(
            "{what} of {gib} GiB is larger than an EBS volume can be"
        ))
    };
    let os = i32::try_from(os_gib).map_err(|_| too_big("the OS image", os_gib))?;
    let hint = i32::try_from(hint_gib).map_err(|_| too_big("the size hint", hint_gib.into()))?;
    Ok(match plan {
        PartitionPlan::Split => (os, Some((hint - os).max(1))),
        PartitionPlan::Unified => (os.max(hint), None),
    })
}

/// The boot mode to register `build` with: the variant's `ami.boot-mode` when the image can boot
/// in it, else the mode its firmware stages give (`uefi-preferred` with both, `uefi` with only
/// the UEFI stage); never a mode the image cannot boot.
///
/// # Errors
/// [`Error::Boot`] when the image has no firmware boot stage, or lacks the one the variant's
/// boot mode needs.
pub fn boot_mode(build: &str, asked: Option<BootMode>, firmware: FirmwareBoot) -> Result<BootMode> {
    let stages = match (firmware.uefi, firmware.bios) {
        (true, true) => "a UEFI and a BIOS boot stage",
        (true, false) => "only a UEFI boot stage",
        (false, true) => "only a BIOS boot stage",
        (false, false) => "no firmware boot stage",
    };
    let Some(carried) = firmware.boot_mode() else {
        return Err(Error::Boot {
            build: build.to_string(),
            problem: format!("has {stages} and would not boot on EC2; rebuild it with a boot stage package in the variant (core-kit's boot-stage)"),
        });
    };
    match asked {
        Some(mode) if !firmware.boots_in(mode) => Err(Error::Boot {
            build: build.to_string(),
            problem: format!(
                "has {stages}, so it cannot boot in ami.boot-mode `{}`; use `{}` or add the missing stage",
                mode.as_str(),
                carried.as_str()
            ),
        }),
        Some(mode) => Ok(mode),
        None => Ok(carried),
    }
}

/// Whether any AMI recorded in `amis` is shared (then new copies need the same grants).
pub fn has_grants(amis: &AmisFile) -> bool {
    amis.values()
        .any(|i| i.public || !i.launch_permissions.is_empty())
}

/// Publishes the build in `artifacts` as `request` says: takes the build's publish lock,
/// decompresses and checks the disks in a work directory beside the artifacts, uploads and
/// registers (or reuses) the AMI and copies it, then records the AMIs in `<name>-amis.json`,
/// keeping the regions earlier runs published to. Warns when new AMIs are private while the
/// earlier ones were shared.
///
/// # Errors
/// Any failure of the steps, naming the file, region or resource.
pub async fn publish_build(
    aws: &Aws,
    artifacts: &ArtifactDir,
    request: &AmiRequest,
) -> Result<PublishOutcome> {
    let name = request
        .name
        .clone()
        .unwrap_or_else(|| artifacts.name().to_string());
    check_ami_name(&name)?;
    let metadata = artifacts.metadata();
    let mut spec = request.spec.clone();
    spec.boot_mode = Some(boot_mode(
        &artifacts.name().to_string(),
        spec.boot_mode,
        metadata.firmware,
    )?);
    let (os_volume_gib, data_volume_gib) = volume_sizes(
        metadata.os_image_size_gib,
        request.size_hint_gib,
        metadata.partition_plan,
    )?;
    let options = AmiOptions {
        description: request.description.clone().unwrap_or_else(|| name.clone()),
        name: name.clone(),
        regions: request.regions.clone(),
        arch: artifacts.name().arch,
        os_volume_gib,
        data_volume_gib,
        upload: twoliter_ebs_upload::UploadOptions {
            description: Some(name.clone()),
            tags: request.spec.tags.clone().into_iter().collect(),
            concurrency: request.concurrency,
            ..Default::default()
        },
        spec,
        wait_timeout: request.wait_timeout,
    };
    let lock = artifacts.publish_lock()?;
    let work = lock.work_dir()?;
    let images = artifacts::prepare(artifacts, work.path())?;
    tracing::info!(
        "checked {} (GPT and partitions match the build's metadata)",
        artifacts.path(ArtifactKind::OsDisk).display()
    );
    let (mut amis, report) = ami::publish(aws, &images, &options).await?;
    drop(work);
    let amis_file = artifacts.amis_file(&name);
    if amis_file.exists() {
        let earlier = amis::read(&amis_file)?;
        if !report.created.is_empty() && has_grants(&earlier) {
            tracing::warn!(
                "new AMIs in {} are private; rerun the --grant/--make-public commands to share them like the others",
                report.created.join(", ")
            );
        }
        let kept = amis::merge_earlier(&mut amis, &earlier);
        if !kept.is_empty() {
            tracing::info!(
                "{} keeps the AMIs published earlier in {}",
                amis_file.display(),
                kept.join(", ")
            );
        }
    }
    amis::write(&amis_file, &amis)?;
    Ok(PublishOutcome {
        amis_file,
        amis,
        report,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::amis::{Image, LaunchPermission};

    #[test]
    fn ami_names_follow_ec2s_rule() {
        for good in [
            "abc",
            "bottlerocket-aws-dev-x86_64-1.2.3-abc",
            "a (b) [c] d/e'f@g_h",
        ] {
            check_ami_name(good).unwrap();
        }
        let long = "a".repeat(129);
        for bad in ["ab", long.as_str(), "a*b", "naïve"] {
            let error = check_ami_name(bad).unwrap_err();
            assert!(error.to_string().contains("3 to 128"), "{bad}: {error}");
        }
    }

    #[test]
    fn volumes_are_sized_from_the_hint() {
        assert_eq!(
            volume_sizes(2, 22, PartitionPlan::Split).unwrap(),
            (2, Some(20))
        );
        assert_eq!(
            volume_sizes(4, 2, PartitionPlan::Split).unwrap(),
            (4, Some(1))
        );
        assert_eq!(
            volume_sizes(2, 22, PartitionPlan::Unified).unwrap(),
            (22, None)
        );
        assert_eq!(
            volume_sizes(30, 22, PartitionPlan::Unified).unwrap(),
            (30, None)
        );
        let error = volume_sizes(u64::MAX, 22, PartitionPlan::Unified).unwrap_err();
        assert!(
            error.to_string().contains("larger than an EBS volume"),
            "{error}"
        );
    }

    #[test]
    fn grants_are_found_in_the_record() {
        let image = |public, launch_permissions| Image {
            id: "ami-1".into(),
            name: "n".into(),
            public,
            launch_permissions,
            snapshots: vec![],
        };
        let mut amis = AmisFile::new();
        amis.insert("us-west-2".into(), image(false, vec![]));
        assert!(!has_grants(&amis));
        amis.insert(
            "us-east-1".into(),
            image(false, vec![LaunchPermission::UserId("111122223333".into())]),
        );
        assert!(has_grants(&amis));
        amis.clear();
        amis.insert("us-west-2".into(), image(true, vec![]));
        assert!(has_grants(&amis));
    }

    #[test]
    fn the_boot_mode_is_one_the_image_can_boot() {
        let stages = |uefi, bios| FirmwareBoot { uefi, bios };
        let uefi_only = stages(true, false);
        assert_eq!(boot_mode("b", None, uefi_only).unwrap(), BootMode::Uefi);
        assert_eq!(
            boot_mode("b", None, stages(true, true)).unwrap(),
            BootMode::UefiPreferred
        );
        assert_eq!(
            boot_mode("b", Some(BootMode::Uefi), stages(true, true)).unwrap(),
            BootMode::Uefi
        );
        let refused = boot_mode("metal-dev-1.0.0", Some(BootMode::UefiPreferred), uefi_only)
            .unwrap_err()
            .to_string();
        assert!(
            refused.contains("only a UEFI boot stage") && refused.contains("use `uefi`"),
            "{refused}"
        );
        let none = boot_mode("metal-dev-1.0.0", None, stages(false, false))
            .unwrap_err()
            .to_string();
        assert!(none.contains("no firmware boot stage"), "{none}");
    }
}
