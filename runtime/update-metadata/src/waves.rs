//! Deployment waves: a policy of relative start times and fleet percentages, turned into the
//! manifest's seed-bound → start-time map.
//!
//! Every host draws a seed in `0..MAX_SEED` (0–2047) once. In `manifest.json` an update's
//! `waves` maps the **first seed** of each wave to the time the wave starts:
//!
//! ```json
//! "waves": {"0": "2024-05-01T01:00:00Z", "20": "2024-05-01T04:00:00Z", "102": "2024-05-02T00:00:00Z"}
//! ```
//!
//! reads "seeds 0–19 may update from 01:00, seeds 20–101 from 04:00, seeds 102 and up from the
//! next day". A policy wave `{start_after = "1h", fleet_percentage = 1}` followed by
//! `{start_after = "4h", fleet_percentage = 5}` therefore becomes `0 → start + 1h` and
//! `20 → start + 4h`: a wave's percentage is where the *next* wave's seeds begin
//! (`percentage × 2048 / 100`, rounded down, so 1 % → 20), which is how Bottlerocket's pubsys
//! writes them. The last wave must reach 100 %: every seed above the last bound belongs to it.

use crate::error::{Error, Result};
use crate::timestamp::Timestamp;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, SystemTime};

/// Seeds are drawn from `0..MAX_SEED`; wave bounds are at most `MAX_SEED`.
pub const MAX_SEED: u32 = 2048;

/// One step of a [`WavePolicy`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Wave {
    /// How long after the release's start time this wave begins. In TOML a humantime string:
    /// `"1h"`, `"4 hours"`, `"1d"`, `"2days"`, `"90min"`.
    #[serde(
        serialize_with = "serialize_duration",
        deserialize_with = "deserialize_duration"
    )]
    pub start_after: Duration,
    /// The share of the fleet (1–100) that may have updated once this wave is under way.
    pub fleet_percentage: u32,
}

/// A validated list of waves: start times and fleet percentages both strictly increasing, the
/// last wave at 100 %.
///
/// TOML form (Bottlerocket's `waves.toml`):
///
/// ```toml
/// [[waves]]
/// start_after = "1h"
/// fleet_percentage = 1
///
/// [[waves]]
/// start_after = "1d"
/// fleet_percentage = 100
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct WavePolicy {
    waves: Vec<Wave>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPolicy {
    waves: Vec<Wave>,
}

impl<'de> Deserialize<'de> for WavePolicy {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let raw = RawPolicy::deserialize(deserializer)?;
        Self::new(raw.waves).map_err(serde::de::Error::custom)
    }
}

impl Default for WavePolicy {
    /// Bottlerocket's default rollout: 1 % after 1 hour, 5 % after 4 hours, 15 % after 1 day,
    /// 40 % after 2 days, 60 % after 4 days, 90 % after 5 days, everyone after 6 days.
    fn default() -> Self {
        const HOUR: u64 = 3600;
        const DAY: u64 = 24 * HOUR;
        let waves = [
            (HOUR, 1),
            (4 * HOUR, 5),
            (DAY, 15),
            (2 * DAY, 40),
            (4 * DAY, 60),
            (5 * DAY, 90),
            (6 * DAY, 100),
        ]
        .into_iter()
        .map(|(secs, fleet_percentage)| Wave {
            start_after: Duration::from_secs(secs),
            fleet_percentage,
        })
        .collect();
        Self { waves }
    }
}

impl WavePolicy {
    /// Builds a policy after checking its rules.
    ///
    /// # Errors
    /// [`Error::InvalidPolicy`] when there are no waves, a percentage is 0 or above 100,
    /// percentages or start times do not strictly increase, or the last wave is not at 100 %.
    pub fn new(waves: Vec<Wave>) -> Result<Self> {
        let invalid = |reason: String| Err(Error::InvalidPolicy { reason });
        let Some(last) = waves.last() else {
            return invalid("it has no waves; add at least one [[waves]] table".into());
        };
        for (i, wave) in waves.iter().enumerate() {
            let n = i + 1;
            if !(1..=100).contains(&wave.fleet_percentage) {
                return invalid(format!(
                    "wave {n}: fleet_percentage {} is not between 1 and 100",
                    wave.fleet_percentage
                ));
            }
            if wave.start_after.subsec_nanos() != 0 {
                return invalid(format!(
                    "wave {n}: start_after {} is not a whole number of seconds",
                    humantime::format_duration(wave.start_after)
                ));
            }
            if i > 0 {
                let prev = &waves[i - 1];
                if wave.fleet_percentage <= prev.fleet_percentage {
                    return invalid(format!(
                        "wave {n}: fleet_percentage {} does not increase over wave {i}'s {}",
                        wave.fleet_percentage, prev.fleet_percentage
                    ));
                }
                if wave.start_after <= prev.start_after {
                    return invalid(format!(
                        "wave {n}: start_after {} is not later than wave {i}'s {}",
                        humantime::format_duration(wave.start_after),
                        humantime::format_duration(prev.start_after)
                    ));
                }
            }
        }
        if last.fleet_percentage != 100 {
            return invalid(format!(
                "the last wave reaches only {} % of the fleet; it must be 100 because every \
                 remaining seed belongs to the last wave",
                last.fleet_percentage
            ));
        }
        Ok(Self { waves })
    }

