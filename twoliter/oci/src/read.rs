//! Reading an OCI image-layout archive written by [`crate::write_archive`] (or any single-image
//! archive with uncompressed tar layers).

use crate::error::{Error, Result};
use crate::hash::{sha256_hex, HashingReader};
use crate::types::*;
use fsutil::{io_err, IoError};
use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufReader, Read, Seek, SeekFrom};
use std::os::unix::fs::PermissionsExt;
use std::path::{Component, Path, PathBuf};

/// Largest JSON document (index, manifest, config) read into memory.
const MAX_JSON: u64 = 4 << 20;

/// Where a file's bytes sit inside the archive.
#[derive(Debug, Clone, Copy)]
struct Location {
    offset: u64,
    size: u64,
}

/// A verified OCI archive: its index, manifest and config, with access to its layers.
#[derive(Debug, Clone)]
pub struct OciArchive {
    path: PathBuf,
    entries: BTreeMap<String, Location>,
    ref_name: Option<String>,
    manifest_descriptor: Descriptor,
    manifest: Manifest,
    config: ImageConfig,
    labels: BTreeMap<String, String>,
}

/// Opens and verifies the OCI archive at `path`: it must hold one image whose manifest, config
/// and uncompressed tar layers all match their descriptors' sizes and sha256 digests.
pub fn read_archive(path: &Path) -> Result<OciArchive> {
    let entries = list_entries(path)?;
    let mut archive = OciArchive {
        path: path.to_path_buf(),
        entries,
        ref_name: None,
        manifest_descriptor: Descriptor {
            media_type: String::new(),
            digest: String::new(),
            size: 0,
            platform: None,
            annotations: BTreeMap::new(),
        },
        manifest: Manifest {
            schema_version: 0,
            media_type: None,
            config: Descriptor {
                media_type: String::new(),
                digest: String::new(),
                size: 0,
                platform: None,
                annotations: BTreeMap::new(),
            },
            layers: Vec::new(),
            annotations: BTreeMap::new(),
        },
        config: ImageConfig {
            created: None,
            architecture: String::new(),
            os: String::new(),
            config: None,
            rootfs: RootFs {
                kind: String::new(),
                diff_ids: Vec::new(),
            },
        },
        labels: BTreeMap::new(),
    };

    let layout: LayoutFile = archive.read_json_file("oci-layout")?;
    if !layout.image_layout_version.starts_with("1.") {
        return Err(archive.unsupported(format!(
            "image layout version {:?}",
            layout.image_layout_version
        )));
    }
    let index: Index = archive.read_json_file("index.json")?;
    let [descriptor] = index.manifests.as_slice() else {
        return Err(archive.unsupported(format!(
            "index.json lists {} images (expected exactly one)",
            index.manifests.len()
        )));
    };
    if descriptor.media_type != MEDIA_TYPE_MANIFEST {
        return Err(archive.unsupported(format!(
            "index.json points at a {:?} (expected an OCI image manifest)",
            descriptor.media_type
        )));
    }
    let manifest: Manifest = archive.read_json_blob(descriptor)?;
    if manifest.schema_version != 2 {
        return Err(archive.invalid(format!(
            "manifest schemaVersion is {}",
            manifest.schema_version
        )));
    }
    if let Some(media_type) = manifest.media_type.as_deref() {
        if media_type != MEDIA_TYPE_MANIFEST {
            return Err(archive.unsupported(format!("manifest media type {media_type:?}")));
        }
    }
    if manifest.config.media_type != MEDIA_TYPE_CONFIG {
        return Err(archive.unsupported(format!(
            "config media type {:?}",
            manifest.config.media_type
        )));
    }
    let config: ImageConfig = archive.read_json_blob(&manifest.config)?;
    for layer in &manifest.layers {
        if layer.media_type != MEDIA_TYPE_LAYER_TAR {
            return Err(archive.unsupported(format!(
                "layer {} has media type {:?} (only uncompressed tar layers are read)",
                layer.digest, layer.media_type
            )));
        }
        let (_, reader) = archive.open_blob(layer)?;
        let (actual, _) = HashingReader::new(reader)
            .finish()
            .map_err(io_err("read", &archive.path))?;
        archive.check_digest(layer, &actual)?;
    }
    let layer_digests: Vec<&String> = manifest.layers.iter().map(|l| &l.digest).collect();
    let diff_ids: Vec<&String> = config.rootfs.diff_ids.iter().collect();
    if layer_digests != diff_ids {
        return Err(archive.invalid(
            "the config's rootfs.diff_ids do not match the manifest's layers".to_string(),
        ));
    }

    archive.ref_name = descriptor.annotations.get(ANNOTATION_REF_NAME).cloned();
    archive.manifest_descriptor = descriptor.clone();
    archive.labels = config
        .config
        .as_ref()
        .and_then(|c| c.labels.clone())
        .unwrap_or_default();
    archive.manifest = manifest;
    archive.config = config;
    Ok(archive)
}

impl OciArchive {
    /// The archive file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The image's reference name (`org.opencontainers.image.ref.name` in `index.json`).
    pub fn ref_name(&self) -> Option<&str> {
        self.ref_name.as_deref()
    }

