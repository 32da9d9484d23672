//! Signing keys: PEM files (RSA, ECDSA P-256, ed25519) and, by configuration, KMS and SSM.
//!
//! Key material is read only to sign; it is never printed, logged or put in an error.

use crate::error::{chain, Error, Result};
use std::path::PathBuf;
use tough::key_source::KeySource;
use tough::schema::{RoleType, Root};
use tough::sign::{parse_keypair, Sign};
use twoliter_project::{Infra, SigningKeyConfig};

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
        let data = std::fs::read(&self.path)?;
        Ok(parse_pem(&data)?)
    }

    async fn write(
        &self,
        _value: &str,
        _key_id_hex: &str,
    ) -> std::result::Result<(), Box<dyn std::error::Error + Send + Sync + 'static>> {
        Err("twoliter does not write keys through a key source".into())
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
}

impl SigningKeys {
    fn push(&mut self, description: String, source: Box<dyn KeySource>) {
        self.descriptions.push(description);
        self.sources.push(source);
    }
}

/// Turns a key setting from `Infra.toml` into a key source.
///
/// # Errors
/// [`Error::Key`] for `ssm` keys, which need the publishing support that is not built yet, and
/// for `kms` keys (likewise).
pub fn key_source(infra: &Infra, config: &SigningKeyConfig) -> Result<SigningKeys> {
    let description = config.describe();
    let source: Box<dyn KeySource> = match config {
        SigningKeyConfig::File { path } => Box::new(PemKeySource {
            path: infra.resolve(path),
        }),
        SigningKeyConfig::Kms { .. } | SigningKeyConfig::Ssm { .. } => {
            return Err(Error::Key {
                key: description,
                reason: "this kind of key is not supported yet; use a `file` key".into(),
            })
        }
    };
    let mut keys = SigningKeys::default();
    keys.push(description, source);
    Ok(keys)
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
        keys.push(
            format!("key file '{}'", path.display()),
            Box::new(PemKeySource { path: path.clone() }),
        );
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
