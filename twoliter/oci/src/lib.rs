//! Kits as OCI images.
//!
//! A twoliter kit (built RPM packages plus yum `repodata/`) is shipped as an OCI image so any
//! OCI registry or tool can hold it. This crate writes such an image as an OCI image-layout
//! **archive** — a tar holding `oci-layout`, `index.json` and `blobs/sha256/<hex>` — the format
//! `skopeo … oci-archive:<file>` reads, and reads it back.
//!
//! # Image format
//!
//! * Layers are uncompressed tars (`application/vnd.oci.image.layer.v1.tar`), so each layer's
//!   digest is also its `diff_id`. Entries are sorted by path, parent directories included, owned
//!   by 0:0 without user or group names, mode 0644 (files) or 0755 (directories), with the
//!   image's epoch as mtime. Identical layers are stored once.
//! * The config (`application/vnd.oci.image.config.v1+json`) holds the architecture, `os`
//!   `linux`, `created` (the epoch), `rootfs.diff_ids` and the kit metadata as
//!   `config.Labels`. The manifest repeats the metadata as annotations. `index.json` lists the
//!   one manifest with its platform and its `org.opencontainers.image.ref.name`.
//! * The archive's own entries (`oci-layout`, `index.json`, `blobs/`, `blobs/sha256/`, blobs by
//!   digest) are written the same way, so the same inputs give a byte-identical archive.
//!
//! # Reading
//!
//! [`read_archive`] checks every blob of the image against its descriptor's size and sha256
//! before returning; [`OciArchive::extract_layers`] checks them again while extracting and
//! refuses absolute paths, `..`, writing through symlinks, and entries other than regular files
//! and directories.

#![forbid(unsafe_code)]

mod error;
mod hash;
mod read;
mod spec;
mod types;
mod write;

pub use error::{Error, Result};
pub use read::{read_archive, OciArchive};
pub use spec::{Architecture, ImageSpec, LayerFile, LayerSpec, MAX_EPOCH};
pub use types::{
    Descriptor, ExecConfig, ImageConfig, Index, Manifest, Platform, RootFs, ANNOTATION_REF_NAME,
    MEDIA_TYPE_CONFIG, MEDIA_TYPE_INDEX, MEDIA_TYPE_LAYER_TAR, MEDIA_TYPE_MANIFEST,
};
pub use write::{write_archive, ArchiveSummary};
