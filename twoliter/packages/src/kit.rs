//! Kits: a kit's RPMs collected into `build/kits/<kit>/<arch>/` with yum repodata (createrepo_c
//! in the SDK), and an OCI image-layout archive of them (one layer per package plus one for the
//! repodata; kit metadata as labels) that any OCI tool or registry can hold.

use crate::inputs::Inputs;
use crate::lookaside::write_atomic;
use crate::{link_or_copy, rpms_in, BuildOptions, BuildReport, Error};
use std::collections::BTreeMap;
use std::path::PathBuf;
use twoliter_engine::{ContainerRunner, Mount, RunSpec};
use twoliter_oci::{Architecture, ImageSpec, LayerSpec};
use twoliter_project::Arch;

/// The file in a kit directory recording what its repodata was made from.
const KIT_KEY_FILE: &str = ".twoliter-kit-key";

/// A finished kit.
#[derive(Debug, Clone, serde::Serialize)]
pub struct KitOutput {
    /// `build/kits/<kit>/<arch>/`: the RPMs and `repodata/`.
    pub repo: PathBuf,
    /// The OCI archive.
    pub archive: PathBuf,
    /// `sha256:` digest of the image manifest inside the archive.
    pub manifest_digest: String,
    /// Whether createrepo_c ran (false when the repodata was current).
    pub repodata_rebuilt: bool,
}

/// What a kit is called and holds.
#[derive(Debug, Clone)]
pub struct KitInfo<'a> {
    /// Kit name.
    pub name: &'a str,
    /// Kit version (the project's release version).
    pub version: &'a semver::Version,
    /// Vendor or project name, recorded in the metadata.
    pub vendor: &'a str,
    /// Its packages.
    pub packages: &'a [String],
}

impl<'a> KitInfo<'a> {
    /// The project's kit `name`, at the project's release version.
    ///
    /// # Errors
    /// [`Error::UnknownKit`] naming the kits there are.
    pub fn find(project: &'a twoliter_project::Project, name: &'a str) -> Result<Self, Error> {
        let kit = project.kits.get(name).ok_or_else(|| Error::UnknownKit {
            name: name.to_string(),
            known: project.kits.keys().cloned().collect::<Vec<_>>().join(", "),
        })?;
        Ok(Self {
            name,
            version: &project.config.release_version,
            vendor: project.vendor(),
            packages: &kit.packages,
        })
    }
}

