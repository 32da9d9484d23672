//! The operations behind the commands: check, stage an image, apply, revert.

use std::fs::OpenOptions;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use semver::Version;
use serde::{Deserialize, Serialize};
use signpost::{LoadOptions, Signpost};
use update_metadata::{Manifest, Update};

use crate::config::{Config, OsRelease};
use crate::error::{Error, Result};
use fsutil::io_err;
use std::os::unix::fs::OpenOptionsExt;

use crate::image::{write_image, PartitionSink};
use crate::progress::Progress;
use crate::repo::{Repo, RepoSource};

/// Default configuration file.
pub const DEFAULT_CONFIG: &str = "/etc/updog.toml";
/// Default trusted TUF root.
pub const DEFAULT_ROOT_JSON: &str = "/usr/share/updog/root.json";
/// Default os-release file.
pub const DEFAULT_OS_RELEASE: &str = "/etc/os-release";
/// Default TUF metadata datastore.
pub const DEFAULT_METADATA_DIR: &str = "/var/lib/updog/metadata";
/// Default cache of downloaded migrations.
pub const DEFAULT_MIGRATIONS_DIR: &str = "/var/lib/bottlerocket-migrations";

/// Where updog finds its inputs and keeps its state.
#[derive(Debug, Clone)]
pub struct Settings {
    /// `updog.toml`.
    pub config: PathBuf,
    /// The trusted root.json.
    pub root_json: PathBuf,
    /// The os-release file (running version and variant).
    pub os_release: PathBuf,
    /// The OS disk; `None` = the disk holding the running root (as signpost finds it).
    pub disk: Option<PathBuf>,
    /// tough's datastore.
    pub metadata_dir: PathBuf,
    /// Where migrations are cached.
    pub migrations_dir: PathBuf,
    /// The time for wave evaluation (default: now).
    pub now: Option<SystemTime>,
    /// Ignore waves even if the configuration does not say so.
    pub ignore_waves: bool,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            config: DEFAULT_CONFIG.into(),
            root_json: DEFAULT_ROOT_JSON.into(),
            os_release: DEFAULT_OS_RELEASE.into(),
            disk: None,
            metadata_dir: DEFAULT_METADATA_DIR.into(),
            migrations_dir: DEFAULT_MIGRATIONS_DIR.into(),
            now: None,
            ignore_waves: false,
        }
    }
}

/// Parses an RFC 3339 time (for `--now`).
pub fn parse_now(text: &str) -> Result<SystemTime> {
    let ts: update_metadata::Timestamp =
        text.parse()
            .map_err(|e: update_metadata::Error| Error::Now {
                value: text.to_string(),
                reason: e.to_string(),
            })?;
    let secs = ts.unix_seconds();
    let nanos = Duration::from_nanos(u64::from(ts.subsec_nanos()));
    Ok(if secs >= 0 {
        UNIX_EPOCH + Duration::from_secs(secs.unsigned_abs()) + nanos
    } else {
        UNIX_EPOCH - Duration::from_secs(secs.unsigned_abs()) + nanos
    })
}

/// The record of a staged image, `staged.json` beside the metadata directory.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Staged {
    /// The staged OS version.
    pub version: Version,
    /// Its variant.
    pub variant: String,
    /// Its architecture.
    pub arch: String,
    /// The bank it was written into (`A` or `B`).
    pub bank: String,
    /// The disk.
    pub disk: String,
    /// The migration files cached for it.
    pub migrations: Vec<PathBuf>,
}

/// What `update-apply` did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Applied {
    /// The version that boots next.
    pub version: Version,
    /// The bank that boots next (once).
    pub bank: String,
    /// The bank that stays the fallback.
    pub fallback: String,
    /// The disk.
    pub disk: String,
}

/// What `update-revert` did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Reverted {
    /// The bank that stays active.
    pub bank: String,
    /// The bank that was cleared.
    pub cleared: String,
    /// The disk.
    pub disk: String,
}

/// updog with its configuration and the running OS read.
#[derive(Debug, Clone)]
pub struct Updog {
    settings: Settings,
    config: Config,
    os: OsRelease,
    arch: String,
}

