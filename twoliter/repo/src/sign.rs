//! Versions, expirations and signing shared by `create` and `refresh`.

use crate::error::{chain, Error, Result};
use crate::keys::SigningKeys;
use crate::policy::ExpirationPolicy;
use serde::Serialize;
use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tough::editor::RepositoryEditor;

/// Metadata versions of the three roles `create` and `refresh` sign.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Versions {
    /// `targets.json`.
    pub targets: u64,
    /// `snapshot.json`.
    pub snapshot: u64,
    /// `timestamp.json`.
    pub timestamp: u64,
}

impl Versions {
    /// The versions of a loaded repository.
    pub(crate) fn of(repo: &tough::Repository) -> Self {
        Self {
            targets: repo.targets().signed.version.get(),
            snapshot: repo.snapshot().signed.version.get(),
            timestamp: repo.timestamp().signed.version.get(),
        }
    }
}

/// Seconds since the Unix epoch (0 for times before it).
pub(crate) fn unix_seconds(time: SystemTime) -> u64 {
    time.duration_since(UNIX_EPOCH)
        .map_or(0, |duration| duration.as_secs())
}

/// The next version of a role: the clock (Unix seconds), but always above the previous one.
pub(crate) fn next_version(previous: Option<u64>, now: SystemTime) -> u64 {
    let clock = unix_seconds(now).max(1);
    match previous {
        Some(previous) => clock.max(previous.saturating_add(1)),
        None => clock,
    }
}

/// `now + lifetime`, in whole seconds (python-tuf rejects fractional seconds).
pub(crate) fn expiry(now: SystemTime, lifetime: Duration) -> Result<jiff::Timestamp> {
    let seconds = unix_seconds(now).saturating_add(lifetime.as_secs());
    i64::try_from(seconds)
        .ok()
        .and_then(|s| jiff::Timestamp::from_second(s).ok())
        .ok_or_else(|| Error::Tuf {
            action: "compute an expiration time".into(),
            reason: format!("{lifetime:?} from now is beyond the year 9999"),
        })
}

/// Sets versions and expirations, signs targets, snapshot and timestamp, and writes the
/// metadata (consistent-snapshot names when the root asks for them) into `metadata_dir`.
pub(crate) async fn sign_and_write(
    mut editor: RepositoryEditor,
    signing: &Signing<'_>,
    versions: Versions,
    metadata_dir: &Path,
) -> Result<()> {
    let Signing {
        repo,
        keys,
        expirations,
        now,
        ..
    } = *signing;
    let version = |v: u64| std::num::NonZeroU64::new(v).unwrap_or(std::num::NonZeroU64::MIN);
    let fail = |e: tough::error::Error| Error::Sign {
        repo: repo.to_string(),
        reason: chain(&e),
    };
    editor
        .targets_version(version(versions.targets))
        .map_err(fail)?
        .targets_expires(expiry(now, expirations.targets_expiration)?)
        .map_err(fail)?
        .snapshot_version(version(versions.snapshot))
        .snapshot_expires(expiry(now, expirations.snapshot_expiration)?)
        .timestamp_version(version(versions.timestamp))
        .timestamp_expires(expiry(now, expirations.timestamp_expiration)?);
    let signed = editor.sign(&keys.sources).await.map_err(fail)?;
    signed.write(metadata_dir).await.map_err(fail)
}

/// What `create` and `refresh` share: which repository, the trust and keys to sign it with,
/// where the result goes, the metadata lifetimes and the signing time.
#[derive(Debug, Clone, Copy)]
pub struct Signing<'a> {
    /// The repository name (for messages and the output directory).
    pub repo: &'a str,
    /// The trusted root role.
    pub root: &'a crate::TrustedRoot,
    /// Where the repository is published.
    pub location: &'a crate::Location,
    /// The keys that sign targets, snapshot and timestamp.
    pub keys: &'a SigningKeys,
    /// Where repositories are written (`<project>/build/repos`).
    pub output_root: &'a std::path::Path,
    /// Metadata lifetimes.
    pub expirations: &'a ExpirationPolicy,
    /// The signing time (metadata versions and expirations start here).
    pub now: SystemTime,
}

impl Signing<'_> {
    /// The trusted root, refused when expired or when the keys cannot sign targets, snapshot
    /// and timestamp under it.
    pub(crate) async fn checked_root(&self) -> Result<tough::schema::Signed<tough::schema::Root>> {
        use tough::schema::RoleType;
        let root = self.root.parse_unexpired(self.now)?;
        crate::keys::check_keys(
            self.keys,
            &root.signed,
            &[RoleType::Targets, RoleType::Snapshot, RoleType::Timestamp],
        )
        .await?;
        Ok(root)
    }
}
