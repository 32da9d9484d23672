//! One build's artifact directory, found by path or as the newest build of a variant.

use crate::error::{Error, Result};
use crate::metadata::Metadata;
use crate::name::{amis_file_name, ArtifactKind, ArtifactName};
use fsutil::{FileLock, Wait};
use semver::Version;
use std::path::{Path, PathBuf};
use twoliter_project::Arch;

/// The link to the newest build in a variant's images directory.
pub const LATEST: &str = "latest";

/// The named inputs of the last variant build (JSON), in the variant's images directory
/// (beside the builds, not in one): what the next build compares with to be a no-op or to say
/// why it rebuilt.
pub const BUILD_INPUTS_FILE: &str = ".build-inputs.json";

/// The publish lock in an artifact directory.
const PUBLISH_LOCK: &str = ".publish.lock";

/// The prefix of the work directories `twoliter publish ami` makes in an artifact directory.
const PUBLISH_WORK_PREFIX: &str = ".publish-";

/// The directory of a variant's builds: `<build_dir>/images/<arch>-<variant>` (holding
/// `<version>-<build>/` per build and the [`LATEST`] link).
pub fn images_dir(build_dir: &Path, arch: Arch, variant: &str) -> PathBuf {
    build_dir.join("images").join(format!("{arch}-{variant}"))
}

/// One build's artifacts: the directory and its parsed metadata.
#[derive(Debug, Clone)]
pub struct ArtifactDir {
    dir: PathBuf,
    metadata: Metadata,
}

impl ArtifactDir {
    /// Opens the artifact directory `dir` (links such as `latest` are followed) through its
    /// metadata file `<name>.json`: the one regular file whose name is a versioned artifact
    /// name. Friendly names (`bottlerocket-<variant>-<arch>.json`) are links or copies and do
    /// not count.
    ///
    /// # Errors
    /// [`Error::NotArtifactDir`] when `dir` does not exist or holds no metadata file, or the
    /// metadata of several builds; [`Error::Metadata`] when the metadata file cannot be parsed
    /// or names another build.
    pub fn open(dir: &Path) -> Result<ArtifactDir> {
        let dir = dir.canonicalize().map_err(|e| Error::NotArtifactDir {
            dir: dir.to_path_buf(),
            reason: format!(
                "it cannot be opened ({e}); build the variant first with `twoliter build variant`"
            ),
        })?;
        let mut found = Vec::new();
        for entry in std::fs::read_dir(&dir).map_err(|e| Error::io("list", &dir, e))? {
            let entry = entry.map_err(|e| Error::io("list", &dir, e))?;
            let file_name = entry.file_name();
            let Some(stem) = file_name
                .to_str()
                .and_then(|n| n.strip_suffix(".json"))
                .filter(|stem| !stem.ends_with("-amis"))
            else {
                continue;
            };
            let is_file = entry.file_type().is_ok_and(|t| t.is_file());
            if let (true, Ok(name)) = (is_file, stem.parse::<ArtifactName>()) {
                found.push((entry.path(), name));
            }
        }
        let (path, name) = match found.len() {
            1 => found.remove(0),
            0 => {
                return Err(Error::NotArtifactDir {
                    dir,
                    reason: "it holds no image metadata file (bottlerocket-<variant>-<arch>-<version>-<build>.json); build the variant first with `twoliter build variant`".into(),
                })
            }
            n => {
                let names: Vec<String> = found.iter().map(|(_, n)| n.to_string()).collect();
                return Err(Error::NotArtifactDir {
                    dir,
                    reason: format!(
                        "it holds the metadata of {n} builds ({}); pass one build's directory (build/images/<arch>-<variant>/<version>-<build>)",
                        names.join(", ")
                    ),
                });
            }
        };
        let text = std::fs::read(&path).map_err(|e| Error::io("read", &path, e))?;
        let metadata: Metadata =
            serde_json::from_slice(&text).map_err(|source| Error::Metadata {
                path: path.clone(),
                source,
            })?;
        if metadata.name != name {
            return Err(Error::NotArtifactDir {
                dir,
                reason: format!(
                    "its metadata file {} describes the build {}; rebuild the variant",
                    path.display(),
                    metadata.name
                ),
            });
        }
        Ok(ArtifactDir { dir, metadata })
    }

