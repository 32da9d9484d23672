//! `/etc/updog.toml` and `/etc/os-release`.

use std::path::{Path, PathBuf};

use semver::Version;
use serde::Deserialize;

use crate::error::{Error, Result};
use fsutil::io_err;

/// The seed used when the configuration has none: the last wave, so a host that was never given
/// a seed updates only once a rollout has reached the whole fleet.
pub const DEFAULT_SEED: u32 = update_metadata::MAX_SEED - 1;

/// `updog.toml`, Bottlerocket's format. Unknown keys are rejected.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Base URL of the TUF metadata (`http://`, `https://` or `file://`).
    pub metadata_base_url: String,
    /// Base URL of the TUF targets.
    pub targets_base_url: String,
    /// This host's wave seed, 0–2047 (default [`DEFAULT_SEED`]).
    #[serde(default = "default_seed")]
    pub seed: u32,
    /// `latest` (default) or an exact version (`X.Y.Z` or `vX.Y.Z`).
    #[serde(default = "default_lock")]
    pub version_lock: String,
    /// Take updates regardless of waves (default false).
    #[serde(default)]
    pub ignore_waves: bool,
}

fn default_seed() -> u32 {
    DEFAULT_SEED
}

fn default_lock() -> String {
    "latest".to_string()
}

impl Config {
    /// Reads and checks the configuration file.
    pub fn from_path(path: &Path) -> Result<Config> {
        let text = std::fs::read_to_string(path).map_err(io_err("read", path))?;
        Config::from_toml(path, &text)
    }

    /// Parses and checks configuration text; `path` is only used in errors.
    pub fn from_toml(path: &Path, text: &str) -> Result<Config> {
        let invalid = |reason: String| Error::Config {
            path: path.to_path_buf(),
            reason,
        };
        let config: Config = toml::from_str(text).map_err(|e| invalid(e.message().to_string()))?;
        if config.seed >= update_metadata::MAX_SEED {
            return Err(invalid(format!(
                "seed {} is above the maximum {}",
                config.seed,
                update_metadata::MAX_SEED - 1
            )));
        }
        for (key, value) in [
            ("metadata_base_url", &config.metadata_base_url),
            ("targets_base_url", &config.targets_base_url),
        ] {
            base_url(value).map_err(|reason| invalid(format!("{key}: {reason}")))?;
        }
        config
            .version_lock()
            .map_err(|reason| invalid(format!("version_lock: {reason}")))?;
        Ok(config)
    }

    /// The locked version, `None` for `latest`.
    pub fn version_lock(&self) -> std::result::Result<Option<Version>, String> {
        let lock = self.version_lock.trim();
        if lock == "latest" {
            return Ok(None);
        }
        parse_version(lock)
            .map(Some)
            .map_err(|e| format!("{lock:?} is neither \"latest\" nor a version X.Y.Z: {e}"))
    }
}

/// Parses `X.Y.Z` or `vX.Y.Z`.
pub fn parse_version(text: &str) -> std::result::Result<Version, semver::Error> {
    Version::parse(text.strip_prefix('v').unwrap_or(text))
}

/// Parses a repository base URL, with a trailing `/` so that names join below it.
pub fn base_url(text: &str) -> std::result::Result<url::Url, String> {
    let mut url = url::Url::parse(text).map_err(|e| format!("{text:?} is not a URL: {e}"))?;
    if !matches!(url.scheme(), "http" | "https" | "file") {
        return Err(format!(
            "{text:?} has scheme {:?}; only http, https and file are supported",
            url.scheme()
        ));
    }
    if !url.path().ends_with('/') {
        let path = format!("{}/", url.path());
        url.set_path(&path);
    }
    Ok(url)
}

/// What updog needs from `/etc/os-release`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OsRelease {
    /// `VERSION_ID`, the running OS version.
    pub version: Version,
    /// `VARIANT_ID`.
    pub variant: String,
    /// The file it was read from.
    pub path: PathBuf,
}

impl OsRelease {
    /// Reads `VERSION_ID` and `VARIANT_ID` (values may be quoted).
    pub fn from_path(path: &Path) -> Result<OsRelease> {
        let text = std::fs::read_to_string(path).map_err(io_err("read", path))?;
        let invalid = |reason: String| Error::OsRelease {
            path: path.to_path_buf(),
            reason,
        };
        let field = |key: &str| -> Option<String> {
            text.lines().find_map(|line| {
                let (k, v) = line.trim().split_once('=')?;
                (k.trim() == key).then(|| v.trim().trim_matches(['"', '\'']).to_string())
            })
        };
        let version_text =
            field("VERSION_ID").ok_or_else(|| invalid("no VERSION_ID line".to_string()))?;
        let version = parse_version(&version_text)
            .map_err(|e| invalid(format!("VERSION_ID {version_text:?} is not a version: {e}")))?;
        let variant = field("VARIANT_ID")
            .filter(|v| !v.is_empty())
            .ok_or_else(|| invalid("no VARIANT_ID line".to_string()))?;
        Ok(OsRelease {
            version,
            variant,
            path: path.to_path_buf(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Config> {
        Config::from_toml(Path::new("/etc/updog.toml"), text)
    }

    #[test]
    fn defaults_and_lock() {
        let c = parse("metadata_base_url = \"https://x/m\"\ntargets_base_url = \"file:///t/\"\n")
            .unwrap();
        assert_eq!(c.seed, DEFAULT_SEED);
        assert_eq!(c.version_lock().unwrap(), None);
        assert!(!c.ignore_waves);
        let c = parse(
            "metadata_base_url = \"https://x/m\"\ntargets_base_url = \"https://x/t\"\nseed = 5\n\
             version_lock = \"v1.2.3\"\nignore_waves = true\n",
        )
        .unwrap();
        assert_eq!(c.version_lock().unwrap(), Some(Version::new(1, 2, 3)));
        assert_eq!(base_url("https://x/m").unwrap().as_str(), "https://x/m/");
    }

    #[test]
    fn rejects_bad_config() {
        let base = "metadata_base_url = \"https://x/m\"\ntargets_base_url = \"https://x/t\"\n";
        for (extra, needle) in [
            ("colour = 1\n", "colour"),
            ("seed = 2048\n", "2048"),
            ("version_lock = \"newest\"\n", "newest"),
        ] {
            let err = parse(&format!("{base}{extra}")).unwrap_err().to_string();
            assert!(
                err.contains(needle) && err.contains("/etc/updog.toml"),
                "{err}"
            );
        }
        let err = parse("metadata_base_url = \"ftp://x\"\ntargets_base_url = \"https://x\"\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("ftp"), "{err}");
    }

    #[test]
    fn os_release() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("os-release");
        std::fs::write(
            &path,
            "NAME=Bottlerocket\nVERSION_ID=\"1.20.0\"\nVARIANT_ID=aws-dev\n",
        )
        .unwrap();
        let r = OsRelease::from_path(&path).unwrap();
        assert_eq!(r.version, Version::new(1, 20, 0));
        assert_eq!(r.variant, "aws-dev");
        std::fs::write(&path, "VERSION_ID=1.x\nVARIANT_ID=a\n").unwrap();
        assert!(OsRelease::from_path(&path).is_err());
    }
}
