//! Signing keys: PEM files (RSA, ECDSA P-256, ed25519) and, with the `kms` feature, AWS KMS keys
//! (through `tough-kms`); SSM parameters are modelled in `Infra.toml` but not supported yet.
//!
//! Key material is read only to sign; it is never printed, logged or put in an error.

use crate::error::{chain, Error, Result};
use std::path::{Path, PathBuf};
use tough::key_source::KeySource;
use tough::schema::{RoleType, Root};
use tough::sign::{parse_keypair, Sign};
use twoliter_project::{Infra, SigningKeyConfig};

/// What a `--root-key`/`--signing-key` argument starts with to name an AWS KMS key.
pub const KMS_KEY_PREFIX: &str = "kms:";

/// What a key source says when tough asks it to store a key: twoliter never writes keys through
/// one (`repo init` writes PEM files itself).
pub(crate) fn refuse_key_write(
) -> std::result::Result<(), Box<dyn std::error::Error + Send + Sync + 'static>> {
    Err("twoliter does not write keys through a key source".into())
}

/// A PEM private key file: PKCS#8 (`PRIVATE KEY`: RSA, ECDSA P-256 or ed25519) or PKCS#1
/// (`RSA PRIVATE KEY`).
#[derive(Debug, Clone)]
pub struct PemKeySource {
    /// The key file.
    pub path: PathBuf,
}

#[tough::async_trait]
impl KeySource for PemKeySource {
    async fn as_sign(
        &self,
    ) -> std::result::Result<Box<dyn Sign>, Box<dyn std::error::Error + Send + Sync + 'static>>
    {
        let data = std::fs::read(&self.path).map_err(|e| {
            if e.kind() == std::io::ErrorKind::NotFound {
                "there is no such file; fix the path, or let `twoliter repo init` generate the \
                 key files its Infra.toml names"
                    .to_string()
            } else {
                e.to_string()
            }
        })?;
        Ok(parse_pem(&data)?)
    }

    async fn write(
        &self,
        _value: &str,
        _key_id_hex: &str,
    ) -> std::result::Result<(), Box<dyn std::error::Error + Send + Sync + 'static>> {
        crate::keys::refuse_key_write()
    }
}

/// Parses a PEM private key into a signer. The error never contains key material.
pub fn parse_pem(data: &[u8]) -> std::result::Result<Box<dyn Sign>, String> {
    // tough reads ECDSA and ed25519 keys as PKCS#8 DER and RSA keys as PEM.
    if let Ok(pem) = pem::parse(data) {
        if pem.tag() == "PRIVATE KEY" {
            if let Ok(key) = parse_keypair(pem.contents()) {
                return Ok(Box::new(key));
            }
        }
    }
    parse_keypair(data)
        .map(|key| Box::new(key) as Box<dyn Sign>)
        .map_err(|_| {
            "not a private key twoliter can sign with; expected a PEM PKCS#8 RSA, ECDSA P-256 or \
             ed25519 key (`openssl genpkey -algorithm ed25519`) or a PKCS#1 RSA key"
                .to_string()
        })
}

/// The keys to sign with and where each is, for messages.
#[derive(Debug, Default)]
pub struct SigningKeys {
    /// Where each key is (safe to print), in the order of `sources`.
    pub descriptions: Vec<String>,
    /// The key sources tough signs with.
    pub sources: Vec<Box<dyn KeySource>>,
    /// The PEM files among the keys (`repo init` generates those that don't exist yet).
    pub files: Vec<PathBuf>,
}

impl SigningKeys {
    fn push(&mut self, description: String, source: Box<dyn KeySource>) {
        self.descriptions.push(description);
        self.sources.push(source);
    }

    fn push_file(&mut self, path: PathBuf) {
        let shown = std::path::absolute(&path).unwrap_or_else(|_| path.clone());
        self.push(
            format!("key file '{}'", shown.display()),
            Box::new(PemKeySource { path: path.clone() }),
        );
        self.files.push(path);
    }
}

/// The AWS profile `Infra.toml` names (`[aws] profile`), if any.
fn aws_profile(infra: &Infra) -> Option<&str> {
    infra.config.aws.as_ref()?.profile.as_deref()
}

/// Turns a key setting from `Infra.toml` into a key source: `file` keys are relative to the
/// `Infra.toml` directory, `kms` keys use the `[aws] profile` when set.
///
/// # Errors
/// [`Error::Key`] for `ssm` keys, which are not supported yet.
pub fn key_source(infra: &Infra, config: &SigningKeyConfig) -> Result<SigningKeys> {
    let mut keys = SigningKeys::default();
    match config {
        SigningKeyConfig::File { path } => keys.push_file(infra.resolve(path)),
        SigningKeyConfig::Kms { key_id, region } => keys.push(
            config.describe(),
            kms_source(key_id, region.as_deref(), aws_profile(infra))?,
        ),
        SigningKeyConfig::Ssm { .. } => {
            return Err(Error::Key {
                key: config.describe(),
                reason: "SSM parameter keys are not supported yet; use a `file` or `kms` key"
                    .into(),
            })
        }
    }
    Ok(keys)
}

