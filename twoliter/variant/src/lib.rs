//! `twoliter build variant`: the variant's packages and their runtime closure built in the SDK,
//! composed into root and boot trees, and assembled into disk images and artifacts.
//!
//! [`VariantBuild::run`] drives the loop between the package builds and the closure: the
//! variant's `included-packages` are built, composing finds what they require at runtime, and a
//! required package of the variant's kits that is not built yet joins the build (what a build
//! learned is kept in `build/state/<arch>/variant-<name>.packages.json`, so the next build plans
//! once). The whole build has a key made of named inputs ([`IMAGE_LOGIC_VERSION`], every
//! package's key, the resolved variant and the assembly settings): an unchanged build is a
//! no-op, and a rebuild says which input changed.

mod assembly;
mod key;
mod learned;

pub use assembly::{assembly_input, check_arch, AssemblyOverrides, AssemblySubject};
pub use key::IMAGE_LOGIC_VERSION;

use std::path::{Path, PathBuf};
use twoliter_artifacts::{ArtifactDir, ArtifactKind, BUILD_INPUTS_FILE, LATEST};
use twoliter_engine::ContainerRunner;
use twoliter_engine::ToolRunner;
use twoliter_image::{AssembleInput, Assembled};
use twoliter_packages::inputs::Inputs;
use twoliter_packages::{BuildReport, Observer, PackageBuild, SdkImageRef};
use twoliter_project::{Arch, ImageFeature, Project, Variant};
use twoliter_rootfs::{compose, ComposeInput, Composed};

/// Errors of a variant build.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// `SOURCE_DATE_EPOCH` is not a number.
    #[error(transparent)]
    Epoch(#[from] twoliter_project::InvalidEpoch),
    /// The variant does not build for the architecture.
    #[error("variant {variant} builds for {supported} only (supported-arches in {}), not {arch}\nhelp: choose one with --arch", manifest.display())]
    UnsupportedArch {
        /// The variant.
        variant: String,
        /// Its supported architectures.
        supported: String,
        /// Its manifest.
        manifest: PathBuf,
        /// The architecture asked for.
        arch: Arch,
    },
    /// Neither a flag nor a project gives the release version.
    #[error("no project here to take the release version from\nhelp: pass --release-version X.Y.Z or --project-path")]
    NoReleaseVersion,
    /// A kernel parameter given as an override is not allowed.
    #[error("--kernel-parameter: {problem}")]
    KernelParameter {
        /// The parameter.
        parameter: String,
        /// What is wrong with it.
        problem: String,
    },
    /// An image feature that image assembly cannot do yet is on.
    #[error("image feature `{0}` is not supported by image assembly yet\nhelp: turn it off in the variant's image-features")]
    UnsupportedFeature(ImageFeature),
    /// Package builds failed outside a single package (lock, plan, SDK, engine).
    #[error(transparent)]
    Packages(#[from] twoliter_packages::Error),
    /// The root and boot trees could not be composed.
    #[error("cannot compose the root of {variant}")]
    Compose {
        /// The variant.
        variant: String,
        /// Why.
        #[source]
        source: Box<twoliter_rootfs::Error>,
    },
    /// Image assembly failed.
    #[error("image assembly failed")]
    Assemble(#[source] twoliter_image::Error),
    /// A file of the build could not be written.
    #[error(transparent)]
    Io(#[from] fsutil::IoError),
    /// The artifact directory could not be read or written.
    #[error(transparent)]
    Artifacts(twoliter_artifacts::Error),
}

/// What `twoliter build variant` was asked for besides the variant.
#[derive(Debug, Clone)]
pub struct VariantOptions {
    /// Rebuild the image even when nothing changed.
    pub force: bool,
    /// The image's assembly settings.
    pub assembly: AssemblyOverrides,
}

/// How a variant build ended.
#[derive(Debug)]
pub enum VariantOutcome {
    /// A package failed: nothing was composed.
    PackagesFailed {
        /// The SDK the packages built in.
        sdk: SdkImageRef,
        /// The package outcomes.
        report: BuildReport,
    },
    /// Nothing changed since the latest build.
    UpToDate {
        /// The latest artifact directory.
        latest: PathBuf,
    },
    /// A new image was built.
    Built {
        /// The artifacts.
        assembled: Box<Assembled>,
        /// What was composed.
        composed: Box<Composed>,
        /// Why it was built (`changed package:kernel`, `not built before`, `forced`).
        reasons: Vec<String>,
        /// The SDK the packages built in.
        sdk: SdkImageRef,
        /// The package outcomes.
        report: BuildReport,
    },
}

/// The container and tool runners and the observers a variant build reports to.
pub struct Runners<'a> {
    /// Runs package builds.
    pub containers: &'a dyn ContainerRunner,
    /// Runs image tools (mkfs, qemu-img, ...).
    pub tools: &'a dyn ToolRunner,
    /// The SDK image, asked for once every external file is there.
    pub sdk: &'a mut dyn FnMut() -> Result<SdkImageRef, twoliter_packages::Error>,
    /// Hears about package builds.
    pub packages: &'a dyn Observer,
    /// Hears the name of each assembly step.
    pub assembly: &'a dyn Fn(&'static str),
}

/// One variant build.
pub struct VariantBuild<'a> {
    project: &'a Project,
    variant: &'a Variant,
    arch: Arch,
    options: VariantOptions,
}

