//! The Debian mirror this machine's apt uses, read from its sources (both the one-line
//! `sources.list` format and deb822 `.sources` files).

use std::path::{Path, PathBuf};

/// A Debian archive: mirror URI and suite.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AptSource {
    /// Mirror URI, as apt has it (`http://<mirror>/debian`).
    pub uri: String,
    /// Suite (`bookworm`).
    pub suite: String,
    /// The file it was read from.
    pub file: PathBuf,
}

/// Finds the main Debian archive in the apt configuration under `etc_apt` (`/etc/apt`): the
/// first `deb` source with the `main` component whose suite is a release, not an `-updates`,
/// `-security` or `-backports` pocket.
pub fn main_source(etc_apt: &Path) -> Option<AptSource> {
    source_files(etc_apt).iter().find_map(|file| {
        let text = std::fs::read_to_string(file).ok()?;
        let entries = entries_of(file, &text);
        entries
            .into_iter()
            .find(|(uri, suite, components)| {
                !suite.contains(['-', '/'])
                    && components.iter().any(|c| c == "main")
                    && uri.starts_with("http")
            })
            .map(|(uri, suite, _)| AptSource {
                uri: uri.trim_end_matches('/').to_string(),
                suite,
                file: file.clone(),
            })
    })
}

/// The main Debian archive ([`main_source`]) followed by the `-updates` and `-security`
/// pockets of the same release that the apt configuration names (with `main`): where a
/// release's fixed packages are published. Empty when there is no main archive.
pub fn release_sources(etc_apt: &Path) -> Vec<AptSource> {
    let Some(main) = main_source(etc_apt) else {
        return Vec::new();
    };
    let pockets = [
        format!("{}-updates", main.suite),
        format!("{}-security", main.suite),
    ];
    let mut sources = vec![main.clone()];
    for file in source_files(etc_apt) {
        let Ok(text) = std::fs::read_to_string(&file) else {
            continue;
        };
        for (uri, suite, components) in entries_of(&file, &text) {
            if pockets.contains(&suite)
                && components.iter().any(|c| c == "main")
                && uri.starts_with("http")
                && !sources.iter().any(|s| s.suite == suite)
            {
                sources.push(AptSource {
                    uri: uri.trim_end_matches('/').to_string(),
                    suite,
                    file: file.clone(),
                });
            }
        }
    }
    sources
}

/// `sources.list`, then `sources.list.d/*.{list,sources}` in name order.
fn source_files(etc_apt: &Path) -> Vec<PathBuf> {
    let mut files = vec![etc_apt.join("sources.list")];
    if let Ok(entries) = std::fs::read_dir(etc_apt.join("sources.list.d")) {
        let mut more: Vec<PathBuf> = entries
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| {
                p.extension()
                    .is_some_and(|ext| ext == "list" || ext == "sources")
            })
            .collect();
        more.sort();
        files.extend(more);
    }
    files
}

/// The entries of one sources file, in either format.
fn entries_of(file: &Path, text: &str) -> Vec<Entry> {
    if file.extension().is_some_and(|e| e == "sources") {
        deb822_entries(text)
    } else {
        one_line_entries(text)
    }
}

type Entry = (String, String, Vec<String>);

fn one_line_entries(text: &str) -> Vec<Entry> {
    let mut entries = Vec::new();
    for line in text.lines() {
        let line = line.split('#').next().unwrap_or_default();
        let mut words = line.split_whitespace().peekable();
        if words.next() != Some("deb") {
            continue;
        }
        // Skip `[arch=amd64 signed-by=...]` options.
        if words.peek().is_some_and(|w| w.starts_with('[')) {
            for word in words.by_ref() {
                if word.ends_with(']') {
                    break;
                }
            }
        }
        let (Some(uri), Some(suite)) = (words.next(), words.next()) else {
            continue;
        };
        entries.push((uri.into(), suite.into(), words.map(String::from).collect()));
    }
    entries
}

fn deb822_entries(text: &str) -> Vec<Entry> {
    let mut entries = Vec::new();
    for stanza in text.split("\n\n") {
        let field = |name: &str| -> Vec<String> {
            stanza
                .lines()
                .filter(|l| !l.starts_with('#'))
                .find_map(|l| {
                    let (key, value) = l.split_once(':')?;
                    key.trim()
                        .eq_ignore_ascii_case(name)
                        .then(|| value.split_whitespace().map(String::from).collect())
                })
                .unwrap_or_default()
        };
        if !field("Types").iter().any(|t| t == "deb") || field("Enabled") == ["no"] {
            continue;
        }
        let components = field("Components");
        for uri in field("URIs") {
            for suite in field("Suites") {
                entries.push((uri.clone(), suite, components.clone()));
            }
        }
    }
    entries
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_deb822_and_skips_pockets() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("sources.list.d")).unwrap();
        std::fs::write(
            dir.path().join("sources.list.d/debian.sources"),
            "Types: deb\nURIs: http://mirror.example/debian-security\nSuites: bookworm-security\nComponents: main\n\n\
             Types: deb deb-src\nURIs: http://mirror.example/debian/\nSuites: bookworm bookworm-updates\nComponents: main contrib\n",
        )
        .unwrap();
        let source = main_source(dir.path()).unwrap();
        assert_eq!(source.uri, "http://mirror.example/debian");
        assert_eq!(source.suite, "bookworm");
        let release: Vec<(String, String)> = release_sources(dir.path())
            .into_iter()
            .map(|s| (s.uri, s.suite))
            .collect();
        assert_eq!(
            release,
            [
                ("http://mirror.example/debian", "bookworm"),
                ("http://mirror.example/debian-security", "bookworm-security"),
                ("http://mirror.example/debian", "bookworm-updates"),
            ]
            .map(|(u, s)| (u.to_string(), s.to_string()))
        );
    }

    #[test]
    fn reads_one_line_format_with_options() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("sources.list"),
            "# comment\ndeb-src http://x/debian bookworm main\ndeb [arch=amd64 signed-by=/k.gpg] http://m/debian trixie main\n",
        )
        .unwrap();
        let source = main_source(dir.path()).unwrap();
        assert_eq!(
            (source.uri.as_str(), source.suite.as_str()),
            ("http://m/debian", "trixie")
        );
    }

    #[test]
    fn nothing_configured() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(main_source(dir.path()), None);
    }
}
