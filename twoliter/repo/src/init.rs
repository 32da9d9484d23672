//! `repo init`: a new signed root role, with local keys generated or given.

use crate::error::{chain, io_err, Error, Result};
use crate::keys::SigningKeys;
use crate::load::block_on;
use crate::sign::expiry;
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{EcdsaKeyPair, Ed25519KeyPair, ECDSA_P256_SHA256_ASN1_SIGNING};
use serde::Serialize;
use sha2::{Digest, Sha512};
use std::collections::HashMap;
use std::io::Write;
use std::num::NonZeroU64;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};
use tough::editor::signed::SignedRole;
use tough::schema::decoded::{Decoded, Hex};
use tough::schema::key::Key;
use tough::schema::{KeyHolder, RoleKeys, RoleType, Root};

/// The kind of key `init` generates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[cfg_attr(feature = "clap", derive(clap::ValueEnum))]
pub enum KeyType {
    /// RSA 3072 (signatures rsassa-pss-sha256).
    #[default]
    Rsa,
    /// ECDSA P-256.
    Ecdsa,
    /// ed25519.
    Ed25519,
}

impl std::fmt::Display for KeyType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            KeyType::Rsa => "rsa",
            KeyType::Ecdsa => "ecdsa",
            KeyType::Ed25519 => "ed25519",
        })
    }
}

/// Writes a new private key as PEM (PKCS#8) with mode 0600; refuses to replace a file.
///
/// # Errors
/// [`Error::Io`] when the file exists or can't be written, [`Error::Key`] when generation fails.
pub fn generate_key(path: &Path, key_type: KeyType) -> Result<()> {
    let fail = |reason: &str| Error::Key {
        key: format!("new key file '{}'", path.display()),
        reason: reason.to_string(),
    };
    let rng = SystemRandom::new();
    let der: Vec<u8> = match key_type {
        // PKCS#8 v1, the form `openssl genpkey` writes and OpenSSL 3.0 reads (v2 adds the
        // public key, which OpenSSL 3.0 refuses).
        KeyType::Ed25519 => Ed25519KeyPair::generate_pkcs8v1(&rng)
            .map_err(|_| fail("ed25519 key generation failed"))?
            .as_ref()
            .to_vec(),
        KeyType::Ecdsa => EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, &rng)
            .map_err(|_| fail("ECDSA key generation failed"))?
            .as_ref()
            .to_vec(),
        KeyType::Rsa => {
            use aws_lc_rs::encoding::AsDer;
            let key = aws_lc_rs::rsa::KeyPair::generate(aws_lc_rs::rsa::KeySize::Rsa3072)
                .map_err(|_| fail("RSA key generation failed"))?;
            key.as_der()
                .map_err(|_| fail("RSA key encoding failed"))?
                .as_ref()
                .to_vec()
        }
    };
    let text = pem::encode(&pem::Pem::new("PRIVATE KEY", der));
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(io_err("create directory", parent))?;
    }
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map_err(io_err("create the key file (it must not exist yet)", path))?;
    file.write_all(text.as_bytes())
        .map_err(io_err("write", path))?;
    Ok(())
}

/// What to put in the new root.
#[derive(Debug)]
pub struct InitOptions<'a> {
    /// Where to write root.json.
    pub path: &'a Path,
    /// Keys trusted for (and signing) the root role.
    pub root_keys: &'a SigningKeys,
    /// How many root keys must sign root.json.
    pub root_threshold: NonZeroU64,
    /// Keys trusted for targets, snapshot and timestamp (threshold 1 each).
    pub signing_keys: &'a SigningKeys,
    /// How long the root is valid.
    pub lifetime: Duration,
    /// The signing time.
    pub now: SystemTime,
    /// Replace an existing root.json.
    pub force: bool,
}

