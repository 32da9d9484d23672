//! General-purpose values: strings, base64, identifiers, durations, modes, versions, numbers.

use super::{check_chars, check_length, show, InvalidValue};
use schemars::gen::SchemaGenerator;
use schemars::schema::{InstanceType, Schema, SchemaObject};
use schemars::JsonSchema;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;

/// Characters that start a new line somewhere (Rust's `lines()` misses a few of them).
const LINE_TERMINATORS: [char; 7] = [
    '\n', '\r', '\u{000B}', '\u{000C}', '\u{0085}', '\u{2028}', '\u{2029}',
];

fn check_single_line(value: &str) -> Result<(), String> {
    match value.find(LINE_TERMINATORS) {
        Some(_) => Err("it contains a line break".to_owned()),
        None => Ok(()),
    }
}

/// Decodes standard base64 (alphabet `A-Za-z0-9+/`, `=` padding required, no whitespace), saying
/// what is wrong when the text is not canonical base64.
pub(crate) fn decode_base64(input: &str) -> Result<Vec<u8>, String> {
    check_chars(input, |c| {
        c.is_ascii_alphanumeric() || matches!(c, '+' | '/' | '=')
    })?;
    let bytes = input.as_bytes();
    if !bytes.len().is_multiple_of(4) {
        return Err(format!(
            "its length {} is not a multiple of 4 (missing '=' padding?)",
            bytes.len()
        ));
    }
    let chunks = bytes.len() / 4;
    let mut out = Vec::with_capacity(chunks * 3);
    for (index, chunk) in bytes.chunks(4).enumerate() {
        let mut sextets = [0u32; 4];
        let mut padding = 0;
        for (position, &byte) in chunk.iter().enumerate() {
            if byte == b'=' {
                if index + 1 != chunks || position < 2 {
                    return Err("'=' padding appears before the end".to_owned());
                }
                padding += 1;
                continue;
            }
            if padding > 0 {
                return Err("'=' padding appears before the end".to_owned());
            }
            sextets[position] = match byte {
                b'A'..=b'Z' => byte - b'A',
                b'a'..=b'z' => byte - b'a' + 26,
                b'0'..=b'9' => byte - b'0' + 52,
                b'+' => 62,
                _ => 63,
            } as u32;
        }
        if (padding == 1 && sextets[2] & 0b11 != 0) || (padding == 2 && sextets[1] & 0b1111 != 0) {
            return Err("its last character has unused bits set (not canonical base64)".to_owned());
        }
        let n = sextets[0] << 18 | sextets[1] << 12 | sextets[2] << 6 | sextets[3];
        out.push((n >> 16) as u8);
        if padding < 2 {
            out.push((n >> 8) as u8);
        }
        if padding < 1 {
            out.push(n as u8);
        }
    }
    Ok(out)
}

fn check_base64(value: &str) -> Result<(), String> {
    decode_base64(value).map(|_| ())
}

fn check_pem_bundle(value: &str) -> Result<(), String> {
    if value.is_empty() {
        return Err("it is empty".to_owned());
    }
    let decoded = decode_base64(value)?;
    let text = String::from_utf8_lossy(&decoded);
    if text.contains("-----BEGIN ") && text.contains("-----END ") {
        Ok(())
    } else {
        Err("it decodes to something without a `-----BEGIN ...-----` PEM block".to_owned())
    }
}

fn check_identifier(value: &str) -> Result<(), String> {
    check_length(value, 76)?;
    check_chars(value, |c| c.is_ascii_alphanumeric() || c == '-')
}

fn check_service_name(value: &str) -> Result<(), String> {
    check_length(value, 255)?;
    check_chars(value, |c| {
        c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '@')
    })?;
    if value.starts_with('.') {
        return Err("it starts with '.'".to_owned());
    }
    Ok(())
}

/// Nanoseconds in each Go duration unit.
fn duration_unit(unit: &str) -> Option<u128> {
    Some(match unit {
        "ns" => 1,
        "us" | "µs" | "μs" => 1_000,
        "ms" => 1_000_000,
        "s" => 1_000_000_000,
        "m" => 60_000_000_000,
        "h" => 3_600_000_000_000,
        _ => return None,
    })
}

