//! Metadata expiration policy (Bottlerocket's `repo-expiration-policy.toml`).

use crate::error::{Error, Result};
use serde::{Deserialize, Deserializer};
use std::path::Path;
use std::time::Duration;

/// How long after signing each role's metadata expires.
///
/// ```toml
/// snapshot_expiration = "2 weeks"
/// targets_expiration = "2 weeks"
/// timestamp_expiration = "1 week"
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExpirationPolicy {
    /// Lifetime of `snapshot.json`.
    #[serde(deserialize_with = "duration")]
    pub snapshot_expiration: Duration,
    /// Lifetime of `targets.json`.
    #[serde(deserialize_with = "duration")]
    pub targets_expiration: Duration,
    /// Lifetime of `timestamp.json`.
    #[serde(deserialize_with = "duration")]
    pub timestamp_expiration: Duration,
}

const DAY: u64 = 24 * 3600;

impl Default for ExpirationPolicy {
    /// Snapshot and targets 2 weeks, timestamp 1 week.
    fn default() -> Self {
        Self {
            snapshot_expiration: Duration::from_secs(14 * DAY),
            targets_expiration: Duration::from_secs(14 * DAY),
            timestamp_expiration: Duration::from_secs(7 * DAY),
        }
    }
}

fn duration<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Duration, D::Error> {
    let text = String::deserialize(deserializer)?;
    parse_lifetime(&text).map_err(serde::de::Error::custom)
}

/// Parses a metadata lifetime such as "2 weeks" or "7d" (policy files, `repo init --expires`),
/// refusing anything under a minute: such metadata would expire before hosts could fetch it.
///
/// # Errors
/// A message naming the text and what is expected.
pub fn parse_lifetime(text: &str) -> std::result::Result<Duration, String> {
    let duration = humantime::parse_duration(text)
        .map_err(|e| format!("'{text}' is not a duration like \"2 weeks\" or \"7d\": {e}"))?;
    if duration < Duration::from_secs(60) {
        return Err(format!(
            "'{text}' is shorter than a minute; metadata would expire before hosts could fetch it"
        ));
    }
    Ok(duration)
}

impl ExpirationPolicy {
    /// Reads a policy file.
    ///
    /// # Errors
    /// [`Error::Policy`] naming the file and the bad or missing key.
    pub fn from_path(path: &Path) -> Result<Self> {
        let fail = |reason: String| Error::Policy {
            path: path.to_path_buf(),
            reason,
        };
        let text = std::fs::read_to_string(path).map_err(|e| fail(e.to_string()))?;
        toml::from_str(&text).map_err(|e| fail(e.message().to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_bottlerocket_policy() {
        let policy: ExpirationPolicy = toml::from_str(
            "snapshot_expiration = '3 weeks'\ntargets_expiration = '2 weeks'\ntimestamp_expiration = '1 week'\n",
        )
        .unwrap();
        assert_eq!(policy.snapshot_expiration, Duration::from_secs(21 * DAY));
        assert_eq!(policy.timestamp_expiration, Duration::from_secs(7 * DAY));
    }

    #[test]
    fn rejects_unknown_keys_and_tiny_durations() {
        assert!(toml::from_str::<ExpirationPolicy>("snapshot = '1w'").is_err());
        let error = toml::from_str::<ExpirationPolicy>(
            "snapshot_expiration = '1s'\ntargets_expiration = '1w'\ntimestamp_expiration = '1w'\n",
        )
        .unwrap_err();
        assert!(error.to_string().contains("shorter than a minute"));
    }
}
