//! One repository of a project's `Infra.toml`, and the choices every `twoliter repo` command
//! makes from its table and the command line: where root.json goes, how many root keys sign it,
//! which keys sign the repository, and where the repository to read is.

use crate::error::{Error, Result};
use crate::init_keys::{init_keys, InitKeys, KeyPolicy};
use crate::keys::{command_line_keys, signing_keys, SigningKeys};
use crate::load::{Location, TrustedRoot};
use std::num::NonZeroU64;
use std::path::{Path, PathBuf};
use twoliter_project::{Infra, RepoConfig};

/// Where a command reads a repository from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// The last one `repo create` wrote: `<repos dir>/<repo>/latest`.
    LastBuilt,
    /// A repository directory holding `metadata/` and `targets/`.
    Dir(PathBuf),
    /// Base URLs of the metadata and the targets.
    Urls {
        /// The metadata base URL.
        metadata: String,
        /// The targets base URL.
        targets: String,
    },
    /// The published location in `Infra.toml` (`metadata_base_url`, `targets_url`).
    Published,
}

/// Repository `name` of an `Infra.toml`, with the directory its builds go to.
#[derive(Debug, Clone)]
pub struct ProjectRepo {
    infra: Infra,
    name: String,
    config: RepoConfig,
    repos_dir: PathBuf,
}

impl ProjectRepo {
    /// Loads `infra_path` and its `[repo.<name>]`; builds go under `repos_dir/<name>/`.
    ///
    /// # Errors
    /// [`Error::Infra`] when the file is missing or invalid, or has no `[repo.<name>]`.
    pub fn load(infra_path: &Path, name: &str, repos_dir: impl Into<PathBuf>) -> Result<Self> {
        let infra = Infra::load(infra_path)?;
        let config = infra.repo(name)?.clone();
        Ok(Self {
            infra,
            name: name.to_string(),
            config,
            repos_dir: repos_dir.into(),
        })
    }

    /// The repository's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The loaded `Infra.toml`.
    pub fn infra(&self) -> &Infra {
        &self.infra
    }

    /// Where `repo create` and `repo refresh` write (`<repos dir>`; each repository in its own
    /// directory below).
    pub fn output_root(&self) -> &Path {
        &self.repos_dir
    }

    /// Where `repo init` writes root.json: `out`, else `root_role_path` (relative to
    /// `Infra.toml`).
    ///
    /// # Errors
    /// [`Error::MissingSetting`] when neither is given.
    pub fn root_role_path(&self, out: Option<&Path>) -> Result<PathBuf> {
        match (out, &self.config.root_role_path) {
            (Some(out), _) => Ok(out.to_path_buf()),
            (None, Some(path)) => Ok(self.infra.resolve(path)),
            (None, None) => Err(self.missing(
                "root_role_path",
                "add one (e.g. root_role_path = \"roles/root.json\") or pass --out",
            )),
        }
    }

    /// How many root keys must sign root.json: `given`, else `root_key_threshold`, else 1.
    pub fn root_threshold(&self, given: Option<NonZeroU64>) -> NonZeroU64 {
        given
            .or(self.config.root_key_threshold)
            .unwrap_or(NonZeroU64::MIN)
    }

    /// The keys `repo init` uses for one role (see [`init_keys`]), generating missing PEM files.
    ///
    /// # Errors
    /// Those of [`init_keys`].
    pub fn init_keys(&self, policy: &KeyPolicy<'_>) -> Result<InitKeys> {
        init_keys(&self.infra, &self.name, policy)
    }

    /// The root.json hosts trust, checked against `root_role_sha512`.
    ///
    /// # Errors
    /// Those of [`TrustedRoot::from_infra`].
    pub fn trusted_root(&self) -> Result<TrustedRoot> {
        TrustedRoot::from_infra(&self.infra, &self.name, &self.config)
    }

    /// The keys that sign targets, snapshot and timestamp: `given` (PEM files or `kms:<id>`),
    /// else `signing_keys` in `Infra.toml`.
    ///
    /// # Errors
    /// Those of [`command_line_keys`] and [`signing_keys`].
    pub fn signing_keys(&self, given: &[PathBuf]) -> Result<SigningKeys> {
        if given.is_empty() {
            signing_keys(&self.infra, &self.name)
        } else {
            command_line_keys(&self.infra, given)
        }
    }

