//! `repo validate` and `repo status`.

use crate::error::{chain, Error, Result};
use crate::load::{block_on, load, Location, TrustedRoot};
use crate::sign::Versions;
use futures::StreamExt;
use serde::Serialize;
use std::time::SystemTime;
use tough::schema::{RoleType, Signature};
use tough::ExpirationEnforcement;

/// What `validate` checked.
#[derive(Debug, Clone, Serialize)]
pub struct ValidateReport {
    /// The metadata base URL.
    pub metadata_url: String,
    /// The metadata versions.
    pub versions: Versions,
    /// Targets listed in targets.json.
    pub targets: usize,
    /// Targets downloaded and checked against their signed length and sha256.
    pub targets_verified: usize,
}

/// Loads the repository with the trusted root, enforcing signatures, thresholds, versions and
/// expirations; with `validate_targets`, also reads every target and checks its length and hash.
///
/// # Errors
/// [`Error::Load`] when the metadata does not verify, [`Error::Target`] naming the first target
/// that is missing or differs from what was signed.
pub fn validate(
    root: &TrustedRoot,
    location: &Location,
    validate_targets: bool,
) -> Result<ValidateReport> {
    block_on(async {
        let repo = load(root, location, ExpirationEnforcement::Safe).await?;
        let names: Vec<_> = repo.all_targets().map(|(name, _)| name.clone()).collect();
        let mut verified = 0;
        if validate_targets {
            for name in &names {
                let fail = |reason: String| Error::Target {
                    target: name.raw().to_string(),
                    reason: format!("{reason}; the file is missing or changed since it was signed"),
                };
                let mut stream = repo
                    .read_target(name)
                    .await
                    .map_err(|e| fail(chain(&e)))?
                    .ok_or_else(|| fail("listed but not readable".into()))?;
                while let Some(chunk) = stream.next().await {
                    chunk.map_err(|e| fail(chain(&e)))?;
                }
                verified += 1;
            }
        }
        Ok(ValidateReport {
            metadata_url: location.metadata_url.to_string(),
            versions: Versions::of(&repo),
            targets: names.len(),
            targets_verified: verified,
        })
    })?
}

/// One role's state.
#[derive(Debug, Clone, Serialize)]
pub struct RoleStatus {
    /// `root`, `targets`, `snapshot` or `timestamp`.
    pub role: String,
    /// The metadata version.
    pub version: u64,
    /// When it expires (RFC 3339).
    pub expires: String,
    /// Whole days until it expires (negative once expired).
    pub expires_in_days: i64,
    /// It has expired: clients refuse the repository.
    pub expired: bool,
    /// The key ids root.json trusts for the role.
    pub keys: Vec<String>,
    /// How many of them must sign.
    pub threshold: u64,
    /// Signatures present from trusted keys.
    pub signatures: usize,
}

/// The state of every top-level role.
#[derive(Debug, Clone, Serialize)]
pub struct StatusReport {
    /// The metadata base URL.
    pub metadata_url: String,
    /// Targets listed.
    pub targets: usize,
    /// root, targets, snapshot, timestamp.
    pub roles: Vec<RoleStatus>,
    /// Roles expired or expiring within the warning window, and missing signatures.
    pub warnings: Vec<String>,
}

/// Reports each role's version, expiry, keys, threshold and signatures. Expired metadata is
/// loaded (signatures are still verified) so that it can be reported.
///
/// # Errors
/// [`Error::Load`] when the metadata does not verify.
pub fn status(
    root: &TrustedRoot,
    location: &Location,
    warn_days: u32,
    now: SystemTime,
) -> Result<StatusReport> {
    block_on(async {
        let repo = load(root, location, ExpirationEnforcement::Unsafe).await?;
        let root_role = &repo.root().signed;
        let now_secs = i64::try_from(crate::sign::unix_seconds(now)).unwrap_or(i64::MAX);
        let roles = [
            (
                RoleType::Root,
                repo.root().signed.version.get(),
                repo.root().signed.expires,
                &repo.root().signatures,
            ),
            (
                RoleType::Targets,
                repo.targets().signed.version.get(),
                repo.targets().signed.expires,
                &repo.targets().signatures,
            ),
            (
                RoleType::Snapshot,
                repo.snapshot().signed.version.get(),
                repo.snapshot().signed.expires,
                &repo.snapshot().signatures,
            ),
            (
                RoleType::Timestamp,
                repo.timestamp().signed.version.get(),
                repo.timestamp().signed.expires,
                &repo.timestamp().signatures,
            ),
        ];
        let mut report = StatusReport {
            metadata_url: location.metadata_url.to_string(),
            targets: repo.all_targets().count(),
            roles: Vec::new(),
            warnings: Vec::new(),
        };
        for (role, version, expires, signatures) in roles {
            let role_keys = root_role.roles.get(&role);
            let keys: Vec<String> = role_keys
                .map(|k| k.keyids.iter().map(hex::encode).collect())
                .unwrap_or_default();
            let threshold = role_keys.map_or(0, |k| k.threshold.get());
            let trusted = count_trusted(signatures, &keys);
            let seconds_left = expires.as_second() - now_secs;
            let days = seconds_left.div_euclid(86_400);
            if seconds_left <= 0 {
                report.warnings.push(format!(
                    "{role} expired at {expires}; clients refuse the repository until it is re-signed (`twoliter repo refresh --published --unsafe-refresh`{})",
                    if role == RoleType::Root { ", or a new root from `twoliter repo init`" } else { "" }
                ));
            } else if seconds_left < i64::from(warn_days) * 86_400 {
                report.warnings.push(format!(
                    "{role} expires within {warn_days} days ({expires}); run `twoliter repo refresh`"
                ));
            }
            if (trusted as u64) < threshold {
                report.warnings.push(format!(
                    "{role} has {trusted} trusted signatures, below its threshold {threshold}"
                ));
            }
            report.roles.push(RoleStatus {
                role: role.to_string(),
                version,
                expires: expires.to_string(),
                expires_in_days: days,
                expired: seconds_left <= 0,
                keys,
                threshold,
                signatures: trusted,
            });
        }
        Ok(report)
    })?
}

fn count_trusted(signatures: &[Signature], keys: &[String]) -> usize {
    signatures
        .iter()
        .filter(|s| keys.contains(&hex::encode(&s.keyid)))
        .count()
}
