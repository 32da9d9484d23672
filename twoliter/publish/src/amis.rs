//! `<name>-amis.json`: the AMIs of one image name in every region, in Bottlerocket's format
//! (`{"us-west-2": {"id": ..., "name": ..., "public": ..., "launch_permissions": [...]}}`),
//! plus the snapshot ids twoliter knows of.

use crate::{Error, Result};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::Path;

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
    let mut text = serde_json::to_string_pretty(amis).expect("amis serialise");
    text.push('\n');
    Ok(twoliter_artifacts::write_atomic(path, text.as_bytes())?)
}

/// Keeps the AMIs of `regions` only (all when `regions` is empty).
///
/// # Errors
/// [`Error::Artifact`] naming the file `path` the AMIs came from when none is left.
pub fn only_regions(amis: &mut AmisFile, regions: &[String], path: &Path) -> Result<()> {
    if regions.is_empty() {
        return Ok(());
    }
    amis.retain(|region, _| regions.contains(region));
    if amis.is_empty() {
        return Err(Error::Artifact {
            path: path.to_path_buf(),
            message: format!("has no AMI in {}", regions.join(", ")),
        });
    }
    Ok(())
}

/// The AMIs as the SSM parameters name them.
pub fn published_images(amis: &AmisFile) -> BTreeMap<String, twoliter_ssm::PublishedImage> {
    amis.iter()
        .map(|(region, image)| {
            let published = twoliter_ssm::PublishedImage {
                id: image.id.clone(),
                name: image.name.clone(),
            };
            (region.clone(), published)
        })
        .collect()
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

#[cfg(test)]
mod tests {
    use super::*;

    fn image(id: &str, name: &str, snapshots: &[&str]) -> Image {
        Image {
            id: id.into(),
            name: name.into(),
            public: false,
            launch_permissions: vec![],
            snapshots: snapshots.iter().map(|s| s.to_string()).collect(),
        }
    }

    #[test]
    fn merging_keeps_other_regions_and_known_snapshots() {
        let mut earlier = AmisFile::new();
        earlier.insert("us-east-1".into(), image("ami-e", "n", &["snap-e"]));
        earlier.insert("us-west-2".into(), image("ami-w", "n", &["snap-1"]));
        earlier.insert("eu-west-1".into(), image("ami-x", "other", &[]));
        let mut amis = AmisFile::new();
        amis.insert("us-west-2".into(), image("ami-w", "n", &["snap-2"]));
        let kept = merge_earlier(&mut amis, &earlier);
        assert_eq!(kept, ["us-east-1"]);
        assert_eq!(amis["us-west-2"].snapshots, ["snap-1", "snap-2"]);
        assert!(!amis.contains_key("eu-west-1"));
    }

    #[test]
    fn files_round_trip_and_filter_by_region() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("n-amis.json");
        assert!(read(&path).unwrap_err().to_string().contains("--ami-input"));
        let mut amis = AmisFile::new();
        amis.insert("us-east-1".into(), image("ami-e", "n", &[]));
        amis.insert("us-west-2".into(), image("ami-w", "n", &[]));
        write(&path, &amis).unwrap();
        let mut back = read(&path).unwrap();
        assert_eq!(back, amis);
        assert_eq!(published_images(&back)["us-east-1"].id, "ami-e");
        only_regions(&mut back, &[], &path).unwrap();
        assert_eq!(back.len(), 2);
        only_regions(&mut back, &["us-west-2".into()], &path).unwrap();
        assert_eq!(back.keys().collect::<Vec<_>>(), ["us-west-2"]);
        let error = only_regions(&mut back, &["eu-west-1".into()], &path).unwrap_err();
        assert!(
            error.to_string().contains("has no AMI in eu-west-1"),
            "{error}"
        );
        std::fs::write(&path, "{}").unwrap();
        assert!(read(&path)
            .unwrap_err()
            .to_string()
            .contains("lists no AMIs"));
    }
}