    /// Where the repository to read is.
    ///
    /// # Errors
    /// [`Error::NotBuilt`] for [`Source::LastBuilt`] before any `repo create`, and the errors
    /// of the [`Location`] constructors.
    pub fn location(&self, source: &Source) -> Result<Location> {
        match source {
            Source::Dir(dir) => Location::from_dir(dir),
            Source::Urls { metadata, targets } => Location::from_urls(metadata, targets),
            Source::Published => self.published(),
            Source::LastBuilt => {
                let dir = self.repos_dir.join(&self.name).join("latest");
                if !dir.exists() {
                    return Err(Error::NotBuilt {
                        repo: self.name.clone(),
                        dir,
                    });
                }
                Location::from_dir(&dir)
            }
        }
    }

    /// The published location (`metadata_base_url`, `targets_url`).
    ///
    /// # Errors
    /// [`Error::MissingSetting`] when either is missing, [`Error::Url`] when malformed.
    pub fn published(&self) -> Result<Location> {
        Location::from_infra(&self.infra, &self.name, &self.config)
    }

    fn missing(&self, key: &'static str, hint: &'static str) -> Error {
        Error::MissingSetting {
            repo: self.name.clone(),
            infra: self.infra.path.clone(),
            key,
            hint,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn repo(table: &str) -> (tempfile::TempDir, ProjectRepo) {
        let dir = tempfile::tempdir().unwrap();
        let infra = dir.path().join("Infra.toml");
        std::fs::write(&infra, format!("[repo.default]\n{table}")).unwrap();
        let repo = ProjectRepo::load(&infra, "default", dir.path().join("build/repos")).unwrap();
        (dir, repo)
    }

    #[test]
    fn an_unknown_repository_is_named_with_the_known_ones() {
        let dir = tempfile::tempdir().unwrap();
        let infra = dir.path().join("Infra.toml");
        std::fs::write(&infra, "[repo.default]\n").unwrap();
        let error = ProjectRepo::load(&infra, "other", dir.path()).unwrap_err();
        let text = error.to_string();
        assert!(text.contains("no [repo.other]"), "{text}");
        assert!(text.contains("default"), "{text}");
    }

    #[test]
    fn root_role_path_prefers_out_then_the_setting_relative_to_infra() {
        let (dir, repo) = repo("root_role_path = \"roles/root.json\"\n");
        let out = Path::new("/elsewhere/root.json");
        assert_eq!(repo.root_role_path(Some(out)).unwrap(), out);
        assert_eq!(
            repo.root_role_path(None).unwrap(),
            dir.path().join("roles/root.json")
        );
        let (_dir, bare) = self::repo("");
        let error = bare.root_role_path(None).unwrap_err();
        assert!(
            matches!(
                error,
                Error::MissingSetting {
                    key: "root_role_path",
                    ..
                }
            ),
            "{error}"
        );
        assert!(error.to_string().contains("--out"), "{error}");
    }

    #[test]
    fn the_root_threshold_defaults_to_the_setting_then_one() {
        let (_dir, repo) = repo("root_key_threshold = 2\n");
        assert_eq!(repo.root_threshold(None).get(), 2);
        assert_eq!(repo.root_threshold(NonZeroU64::new(3)).get(), 3);
        let (_dir, bare) = self::repo("");
        assert_eq!(bare.root_threshold(None).get(), 1);
    }

    #[test]
    fn the_last_built_repository_must_exist() {
        let (dir, repo) = repo("");
        let error = repo.location(&Source::LastBuilt).unwrap_err();
        assert!(matches!(error, Error::NotBuilt { .. }), "{error}");
        assert!(
            error.to_string().contains("twoliter repo create"),
            "{error}"
        );
        let latest = dir.path().join("build/repos/default/latest");
        std::fs::create_dir_all(&latest).unwrap();
        let location = repo.location(&Source::LastBuilt).unwrap();
        assert!(location.metadata_url.path().ends_with("latest/metadata/"));
    }

    #[test]
    fn the_published_location_needs_both_urls() {
        let (_dir, repo) = repo("metadata_base_url = \"https://example.com/m\"\n");
        let error = repo.location(&Source::Published).unwrap_err();
        assert!(
            matches!(
                error,
                Error::MissingSetting {
                    key: "targets_url",
                    ..
                }
            ),
            "{error}"
        );
        let urls = Source::Urls {
            metadata: "https://example.com/m".into(),
            targets: "https://example.com/t".into(),
        };
        let location = repo.location(&urls).unwrap();
        assert_eq!(location.targets_url.as_str(), "https://example.com/t/");
    }
}
