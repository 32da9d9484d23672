//! `<name>-amis.json`: the AMIs of one image name in every region, in Bottlerocket's format
//! (`{"us-west-2": {"id": ..., "name": ..., "public": ..., "launch_permissions": [...]}}`),
//! plus the snapshot ids twoliter knows of.

use crate::{Error, Result};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

/// The AMIs of one image, by region.
pub type AmisFile = BTreeMap<String, Image>;

/// One AMI in one region.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Image {
    /// The AMI id.
    pub id: String,
    /// The AMI name.
    pub name: String,
    /// Whether anyone may launch it.
    #[serde(default)]
    pub public: bool,
    /// Who besides the owner may launch it.
    #[serde(default)]
    pub launch_permissions: Vec<LaunchPermission>,
    /// The EBS snapshots behind it (root first).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub snapshots: Vec<String>,
}

/// One launch permission, as EC2 reports it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LaunchPermission {
    /// An AWS account id.
    UserId(String),
    /// A group (`all`).
    Group(String),
    /// An AWS Organizations organization ARN.
    OrganizationArn(String),
    /// An AWS Organizations organizational unit ARN.
    OrganizationalUnitArn(String),
}

/// Where the AMIs of `name` are recorded in `dir`.
pub fn path(dir: &Path, name: &str) -> PathBuf {
    dir.join(format!("{name}-amis.json"))
}

/// Reads an amis file.
pub fn read(path: &Path) -> Result<AmisFile> {
    let text = std::fs::read_to_string(path).map_err(|e| Error::Artifact {
        path: path.to_path_buf(),
        message: format!(
            "cannot read it ({e}); run `twoliter publish ami` first, or pass --ami-input"
        ),
    })?;
    let amis: AmisFile = serde_json::from_str(&text).map_err(|e| Error::Artifact {
        path: path.to_path_buf(),
        message: format!("is not an amis.json file: {e}"),
    })?;
    if amis.is_empty() {
        return Err(Error::Artifact {
            path: path.to_path_buf(),
            message: "lists no AMIs".into(),
        });
    }
    Ok(amis)
}

/// Writes an amis file atomically (temp file, fsync, rename).
pub fn write(path: &Path, amis: &AmisFile) -> Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let mut temp =
        tempfile::NamedTempFile::new_in(dir).map_err(|e| Error::io("write into", dir, e))?;
    let mut text = serde_json::to_string_pretty(amis).expect("amis serialise");
    text.push('\n');
    temp.write_all(text.as_bytes())
        .and_then(|()| temp.as_file().sync_all())
        .map_err(|e| Error::io("write", temp.path(), e))?;
    temp.persist(path)
        .map_err(|e| Error::io("write", path, e.error))?;
    Ok(())
}

/// Keeps the snapshot ids an earlier `amis.json` recorded for the same AMIs (a rerun that
/// reuses an AMI learns its snapshots only from EC2's block-device mappings).
pub fn keep_snapshots(amis: &mut AmisFile, earlier: &AmisFile) {
    for (region, image) in amis.iter_mut() {
        let Some(old) = earlier.get(region).filter(|old| old.id == image.id) else {
            continue;
        };
        let mut snapshots = old.snapshots.clone();
        for snapshot in image.snapshots.drain(..) {
            if !snapshots.contains(&snapshot) {
                snapshots.push(snapshot);
            }
        }
        image.snapshots = snapshots;
    }
}
