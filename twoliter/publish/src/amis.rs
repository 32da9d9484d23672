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

impl std::fmt::Display for LaunchPermission {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            LaunchPermission::UserId(id) => write!(f, "account {id}"),
            LaunchPermission::Group(group) => write!(f, "group {group}"),
            LaunchPermission::OrganizationArn(arn) => write!(f, "organization {arn}"),
            LaunchPermission::OrganizationalUnitArn(arn) => write!(f, "OU {arn}"),
        }
    }
}

/// Launch permissions as a readable list (`none` when empty).
pub fn describe_permissions(permissions: &[LaunchPermission]) -> String {
    if permissions.is_empty() {
        return "none".into();
    }
    permissions
        .iter()
        .map(|p| p.to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

/// Where the AMIs of `name` are recorded in `dir`.
/// AMI names may hold `/` and spaces; in the file name those become `_`.
pub fn path(dir: &Path, name: &str) -> PathBuf {
    let file: String = name
        .chars()
        .map(|c| {
            if c == '/' || c.is_whitespace() {
                '_'
            } else {
                c
            }
        })
        .collect();
    dir.join(format!("{file}-amis.json"))
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
    use std::os::unix::fs::PermissionsExt;
    temp.write_all(text.as_bytes())
        .and_then(|()| {
            temp.as_file()
                .set_permissions(std::fs::Permissions::from_mode(0o644))
        })
        .and_then(|()| temp.as_file().sync_all())
        .map_err(|e| Error::io("write", temp.path(), e))?;
    temp.persist(path)
        .map_err(|e| Error::io("write", path, e.error))?;
    Ok(())
}

/// Merges what an earlier `amis.json` recorded: regions this run did not publish to stay (a
/// rerun with fewer `--regions` must not forget AMIs), and snapshot ids recorded for the same
/// AMIs are kept (a rerun that reuses an AMI learns its snapshots only from EC2's block-device
/// mappings). Returns the regions kept from the earlier file.
pub fn merge_earlier(amis: &mut AmisFile, earlier: &AmisFile) -> Vec<String> {
    let mut kept = Vec::new();
    for (region, image) in earlier {
        if !amis.contains_key(region) && amis.values().all(|i| i.name == image.name) {
            amis.insert(region.clone(), image.clone());
            kept.push(region.clone());
        }
    }
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
    kept
}