    /// Finds a build of `variant` for `arch` under `build_dir` (the project's `build/`), in
    /// [`images_dir`]. Without `version`, the build the [`LATEST`] link points at (what the last
    /// build wrote), else the newest; with `version`, the builds of that version: the one
    /// [`LATEST`] points at if it is one of them, else the newest. "Newest" orders by the
    /// version in the directory name (semver), then the build id; never by file times.
    ///
    /// # Errors
    /// [`Error::NoBuild`] when there is no such build, and the errors of [`ArtifactDir::open`];
    /// [`Error::NotArtifactDir`] when the build found is of another variant or architecture.
    pub fn find(
        build_dir: &Path,
        variant: &str,
        arch: Arch,
        version: Option<&Version>,
    ) -> Result<ArtifactDir> {
        let base = images_dir(build_dir, arch, variant);
        let no_build = |reason: String| Error::NoBuild {
            variant: variant.to_string(),
            arch,
            dir: base.clone(),
            reason,
        };
        let entries = std::fs::read_dir(&base)
            .map_err(|e| no_build(format!("its images directory cannot be listed ({e})")))?;
        let mut builds: Vec<(Version, String)> = entries
            .filter_map(|entry| entry.ok())
            .filter(|entry| entry.file_type().is_ok_and(|t| t.is_dir()))
            .filter_map(|entry| ArtifactName::release_of(entry.file_name().to_str()?))
            .filter(|(v, _)| version.is_none_or(|wanted| v == wanted))
            .collect();
        builds.sort();
        let latest = std::fs::read_link(base.join(LATEST))
            .ok()
            .and_then(|target| ArtifactName::release_of(target.to_str()?))
            .filter(|build| builds.contains(build));
        let (chosen_version, build) = latest.or_else(|| builds.pop()).ok_or_else(|| {
            no_build(match version {
                Some(version) => format!("there is no build of version {version}"),
                None => "there is no build".into(),
            })
        })?;
        let dir = ArtifactDir::open(&base.join(format!("{chosen_version}-{build}")))?;
        let name = dir.name();
        if name.variant != variant || name.arch != arch {
            return Err(Error::NotArtifactDir {
                dir: dir.dir.clone(),
                reason: format!(
                    "it holds a build of {} for {}, not {variant} for {arch}",
                    name.variant, name.arch
                ),
            });
        }
        Ok(dir)
    }

    /// The directory (canonical).
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The build's name.
    pub fn name(&self) -> &ArtifactName {
        &self.metadata.name
    }

    /// The build's metadata.
    pub fn metadata(&self) -> &Metadata {
        &self.metadata
    }

    /// Where the artifact of `kind` is (whether or not the build has it).
    pub fn path(&self, kind: ArtifactKind) -> PathBuf {
        self.dir.join(kind.file_name(self.name()))
    }

    /// Where the AMIs registered under `ami_name` are recorded: `<ami_name>-amis.json`, with
    /// the `/` and spaces AMI names may hold turned into `_`.
    pub fn amis_file(&self, ami_name: &str) -> PathBuf {
        self.dir.join(amis_file_name(ami_name))
    }

    /// Writes the artifact of `kind` atomically (for the files the variant pipeline adds to
    /// the directory image assembly made, such as [`ArtifactKind::Inventory`]).
    ///
    /// # Errors
    /// [`Error::Io`] naming the file.
    pub fn write(&self, kind: ArtifactKind, bytes: &[u8]) -> Result<PathBuf> {
        let path = self.path(kind);
        crate::fs::write_atomic(&path, bytes)?;
        Ok(path)
    }