    /// Parses a TOML policy (`[[waves]]` tables) and checks it.
    ///
    /// # Errors
    /// [`Error::ParsePolicy`] for bad TOML, unknown or missing keys and unparsable durations;
    /// [`Error::InvalidPolicy`] for broken rules (see [`WavePolicy::new`]).
    pub fn from_toml(text: &str) -> Result<Self> {
        Self::parse(text, "(in memory)".to_string())
    }

    /// Reads and checks a TOML policy file.
    ///
    /// # Errors
    /// [`Error::Io`] when the file can't be read, else as [`WavePolicy::from_toml`].
    pub fn from_path(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(fsutil::io_err("read", path))?;
        Self::parse(&text, format!("'{}'", path.display()))
    }

    fn parse(text: &str, origin: String) -> Result<Self> {
        let raw: RawPolicy = toml::from_str(text).map_err(|source| Error::ParsePolicy {
            origin: origin.clone(),
            source,
        })?;
        Self::new(raw.waves).map_err(|e| match e {
            Error::InvalidPolicy { reason } => Error::InvalidPolicy {
                reason: format!("{origin}: {reason}"),
            },
            other => other,
        })
    }

    /// The waves, in order.
    #[must_use]
    pub fn waves(&self) -> &[Wave] {
        &self.waves
    }

    /// The manifest `waves` map for a release starting at `start` (see [`waves_for`]).
    ///
    /// # Errors
    /// [`Error::TimeOutOfRange`] when `start` or a wave's start time is outside years 0000–9999.
    pub fn waves_for(&self, start: SystemTime) -> Result<BTreeMap<u32, Timestamp>> {
        let start = Timestamp::from_system_time(start)?.truncate_to_seconds();
        let mut map = BTreeMap::new();
        let mut first_seed = 0;
        for wave in &self.waves {
            let time =
                start
                    .checked_add(wave.start_after)
                    .ok_or_else(|| Error::TimeOutOfRange {
                        reason: format!(
                            "{start} + {} is past year 9999",
                            humantime::format_duration(wave.start_after)
                        ),
                    })?;
            map.insert(first_seed, time);
            first_seed = seed_bound(wave.fleet_percentage);
        }
        Ok(map)
    }
}

/// The first seed after `percentage` % of the fleet: `percentage × MAX_SEED / 100`, rounded down.
#[must_use]
pub fn seed_bound(percentage: u32) -> u32 {
    let bound = u64::from(percentage.min(100)) * u64::from(MAX_SEED) / 100;
    // Lossless: bound ≤ MAX_SEED.
    bound as u32
}

/// The manifest `waves` map for a release starting at `start` under `policy`: first seed of each
/// wave → start time, in whole seconds (`start` is truncated to a whole second).
///
/// For the default policy and a start of `2024-05-01T00:00:00Z`:
/// `0 → 01:00`, `20 → 04:00`, `102 → 05-02`, `307 → 05-03`, `819 → 05-05`, `1228 → 05-06`,
/// `1843 → 05-07` (all `T..:00:00Z`).
///
/// # Errors
/// [`Error::TimeOutOfRange`] when a time is outside years 0000–9999.
pub fn waves_for(start: SystemTime, policy: &WavePolicy) -> Result<BTreeMap<u32, Timestamp>> {
    policy.waves_for(start)
}

fn serialize_duration<S: Serializer>(d: &Duration, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.collect_str(&humantime::format_duration(*d))
}

fn deserialize_duration<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Duration, D::Error> {
    let text = String::deserialize(deserializer)?;
    parse_duration(&text).map_err(serde::de::Error::custom)
}

/// Parses a humantime duration, also accepting Bottlerocket's spelled-out forms with a space
/// between number and unit (`"4 hours"`) and an optional leading `"in "`.
fn parse_duration(text: &str) -> Result<Duration, String> {
    let trimmed = text.trim();
    let trimmed = trimmed.strip_prefix("in ").unwrap_or(trimmed);
    humantime::parse_duration(trimmed).map_err(|e| {
        format!("invalid duration '{text}': {e} (expected e.g. \"1h\", \"4 hours\", \"2d\")")
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::UNIX_EPOCH;

    #[test]
    fn spelled_out_durations() {
        assert_eq!(parse_duration("1 hour").unwrap(), Duration::from_secs(3600));
        assert_eq!(
            parse_duration("4 hours").unwrap(),
            Duration::from_secs(4 * 3600)
        );
        assert_eq!(parse_duration("1d").unwrap(), Duration::from_secs(86_400));
        assert_eq!(
            parse_duration("in 2 days").unwrap(),
            Duration::from_secs(2 * 86_400)
        );
        assert_eq!(parse_duration("90min").unwrap(), Duration::from_secs(5400));
        assert!(parse_duration("soon").is_err());
    }

    #[test]
    fn seed_bounds() {
        let bounds: Vec<u32> = [1, 5, 15, 40, 60, 90, 100]
            .into_iter()
            .map(seed_bound)
            .collect();
        assert_eq!(bounds, [20, 102, 307, 819, 1228, 1843, 2048]);
    }

    #[test]
    fn sub_second_start_is_truncated() {
        let policy =
            WavePolicy::from_toml("[[waves]]\nstart_after = \"0s\"\nfleet_percentage = 100\n")
                .unwrap();
        let start = UNIX_EPOCH + Duration::from_millis(1_714_521_600_750);
        let waves = policy.waves_for(start).unwrap();
        assert_eq!(waves.len(), 1);
        assert_eq!(waves[&0].to_string(), "2024-05-01T00:00:00Z");
    }
}
