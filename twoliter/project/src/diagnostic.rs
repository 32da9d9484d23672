//! Problems found while loading a project, with the file, position and key they concern.

use serde::Serialize;
use std::fmt;
use std::path::{Path, PathBuf};

/// One problem in one project file: where it is, what is wrong and how to fix it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Diagnostic {
    /// The file, relative to the project root when it lies inside it.
    pub file: PathBuf,
    /// 1-based line, when known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub line: Option<u32>,
    /// 1-based column, when known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub column: Option<u32>,
    /// The dotted key the problem concerns (`image-layout.partition-plan`), when there is one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    /// What is wrong.
    pub message: String,
    /// How to fix it, when we can say.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hint: Option<String>,
}

impl Diagnostic {
    /// A problem with `file` as a whole.
    pub fn new(file: impl Into<PathBuf>, message: impl Into<String>) -> Self {
        Self {
            file: file.into(),
            line: None,
            column: None,
            key: None,
            message: message.into(),
            hint: None,
        }
    }

    /// Names the key the problem concerns.
    pub fn key(mut self, key: impl Into<String>) -> Self {
        self.key = Some(key.into());
        self
    }

    /// Adds advice on how to fix the problem.
    pub fn hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }

    /// Sets the position of the problem.
    pub fn at(mut self, line: usize, column: usize) -> Self {
        self.line = u32::try_from(line).ok();
        self.column = u32::try_from(column).ok();
        self
    }

    /// Points the diagnostic at the first line of `text` holding `needle` as a key or list item,
    /// unless a position is already known. Used for problems found after parsing, when the parser
    /// no longer knows where a value came from.
    pub fn locate(mut self, text: &str, needle: &str) -> Self {
        if self.line.is_none() {
            if let Some((line, column)) = find_token(text, needle) {
                self = self.at(line, column);
            }
        }
        self
    }
}

/// Finds `needle` as a whole token (not part of a longer name) and returns its 1-based position.
fn find_token(text: &str, needle: &str) -> Option<(usize, usize)> {
    if needle.is_empty() {
        return None;
    }
    let is_name = |c: char| c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.';
    for (index, line) in text.lines().enumerate() {
        let code = line.split('#').next().unwrap_or_default();
        let mut start = 0;
        while let Some(found) = code[start..].find(needle) {
            let at = start + found;
            let before = code[..at].chars().next_back();
            let after = code[at + needle.len()..].chars().next();
            if !before.is_some_and(is_name) && !after.is_some_and(is_name) {
                return Some((index + 1, at + 1));
            }
            start = at + needle.len();
        }
    }
    None
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file.display())?;
        if let Some(line) = self.line {
            write!(f, ":{line}")?;
            if let Some(column) = self.column {
                write!(f, ":{column}")?;
            }
        }
        write!(f, ": ")?;
        if let Some(key) = &self.key {
            write!(f, "{key}: ")?;
        }
        write!(f, "{}", self.message)?;
        if let Some(hint) = &self.hint {
            write!(f, "\n  help: {hint}")?;
        }
        Ok(())
    }
}

/// Every problem found in a project, in the order found.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct Diagnostics(pub Vec<Diagnostic>);

impl Diagnostics {
    /// Records a problem.
    pub fn push(&mut self, diagnostic: Diagnostic) {
        self.0.push(diagnostic);
    }

    /// True when no problem was found.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Keeps the value of a fallible step, recording its problem otherwise.
    pub fn keep<T>(&mut self, result: Result<T, Diagnostic>) -> Option<T> {
        match result {
            Ok(value) => Some(value),
            Err(diagnostic) => {
                self.push(diagnostic);
                None
            }
        }
    }
}

impl fmt::Display for Diagnostics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let count = self.0.len();
        write!(
            f,
            "the project has {count} problem{}:",
            if count == 1 { "" } else { "s" }
        )?;
        for diagnostic in &self.0 {
            write!(f, "\n{diagnostic}")?;
        }
        Ok(())
    }
}

impl std::error::Error for Diagnostics {}

/// Shows `path` relative to `root` when it lies inside it.
pub(crate) fn relative(root: &Path, path: &Path) -> PathBuf {
    path.strip_prefix(root).unwrap_or(path).to_path_buf()
}

/// An error and its causes joined by ": ", leaving out a cause whose text the message before it
/// already contains (many library errors quote their cause): what the command-line tools print.
pub fn error_chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = String::new();
    let mut cause = Some(error);
    while let Some(current) = cause {
        let part = current.to_string();
        if !text.contains(&part) {
            if !text.is_empty() {
                text.push_str(": ");
            }
            text.push_str(&part);
        }
        cause = current.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_whole_tokens_only() {
        let text = "kits: [core-kit]\nincluded-packages:\n  - kernel-tools\n  - kernel\n";
        assert_eq!(find_token(text, "kernel"), Some((4, 5)));
        assert_eq!(find_token(text, "kits"), Some((1, 1)));
        assert_eq!(find_token(text, "absent"), None);
    }

    #[test]
    fn display_names_file_position_key_and_hint() {
        let d = Diagnostic::new("a/b.yaml", "is wrong")
            .at(3, 7)
            .key("image-format")
            .hint("use raw");
        assert_eq!(
            d.to_string(),
            "a/b.yaml:3:7: image-format: is wrong\n  help: use raw"
        );
    }

    #[test]
    fn error_chain_joins_causes_and_skips_quoted_ones() {
        #[derive(Debug)]
        struct Outer(std::io::Error, &'static str);
        impl std::fmt::Display for Outer {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.1)
            }
        }
        impl std::error::Error for Outer {
            fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
                Some(&self.0)
            }
        }
        let cause = || std::io::Error::other("disk full");
        assert_eq!(
            error_chain(&Outer(cause(), "cannot write a.json")),
            "cannot write a.json: disk full"
        );
        assert_eq!(
            error_chain(&Outer(cause(), "cannot write a.json: disk full")),
            "cannot write a.json: disk full"
        );
    }
}