    /// The manifest's descriptor as listed in `index.json`.
    pub fn manifest_descriptor(&self) -> &Descriptor {
        &self.manifest_descriptor
    }

    /// The image manifest.
    pub fn manifest(&self) -> &Manifest {
        &self.manifest
    }

    /// The image config.
    pub fn config(&self) -> &ImageConfig {
        &self.config
    }

    /// The config's labels (the kit metadata); empty when it has none.
    pub fn labels(&self) -> &BTreeMap<String, String> {
        &self.labels
    }

    /// The image's OCI architecture (`amd64`, `arm64`).
    pub fn architecture(&self) -> &str {
        &self.config.architecture
    }

    /// Extracts every layer, bottom first, into `dest` (created if missing); files of upper
    /// layers replace those of lower ones. See [`OciArchive::extract_layer`].
    pub fn extract_layers(&self, dest: &Path) -> Result<()> {
        for index in 0..self.manifest.layers.len() {
            self.extract_layer(index, dest)?;
        }
        Ok(())
    }

    /// Extracts layer `index` (0 is the bottom layer) into `dest` (created if missing).
    ///
    /// Only regular files and directories are extracted; absolute paths, `..` components,
    /// other entry kinds, and paths leading through a symlink already in `dest` are refused.
    /// The layer is hashed while it is extracted; a mismatch with its digest is an error
    /// (files extracted before the mismatch is found are left in place).
    pub fn extract_layer(&self, index: usize, dest: &Path) -> Result<()> {
        let Some(layer) = self.manifest.layers.get(index) else {
            return Err(self.invalid(format!(
                "there is no layer {index} (the image has {})",
                self.manifest.layers.len()
            )));
        };
        std::fs::create_dir_all(dest).map_err(io_err("create", dest))?;
        let (_, reader) = self.open_blob(layer)?;
        let mut tar = tar::Archive::new(HashingReader::new(reader));
        let read_err = |e| IoError::new("read", &self.path, e);
        for entry in tar.entries().map_err(read_err)? {
            let mut entry = entry.map_err(read_err)?;
            let raw = String::from_utf8_lossy(&entry.path_bytes()).into_owned();
            let unsafe_entry = |reason| Error::UnsafeEntry {
                archive: self.path.clone(),
                layer: layer.digest.clone(),
                entry: raw.clone(),
                reason,
            };
            let relative = entry_path(&entry).map_err(unsafe_entry)?;
            let kind = entry.header().entry_type();
            if relative.as_os_str().is_empty() {
                if kind.is_dir() {
                    continue;
                }
                return Err(unsafe_entry("it names the layer root"));
            }
            let target = dest.join(&relative);
            check_no_symlink(dest, &relative).map_err(unsafe_entry)?;
            if kind.is_dir() {
                std::fs::create_dir_all(&target).map_err(io_err("create", &target))?;
            } else if kind.is_file() {
                if let Some(parent) = target.parent() {
                    std::fs::create_dir_all(parent).map_err(io_err("create", parent))?;
                }
                if let Ok(meta) = std::fs::symlink_metadata(&target) {
                    if meta.is_dir() {
                        return Err(unsafe_entry("a directory of that name already exists"));
                    }
                    std::fs::remove_file(&target).map_err(io_err("replace", &target))?;
                }
                let mut file = File::create(&target).map_err(io_err("create", &target))?;
                std::io::copy(&mut entry, &mut file)
                    .map_err(io_err("write (or read its layer entry) for", &target))?;
                let mode = entry.header().mode().unwrap_or(0o644) & 0o777;
                file.set_permissions(std::fs::Permissions::from_mode(mode))
                    .map_err(io_err("set permissions of", &target))?;
            } else {
                return Err(Error::UnsupportedEntry {
                    archive: self.path.clone(),
                    layer: layer.digest.clone(),
                    entry: raw,
                    kind: format!("{kind:?}"),
                });
            }
        }
        let (actual, _) = tar.into_inner().finish().map_err(read_err)?;
        self.check_digest(layer, &actual)
    }

    fn invalid(&self, detail: String) -> Error {
        Error::InvalidArchive {
            archive: self.path.clone(),
            detail,
        }
    }

    fn unsupported(&self, detail: String) -> Error {
        Error::Unsupported {
            archive: self.path.clone(),
            detail,
        }
    }

    /// Opens the archive at an entry's bytes.
    fn open_entry(&self, name: &str) -> Result<(Location, std::io::Take<BufReader<File>>)> {
        let Some(&location) = self.entries.get(name) else {
            return Err(Error::MissingEntry {
                archive: self.path.clone(),
                name: name.to_string(),
            });
        };
        let mut file = File::open(&self.path).map_err(io_err("open", &self.path))?;
        file.seek(SeekFrom::Start(location.offset))
            .map_err(io_err("seek in", &self.path))?;
        Ok((
            location,
            BufReader::with_capacity(1 << 20, file).take(location.size),
        ))
    }

