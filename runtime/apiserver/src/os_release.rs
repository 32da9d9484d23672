//! The os-release file, served by `GET /os` and read for the update status.

use std::collections::BTreeMap;
use std::path::Path;

use crate::error::ApiError;

/// Reads and parses an os-release file.
pub fn read(path: &Path) -> Result<BTreeMap<String, String>, ApiError> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        ApiError::internal(format!(
            "failed to read os-release '{}': {e}",
            path.display()
        ))
    })?;
    Ok(parse(&text))
}

/// Parses os-release `KEY=value` lines into lower-case keys (values optionally quoted; comments
/// and blank lines skipped).
pub fn parse(text: &str) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for line in text.lines().map(str::trim) {
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let Some((k, v)) = line.split_once('=') else {
            continue;
        };
        let v = v.trim();
        let unquoted = if v.len() >= 2
            && ((v.starts_with('"') && v.ends_with('"'))
                || (v.starts_with('\'') && v.ends_with('\'')))
        {
            v[1..v.len() - 1]
                .replace("\\\"", "\"")
                .replace("\\\\", "\\")
        } else {
            v.to_string()
        };
        out.insert(k.trim().to_ascii_lowercase(), unquoted);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_os_release() {
        let parsed = parse(
            "# c\nNAME=Bottlerocket\nVERSION_ID=\"1.2.3\"\nPRETTY_NAME='Bottlerocket OS'\n\nbad\n",
        );
        assert_eq!(parsed["name"], "Bottlerocket");
        assert_eq!(parsed["version_id"], "1.2.3");
        assert_eq!(parsed["pretty_name"], "Bottlerocket OS");
        assert_eq!(parsed.len(), 3);
    }
}
