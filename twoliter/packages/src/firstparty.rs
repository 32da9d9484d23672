//! First-party sources (`source-groups`): Rust crates of this project are built by cargo on the
//! host — static binaries, paths remapped so they are reproducible — and handed to their specs
//! as source files; other directories are handed over as they are.

use crate::inputs::{hash_tree, sha256_file};
use crate::Error;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use twoliter_project::RustTarget;

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

/// A source group as one package consumes it: its directory (relative to the project root) and
/// what its Rust crate, if it is one, is built for.
pub type GroupUse = (String, RustTarget);

/// Builds or hashes every group in `groups` (paths relative to `root`); cargo runs once per
/// Rust target for all crates of that target. `log` receives cargo's output.
pub fn prepare(
    root: &Path,
    groups: &[GroupUse],
    arch: twoliter_project::Arch,
    log: &Path,
) -> Result<BTreeMap<GroupUse, GroupOutput>, Error> {
    let mut outputs = BTreeMap::new();
    let mut crates: BTreeMap<RustTarget, Vec<String>> = BTreeMap::new();
    for (group, target) in groups {
        let dir = root.join(group);
        if dir.join("Cargo.toml").is_file() {
            crates.entry(*target).or_default().push(group.clone());
        } else {
            let files = hash_tree(&dir).map_err(fsutil::io_err("hash the source group", &dir))?;
            outputs.insert(
                (group.clone(), *target),
                GroupOutput::Directory { path: dir, files },
            );
        }
    }
    if crates.is_empty() {
        return Ok(outputs);
    }
    let metadata = cargo_metadata(root)?;
    if let Some(dir) = log.parent() {
        std::fs::create_dir_all(dir).map_err(fsutil::io_err("create", dir))?;
    }
    let out = std::fs::File::create(log).map_err(fsutil::io_err("create", log))?;
    for (target, groups) in crates {
        let built = cargo_build(
            root,
            &metadata,
            &groups,
            target.triple(arch),
            target,
            &out,
            log,
        )?;
        for (group, files) in built {
            outputs.insert((group, target), GroupOutput::Binaries(files));
        }
    }
    Ok(outputs)
}

/// Binaries of one group: (file name, host path, sha256).
type Built = Vec<(String, PathBuf, String)>;