    /// Takes the build's publish lock: one `publish ami` per build at a time, so two runs
    /// cannot register two AMIs of one name. Work directories a killed run left behind are
    /// removed. The lock is released when the [`PublishLock`] drops.
    ///
    /// # Errors
    /// [`Error::Locked`] when another process holds it; [`Error::Io`] when the lock file or a
    /// stale work directory cannot be handled.
    pub fn publish_lock(&self) -> Result<PublishLock> {
        let lock = match fsutil::lock_exclusive(&self.dir.join(PUBLISH_LOCK), Wait::NoBlock) {
            Ok(lock) => lock,
            Err(busy) if busy.is_would_block() => {
                return Err(Error::Locked {
                    dir: self.dir.clone(),
                })
            }
            Err(e) => return Err(e.into()),
        };
        let entries = std::fs::read_dir(&self.dir).map_err(|e| Error::io("list", &self.dir, e))?;
        for entry in entries.flatten() {
            if entry
                .file_name()
                .to_string_lossy()
                .starts_with(PUBLISH_WORK_PREFIX)
            {
                let stale = entry.path();
                tracing::info!("removing {}, left by an interrupted run", stale.display());
                std::fs::remove_dir_all(&stale).map_err(|e| Error::io("remove", &stale, e))?;
            }
        }
        Ok(PublishLock {
            _lock: lock,
            dir: self.dir.clone(),
        })
    }
}

/// The held publish lock of one build.
#[derive(Debug)]
pub struct PublishLock {
    _lock: FileLock,
    dir: PathBuf,
}

