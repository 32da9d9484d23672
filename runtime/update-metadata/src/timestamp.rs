//! RFC 3339 UTC timestamps, as the manifest's wave start times.
//!
//! Bottlerocket writes wave times with chrono's serde format for `DateTime<Utc>`: `Z` suffix, no
//! fraction for whole seconds, else 3, 6 or 9 fractional digits. [`Timestamp`]'s `Display` writes
//! exactly that, so a manifest written by either tool reads back and re-serializes byte for byte.
//! Parsing also accepts numeric offsets (`+02:00`), a lowercase `t`/`z` or a space separator;
//! those are normalized to UTC `Z`.

use crate::error::{Error, Result};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;
use std::str::FromStr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

const SECS_PER_DAY: i64 = 86_400;
const NANOS_PER_SEC: u32 = 1_000_000_000;
/// 0000-01-01T00:00:00Z.
const MIN_SECS: i64 = -62_167_219_200;
/// 9999-12-31T23:59:59Z.
const MAX_SECS: i64 = 253_402_300_799;

/// A UTC instant between years 0000 and 9999 with nanosecond precision.
///
/// Serialized as an RFC 3339 string (`2024-05-01T04:00:00Z`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp {
    secs: i64,
    nanos: u32,
}

impl Timestamp {
    /// The instant `secs` seconds and `nanos` nanoseconds after the Unix epoch (negative `secs`
    /// count back from it).
    ///
    /// # Errors
    /// [`Error::TimeOutOfRange`] when `nanos` is not below one second or the instant is outside
    /// years 0000 to 9999.
    pub fn from_unix(secs: i64, nanos: u32) -> Result<Self> {
        if nanos >= NANOS_PER_SEC {
            return Err(Error::TimeOutOfRange {
                reason: format!("{nanos} nanoseconds is not below one second"),
            });
        }
        if !(MIN_SECS..=MAX_SECS).contains(&secs) {
            return Err(Error::TimeOutOfRange {
                reason: format!("{secs} seconds from the Unix epoch is outside years 0000-9999"),
            });
        }
        Ok(Self { secs, nanos })
    }

    /// Converts a [`SystemTime`].
    ///
    /// # Errors
    /// [`Error::TimeOutOfRange`] when it is outside years 0000 to 9999.
    pub fn from_system_time(time: SystemTime) -> Result<Self> {
        let (secs, nanos) = system_time_parts(time);
        Self::from_unix(secs, nanos)
    }

    /// The current time.
    ///
    /// # Errors
    /// [`Error::TimeOutOfRange`] when the system clock is outside years 0000 to 9999.
    pub fn now() -> Result<Self> {
        Self::from_system_time(SystemTime::now())
    }

    /// Whole seconds since the Unix epoch (negative before it).
    #[must_use]
    pub fn unix_seconds(&self) -> i64 {
        self.secs
    }

    /// The nanoseconds past [`Timestamp::unix_seconds`], below one second.
    #[must_use]
    pub fn subsec_nanos(&self) -> u32 {
        self.nanos
    }

    /// This instant with its fraction of a second dropped.
    #[must_use]
    pub fn truncate_to_seconds(&self) -> Self {
        Self {
            secs: self.secs,
            nanos: 0,
        }
    }

    /// This instant plus `duration`, or `None` past year 9999.
    #[must_use]
    pub fn checked_add(&self, duration: Duration) -> Option<Self> {
        let secs = i64::try_from(duration.as_secs()).ok()?;
        let nanos = self.nanos + duration.subsec_nanos();
        let carry = i64::from(nanos / NANOS_PER_SEC);
        let secs = self.secs.checked_add(secs)?.checked_add(carry)?;
        Self::from_unix(secs, nanos % NANOS_PER_SEC).ok()
    }

    /// This instant as a [`SystemTime`].
    #[must_use]
    pub fn to_system_time(&self) -> SystemTime {
        let nanos = Duration::from_nanos(u64::from(self.nanos));
        match u64::try_from(self.secs) {
            Ok(secs) => UNIX_EPOCH + Duration::from_secs(secs) + nanos,
            Err(_) => UNIX_EPOCH - Duration::from_secs(self.secs.unsigned_abs()) + nanos,
        }
    }

    /// Whether this instant is at or before `time`.
    #[must_use]
    pub fn is_at_or_before(&self, time: SystemTime) -> bool {
        (self.secs, self.nanos) <= system_time_parts(time)
    }
}

