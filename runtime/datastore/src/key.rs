//! Datastore keys.
//!
//! A data key is a `.`-separated list of segments, e.g. `settings.motd`. An unquoted segment may
//! hold `A-Z a-z 0-9 _ - /`; a segment in double quotes may also hold dots, so map keys such as
//! Kubernetes labels fit in one segment: `settings.kubernetes.node-labels."example.com/role"`.
//! Segments are stored unquoted; the canonical name quotes exactly the segments that contain a
//! dot, so `a."b"` and `a.b` are the same key. Keys are at most [`MAX_KEY_LEN`] characters.
//!
//! A metadata key (e.g. `affected-services`) is a single unquoted segment.

use std::fmt;
use std::str::FromStr;

use crate::error::{Error, Result};

/// Longest allowed key name, in characters.
pub const MAX_KEY_LEN: usize = 255;

/// The separator between segments of a key name.
pub const KEY_SEPARATOR: char = '.';

/// Whether a key names a setting (data) or a piece of metadata attached to one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum KeyType {
    /// A data key, such as `settings.motd`.
    Data,
    /// A metadata key, such as `affected-services`.
    Meta,
}

impl fmt::Display for KeyType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            KeyType::Data => "data",
            KeyType::Meta => "metadata",
        })
    }
}

/// A validated datastore key.
///
/// Equality, hashing and ordering are by type and segments, so the two spellings `a."b"` and
/// `a.b` are one key.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Key {
    key_type: KeyType,
    segments: Vec<String>,
    name: String,
}

/// Characters allowed in an unquoted segment.
fn is_plain_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_' || c == '-' || c == '/'
}

/// Characters allowed in a quoted segment.
fn is_quoted_char(c: char) -> bool {
    is_plain_char(c) || c == KEY_SEPARATOR
}

const PLAIN_CHARS: &str = "A-Z, a-z, 0-9, '_', '-' and '/'";
const QUOTED_CHARS: &str = "A-Z, a-z, 0-9, '_', '-', '/' and '.'";

/// Checks one (unquoted, already split) segment; `Err` holds the broken rule.
fn check_segment(key_type: KeyType, segment: &str) -> Result<(), String> {
    if segment.is_empty() {
        return Err("empty segment".to_string());
    }
    if segment == "." || segment == ".." {
        return Err(format!(
            "segment '{segment}' is not allowed (path traversal)"
        ));
    }
    match key_type {
        KeyType::Data => {
            if let Some(c) = segment.chars().find(|&c| !is_quoted_char(c)) {
                return Err(format!(
                    "character {c:?} in segment '{segment}' is not allowed; segments may only \
                     contain {QUOTED_CHARS} (dots only inside a quoted segment)"
                ));
            }
        }
        KeyType::Meta => {
            if let Some(c) = segment.chars().find(|&c| !is_plain_char(c)) {
                return Err(format!(
                    "character {c:?} is not allowed; metadata keys are a single segment of \
                     {PLAIN_CHARS}"
                ));
            }
        }
    }
    Ok(())
}

/// Splits a data key name into segments; `Err` holds the broken rule.
fn parse_data(input: &str) -> Result<Vec<String>, String> {
    let bytes = input.as_bytes();
    let len = bytes.len();
    let mut segments = Vec::new();
    let mut i = 0;
    loop {
        if i >= len {
            return Err(if segments.is_empty() {
                "key is empty".to_string()
            } else {
                "key ends with '.' (empty last segment)".to_string()
            });
        }
        if bytes[i] == b'"' {
            let start = i + 1;
            let close = input[start..].find('"').ok_or_else(|| {
                format!("unbalanced quote: the quoted segment opened at byte {i} is never closed")
            })?;
            let segment = &input[start..start + close];
            if segment.is_empty() {
                return Err(format!("empty quoted segment at byte {i}"));
            }
            if let Some((j, c)) = segment.char_indices().find(|&(_, c)| !is_quoted_char(c)) {
                return Err(format!(
                    "character {c:?} at byte {} is not allowed; quoted segments may only contain \
                     {QUOTED_CHARS}",
                    start + j
                ));
            }
            check_segment(KeyType::Data, segment)?;
            segments.push(segment.to_string());
            i = start + close + 1;
            if i == len {
                break;
            }
            if bytes[i] != b'.' {
                return Err(format!(
                    "a quoted segment must be followed by '.' or the end of the key, found {:?} \
                     at byte {i}",
                    input[i..].chars().next().unwrap_or_default()
                ));
            }
            i += 1;
        } else {
            let end = input[i..].find('.').map_or(len, |p| i + p);
            let segment = &input[i..end];
            if segment.is_empty() {
                return Err(format!(
                    "empty segment at byte {i} (a key may not start with '.' or contain '..')"
                ));
            }
            for (j, c) in segment.char_indices() {
                if c == '"' {
                    return Err(format!(
                        "quote at byte {} must open a segment (quotes go around a whole segment)",
                        i + j
                    ));
                }
                if !is_plain_char(c) {
                    return Err(format!(
                        "character {c:?} at byte {} is not allowed; unquoted segments may only \
                         contain {PLAIN_CHARS} (quote a segment to use '.')",
                        i + j
                    ));
                }
            }
            segments.push(segment.to_string());
            i = end;
            if i == len {
                break;
            }
            i += 1;
        }
    }
    Ok(segments)
}