impl PublishLock {
    /// A fresh work directory beside the artifacts (`.publish-*`), removed when the returned
    /// value drops, or by the next run that takes the lock.
    ///
    /// # Errors
    /// [`Error::Io`] when it cannot be made.
    pub fn work_dir(&self) -> Result<tempfile::TempDir> {
        tempfile::Builder::new()
            .prefix(PUBLISH_WORK_PREFIX)
            .tempdir_in(&self.dir)
            .map_err(|e| Error::io("make a work directory in", &self.dir, e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metadata::tests::{name, sample};
    use partitions::PartitionPlan;

    /// Writes a build as image assembly lays it out, with the friendly links.
    fn build(build_dir: &Path, version: &str, id: &str) -> PathBuf {
        let n = name(version, id);
        let base = images_dir(build_dir, n.arch, &n.variant);
        let dir = base.join(n.release());
        std::fs::create_dir_all(&dir).unwrap();
        let metadata = sample(n.clone(), PartitionPlan::Split);
        let file = ArtifactKind::Metadata.file_name(&n);
        std::fs::write(dir.join(&file), serde_json::to_vec(&metadata).unwrap()).unwrap();
        std::os::unix::fs::symlink(&file, dir.join(format!("{}.json", n.friendly()))).unwrap();
        dir
    }

    fn point_latest(build_dir: &Path, release: &str) {
        let base = images_dir(build_dir, Arch::X86_64, "metal-dev");
        let link = base.join(LATEST);
        let _ = std::fs::remove_file(&link);
        std::os::unix::fs::symlink(release, link).unwrap();
    }

    #[test]
    fn opens_a_build_through_its_versioned_metadata() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = build(tmp.path(), "1.2.3", "abc");
        // A dereferenced copy of the friendly name and an amis file do not count.
        let n = name("1.2.3", "abc");
        std::fs::remove_file(dir.join(format!("{}.json", n.friendly()))).unwrap();
        std::fs::copy(
            dir.join(ArtifactKind::Metadata.file_name(&n)),
            dir.join(format!("{}.json", n.friendly())),
        )
        .unwrap();
        std::fs::write(dir.join(ArtifactKind::Amis.file_name(&n)), "{}").unwrap();
        let opened = ArtifactDir::open(&dir).unwrap();
        assert_eq!(opened.name(), &n);
        assert_eq!(opened.dir(), dir.canonicalize().unwrap());
        assert_eq!(
            opened.path(ArtifactKind::Verity),
            opened.dir().join(format!("{n}-root.verity.lz4"))
        );
        assert_eq!(
            opened.amis_file("my ami"),
            opened.dir().join("my_ami-amis.json")
        );
    }

    #[test]
    fn open_explains_what_is_wrong() {
        let tmp = tempfile::tempdir().unwrap();
        let error = ArtifactDir::open(&tmp.path().join("none")).unwrap_err();
        assert!(
            error.to_string().contains("twoliter build variant"),
            "{error}"
        );
        let error = ArtifactDir::open(tmp.path()).unwrap_err();
        assert!(
            error.to_string().contains("no image metadata file"),
            "{error}"
        );

        let dir = build(tmp.path(), "1.2.3", "abc");
        let other = name("1.2.4", "abc");
        std::fs::write(dir.join(ArtifactKind::Metadata.file_name(&other)), "{}").unwrap();
        let error = ArtifactDir::open(&dir).unwrap_err();
        assert!(
            error.to_string().contains("metadata of 2 builds"),
            "{error}"
        );

        std::fs::rename(
            dir.join(ArtifactKind::Metadata.file_name(&name("1.2.3", "abc"))),
            dir.join("elsewhere"),
        )
        .unwrap();
        let error = ArtifactDir::open(&dir).unwrap_err();
        assert!(matches!(error, Error::Metadata { .. }), "{error}");

        std::fs::write(
            dir.join(ArtifactKind::Metadata.file_name(&other)),
            serde_json::to_vec(&sample(name("9.9.9", "x"), PartitionPlan::Split)).unwrap(),
        )
        .unwrap();
        let error = ArtifactDir::open(&dir).unwrap_err();
        assert!(error.to_string().contains("describes the build"), "{error}");
    }

    #[test]
    fn find_orders_by_version_not_by_time() {
        let tmp = tempfile::tempdir().unwrap();
        let find = |version: Option<&str>| {
            let version = version.map(|v| Version::parse(v).unwrap());
            ArtifactDir::find(tmp.path(), "metal-dev", Arch::X86_64, version.as_ref())
                .map(|d| d.name().release())
        };
        assert!(matches!(find(None).unwrap_err(), Error::NoBuild { .. }));
        // Made newest-last by time, oldest-last by version.
        build(tmp.path(), "1.10.0", "aaa");
        build(tmp.path(), "1.9.0", "bbb");
        build(tmp.path(), "1.10.0", "ccc");
        std::fs::create_dir_all(
            images_dir(tmp.path(), Arch::X86_64, "metal-dev").join(".2.0.0-x.partial-1"),
        )
        .unwrap();
        assert_eq!(find(None).unwrap(), "1.10.0-ccc");
        assert_eq!(find(Some("1.9.0")).unwrap(), "1.9.0-bbb");
        assert_eq!(find(Some("1.10.0")).unwrap(), "1.10.0-ccc");
        let error = find(Some("2.0.0")).unwrap_err();
        assert!(
            error.to_string().contains("no build of version 2.0.0"),
            "{error}"
        );

        // `latest` names what the last build wrote, when it is a build asked for.
        point_latest(tmp.path(), "1.9.0-bbb");
        assert_eq!(find(None).unwrap(), "1.9.0-bbb");
        assert_eq!(find(Some("1.10.0")).unwrap(), "1.10.0-ccc");
        point_latest(tmp.path(), "1.10.0-aaa");
        assert_eq!(find(Some("1.10.0")).unwrap(), "1.10.0-aaa");
    }

    #[test]
    fn find_refuses_a_build_of_another_variant() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = build(tmp.path(), "1.0.0", "a");
        let elsewhere = images_dir(tmp.path(), Arch::Aarch64, "metal-dev");
        std::fs::create_dir_all(&elsewhere).unwrap();
        std::fs::rename(&dir, elsewhere.join("1.0.0-a")).unwrap();
        let error = ArtifactDir::find(tmp.path(), "metal-dev", Arch::Aarch64, None).unwrap_err();
        assert!(
            error.to_string().contains("not metal-dev for aarch64"),
            "{error}"
        );
    }

    #[test]
    fn the_publish_lock_is_exclusive_and_cleans_stale_work_dirs() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = ArtifactDir::open(&build(tmp.path(), "1.0.0", "a")).unwrap();
        std::fs::create_dir(dir.dir().join(".publish-stale")).unwrap();
        let lock = dir.publish_lock().unwrap();
        assert!(!dir.dir().join(".publish-stale").exists());
        assert!(matches!(
            dir.publish_lock().unwrap_err(),
            Error::Locked { .. }
        ));
        let work = lock.work_dir().unwrap();
        assert!(work.path().starts_with(dir.dir()));
        drop(lock);
        dir.publish_lock().unwrap();
        assert!(!work.path().exists());
    }

    #[test]
    fn write_adds_a_file_atomically() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = ArtifactDir::open(&build(tmp.path(), "1.0.0", "a")).unwrap();
        let path = dir.write(ArtifactKind::Inventory, b"{}\n").unwrap();
        assert_eq!(path, dir.dir().join("application-inventory.json"));
        assert_eq!(std::fs::read(path).unwrap(), b"{}\n");
    }
}
