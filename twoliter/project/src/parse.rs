//! Reading TOML and YAML files into typed values, with errors that carry file, line, column and key.

use crate::diagnostic::Diagnostic;
use serde::de::DeserializeOwned;
use std::path::Path;

/// The prefix every YAML manifest's first line carries, so editors can find its schema.
pub const SCHEMA_COMMENT: &str = "# yaml-language-server: $schema=";

/// A parsed file: its typed value and its text (kept to locate keys in later checks).
#[derive(Debug, Clone)]
pub struct Parsed<T> {
    /// The typed contents.
    pub value: T,
    /// The raw text.
    pub text: String,
}

/// Reads a file as UTF-8 text. `shown` is the name used in messages.
pub fn read_text(path: &Path, shown: &Path) -> Result<String, Diagnostic> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| Diagnostic::new(shown, format!("cannot read the file: {e}")))?;
    // Editors on some systems save a byte-order mark; it is not part of the content.
    Ok(match text.strip_prefix('\u{feff}') {
        Some(rest) => rest.to_string(),
        None => text,
    })
}

/// Parses TOML text into `T`, reporting the position and key of the first problem.
pub fn toml<T: DeserializeOwned>(text: &str, shown: &Path) -> Result<T, Diagnostic> {
    let deserializer = toml::Deserializer::new(text);
    serde_path_to_error::deserialize(deserializer).map_err(|error| {
        let key = key_of(error.path());
        let inner = error.into_inner();
        let message = inner.message().trim().replace('\n', "; ");
        let mut diagnostic = Diagnostic::new(shown, message);
        if let Some(span) = inner.span() {
            let (line, column) = position(text, span.start);
            diagnostic = diagnostic.at(line, column);
        }
        with_key(diagnostic, key)
    })
}

/// Parses a YAML manifest into `T`, reporting the position and key of the first problem.
pub fn yaml<T: DeserializeOwned>(text: &str, shown: &Path) -> Result<T, Diagnostic> {
    if text
        .lines()
        .all(|line| line.trim().is_empty() || line.trim_start().starts_with('#'))
    {
        return Err(Diagnostic::new(shown, "the manifest is empty")
            .hint("a manifest is a YAML mapping of keys; see the schema named on its first line"));
    }
    let deserializer = serde_yaml::Deserializer::from_str(text);
    serde_path_to_error::deserialize(deserializer).map_err(|error| {
        let key = key_of(error.path());
        let inner = error.into_inner();
        let mut message = inner.to_string();
        // serde_yaml appends " at line L column C"; we print the position ourselves.
        if let Some(cut) = message.find(" at line ") {
            message.truncate(cut);
        }
        // ... and prefixes the path it knows ("a.b: "), which we print as the key.
        if let Some(key) = &key {
            if let Some((head, rest)) = message.split_once(": ") {
                if !head.contains(' ') && key.starts_with(head) {
                    message = rest.to_string();
                }
            }
        }
        let mut diagnostic = Diagnostic::new(shown, message);
        if let Some(location) = inner.location() {
            diagnostic = diagnostic.at(location.line(), location.column());
        }
        with_key(diagnostic, key)
    })
}

/// Checks that a YAML manifest's first line names its JSON Schema, and that the schema it names is
/// `expected` under the project's `schemas/` directory.
pub fn check_schema_comment(
    text: &str,
    file: &Path,
    shown: &Path,
    schemas_dir: &Path,
    expected: &str,
) -> Result<(), Diagnostic> {
    let hint = |file: &Path| {
        let parent_depth = file.parent().map_or(0, |p| p.components().count());
        format!(
            "start the file with `{SCHEMA_COMMENT}{}schemas/{expected}`",
            "../".repeat(parent_depth)
        )
    };
    let first = text.lines().next().unwrap_or_default();
    let Some(target) = first.strip_prefix(SCHEMA_COMMENT) else {
        return Err(Diagnostic::new(
            shown,
            "the first line does not name the manifest's JSON Schema",
        )
        .at(1, 1)
        .hint(hint(shown)));
    };
    let resolved = file.parent().unwrap_or(Path::new(".")).join(target.trim());
    let wanted = schemas_dir.join(expected);
    let same = match (resolved.canonicalize(), wanted.canonicalize()) {
        (Ok(a), Ok(b)) => a == b,
        _ => false,
    };
    if same {
        Ok(())
    } else {
        Err(Diagnostic::new(
            shown,
            format!(
                "the schema line points to `{}`, not to schemas/{expected}",
                target.trim()
            ),
        )
        .at(1, SCHEMA_COMMENT.len() + 1)
        .hint(hint(shown)))
    }
}

fn key_of(path: &serde_path_to_error::Path) -> Option<String> {
    let key = path.to_string();
    // A map key that failed to parse shows as `?`: name the map instead.
    let key = key.trim_end_matches(".?");
    (key != "." && key != "?" && !key.is_empty()).then(|| key.to_string())
}

fn with_key(diagnostic: Diagnostic, key: Option<String>) -> Diagnostic {
    match key {
        Some(key) => diagnostic.key(key),
        None => diagnostic,
    }
}

/// 1-based line and column of a byte offset.
fn position(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, column)
}
