//! Test and benchmark fixtures: a real GPT OS disk image, lz4 payloads, a signed TUF repository
//! built with tough's editor, and running the real `updog` binary.

#![allow(dead_code)]

use std::collections::HashMap;
use std::num::NonZeroU64;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use partitions::{plan, write_image, Bank, Layout, PartitionId, PartitionPlan, PlanInput};
use semver::Version;
use tough::editor::signed::{PathExists, SignedRole};
use tough::editor::RepositoryEditor;
use tough::key_source::{KeySource, LocalKeySource};
use tough::schema::{KeyHolder, RoleKeys, RoleType, Root, Target};
use update_metadata::{Images, Manifest, Update};

pub const VARIANT: &str = "test-variant";
pub const SEED: [u8; 32] = *b"updog-test-seed-0123456789abcdef";

pub fn arch() -> &'static str {
    std::env::consts::ARCH
}

pub fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap()
}

pub fn key_path() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/test-key.pem")
}

fn keys() -> Vec<Box<dyn KeySource>> {
    vec![Box::new(LocalKeySource { path: key_path() })]
}

pub fn days(n: i64) -> jiff::Timestamp {
    jiff::Timestamp::now() + jiff::SignedDuration::from_hours(24 * n)
}

/// Writes a signed root.json (one RSA key for every role, consistent snapshots).
pub fn make_root(path: &Path) {
    rt().block_on(async {
        let sign = keys()[0].as_sign().await.unwrap();
        let key = sign.tuf_key();
        let id = key.key_id().unwrap();
        let role = || RoleKeys {
            keyids: vec![id.clone()],
            threshold: NonZeroU64::new(1).unwrap(),
            _extra: HashMap::new(),
        };
        let root = Root {
            spec_version: "1.0.0".into(),
            consistent_snapshot: true,
            version: NonZeroU64::new(1).unwrap(),
            expires: days(365),
            keys: HashMap::from([(id.clone(), key)]),
            roles: [
                RoleType::Root,
                RoleType::Snapshot,
                RoleType::Targets,
                RoleType::Timestamp,
            ]
            .into_iter()
            .map(|r| (r, role()))
            .collect(),
            _extra: HashMap::new(),
        };
        let signed = SignedRole::new(
            root.clone(),
            &KeyHolder::Root(root),
            &keys(),
            &aws_lc_rs::rand::SystemRandom::new(),
        )
        .await
        .unwrap();
        std::fs::write(path, signed.buffer()).unwrap();
    });
}

/// One repository build.
pub struct RepoSpec<'a> {
    /// Metadata version of targets, snapshot, timestamp.
    pub version: u64,
    /// Expiry of timestamp.json.
    pub timestamp_expires: jiff::Timestamp,
    /// Target files (name, path of the content).
    pub targets: Vec<(String, PathBuf)>,
    /// Where the repository goes: `<dir>/metadata`, `<dir>/targets`.
    pub dir: &'a Path,
}

/// Builds and signs a repository with tough's editor.
pub fn make_repo(root_json: &Path, spec: &RepoSpec<'_>) {
    rt().block_on(async {
        let mut editor = RepositoryEditor::new(root_json).await.unwrap();
        let v = NonZeroU64::new(spec.version).unwrap();
        editor
            .targets_version(v)
            .unwrap()
            .targets_expires(days(30))
            .unwrap()
            .snapshot_version(v)
            .snapshot_expires(days(30))
            .timestamp_version(v)
            .timestamp_expires(spec.timestamp_expires);
        let staging = spec.dir.join("staging");
        std::fs::create_dir_all(&staging).unwrap();
        for (name, path) in &spec.targets {
            let staged = staging.join(name);
            if !staged.exists() {
                // Hard link when possible: big payloads need not be copied.
                std::fs::hard_link(path, &staged)
                    .or_else(|_| std::fs::copy(path, &staged).map(|_| ()))
                    .unwrap();
            }
            let target = Target::from_path(&staged).await.unwrap();
            editor.add_target(name.as_str(), target).unwrap();
        }
        let signed = editor.sign(&keys()).await.unwrap();
        signed.write(spec.dir.join("metadata")).await.unwrap();
        signed
            .link_targets(&staging, spec.dir.join("targets"), PathExists::Replace)
            .await
            .unwrap();
    });
}

