//! `Infra.toml`: where update repositories live and which keys sign them, plus the AWS settings
//! publishing uses.
//!
//! ```toml
//! [repo.default]
//! root_role_path = "roles/root.json"
//! root_role_sha512 = "0a1b..."            # sha512 of root.json, 128 hex digits
//! signing_keys = { file = { path = "keys/publish.pem" } }
//! root_keys = { file = { path = "keys/root.pem" } }
//! root_key_threshold = 1
//! metadata_base_url = "https://updates.example.com/metadata/"
//! targets_url = "https://updates.example.com/targets/"
//!
//! [aws]
//! regions = ["us-west-2", "us-east-1"]
//! ```
//!
//! Relative paths are resolved against the directory holding `Infra.toml`. The file holds only
//! *where* keys are, never key material.

use crate::diagnostic::Diagnostic;
use crate::parse;
use indexmap::IndexMap;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::num::NonZeroU64;
use std::path::{Path, PathBuf};

/// The contents of `Infra.toml`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct InfraConfig {
    /// Update repositories by name (`twoliter repo create --repo NAME`).
    #[serde(default)]
    pub repo: IndexMap<String, RepoConfig>,
    /// AWS settings for publishing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aws: Option<AwsConfig>,
}

/// One TUF update repository.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RepoConfig {
    /// Where to download the trusted `root.json` (`https://`, `http://` or `file://`); needs
    /// `root_role_sha512`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub root_role_url: Option<String>,
    /// The trusted `root.json` on disk, relative to `Infra.toml`. `twoliter repo init` writes it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub root_role_path: Option<PathBuf>,
    /// The sha512 of `root.json` (128 hex digits); checked before the root is trusted. Required
    /// with `root_role_url`, optional with `root_role_path`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = r"^[0-9a-fA-F]{128}$"))]
    pub root_role_sha512: Option<String>,
    /// The key that signs targets, snapshot and timestamp.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signing_keys: Option<SigningKeyConfig>,
    /// The key that signs `root.json` (used by `twoliter repo init`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub root_keys: Option<SigningKeyConfig>,
    /// How many root keys must sign `root.json` (default 1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "Option<u64>", range(min = 1))]
    pub root_key_threshold: Option<NonZeroU64>,
    /// Base URL of the published metadata (`https://`, `http://` or `file://`). When a
    /// repository already exists there, `twoliter repo create` extends it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata_base_url: Option<String>,
    /// Base URL of the published targets.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub targets_url: Option<String>,
}

/// Where a signing key is. Exactly one of `file`, `kms` or `ssm`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "lowercase")]
pub enum SigningKeyConfig {
    /// A PEM private key file (PKCS#8 RSA, ECDSA P-256 or ed25519, or PKCS#1 RSA).
    File {
        /// The key file, relative to `Infra.toml`.
        path: PathBuf,
    },
    /// An AWS KMS asymmetric key (RSA, signing with RSASSA_PSS_SHA_256).
    Kms {
        /// The KMS key id, ARN or alias.
        key_id: String,
        /// The region of the key [default: the AWS SDK's configured region].
        #[serde(default, skip_serializing_if = "Option::is_none")]
        region: Option<String>,
    },
    /// A PEM private key stored in an SSM SecureString parameter.
    Ssm {
        /// The parameter's name.
        parameter: String,
    },
}

impl SigningKeyConfig {
    /// A description that names where the key is, never its contents (safe to print).
    pub fn describe(&self) -> String {
        match self {
            SigningKeyConfig::File { path } => format!("key file '{}'", path.display()),
            SigningKeyConfig::Kms { key_id, region } => match region {
                Some(region) => format!("KMS key '{key_id}' in {region}"),
                None => format!("KMS key '{key_id}'"),
            },
            SigningKeyConfig::Ssm { parameter } => format!("SSM parameter '{parameter}'"),
        }
    }
}

/// AWS settings for publishing.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AwsConfig {
    /// Regions to publish to; the first is where AMIs are registered.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub regions: Vec<String>,
    /// The AWS CLI/SDK profile to use.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub profile: Option<String>,
    /// An IAM role ARN to assume.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
    /// Prefix of the SSM parameters publishing writes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ssm_prefix: Option<String>,
}

/// `Infra.toml` as loaded: the configuration and the directory relative paths start from.
#[derive(Debug, Clone)]
pub struct Infra {
    /// The parsed file.
    pub config: InfraConfig,
    /// The file it came from.
    pub path: PathBuf,
    text: String,
}

impl Infra {
    /// Reads and checks `Infra.toml` at `path`. Unknown keys, wrong types and inconsistent
    /// repository settings are reported with the file, line and key.
    pub fn load(path: &Path) -> Result<Infra, Diagnostic> {
        let text = parse::read_text(path, path)?;
        let config: InfraConfig = parse::toml(&text, path)?;
        let infra = Infra {
            config,
            path: path.to_path_buf(),
            text,
        };
        infra.check()?;
        Ok(infra)
    }

