//! `repo refresh`: new versions and expirations for targets, snapshot and timestamp, without
//! touching targets.

use crate::error::{chain, io_err, Error, Result};
use crate::load::{block_on, load};
use crate::output::Output;
use crate::sign::{next_version, sign_and_write, unix_seconds, Signing, Versions};
use serde::Serialize;
use std::path::PathBuf;
use tough::editor::RepositoryEditor;
use tough::ExpirationEnforcement;

/// What to refresh.
#[derive(Debug)]
pub struct RefreshOptions<'a> {
    /// Which repository (its location is the published one), signed how, written where.
    pub signing: Signing<'a>,
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
        options.signing.checked_root().await?;
        let enforcement = if options.unsafe_refresh {
            ExpirationEnforcement::Unsafe
        } else {
            ExpirationEnforcement::Safe
        };
        let repo = load(options.signing.root, options.signing.location, enforcement).await?;
        let previous = Versions::of(&repo);
        let name = format!("refresh-{}", unix_seconds(options.signing.now));
        let output = Output::start(options.signing.output_root, options.signing.repo, &name)?;
        let root_path = output.dir().join("root.json");
        std::fs::write(&root_path, &options.signing.root.bytes)
            .map_err(io_err("write", &root_path))?;
        let editor = RepositoryEditor::from_repo(&root_path, repo)
            .await
            .map_err(|e| Error::Tuf {
                action: "start editing the repository".into(),
                reason: chain(&e),
            })?;
        let versions = Versions {
            targets: next_version(Some(previous.targets), options.signing.now),
            snapshot: next_version(Some(previous.snapshot), options.signing.now),
            timestamp: next_version(Some(previous.timestamp), options.signing.now),
        };
        sign_and_write(
            editor,
            &options.signing,
            versions,
            &output.dir().join("metadata"),
        )
        .await?;
        let dir = output.finish(false)?;
        Ok(RefreshReport { dir, versions })
    })?
}