    /// Opens a blob, checking its digest's form and its size (not yet its content).
    fn open_blob(
        &self,
        descriptor: &Descriptor,
    ) -> Result<(Location, std::io::Take<BufReader<File>>)> {
        let hex = sha256_hex(&descriptor.digest).map_err(|detail| self.invalid(detail))?;
        let (location, reader) = self.open_entry(&format!("blobs/sha256/{hex}"))?;
        if location.size != descriptor.size {
            return Err(Error::BlobSize {
                archive: self.path.clone(),
                blob: descriptor.digest.clone(),
                expected: descriptor.size,
                actual: location.size,
            });
        }
        Ok((location, reader))
    }

    fn check_digest(&self, descriptor: &Descriptor, actual: &str) -> Result<()> {
        if actual != descriptor.digest {
            return Err(Error::DigestMismatch {
                archive: self.path.clone(),
                blob: descriptor.digest.clone(),
                actual: actual.to_string(),
            });
        }
        Ok(())
    }

    fn read_json_file<T: serde::de::DeserializeOwned>(&self, name: &str) -> Result<T> {
        let (location, reader) = self.open_entry(name)?;
        if location.size > MAX_JSON {
            return Err(self.invalid(format!("{name} is {} bytes", location.size)));
        }
        let bytes = read_all(&self.path, reader)?;
        serde_json::from_slice(&bytes).map_err(|source| Error::InvalidJson {
            archive: self.path.clone(),
            name: name.to_string(),
            source,
        })
    }

    fn read_json_blob<T: serde::de::DeserializeOwned>(&self, descriptor: &Descriptor) -> Result<T> {
        if descriptor.size > MAX_JSON {
            return Err(self.invalid(format!(
                "blob {} is {} bytes, too large for a JSON document",
                descriptor.digest, descriptor.size
            )));
        }
        let (_, reader) = self.open_blob(descriptor)?;
        let bytes = read_all(&self.path, reader)?;
        self.check_digest(descriptor, &crate::hash::digest_of(&bytes))?;
        serde_json::from_slice(&bytes).map_err(|source| Error::InvalidJson {
            archive: self.path.clone(),
            name: descriptor.digest.clone(),
            source,
        })
    }
}

fn read_all(archive: &Path, mut reader: impl Read) -> Result<Vec<u8>> {
    let mut bytes = Vec::new();
    reader
        .read_to_end(&mut bytes)
        .map_err(io_err("read", archive))?;
    Ok(bytes)
}

/// Lists the regular files of the archive with their data offsets, without reading their data.
fn list_entries(path: &Path) -> Result<BTreeMap<String, Location>> {
    let file = File::open(path).map_err(io_err("open", path))?;
    let mut tar = tar::Archive::new(BufReader::new(file));
    let read_err = |e| IoError::new("read the tar entries of", path, e);
    let mut entries = BTreeMap::new();
    for entry in tar.entries_with_seek().map_err(read_err)? {
        let entry = entry.map_err(read_err)?;
        if !entry.header().entry_type().is_file() {
            continue;
        }
        let raw = String::from_utf8_lossy(&entry.path_bytes()).into_owned();
        let mut name = raw.as_str();
        while let Some(rest) = name.strip_prefix("./") {
            name = rest;
        }
        let location = Location {
            offset: entry.raw_file_position(),
            size: entry.size(),
        };
        if entries.insert(name.to_string(), location).is_some() {
            return Err(Error::DuplicateEntry {
                archive: path.to_path_buf(),
                name: name.to_string(),
            });
        }
    }
    Ok(entries)
}

/// The entry's path relative to the destination, refusing absolute paths and `..`.
fn entry_path<R: Read>(entry: &tar::Entry<'_, R>) -> std::result::Result<PathBuf, &'static str> {
    let bytes = entry.path_bytes();
    if bytes.contains(&0) {
        return Err("its path holds a NUL byte");
    }
    let path = Path::new(std::ffi::OsStr::new(
        <std::ffi::OsStr as std::os::unix::ffi::OsStrExt>::from_bytes(&bytes),
    ))
    .to_path_buf();
    let mut relative = PathBuf::new();
    for component in path.components() {
        match component {
            Component::Normal(part) => {
                if part.as_encoded_bytes().starts_with(b".wh.") {
                    return Err("it is an OCI whiteout, which this crate does not apply");
                }
                relative.push(part)
            }
            Component::CurDir => {}
            Component::RootDir | Component::Prefix(_) => return Err("its path is absolute"),
            Component::ParentDir => return Err("its path has a .. component"),
        }
    }
    Ok(relative)
}

/// Refuses `relative` when `dest/<some prefix of relative>` already exists as a symlink.
fn check_no_symlink(dest: &Path, relative: &Path) -> std::result::Result<(), &'static str> {
    let mut current = dest.to_path_buf();
    for component in relative.components() {
        current.push(component);
        match std::fs::symlink_metadata(&current) {
            Ok(meta) if meta.file_type().is_symlink() => {
                return Err("it would be written through a symlink in the destination")
            }
            Ok(_) => {}
            Err(_) => break,
        }
    }
    Ok(())
}
