//! The artifacts of a built variant, found through their metadata file and checked before
//! anything is uploaded: a wrong file must be an error here, not a broken AMI later.

use crate::{Error, Result};
use std::path::{Path, PathBuf};
use twoliter_image::metadata::DiskReport;
use twoliter_image::Metadata;

/// A built variant's artifacts, from one artifact directory.
#[derive(Debug, Clone)]
pub struct Artifacts {
    /// The artifact directory (`build/images/<arch>-<variant>/<version>-<build>/`).
    pub dir: PathBuf,
    /// The image name (`bottlerocket-<variant>-<arch>-<version>-<build>`).
    pub name: String,
    /// The build's metadata file, parsed.
    pub metadata: Metadata,
}

impl Artifacts {
    /// Reads the metadata file of the artifact directory `dir` (`<name>.json`, as
    /// `twoliter build variant` writes it). Links such as `latest` are followed.
    pub fn open(dir: &Path) -> Result<Artifacts> {
        let dir = dir.canonicalize().map_err(|e| Error::Artifact {
            path: dir.to_path_buf(),
            message: format!(
                "no artifact directory here ({e}); build the variant first with `twoliter build variant`"
            ),
        })?;
        let entries = std::fs::read_dir(&dir).map_err(|e| Error::io("list", &dir, e))?;
        let mut found = Vec::new();
        for entry in entries {
            let path = entry.map_err(|e| Error::io("list", &dir, e))?.path();
            let file = path
                .file_name()
                .and_then(|n| n.to_str())
                .unwrap_or_default();
            if !file.starts_with("bottlerocket-")
                || !file.ends_with(".json")
                || file.ends_with("-amis.json")
                || path.is_symlink()
            {
                continue;
            }
            let text = std::fs::read_to_string(&path).map_err(|e| Error::io("read", &path, e))?;
            let metadata: Metadata = serde_json::from_str(&text).map_err(|e| Error::Artifact {
                path: path.clone(),
                message: format!("not a twoliter image metadata file: {e}"),
            })?;
            found.push((file.trim_end_matches(".json").to_string(), metadata));
        }
        // Friendly names (`bottlerocket-<variant>-<arch>.json`) may be copies rather than links
        // (a build directory copied with links dereferenced): the versioned name is the build.
        if found.len() > 1 {
            found.retain(|(name, m)| {
                *name
                    == format!(
                        "bottlerocket-{}-{}-{}-{}",
                        m.variant, m.arch, m.version, m.build_id
                    )
            });
        }
        match found.len() {
            1 => {
                let (name, metadata) = found.remove(0);
                Ok(Artifacts {
                    dir,
                    name,
                    metadata,
                })
            }
            0 => Err(Error::Artifact {
                path: dir,
                message: "holds no image metadata file (bottlerocket-*.json); build the variant first with `twoliter build variant`".into(),
            }),
            n => Err(Error::Artifact {
                path: dir,
                message: format!(
                    "holds {n} metadata files of different builds; pass one build's directory (build/images/<arch>-<variant>/<version>-<build>)"
                ),
            }),
        }
    }

    /// Takes the build's publish lock (`.publish.lock` in the artifact directory): one
    /// `publish ami` per build at a time, so two runs cannot register two AMIs of one name.
    /// Work directories a killed run left behind are removed.
    pub fn lock(&self) -> Result<std::fs::File> {
        let path = self.dir.join(".publish.lock");
        let file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(|e| Error::io("open", &path, e))?;
        match file.try_lock() {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => return Err(Error::Artifact {
                path: self.dir.clone(),
                message:
                    "another `twoliter publish ami` is publishing this build; wait for it to finish"
                        .into(),
            }),
            Err(std::fs::TryLockError::Error(e)) => return Err(Error::io("lock", &path, e)),
        }
        let entries = std::fs::read_dir(&self.dir).map_err(|e| Error::io("list", &self.dir, e))?;
        for entry in entries.flatten() {
            if entry.file_name().to_string_lossy().starts_with(".publish-") {
                let stale = entry.path();
                tracing::info!("removing {}, left by an interrupted run", stale.display());
                std::fs::remove_dir_all(&stale).map_err(|e| Error::io("remove", &stale, e))?;
            }
        }
        Ok(file)
    }

    /// The compressed OS disk image.
    pub fn os_image(&self) -> PathBuf {
        self.dir.join(format!("{}.img.lz4", self.name))
    }