/// Parses a Go duration (`300ms`, `10s`, `1h30m`, `1.5h`, `0`) into nanoseconds.
fn parse_go_duration(value: &str) -> Result<u128, String> {
    if value == "0" {
        return Ok(0);
    }
    if value.is_empty() {
        return Err("it is empty".to_owned());
    }
    let is_number = |c: char| c.is_ascii_digit() || c == '.';
    let mut rest = value;
    let mut total: u128 = 0;
    while !rest.is_empty() {
        let number_len = rest.find(|c| !is_number(c)).unwrap_or(rest.len());
        let number = &rest[..number_len];
        if number.is_empty() {
            return Err(format!("a number was expected at {}", show(rest)));
        }
        rest = &rest[number_len..];
        let unit_len = rest.find(is_number).unwrap_or(rest.len());
        let unit = &rest[..unit_len];
        rest = &rest[unit_len..];
        let unit_nanos = match (unit, duration_unit(unit)) {
            ("", _) => return Err(format!("{} has no unit", show(number))),
            (_, Some(nanos)) => nanos,
            (_, None) => {
                return Err(format!(
                    "unit {} is not one of h, m, s, ms, us, ns",
                    show(unit)
                ))
            }
        };
        let (whole, fraction) = number.split_once('.').unwrap_or((number, ""));
        if (whole.is_empty() && fraction.is_empty()) || fraction.contains('.') {
            return Err(format!("{} is not a number", show(number)));
        }
        let too_long = || "it is longer than the longest Go duration (about 292 years)".to_owned();
        let whole: u128 = if whole.is_empty() {
            0
        } else {
            whole.parse().map_err(|_| too_long())?
        };
        let fraction = &fraction[..fraction.len().min(18)];
        let fraction_nanos = if fraction.is_empty() {
            0
        } else {
            let digits: u128 = fraction.parse().map_err(|_| too_long())?;
            digits * unit_nanos / 10u128.pow(fraction.len() as u32)
        };
        total = whole
            .checked_mul(unit_nanos)
            .and_then(|nanos| nanos.checked_add(fraction_nanos))
            .and_then(|nanos| nanos.checked_add(total))
            .ok_or_else(too_long)?;
        if total > i64::MAX as u128 {
            return Err(too_long());
        }
    }
    Ok(total)
}

fn check_go_duration(value: &str) -> Result<(), String> {
    parse_go_duration(value).map(|_| ())
}

fn check_file_mode(value: &str) -> Result<(), String> {
    check_chars(value, |c| ('0'..='7').contains(&c))?;
    if !(3..=4).contains(&value.len()) {
        return Err(format!("it has {} octal digits, not 3 or 4", value.len()));
    }
    Ok(())
}

fn check_version_lock(value: &str) -> Result<(), String> {
    if value == "latest" {
        return Ok(());
    }
    let version = value.strip_prefix('v').unwrap_or(value);
    semver::Version::parse(version)
        .map(|_| ())
        .map_err(|err| format!("it is neither `latest` nor a version ({err})"))
}

fn check_aws_region(value: &str) -> Result<(), String> {
    let parts: Vec<&str> = value.split('-').collect();
    let lower = |part: &&str| !part.is_empty() && part.chars().all(|c| c.is_ascii_lowercase());
    let (Some(first), Some(last)) = (parts.first(), parts.last()) else {
        return Err("it is empty".to_owned());
    };
    if parts.len() < 3 {
        return Err("it has fewer than three '-'-separated parts".to_owned());
    }
    if first.len() != 2 || !lower(first) {
        return Err(format!("{} is not a two-letter area code", show(first)));
    }
    if !parts[1..parts.len() - 1].iter().all(lower) {
        return Err("its middle parts are not lowercase words".to_owned());
    }
    if last.is_empty() || last.len() > 2 || !last.chars().all(|c| c.is_ascii_digit()) {
        return Err(format!("{} is not a region number", show(last)));
    }
    Ok(())
}

validated_string! {
    /// A string without line breaks, safe to place on one line of a configuration file.
    pub struct SingleLineString {
        thing: "single-line string",
        expected: "text without line breaks",
        check: check_single_line,
    }
}

validated_string! {
    /// Standard base64 text (`A-Za-z0-9+/` with `=` padding). The encoded form is kept.
    pub struct Base64 {
        thing: "base64 value",
        expected: "standard base64 (A-Z, a-z, 0-9, '+', '/', '=' padding, no line breaks), e.g. \
                   the output of `base64 -w0`",
        pattern: "^[A-Za-z0-9+/]*={0,2}$",
        check: check_base64,
    }
}

impl Base64 {
    /// The decoded bytes.
    pub fn decode(&self) -> Vec<u8> {
        decode_base64(&self.0).unwrap_or_default()
    }
}

