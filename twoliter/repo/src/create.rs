//! `repo create`: add a variant's release and/or files to a repository, extending the published
//! one.

use crate::artifacts::{ArtifactFile, Artifacts};
use crate::error::{chain, io_err, Error, Result};
use crate::load::{block_on, exists, load, Location};
use crate::output::{place_file, Output};
use crate::sign::{next_version, sign_and_write, Signing, Versions};
use futures::StreamExt;
use rayon::prelude::*;
use serde::Serialize;
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::time::SystemTime;
use tough::editor::RepositoryEditor;
use tough::schema::{Hashes, Target};
use tough::{ExpirationEnforcement, TargetName};
use update_metadata::{AddUpdateOptions, Images, Manifest, Update, WavePolicy};

/// What to publish and how.
#[derive(Debug)]
pub struct CreateOptions<'a> {
    /// Which repository, signed how, written where (shared with `refresh`). Its location is
    /// where the repository is published; it is extended when it exists there.
    pub signing: Signing<'a>,
    /// The variant's built images, with `manifest.json` extended for them; without them,
    /// `manifest.json` is carried over unchanged (or an empty one starts a new repository).
    pub artifacts: Option<&'a Artifacts>,
    /// More files to add as targets, each named by its file name (`--add-targets`, see
    /// [`files_in_dirs`](crate::files_in_dirs)).
    pub add_targets: &'a [ArtifactFile],
    /// When the first wave is measured from.
    pub release_start: SystemTime,
    /// The deployment waves.
    pub waves: &'a WavePolicy,
    /// Replace manifest.json's entry for a version that is already published.
    pub replace: bool,
}

/// What `repo create` did.
#[derive(Debug, Clone, Serialize)]
pub struct CreateReport {
    /// The repository directory written (`metadata/`, `targets/`, `root.json`).
    pub dir: PathBuf,
    /// The OS version published (none when only `add_targets` were given).
    pub version: Option<String>,
    /// Whether an existing repository was extended (false: a new one was started).
    pub extended: bool,
    /// Targets added or replaced by this release.
    pub added_targets: Vec<String>,
    /// Every target in the repository.
    pub total_targets: usize,
    /// The new metadata versions.
    pub versions: Versions,
}

const MAX_MANIFEST: usize = 64 * 1024 * 1024;

/// The target name of the update manifest.
const MANIFEST: &str = "manifest.json";

/// Adds the release and the extra targets to the repository and writes the signed result under
/// `<output_root>/<repo>/<version>-<build>/` (`targets-<targets version>/` without a variant),
/// pointing `latest` at it.
///
/// # Errors
/// Any [`Error`]: bad keys (checked first), a published repository that does not verify,
/// a version already in `manifest.json`, missing artifacts, two files for one target name,
/// I/O. Nothing is left under the final directory name on failure.
pub fn create(options: &CreateOptions<'_>) -> Result<CreateReport> {
    block_on(create_async(options))?
}

