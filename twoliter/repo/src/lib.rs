//! Signed TUF update repositories for Bottlerocket-style hosts (DESIGN §3).
//!
//! * [`create()`]: add a variant's release (images, disks, migrations and `manifest.json`) to a
//!   repository, extending the published one when it exists;
//! * [`refresh()`]: re-sign targets, snapshot and timestamp with new versions and expirations;
//! * [`init()`]: a new signed root role, with [`init_keys`] choosing its keys and generating
//!   the local ones ([`generate_key`]);
//! * [`validate()`] and [`status()`]: check a repository with the trusted root, optionally every
//!   target, and report each role's version, expiry, keys and signatures.
//!
//! Keys come from `Infra.toml` ([`twoliter_project::Infra`]), PEM files or AWS KMS; key material
//! is never printed or logged.

#![warn(missing_docs)]

mod artifacts;
mod create;
pub mod error;
mod init;
mod init_keys;
mod inspect;
mod keys;
#[cfg(feature = "kms")]
mod kms;
mod load;
mod output;
mod policy;
mod project_repo;
mod refresh;
mod sign;

pub use artifacts::{files_in_dirs, ArtifactFile, Artifacts};
pub use create::{create, CreateOptions, CreateReport};
pub use error::{Error, Result};
pub use init::{generate_key, init, InitOptions, InitReport, KeyType};
pub use init_keys::{default_key_path, init_keys, InitKeys, KeyPolicy, KeyRole};
pub use inspect::{status, validate, RoleStatus, StatusReport, ValidateReport};
pub use keys::{
    check_keys, command_line_keys, file_keys, key_source, parse_pem, signing_keys, PemKeySource,
    SigningKeys, KMS_KEY_PREFIX,
};
#[cfg(feature = "kms")]
pub use kms::KmsKeySource;
pub use load::{Location, TrustedRoot};
pub use policy::{parse_lifetime, ExpirationPolicy};
pub use project_repo::{ProjectRepo, Source};
pub use refresh::{refresh, RefreshOptions, RefreshReport};
pub use sign::{Signing, Versions};