/// What `init` wrote.
#[derive(Debug, Clone, Serialize)]
pub struct InitReport {
    /// The root.json written.
    pub path: PathBuf,
    /// Its sha512 (for `root_role_sha512`).
    pub sha512: String,
    /// When it expires (RFC 3339).
    pub expires: String,
    /// Key ids trusted for the root role.
    pub root_keys: Vec<String>,
    /// Key ids trusted for targets, snapshot and timestamp.
    pub signing_keys: Vec<String>,
}

/// Builds, signs and writes a version-1 root role with consistent snapshots.
///
/// # Errors
/// [`Error::RootExists`] without `force`, [`Error::Key`] for unusable keys or a threshold above
/// the number of root keys, [`Error::Sign`] when signing fails.
pub fn init(options: &InitOptions<'_>) -> Result<InitReport> {
    if options.path.exists() && !options.force {
        return Err(Error::RootExists {
            path: options.path.to_path_buf(),
        });
    }
    if options.root_threshold.get() > options.root_keys.sources.len() as u64 {
        return Err(Error::Key {
            key: options.root_keys.descriptions.join(", "),
            reason: format!(
                "the root threshold is {} but only {} root keys are given",
                options.root_threshold,
                options.root_keys.sources.len()
            ),
        });
    }
    let expires = expiry(options.now, options.lifetime)?;
    block_on(async {
        let mut keys = HashMap::new();
        let root_ids = key_ids(options.root_keys).await?;
        let signing_ids = key_ids(options.signing_keys).await?;
        for (id, key) in root_ids.iter().chain(&signing_ids) {
            keys.insert(id.clone(), key.clone());
        }
        let role = |ids: &[(Decoded<Hex>, Key)], threshold| RoleKeys {
            keyids: ids.iter().map(|(id, _)| id.clone()).collect(),
            threshold,
            _extra: HashMap::new(),
        };
        let root = Root {
            spec_version: "1.0.0".into(),
            consistent_snapshot: true,
            version: NonZeroU64::MIN,
            expires,
            keys,
            roles: [
                (RoleType::Root, role(&root_ids, options.root_threshold)),
                (RoleType::Targets, role(&signing_ids, NonZeroU64::MIN)),
                (RoleType::Snapshot, role(&signing_ids, NonZeroU64::MIN)),
                (RoleType::Timestamp, role(&signing_ids, NonZeroU64::MIN)),
            ]
            .into_iter()
            .collect(),
            _extra: HashMap::new(),
        };
        let signed = SignedRole::new(
            root.clone(),
            &KeyHolder::Root(root),
            &options.root_keys.sources,
            &SystemRandom::new(),
        )
        .await
        .map_err(|e| Error::Sign {
            repo: options.path.display().to_string(),
            reason: chain(&e),
        })?;
        if let Some(parent) = options.path.parent() {
            std::fs::create_dir_all(parent).map_err(io_err("create directory", parent))?;
        }
        fsutil::atomic_write(options.path, signed.buffer(), 0o644)?;
        Ok(InitReport {
            path: options.path.to_path_buf(),
            sha512: hex::encode(Sha512::digest(signed.buffer())),
            expires: expires.to_string(),
            root_keys: root_ids.iter().map(|(id, _)| hex::encode(id)).collect(),
            signing_keys: signing_ids.iter().map(|(id, _)| hex::encode(id)).collect(),
        })
    })?
}

/// Each key's id and public key.
async fn key_ids(set: &SigningKeys) -> Result<Vec<(Decoded<Hex>, Key)>> {
    let mut out = Vec::new();
    for (description, source) in set.descriptions.iter().zip(&set.sources) {
        let fail = |reason: String| Error::Key {
            key: description.clone(),
            reason,
        };
        let key = source
            .as_sign()
            .await
            .map_err(|e| fail(chain(e.as_ref())))?
            .tuf_key();
        let id = key.key_id().map_err(|e| fail(chain(&e)))?;
        out.push((id, key));
    }
    Ok(out)
}