/// Keys given on the command line: `kms:<key-id>` ([`KMS_KEY_PREFIX`]) names an AWS KMS key
/// (using `Infra.toml`'s `[aws] profile` when there is one), anything else a PEM key file.
///
/// # Errors
/// [`Error::Key`] for `kms:` without a key id.
pub fn command_line_keys(infra: &Infra, args: &[PathBuf]) -> Result<SigningKeys> {
    let mut keys = SigningKeys::default();
    for arg in args {
        match kms_key_id(arg) {
            Some("") => {
                return Err(Error::Key {
                    key: format!("'{}'", arg.display()),
                    reason: "no KMS key id after `kms:`; write kms:<key id, ARN or alias>".into(),
                })
            }
            Some(key_id) => keys.push(
                format!("KMS key '{key_id}'"),
                kms_source(key_id, None, aws_profile(infra))?,
            ),
            None => keys.push_file(arg.clone()),
        }
    }
    Ok(keys)
}

/// An AWS KMS key source (see `kms::KmsKeySource`), when this build has the `kms` feature.
#[cfg(feature = "kms")]
fn kms_source(
    key_id: &str,
    region: Option<&str>,
    profile: Option<&str>,
) -> Result<Box<dyn KeySource>> {
    Ok(Box::new(crate::kms::KmsKeySource::new(
        key_id, region, profile,
    )))
}

/// Without the `kms` feature (it brings the AWS SDK, kept out of the main build), a KMS key is
/// an error that says how to get a build that has it.
#[cfg(not(feature = "kms"))]
fn kms_source(
    key_id: &str,
    _region: Option<&str>,
    _profile: Option<&str>,
) -> Result<Box<dyn KeySource>> {
    Err(Error::Key {
        key: format!("KMS key '{key_id}'"),
        reason: "this twoliter was built without AWS KMS support; build it with \
                 `cargo build --release -p twoliter --features kms`"
            .into(),
    })
}

/// The key id of a `kms:<key-id>` argument.
fn kms_key_id(arg: &Path) -> Option<&str> {
    arg.to_str()?.strip_prefix(KMS_KEY_PREFIX)
}

/// The signing keys of repository `name` from `Infra.toml` (`signing_keys`).
///
/// # Errors
/// [`Error::MissingSetting`] when there is none, else as [`key_source`].
pub fn signing_keys(infra: &Infra, name: &str) -> Result<SigningKeys> {
    let repo = infra.repo(name)?;
    let config = repo
        .signing_keys
        .as_ref()
        .ok_or_else(|| Error::MissingSetting {
            repo: name.to_string(),
            infra: infra.path.clone(),
            key: "signing_keys",
            hint: "add e.g. signing_keys = { file = { path = \"keys/publish.pem\" } }",
        })?;
    key_source(infra, config)
}

/// PEM key files given on the command line.
pub fn file_keys(paths: &[PathBuf]) -> SigningKeys {
    let mut keys = SigningKeys::default();
    for path in paths {
        keys.push_file(path.clone());
    }
    keys
}

/// Checks, before any work is done, that the keys can sign every role in `roles`: each key
/// loads, and for each role enough of them are trusted by `root` to meet its threshold.
///
/// # Errors
/// [`Error::Key`] naming the key(s), key ids, the role and the key ids the role trusts.
pub async fn check_keys(keys: &SigningKeys, root: &Root, roles: &[RoleType]) -> Result<()> {
    let mut ids = Vec::new();
    for (description, source) in keys.descriptions.iter().zip(&keys.sources) {
        let fail = |reason: String| Error::Key {
            key: description.clone(),
            reason,
        };
        let signer = source
            .as_sign()
            .await
            .map_err(|e| fail(chain(e.as_ref())))?;
        let id = signer
            .tuf_key()
            .key_id()
            .map_err(|e| fail(format!("cannot compute its key id: {}", chain(&e))))?;
        ids.push((description.clone(), id));
    }
    let names = ids
        .iter()
        .map(|(name, id)| format!("{name} (key id {})", hex::encode(id)))
        .collect::<Vec<_>>()
        .join(", ");
    for role in roles {
        let role_keys = root.roles.get(role).ok_or_else(|| Error::Key {
            key: names.clone(),
            reason: format!("root.json defines no {role} role"),
        })?;
        let usable = ids
            .iter()
            .filter(|(_, id)| role_keys.keyids.contains(id))
            .count();
        let threshold = role_keys.threshold.get();
        if usable == 0 {
            let trusted: Vec<String> = role_keys.keyids.iter().map(hex::encode).collect();
            return Err(Error::Key {
                key: names,
                reason: format!(
                    "not trusted for the {role} role by root.json (it trusts key ids {}); sign \
                     with the key root.json names for that role",
                    trusted.join(", ")
                ),
            });
        }
        if (usable as u64) < threshold {
            return Err(Error::Key {
                key: names,
                reason: format!(
                    "the {role} role needs {threshold} signatures but only {usable} of these keys \
                     is trusted for it; give more of its keys"
                ),
            });
        }
    }
    Ok(())
}
