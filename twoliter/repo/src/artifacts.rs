//! A variant's built images, as `twoliter build variant` leaves them in
//! `build/images/<arch>-<variant>/<version>-<build>/`.

use crate::error::{io_err, Error, Result};
use semver::Version;
use std::path::{Path, PathBuf};

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
    /// The variant.
    pub variant: String,
    /// The architecture.
    pub arch: String,
    /// The OS version.
    pub version: Version,
    /// The build id (commit and `-dirty` marker).
    pub build_id: String,
    /// The BOOT partition image (`...-boot.ext4.lz4`).
    pub boot: ArtifactFile,
    /// The ROOT partition image (`...-root.ext4.lz4`).
    pub root: ArtifactFile,
    /// The dm-verity hash image (`...-root.verity.lz4`).
    pub hash: ArtifactFile,
    /// Whole OS and data disk images, when built.
    pub disks: Vec<ArtifactFile>,
    /// Migrations (`<dir>/migrations/*`), added to the manifest from the previous version.
    pub migrations: Vec<ArtifactFile>,
}

impl Artifacts {
    /// The build directory for `variant`/`arch` under `images_dir` (`<project>/build/images`):
    /// the newest build of `version` when given, else `latest`.
    ///
    /// # Errors
    /// [`Error::Artifacts`] when there is no such build.
    pub fn find_dir(
        images_dir: &Path,
        variant: &str,
        arch: &str,
        version: Option<&Version>,
    ) -> Result<PathBuf> {
        let base = images_dir.join(format!("{arch}-{variant}"));
        let fail = |reason: String| Error::Artifacts {
            variant: variant.to_string(),
            arch: arch.to_string(),
            dir: base.clone(),
            reason,
        };
        let Some(version) = version else {
            let latest = base.join("latest");
            return if latest.is_dir() {
                Ok(latest)
            } else {
                Err(fail(format!(
                    "no 'latest' build; run `twoliter build variant {variant} --arch {arch}` first"
                )))
            };
        };
        let prefix = format!("{version}-");
        let entries = std::fs::read_dir(&base).map_err(|e| {
            fail(format!(
                "cannot list builds ({e}); run `twoliter build variant {variant} --arch {arch}` first"
            ))
        })?;
        let mut builds: Vec<(std::time::SystemTime, PathBuf)> = entries
            .filter_map(|entry| entry.ok())
            .filter(|entry| entry.file_name().to_string_lossy().starts_with(&prefix))
            .filter_map(|entry| {
                let modified = entry.metadata().ok()?.modified().ok()?;
                Some((modified, entry.path()))
            })
            .collect();
        builds.sort();
        builds
            .pop()
            .map(|(_, path)| path)
            .ok_or_else(|| fail(format!("no build of version {version}")))
    }

    /// Reads the build in `dir`: its metadata JSON (the regular `*.json` whose `variant` and
    /// `arch` match) names the version and build id, and the images are found by the same
    /// file-name prefix.
    ///
    /// # Errors
    /// [`Error::Artifacts`] when the metadata or a required image is missing.
    pub fn load(dir: &Path, variant: &str, arch: &str) -> Result<Self> {
        let fail = |reason: String| Error::Artifacts {
            variant: variant.to_string(),
            arch: arch.to_string(),
            dir: dir.to_path_buf(),
            reason,
        };
        let entries = std::fs::read_dir(dir).map_err(io_err("list", dir))?;
        let mut found = None;
        for entry in entries.filter_map(|entry| entry.ok()) {
            let path = entry.path();
            let is_file = entry.file_type().is_ok_and(|t| t.is_file());
            if !is_file || path.extension().is_none_or(|e| e != "json") {
                continue;
            }
            let Ok(text) = std::fs::read(&path) else {
                continue;
            };
            let Ok(meta) = serde_json::from_slice::<serde_json::Value>(&text) else {
                continue;
            };
            // Only the versioned metadata file counts (not the friendly `latest`-style name, which
            // is a plain copy when the directory was copied with symlinks dereferenced): target
            // names must carry the version, or a later release would replace this one's images.
            let versioned = format!(
                "bottlerocket-{variant}-{arch}-{}{}.json",
                meta["version"].as_str().unwrap_or_default(),
                meta["build-id"]
                    .as_str()
                    .filter(|id| !id.is_empty())
                    .map(|id| format!("-{id}"))
                    .unwrap_or_default()
            );
            if meta["variant"] == variant
                && meta["arch"] == arch
                && path.file_name().is_some_and(|n| *n == *versioned)
            {
                found = Some((path, meta));
                break;
            }
        }
        let (meta_path, meta) = found.ok_or_else(|| {
            fail(
                "no image metadata (*.json with this variant and arch); is this a build directory?"
                    .into(),
            )
        })?;
        let version_text = meta["version"].as_str().unwrap_or_default();
        let version = Version::parse(version_text).map_err(|e| {
            fail(format!(
                "'{}' has version '{version_text}', not X.Y.Z: {e}",
                meta_path.display()
            ))
        })?;
        let build_id = meta["build-id"].as_str().unwrap_or_default().to_string();
        let stem = meta_path
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        let file = |suffix: &str| {
            let name = format!("{stem}{suffix}");
            let path = dir.join(&name);
            path.is_file().then_some(ArtifactFile { name, path })
        };
        let required =
            |suffix: &str| file(suffix).ok_or_else(|| fail(format!("'{stem}{suffix}' is missing")));
        let mut migrations = Vec::new();
        let migrations_dir = dir.join("migrations");
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
            variant: variant.to_string(),
            arch: arch.to_string(),
            version,
            build_id,
            boot: required("-boot.ext4.lz4")?,
            root: required("-root.ext4.lz4")?,
            hash: required("-root.verity.lz4")?,
            disks: [".img.lz4", "-data.img.lz4"]
                .into_iter()
                .filter_map(file)
                .collect(),
            migrations,
        })
    }

    /// `<version>-<build id>`, the name of the repository directory for this release.
    pub fn release_name(&self) -> String {
        if self.build_id.is_empty() {
            self.version.to_string()
        } else {
            format!("{}-{}", self.version, self.build_id)
        }
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