impl<'a> VariantBuild<'a> {
    /// A build of `variant` of `project` for `arch`; refuses an architecture the variant does
    /// not support.
    pub fn new(
        project: &'a Project,
        variant: &'a Variant,
        arch: Arch,
        options: VariantOptions,
    ) -> Result<Self, Error> {
        check_arch(variant, arch)?;
        Ok(Self {
            project,
            variant,
            arch,
            options,
        })
    }

    /// Builds packages (in `packages`), composes and assembles the image.
    pub fn run(
        &self,
        packages: &PackageBuild,
        runners: Runners<'_>,
    ) -> Result<VariantOutcome, Error> {
        let Runners {
            containers,
            tools,
            sdk,
            packages: package_observer,
            assembly: assembly_progress,
        } = runners;
        let layout = self.project.layout();
        let name = self.variant.name.as_str();
        let learned_file = learned::file(&layout, self.arch, name);
        let wanted: Vec<String> = self
            .variant
            .included_packages
            .iter()
            .map(|p| p.name.clone())
            .collect();
        let mut targets = learned::targets(self.project, self.variant, &wanted, &learned_file);
        let work = layout.work_dir(self.arch, &format!("variant-{name}"));
        let mut resolved_sdk: Option<SdkImageRef> = None;
        let mut sdk_once = || -> Result<SdkImageRef, twoliter_packages::Error> {
            if let Some(sdk) = &resolved_sdk {
                return Ok(sdk.clone());
            }
            let found = sdk()?;
            resolved_sdk = Some(found.clone());
            Ok(found)
        };
        loop {
            let (sdk, report) = packages.build(
                self.project,
                &targets,
                containers,
                &mut sdk_once,
                package_observer,
            )?;
            if !report.failures().is_empty() {
                return Ok(VariantOutcome::PackagesFailed { sdk, report });
            }
            let input = assembly_input(
                AssemblySubject {
                    project: Some(self.project),
                    variant: Some(self.variant),
                    name,
                    arch: self.arch,
                },
                work.join("root"),
                work.join("boot"),
                &self.options.assembly,
            )?;
            let inputs = key::image_inputs(self.variant, &input, &report.keys, None);
            let inputs_file = input.output_dir.join(BUILD_INPUTS_FILE);
            let latest = input.output_dir.join(LATEST);
            let before = read_inputs(&inputs_file);
            if !self.options.force && latest.exists() && before.as_ref() == Some(&inputs) {
                learned::remember(&learned_file, &targets)?;
                let latest = std::fs::canonicalize(&latest).unwrap_or(latest);
                return Ok(VariantOutcome::UpToDate { latest });
            }
            let rpms: Vec<PathBuf> = report.rpms.values().flatten().cloned().collect();
            let composed = compose(&ComposeInput {
                variant: name,
                wanted: &wanted,
                arch: self.arch,
                version: &input.version,
                build_id: &input.build_id,
                vendor: self.project.vendor(),
                epoch: input.epoch,
                rpms: &rpms,
                work_dir: &work,
                updog_root: None,
                capabilities: &capabilities(self.variant, self.arch),
            });
            let composed = match composed {
                Ok(composed) => composed,
                Err(error) => match self.unbuilt_requirement(&targets, &error) {
                    Some(package) => {
                        tracing::info!("{package} is required at runtime; adding it to the build");
                        targets.push(package);
                        continue;
                    }
                    None => {
                        return Err(Error::Compose {
                            variant: name.to_string(),
                            source: Box::new(error),
                        })
                    }
                },
            };
            learned::remember(&learned_file, &targets)?;
            tracing::info!(
                "root tree: {} packages, {} files, {:.1} MiB",
                composed.inventory.len(),
                composed.files,
                composed.bytes as f64 / 1048576.0
            );
            let mut reasons = key::rebuild_reasons(&inputs, before.as_ref());
            if reasons.is_empty() {
                reasons.push("forced".into());
            }
            let assembled = self.assemble(tools, &input, &composed, &inputs, assembly_progress)?;
            return Ok(VariantOutcome::Built {
                assembled: Box::new(assembled),
                composed: Box::new(composed),
                reasons,
                sdk,
                report,
            });
        }
    }