validated_string! {
    /// A base64-encoded bundle of one or more PEM blocks (certificates).
    pub struct PemBundle {
        thing: "PEM bundle",
        expected: "standard base64 of one or more PEM blocks (`-----BEGIN CERTIFICATE-----` ...), \
                   e.g. `base64 -w0 < bundle.pem`",
        pattern: "^[A-Za-z0-9+/]+={0,2}$",
        check: check_pem_bundle,
    }
}

impl PemBundle {
    /// The decoded PEM text.
    pub fn decode(&self) -> Vec<u8> {
        decode_base64(&self.0).unwrap_or_default()
    }
}

validated_string! {
    /// A name used for files and containers: ASCII letters, digits and `-`.
    pub struct Identifier {
        thing: "name",
        expected: "1-76 characters of `[A-Za-z0-9-]` (e.g. `admin`, `my-container`)",
        pattern: "^[A-Za-z0-9-]{1,76}$",
        check: check_identifier,
    }
}

validated_string! {
    /// A systemd-style service name.
    pub struct ServiceName {
        thing: "service name",
        expected: "1-255 characters of `[A-Za-z0-9_.@-]` not starting with '.' (e.g. `containerd`)",
        pattern: "^[A-Za-z0-9_@-][A-Za-z0-9_.@-]{0,254}$",
        check: check_service_name,
    }
}

validated_string! {
    /// A duration in Go syntax: numbers with units `h`, `m`, `s`, `ms`, `us`, `ns`.
    pub struct GoDuration {
        thing: "duration",
        expected: "a Go duration: one or more numbers each followed by a unit h, m, s, ms, us or \
                   ns (e.g. `10s`, `1h30m`, `1.5h`, `300ms`), or `0`",
        check: check_go_duration,
    }
}

impl GoDuration {
    /// The duration as a [`std::time::Duration`].
    pub fn to_std(&self) -> std::time::Duration {
        let nanos = parse_go_duration(&self.0).unwrap_or_default();
        std::time::Duration::from_nanos(u64::try_from(nanos).unwrap_or(u64::MAX))
    }
}

validated_string! {
    /// A file mode written as an octal string, such as `0644`.
    pub struct FileMode {
        thing: "file mode",
        expected: "3 or 4 octal digits such as `0644` or `755`",
        pattern: "^[0-7]{3,4}$",
        check: check_file_mode,
    }
}

impl FileMode {
    /// The permission bits.
    pub fn bits(&self) -> u32 {
        u32::from_str_radix(&self.0, 8).unwrap_or_default()
    }
}

validated_string! {
    /// Which OS version updates may move to: `latest`, or one exact version.
    pub struct VersionLock {
        thing: "version lock",
        expected: "`latest` or a semantic version `X.Y.Z` / `vX.Y.Z` (e.g. `v1.20.3`)",
        check: check_version_lock,
    }
}

impl VersionLock {
    /// The locked version, or `None` for `latest`.
    pub fn version(&self) -> Option<semver::Version> {
        semver::Version::parse(self.0.strip_prefix('v').unwrap_or(&self.0)).ok()
    }
}

validated_string! {
    /// An AWS region name such as `us-west-2`.
    pub struct AwsRegion {
        thing: "AWS region",
        expected: "a region name such as `us-west-2`, `eu-central-1` or `us-gov-west-1`",
        pattern: "^[a-z]{2}(-[a-z]+)+-[0-9]{1,2}$",
        check: check_aws_region,
    }
}