    /// The compressed data disk image, when the build has one (split partition plan).
    pub fn data_image(&self) -> Option<PathBuf> {
        (self.metadata.partition_plan == "split")
            .then(|| self.dir.join(format!("{}-data.img.lz4", self.name)))
    }

    /// The partition table the metadata records for `disk` (`os` or `data`).
    fn disk(&self, disk: &str) -> Result<&DiskReport> {
        self.metadata
            .disks
            .iter()
            .find(|d| d.disk == disk)
            .ok_or_else(|| Error::Artifact {
                path: self.dir.join(format!("{}.json", self.name)),
                message: format!("the metadata describes no `{disk}` disk"),
            })
    }

    /// Decompresses the OS (and data) image into `work` and checks each against the metadata:
    /// the size, both GPT copies, the disk GUID and every partition's name, type and GUID.
    pub fn prepare(&self, work: &Path) -> Result<PreparedImages> {
        let os = self.prepare_disk(&self.os_image(), "os", work)?;
        let data = match self.data_image() {
            Some(path) => Some(self.prepare_disk(&path, "data", work)?),
            None => None,
        };
        Ok(PreparedImages { os, data })
    }

    fn prepare_disk(&self, compressed: &Path, disk: &str, work: &Path) -> Result<PathBuf> {
        let report = self.disk(disk)?;
        if !compressed.is_file() {
            return Err(Error::Artifact {
                path: compressed.to_path_buf(),
                message: "is missing; rebuild the variant".into(),
            });
        }
        let raw = work.join(format!("{}-{disk}.img", self.name));
        let size =
            twoliter_image::lz4::decompress_file(compressed, &raw).map_err(Error::Decompress)?;
        check_disk(compressed, &raw, size, report)?;
        Ok(raw)
    }
}

/// Decompressed, checked raw disk images.
#[derive(Debug, Clone)]
pub struct PreparedImages {
    /// The OS disk.
    pub os: PathBuf,
    /// The data disk, if the build has one.
    pub data: Option<PathBuf>,
}

/// Checks a raw disk image against the partition table the metadata records.
pub fn check_disk(shown: &Path, raw: &Path, size: u64, report: &DiskReport) -> Result<()> {
    let bad = |message: String| Error::Artifact {
        path: shown.to_path_buf(),
        message,
    };
    let expected = report.size_mib * 1024 * 1024;
    if size != expected {
        return Err(bad(format!(
            "decompresses to {size} bytes, but the metadata says the {} disk is {expected} bytes; rebuild the variant",
            report.disk
        )));
    }
    let inspection = partitions::image::inspect_table(raw).map_err(|e| {
        bad(format!(
            "is not a raw disk image with a GUID partition table ({e}); publish takes the raw .img.lz4 that `twoliter build variant` writes"
        ))
    })?;
    if let Some(problem) = inspection
        .primary_problem
        .as_ref()
        .or(inspection.backup_problem.as_ref())
    {
        return Err(bad(format!("has a damaged GPT copy: {problem}")));
    }
    let table = inspection.table;
    if !table
        .disk_guid
        .to_string()
        .eq_ignore_ascii_case(&report.disk_guid)
    {
        return Err(bad(format!(
            "has disk GUID {}, but the metadata records {}; the image and metadata come from different builds",
            table.disk_guid, report.disk_guid
        )));
    }
    for expected in &report.partitions {
        let Some(found) = table.partition(expected.number) else {
            return Err(bad(format!(
                "has no partition {} ({} in the metadata)",
                expected.number, expected.name
            )));
        };
        // The DATA partitions carry no GPT label; the metadata calls them DATA-A/DATA-B.
        let label_ok = found.label == expected.name || found.label.is_empty();
        if !label_ok
            || !found
                .type_guid
                .to_string()
                .eq_ignore_ascii_case(&expected.type_guid)
            || !found
                .partition_guid
                .to_string()
                .eq_ignore_ascii_case(&expected.partuuid)
        {
            return Err(bad(format!(
                "partition {} is '{}' (type {}, PARTUUID {}), but the metadata records {} (type {}, PARTUUID {}); the image and metadata come from different builds",
                expected.number,
                found.label,
                found.type_guid,
                found.partition_guid,
                expected.name,
                expected.type_guid,
                expected.partuuid
            )));
        }
    }
    if table.partitions.len() != report.partitions.len() {
        return Err(bad(format!(
            "has {} partitions, the metadata records {}",
            table.partitions.len(),
            report.partitions.len()
        )));
    }
    Ok(())
}
