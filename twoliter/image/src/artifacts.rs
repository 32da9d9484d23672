//! The artifact directory: files are made under a temporary name beside the final one and the
//! whole directory is renamed into place only when complete, so a failed build never leaves
//! partial artifacts under the final name.

use crate::assemble::ImageFormat;
use crate::error::{Error, Result};
use crate::metadata::{ArtifactFile, DiskRole, Metadata};
use rayon::prelude::*;
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use twoliter_artifacts::{ArtifactKind, ArtifactName};
use twoliter_engine::{ToolCommand, ToolRunner};

pub use twoliter_artifacts::LATEST;

/// Marks a directory of artifacts being made: `.<version>-<build>.partial-<pid>`.
const PARTIAL: &str = ".partial-";

/// Removes the partial directories of assemblies that were killed (their process is gone).
fn remove_abandoned(output_dir: &Path) {
    let Ok(entries) = std::fs::read_dir(output_dir) else {
        return;
    };
    for entry in entries.filter_map(|e| e.ok()) {
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(pid) = name
            .rsplit_once(PARTIAL)
            .map(|(_, pid)| pid.trim_end_matches(".old"))
        else {
            continue;
        };
        let alive = pid
            .parse::<u32>()
            .is_ok_and(|pid| Path::new("/proc").join(pid.to_string()).exists());
        if name.starts_with('.') && !alive {
            tracing::info!("removing {name}, left by an interrupted build");
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
}

/// The artifacts of one build while they are being made.
#[derive(Debug)]
pub struct ArtifactSet {
    /// The build's name, the prefix of every versioned file.
    name: ArtifactName,
    /// `<output>/<version>-<build>`.
    final_dir: PathBuf,
    /// Where the artifacts are made.
    temp_dir: PathBuf,
    /// Intermediate files (inside `temp_dir`, removed before the rename).
    work_dir: PathBuf,
    output_dir: PathBuf,
    finished: bool,
}

impl ArtifactSet {
    /// Starts a set for the build `name` in `output_dir` (the variant's images directory), in a
    /// fresh temporary directory.
    pub fn begin(output_dir: &Path, name: ArtifactName) -> Result<Self> {
        let build = name.release();
        let final_dir = output_dir.join(&build);
        remove_abandoned(output_dir);
        let temp_dir = output_dir.join(format!(".{build}{PARTIAL}{}", std::process::id()));
        if temp_dir.exists() {
            std::fs::remove_dir_all(&temp_dir).map_err(|e| Error::io(&temp_dir, "remove", e))?;
        }
        let work_dir = temp_dir.join(".work");
        std::fs::create_dir_all(&work_dir).map_err(|e| Error::io(&work_dir, "create", e))?;
        Ok(Self {
            name,
            final_dir,
            temp_dir,
            work_dir,
            output_dir: output_dir.to_path_buf(),
            finished: false,
        })
    }

    /// The directory for intermediate files.
    pub fn work_dir(&self) -> &Path {
        &self.work_dir
    }

    /// An intermediate file named `<name><suffix>`.
    pub fn work_path(&self, suffix: &str) -> PathBuf {
        self.work_dir.join(format!("{}{suffix}", self.name))
    }

    /// Compresses `source` into the artifact of `kind`.
    pub fn compress(&self, source: &Path, kind: ArtifactKind) -> Result<()> {
        let out = self.temp_dir.join(kind.file_name(&self.name));
        crate::lz4::compress_file(source, &out)?;
        Ok(())
    }

    /// Converts the raw `disk` image `source` into `format` with `qemu-img`
    /// ([`ArtifactKind::ConvertedOsDisk`] / [`ArtifactKind::ConvertedDataDisk`]).
    pub fn convert(
        &self,
        runner: &dyn ToolRunner,
        source: &Path,
        format: ImageFormat,
        disk: DiskRole,
    ) -> Result<()> {
        let (kind, tag) = match disk {
            DiskRole::Os => (ArtifactKind::ConvertedOsDisk(format), ""),
            DiskRole::Data => (ArtifactKind::ConvertedDataDisk(format), "-data"),
        };
        let (extension, options): (&str, &[&str]) = match format {
            ImageFormat::Raw => return Ok(()),
            ImageFormat::Qcow2 => ("qcow2", &["-O", "qcow2"]),
            ImageFormat::Vmdk => ("vmdk", &["-O", "vmdk", "-o", "subformat=streamOptimized"]),
        };
        let out = self.temp_dir.join(kind.file_name(&self.name));
        runner
            .run(
                &ToolCommand::new("qemu-img")
                    .args(["convert", "-f", "raw"])
                    .args(options)
                    .arg(source)
                    .arg(&out),
            )
            .map_err(|error| Error::Tool {
                what: format!("convert {} to {extension}", source_name(source)),
                source: error,
            })?;
        if format == ImageFormat::Vmdk {
            let digest = Sha256::digest(format!("vmdk-cid/{}{tag}", self.name).as_bytes());
            pin_vmdk_cid(&out, &hex::encode(&digest[..4]))?;
        }
        Ok(())
    }

    /// Lists the artifacts with their checksums, writes the metadata, adds the friendly links,
    /// moves the directory into place and points `latest` at it.
    pub fn finish(mut self, mut metadata: Metadata) -> Result<(PathBuf, Metadata)> {
        std::fs::remove_dir_all(&self.work_dir)
            .map_err(|e| Error::io(&self.work_dir, "remove", e))?;
        let mut files: Vec<String> = std::fs::read_dir(&self.temp_dir)
            .map_err(|e| Error::io(&self.temp_dir, "list", e))?
            .filter_map(|e| e.ok())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        files.sort();
        metadata.artifacts = files
            .par_iter()
            .map(|file| checksum(&self.temp_dir.join(file), file))
            .collect::<Result<_>>()?;
        let metadata_file = ArtifactKind::Metadata.file_name(&self.name);
        let text = serde_json::to_string_pretty(&metadata)
            .map_err(|e| Error::Invalid(format!("cannot serialize the metadata: {e}")))?;
        twoliter_artifacts::write_atomic(&self.temp_dir.join(&metadata_file), text.as_bytes())?;
        files.push(metadata_file);
        let (versioned, friendly) = (self.name.to_string(), self.name.friendly());
        for file in &files {
            if let Some(rest) = file.strip_prefix(&versioned) {
                let link = self.temp_dir.join(format!("{friendly}{rest}"));
                std::os::unix::fs::symlink(file, &link)
                    .map_err(|e| Error::io(&link, "create link", e))?;
            }
        }
        fsutil::sync_dir(&self.temp_dir)?;
        // The final name always holds a complete build: a rebuild is swapped in in one step.
        fsutil::replace_dir_atomically(&self.temp_dir, &self.final_dir)?;
        self.finished = true;
        let target = self
            .final_dir
            .file_name()
            .map(PathBuf::from)
            .unwrap_or_default();
        fsutil::replace_symlink(&self.output_dir.join(LATEST), &target)?;
        Ok((self.final_dir.clone(), metadata))
    }
}

impl Drop for ArtifactSet {
    fn drop(&mut self) {
        if !self.finished {
            let _ = std::fs::remove_dir_all(&self.temp_dir);
        }
    }
}

/// Replaces the random content id qemu-img writes into a VMDK descriptor (`CID=<hex>`, printed
/// without zero padding) with `cid` (8 hex digits), so the same disk always converts to the same
/// bytes. The descriptor is NUL-padded text in the sectors after the header, with room to spare.
fn pin_vmdk_cid(path: &Path, cid: &str) -> Result<()> {
    use std::os::unix::fs::FileExt;
    let bad = |detail: &str| Error::Parse {
        what: format!("the VMDK descriptor of {}", path.display()),
        detail: detail.to_string(),
    };
    let file = std::fs::File::options()
        .read(true)
        .write(true)
        .open(path)
        .map_err(|e| Error::io(path, "open", e))?;
    let mut head = vec![0u8; 64 << 10];
    let n = file
        .read_at(&mut head, 0)
        .map_err(|e| Error::io(path, "read", e))?;
    let head = &head[..n];
    let marker = b"# Disk DescriptorFile";
    let start = head
        .windows(marker.len())
        .position(|w| w == marker)
        .ok_or_else(|| bad("no descriptor"))?;
    let len = head[start..]
        .iter()
        .position(|&b| b == 0)
        .ok_or_else(|| bad("descriptor not terminated"))?;
    let text = std::str::from_utf8(&head[start..start + len]).map_err(|_| bad("not text"))?;
    let mut replaced = false;
    let mut new_text: String = text
        .split_inclusive('\n')
        .map(|line| {
            if line.starts_with("CID=") {
                replaced = true;
                format!("CID={cid}\n")
            } else {
                line.to_string()
            }
        })
        .collect();
    if !replaced {
        return Err(bad("no CID line"));
    }
    let mut bytes = std::mem::take(&mut new_text).into_bytes();
    bytes.resize(bytes.len().max(len), 0);
    if start + bytes.len() >= n {
        return Err(bad("no room for the new CID"));
    }
    file.write_all_at(&bytes, start as u64)
        .and_then(|_| file.sync_all())
        .map_err(|e| Error::io(path, "write", e))
}

fn source_name(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

fn checksum(path: &Path, file: &str) -> Result<ArtifactFile> {
    let mut reader = std::fs::File::open(path).map_err(|e| Error::io(path, "open", e))?;
    let mut hasher = Sha256::new();
    let size = std::io::copy(&mut reader, &mut hasher).map_err(|e| Error::io(path, "read", e))?;
    Ok(ArtifactFile {
        file: file.to_string(),
        size,
        sha256: hex::encode(hasher.finalize()),
    })
}
