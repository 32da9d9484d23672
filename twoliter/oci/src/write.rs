//! Writing an image as a reproducible OCI image-layout archive.
//!
//! Each layer is streamed into an uncompressed tar in a temporary directory beside the output,
//! hashed as it is written. The small JSON documents are built in memory. The archive itself is
//! then streamed into a temporary file beside the output, synced, and renamed over it.

use crate::error::{Error, Result};
use crate::hash::{digest_of, ExactReader, HashingWriter};
use crate::spec::{layer_path_components, validate_ref_name, ImageSpec, LayerSpec, MAX_EPOCH};
use crate::types::*;
use fsutil::{io_err, IoError};
use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufWriter, Read, Write};
use std::path::{Path, PathBuf};
use tar::{EntryType, Header};

const FILE_MODE: u32 = 0o644;
const DIR_MODE: u32 = 0o755;
const IO_BUFFER: usize = 1 << 20;

/// What [`write_archive`] wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArchiveSummary {
    /// The archive file.
    pub path: PathBuf,
    /// Size of the archive in bytes.
    pub size: u64,
    /// `sha256:<hex>` of the whole archive file.
    pub archive_digest: String,
    /// Descriptor of the manifest (as listed in `index.json`).
    pub manifest: Descriptor,
    /// Descriptor of the image config.
    pub config: Descriptor,
    /// Descriptors of the layers, bottom first.
    pub layers: Vec<Descriptor>,
}

/// Writes `image` as an OCI image-layout archive (`oci-layout`, `index.json`,
/// `blobs/sha256/<hex>` in a tar) at `out`, replacing it atomically. The same `image` and the
/// same file contents always give a byte-identical archive.
pub fn write_archive(out: &Path, image: &ImageSpec) -> Result<ArchiveSummary> {
    validate(image)?;
    if out.file_name().is_none() {
        return Err(Error::InvalidSpec(format!(
            "output path {} does not name a file",
            out.display()
        )));
    };
    let parent = match out.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let work = tempfile::Builder::new()
        .prefix(".twoliter-oci-")
        .tempdir_in(parent)
        .map_err(io_err("create a temporary directory in", parent))?;

    // Layers, streamed to temporary files.
    let mut blobs: BTreeMap<String, Blob> = BTreeMap::new();
    let mut layers = Vec::with_capacity(image.layers.len());
    for (index, layer) in image.layers.iter().enumerate() {
        let path = work.path().join(format!("layer-{index}.tar"));
        let (digest, size) = write_layer(index, layer, image.epoch, &path)?;
        layers.push(Descriptor {
            media_type: MEDIA_TYPE_LAYER_TAR.to_string(),
            digest: digest.clone(),
            size,
            platform: None,
            annotations: BTreeMap::new(),
        });
        blobs.entry(digest).or_insert(Blob::File(path));
    }

    // Config, manifest, index.
    let config = ImageConfig {
        created: Some(rfc3339(image.epoch)),
        architecture: image.architecture.oci_name().to_string(),
        os: "linux".to_string(),
        config: Some(ExecConfig {
            labels: Some(image.metadata.clone()),
        }),
        rootfs: RootFs {
            kind: "layers".to_string(),
            diff_ids: layers.iter().map(|l| l.digest.clone()).collect(),
        },
    };
    let config_desc = json_blob(&config, MEDIA_TYPE_CONFIG, &mut blobs)?;
    let manifest = Manifest {
        schema_version: 2,
        media_type: Some(MEDIA_TYPE_MANIFEST.to_string()),
        config: config_desc.clone(),
        layers: layers.clone(),
        annotations: image.metadata.clone(),
    };
    let mut manifest_desc = json_blob(&manifest, MEDIA_TYPE_MANIFEST, &mut blobs)?;
    manifest_desc.platform = Some(Platform {
        architecture: image.architecture.oci_name().to_string(),
        os: "linux".to_string(),
    });
    manifest_desc
        .annotations
        .insert(ANNOTATION_REF_NAME.to_string(), image.ref_name.to_string());
    let index = Index {
        schema_version: 2,
        media_type: Some(MEDIA_TYPE_INDEX.to_string()),
        manifests: vec![manifest_desc.clone()],
        annotations: BTreeMap::new(),
    };
    let index_json = to_json(&index)?;
    let layout_json = to_json(&LayoutFile {
        image_layout_version: "1.0.0".to_string(),
    })?;

    // The archive.
    let temp = fsutil::AtomicFile::create(out, 0o644)?;
    let mut tar = tar::Builder::new(HashingWriter::new(BufWriter::with_capacity(
        IO_BUFFER,
        temp.file(),
    )));
    let write_err = |e| IoError::new("write", out, e);
    let epoch = image.epoch;
    append_bytes(&mut tar, "oci-layout", &layout_json, epoch).map_err(write_err)?;
    append_bytes(&mut tar, "index.json", &index_json, epoch).map_err(write_err)?;
    append_dir(&mut tar, "blobs", epoch).map_err(write_err)?;
    append_dir(&mut tar, "blobs/sha256", epoch).map_err(write_err)?;
    for (digest, blob) in &blobs {
        let name = format!("blobs/sha256/{}", digest.trim_start_matches("sha256:"));
        match blob {
            Blob::Bytes(bytes) => append_bytes(&mut tar, &name, bytes, epoch).map_err(write_err)?,
            Blob::File(path) => {
                let file = File::open(path).map_err(io_err("open", path))?;
                let len = file.metadata().map_err(io_err("stat", path))?.len();
                let mut reader = ExactReader::new(file, len);
                let mut header = file_header(len, epoch);
                if let Err(e) = tar.append_data(&mut header, &name, &mut reader) {
                    return Err(if reader.failed {
                        IoError::new("read", path, e)
                    } else {
                        write_err(e)
                    }
                    .into());
                }
            }
        }
    }
    let hashing = tar.into_inner().map_err(write_err)?;
    let (mut buffered, archive_digest, size) = hashing.finish();
    buffered.flush().map_err(write_err)?;
    drop(buffered);
    temp.commit()?;
    drop(work);

    Ok(ArchiveSummary {
        path: out.to_path_buf(),
        size,
        archive_digest,
        manifest: manifest_desc,
        config: config_desc,
        layers,
    })
}