/// Collects the kit's packages from `report` (all of them must have been built) and writes
/// repodata and the OCI archive.
pub fn assemble(
    engine: &dyn ContainerRunner,
    sdk_reference: &str,
    options: &BuildOptions,
    kit: &KitInfo<'_>,
    report: &BuildReport,
) -> Result<KitOutput, Error> {
    let kit_dir = options.layout.kit_dir(kit.name);
    let repo = kit_dir.join(options.arch.name());
    std::fs::create_dir_all(&repo).map_err(fsutil::io_err("create", &repo))?;

    // What the repodata is made of: the packages' keys and the SDK.
    let mut inputs = Inputs::default();
    inputs.add("epoch", options.epoch.to_string());
    inputs.add("sdk", sdk_reference);
    let mut rpms: BTreeMap<&str, Vec<PathBuf>> = BTreeMap::new();
    for package in kit.packages {
        inputs.add(
            format!("dep:{package}"),
            report.keys.get(package).cloned().unwrap_or_default(),
        );
        rpms.insert(
            package,
            report.rpms.get(package).cloned().unwrap_or_default(),
        );
    }
    let key = inputs.key();
    let key_file = repo.join(KIT_KEY_FILE);
    let current = std::fs::read_to_string(&key_file).is_ok_and(|k| k.trim() == key)
        && repo.join("repodata/repomd.xml").is_file();

    if !current {
        let _ = std::fs::remove_file(&key_file);
        for old in rpms_in(&repo).map_err(fsutil::io_err("read", &repo))? {
            std::fs::remove_file(&old).map_err(fsutil::io_err("remove", &old))?;
        }
        let _ = std::fs::remove_dir_all(repo.join("repodata"));
        for rpm in rpms.values().flatten() {
            let target = repo.join(rpm.file_name().unwrap_or_default());
            link_or_copy(rpm, &target).map_err(fsutil::io_err("collect", rpm))?;
        }
        let log = options.log(&format!("kit-{}", kit.name));
        if let Some(dir) = log.parent() {
            std::fs::create_dir_all(dir).map_err(fsutil::io_err("create", dir))?;
        }
        std::fs::write(&log, b"").map_err(fsutil::io_err("create", &log))?;
        let run = RunSpec {
            image: sdk_reference.to_string(),
            mounts: vec![Mount::output(&repo, "/twoliter/kit")],
            env: vec![("SOURCE_DATE_EPOCH".into(), options.epoch.to_string())],
            workdir: None,
            command: [
                "createrepo_c",
                "--no-database",
                "--simple-md-filenames",
                "--set-timestamp-to-revision",
                "--revision",
                &options.epoch.to_string(),
                "/twoliter/kit",
            ]
            .map(String::from)
            .to_vec(),
        };
        engine.run(&run, &log)?;
        write_atomic(&key_file, key.as_bytes())?;
    }

    let archive = kit_dir.join(format!(
        "{}-{}-{}.oci.tar",
        kit.name, kit.version, options.arch
    ));
    let mut layers: Vec<LayerSpec> = Vec::new();
    for files in rpms.values() {
        let mut layer = LayerSpec::new();
        for rpm in files {
            let name = rpm.file_name().unwrap_or_default().to_string_lossy();
            layer = layer.with_file(repo.join(name.as_ref()), format!("{}/{name}", options.arch));
        }
        layers.push(layer);
    }
    layers.push(
        LayerSpec::from_dir(
            &repo.join("repodata"),
            &format!("{}/repodata", options.arch),
        )
        .map_err(Error::Kit)?,
    );
    let architecture = match options.arch {
        Arch::X86_64 => Architecture::Amd64,
        Arch::Aarch64 => Architecture::Arm64,
    };
    let metadata = BTreeMap::from([
        ("dev.twoliter.kit.name".to_string(), kit.name.to_string()),
        (
            "dev.twoliter.kit.version".to_string(),
            kit.version.to_string(),
        ),
        (
            "dev.twoliter.kit.vendor".to_string(),
            kit.vendor.to_string(),
        ),
        (
            "dev.twoliter.kit.packages".to_string(),
            kit.packages.join(","),
        ),
        (
            "org.opencontainers.image.title".to_string(),
            kit.name.to_string(),
        ),
        (
            "org.opencontainers.image.version".to_string(),
            kit.version.to_string(),
        ),
    ]);
    let image = ImageSpec {
        ref_name: kit.version.to_string(),
        architecture,
        layers,
        metadata,
        epoch: options.epoch,
    };
    let summary = twoliter_oci::write_archive(&archive, &image).map_err(Error::Kit)?;
    Ok(KitOutput {
        repo,
        archive,
        manifest_digest: summary.manifest.digest,
        repodata_rebuilt: !current,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_kit_is_found_with_its_packages_and_the_release_version() {
        let dir = tempfile::tempdir().unwrap();
        test_support::project::write_project(
            dir.path(),
            "1.4.0",
            &[("core-kit", "busybox", ""), ("core-kit", "kernel", "")],
            &[],
        );
        let project = twoliter_project::Project::load(dir.path()).unwrap();
        let kit = KitInfo::find(&project, "core-kit").unwrap();
        assert_eq!(kit.name, "core-kit");
        assert_eq!(kit.version.to_string(), "1.4.0");
        assert_eq!(kit.packages, ["busybox", "kernel"]);
        let error = KitInfo::find(&project, "extra-kit").unwrap_err();
        assert!(
            matches!(&error, Error::UnknownKit { name, known } if name == "extra-kit" && known == "core-kit"),
            "{error}"
        );
    }
}
