//! `twoliter repo ...`: signed TUF update repositories.

use crate::args::{KeyTypeArg, RepoArgs, RepoCommand, RepoLocationArgs};
use crate::Globals;
use anyhow::{Context, Result};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::SystemTime;
use twoliter_project::Infra;
use twoliter_repo::{
    Artifacts, CreateOptions, ExpirationPolicy, InitOptions, KeyPolicy, KeyRole, KeyType, Location,
    RefreshOptions, Signing, SigningKeys, TrustedRoot,
};
use update_metadata::{Timestamp, WavePolicy};

pub fn run(ctx: &Globals, command: RepoCommand) -> Result<ExitCode> {
    let root_dir = ctx.root()?;
    let layout = twoliter_project::ProjectLayout::new(&root_dir);
    let repos_dir = layout.repos_dir();
    match command {
        RepoCommand::Init {
            repo,
            out,
            root_key,
            signing_key,
            key_type,
            threshold,
            expires,
            force,
            json,
        } => {
            let infra = infra(&root_dir, &repo)?;
            let config = infra
                .repo(&repo.repo)
                .map_err(twoliter_repo::Error::from)?
                .clone();
            let path = match (out, &config.root_role_path) {
                (Some(out), _) => out,
                (None, Some(path)) => infra.resolve(path),
                (None, None) => anyhow::bail!(
                    "[repo.{}] in '{}' has no root_role_path; add one (e.g. root_role_path = \"roles/{}.root.json\") or pass --out",
                    repo.repo,
                    infra.path.display(),
                    repo.repo
                ),
            };
            let key_type = key_type.map(|asked| match asked {
                KeyTypeArg::Rsa => KeyType::Rsa,
                KeyTypeArg::Ecdsa => KeyType::Ecdsa,
                KeyTypeArg::Ed25519 => KeyType::Ed25519,
            });
            let keys = |role, given: &[PathBuf]| {
                let policy = KeyPolicy {
                    role,
                    given,
                    key_type,
                };
                twoliter_repo::init_keys(&infra, &repo.repo, &policy)
            };
            let root = keys(KeyRole::Root, &root_key)?;
            let signing = keys(KeyRole::Signing, &signing_key)?;
            let (root_keys, signing_keys) = (root.keys, signing.keys);
            let generated = [root.generated, signing.generated].concat();
            let report = twoliter_repo::init(&InitOptions {
                path: &path,
                root_keys: &root_keys,
                root_threshold: threshold
                    .or(config.root_key_threshold)
                    .unwrap_or(std::num::NonZeroU64::MIN),
                signing_keys: &signing_keys,
                lifetime: expires,
                now: SystemTime::now(),
                force,
            })?;
            if json {
                println!("{}", serde_json::to_string_pretty(&report)?);
            } else {
                for key in &generated {
                    println!("generated key {}", key.display());
                }
                println!(
                    "wrote {} (expires {})\nroot_role_sha512 = \"{}\"",
                    report.path.display(),
                    report.expires,
                    report.sha512
                );
            }
        }
        RepoCommand::Create {
            repo,
            variant,
            version,
            add_targets,
            release_start_time,
            wave_policy,
            expiration_policy,
            signing_key,
            replace,
            json,
        } => {
            let infra = infra(&root_dir, &repo)?;
            let config = infra.repo(&repo.repo).map_err(twoliter_repo::Error::from)?;
            let root = TrustedRoot::from_infra(&infra, &repo.repo, config)?;
            let location = Location::from_infra(&infra, &repo.repo, config)?;
            let keys = keys(&infra, &repo.repo, &signing_key)?;
            let arch = ctx.arch;
            let artifacts = match &variant {
                Some(variant) => Some(Artifacts::find(
                    layout.build_dir(),
                    variant,
                    arch,
                    version.as_ref(),
                )?),
                None => None,
            };
            let extra = twoliter_repo::files_in_dirs(&add_targets)?;
            let now = SystemTime::now();
            let release_start = match release_start_time {
                Some(text) => {
                    let time: Timestamp = text
                        .parse()
                        .with_context(|| format!("--release-start-time '{text}'"))?;
                    let seconds = u64::try_from(time.unix_seconds())
                        .context("--release-start-time is before 1970")?;
                    SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(seconds)
                }
                None => now,
            };
            let waves = match wave_policy {
                Some(path) => WavePolicy::from_path(&path)?,
                None => WavePolicy::default(),
            };
            let expirations = expirations(expiration_policy.as_deref())?;
            let report = twoliter_repo::create(&CreateOptions {
                signing: Signing {
                    repo: &repo.repo,
                    root: &root,
                    location: &location,
                    keys: &keys,
                    output_root: &repos_dir,
                    expirations: &expirations,
                    now,
                },
                artifacts: artifacts.as_ref(),
                add_targets: &extra,
                release_start,
                waves: &waves,
                replace,
            })?;
            if json {
                println!("{}", serde_json::to_string_pretty(&report)?);
            } else {
                let release = match (&report.version, &variant) {
                    (Some(version), Some(variant)) => format!(" {version} of {variant} ({arch})"),
                    _ => String::new(),
                };
                println!(
                    "{} {}{release} into {} ({} targets, {} new; metadata version {})",
                    if report.extended {
                        "extended"
                    } else {
                        "created"
                    },
                    repo.repo,
                    report.dir.display(),
                    report.total_targets,
                    report.added_targets.len(),
                    report.versions.targets
                );
            }
        }
        RepoCommand::Validate {
            repo,
            location,
            validate_targets,
            json,
        } => {
            let (root, location) = root_and_location(&root_dir, &repos_dir, &repo, &location)?;
            let report = twoliter_repo::validate(&root, &location, validate_targets)?;
            if json {
                println!("{}", serde_json::to_string_pretty(&report)?);
            } else {
                println!(
                    "valid: {} ({} targets{}; targets version {})",
                    report.metadata_url,
                    report.targets,
                    if validate_targets {
                        format!(", {} verified", report.targets_verified)
                    } else {
                        String::new()
                    },
                    report.versions.targets
                );
            }
        }
        RepoCommand::Status {
            repo,
            location,
            warn_days,
            json,
        } => {
            let (root, location) = root_and_location(&root_dir, &repos_dir, &repo, &location)?;
            let report = twoliter_repo::status(&root, &location, warn_days, SystemTime::now())?;
            if json {
                println!("{}", serde_json::to_string_pretty(&report)?);
            } else {
                println!("{} ({} targets)", report.metadata_url, report.targets);
                println!(
                    "{:<10} {:>12} {:<22} {:>9} {:>10}  keys",
                    "ROLE", "VERSION", "EXPIRES", "DAYS LEFT", "SIGNED"
                );
                for role in &report.roles {
                    println!(
                        "{:<10} {:>12} {:<22} {:>9} {:>10}  {}",
                        role.role,
                        role.version,
                        role.expires,
                        role.expires_in_days,
                        format!("{}/{}", role.signatures, role.threshold),
                        role.keys
                            .iter()
                            .map(|k| &k[..k.len().min(12)])
                            .collect::<Vec<_>>()
                            .join(",")
                    );
                }
                for warning in &report.warnings {
                    eprintln!("warning: {warning}");
                }
            }
            // Usable as a monitoring check: an expired role is a failure.
            if report.roles.iter().any(|role| role.expired) {
                return Ok(ExitCode::FAILURE);
            }
        }
        RepoCommand::Refresh {
            repo,
            location,
            expiration_policy,
            signing_key,
            unsafe_refresh,
            json,
        } => {
            let infra = infra(&root_dir, &repo)?;
            let (root, location) = root_and_location(&root_dir, &repos_dir, &repo, &location)?;
            let keys = keys(&infra, &repo.repo, &signing_key)?;
            let expirations = expirations(expiration_policy.as_deref())?;
            let report = twoliter_repo::refresh(&RefreshOptions {
                signing: Signing {
                    repo: &repo.repo,
                    root: &root,
                    location: &location,
                    keys: &keys,
                    output_root: &repos_dir,
                    expirations: &expirations,
                    now: SystemTime::now(),
                },
                unsafe_refresh,
            })?;
            if json {
                println!("{}", serde_json::to_string_pretty(&report)?);
            } else {
                println!(
                    "refreshed {}: new metadata in {} (targets/snapshot/timestamp version {}/{}/{}); upload metadata/ over the published metadata",
                    repo.repo,
                    report.dir.join("metadata").display(),
                    report.versions.targets,
                    report.versions.snapshot,
                    report.versions.timestamp
                );
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn infra(root_dir: &Path, repo: &RepoArgs) -> Result<Infra> {
    let path = repo
        .infra_config_path
        .clone()
        .unwrap_or_else(|| root_dir.join("Infra.toml"));
    Ok(Infra::load(&path).map_err(twoliter_repo::Error::from)?)
}

fn keys(infra: &Infra, repo: &str, given: &[PathBuf]) -> Result<SigningKeys> {
    if given.is_empty() {
        Ok(twoliter_repo::signing_keys(infra, repo)?)
    } else {
        Ok(twoliter_repo::command_line_keys(infra, given)?)
    }
}

fn expirations(path: Option<&Path>) -> Result<ExpirationPolicy> {
    Ok(match path {
        Some(path) => ExpirationPolicy::from_path(path)?,
        None => ExpirationPolicy::default(),
    })
}

fn root_and_location(
    root_dir: &Path,
    repos_dir: &Path,
    repo: &RepoArgs,
    args: &RepoLocationArgs,
) -> Result<(TrustedRoot, Location)> {
    let infra = infra(root_dir, repo)?;
    let config = infra.repo(&repo.repo).map_err(twoliter_repo::Error::from)?;
    let root = TrustedRoot::from_infra(&infra, &repo.repo, config)?;
    let location = match (&args.dir, &args.metadata_url, &args.targets_url) {
        (Some(dir), _, _) => Location::from_dir(dir)?,
        (None, Some(metadata), Some(targets)) => Location::from_urls(metadata, targets)?,
        _ if args.published => Location::from_infra(&infra, &repo.repo, config)?,
        _ => Location::from_dir(&repos_dir.join(&repo.repo).join("latest")).with_context(
            || format!("no repository built yet for '{}'; run `twoliter repo create` or pass --dir/--published", repo.repo),
        )?,
    };
    Ok((root, location))
}