    /// Assembles the image, then writes the inventory and the build's inputs beside it.
    fn assemble(
        &self,
        tools: &dyn ToolRunner,
        input: &AssembleInput,
        composed: &Composed,
        inputs: &Inputs,
        progress: &dyn Fn(&'static str),
    ) -> Result<Assembled, Error> {
        let assembled =
            twoliter_image::assemble(tools, input, progress).map_err(Error::Assemble)?;
        let inventory = serde_json::json!({ "Content": composed.inventory });
        let text = serde_json::to_string_pretty(&inventory).unwrap_or_default() + "\n";
        ArtifactDir::open(&assembled.dir)
            .and_then(|dir| dir.write(ArtifactKind::Inventory, text.as_bytes()))
            .map_err(Error::Artifacts)?;
        let inputs_json = serde_json::to_vec_pretty(inputs).unwrap_or_default();
        write(&input.output_dir.join(BUILD_INPUTS_FILE), &inputs_json)?;
        Ok(assembled)
    }

    /// When composing failed because a requirement names a package of the variant's kits that
    /// is not built yet, that package.
    fn unbuilt_requirement(
        &self,
        targets: &[String],
        error: &twoliter_rootfs::Error,
    ) -> Option<String> {
        let name = error.missing_requirement()?;
        let package = self.project.packages.get(name)?;
        (self.variant.kits.contains(&package.kit) && !targets.iter().any(|t| t == name))
            .then(|| name.to_string())
    }
}

/// What the variant provides to its packages' Requires: its name and name parts, its
/// architecture and its enabled image features.
pub fn capabilities(variant: &Variant, arch: Arch) -> Vec<String> {
    let parts = &variant.parts;
    let mut capabilities = vec![
        format!("variant({})", variant.name),
        format!("variant-platform({})", parts.platform),
        format!("variant-runtime({})", parts.runtime),
        format!("variant-arch({arch})"),
    ];
    capabilities.extend(
        parts
            .version
            .as_ref()
            .map(|v| format!("variant-version({v})")),
    );
    capabilities.extend(
        parts
            .flavor
            .as_ref()
            .map(|f| format!("variant-flavor({f})")),
    );
    for (feature, on) in &variant.image_features {
        if *on {
            capabilities.push(format!("image-feature({feature})"));
        }
    }
    capabilities
}

/// The inputs recorded by the latest build, if readable.
fn read_inputs(path: &Path) -> Option<Inputs> {
    let bytes = std::fs::read(path).ok()?;
    serde_json::from_slice(&bytes).ok()
}

/// Writes a file of the build atomically (its directory created).
fn write(path: &Path, bytes: &[u8]) -> Result<(), Error> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(fsutil::io_err("create", dir))?;
    }
    Ok(fsutil::atomic_write(path, bytes, 0o644)?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    /// A project with variant `aws-k8s-1.31` (kits `k`, includes `app`, and `variant` more
    /// manifest lines) and packages `app` and `helper` in kit `k`, `stray` in kit `other`.
    fn project(dir: &Path, variant: &str) -> Project {
        test_support::project::write_project(
            dir,
            "1.2.3",
            &[
                ("k", "app", ""),
                ("k", "helper", ""),
                ("other", "stray", ""),
            ],
            &[(
                "aws-k8s-1.31",
                &format!("kits: [k]\nincluded-packages: [app]\n{variant}"),
            )],
        );
        Project::load(dir).unwrap_or_else(|e| panic!("{e}"))
    }

    fn subject<'a>(project: &'a Project) -> AssemblySubject<'a> {
        AssemblySubject {
            project: Some(project),
            variant: Some(project.variant("aws-k8s-1.31").unwrap()),
            name: "aws-k8s-1.31",
            arch: Arch::X86_64,
        }
    }

    fn input(project: &Project, overrides: &AssemblyOverrides) -> Result<AssembleInput, Error> {
        assembly_input(subject(project), "r".into(), "b".into(), overrides)
    }

    #[test]
    fn the_variant_provides_its_name_parts_arch_and_features() {
        let dir = tempfile::tempdir().unwrap();
        let project = project(dir.path(), "image-features: {erofs-root-partition: true}\n");
        let variant = project.variant("aws-k8s-1.31").unwrap();
        let capabilities = capabilities(variant, Arch::X86_64);
        for expected in [
            "variant(aws-k8s-1.31)",
            "variant-platform(aws)",
            "variant-runtime(k8s)",
            "variant-version(1.31)",
            "variant-arch(x86_64)",
            "image-feature(erofs-root-partition)",
            "image-feature(in-place-updates)",
        ] {
            assert!(
                capabilities.iter().any(|c| c == expected),
                "{expected} in {capabilities:?}"
            );
        }
        assert!(!capabilities.iter().any(|c| c == "image-feature(fips)"));
    }

    #[test]
    fn assembly_takes_the_manifest_and_flags_override_it() {
        let dir = tempfile::tempdir().unwrap();
        let project = project(
            dir.path(),
            "image-format: qcow2\nimage-layout: {os-image-size-gib: 4, partition-plan: unified}\nimage-features: {erofs-root-partition: true}\nkernel-parameters: [quiet]\n",
        );
        let from_manifest = input(
            &project,
            &AssemblyOverrides {
                source_date_epoch: Some(9),
                ..Default::default()
            },
        )
        .unwrap();
        assert_eq!(from_manifest.os_image_gib, 4);
        assert_eq!(from_manifest.data_image_gib, 1);
        assert_eq!(from_manifest.plan, partitions::PartitionPlan::Unified);
        assert_eq!(from_manifest.root_fs, twoliter_image::RootFs::Erofs);
        assert_eq!(
            from_manifest.image_format,
            twoliter_image::ImageFormat::Qcow2
        );
        assert_eq!(from_manifest.kernel_parameters, ["quiet"]);
        assert_eq!(from_manifest.version, "1.2.3");
        assert_eq!(from_manifest.epoch, 9);
        assert!(from_manifest.in_place_updates);
        assert_eq!(
            from_manifest.output_dir,
            dir.path().join("build/images/x86_64-aws-k8s-1.31")
        );

        let overridden = input(
            &project,
            &AssemblyOverrides {
                os_image_size_gib: Some(2),
                partition_plan: Some(twoliter_project::PartitionPlan::Split),
                root_fs: Some(twoliter_image::RootFs::Ext4),
                release_version: Some(semver::Version::new(2, 0, 0)),
                no_in_place_updates: true,
                kernel_parameters: vec!["console=ttyS0".into()],
                ..Default::default()
            },
        )
        .unwrap();
        assert_eq!(overridden.os_image_gib, 2);
        assert_eq!(overridden.plan, partitions::PartitionPlan::Split);
        assert_eq!(overridden.root_fs, twoliter_image::RootFs::Ext4);
        assert_eq!(overridden.version, "2.0.0");
        assert!(!overridden.in_place_updates);
        assert_eq!(overridden.kernel_parameters, ["console=ttyS0"]);

        let reserved = input(
            &project,
            &AssemblyOverrides {
                kernel_parameters: vec!["root=/dev/sda".into()],
                ..Default::default()
            },
        )
        .unwrap_err();
        assert!(
            reserved
                .to_string()
                .starts_with("--kernel-parameter: `root=/dev/sda`"),
            "{reserved}"
        );
    }

    #[test]
    fn an_unsupported_arch_is_refused_naming_the_manifest() {
        let dir = tempfile::tempdir().unwrap();
        let project = project(dir.path(), "supported-arches: [aarch64]\n");
        let variant = project.variant("aws-k8s-1.31").unwrap();
        let error = check_arch(variant, Arch::X86_64).unwrap_err().to_string();
        assert!(error.contains("builds for aarch64 only"), "{error}");
        assert!(error.contains("variant.yaml"), "{error}");
    }

    #[test]
    fn image_inputs_name_what_changed_and_hold_no_paths() {
        let dir = tempfile::tempdir().unwrap();
        let project = project(dir.path(), "");
        let variant = project.variant("aws-k8s-1.31").unwrap();
        let keys = BTreeMap::from([("app".to_string(), "k1".to_string())]);
        let base = input(
            &project,
            &AssemblyOverrides {
                source_date_epoch: Some(1),
                ..Default::default()
            },
        )
        .unwrap();
        let before = key::image_inputs(variant, &base, &keys, None);
        assert!(
            !before
                .0
                .values()
                .any(|v| v.contains(&dir.path().display().to_string())),
            "{before:?}"
        );

        let mut moved = base.clone();
        moved.root_dir = "/elsewhere/root".into();
        moved.output_dir = "/elsewhere/out".into();
        assert_eq!(key::image_inputs(variant, &moved, &keys, None), before);

        let newer = input(
            &project,
            &AssemblyOverrides {
                source_date_epoch: Some(2),
                ..Default::default()
            },
        )
        .unwrap();
        let rebuilt = BTreeMap::from([("app".to_string(), "k2".to_string())]);
        let now = key::image_inputs(variant, &newer, &rebuilt, None);
        assert_eq!(
            key::rebuild_reasons(&now, Some(&before)),
            ["changed assembly.epoch", "changed package:app"]
        );

        let other = tests::project(dir.path(), "kernel-parameters: [quiet]\n");
        let changed = key::image_inputs(other.variant("aws-k8s-1.31").unwrap(), &base, &keys, None);
        assert_eq!(
            key::rebuild_reasons(&changed, Some(&before)),
            ["changed variant.kernel-parameters"]
        );
    }

    #[test]
    fn only_a_missing_package_of_the_variants_kits_joins_the_build() {
        let dir = tempfile::tempdir().unwrap();
        let project = project(dir.path(), "");
        let variant = project.variant("aws-k8s-1.31").unwrap();
        let build = VariantBuild::new(
            &project,
            variant,
            Arch::X86_64,
            VariantOptions {
                force: false,
                assembly: AssemblyOverrides::default(),
            },
        )
        .unwrap();
        let missing = |name: &str| {
            twoliter_rootfs::Error::Closure(twoliter_rpm::ClosureError::MissingCapability {
                capability: format!("{name} >= 1.0"),
                name: name.into(),
                package: "app-1.0.0-1.x86_64".into(),
                chain: Vec::new(),
                candidates: Vec::new(),
            })
        };
        let targets = vec!["app".to_string()];
        assert_eq!(
            build
                .unbuilt_requirement(&targets, &missing("helper"))
                .as_deref(),
            Some("helper")
        );
        assert_eq!(
            build.unbuilt_requirement(&targets, &missing("stray")),
            None,
            "not in the variant's kits"
        );
        assert_eq!(
            build.unbuilt_requirement(&targets, &missing("libc.so.6")),
            None,
            "not a package"
        );
        assert_eq!(
            build.unbuilt_requirement(&["app".into(), "helper".into()], &missing("helper")),
            None,
            "already built"
        );
    }
}
