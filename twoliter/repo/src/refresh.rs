//! `repo refresh`: new versions and expirations for targets, snapshot and timestamp, without
//! touching targets.

use crate::error::{chain, io_err, Error, Result};
use crate::keys::{check_keys, SigningKeys};
use crate::load::{block_on, load, Location, TrustedRoot};
use crate::output::Output;
use crate::policy::ExpirationPolicy;
use crate::sign::{next_version, sign_and_write, unix_seconds, Versions};
use serde::Serialize;
use std::path::{Path, PathBuf};
use std::time::SystemTime;
use tough::editor::RepositoryEditor;
use tough::schema::RoleType;
use tough::ExpirationEnforcement;

/// What to refresh.
#[derive(Debug)]
pub struct RefreshOptions<'a> {
    /// The repository name.
    pub repo: &'a str,
    /// The trusted root role.
    pub root: &'a TrustedRoot,
    /// The published repository.
    pub location: &'a Location,
    /// The keys that sign targets, snapshot and timestamp.
    pub keys: &'a SigningKeys,
    /// Where to write (`<project>/build/repos`).
    pub output_root: &'a Path,
    /// Metadata lifetimes.
    pub expirations: &'a ExpirationPolicy,
    /// The signing time.
    pub now: SystemTime,
    /// Load metadata even when it has already expired.
    pub unsafe_refresh: bool,
}

/// What `refresh` wrote.
#[derive(Debug, Clone, Serialize)]
pub struct RefreshReport {
    /// The directory holding the new `metadata/` (upload it over the published metadata).
    pub dir: PathBuf,
    /// The new versions.
    pub versions: Versions,
}

/// Re-signs the published repository's targets, snapshot and timestamp into
/// `<output_root>/<repo>/refresh-<unix time>/metadata/`.
///
/// # Errors
/// [`Error::Load`] when the published metadata does not verify (or has expired and
/// `unsafe_refresh` is false), [`Error::Key`] for unusable keys.
pub fn refresh(options: &RefreshOptions<'_>) -> Result<RefreshReport> {
    block_on(async {
        let root = options.root.parse_unexpired(options.now)?;
        check_keys(
            options.keys,
            &root.signed,
            &[RoleType::Targets, RoleType::Snapshot, RoleType::Timestamp],
        )
        .await?;
        let enforcement = if options.unsafe_refresh {
            ExpirationEnforcement::Unsafe
        } else {
            ExpirationEnforcement::Safe
        };
        let repo = load(options.root, options.location, enforcement).await?;
        let previous = Versions::of(&repo);
        let name = format!("refresh-{}", unix_seconds(options.now));
        let output = Output::start(options.output_root, options.repo, &name)?;
        let root_path = output.dir().join("root.json");
        std::fs::write(&root_path, &options.root.bytes).map_err(io_err("write", &root_path))?;
        let editor = RepositoryEditor::from_repo(&root_path, repo)
            .await
            .map_err(|e| Error::Tuf {
                action: "start editing the repository".into(),
                reason: chain(&e),
            })?;
        let versions = Versions {
            targets: next_version(Some(previous.targets), options.now),
            snapshot: next_version(Some(previous.snapshot), options.now),
            timestamp: next_version(Some(previous.timestamp), options.now),
        };
        sign_and_write(
            editor,
            options.repo,
            options.keys,
            versions,
            options.expirations,
            options.now,
            &output.dir().join("metadata"),
        )
        .await?;
        let dir = output.finish(false)?;
        Ok(RefreshReport { dir, versions })
    })?
}
