//! Which keys `repo init` signs with, and generating the local ones that do not exist yet.

use crate::init::{generate_key, KeyType};
use crate::keys::{command_line_keys, file_keys, key_source, SigningKeys};
use crate::Result;
use std::fmt;
use std::path::PathBuf;
use twoliter_project::Infra;

/// The role a set of keys signs for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyRole {
    /// The root role.
    Root,
    /// Targets, snapshot and timestamp.
    Signing,
}

impl fmt::Display for KeyRole {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            KeyRole::Root => "root",
            KeyRole::Signing => "signing",
        })
    }
}

/// How [`init_keys`] chooses and makes keys.
#[derive(Debug, Clone, Copy)]
pub struct KeyPolicy<'a> {
    /// The role.
    pub role: KeyRole,
    /// Keys named on the command line (PEM paths or `kms:<id>`); they override Infra.toml.
    pub given: &'a [PathBuf],
    /// The type of generated keys; `None` for [`KeyType::default`]. Existing keys are used as
    /// they are (with a warning when a type was asked for).
    pub key_type: Option<KeyType>,
}

/// The keys of one role and the PEM files generated for them.
pub struct InitKeys {
    /// The keys.
    pub keys: SigningKeys,
    /// The PEM files that did not exist and were generated.
    pub generated: Vec<PathBuf>,
}

/// The PEM file of `repo`'s `role` keys when neither the command line nor Infra.toml names
/// one: `keys/<repo>-<role>.pem` beside Infra.toml.
pub fn default_key_path(infra: &Infra, repo: &str, role: KeyRole) -> PathBuf {
    infra.dir().join(format!("keys/{repo}-{role}.pem"))
}

/// The keys `repo init` uses for `repo`'s `policy.role`: those given, else Infra.toml's
/// `root_keys`/`signing_keys`, else [`default_key_path`]; every PEM file among them that does
/// not exist yet is generated.
///
/// # Errors
/// [`crate::Error::Infra`] when Infra.toml has no `[repo.<repo>]`, and the errors of
/// [`command_line_keys`], [`key_source`] and [`generate_key`].
pub fn init_keys(infra: &Infra, repo: &str, policy: &KeyPolicy<'_>) -> Result<InitKeys> {
    let config = infra.repo(repo)?;
    let setting = match policy.role {
        KeyRole::Root => config.root_keys.as_ref(),
        KeyRole::Signing => config.signing_keys.as_ref(),
    };
    let keys = if !policy.given.is_empty() {
        command_line_keys(infra, policy.given)?
    } else if let Some(setting) = setting {
        key_source(infra, setting)?
    } else {
        file_keys(&[default_key_path(infra, repo, policy.role)])
    };
    let mut generated = Vec::new();
    for path in &keys.files {
        if !path.exists() {
            generate_key(path, policy.key_type.unwrap_or_default())?;
            generated.push(path.clone());
        } else if let Some(asked) = policy.key_type {
            tracing::warn!(
                "--key-type {asked} applies to generated keys only; the existing '{}' is used as it is",
                path.display()
            );
        }
    }
    Ok(InitKeys { keys, generated })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn infra(dir: &std::path::Path, keys: &str) -> Infra {
        let path = dir.join("Infra.toml");
        std::fs::write(
            &path,
            format!(
                "[repo.default]\n{keys}metadata_base_url = \"file:///m\"\ntargets_url = \"file:///t\"\n"
            ),
        )
        .unwrap();
        Infra::load(&path).unwrap()
    }

    #[test]
    fn default_keys_are_generated_once() {
        let tmp = tempfile::tempdir().unwrap();
        let infra = infra(tmp.path(), "");
        let policy = KeyPolicy {
            role: KeyRole::Root,
            given: &[],
            key_type: Some(KeyType::Ed25519),
        };
        let first = init_keys(&infra, "default", &policy).unwrap();
        let path = tmp.path().join("keys/default-root.pem");
        assert_eq!(first.generated, std::slice::from_ref(&path));
        assert_eq!(first.keys.files, std::slice::from_ref(&path));
        let pem = std::fs::read_to_string(&path).unwrap();
        let again = init_keys(&infra, "default", &policy).unwrap();
        assert!(again.generated.is_empty());
        assert_eq!(std::fs::read_to_string(&path).unwrap(), pem);
        assert_eq!(
            default_key_path(&infra, "default", KeyRole::Signing),
            tmp.path().join("keys/default-signing.pem")
        );
    }

    #[test]
    fn the_command_line_then_infra_name_the_keys() {
        let tmp = tempfile::tempdir().unwrap();
        let infra = infra(
            tmp.path(),
            "signing_keys = { file = { path = \"k/s.pem\" } }\n",
        );
        let policy = |given| KeyPolicy {
            role: KeyRole::Signing,
            given,
            key_type: None,
        };
        let from_infra = init_keys(&infra, "default", &policy(&[])).unwrap();
        assert_eq!(from_infra.generated, [tmp.path().join("k/s.pem")]);
        let given = [tmp.path().join("cli.pem")];
        let from_cli = init_keys(&infra, "default", &policy(&given)).unwrap();
        assert_eq!(from_cli.keys.files, given);
        let error = init_keys(&infra, "other", &policy(&[])).err().unwrap();
        assert!(error.to_string().contains("other"), "{error}");
    }

    #[test]
    fn key_types_display_as_the_flag_spells_them() {
        let names: Vec<String> = [KeyType::Rsa, KeyType::Ecdsa, KeyType::Ed25519]
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(names, ["rsa", "ecdsa", "ed25519"]);
    }
}
