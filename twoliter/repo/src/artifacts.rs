//! A variant's built images, as `twoliter build variant` leaves them in
//! `build/images/<arch>-<variant>/<version>-<build>/`, read through the artifact contract
//! ([`twoliter_artifacts`]).

use crate::error::{io_err, Error, Result};
use std::path::{Path, PathBuf};
use twoliter_artifacts::{ArtifactDir, ArtifactKind, ArtifactName};
use twoliter_project::Arch;

/// One file that becomes a target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArtifactFile {
    /// The target name (the file name).
    pub name: String,
    /// The file.
    pub path: PathBuf,
}

/// The files of one build that go into an update repository.
#[derive(Debug, Clone)]
pub struct Artifacts {
    /// The build: variant, architecture, version and build id.
    pub name: ArtifactName,
    /// The BOOT partition image (`...-boot.ext4.lz4`).
    pub boot: ArtifactFile,
    /// The ROOT partition image (`...-root.<ext4|erofs>.lz4`).
    pub root: ArtifactFile,
    /// The dm-verity hash image (`...-root.verity.lz4`).
    pub hash: ArtifactFile,
    /// The whole OS disk image, and the data disk image of the split plan.
    pub disks: Vec<ArtifactFile>,
    /// Migrations (`<dir>/migrations/*`), added to the manifest from the previous version.
    pub migrations: Vec<ArtifactFile>,
}

impl Artifacts {
    /// The build of `variant` for `arch` under `build_dir` (the project's `build/`): the
    /// newest build of `version` when given, else the `latest` one
    /// ([`ArtifactDir::find`]).
    ///
    /// # Errors
    /// [`Error::ArtifactDir`] when there is no such build, and the errors of
    /// [`Artifacts::from_dir`].
    pub fn find(
        build_dir: &Path,
        variant: &str,
        arch: Arch,
        version: Option<&semver::Version>,
    ) -> Result<Self> {
        Self::from_dir(&ArtifactDir::find(build_dir, variant, arch, version)?)
    }

    /// Reads the build in the artifact directory `dir`.
    ///
    /// # Errors
    /// [`Error::ArtifactDir`] when `dir` is not one build's artifact directory, and the errors
    /// of [`Artifacts::from_dir`].
    pub fn load(dir: &Path) -> Result<Self> {
        Self::from_dir(&ArtifactDir::open(dir)?)
    }

    /// The targets of an opened build: the files its metadata names.
    ///
    /// # Errors
    /// [`Error::MissingArtifact`] when an image the metadata promises is missing.
    pub fn from_dir(dir: &ArtifactDir) -> Result<Self> {
        let name = dir.name().clone();
        let required = |kind: ArtifactKind| -> Result<ArtifactFile> {
            let path = dir.path(kind);
            let file = kind.file_name(&name);
            if path.is_file() {
                Ok(ArtifactFile { name: file, path })
            } else {
                Err(Error::MissingArtifact {
                    name: Box::new(name.clone()),
                    dir: dir.dir().to_path_buf(),
                    file,
                })
            }
        };
        let metadata = dir.metadata();
        let disks = metadata
            .disk_kinds()
            .into_iter()
            .map(|(_, kind)| required(kind))
            .collect::<Result<_>>()?;
        let mut migrations = Vec::new();
        let migrations_dir = dir.path(ArtifactKind::Migrations);
        if migrations_dir.is_dir() {
            let entries =
                std::fs::read_dir(&migrations_dir).map_err(io_err("list", &migrations_dir))?;
            for entry in entries.filter_map(|entry| entry.ok()) {
                if entry.file_type().is_ok_and(|t| t.is_file()) {
                    migrations.push(ArtifactFile {
                        name: entry.file_name().to_string_lossy().into_owned(),
                        path: entry.path(),
                    });
                }
            }
            migrations.sort_by(|a, b| a.name.cmp(&b.name));
        }
        Ok(Self {
            boot: required(ArtifactKind::Boot)?,
            root: required(ArtifactKind::Root(metadata.root_filesystem))?,
            hash: required(ArtifactKind::Verity)?,
            disks,
            migrations,
            name,
        })
    }

    /// `<version>-<build id>`, the name of the repository directory for this release.
    pub fn release_name(&self) -> String {
        self.name.release()
    }

    /// Every file that becomes a target (images, disks, migrations).
    pub fn files(&self) -> impl Iterator<Item = &ArtifactFile> {
        [&self.boot, &self.root, &self.hash]
            .into_iter()
            .chain(&self.disks)
            .chain(&self.migrations)
    }
}

/// Every regular file directly in each of `dirs` (not recursive; symlinks followed), as a target
/// named by its file name, sorted by name within each directory (`repo create --add-targets`).
///
/// # Errors
/// [`Error::Io`] when a directory can't be listed or an entry (a broken symlink, say) can't be
/// examined, [`Error::Target`] for a file name that is not UTF-8.
pub fn files_in_dirs(dirs: &[PathBuf]) -> Result<Vec<ArtifactFile>> {
    let mut all = Vec::new();
    for dir in dirs {
        let mut files = Vec::new();
        for entry in std::fs::read_dir(dir).map_err(io_err("list", dir))? {
            let path = entry.map_err(io_err("list", dir))?.path();
            let metadata = std::fs::metadata(&path).map_err(io_err("examine", &path))?;
            if !metadata.is_file() {
                continue;
            }
            let name = path
                .file_name()
                .and_then(|name| name.to_str())
                .ok_or_else(|| Error::Target {
                    target: path.display().to_string(),
                    reason: "the file name is not UTF-8, so it can't be a target name; rename it"
                        .into(),
                })?
                .to_string();
            files.push(ArtifactFile { name, path });
        }
        files.sort_by(|a, b| a.name.cmp(&b.name));
        all.extend(files);
    }
    Ok(all)
}
