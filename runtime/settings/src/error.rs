//! Errors from validating settings, naming the dotted key that is wrong.

use serde_path_to_error::{Path, Segment};
use std::borrow::Cow;
use std::fmt::Write as _;

/// Why a settings object was rejected. Every variant names the full dotted key (see
/// [`SettingsError::path`]), what is wrong, and what is expected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SettingsError {
    /// The settings are not a JSON object.
    #[error("settings: expected an object of settings families, found {found}")]
    NotAnObject {
        /// The JSON type found instead.
        found: &'static str,
    },
    /// A top-level key is not a settings family at all.
    #[error("{path}: unknown settings family `{family}`; expected one of: {}", expected.join(", "))]
    UnknownFamily {
        /// The dotted key, `settings.<family>`.
        path: String,
        /// The family name given.
        family: String,
        /// The families that would have been accepted.
        expected: Vec<String>,
    },
    /// A settings family exists but this variant does not offer it.
    #[error(
        "{path}: the `{family}` settings family is not available on this variant; allowed \
         families: {}",
        allowed.join(", ")
    )]
    FamilyNotAllowed {
        /// The dotted key, `settings.<family>`.
        path: String,
        /// The family name given.
        family: String,
        /// The families this variant offers.
        allowed: Vec<String>,
    },
    /// A key or value inside a family is invalid.
    #[error("{path}: {message}")]
    Invalid {
        /// The dotted key of the offending value, e.g. `settings.kubernetes.max-pods`.
        path: String,
        /// What is wrong and what is expected.
        message: String,
    },
}

impl SettingsError {
    /// The dotted key the error is about, such as
    /// `settings.kubernetes.node-labels."example.com/role"`.
    pub fn path(&self) -> &str {
        match self {
            SettingsError::NotAnObject { .. } => "settings",
            SettingsError::UnknownFamily { path, .. }
            | SettingsError::FamilyNotAllowed { path, .. }
            | SettingsError::Invalid { path, .. } => path,
        }
    }
}

/// Quotes a key segment when it holds anything but `[A-Za-z0-9_-]` (so a dot or slash inside a
/// map key cannot be mistaken for a separator).
pub fn quote_segment(segment: &str) -> Cow<'_, str> {
    let plain = !segment.is_empty()
        && segment
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    if plain {
        Cow::Borrowed(segment)
    } else {
        Cow::Owned(format!(
            "\"{}\"",
            segment.replace('\\', "\\\\").replace('"', "\\\"")
        ))
    }
}

/// Renders a deserialization path below `settings` as a dotted key; list positions are written
/// `[index]`.
pub(crate) fn dotted_path(path: &Path) -> String {
    let mut out = String::from("settings");
    for segment in path.iter() {
        match segment {
            Segment::Seq { index } => {
                let _ = write!(out, "[{index}]");
            }
            Segment::Map { key } => {
                out.push('.');
                out.push_str(&quote_segment(key));
            }
            Segment::Enum { variant } => {
                out.push('.');
                out.push_str(&quote_segment(variant));
            }
            Segment::Unknown => out.push_str(".?"),
        }
    }
    out
}

/// The JSON type of a value, for messages.
pub(crate) fn json_kind(value: &serde_json::Value) -> &'static str {
    match value {
        serde_json::Value::Null => "null",
        serde_json::Value::Bool(_) => "a boolean",
        serde_json::Value::Number(_) => "a number",
        serde_json::Value::String(_) => "a string",
        serde_json::Value::Array(_) => "an array",
        serde_json::Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use super::quote_segment;

    #[test]
    fn quoting() {
        assert_eq!(quote_segment("node-labels"), "node-labels");
        assert_eq!(quote_segment("example.com/role"), "\"example.com/role\"");
        assert_eq!(quote_segment("bad key"), "\"bad key\"");
        assert_eq!(quote_segment("a\"b"), "\"a\\\"b\"");
        assert_eq!(quote_segment(""), "\"\"");
    }
}
