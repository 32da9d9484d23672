//! Finding the trusted root and the repository, and loading it with tough.

use crate::error::{chain, io_err, Error, Result};
use sha2::{Digest, Sha512};
use std::path::Path;
use tough::{ExpirationEnforcement, RepositoryLoader, Transport, TransportErrorKind};
use tuf_transport::UreqTransport;
use twoliter_project::{Infra, RepoConfig};
use url::Url;

/// The trusted `root.json`: its bytes and where they came from.
#[derive(Debug, Clone)]
pub struct TrustedRoot {
    /// The file's bytes, exactly as signed.
    pub bytes: Vec<u8>,
    /// Where it came from (a path or URL), for messages.
    pub origin: String,
}

impl TrustedRoot {
    /// Reads a root.json from disk without a digest check (for files the user names).
    ///
    /// # Errors
    /// [`Error::Io`] when it can't be read.
    pub fn from_path(path: &Path) -> Result<Self> {
        let bytes = std::fs::read(path).map_err(io_err("read the root role", path))?;
        Ok(Self {
            bytes,
            origin: format!("'{}'", path.display()),
        })
    }

    /// The root role of repository `name` in `Infra.toml`: `root_role_path` (resolved against
    /// the file) or `root_role_url`, checked against `root_role_sha512` when set.
    ///
    /// # Errors
    /// [`Error::MissingSetting`], [`Error::Io`], [`Error::Fetch`] or [`Error::RootDigest`].
    pub fn from_infra(infra: &Infra, name: &str, repo: &RepoConfig) -> Result<Self> {
        let root = match (&repo.root_role_path, &repo.root_role_url) {
            (Some(path), _) => Self::from_path(&infra.resolve(path))?,
            (None, Some(url)) => {
                let parsed = parse_url(url)?;
                let bytes = block_on(fetch(&parsed))??.ok_or_else(|| Error::Fetch {
                    url: url.clone(),
                    reason: "not found".into(),
                })?;
                Self {
                    bytes,
                    origin: url.clone(),
                }
            }
            (None, None) => return Err(Error::MissingSetting {
                repo: name.to_string(),
                infra: infra.path.clone(),
                key: "root_role_path or root_role_url",
                hint: "run `twoliter repo init` to create a root role, or point at an existing one",
            }),
        };
        if let Some(expected) = &repo.root_role_sha512 {
            let actual = hex::encode(Sha512::digest(&root.bytes));
            if !actual.eq_ignore_ascii_case(expected) {
                return Err(Error::RootDigest {
                    origin: root.origin,
                    expected: expected.clone(),
                    actual,
                });
            }
        }
        Ok(root)
    }

    /// The parsed root (signatures not checked; tough checks them when loading).
    ///
    /// # Errors
    /// [`Error::Tuf`] when it is not root metadata JSON.
    pub fn parse(&self) -> Result<tough::schema::Signed<tough::schema::Root>> {
        serde_json::from_slice(&self.bytes).map_err(|e| Error::Tuf {
            action: format!("parse the root role {}", self.origin),
            reason: e.to_string(),
        })
    }

    /// [`TrustedRoot::parse`], refusing a root that has expired at `now` (signing for it is
    /// pointless).
    ///
    /// # Errors
    /// As [`TrustedRoot::parse`], and [`Error::RootExpired`].
    pub fn parse_unexpired(
        &self,
        now: std::time::SystemTime,
    ) -> Result<tough::schema::Signed<tough::schema::Root>> {
        let root = self.parse()?;
        let now = jiff::Timestamp::try_from(now).unwrap_or(jiff::Timestamp::MAX);
        if root.signed.expires <= now {
            return Err(Error::RootExpired {
                origin: self.origin.clone(),
                expired: root.signed.expires.to_string(),
            });
        }
        Ok(root)
    }
}

/// Where a repository's metadata and targets are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Location {
    /// Base URL of the metadata (ends with `/`).
    pub metadata_url: Url,
    /// Base URL of the targets (ends with `/`).
    pub targets_url: Url,
}

impl Location {
    /// Two base URLs (`file://`, `http://` or `https://`).
    ///
    /// # Errors
    /// [`Error::Url`] when either is malformed.
    pub fn from_urls(metadata_url: &str, targets_url: &str) -> Result<Self> {
        Ok(Self {
            metadata_url: parse_url(metadata_url)?,
            targets_url: parse_url(targets_url)?,
        })
    }

