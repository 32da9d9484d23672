//! Errors of repository operations. Each names the file, URL, key or role concerned and, where
//! we can say, what to do. None ever holds key material.

use std::path::PathBuf;

/// The result type of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What went wrong in a repository operation.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// `Infra.toml` is missing, unreadable or invalid, or lacks the repository.
    #[error("{0}")]
    Infra(Box<twoliter_project::Diagnostic>),

    /// A setting the operation needs is not in the repository's `Infra.toml` table.
    #[error("[repo.{repo}] in '{}' has no {key}; {hint}", infra.display())]
    MissingSetting {
        /// The repository name.
        repo: String,
        /// The `Infra.toml` file.
        infra: PathBuf,
        /// The missing key.
        key: &'static str,
        /// How to fix it.
        hint: &'static str,
    },

    /// No repository has been built yet where a command looks by default.
    #[error("no repository built yet for '{repo}' (no '{}'); run `twoliter repo create`, or pass --dir, --metadata-url/--targets-url or --published", dir.display())]
    NotBuilt {
        /// The repository name.
        repo: String,
        /// The `latest` link that is missing.
        dir: PathBuf,
    },

    /// A file could not be written durably or a lock taken.
    #[error(transparent)]
    Fs(#[from] fsutil::IoError),

    /// A file operation failed.
    #[error("cannot {action} '{}': {source}", path.display())]
    Io {
        /// What we were doing ("read", "create directory", ...).
        action: &'static str,
        /// The file or directory.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },

    /// The trusted root.json does not have the sha512 `Infra.toml` names.
    #[error("the root role from {origin} has sha512 {actual}, but root_role_sha512 in Infra.toml says {expected}; check you have the right root.json, or update root_role_sha512 after reviewing it")]
    RootDigest {
        /// Where the root came from.
        origin: String,
        /// The digest in `Infra.toml`.
        expected: String,
        /// The digest of the file.
        actual: String,
    },

    /// Fetching a URL failed.
    #[error("cannot fetch {url}: {reason}")]
    Fetch {
        /// The URL.
        url: String,
        /// Why.
        reason: String,
    },

    /// A URL in the configuration or on the command line is malformed.
    #[error("'{url}' is not a usable URL: {reason}")]
    Url {
        /// The URL.
        url: String,
        /// Why.
        reason: String,
    },

    /// The repository's metadata failed to load or verify.
    #[error(
        "the repository at {metadata_url} does not load with the trusted root {root}: {reason}"
    )]
    Load {
        /// The metadata base URL.
        metadata_url: String,
        /// Where the trusted root came from.
        root: String,
        /// tough's explanation (signature, threshold, expiry, version, JSON errors).
        reason: String,
    },

    /// The build's artifact directory is missing, or its metadata unusable.
    #[error(transparent)]
    ArtifactDir(#[from] twoliter_artifacts::Error),

    /// An image the build's metadata promises is missing from its artifact directory.
    #[error("the build {name} in '{}' has no {file}; rebuild the variant", dir.display())]
    MissingArtifact {
        /// The build.
        name: Box<twoliter_artifacts::ArtifactName>,
        /// The artifact directory.
        dir: PathBuf,
        /// The missing file.
        file: String,
    },

    /// `manifest.json` could not be read or extended.
    #[error("manifest.json: {0}")]
    Manifest(#[from] Box<update_metadata::Error>),

    /// A policy file (expiration or waves) is invalid.
    #[error("policy file '{}': {reason}", path.display())]
    Policy {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },

    /// A signing key could not be used.
    #[error("{key}: {reason}")]
    Key {
        /// Where the key is (never its contents).
        key: String,
        /// Why it can't be used.
        reason: String,
    },

    /// Signing failed, usually because the keys are not those root.json trusts for a role or
    /// there are fewer of them than the role's threshold.
    #[error("cannot sign repository '{repo}': {reason}")]
    Sign {
        /// The repository.
        repo: String,
        /// Why.
        reason: String,
    },

    /// A target listed in targets.json is missing or does not match its signed hash or length.
    #[error("target '{target}': {reason}")]
    Target {
        /// The target name.
        target: String,
        /// What is wrong.
        reason: String,
    },

    /// A root role already exists and `--force` was not given.
    #[error("'{}' already exists; pass --force to replace it (hosts that trust the old root will not trust repositories signed for the new one)", path.display())]
    RootExists {
        /// The existing root.json.
        path: PathBuf,
    },

    /// The release is already in the repository's manifest.json.
    #[error("{variant} {version} ({arch}) is already published in this repository; build the next version (`twoliter build variant {variant} --release-version X.Y.Z`), or pass --replace to replace its manifest.json entry")]
    AlreadyPublished {
        /// The variant.
        variant: String,
        /// The architecture.
        arch: twoliter_project::Arch,
        /// The version.
        version: String,
    },

    /// The trusted root role has expired: nothing signed for it would load on a host.
    #[error("the root role from {origin} expired at {expired}; clients refuse every repository signed for it. Sign a root with a later expiry (`twoliter repo init --force --expires '52 weeks'`, then give hosts the new root.json)")]
    RootExpired {
        /// Where the root came from.
        origin: String,
        /// Its expiry, RFC 3339.
        expired: String,
    },

    /// Anything else tough reports.
    #[error("{action}: {reason}")]
    Tuf {
        /// What we were doing.
        action: String,
        /// tough's explanation.
        reason: String,
    },
}

impl From<twoliter_project::Diagnostic> for Error {
    fn from(diagnostic: twoliter_project::Diagnostic) -> Self {
        Error::Infra(Box::new(diagnostic))
    }
}

/// Builds an [`Error::Io`] mapper for `map_err`.
pub(crate) fn io_err(
    action: &'static str,
    path: impl Into<PathBuf>,
) -> impl FnOnce(std::io::Error) -> Error {
    let path = path.into();
    move |source| Error::Io {
        action,
        path,
        source,
    }
}

/// An error and its sources joined by ": ", skipping a source its parent already quotes.
pub(crate) fn chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let part = cause.to_string();
        if !text.contains(&part) {
            text.push_str(": ");
            text.push_str(&part);
        }
        source = cause.source();
    }
    text
}