/// Builds the binaries of the crates `groups` for `triple` in one cargo run, appending its
/// output to `out` (the file `log`).
fn cargo_build(
    root: &Path,
    metadata: &Metadata,
    groups: &[String],
    triple: String,
    target: RustTarget,
    out: &std::fs::File,
    log: &Path,
) -> Result<Vec<(String, Built)>, Error> {
    let mut cargo = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    cargo.current_dir(root).args([
        "build",
        "--release",
        "--locked",
        "--bins",
        "--target",
        &triple,
    ]);
    let mut wanted = Vec::new();
    for group in groups {
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
            .map(|t| target.binary_name(&t.name))
            .collect();
        wanted.push((group.clone(), bins));
    }
    let home = std::env::var("CARGO_HOME")
        .or_else(|_| std::env::var("HOME").map(|h| format!("{h}/.cargo")))
        .unwrap_or_default();
    // Remapped paths keep the build directory out of the binaries; static glibc binaries run on
    // an image without a C library. CARGO_ENCODED_RUSTFLAGS (0x1f-separated) survives spaces in
    // paths and wins over a user's RUSTFLAGS, which would otherwise drop +crt-static.
    let mut rustflags = vec![
        format!("--remap-path-prefix={}=/twoliter/src", root.display()),
        format!("--remap-path-prefix={home}=/cargo"),
    ];
    if target == RustTarget::Linux {
        rustflags.extend(["-C".to_string(), "target-feature=+crt-static".to_string()]);
    }
    tracing::info!(
        "building first-party binaries for {triple} with cargo ({}); log: {}",
        groups.join(", "),
        log.display()
    );
    let (stdout, stderr) = (
        out.try_clone().map_err(fsutil::io_err("open", log))?,
        out.try_clone().map_err(fsutil::io_err("open", log))?,
    );
    let status = cargo
        .env("CARGO_PROFILE_RELEASE_STRIP", "symbols")
        .env_remove("RUSTFLAGS")
        .env("CARGO_ENCODED_RUSTFLAGS", rustflags.join("\u{1f}"))
        .stdin(Stdio::null())
        .stdout(stdout)
        .stderr(stderr)
        .status()
        .map_err(|e| Error::Cargo {
            message: format!("cannot run cargo: {e}"),
            log: log.display().to_string(),
        })?;
    if !status.success() {
        return Err(Error::Cargo {
            message: format!(
                "cargo build of the first-party binaries for {triple} failed ({status})"
            ),
            log: log.display().to_string(),
        });
    }
    let bin_dir = PathBuf::from(&metadata.target_directory)
        .join(&triple)
        .join("release");
    let mut built = Vec::new();
    for (group, bins) in wanted {
        let mut files = Vec::new();
        for bin in bins {
            let path = bin_dir.join(&bin);
            let hash = sha256_file(&path).map_err(fsutil::io_err("read the binary", &path))?;
            files.push((bin, path, hash));
        }
        built.push((group, files));
    }
    Ok(built)
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

#[cfg(test)]
mod tests {
    use super::*;

    /// A workspace with a Linux tool and a UEFI application, both without dependencies.
    fn workspace(dir: &Path) {
        let files = [
            (
                "Cargo.toml",
                "[workspace]\nmembers = [\"tool\", \"stage\"]\nresolver = \"2\"\n",
            ),
            (
                "tool/Cargo.toml",
                "[package]\nname = \"tool\"\nversion = \"0.1.0\"\nedition = \"2021\"\n",
            ),
            ("tool/src/main.rs", "fn main() {}\n"),
            (
                "stage/Cargo.toml",
                "[package]\nname = \"stage\"\nversion = \"0.1.0\"\nedition = \"2021\"\n\n[profile.release]\npanic = \"abort\"\n",
            ),
            (
                "stage/src/main.rs",
                "#![no_std]\n#![no_main]\n\n#[panic_handler]\nfn panic(_: &core::panic::PanicInfo) -> ! {\n    loop {}\n}\n\n#[no_mangle]\npub extern \"efiapi\" fn efi_main(_image: usize, _table: usize) -> usize {\n    0\n}\n",
            ),
            ("assets/readme", "plain files\n"),
        ];
        for (path, text) in files {
            let path = dir.join(path);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, text).unwrap();
        }
        let status = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
            .current_dir(dir)
            .args(["generate-lockfile", "--offline"])
            .status()
            .unwrap();
        assert!(status.success());
    }

    #[test]
    fn each_package_gets_its_crates_built_for_its_rust_target() {
        let dir = tempfile::tempdir().unwrap();
        workspace(dir.path());
        let arch = twoliter_project::Arch::X86_64;
        let groups: Vec<GroupUse> = vec![
            ("tool".into(), RustTarget::Linux),
            ("stage".into(), RustTarget::Uefi),
            ("assets".into(), RustTarget::Linux),
        ];
        let log = dir.path().join("logs/cargo.log");
        let outputs = prepare(dir.path(), &groups, arch, &log).unwrap();
        let binaries = |group: &str, target| match &outputs[&(group.to_string(), target)] {
            GroupOutput::Binaries(bins) => bins.clone(),
            other => panic!("{group}: {other:?}"),
        };
        let tool = binaries("tool", RustTarget::Linux);
        assert_eq!(tool[0].0, "tool");
        assert!(tool[0].1.ends_with("x86_64-unknown-linux-gnu/release/tool"));
        let stage = binaries("stage", RustTarget::Uefi);
        assert_eq!(stage[0].0, "stage.efi");
        assert!(stage[0]
            .1
            .ends_with("x86_64-unknown-uefi/release/stage.efi"));
        // A PE/COFF image, as firmware loads it.
        let image = std::fs::read(&stage[0].1).unwrap();
        assert_eq!(&image[..2], b"MZ");
        assert!(matches!(
            &outputs[&("assets".to_string(), RustTarget::Linux)],
            GroupOutput::Directory { files, .. } if files.len() == 1
        ));
        let text = std::fs::read_to_string(&log).unwrap();
        assert!(text.contains("stage"), "{text}");
    }
}