enum Blob {
    Bytes(Vec<u8>),
    File(PathBuf),
}

fn validate(image: &ImageSpec) -> Result<()> {
    validate_ref_name(&image.ref_name)?;
    if image.epoch > MAX_EPOCH {
        return Err(Error::InvalidSpec(format!(
            "epoch {} is after {MAX_EPOCH} (2242-03-16), the latest time a tar header holds",
            image.epoch
        )));
    }
    if let Some(key) = image.metadata.keys().find(|k| k.is_empty()) {
        return Err(Error::InvalidSpec(format!("metadata key {key:?} is empty")));
    }
    for (index, layer) in image.layers.iter().enumerate() {
        layer_tree(index, layer)?;
    }
    Ok(())
}

/// A node of a layer's tree: a directory, or a file with its host source.
enum Node<'a> {
    Dir,
    File(&'a Path),
}

/// The sorted entries of a layer, parents included; refuses duplicates and file/dir clashes.
fn layer_tree(index: usize, layer: &LayerSpec) -> Result<BTreeMap<String, Node<'_>>> {
    let mut tree = BTreeMap::new();
    for file in &layer.files {
        let clash = |reason| Error::InvalidLayerPath {
            layer: index,
            path: file.dest.clone(),
            reason,
        };
        let components = layer_path_components(index, &file.dest)?;
        for depth in 1..components.len() {
            let dir = components[..depth].join("/");
            if let Some(Node::File(_)) = tree.get(&dir) {
                return Err(clash(
                    "one of its parent directories is also a file in the layer",
                ));
            }
            tree.insert(dir, Node::Dir);
        }
        match tree.get(&file.dest) {
            Some(Node::File(_)) => return Err(clash("it is listed twice")),
            Some(Node::Dir) => return Err(clash("it is also a directory of another file")),
            None => {}
        }
        tree.insert(file.dest.clone(), Node::File(&file.source));
    }
    Ok(tree)
}