/// Splits a `SystemTime` into seconds (floored) and nanoseconds relative to the Unix epoch,
/// saturating at `i64` limits.
fn system_time_parts(time: SystemTime) -> (i64, u32) {
    match time.duration_since(UNIX_EPOCH) {
        Ok(after) => (
            i64::try_from(after.as_secs()).unwrap_or(i64::MAX),
            after.subsec_nanos(),
        ),
        Err(before) => {
            let before = before.duration();
            let secs = i64::try_from(before.as_secs()).unwrap_or(i64::MAX);
            match before.subsec_nanos() {
                0 => (-secs, 0),
                n => (-secs - 1, NANOS_PER_SEC - n),
            }
        }
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's `days_from_civil`).
fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let yoe = year.rem_euclid(400);
    let month = i64::from(month);
    let doy = (153 * (if month > 2 { month - 3 } else { month + 9 }) + 2) / 5 + i64::from(day) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The proleptic Gregorian date of a day count since 1970-01-01 (Hinnant's `civil_from_days`).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    // The casts are lossless: day is 1..=31 and month 1..=12.
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = (if mp < 10 { mp + 3 } else { mp - 9 }) as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

fn is_leap(year: i64) -> bool {
    (year % 4 == 0 && year % 100 != 0) || year % 400 == 0
}

fn days_in_month(year: i64, month: u32) -> u32 {
    match month {
        2 if is_leap(year) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let days = self.secs.div_euclid(SECS_PER_DAY);
        let rem = self.secs.rem_euclid(SECS_PER_DAY);
        let (year, month, day) = civil_from_days(days);
        write!(
            f,
            "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}",
            rem / 3600,
            rem % 3600 / 60,
            rem % 60
        )?;
        let n = self.nanos;
        if n == 0 {
        } else if n.is_multiple_of(1_000_000) {
            write!(f, ".{:03}", n / 1_000_000)?;
        } else if n.is_multiple_of(1_000) {
            write!(f, ".{:06}", n / 1_000)?;
        } else {
            write!(f, ".{n:09}")?;
        }
        f.write_str("Z")
    }
}

/// A cursor over the bytes of a timestamp being parsed.
struct Cursor<'a> {
    text: &'a str,
    bytes: &'a [u8],
    pos: usize,
}

impl Cursor<'_> {
    fn fail<T>(&self, reason: impl Into<String>) -> Result<T> {
        Err(Error::InvalidTimestamp {
            value: self.text.to_string(),
            reason: reason.into(),
        })
    }

    /// Reads exactly `n` ASCII digits.
    fn digits(&mut self, n: usize, what: &str) -> Result<u32> {
        let Some(chunk) = self.bytes.get(self.pos..self.pos + n) else {
            return self.fail(format!(
                "expected {n} digits of {what} at byte {}",
                self.pos
            ));
        };
        if !chunk.iter().all(u8::is_ascii_digit) {
            return self.fail(format!(
                "expected {n} digits of {what} at byte {}",
                self.pos
            ));
        }
        self.pos += n;
        Ok(chunk
            .iter()
            .fold(0, |acc, b| acc * 10 + u32::from(b - b'0')))
    }

    /// Consumes one of `allowed`, returning it.
    fn one_of(&mut self, allowed: &[u8], what: &str) -> Result<u8> {
        match self.bytes.get(self.pos) {
            Some(b) if allowed.contains(b) => {
                self.pos += 1;
                Ok(*b)
            }
            _ => self.fail(format!("expected {what} at byte {}", self.pos)),
        }
    }
}

impl FromStr for Timestamp {
    type Err = Error;

    fn from_str(text: &str) -> Result<Self> {
        let mut c = Cursor {
            text,
            bytes: text.as_bytes(),
            pos: 0,
        };
        let year = i64::from(c.digits(4, "year")?);
        c.one_of(b"-", "'-' after the year")?;
        let month = c.digits(2, "month")?;
        c.one_of(b"-", "'-' after the month")?;
        let day = c.digits(2, "day")?;
        c.one_of(b"Tt ", "'T' between date and time")?;
        let hour = c.digits(2, "hour")?;
        c.one_of(b":", "':' after the hour")?;
        let minute = c.digits(2, "minute")?;
        c.one_of(b":", "':' after the minute")?;
        let second = c.digits(2, "second")?;
        let mut nanos = 0;
        if c.bytes.get(c.pos) == Some(&b'.') {
            c.pos += 1;
            let start = c.pos;
            while c.bytes.get(c.pos).is_some_and(u8::is_ascii_digit) {
                c.pos += 1;
            }
            let frac = &c.bytes[start..c.pos];
            if frac.is_empty() || frac.len() > 9 {
                return c.fail("the fraction of a second needs 1 to 9 digits");
            }
            let value = frac.iter().fold(0, |acc, b| acc * 10 + u32::from(b - b'0'));
            // Lossless: frac.len() is 1..=9.
            nanos = value * 10u32.pow(9 - frac.len() as u32);
        }
        let offset_secs = match c.one_of(b"Zz+-", "'Z' or a '+HH:MM'/'-HH:MM' offset")? {
            b'Z' | b'z' => 0,
            sign => {
                let oh = c.digits(2, "offset hours")?;
                c.one_of(b":", "':' in the offset")?;
                let om = c.digits(2, "offset minutes")?;
                if oh > 23 || om > 59 {
                    return c.fail("offset out of range");
                }
                let secs = i64::from(oh * 3600 + om * 60);
                if sign == b'-' {
                    -secs
                } else {
                    secs
                }
            }
        };
        if c.pos != c.bytes.len() {
            return c.fail(format!("unexpected text at byte {}", c.pos));
        }
        if !(1..=12).contains(&month) {
            return c.fail(format!("month {month} is not 01-12"));
        }
        if day == 0 || day > days_in_month(year, month) {
            return c.fail(format!("day {day} does not exist in {year:04}-{month:02}"));
        }
        if hour > 23 || minute > 59 || second > 59 {
            return c.fail("time of day out of range (leap seconds are not supported)");
        }
        let secs = days_from_civil(year, month, day) * SECS_PER_DAY
            + i64::from(hour * 3600 + minute * 60 + second)
            - offset_secs;
        Self::from_unix(secs, nanos).or_else(|_| c.fail("outside years 0000-9999 in UTC"))
    }
}

impl Serialize for Timestamp {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Timestamp {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ts(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    #[test]
    fn formats_like_chrono() {
        assert_eq!(ts("2024-05-01T00:00:00Z").unix_seconds(), 1_714_521_600);
        for s in [
            "1970-01-01T00:00:00Z",
            "2024-02-29T23:59:59Z",
            "2024-05-01T04:00:00.500Z",
            "2024-05-01T04:00:00.000001Z",
            "2024-05-01T04:00:00.123456789Z",
            "0000-01-01T00:00:00Z",
            "9999-12-31T23:59:59.999999999Z",
            "1969-12-31T23:59:59.250Z",
        ] {
            assert_eq!(ts(s).to_string(), s);
        }
    }

    #[test]
    fn normalizes_offsets() {
        assert_eq!(
            ts("2024-05-01T02:00:00+02:00").to_string(),
            "2024-05-01T00:00:00Z"
        );
        assert_eq!(
            ts("2024-04-30t23:30:00.1-00:30").to_string(),
            "2024-05-01T00:00:00.100Z"
        );
        assert_eq!(ts("2024-05-01 00:00:00z"), ts("2024-05-01T00:00:00Z"));
    }

    #[test]
    fn rejects_bad_text() {
        for s in [
            "",
            "2024-05-01",
            "2024-05-01T00:00:00",
            "2024-13-01T00:00:00Z",
            "2023-02-29T00:00:00Z",
            "2024-05-01T24:00:00Z",
            "2024-05-01T00:00:60Z",
            "2024-05-01T00:00:00.Z",
            "2024-05-01T00:00:00.1234567890Z",
            "2024-05-01T00:00:00Zjunk",
            "2024-05-01T00:00:00+2:00",
            "0000-01-01T00:00:00+01:00",
            "2024-05-01T00:00:00＋",
        ] {
            let err = s.parse::<Timestamp>().unwrap_err();
            assert!(matches!(err, Error::InvalidTimestamp { .. }), "{s}: {err}");
        }
    }

    #[test]
    fn system_time_conversions() {
        let t = UNIX_EPOCH - Duration::from_millis(1500);
        let stamp = Timestamp::from_system_time(t).unwrap();
        assert_eq!(
            (stamp.unix_seconds(), stamp.subsec_nanos()),
            (-2, 500_000_000)
        );
        assert!(stamp.is_at_or_before(t));
        assert!(!stamp.is_at_or_before(t - Duration::from_nanos(1)));
        assert_eq!(stamp.to_system_time(), t);
        let after = UNIX_EPOCH + Duration::new(1_714_536_000, 7);
        assert_eq!(
            Timestamp::from_system_time(after).unwrap().to_system_time(),
            after
        );
        assert!(Timestamp::from_unix(MAX_SECS + 1, 0).is_err());
        assert!(Timestamp::from_unix(0, NANOS_PER_SEC).is_err());
        let last = Timestamp::from_unix(MAX_SECS, 999_999_999).unwrap();
        assert!(last.checked_add(Duration::from_nanos(1)).is_none());
        assert_eq!(
            ts("2024-05-01T00:00:00.9Z")
                .checked_add(Duration::from_millis(200))
                .unwrap()
                .to_string(),
            "2024-05-01T00:00:01.100Z"
        );
    }
}