/// Joins segments into the canonical name, quoting the ones that contain dots.
fn join_segments<S: AsRef<str>>(segments: &[S]) -> String {
    let mut name = String::new();
    for (n, segment) in segments.iter().enumerate() {
        let segment = segment.as_ref();
        if n > 0 {
            name.push(KEY_SEPARATOR);
        }
        if segment.contains(KEY_SEPARATOR) {
            name.push('"');
            name.push_str(segment);
            name.push('"');
        } else {
            name.push_str(segment);
        }
    }
    name
}

impl Key {
    /// Parses and validates a key name.
    ///
    /// Data keys: `.`-separated, non-empty segments of `A-Z a-z 0-9 _ - /`; a segment in double
    /// quotes may also contain dots. Metadata keys: one unquoted segment. Either is at most
    /// [`MAX_KEY_LEN`] characters. The error names the key and the rule it breaks.
    pub fn new(key_type: KeyType, name: &str) -> Result<Key> {
        let invalid = |reason: String| Error::InvalidKey {
            key: name.to_string(),
            reason,
        };
        let chars = name.chars().count();
        if chars > MAX_KEY_LEN {
            return Err(invalid(format!(
                "key is {chars} characters long; the maximum is {MAX_KEY_LEN}"
            )));
        }
        let segments = match key_type {
            KeyType::Data => parse_data(name).map_err(invalid)?,
            KeyType::Meta => {
                if name.is_empty() {
                    return Err(invalid("key is empty".to_string()));
                }
                if name.contains(KEY_SEPARATOR) {
                    return Err(invalid(
                        "metadata keys are a single segment and may not contain '.'".to_string(),
                    ));
                }
                if name.contains('"') {
                    return Err(invalid("metadata keys may not be quoted".to_string()));
                }
                check_segment(KeyType::Meta, name).map_err(invalid)?;
                vec![name.to_string()]
            }
        };
        let name = join_segments(&segments);
        Ok(Key {
            key_type,
            segments,
            name,
        })
    }

    /// Builds a key from unquoted segments, validating each one (a data segment may contain dots;
    /// it is quoted in the name) and the length of the resulting name.
    pub fn from_segments<S: AsRef<str>>(key_type: KeyType, segments: &[S]) -> Result<Key> {
        let name = join_segments(segments);
        let invalid = |reason: String| Error::InvalidKey {
            key: name.clone(),
            reason,
        };
        if segments.is_empty() {
            return Err(invalid("key has no segments".to_string()));
        }
        if key_type == KeyType::Meta && segments.len() != 1 {
            return Err(invalid(format!(
                "metadata keys are a single segment, got {}",
                segments.len()
            )));
        }
        for segment in segments {
            check_segment(key_type, segment.as_ref()).map_err(invalid)?;
        }
        let chars = name.chars().count();
        if chars > MAX_KEY_LEN {
            return Err(invalid(format!(
                "key is {chars} characters long; the maximum is {MAX_KEY_LEN}"
            )));
        }
        Ok(Key {
            key_type,
            segments: segments.iter().map(|s| s.as_ref().to_string()).collect(),
            name,
        })
    }

    /// Shorthand for `Key::new(KeyType::Data, name)`.
    pub fn data(name: &str) -> Result<Key> {
        Key::new(KeyType::Data, name)
    }

