//! Artifact names and the file name of each kind of artifact.

use crate::error::{Error, Result};
use crate::metadata::{ImageFormat, RootFs};
use semver::Version;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;
use twoliter_project::Arch;

/// The prefix of every file name.
const PREFIX: &str = "bottlerocket-";

/// What identifies one build: `bottlerocket-<variant>-<arch>-<version>-<build>`.
///
/// The build id is never empty (image assembly requires one), so the versioned name always has
/// the `-` before it: this is the one rule for every reader and writer.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", try_from = "NameParts")]
pub struct ArtifactName {
    /// The variant (`aws-k8s-1.31`).
    pub variant: String,
    /// The architecture.
    pub arch: Arch,
    /// The release version, plain `X.Y.Z`.
    pub version: Version,
    /// The build id (the short commit, `-dirty` when the tree was dirty).
    pub build_id: String,
}

/// The unchecked fields, as the metadata file holds them.
#[derive(Deserialize)]
#[serde(rename_all = "kebab-case")]
struct NameParts {
    variant: String,
    arch: Arch,
    version: Version,
    build_id: String,
}

impl TryFrom<NameParts> for ArtifactName {
    type Error = Error;

    fn try_from(parts: NameParts) -> Result<Self> {
        ArtifactName::new(&parts.variant, parts.arch, parts.version, &parts.build_id)
    }
}

/// Checks a value that ends up in file names: letters, digits and `allowed`, not empty, not
/// starting with `.` or `-`, no `..`.
fn check_part(field: &'static str, value: &str, allowed: &str) -> Result<()> {
    let ok = !value.is_empty()
        && !value.starts_with(['.', '-'])
        && !value.contains("..")
        && value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || allowed.contains(c));
    if ok {
        Ok(())
    } else {
        Err(Error::InvalidPart {
            field,
            value: value.to_string(),
            reason: format!("use letters, digits and `{allowed}`, not starting with `.` or `-`"),
        })
    }
}

impl ArtifactName {
    /// A checked name.
    ///
    /// # Errors
    /// [`Error::InvalidPart`] when the variant or build id holds characters file names must not
    /// (or is empty), or the version has a pre-release or build part.
    pub fn new(variant: &str, arch: Arch, version: Version, build_id: &str) -> Result<Self> {
        check_part("variant", variant, "-.")?;
        check_part("build id", build_id, "-._")?;
        if !version.pre.is_empty() || !version.build.is_empty() {
            return Err(Error::InvalidPart {
                field: "release version",
                value: version.to_string(),
                reason: "use plain X.Y.Z (three numbers)".into(),
            });
        }
        Ok(Self {
            variant: variant.to_string(),
            arch,
            version,
            build_id: build_id.to_string(),
        })
    }

    /// A name from text fields (an `X.Y.Z` version and an architecture name), as the image
    /// assembly input holds them.
    ///
    /// # Errors
    /// [`Error::InvalidPart`] for an unknown architecture, a version that is not `X.Y.Z`, or a
    /// variant or build id that cannot be in a file name.
    pub fn from_parts(variant: &str, arch: &str, version: &str, build_id: &str) -> Result<Self> {
        let arch = Arch::ALL
            .into_iter()
            .find(|a| a.name() == arch)
            .ok_or_else(|| Error::InvalidPart {
                field: "arch",
                value: arch.to_string(),
                reason: "twoliter builds x86_64 and aarch64".into(),
            })?;
        let version = Version::parse(version).map_err(|e| Error::InvalidPart {
            field: "release version",
            value: version.to_string(),
            reason: format!("it is not X.Y.Z (three numbers): {e}"),
        })?;
        Self::new(variant, arch, version, build_id)
    }

    /// `<version>-<build>`: the artifact directory's name, and the release name in update
    /// repositories and SSM parameters.
    pub fn release(&self) -> String {
        format!("{}-{}", self.version, self.build_id)
    }

    /// `bottlerocket-<variant>-<arch>`: the prefix of the friendly (unversioned) links.
    pub fn friendly(&self) -> String {
        format!("{PREFIX}{}-{}", self.variant, self.arch)
    }

    /// Parses `<version>-<build>` (an artifact directory's name).
    fn parse_release(text: &str) -> Option<(Version, &str)> {
        let (version, build) = text.split_once('-')?;
        let version = Version::parse(version).ok()?;
        Some((version, build))
    }

    /// The version and build id of an artifact directory named `<version>-<build>`, if the
    /// name is one.
    pub fn release_of(dir_name: &str) -> Option<(Version, String)> {
        let (version, build) = Self::parse_release(dir_name)?;
        check_part("build id", build, "-._").ok()?;
        Some((version, build.to_string()))
    }
}

impl fmt::Display for ArtifactName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.friendly(), self.release())
    }
}

impl FromStr for ArtifactName {
    type Err = Error;