    /// A repository directory as `repo create` writes it: `<dir>/metadata`, `<dir>/targets`.
    ///
    /// # Errors
    /// [`Error::Io`] when the directory does not exist.
    pub fn from_dir(dir: &Path) -> Result<Self> {
        let dir = dir
            .canonicalize()
            .map_err(io_err("find the repository directory", dir))?;
        let url = |sub: &str| {
            Url::from_directory_path(dir.join(sub)).map_err(|()| Error::Url {
                url: dir.join(sub).display().to_string(),
                reason: "not an absolute path".into(),
            })
        };
        Ok(Self {
            metadata_url: url("metadata")?,
            targets_url: url("targets")?,
        })
    }

    /// The published location of repository `name` from `Infra.toml`.
    ///
    /// # Errors
    /// [`Error::MissingSetting`] when `metadata_base_url` or `targets_url` is missing.
    pub fn from_infra(infra: &Infra, name: &str, repo: &RepoConfig) -> Result<Self> {
        let missing = |key| Error::MissingSetting {
            repo: name.to_string(),
            infra: infra.path.clone(),
            key,
            hint: "add the base URL where the repository is (or will be) published",
        };
        let metadata = repo
            .metadata_base_url
            .as_deref()
            .ok_or_else(|| missing("metadata_base_url"))?;
        let targets = repo
            .targets_url
            .as_deref()
            .ok_or_else(|| missing("targets_url"))?;
        Self::from_urls(metadata, targets)
    }
}

/// Parses a base URL, adding the trailing `/` that joining needs.
pub(crate) fn parse_url(text: &str) -> Result<Url> {
    let with_slash = if text.ends_with('/') {
        text.to_string()
    } else {
        format!("{text}/")
    };
    let url = Url::parse(&with_slash).map_err(|e| Error::Url {
        url: text.to_string(),
        reason: e.to_string(),
    })?;
    if !["file", "http", "https"].contains(&url.scheme()) {
        return Err(Error::Url {
            url: text.to_string(),
            reason: "only file://, http:// and https:// are supported".into(),
        });
    }
    Ok(url)
}

/// Runs a future on a new current-thread runtime (tough is async; this crate is not).
pub(crate) fn block_on<F: std::future::Future>(future: F) -> Result<F::Output> {
    // I/O for the AWS SDK (KMS keys), time for tough's and the SDK's timeouts.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .enable_time()
        .build()
        .map_err(|e| Error::Tuf {
            action: "start an async runtime".into(),
            reason: e.to_string(),
        })?;
    Ok(runtime.block_on(future))
}

/// Fetches a whole small file; `None` when it does not exist.
pub(crate) async fn fetch(url: &Url) -> Result<Option<Vec<u8>>> {
    use futures::StreamExt;
    let fail = |reason: String| Error::Fetch {
        url: url.to_string(),
        reason,
    };
    let mut stream = match UreqTransport::default().fetch(url.clone()).await {
        Ok(stream) => stream,
        Err(e) if e.kind() == TransportErrorKind::FileNotFound => return Ok(None),
        Err(e) => return Err(fail(chain(&e))),
    };
    let mut out = Vec::new();
    while let Some(chunk) = stream.next().await {
        out.extend_from_slice(&chunk.map_err(|e| fail(chain(&e)))?);
    }
    Ok(Some(out))
}

/// Whether a repository has been published at `location` (its `timestamp.json` exists).
pub(crate) async fn exists(location: &Location) -> Result<bool> {
    let url = location
        .metadata_url
        .join("timestamp.json")
        .map_err(|e| Error::Url {
            url: location.metadata_url.to_string(),
            reason: e.to_string(),
        })?;
    Ok(fetch(&url).await?.is_some())
}

/// Loads and verifies the repository with tough.
pub(crate) async fn load(
    root: &TrustedRoot,
    location: &Location,
    enforcement: ExpirationEnforcement,
) -> Result<tough::Repository> {
    RepositoryLoader::new(
        &root.bytes,
        location.metadata_url.clone(),
        location.targets_url.clone(),
    )
    .transport(UreqTransport::default())
    .expiration_enforcement(enforcement)
    .limits(tuf_transport::limits())
    .load()
    .await
    .map_err(|e| {
        let mut reason = chain(&e);
        if matches!(e, tough::error::Error::ExpiredMetadata { .. }) {
            reason.push_str(
                "; re-sign it first with `twoliter repo refresh --published --unsafe-refresh` \
                 (and publish the new metadata)",
            );
        }
        Error::Load {
            metadata_url: location.metadata_url.to_string(),
            root: root.origin.clone(),
            reason,
        }
    })
}