    /// Shorthand for `Key::new(KeyType::Meta, name)`.
    pub fn meta(name: &str) -> Result<Key> {
        Key::new(KeyType::Meta, name)
    }

    /// Whether this is a data or a metadata key.
    pub fn key_type(&self) -> KeyType {
        self.key_type
    }

    /// The canonical name: segments joined by `.`, those containing dots in quotes.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The unquoted segments.
    pub fn segments(&self) -> &[String] {
        &self.segments
    }

    /// Whether the key's first segments equal `prefix` (segment-wise, so `settings.motd` starts
    /// with `["settings"]` but not with `["sett"]`).
    pub fn starts_with_segments<S: AsRef<str>>(&self, prefix: &[S]) -> bool {
        prefix.len() <= self.segments.len()
            && prefix
                .iter()
                .zip(&self.segments)
                .all(|(p, s)| p.as_ref() == s)
    }

    /// Whether `prefix`'s segments are the first segments of this key.
    pub fn starts_with_key(&self, prefix: &Key) -> bool {
        self.starts_with_segments(&prefix.segments)
    }

    /// A new key of the same type with `segments` appended.
    pub fn append_segments<S: AsRef<str>>(&self, segments: &[S]) -> Result<Key> {
        let mut all: Vec<&str> = self.segments.iter().map(String::as_str).collect();
        all.extend(segments.iter().map(AsRef::as_ref));
        Key::from_segments(self.key_type, &all)
    }

    /// The key that remains after removing the leading `prefix` segments, or `None` if the key
    /// doesn't start with them or nothing would remain.
    pub fn strip_prefix_segments<S: AsRef<str>>(&self, prefix: &[S]) -> Option<Key> {
        if !self.starts_with_segments(prefix) || prefix.len() == self.segments.len() {
            return None;
        }
        Key::from_segments(self.key_type, &self.segments[prefix.len()..]).ok()
    }
}

impl fmt::Display for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name)
    }
}

impl AsRef<str> for Key {
    fn as_ref(&self) -> &str {
        &self.name
    }
}

impl FromStr for Key {
    type Err = Error;