    /// Parses `bottlerocket-<variant>-<arch>-<X.Y.Z>-<build>`. The architecture is the one
    /// followed by a version, so variants whose names hold an architecture still parse.
    fn from_str(text: &str) -> Result<Self> {
        let bad = |reason: &str| Error::InvalidName {
            name: text.to_string(),
            reason: reason.to_string(),
        };
        let rest = text
            .strip_prefix(PREFIX)
            .ok_or_else(|| bad("it does not start with `bottlerocket-`"))?;
        for arch in Arch::ALL {
            let marker = format!("-{arch}-");
            for (at, _) in rest.match_indices(&marker) {
                let (variant, release) = (&rest[..at], &rest[at + marker.len()..]);
                if let Some((version, build)) = Self::parse_release(release) {
                    return Self::new(variant, arch, version, build)
                        .map_err(|e| bad(&e.to_string()));
                }
            }
        }
        Err(bad(
            "no `-x86_64-` or `-aarch64-` followed by an X.Y.Z version and a build id",
        ))
    }
}

/// The files (and the one directory) of a build, by role.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ArtifactKind {
    /// The compressed OS disk, `<name>.img.lz4`.
    OsDisk,
    /// The compressed data disk of the split plan, `<name>-data.img.lz4`.
    DataDisk,
    /// The OS disk converted for a hypervisor, `<name>.qcow2` / `<name>.vmdk` (the raw format
    /// has no converted copy; it names the uncompressed `<name>.img`).
    ConvertedOsDisk(ImageFormat),
    /// The data disk converted for a hypervisor, `<name>-data.qcow2` / `<name>-data.vmdk`.
    ConvertedDataDisk(ImageFormat),
    /// The compressed BOOT filesystem, `<name>-boot.ext4.lz4`.
    Boot,
    /// The compressed ROOT filesystem, `<name>-root.<ext4|erofs>.lz4`.
    Root(RootFs),
    /// The compressed dm-verity hash image (the update payload), `<name>-root.verity.lz4`.
    Verity,
    /// The metadata file, `<name>.json`.
    Metadata,
    /// The directory of migrations (`migrations/`), whose files become update targets.
    Migrations,
    /// The packages in the image, `application-inventory.json` (written by the variant
    /// pipeline).
    Inventory,
    /// The AMIs registered from the build under its own name, `<name>-amis.json`
    /// ([`ArtifactDir::amis_file`](crate::ArtifactDir::amis_file) for another AMI name).
    Amis,
}

impl ArtifactKind {
    /// The file name of this artifact of the build `name`.
    pub fn file_name(self, name: &ArtifactName) -> String {
        let prefix = name.to_string();
        match self {
            ArtifactKind::OsDisk => format!("{prefix}.img.lz4"),
            ArtifactKind::DataDisk => format!("{prefix}-data.img.lz4"),
            ArtifactKind::ConvertedOsDisk(format) => {
                format!("{prefix}.{}", format.extension().unwrap_or("img"))
            }
            ArtifactKind::ConvertedDataDisk(format) => {
                format!("{prefix}-data.{}", format.extension().unwrap_or("img"))
            }
            ArtifactKind::Boot => format!("{prefix}-boot.ext4.lz4"),
            ArtifactKind::Root(fs) => format!("{prefix}-root.{}.lz4", fs.extension()),
            ArtifactKind::Verity => format!("{prefix}-root.verity.lz4"),
            ArtifactKind::Metadata => format!("{prefix}.json"),
            ArtifactKind::Migrations => "migrations".into(),
            ArtifactKind::Inventory => "application-inventory.json".into(),
            ArtifactKind::Amis => amis_file_name(&prefix),
        }
    }
}