impl Updog {
    /// Reads the configuration and os-release.
    pub fn new(settings: Settings) -> Result<Updog> {
        let config = Config::from_path(&settings.config)?;
        let os = OsRelease::from_path(&settings.os_release)?;
        Ok(Updog {
            settings,
            config,
            os,
            arch: std::env::consts::ARCH.to_string(),
        })
    }

    /// The configuration.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The running OS.
    pub fn os(&self) -> &OsRelease {
        &self.os
    }

    fn load_repo(&self) -> Result<Repo> {
        Repo::load(&RepoSource {
            config: &self.config,
            root: &self.settings.root_json,
            metadata_dir: &self.settings.metadata_dir,
        })
    }

    fn choose(&self, manifest: &Manifest, image: Option<&Version>) -> Result<Option<Update>> {
        if let Some(version) = image {
            return manifest
                .updates
                .iter()
                .find(|u| {
                    u.variant == self.os.variant
                        && u.arch == self.arch
                        && u.version == *version
                        && u.version <= u.max_version
                })
                .cloned()
                .map(Some)
                .ok_or_else(|| Error::NoSuchImage {
                    variant: self.os.variant.clone(),
                    arch: self.arch.clone(),
                    version: version.clone(),
                });
        }
        let lock = self.config.version_lock().map_err(|reason| Error::Config {
            path: self.settings.config.clone(),
            reason,
        })?;
        Ok(manifest
            .best_update(
                &self.os.variant,
                &self.arch,
                &self.os.version,
                self.config.seed,
                self.settings.now.unwrap_or_else(SystemTime::now),
                self.settings.ignore_waves || self.config.ignore_waves,
                lock.as_ref(),
            )
            .cloned())
    }

    /// The update to take (0 or 1 entries), or with `all` every entry for this variant and
    /// architecture that is not pulled, newest first, regardless of waves and lock.
    pub fn check_update(&self, all: bool) -> Result<Vec<Update>> {
        let manifest = self.load_repo()?.manifest()?;
        if all {
            let mut updates: Vec<Update> = manifest
                .updates
                .into_iter()
                .filter(|u| {
                    u.variant == self.os.variant
                        && u.arch == self.arch
                        && u.version <= u.max_version
                })
                .collect();
            updates.sort_by(|a, b| b.version.cmp(&a.version));
            return Ok(updates);
        }
        Ok(self.choose(&manifest, None)?.into_iter().collect())
    }

    fn signpost(&self) -> Result<Signpost> {
        Ok(Signpost::load(&LoadOptions {
            disk: self.settings.disk.clone(),
            ..LoadOptions::default()
        })?)
    }

    fn staged_record(&self) -> PathBuf {
        let dir = self.settings.metadata_dir.as_path();
        match dir.parent() {
            Some(parent) if !parent.as_os_str().is_empty() => parent.join("staged.json"),
            _ => dir.join("staged.json"),
        }
    }