    fn check(&self) -> Result<(), Diagnostic> {
        for (name, repo) in &self.config.repo {
            let problem = |key: &str, message: String, hint: &str| {
                Diagnostic::new(&self.path, message)
                    .key(format!("repo.{name}.{key}"))
                    .hint(hint)
                    .locate(&self.text, key)
                    .locate(&self.text, &format!("repo.{name}"))
            };
            match (&repo.root_role_url, &repo.root_role_path) {
                (Some(_), Some(_)) => {
                    return Err(problem(
                        "root_role_url",
                        "both root_role_url and root_role_path are set".into(),
                        "keep one: the URL to download root.json from, or its path on disk",
                    ))
                }
                (Some(_), None) if repo.root_role_sha512.is_none() => {
                    return Err(problem(
                        "root_role_url",
                        "root_role_url needs root_role_sha512 to check the download".into(),
                        "add root_role_sha512 = \"<output of sha512sum root.json>\"",
                    ))
                }
                _ => {}
            }
            if let Some(sha) = &repo.root_role_sha512 {
                if sha.len() != 128 || !sha.chars().all(|c| c.is_ascii_hexdigit()) {
                    return Err(problem(
                        "root_role_sha512",
                        format!("'{sha}' is not a sha512 (128 hex digits)"),
                        "use the first field of `sha512sum root.json`",
                    ));
                }
            }
            for (key, url) in [
                ("metadata_base_url", &repo.metadata_base_url),
                ("targets_url", &repo.targets_url),
                ("root_role_url", &repo.root_role_url),
            ] {
                if let Some(url) = url {
                    if !["file://", "http://", "https://"]
                        .iter()
                        .any(|scheme| url.starts_with(scheme))
                    {
                        return Err(problem(
                            key,
                            format!("'{url}' is not a file://, http:// or https:// URL"),
                            "write a full URL, e.g. file:///srv/repo/metadata or https://host/metadata",
                        ));
                    }
                }
            }
        }
        Ok(())
    }

    /// The directory relative paths in the file start from.
    pub fn dir(&self) -> &Path {
        self.path.parent().unwrap_or(Path::new("."))
    }

    /// Resolves a path from the file against [`Infra::dir`].
    pub fn resolve(&self, path: &Path) -> PathBuf {
        self.dir().join(path)
    }

    /// The repository called `name`, or a diagnostic listing the ones that exist.
    pub fn repo(&self, name: &str) -> Result<&RepoConfig, Diagnostic> {
        self.config.repo.get(name).ok_or_else(|| {
            let known: Vec<&str> = self.config.repo.keys().map(String::as_str).collect();
            let hint = if known.is_empty() {
                format!("add a [repo.{name}] table")
            } else {
                format!("the repositories defined are: {}", known.join(", "))
            };
            Diagnostic::new(&self.path, format!("there is no [repo.{name}]")).hint(hint)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(text: &str) -> Result<Infra, Diagnostic> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("Infra.toml");
        std::fs::write(&path, text).unwrap();
        Infra::load(&path)
    }

    #[test]
    fn full_file_loads() {
        let infra = load(
            r#"
[repo.default]
root_role_path = "roles/root.json"
signing_keys = { file = { path = "keys/a.pem" } }
root_keys = { kms = { key_id = "alias/root", region = "us-west-2" } }
root_key_threshold = 1
metadata_base_url = "file:///srv/metadata"
targets_url = "https://example.com/targets/"

[repo.other]
root_role_url = "https://example.com/root.json"
root_role_sha512 = "00000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000"
signing_keys = { ssm = { parameter = "/keys/publish" } }

[aws]
regions = ["us-west-2"]
profile = "publish"
ssm_prefix = "/bottlerocket"
"#,
        )
        .unwrap();
        let repo = infra.repo("default").unwrap();
        assert_eq!(
            repo.signing_keys,
            Some(SigningKeyConfig::File {
                path: "keys/a.pem".into()
            })
        );
        assert_eq!(infra.config.aws.as_ref().unwrap().regions, ["us-west-2"]);
        assert!(infra
            .repo("nope")
            .unwrap_err()
            .to_string()
            .contains("default, other"));
    }

    #[test]
    fn unknown_key_has_line() {
        let error = load("[repo.default]\nmetadata_base_url = \"file:///x\"\nsigning_key = 1\n")
            .unwrap_err();
        assert_eq!(error.line, Some(3), "{error}");
        assert!(error.message.contains("signing_key"), "{error}");
    }

    #[test]
    fn url_without_sha_is_rejected() {
        let error = load("[repo.r]\nroot_role_url = \"https://x/root.json\"\n").unwrap_err();
        assert!(error.to_string().contains("root_role_sha512"), "{error}");
        assert_eq!(error.line, Some(2), "{error}");
    }

    #[test]
    fn bad_url_scheme_is_rejected() {
        let error = load("[repo.r]\nmetadata_base_url = \"s3://bucket\"\n").unwrap_err();
        assert!(error.to_string().contains("not a file://"), "{error}");
    }
}