async fn create_async(options: &CreateOptions<'_>) -> Result<CreateReport> {
    let root = options.signing.checked_root().await?;
    // The new targets, each name from one file only; manifest.json is twoliter's.
    let mut new_files: Vec<(String, PathBuf)> = options
        .artifacts
        .into_iter()
        .flat_map(Artifacts::files)
        .chain(options.add_targets)
        .map(|file| (file.name.clone(), file.path.clone()))
        .collect();
    if let Some((_, path)) = new_files.iter().find(|(name, _)| name == MANIFEST) {
        return Err(Error::Target {
            target: MANIFEST.into(),
            reason: format!(
                "'{}' would replace the repository's manifest.json, which twoliter writes (or \
                 carries over from {}); rename or leave out the added file",
                path.display(),
                options.signing.location.targets_url
            ),
        });
    }
    check_unique(&new_files)?;
    let existing = if exists(options.signing.location).await? {
        Some(
            load(
                options.signing.root,
                options.signing.location,
                ExpirationEnforcement::Safe,
            )
            .await?,
        )
    } else {
        None
    };
    let previous_versions = existing.as_ref().map(Versions::of);
    let versions = Versions {
        targets: next_version(previous_versions.map(|v| v.targets), options.signing.now),
        snapshot: next_version(previous_versions.map(|v| v.snapshot), options.signing.now),
        timestamp: next_version(previous_versions.map(|v| v.timestamp), options.signing.now),
    };

    // manifest.json: the published one extended with this release; without a variant, the
    // published one as it is, or an empty one for a new repository.
    let manifest = match (options.artifacts, &existing) {
        (Some(artifacts), _) => {
            Some(release_manifest(options, artifacts, existing.as_ref()).await?)
        }
        (None, Some(repo)) if has_target(repo, MANIFEST) => None,
        (None, _) => Some(Manifest::default()),
    };
    let release_name = match options.artifacts {
        Some(artifacts) => artifacts.release_name(),
        None => format!("targets-{}", versions.targets),
    };
    let output = Output::start(
        options.signing.output_root,
        options.signing.repo,
        &release_name,
    )?;
    let root_path = output.dir().join("root.json");
    std::fs::write(&root_path, &options.signing.root.bytes).map_err(io_err("write", &root_path))?;
    if let Some(manifest) = manifest {
        let path = output.staging().join(MANIFEST);
        manifest
            .write(&path)
            .map_err(|e| Error::Manifest(Box::new(e)))?;
        new_files.push((MANIFEST.to_string(), path));
    }

    // Hash the new targets in parallel.
    let hashed: Vec<(String, PathBuf, Target)> = new_files
        .into_par_iter()
        .map(|(name, path)| {
            let target = hash_target(&path)?;
            Ok((name, path, target))
        })
        .collect::<Result<_>>()?;

    let mut editor = match existing {
        Some(ref repo) => RepositoryEditor::from_repo(&root_path, repo.clone()).await,
        None => RepositoryEditor::new(&root_path).await,
    }
    .map_err(|e| Error::Tuf {
        action: "start editing the repository".into(),
        reason: chain(&e),
    })?;
    for (name, _, target) in &hashed {
        editor
            .add_target(name.as_str(), target.clone())
            .map_err(|e| Error::Target {
                target: name.clone(),
                reason: chain(&e),
            })?;
    }
    sign_and_write(
        editor,
        &options.signing,
        versions,
        &output.dir().join("metadata"),
    )
    .await?;

    // Targets: the new files, then every earlier one not replaced.
    let consistent = root.signed.consistent_snapshot;
    let targets_dir = output.dir().join("targets");
    std::fs::create_dir_all(&targets_dir).map_err(io_err("create directory", &targets_dir))?;
    let file_name = |name: &str, target: &Target| {
        if consistent {
            format!("{}.{name}", hex::encode(&target.hashes.sha256))
        } else {
            name.to_string()
        }
    };
    let added: Vec<String> = hashed.iter().map(|(name, _, _)| name.clone()).collect();
    hashed.par_iter().try_for_each(|(name, path, target)| {
        place_file(path, &targets_dir.join(file_name(name, target)))
    })?;
    let mut total = hashed.len();
    if let Some(repo) = &existing {
        for (name, target) in repo.all_targets() {
            if added.iter().any(|a| a == name.raw()) {
                continue;
            }
            let dest = targets_dir.join(file_name(name.raw(), target));
            copy_existing_target(
                repo,
                options.signing.location,
                name,
                &file_name(name.raw(), target),
                &dest,
            )
            .await?;
            total += 1;
        }
    }
    let dir = output.finish(true)?;
    Ok(CreateReport {
        dir,
        version: options.artifacts.map(|a| a.name.version.to_string()),
        extended: previous_versions.is_some(),
        added_targets: added,
        total_targets: total,
        versions,
    })
}

/// The published `manifest.json` (or a new one) with the variant's release added: its images,
/// waves from `--release-start-time`, and its migrations from the previous version.
async fn release_manifest(
    options: &CreateOptions<'_>,
    artifacts: &Artifacts,
    existing: Option<&tough::Repository>,
) -> Result<Manifest> {
    let mut manifest = match existing {
        Some(repo) => read_manifest(repo).await?.unwrap_or_default(),
        None => Manifest::default(),
    };
    let previous = manifest
        .newest_version(&artifacts.name.variant, artifacts.name.arch.name())
        .cloned();
    let mut update = Update::new(
        artifacts.name.variant.as_str(),
        artifacts.name.arch.name(),
        artifacts.name.version.clone(),
        Images {
            boot: artifacts.boot.name.clone(),
            root: artifacts.root.name.clone(),
            hash: artifacts.hash.name.clone(),
        },
    );
    update.waves = options
        .waves
        .waves_for(options.release_start)
        .map_err(|e| Error::Manifest(Box::new(e)))?;
    let add = AddUpdateOptions {
        replace: options.replace,
        ..AddUpdateOptions::default()
    };
    manifest.add_update(update, add).map_err(|e| match e {
        update_metadata::Error::DuplicateUpdate { .. } => Error::AlreadyPublished {
            variant: artifacts.name.variant.clone(),
            arch: artifacts.name.arch,
            version: artifacts.name.version.to_string(),
        },
        e => Error::Manifest(Box::new(e)),
    })?;
    if let Some(previous) = previous.filter(|p| *p < artifacts.name.version) {
        if !artifacts.migrations.is_empty() {
            let names = artifacts
                .migrations
                .iter()
                .map(|m| m.name.clone())
                .collect();
            manifest
                .set_migrations(previous, artifacts.name.version.clone(), names)
                .map_err(|e| Error::Manifest(Box::new(e)))?;
        }
    }
    Ok(manifest)
}