/// Streams one layer into `path`; returns its digest and size.
fn write_layer(index: usize, layer: &LayerSpec, epoch: u64, path: &Path) -> Result<(String, u64)> {
    let tree = layer_tree(index, layer)?;
    let file = File::create(path).map_err(io_err("create", path))?;
    let mut tar = tar::Builder::new(HashingWriter::new(BufWriter::with_capacity(
        IO_BUFFER, file,
    )));
    let write_err = |e| IoError::new("write", path, e);
    for (dest, node) in &tree {
        match node {
            Node::Dir => append_dir(&mut tar, dest, epoch).map_err(write_err)?,
            Node::File(source) => {
                let file = File::open(source).map_err(io_err("open", source))?;
                let meta = file.metadata().map_err(io_err("stat", source))?;
                if !meta.is_file() {
                    return Err(Error::NotARegularFile {
                        path: source.to_path_buf(),
                    });
                }
                let len = meta.len();
                let mut reader = ExactReader::new(file, len);
                let mut header = file_header(len, epoch);
                if let Err(e) = tar.append_data(&mut header, dest, &mut reader) {
                    return Err(
                        if reader.failed && e.kind() == std::io::ErrorKind::UnexpectedEof {
                            Error::SourceChanged {
                                path: source.to_path_buf(),
                                expected: len,
                            }
                        } else if reader.failed {
                            IoError::new("read", source, e).into()
                        } else {
                            write_err(e).into()
                        },
                    );
                }
                let mut probe = [0u8; 1];
                if !matches!(reader.inner.read(&mut probe), Ok(0)) {
                    return Err(Error::SourceChanged {
                        path: source.to_path_buf(),
                        expected: len,
                    });
                }
            }
        }
    }
    let hashing = tar.into_inner().map_err(write_err)?;
    let (mut buffered, digest, size) = hashing.finish();
    buffered.flush().map_err(write_err)?;
    Ok((digest, size))
}

fn base_header(kind: EntryType, size: u64, mode: u32, epoch: u64) -> Header {
    let mut header = Header::new_gnu();
    header.set_entry_type(kind);
    header.set_size(size);
    header.set_mode(mode);
    header.set_uid(0);
    header.set_gid(0);
    header.set_mtime(epoch);
    header
}

fn file_header(size: u64, epoch: u64) -> Header {
    base_header(EntryType::Regular, size, FILE_MODE, epoch)
}

fn append_dir<W: Write>(tar: &mut tar::Builder<W>, path: &str, epoch: u64) -> std::io::Result<()> {
    let mut header = base_header(EntryType::Directory, 0, DIR_MODE, epoch);
    tar.append_data(&mut header, path, std::io::empty())
}

fn append_bytes<W: Write>(
    tar: &mut tar::Builder<W>,
    path: &str,
    bytes: &[u8],
    epoch: u64,
) -> std::io::Result<()> {
    let mut header = file_header(bytes.len() as u64, epoch);
    tar.append_data(&mut header, path, bytes)
}

fn to_json<T: serde::Serialize>(value: &T) -> Result<Vec<u8>> {
    serde_json::to_vec(value)
        .map_err(|e| Error::InvalidSpec(format!("cannot serialize an OCI document: {e}")))
}

/// Serializes `value`, adds it to `blobs`, returns its descriptor.
fn json_blob<T: serde::Serialize>(
    value: &T,
    media_type: &str,
    blobs: &mut BTreeMap<String, Blob>,
) -> Result<Descriptor> {
    let bytes = to_json(value)?;
    let digest = digest_of(&bytes);
    let size = bytes.len() as u64;
    blobs.entry(digest.clone()).or_insert(Blob::Bytes(bytes));
    Ok(Descriptor {
        media_type: media_type.to_string(),
        digest,
        size,
        platform: None,
        annotations: BTreeMap::new(),
    })
}

/// Formats seconds since the Unix epoch as RFC 3339 UTC (`1970-01-01T00:00:00Z`).
pub(crate) fn rfc3339(epoch: u64) -> String {
    let time = std::time::UNIX_EPOCH + std::time::Duration::from_secs(epoch);
    humantime::format_rfc3339_seconds(time).to_string()
}

#[cfg(test)]
mod tests {
    use super::rfc3339;

    #[test]
    fn rfc3339_dates() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(rfc3339(1_700_000_000), "2023-11-14T22:13:20Z");
        assert_eq!(rfc3339(crate::MAX_EPOCH), "2242-03-16T12:56:31Z");
    }
}
