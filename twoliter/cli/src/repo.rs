//! `twoliter repo ...`: signed TUF update repositories.

use crate::args::{RepoArgs, RepoCommand, RepoLocationArgs};
use crate::Globals;
use anyhow::Result;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::SystemTime;
use twoliter_repo::{
    Artifacts, CreateOptions, ExpirationPolicy, InitOptions, KeyPolicy, KeyRole, ProjectRepo,
    RefreshOptions, Signing, Source,
};
use update_metadata::WavePolicy;

pub fn run(ctx: &Globals, command: RepoCommand) -> Result<ExitCode> {
    let root_dir = ctx.root()?;
    let layout = twoliter_project::ProjectLayout::new(&root_dir);
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
            let repo = open(&layout, &repo)?;
            let keys = |role, given: &[PathBuf]| {
                repo.init_keys(&KeyPolicy {
                    role,
                    given,
                    key_type,
                })
            };
            let (root, signing) = (
                keys(KeyRole::Root, &root_key)?,
                keys(KeyRole::Signing, &signing_key)?,
            );
            let report = twoliter_repo::init(&InitOptions {
                path: &repo.root_role_path(out.as_deref())?,
                root_keys: &root.keys,
                root_threshold: repo.root_threshold(threshold),
                signing_keys: &signing.keys,
                lifetime: expires,
                now: SystemTime::now(),
                force,
            })?;
            if json {
                println!("{}", serde_json::to_string_pretty(&report)?);
            } else {
                for key in root.generated.iter().chain(&signing.generated) {
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
            let repo = open(&layout, &repo)?;
            let arch = ctx.arch;
            let artifacts = variant
                .as_ref()
                .map(|variant| Artifacts::find(layout.build_dir(), variant, arch, version.as_ref()))
                .transpose()?;
            let now = SystemTime::now();
            let waves = match wave_policy {
                Some(path) => WavePolicy::from_path(&path)?,
                None => WavePolicy::default(),
            };
            let report = twoliter_repo::create(&CreateOptions {
                signing: Signing {
                    repo: repo.name(),
                    root: &repo.trusted_root()?,
                    location: &repo.published()?,
                    keys: &repo.signing_keys(&signing_key)?,
                    output_root: repo.output_root(),
                    expirations: &expirations(expiration_policy.as_deref())?,
                    now,
                },
                artifacts: artifacts.as_ref(),
                add_targets: &twoliter_repo::files_in_dirs(&add_targets)?,
                release_start: release_start_time.map_or(now, |time| time.to_system_time()),
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
                    repo.name(),
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
            let repo = open(&layout, &repo)?;
            let location = repo.location(&source(location))?;
            let report =
                twoliter_repo::validate(&repo.trusted_root()?, &location, validate_targets)?;
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
            let repo = open(&layout, &repo)?;
            let location = repo.location(&source(location))?;
            let report = twoliter_repo::status(
                &repo.trusted_root()?,
                &location,
                warn_days,
                SystemTime::now(),
            )?;
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
            let repo = open(&layout, &repo)?;
            let report = twoliter_repo::refresh(&RefreshOptions {
                signing: Signing {
                    repo: repo.name(),
                    root: &repo.trusted_root()?,
                    location: &repo.location(&source(location))?,
                    keys: &repo.signing_keys(&signing_key)?,
                    output_root: repo.output_root(),
                    expirations: &expirations(expiration_policy.as_deref())?,
                    now: SystemTime::now(),
                },
                unsafe_refresh,
            })?;
            if json {
                println!("{}", serde_json::to_string_pretty(&report)?);
            } else {
                println!(
                    "refreshed {}: new metadata in {} (targets/snapshot/timestamp version {}/{}/{}); upload metadata/ over the published metadata",
                    repo.name(),
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

/// The repository `--repo` names, from `--infra-config-path` or the project's Infra.toml.
fn open(layout: &twoliter_project::ProjectLayout, args: &RepoArgs) -> Result<ProjectRepo> {
    let infra = match &args.infra_config_path {
        Some(path) => path.clone(),
        None => layout.root().join("Infra.toml"),
    };
    Ok(ProjectRepo::load(&infra, &args.repo, layout.repos_dir())?)
}

/// The location flags as a repository source.
fn source(args: RepoLocationArgs) -> Source {
    match (args.dir, args.metadata_url, args.targets_url) {
        (Some(dir), _, _) => Source::Dir(dir),
        (None, Some(metadata), Some(targets)) => Source::Urls { metadata, targets },
        _ if args.published => Source::Published,
        _ => Source::LastBuilt,
    }
}

fn expirations(path: Option<&Path>) -> Result<ExpirationPolicy> {
    Ok(match path {
        Some(path) => ExpirationPolicy::from_path(path)?,
        None => ExpirationPolicy::default(),
    })
}