/// `<ami name>-amis.json`; AMI names may hold `/` and spaces, which become `_`.
pub(crate) fn amis_file_name(ami_name: &str) -> String {
    let file: String = ami_name
        .chars()
        .map(|c| {
            if c == '/' || c.is_whitespace() {
                '_'
            } else {
                c
            }
        })
        .collect();
    format!("{file}-amis.json")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn name() -> ArtifactName {
        ArtifactName::new(
            "aws-k8s-1.31",
            Arch::X86_64,
            Version::new(1, 2, 3),
            "abc1234",
        )
        .unwrap()
    }

    #[test]
    fn displays_and_parses_back() {
        let text = "bottlerocket-aws-k8s-1.31-x86_64-1.2.3-abc1234";
        assert_eq!(name().to_string(), text);
        assert_eq!(text.parse::<ArtifactName>().unwrap(), name());
        let dirty: ArtifactName = "bottlerocket-metal-dev-aarch64-0.1.0-abc1234-dirty"
            .parse()
            .unwrap();
        assert_eq!(dirty.variant, "metal-dev");
        assert_eq!(dirty.arch, Arch::Aarch64);
        assert_eq!(dirty.build_id, "abc1234-dirty");
        assert_eq!(dirty.release(), "0.1.0-abc1234-dirty");
    }

    #[test]
    fn a_variant_holding_an_arch_name_still_parses() {
        let odd = ArtifactName::new(
            "lab-aarch64-edge",
            Arch::Aarch64,
            Version::new(1, 0, 0),
            "b",
        )
        .unwrap();
        assert_eq!(odd.to_string().parse::<ArtifactName>().unwrap(), odd);
    }

    #[test]
    fn friendly_and_unversioned_names_are_not_artifact_names() {
        for text in [
            "bottlerocket-aws-k8s-1.31-x86_64",
            "bottlerocket-aws-k8s-1.31-x86_64-1.2.3",
            "bottlerocket-aws-k8s-1.31-x86_64-1.2.3-",
            "bottlerocket-aws-k8s-1.31-riscv-1.2.3-abc",
            "aws-k8s-1.31-x86_64-1.2.3-abc",
        ] {
            let error = text.parse::<ArtifactName>().unwrap_err();
            assert!(error.to_string().contains(text), "{error}");
        }
    }

    #[test]
    fn parts_are_checked() {
        let v = Version::new(1, 0, 0);
        assert!(ArtifactName::new("", Arch::X86_64, v.clone(), "b").is_err());
        assert!(ArtifactName::new("../x", Arch::X86_64, v.clone(), "b").is_err());
        assert!(ArtifactName::new("a/b", Arch::X86_64, v.clone(), "b").is_err());
        assert!(ArtifactName::new("a", Arch::X86_64, v.clone(), "").is_err());
        assert!(ArtifactName::new("a", Arch::X86_64, v.clone(), "-x").is_err());
        let pre = Version::parse("1.0.0-rc.1").unwrap();
        let error = ArtifactName::new("a", Arch::X86_64, pre, "b").unwrap_err();
        assert!(error.to_string().contains("plain X.Y.Z"), "{error}");
        let error = ArtifactName::from_parts("a", "riscv64", "1.0.0", "b").unwrap_err();
        assert!(error.to_string().contains("arch `riscv64`"), "{error}");
        let error = ArtifactName::from_parts("a", "x86_64", "1.0", "b").unwrap_err();
        assert!(error.to_string().contains("three numbers"), "{error}");
        // The Debian spelling is not a file-name spelling.
        assert!(ArtifactName::from_parts("a", "amd64", "1.0.0", "b").is_err());
    }

    #[test]
    fn release_of_reads_directory_names() {
        assert_eq!(
            ArtifactName::release_of("1.2.3-abc-dirty"),
            Some((Version::new(1, 2, 3), "abc-dirty".into()))
        );
        for name in [
            "latest",
            "1.2.3",
            "1.2-abc",
            ".1.2.3-abc.partial-1",
            "1.2.3-.x",
        ] {
            assert_eq!(ArtifactName::release_of(name), None, "{name}");
        }
    }

    #[test]
    fn every_kind_has_the_name_image_assembly_writes() {
        let n = name();
        let p = "bottlerocket-aws-k8s-1.31-x86_64-1.2.3-abc1234";
        let cases = [
            (ArtifactKind::OsDisk, format!("{p}.img.lz4")),
            (ArtifactKind::DataDisk, format!("{p}-data.img.lz4")),
            (
                ArtifactKind::ConvertedOsDisk(ImageFormat::Qcow2),
                format!("{p}.qcow2"),
            ),
            (
                ArtifactKind::ConvertedDataDisk(ImageFormat::Vmdk),
                format!("{p}-data.vmdk"),
            ),
            (ArtifactKind::Boot, format!("{p}-boot.ext4.lz4")),
            (
                ArtifactKind::Root(RootFs::Ext4),
                format!("{p}-root.ext4.lz4"),
            ),
            (
                ArtifactKind::Root(RootFs::Erofs),
                format!("{p}-root.erofs.lz4"),
            ),
            (ArtifactKind::Verity, format!("{p}-root.verity.lz4")),
            (ArtifactKind::Metadata, format!("{p}.json")),
            (ArtifactKind::Migrations, "migrations".into()),
            (ArtifactKind::Inventory, "application-inventory.json".into()),
            (ArtifactKind::Amis, format!("{p}-amis.json")),
        ];
        for (kind, file) in cases {
            assert_eq!(kind.file_name(&n), file, "{kind:?}");
        }
        assert_eq!(n.friendly(), "bottlerocket-aws-k8s-1.31-x86_64");
        assert_eq!(amis_file_name("my ami/v1"), "my_ami_v1-amis.json");
    }

    #[test]
    fn deserializing_checks_the_parts() {
        let good = r#"{"variant":"a","arch":"aarch64","version":"1.0.0","build-id":"b"}"#;
        let name: ArtifactName = serde_json::from_str(good).unwrap();
        assert_eq!(name.arch, Arch::Aarch64);
        let bad = r#"{"variant":"a/b","arch":"aarch64","version":"1.0.0","build-id":"b"}"#;
        assert!(serde_json::from_str::<ArtifactName>(bad).is_err());
    }
}