/// Whether the repository lists target `name`.
fn has_target(repo: &tough::Repository, name: &str) -> bool {
    repo.all_targets().any(|(target, _)| target.raw() == name)
}

/// Refuses two files that would be published under one target name.
fn check_unique(files: &[(String, PathBuf)]) -> Result<()> {
    let mut seen: HashMap<&str, &Path> = HashMap::with_capacity(files.len());
    for (name, path) in files {
        if let Some(first) = seen.insert(name, path) {
            return Err(Error::Target {
                target: name.clone(),
                reason: format!(
                    "both '{}' and '{}' would be published under this name; rename or leave out \
                     one of them",
                    first.display(),
                    path.display()
                ),
            });
        }
    }
    Ok(())
}

/// Reads the published `manifest.json`, if the repository has one.
async fn read_manifest(repo: &tough::Repository) -> Result<Option<Manifest>> {
    let name = TargetName::new(MANIFEST).map_err(|e| Error::Target {
        target: MANIFEST.into(),
        reason: chain(&e),
    })?;
    let fail = |reason: String| Error::Target {
        target: MANIFEST.into(),
        reason,
    };
    let Some(mut stream) = repo.read_target(&name).await.map_err(|e| fail(chain(&e)))? else {
        return Ok(None);
    };
    let mut bytes = Vec::new();
    while let Some(chunk) = stream.next().await {
        bytes.extend_from_slice(&chunk.map_err(|e| fail(chain(&e)))?);
        if bytes.len() > MAX_MANIFEST {
            return Err(fail(format!("larger than {MAX_MANIFEST} bytes")));
        }
    }
    Manifest::from_slice(&bytes)
        .map(Some)
        .map_err(|e| Error::Manifest(Box::new(e)))
}

/// Puts an already published target into the new repository: a hard link (or copy) when it is
/// on the local file system, else a verified download.
async fn copy_existing_target(
    repo: &tough::Repository,
    location: &Location,
    name: &TargetName,
    file_name: &str,
    dest: &Path,
) -> Result<()> {
    if location.targets_url.scheme() == "file" {
        if let Ok(dir) = location.targets_url.to_file_path() {
            let source = dir.join(file_name);
            return place_file(&source, dest).map_err(|e| Error::Target {
                target: name.raw().to_string(),
                reason: format!(
                    "the published repository lists it but {} cannot be used: {e}",
                    source.display()
                ),
            });
        }
    }
    let fail = |reason: String| Error::Target {
        target: name.raw().to_string(),
        reason,
    };
    let mut stream = repo
        .read_target(name)
        .await
        .map_err(|e| fail(chain(&e)))?
        .ok_or_else(|| fail("listed but not readable".into()))?;
    let mut file = std::fs::File::create(dest).map_err(io_err("create", dest))?;
    while let Some(chunk) = stream.next().await {
        file.write_all(&chunk.map_err(|e| fail(chain(&e)))?)
            .map_err(io_err("write", dest))?;
    }
    Ok(())
}

/// The TUF target entry of a file: its length and sha256.
pub(crate) fn hash_target(path: &Path) -> Result<Target> {
    let mut file = std::fs::File::open(path).map_err(io_err("open", path))?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1024 * 1024];
    let mut length = 0u64;
    loop {
        let n = file.read(&mut buf).map_err(io_err("read", path))?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
        length += n as u64;
    }
    Ok(Target {
        length,
        hashes: Hashes {
            sha256: hasher.finalize().to_vec().into(),
            _extra: HashMap::new(),
        },
        custom: HashMap::new(),
        _extra: HashMap::new(),
    })
}