    /// Chooses the update (or exactly `image`), clears the inactive bank, streams the boot,
    /// root and hash images into it, fsyncs, and caches the migrations. Does not flip banks.
    /// `None` when there is no update.
    pub fn update_image(
        &self,
        image: Option<&Version>,
        progress: &mut Progress,
    ) -> Result<Option<Staged>> {
        let repo = self.load_repo()?;
        let manifest = repo.manifest()?;
        let Some(update) = self.choose(&manifest, image)? else {
            return Ok(None);
        };
        let migrations = manifest
            .migrations_between(&self.os.version, &update.version)
            .map_err(|source| Error::Migrations {
                from: self.os.version.clone(),
                to: update.version.clone(),
                source: Box::new(source),
            })?;

        let mut signpost = self.signpost()?;
        let disk_path = signpost.disk().to_path_buf();
        let Some((active, _)) = signpost.active() else {
            return Err(Error::NoActiveBank { disk: disk_path });
        };
        let inactive = active.other();
        let record = self.staged_record();
        match std::fs::remove_file(&record) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                return Err(io_err("remove", &record)(e).into())
            }
            _ => {}
        }
        // First of all: GRUB must never boot a half-written bank.
        signpost.clear_inactive()?;
        tracing::info!(
            "cleared bank {inactive} of {}; writing {} {}",
            disk_path.display(),
            update.variant,
            update.version
        );

        let disk = OpenOptions::new()
            .read(true)
            .write(true)
            .open(&disk_path)
            .map_err(io_err("open for writing", &disk_path))?;
        // Direct I/O where the file system allows it (see `PartitionSink::direct`).
        let direct = OpenOptions::new()
            .write(true)
            .custom_flags(libc::O_DIRECT)
            .open(&disk_path)
            .ok();
        let bank = signpost.layout().bank(inactive).clone();
        let table = &signpost.inspection().table;
        for (target, number) in [
            (&update.images.boot, bank.boot),
            (&update.images.root, bank.root),
            (&update.images.hash, bank.hash),
        ] {
            let part = table.partition(number).ok_or_else(|| Error::NoPartition {
                disk: disk_path.clone(),
                number,
                label: format!("partition {number} of bank {inactive}"),
            })?;
            let sink = PartitionSink {
                disk: &disk,
                direct: direct.as_ref(),
                disk_path: &disk_path,
                label: &part.label,
                range: table.byte_range(part),
            };
            write_image(&repo, target, &sink, progress)?;
        }
        disk.sync_all().map_err(io_err("fsync", &disk_path))?;

        let mut saved = Vec::new();
        for name in &migrations {
            saved.push(repo.save_migration(name, &self.settings.migrations_dir)?);
        }
        let staged = Staged {
            version: update.version.clone(),
            variant: update.variant.clone(),
            arch: update.arch.clone(),
            bank: inactive.to_string(),
            disk: disk_path.display().to_string(),
            migrations: saved,
        };
        write_atomic(
            &record,
            &serde_json::to_vec_pretty(&staged).unwrap_or_default(),
        )?;
        Ok(Some(staged))
    }

    /// Marks the inactive bank (which must hold a staged image) to boot once: priority 2, one
    /// try; the active bank keeps priority 1 as the fallback.
    pub fn update_apply(&self) -> Result<Applied> {
        let mut signpost = self.signpost()?;
        let disk = signpost.disk().to_path_buf();
        let Some((active, _)) = signpost.active() else {
            return Err(Error::NoActiveBank { disk });
        };
        let inactive = active.other();
        let record = self.staged_record();
        let staged: Option<Staged> = std::fs::read(&record)
            .ok()
            .and_then(|bytes| serde_json::from_slice(&bytes).ok());
        let staged = staged
            .filter(|s| s.bank == inactive.as_str() && s.disk == disk.display().to_string())
            .ok_or_else(|| Error::NothingStaged {
                disk: disk.clone(),
                bank: inactive.to_string(),
                record: record.clone(),
            })?;
        signpost.upgrade_to_inactive()?;
        Ok(Applied {
            version: staged.version,
            bank: inactive.to_string(),
            fallback: active.to_string(),
            disk: disk.display().to_string(),
        })
    }

    /// Cancels an applied (not yet booted) update: the inactive bank is no longer bootable and
    /// the active bank boots next. The image stays written and staged, so `update_apply` can
    /// activate it again without another download (the API's Ready → Staged → Ready).
    pub fn update_revert(&self) -> Result<Reverted> {
        let mut signpost = self.signpost()?;
        let disk = signpost.disk().to_path_buf();
        let Some((active, _)) = signpost.active() else {
            return Err(Error::NoActiveBank { disk });
        };
        signpost.cancel_upgrade()?;
        Ok(Reverted {
            bank: active.to_string(),
            cleared: active.other().to_string(),
            disk: disk.display().to_string(),
        })
    }
}

/// Writes `contents` to `path` atomically and durably, creating its directory if needed.
fn write_atomic(path: &Path, contents: &[u8]) -> Result<()> {
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    std::fs::create_dir_all(dir).map_err(io_err("create directory", dir))?;
    fsutil::atomic_write(path, contents, 0o644)?;
    Ok(())
}