/// The file holding target `name` in a repository (consistent snapshot: `<sha256>.<name>`).
pub fn target_file(repo_dir: &Path, name: &str) -> PathBuf {
    std::fs::read_dir(repo_dir.join("targets"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| {
            p.file_name()
                .unwrap()
                .to_string_lossy()
                .ends_with(&format!(".{name}"))
        })
        .unwrap_or_else(|| panic!("no target {name} in {}", repo_dir.display()))
}

/// Deterministic pseudo-random bytes with some zero runs (xorshift).
pub fn payload(len: usize, seed: u64) -> Vec<u8> {
    payload_mix(len, seed, 75)
}

/// `len` bytes of which `random_percent` (in steps of 5) are pseudo-random 64 KiB blocks and the
/// rest zero blocks, so lz4 shrinks the data to about that share.
pub fn payload_mix(len: usize, seed: u64, random_percent: usize) -> Vec<u8> {
    let mut out = vec![0u8; len];
    let mut x = seed | 1;
    for (i, chunk) in out.chunks_mut(8).enumerate() {
        if (i * 8 / 65536) % 20 * 5 >= random_percent {
            continue;
        }
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let bytes = x.to_le_bytes();
        chunk.copy_from_slice(&bytes[..chunk.len()]);
    }
    out
}

pub fn lz4(data: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut enc = lz4_flex::frame::FrameEncoder::new(Vec::new());
    enc.write_all(data).unwrap();
    enc.finish().unwrap()
}

pub fn images(version: &str) -> Images {
    Images {
        boot: format!("{VARIANT}-{version}-boot.ext4.lz4"),
        root: format!("{VARIANT}-{version}-root.ext4.lz4"),
        hash: format!("{VARIANT}-{version}-root.verity.lz4"),
    }
}

pub fn update(version: &str) -> Update {
    Update::new(
        VARIANT,
        arch(),
        Version::parse(version).unwrap(),
        images(version),
    )
}

/// The OS disk image plus updog's state directories.
pub struct Host {
    pub dir: tempfile::TempDir,
    pub disk: PathBuf,
    pub layout: Layout,
    pub root_json: PathBuf,
    pub os_release: PathBuf,
    pub config: PathBuf,
    pub metadata_dir: PathBuf,
    pub migrations_dir: PathBuf,
}

impl Host {
    /// A fresh 2 GiB split-plan image (bank A priority 1 + successful) running `version`.
    pub fn new(version: &str) -> Host {
        Host::with_size(version, 2)
    }

    /// A fresh sparse split-plan image of `os_image_gib` GiB running `version`.
    pub fn with_size(version: &str, os_image_gib: u64) -> Host {
        let dir = tempfile::tempdir().unwrap();
        let layout = plan(&PlanInput {
            os_image_gib,
            data_image_gib: 1,
            plan: PartitionPlan::Split,
            in_place_updates: true,
            seed: SEED,
        })
        .unwrap();
        let disk = dir.path().join("os.img");
        write_image(&layout.os, &disk).unwrap();
        let root_json = dir.path().join("root.json");
        make_root(&root_json);
        let os_release = dir.path().join("os-release");
        std::fs::write(
            &os_release,
            format!("NAME=Bottlerocket\nVERSION_ID={version}\nVARIANT_ID={VARIANT}\n"),
        )
        .unwrap();
        Host {
            config: dir.path().join("updog.toml"),
            metadata_dir: dir.path().join("state/metadata"),
            migrations_dir: dir.path().join("migrations"),
            dir,
            disk,
            layout,
            root_json,
            os_release,
        }
    }

    /// Points the configuration at repository `repo` (file:// or an http base).
    pub fn configure(&self, metadata: &str, targets: &str, extra: &str) {
        std::fs::write(
            &self.config,
            format!(
                "metadata_base_url = \"{metadata}\"\ntargets_base_url = \"{targets}\"\n{extra}"
            ),
        )
        .unwrap();
    }

    pub fn configure_file(&self, repo: &Path, extra: &str) {
        self.configure(
            &format!("file://{}", repo.join("metadata").display()),
            &format!("file://{}", repo.join("targets").display()),
            extra,
        );
    }

    pub fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_updog"));
        cmd.arg("--config")
            .arg(&self.config)
            .arg("--root-json")
            .arg(&self.root_json)
            .arg("--os-release")
            .arg(&self.os_release)
            .arg("--disk")
            .arg(&self.disk)
            .arg("--metadata-dir")
            .arg(&self.metadata_dir)
            .arg("--migrations-dir")
            .arg(&self.migrations_dir)
            .args(args)
            .env_remove("SIGNPOST_DISK");
        cmd
    }

    pub fn run(&self, args: &[&str]) -> Output {
        self.command(args).output().expect("run updog")
    }

    /// Runs updog, expects success, returns stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(
            out.status.success(),
            "updog {args:?} failed: {}\n{}",
            String::from_utf8_lossy(&out.stderr),
            String::from_utf8_lossy(&out.stdout)
        );
        String::from_utf8(out.stdout).unwrap()
    }

    /// Runs updog, expects failure, returns stderr.
    pub fn fails(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(
            !out.status.success(),
            "updog {args:?} succeeded: {}",
            String::from_utf8_lossy(&out.stdout)
        );
        String::from_utf8(out.stderr).unwrap()
    }

    /// Byte range of a partition on the disk.
    pub fn range(&self, id: PartitionId) -> std::ops::Range<u64> {
        let p = self.layout.os.partition(id).unwrap();
        p.start_bytes()..p.start_bytes() + p.size_bytes()
    }

    pub fn read(&self, id: PartitionId, len: usize) -> Vec<u8> {
        use std::os::unix::fs::FileExt;
        let f = std::fs::File::open(&self.disk).unwrap();
        let mut buf = vec![0u8; len];
        f.read_exact_at(&mut buf, self.range(id).start).unwrap();
        buf
    }

    pub fn signpost(&self, booted: Option<Bank>) -> signpost::Signpost {
        signpost::Signpost::load(&signpost::LoadOptions {
            disk: Some(self.disk.clone()),
            booted,
            ..signpost::LoadOptions::default()
        })
        .unwrap()
    }

    /// (priority, tries left, successful) of a bank.
    pub fn bank(&self, bank: Bank) -> (u8, u8, bool) {
        let s = self.signpost(None);
        let a = s.layout().bank(bank).attributes;
        (a.priority(), a.tries_left(), a.successful())
    }
}

/// The decompressed images of one version and the repository directory holding them.
pub struct Payloads {
    pub boot: Vec<u8>,
    pub root: Vec<u8>,
    pub hash: Vec<u8>,
}

/// Writes the lz4 targets of `version` into `dir`, returns (name, path) pairs.
pub fn write_payload_targets(dir: &Path, version: &str, p: &Payloads) -> Vec<(String, PathBuf)> {
    std::fs::create_dir_all(dir).unwrap();
    let names = images(version);
    [
        (names.boot, &p.boot),
        (names.root, &p.root),
        (names.hash, &p.hash),
    ]
    .into_iter()
    .map(|(name, data)| {
        let path = dir.join(&name);
        std::fs::write(&path, lz4(data)).unwrap();
        (name, path)
    })
    .collect()
}

/// Writes `manifest` into `dir` and returns its (name, path).
pub fn manifest_target(dir: &Path, manifest: &Manifest) -> (String, PathBuf) {
    std::fs::create_dir_all(dir).unwrap();
    let path = dir.join("manifest.json");
    std::fs::write(&path, manifest.to_json_pretty().unwrap()).unwrap();
    ("manifest.json".to_string(), path)
}
