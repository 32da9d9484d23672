//! First-party sources (`source-groups`): Rust crates of this project are built by cargo on the
//! host — static binaries, paths remapped so they are reproducible — and handed to their specs
//! as source files; other directories are handed over as they are.

use crate::inputs::{hash_tree, sha256_file};
use crate::Error;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// What one source group hands to a spec.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GroupOutput {
    /// Binaries built from a cargo package: (file name, host path, sha256).
    Binaries(Vec<(String, PathBuf, String)>),
    /// A plain directory, copied as `<basename>/`: its file hashes.
    Directory {
        /// The directory.
        path: PathBuf,
        /// (relative path, sha256) of each file.
        files: Vec<(String, String)>,
    },
}

/// Builds or hashes every group in `groups` (paths relative to `root`); cargo runs once for all
/// crates. `log` receives cargo's output.
pub fn prepare(
    root: &Path,
    groups: &[String],
    arch: twoliter_project::Arch,
    log: &Path,
) -> Result<BTreeMap<String, GroupOutput>, Error> {
    let mut outputs = BTreeMap::new();
    let mut crates = Vec::new();
    for group in groups {
        let dir = root.join(group);
        if dir.join("Cargo.toml").is_file() {
            crates.push(group.clone());
        } else {
            let files = hash_tree(&dir).map_err(fsutil::io_err("hash the source group", &dir))?;
            outputs.insert(group.clone(), GroupOutput::Directory { path: dir, files });
        }
    }
    if crates.is_empty() {
        return Ok(outputs);
    }
    let metadata = cargo_metadata(root)?;
    let target = format!("{arch}-unknown-linux-gnu");
    let mut cargo = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    cargo.current_dir(root).args([
        "build",
        "--release",
        "--locked",
        "--bins",
        "--target",
        &target,
    ]);
    let mut wanted = Vec::new();
    for group in &crates {
        let manifest = std::path::absolute(root.join(group).join("Cargo.toml"))
            .unwrap_or_else(|_| root.join(group).join("Cargo.toml"));
        let package = metadata
            .packages
            .iter()
            .find(|p| Path::new(&p.manifest_path) == manifest)
            .ok_or_else(|| Error::Cargo {
                message: format!("source group {group} has a Cargo.toml that is not a member of the workspace at {}", root.display()),
                log: log.display().to_string(),
            })?;
        cargo.args(["-p", &package.name]);
        let bins: Vec<String> = package
            .targets
            .iter()
            .filter(|t| t.kind.iter().any(|k| k == "bin"))
            .map(|t| t.name.clone())
            .collect();
        wanted.push((group.clone(), bins));
    }
    // Static glibc binaries run on an image without a C library; remapped paths keep the
    // build directory out of them.
    let home = std::env::var("CARGO_HOME")
        .or_else(|_| std::env::var("HOME").map(|h| format!("{h}/.cargo")))
        .unwrap_or_default();
    // CARGO_ENCODED_RUSTFLAGS (0x1f-separated) survives spaces in paths and wins over a
    // user's RUSTFLAGS, which would otherwise drop +crt-static.
    let rustflags = [
        "-C".to_string(),
        "target-feature=+crt-static".to_string(),
        format!("--remap-path-prefix={}=/twoliter/src", root.display()),
        format!("--remap-path-prefix={home}=/cargo"),
    ]
    .join("\u{1f}");
    if let Some(dir) = log.parent() {
        std::fs::create_dir_all(dir).map_err(fsutil::io_err("create", dir))?;
    }
    let out = std::fs::File::create(log).map_err(fsutil::io_err("create", log))?;
    let err = out.try_clone().map_err(fsutil::io_err("open", log))?;
    tracing::info!(
        "building first-party binaries with cargo ({}); log: {}",
        crates.join(", "),
        log.display()
    );
    let status = cargo
        .env("CARGO_PROFILE_RELEASE_STRIP", "symbols")
        .env_remove("RUSTFLAGS")
        .env("CARGO_ENCODED_RUSTFLAGS", rustflags)
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(err)
        .status()
        .map_err(|e| Error::Cargo {
            message: format!("cannot run cargo: {e}"),
            log: log.display().to_string(),
        })?;
    if !status.success() {
        return Err(Error::Cargo {
            message: format!("cargo build of the first-party binaries failed ({status})"),
            log: log.display().to_string(),
        });
    }
    let bin_dir = PathBuf::from(&metadata.target_directory)
        .join(&target)
        .join("release");
    for (group, bins) in wanted {
        let mut files = Vec::new();
        for bin in bins {
            let path = bin_dir.join(&bin);
            let hash = sha256_file(&path).map_err(fsutil::io_err("read the binary", &path))?;
            files.push((bin, path, hash));
        }
        outputs.insert(group, GroupOutput::Binaries(files));
    }
    Ok(outputs)
}

#[derive(serde::Deserialize)]
struct Metadata {
    packages: Vec<MetadataPackage>,
    target_directory: String,
}

#[derive(serde::Deserialize)]
struct MetadataPackage {
    name: String,
    manifest_path: String,
    targets: Vec<MetadataTarget>,
}

#[derive(serde::Deserialize)]
struct MetadataTarget {
    name: String,
    kind: Vec<String>,
}

fn cargo_metadata(root: &Path) -> Result<Metadata, Error> {
    let output = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
        .current_dir(root)
        .args([
            "metadata",
            "--no-deps",
            "--format-version",
            "1",
            "--offline",
        ])
        .stdin(Stdio::null())
        .output()
        .map_err(|e| Error::Cargo {
            message: format!("cannot run cargo metadata: {e}"),
            log: String::new(),
        })?;
    if !output.status.success() {
        return Err(Error::Cargo {
            message: format!(
                "cargo metadata failed: {}",
                String::from_utf8_lossy(&output.stderr).trim()
            ),
            log: String::new(),
        });
    }
    serde_json::from_slice(&output.stdout).map_err(|e| Error::Cargo {
        message: format!("cannot read cargo metadata: {e}"),
        log: String::new(),
    })
}