/// Defines an integer newtype limited to an inclusive range.
macro_rules! bounded_integer {
    (
        $(#[$meta:meta])*
        pub struct $name:ident($inner:ty): $min:literal ..= $max:literal, $thing:literal;
    ) => {
        bounded_integer!(@expand $(#[$meta])* $name, $inner, $min, $max, $thing,
            concat!("an integer from ", $min, " to ", $max));
    };
    (@expand $(#[$meta:meta])* $name:ident, $inner:ty, $min:literal, $max:literal, $thing:literal,
        $expected:expr) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name($inner);

        impl $name {
            /// The smallest valid value.
            pub const MIN: $inner = $min;
            /// The largest valid value.
            pub const MAX: $inner = $max;

            /// The value.
            pub fn get(self) -> $inner {
                self.0
            }
        }

        impl TryFrom<i64> for $name {
            type Error = InvalidValue;

            fn try_from(value: i64) -> Result<Self, Self::Error> {
                match <$inner>::try_from(value) {
                    Ok(inner) if (Self::MIN..=Self::MAX).contains(&inner) => Ok(Self(inner)),
                    _ => Err(InvalidValue::from_message(format!(
                        concat!("invalid ", $thing, " {}: out of range; expected ", $expected),
                        value
                    ))),
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                self.0.serialize(serializer)
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                struct BoundedVisitor;

                impl serde::de::Visitor<'_> for BoundedVisitor {
                    type Value = $name;

                    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                        f.write_str($expected)
                    }

                    fn visit_i64<E: serde::de::Error>(self, value: i64) -> Result<$name, E> {
                        $name::try_from(value).map_err(E::custom)
                    }

                    fn visit_u64<E: serde::de::Error>(self, value: u64) -> Result<$name, E> {
                        $name::try_from(i64::try_from(value).unwrap_or(i64::MAX)).map_err(E::custom)
                    }
                }

                deserializer.deserialize_i64(BoundedVisitor)
            }
        }

        impl JsonSchema for $name {
            fn schema_name() -> String {
                stringify!($name).to_owned()
            }

            fn json_schema(_: &mut SchemaGenerator) -> Schema {
                let mut schema = SchemaObject {
                    instance_type: Some(InstanceType::Integer.into()),
                    ..Default::default()
                };
                let mut description = format!("{}: {}.", $thing, $expected);
                if let Some(first) = description.get_mut(..1) {
                    first.make_ascii_uppercase();
                }
                schema.metadata().description = Some(description);
                schema.number().minimum = Some($min as f64);
                schema.number().maximum = Some($max as f64);
                schema.into()
            }
        }
    };
}

bounded_integer! {
    /// Where this host falls in an update's wave schedule, 0 to 2047.
    pub struct UpdateSeed(u16): 0 ..= 2047, "update seed";
}

bounded_integer! {
    /// A percentage, 0 to 100.
    pub struct Percent(u8): 0 ..= 100, "percentage";
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64() {
        assert_eq!(decode_base64("aGk=").unwrap(), b"hi");
        assert_eq!(decode_base64("aGVsbG8gd29ybGQ=").unwrap(), b"hello world");
        assert_eq!(decode_base64("").unwrap(), b"");
        assert_eq!(decode_base64("YWJj").unwrap(), b"abc");
        assert_eq!(decode_base64("YQ==").unwrap(), b"a");
        for bad in ["aGk", "aG=k", "a===", "aGk=aGk=", "aG k", "aGl=", "YR=="] {
            assert!(decode_base64(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn durations() {
        let nanos = |s: &str| parse_go_duration(s).unwrap();
        assert_eq!(nanos("0"), 0);
        assert_eq!(nanos("10s"), 10_000_000_000);
        assert_eq!(nanos("1h30m"), 5_400_000_000_000);
        assert_eq!(nanos("1.5h"), 5_400_000_000_000);
        assert_eq!(nanos("300ms"), 300_000_000);
        assert_eq!(nanos("2µs1ns"), 2_001);
        for bad in ["", "10", "s", "1x", "-1s", "1..5s", "1 s", "99999999999h"] {
            assert!(parse_go_duration(bad).is_err(), "{bad}");
        }
        let duration = GoDuration::try_from("1m1s").unwrap();
        assert_eq!(duration.to_std(), std::time::Duration::from_secs(61));
    }

    #[test]
    fn modes_regions_locks() {
        assert_eq!(FileMode::try_from("0644").unwrap().bits(), 0o644);
        assert_eq!(FileMode::try_from("4755").unwrap().bits(), 0o4755);
        for bad in ["", "64", "0648", "rwx", "07777"] {
            assert!(FileMode::try_from(bad).is_err(), "{bad}");
        }
        for ok in ["us-west-2", "us-gov-west-1", "cn-north-1", "eu-isoe-west-1"] {
            AwsRegion::try_from(ok).unwrap();
        }
        for bad in [
            "",
            "us-west",
            "US-WEST-2",
            "usa-west-2",
            "us-west-x",
            "us--2",
        ] {
            assert!(AwsRegion::try_from(bad).is_err(), "{bad}");
        }
        assert_eq!(VersionLock::try_from("latest").unwrap().version(), None);
        assert_eq!(
            VersionLock::try_from("v1.2.3").unwrap().version(),
            Some(semver::Version::new(1, 2, 3))
        );
        for bad in ["", "1.2", "v1", "newest", "vv1.2.3"] {
            assert!(VersionLock::try_from(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn bounded_integers() {
        assert_eq!(UpdateSeed::try_from(2047).unwrap().get(), 2047);
        assert!(UpdateSeed::try_from(2048).is_err());
        assert!(UpdateSeed::try_from(-1).is_err());
        assert!(Percent::try_from(101).is_err());
        let err = Percent::try_from(101).unwrap_err().to_string();
        assert!(err.contains("from 0 to 100"), "{err}");
    }
}