    /// Parses a data key.
    fn from_str(s: &str) -> Result<Key> {
        Key::new(KeyType::Data, s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn segs(name: &str) -> Vec<String> {
        Key::data(name)
            .unwrap_or_else(|e| panic!("{name}: {e}"))
            .segments()
            .to_vec()
    }

    #[test]
    fn good_data_keys() {
        let cases: &[(&str, &[&str], &str)] = &[
            ("settings", &["settings"], "settings"),
            ("settings.motd", &["settings", "motd"], "settings.motd"),
            ("a-b_c.D9", &["a-b_c", "D9"], "a-b_c.D9"),
            ("settings.a/b", &["settings", "a/b"], "settings.a/b"),
            (
                "settings.kubernetes.node-labels.\"example.com/role\"",
                &["settings", "kubernetes", "node-labels", "example.com/role"],
                "settings.kubernetes.node-labels.\"example.com/role\"",
            ),
            ("\"a.b\"", &["a.b"], "\"a.b\""),
            ("\"a.b\".c", &["a.b", "c"], "\"a.b\".c"),
            ("a.\"plain\"", &["a", "plain"], "a.plain"),
            ("a.\"x.y\".\"z\"", &["a", "x.y", "z"], "a.\"x.y\".z"),
            ("a.\"../../etc\"", &["a", "../../etc"], "a.\"../../etc\""),
            ("a.\"...\"", &["a", "..."], "a.\"...\""),
            (
                "settings.a/./etc",
                &["settings", "a/", "/etc"],
                "settings.a/./etc",
            ),
        ];
        for (input, want, canonical) in cases {
            let key = Key::data(input).unwrap_or_else(|e| panic!("{input}: {e}"));
            assert_eq!(key.segments(), *want, "{input}");
            assert_eq!(key.name(), *canonical, "{input}");
            assert_eq!(key.to_string(), *canonical);
            // The canonical name parses back to the same key.
            assert_eq!(Key::data(key.name()).ok(), Some(key.clone()));
        }
        assert_eq!(Key::data("a.\"b\"").ok(), Key::data("a.b").ok());
    }

    #[test]
    fn max_length() {
        let ok = "a".repeat(MAX_KEY_LEN);
        assert!(Key::data(&ok).is_ok());
        let long = "a".repeat(MAX_KEY_LEN + 1);
        let err = Key::data(&long).unwrap_err().to_string();
        assert!(
            err.contains("256 characters") && err.contains("255"),
            "{err}"
        );
        let dotted = format!("{}.b", "a".repeat(MAX_KEY_LEN - 2));
        assert!(Key::data(&dotted).is_ok());
        let too_long_segments = vec!["a".repeat(200), "b".repeat(60)];
        assert!(Key::from_segments(KeyType::Data, &too_long_segments).is_err());
    }

    #[test]
    fn bad_data_keys() {
        let cases: &[(&str, &str)] = &[
            ("", "key is empty"),
            (".", "empty segment"),
            ("settings.", "ends with '.'"),
            (".settings", "empty segment at byte 0"),
            ("a..b", "empty segment at byte 2"),
            ("settings.a/../../etc", "empty segment"),
            ("a.\"..\"", "path traversal"),
            ("a.\".\"", "path traversal"),
            ("a.\"b", "unbalanced quote"),
            ("a.b\"", "must open a segment"),
            ("a.b\"c\"", "must open a segment"),
            ("a.\"b\"c", "must be followed by '.'"),
            ("a.\"\"", "empty quoted segment"),
            ("a.\"b\"\"", "must be followed by '.'"),
            ("a b", "character ' '"),
            ("a.b:c", "character ':'"),
            ("a.\"b c\"", "character ' '"),
            ("settings.mötd", "character 'ö'"),
            ("a.b\\c", "character '\\\\'"),
            ("a\0b", "character '\\0'"),
        ];
        for (input, want) in cases {
            let err = Key::data(input).expect_err(input).to_string();
            assert!(
                err.contains(want),
                "{input:?}: error {err:?} lacks {want:?}"
            );
            assert!(
                err.contains(&format!("'{input}'")),
                "{err} doesn't name the key"
            );
        }
    }

    #[test]
    fn meta_keys() {
        assert_eq!(
            Key::meta("affected-services")
                .map(|k| k.name().to_string())
                .ok(),
            Some("affected-services".to_string())
        );
        assert!(Key::meta("setting-generator").is_ok());
        for bad in ["", "a.b", "\"a\"", "a b", "..", "x\"y"] {
            assert!(Key::meta(bad).is_err(), "{bad:?}");
        }
        assert!(Key::from_segments(KeyType::Meta, &["a", "b"]).is_err());
        assert!(Key::from_segments(KeyType::Meta, &["a.b"]).is_err());
    }

    #[test]
    fn from_segments_validates() {
        let key = Key::from_segments(KeyType::Data, &["settings", "example.com/role"]).unwrap();
        assert_eq!(key.name(), "settings.\"example.com/role\"");
        let no_segments: &[&str] = &[];
        assert!(Key::from_segments(KeyType::Data, no_segments).is_err());
        assert!(Key::from_segments(KeyType::Data, &["a", ""]).is_err());
        assert!(Key::from_segments(KeyType::Data, &["a", ".."]).is_err());
        assert!(Key::from_segments(KeyType::Data, &["a", "b\"c"]).is_err());
        assert!(Key::from_segments(KeyType::Data, &["a", "b c"]).is_err());
    }

    #[test]
    fn prefixes() {
        let key = Key::data("settings.kubernetes.node-labels.\"example.com/role\"").unwrap();
        assert!(key.starts_with_segments(&["settings"]));
        assert!(key.starts_with_segments(&["settings", "kubernetes"]));
        assert!(!key.starts_with_segments(&["sett"]));
        assert!(!key.starts_with_segments(&["kubernetes"]));
        let empty: &[&str] = &[];
        assert!(key.starts_with_segments(empty));
        assert!(key.starts_with_key(&Key::data("settings.kubernetes").unwrap()));
        assert!(!Key::data("a").unwrap().starts_with_segments(&["a", "b"]));
        let rest = key
            .strip_prefix_segments(&["settings", "kubernetes"])
            .unwrap();
        assert_eq!(rest.name(), "node-labels.\"example.com/role\"");
        assert!(key.strip_prefix_segments(key.segments()).is_none());
        let longer = Key::data("settings")
            .unwrap()
            .append_segments(&["x.y", "z"])
            .unwrap();
        assert_eq!(longer.name(), "settings.\"x.y\".z");
        assert_eq!(segs("settings.\"x.y\".z"), ["settings", "x.y", "z"]);
    }
}
