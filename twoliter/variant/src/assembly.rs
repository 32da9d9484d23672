//! The image assembly input of a variant: its manifest's layout, features, format and kernel
//! parameters, with the overrides `twoliter image assemble` takes as flags.

use crate::Error;
use std::path::PathBuf;
use twoliter_image::{AssembleInput, ImageFormat, RootFs};
use twoliter_project::{Arch, Epochs, ImageFeature, ImageLayout, Project, Variant};

/// What a caller sets instead of the variant's manifest (each `None` keeps the manifest's value).
#[derive(Debug, Clone, Default)]
pub struct AssemblyOverrides {
    /// Files for the PRIVATE filesystem.
    pub private_dir: Option<PathBuf>,
    /// Where the artifact directories go [default: `build/images/<arch>-<variant>`].
    pub output_dir: Option<PathBuf>,
    /// The OS version [default: the project's `release-version`].
    pub release_version: Option<semver::Version>,
    /// The build id [default: the project's short commit].
    pub build_id: Option<String>,
    /// `image-layout.os-image-size-gib`.
    pub os_image_size_gib: Option<u32>,
    /// `image-layout.data-image-size-gib`.
    pub data_image_size_gib: Option<u32>,
    /// `image-layout.partition-plan`.
    pub partition_plan: Option<twoliter_project::PartitionPlan>,
    /// Turn the `in-place-updates` feature off.
    pub no_in_place_updates: bool,
    /// The root filesystem [default: erofs with `erofs-root-partition`, else ext4].
    pub root_fs: Option<RootFs>,
    /// `image-format`.
    pub image_format: Option<ImageFormat>,
    /// `kernel-parameters` (replacing the manifest's when not empty).
    pub kernel_parameters: Vec<String>,
    /// The timestamp of every file [default: `SOURCE_DATE_EPOCH`, else the commit time of the
    /// project's HEAD (see [`twoliter_project::Epochs::image`])].
    pub source_date_epoch: Option<u64>,
}

/// Where the variant's trees are and what it is.
#[derive(Debug, Clone, Copy)]
pub struct AssemblySubject<'a> {
    /// The project, when there is one (`image assemble` works without).
    pub project: Option<&'a Project>,
    /// The variant's resolved manifest, when the project defines it.
    pub variant: Option<&'a Variant>,
    /// The variant's name.
    pub name: &'a str,
    /// The architecture built.
    pub arch: Arch,
}

/// Refuses an architecture the variant does not list in `supported-arches`.
pub fn check_arch(variant: &Variant, arch: Arch) -> Result<(), Error> {
    if variant.supported_arches.contains(&arch) {
        return Ok(());
    }
    Err(Error::UnsupportedArch {
        variant: variant.name.clone(),
        supported: variant
            .supported_arches
            .iter()
            .map(|a| a.name())
            .collect::<Vec<_>>()
            .join(", "),
        manifest: variant.manifest.clone(),
        arch,
    })
}

/// The assembly input for the trees `root` and `boot` of `subject`.
pub fn assembly_input(
    subject: AssemblySubject<'_>,
    root: PathBuf,
    boot: PathBuf,
    overrides: &AssemblyOverrides,
) -> Result<AssembleInput, Error> {
    let AssemblySubject {
        project,
        variant,
        name,
        arch,
    } = subject;
    if let Some(variant) = variant {
        check_arch(variant, arch)?;
    }
    let ImageLayout {
        os_image_size_gib,
        data_image_size_gib,
        partition_plan,
        ..
    } = variant.map(|v| v.image_layout).unwrap_or_default();
    let feature = |f: ImageFeature| variant.map_or(f.default_enabled(), |v| v.feature(f));
    let version = match (&overrides.release_version, project) {
        (Some(version), _) => version.clone(),
        (None, Some(project)) => project.config.release_version.clone(),
        (None, None) => return Err(Error::NoReleaseVersion),
    };
    let project_root = project.map_or_else(|| PathBuf::from("."), |p| p.root.clone());
    let plan = match overrides.partition_plan.unwrap_or(partition_plan) {
        twoliter_project::PartitionPlan::Split => partitions::PartitionPlan::Split,
        twoliter_project::PartitionPlan::Unified => partitions::PartitionPlan::Unified,
    };
    let root_fs = overrides
        .root_fs
        .unwrap_or(if feature(ImageFeature::ErofsRootPartition) {
            RootFs::Erofs
        } else {
            RootFs::Ext4
        });
    let image_format = overrides
        .image_format
        .or(variant.map(|v| v.image_format))
        .unwrap_or_default();
    let kernel_parameters = if overrides.kernel_parameters.is_empty() {
        variant
            .map(|v| v.kernel_parameters.clone())
            .unwrap_or_default()
    } else {
        for parameter in &overrides.kernel_parameters {
            twoliter_project::variant::check_kernel_parameter(parameter).map_err(|problem| {
                Error::KernelParameter {
                    parameter: parameter.clone(),
                    problem,
                }
            })?;
        }
        overrides.kernel_parameters.clone()
    };
    if let Some(unsupported) = ImageFeature::ALL
        .into_iter()
        .find(|&f| !f.buildable() && feature(f))
    {
        return Err(Error::UnsupportedFeature(unsupported));
    }
    let output_dir = overrides.output_dir.clone().unwrap_or_else(|| {
        let layout = twoliter_project::ProjectLayout::new(&project_root);
        twoliter_artifacts::images_dir(layout.build_dir(), arch, name)
    });
    Ok(AssembleInput {
        root_dir: root,
        boot_dir: boot,
        private_dir: overrides.private_dir.clone(),
        variant: name.to_string(),
        arch: arch.to_string(),
        version: version.to_string(),
        build_id: overrides
            .build_id
            .clone()
            .unwrap_or_else(|| twoliter_project::build_id::build_id(&project_root)),
        os_image_gib: overrides
            .os_image_size_gib
            .unwrap_or(os_image_size_gib)
            .into(),
        data_image_gib: overrides
            .data_image_size_gib
            .unwrap_or(data_image_size_gib)
            .into(),
        plan,
        in_place_updates: !overrides.no_in_place_updates && feature(ImageFeature::InPlaceUpdates),
        root_fs,
        kernel_parameters,
        image_format,
        output_dir,
        epoch: Epochs::from_env()?.image(overrides.source_date_epoch, &project_root),
    })
}
