//! Variant manifests (`variants/<v>/variant.yaml`), the shared bases they inherit from
//! (`variants/shared/<base>.yaml`), and the resolved variant with every default filled in.

use crate::diagnostic::Diagnostic;
use crate::variant_name::VariantName;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;

/// CPU architectures images are built for.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema,
)]
#[cfg_attr(feature = "clap", derive(clap::ValueEnum))]
pub enum Arch {
    /// 64-bit x86.
    #[serde(rename = "x86_64")]
    #[cfg_attr(feature = "clap", value(name = "x86_64", alias = "amd64"))]
    X86_64,
    /// 64-bit ARM.
    #[serde(rename = "aarch64")]
    #[cfg_attr(feature = "clap", value(name = "aarch64", alias = "arm64"))]
    Aarch64,
}

impl Arch {
    /// Every architecture, in a stable order.
    pub const ALL: [Arch; 2] = [Arch::X86_64, Arch::Aarch64];

    /// The architecture of the machine this program runs on, if it is one we build for.
    pub fn host() -> Option<Arch> {
        Self::from_name(std::env::consts::ARCH)
    }

    /// The architecture with this name (`x86_64`, `aarch64`, or the Debian/Go spellings
    /// `amd64`, `arm64`).
    pub fn from_name(name: &str) -> Option<Arch> {
        match name {
            "amd64" => Some(Arch::X86_64),
            "arm64" => Some(Arch::Aarch64),
            _ => Self::ALL.into_iter().find(|arch| arch.name() == name),
        }
    }

    /// The architecture's name as RPM and the kernel spell it.
    pub fn name(self) -> &'static str {
        match self {
            Arch::X86_64 => "x86_64",
            Arch::Aarch64 => "aarch64",
        }
    }

    /// The architecture's name in EC2 (`RegisterImage`'s `Architecture`): `x86_64`, `arm64`.
    pub fn ec2_name(self) -> &'static str {
        match self {
            Arch::X86_64 => "x86_64",
            Arch::Aarch64 => "arm64",
        }
    }

    /// The architecture's name in OCI image platforms (GOARCH): `amd64`, `arm64`.
    pub fn oci_name(self) -> &'static str {
        match self {
            Arch::X86_64 => "amd64",
            Arch::Aarch64 => "arm64",
        }
    }
}

impl fmt::Display for Arch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The disk image format of the OS (and data) image.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
#[cfg_attr(feature = "clap", derive(clap::ValueEnum))]
pub enum ImageFormat {
    /// Raw disk images only (lz4-compressed as artifacts).
    #[default]
    Raw,
    /// Also QEMU copy-on-write v2 images.
    Qcow2,
    /// Also stream-optimized VMware disks.
    Vmdk,
}

impl ImageFormat {
    /// The file extension of a converted disk, `None` for raw (which is not converted).
    pub fn extension(self) -> Option<&'static str> {
        match self {
            ImageFormat::Raw => None,
            ImageFormat::Qcow2 => Some("qcow2"),
            ImageFormat::Vmdk => Some("vmdk"),
        }
    }
}

/// Where the DATA partition lives.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
#[cfg_attr(feature = "clap", derive(clap::ValueEnum))]
pub enum PartitionPlan {
    /// DATA on a second disk image.
    #[default]
    Split,
    /// DATA after PRIVATE on the OS disk.
    Unified,
}

/// Optional image features a variant turns on or off.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "kebab-case")]
pub enum ImageFeature {
    /// A/B partition banks so updates are written beside the running OS (default on).
    InPlaceUpdates,
    /// Host containers (admin/control) are available (default on).
    HostContainers,
    /// The root filesystem is erofs instead of ext4.
    ErofsRootPartition,
    /// Boot through signed shim/GRUB with UEFI Secure Boot.
    UefiSecureBoot,
    /// The data partition is XFS instead of ext4.
    XfsDataPartition,
    /// systemd-networkd manages the network instead of wicked.
    SystemdNetworkd,
    /// FIPS-validated cryptography.
    Fips,
}

impl ImageFeature {
    /// Every feature, in a stable order.
    pub const ALL: [ImageFeature; 7] = [
        ImageFeature::InPlaceUpdates,
        ImageFeature::HostContainers,
        ImageFeature::ErofsRootPartition,
        ImageFeature::UefiSecureBoot,
        ImageFeature::XfsDataPartition,
        ImageFeature::SystemdNetworkd,
        ImageFeature::Fips,
    ];

    /// Whether the feature is on when no manifest mentions it.
    pub fn default_enabled(self) -> bool {
        matches!(
            self,
            ImageFeature::InPlaceUpdates | ImageFeature::HostContainers
        )
    }

    /// The feature's name in manifests (`in-place-updates`).
    pub fn as_str(self) -> &'static str {
        match self {
            ImageFeature::InPlaceUpdates => "in-place-updates",
            ImageFeature::HostContainers => "host-containers",
            ImageFeature::ErofsRootPartition => "erofs-root-partition",
            ImageFeature::UefiSecureBoot => "uefi-secure-boot",
            ImageFeature::XfsDataPartition => "xfs-data-partition",
            ImageFeature::SystemdNetworkd => "systemd-networkd",
            ImageFeature::Fips => "fips",
        }
    }

    /// Whether image builds can turn the feature on yet; [`check_manifest`] refuses the others,
    /// so `twoliter check` says what the build would.
    pub fn buildable(self) -> bool {
        !matches!(
            self,
            ImageFeature::UefiSecureBoot | ImageFeature::XfsDataPartition
        )
    }
}

impl fmt::Display for ImageFeature {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// `image-layout` as written in a manifest: every key optional, missing keys inherited or defaulted.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct ImageLayoutManifest {
    /// Size of the OS disk image in GiB (default 2).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 1024))]
    pub os_image_size_gib: Option<u32>,
    /// Size of the data disk image (or unified DATA partition) in GiB (default 1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1))]
    pub data_image_size_gib: Option<u32>,
    /// `split` (DATA on its own disk; default) or `unified`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub partition_plan: Option<PartitionPlan>,
    /// Size in GiB of the volumes an image is published with (default 22).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 2))]
    pub publish_image_size_hint_gib: Option<u32>,
}

/// A variant manifest or a shared base, as written. Lists in `included-packages`, `kits`,
/// `kernel-parameters` and `settings-families` add to those inherited; every other key overrides what it inherits
/// (`image-layout` and `image-features` key by key).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct VariantManifest {
    /// Shared bases this manifest builds on, applied in order: each names
    /// `variants/shared/<name>.yaml`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub inherits: Vec<String>,
    /// Packages installed into the image (their dependencies come along).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub included_packages: Option<Vec<String>>,
    /// Kits the packages come from: local `kits/<name>` or a `[[kit]]` of Twoliter.toml.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kits: Option<Vec<String>>,
    /// Disk image format (default raw).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image_format: Option<ImageFormat>,
    /// Disk sizes and partition plan.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image_layout: Option<ImageLayoutManifest>,
    /// Architectures the variant builds for (default: all).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub supported_arches: Option<Vec<Arch>>,
    /// Kernel parameters, one per entry, placed before those twoliter adds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kernel_parameters: Option<Vec<String>>,
    /// Settings families the host API accepts (`motd`, `kubernetes`, ...; default: all).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub settings_families: Option<Vec<String>>,
    /// Image features turned on (`true`) or off (`false`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image_features: Option<BTreeMap<ImageFeature, bool>>,
    /// How `twoliter publish ami` registers the variant's AMIs (key by key over inherited values).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ami: Option<AmiManifest>,
}

/// `ami` as written in a manifest: every key optional.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct AmiManifest {
    /// `legacy-bios`, `uefi` or `uefi-preferred` [default: `uefi-preferred` with the
    /// `uefi-secure-boot` feature, else the EC2 default].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub boot_mode: Option<BootMode>,
    /// Whether instances get a NitroTPM 2.0 [default: with the `uefi-secure-boot` feature].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tpm: Option<bool>,
    /// Whether instances require IMDSv2 [default: true].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub imds_v2_only: Option<bool>,
    /// EBS volume type of the root and data volumes [default: `gp3`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = r"^(gp2|gp3|io1|io2|st1|sc1|standard)$"))]
    pub volume_type: Option<String>,
    /// Tags put on the AMIs and their snapshots (added to inherited ones).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tags: Option<BTreeMap<String, String>>,
}

/// An AMI's boot mode (EC2 `BootMode`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum BootMode {
    /// BIOS only.
    LegacyBios,
    /// UEFI only.
    Uefi,
    /// UEFI where the instance type supports it, else BIOS.
    UefiPreferred,
}

impl BootMode {
    /// The EC2 API value.
    pub fn as_str(self) -> &'static str {
        match self {
            BootMode::LegacyBios => "legacy-bios",
            BootMode::Uefi => "uefi",
            BootMode::UefiPreferred => "uefi-preferred",
        }
    }
}

/// Resolved AMI registration settings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub struct AmiSpec {
    /// Boot mode; `None` leaves EC2's default.
    pub boot_mode: Option<BootMode>,
    /// NitroTPM 2.0.
    pub tpm: bool,
    /// IMDSv2 required.
    pub imds_v2_only: bool,
    /// EBS volume type.
    pub volume_type: String,
    /// Tags on AMIs and snapshots.
    pub tags: BTreeMap<String, String>,
}

/// Resolved disk layout.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub struct ImageLayout {
    /// OS disk size in GiB.
    pub os_image_size_gib: u32,
    /// Data disk (or unified DATA partition) size in GiB.
    pub data_image_size_gib: u32,
    /// Where DATA lives.
    pub partition_plan: PartitionPlan,
    /// Published volume size hint in GiB.
    pub publish_image_size_hint_gib: u32,
}

impl Default for ImageLayout {
    fn default() -> Self {
        Self {
            os_image_size_gib: 2,
            data_image_size_gib: 1,
            partition_plan: PartitionPlan::Split,
            publish_image_size_hint_gib: 22,
        }
    }
}

/// A package a variant includes, and the manifest that included it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct IncludedPackage {
    /// Package name.
    pub name: String,
    /// The manifest (variant or shared base) that lists it, relative to the project root.
    pub from: PathBuf,
}

/// A variant with its bases applied and every default filled in.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub struct Variant {
    /// The variant's name (its directory under `variants/`).
    pub name: String,
    /// The name's parts.
    pub parts: VariantName,
    /// The variant's manifest, relative to the project root.
    pub manifest: PathBuf,
    /// Every shared base applied, in order of application.
    pub inherits: Vec<String>,
    /// Packages installed into the image, in the order listed.
    pub included_packages: Vec<IncludedPackage>,
    /// Kits the packages come from.
    pub kits: Vec<String>,
    /// Disk image format.
    pub image_format: ImageFormat,
    /// Disk layout.
    pub image_layout: ImageLayout,
    /// Architectures the variant builds for.
    pub supported_arches: Vec<Arch>,
    /// Kernel parameters from the manifests.
    pub kernel_parameters: Vec<String>,
    /// Settings families the host API accepts.
    pub settings_families: Vec<String>,
    /// Every image feature with its effective state.
    pub image_features: BTreeMap<ImageFeature, bool>,
    /// How the variant's AMIs are registered.
    pub ami: AmiSpec,
}

impl Variant {
    /// Whether a feature is on.
    pub fn feature(&self, feature: ImageFeature) -> bool {
        self.image_features
            .get(&feature)
            .copied()
            .unwrap_or(feature.default_enabled())
    }
}

/// Largest OS image, GiB.
pub const MAX_OS_IMAGE_GIB: u32 = 1024;
/// Largest data image, GiB.
pub const MAX_DATA_IMAGE_GIB: u32 = 65536;

/// Checks one kernel parameter: a single token, not one twoliter sets itself, quotes balanced.
pub fn check_kernel_parameter(parameter: &str) -> Result<(), String> {
    if parameter.is_empty() || parameter.chars().any(char::is_whitespace) {
        return Err(format!(
            "`{parameter}` is not one kernel parameter; write one parameter per entry, without spaces"
        ));
    }
    if !parameter.matches('"').count().is_multiple_of(2) {
        return Err(format!("`{parameter}` has an unbalanced `\"`"));
    }
    let reserved = parameter.starts_with("root=")
        || parameter.starts_with("dm-mod.create=")
        || parameter == "ro"
        || parameter == "rootwait";
    if reserved {
        return Err(format!(
            "`{parameter}` is set by twoliter itself; remove it (the root device and dm-verity table are generated)"
        ));
    }
    Ok(())
}

/// Checks the values of one manifest (variant or shared base) on their own, so each problem is
/// reported once, against the file and line that hold it.
pub fn check_manifest(
    manifest: &VariantManifest,
    shown: &std::path::Path,
    text: &str,
) -> Vec<Diagnostic> {
    let mut problems = Vec::new();
    for parameter in manifest.kernel_parameters.iter().flatten() {
        if let Err(message) = check_kernel_parameter(parameter) {
            problems.push(
                Diagnostic::new(shown, message)
                    .key("kernel-parameters")
                    .locate(text, parameter.split('=').next().unwrap_or(parameter))
                    .locate(text, "kernel-parameters"),
            );
        }
    }
    for family in manifest.settings_families.iter().flatten() {
        if !settings::is_family(family) {
            problems.push(
                Diagnostic::new(shown, format!("`{family}` is not a settings family"))
                    .key("settings-families")
                    .locate(text, family)
                    .hint(format!(
                        "use some of: {}",
                        settings::ALL_FAMILIES.join(", ")
                    )),
            );
        }
    }
    for (feature, on) in manifest.image_features.iter().flatten() {
        if *on && !feature.buildable() {
            problems.push(
                Diagnostic::new(
                    shown,
                    format!("image feature `{feature}` is not supported by image assembly yet"),
                )
                .key(format!("image-features.{feature}"))
                .locate(text, feature.as_str())
                .hint(format!(
                    "set `{feature}: false` or remove it from image-features"
                )),
            );
        }
    }
    if let Some(arches) = &manifest.supported_arches {
        if arches.is_empty() {
            problems.push(
                Diagnostic::new(
                    shown,
                    "the list is empty, so the variant builds for nothing",
                )
                .key("supported-arches")
                .locate(text, "supported-arches")
                .hint("list x86_64 and/or aarch64, or drop the key to support both"),
            );
        }
        for (i, arch) in arches.iter().enumerate() {
            if arches[..i].contains(arch) {
                problems.push(
                    Diagnostic::new(shown, format!("{arch} is listed twice"))
                        .key("supported-arches")
                        .locate(text, "supported-arches")
                        .hint("list each architecture once"),
                );
            }
        }
    }
    if let Some(layout) = &manifest.image_layout {
        let ranges = [
            (
                "os-image-size-gib",
                layout.os_image_size_gib,
                1,
                MAX_OS_IMAGE_GIB,
            ),
            (
                "data-image-size-gib",
                layout.data_image_size_gib,
                1,
                MAX_DATA_IMAGE_GIB,
            ),
            (
                "publish-image-size-hint-gib",
                layout.publish_image_size_hint_gib,
                2,
                u32::MAX,
            ),
        ];
        for (key, value, min, max) in ranges {
            if let Some(value) = value.filter(|v| !(min..=max).contains(v)) {
                problems.push(
                    Diagnostic::new(shown, format!("{value} GiB is outside {min}..={max}"))
                        .key(format!("image-layout.{key}"))
                        .locate(text, key)
                        .hint("give a size in whole GiB within the range"),
                );
            }
        }
    }
    problems
}

impl AmiManifest {
    /// The AMI settings with every default filled in; `uefi_secure_boot` makes the defaults
    /// uefi-preferred and TPM on.
    pub fn resolve(self, uefi_secure_boot: bool) -> AmiSpec {
        AmiSpec {
            boot_mode: self
                .boot_mode
                .or(uefi_secure_boot.then_some(BootMode::UefiPreferred)),
            tpm: self.tpm.unwrap_or(uefi_secure_boot),
            imds_v2_only: self.imds_v2_only.unwrap_or(true),
            volume_type: self.volume_type.unwrap_or_else(|| "gp3".into()),
            tags: self.tags.unwrap_or_default(),
        }
    }
}

impl Default for AmiSpec {
    /// The settings of a variant that sets no `ami` keys (and no `uefi-secure-boot`).
    fn default() -> Self {
        AmiManifest::default().resolve(false)
    }
}

/// The values gathered from a chain of manifests, before defaults.
#[derive(Debug, Default)]
pub(crate) struct Layered {
    pub inherits: Vec<String>,
    pub included_packages: Vec<IncludedPackage>,
    pub kits: Vec<String>,
    pub image_format: Option<ImageFormat>,
    pub layout: ImageLayoutManifest,
    pub supported_arches: Option<Vec<Arch>>,
    pub kernel_parameters: Vec<String>,
    pub settings_families: Vec<String>,
    pub image_features: BTreeMap<ImageFeature, bool>,
    pub ami: AmiManifest,
}

impl Layered {
    /// Applies one manifest on top of what was gathered so far.
    pub fn apply(&mut self, manifest: &VariantManifest, from: &std::path::Path) {
        fn add(list: &mut Vec<String>, more: &Option<Vec<String>>) {
            for item in more.iter().flatten() {
                if !list.contains(item) {
                    list.push(item.clone());
                }
            }
        }
        for name in manifest.included_packages.iter().flatten() {
            if !self.included_packages.iter().any(|p| &p.name == name) {
                self.included_packages.push(IncludedPackage {
                    name: name.clone(),
                    from: from.to_path_buf(),
                });
            }
        }
        add(&mut self.kits, &manifest.kits);
        add(&mut self.kernel_parameters, &manifest.kernel_parameters);
        add(&mut self.settings_families, &manifest.settings_families);
        if manifest.image_format.is_some() {
            self.image_format = manifest.image_format;
        }
        if let Some(layout) = &manifest.image_layout {
            let l = &mut self.layout;
            l.os_image_size_gib = layout.os_image_size_gib.or(l.os_image_size_gib);
            l.data_image_size_gib = layout.data_image_size_gib.or(l.data_image_size_gib);
            l.partition_plan = layout.partition_plan.or(l.partition_plan);
            l.publish_image_size_hint_gib = layout
                .publish_image_size_hint_gib
                .or(l.publish_image_size_hint_gib);
        }
        if manifest.supported_arches.is_some() {
            self.supported_arches = manifest.supported_arches.clone();
        }
        for (feature, on) in manifest.image_features.iter().flatten() {
            self.image_features.insert(*feature, *on);
        }
        if let Some(ami) = &manifest.ami {
            let a = &mut self.ami;
            a.boot_mode = ami.boot_mode.or(a.boot_mode);
            a.tpm = ami.tpm.or(a.tpm);
            a.imds_v2_only = ami.imds_v2_only.or(a.imds_v2_only);
            a.volume_type = ami.volume_type.clone().or(a.volume_type.take());
            for (key, value) in ami.tags.iter().flatten() {
                a.tags
                    .get_or_insert_with(BTreeMap::new)
                    .insert(key.clone(), value.clone());
            }
        }
    }

    /// Fills in defaults and checks the result; problems name the variant's manifest.
    pub fn resolve(
        self,
        name: &str,
        parts: VariantName,
        manifest: PathBuf,
        text: &str,
    ) -> Result<Variant, Vec<Diagnostic>> {
        let defaults = ImageLayout::default();
        let layout = ImageLayout {
            os_image_size_gib: self
                .layout
                .os_image_size_gib
                .unwrap_or(defaults.os_image_size_gib),
            data_image_size_gib: self
                .layout
                .data_image_size_gib
                .unwrap_or(defaults.data_image_size_gib),
            partition_plan: self
                .layout
                .partition_plan
                .unwrap_or(defaults.partition_plan),
            publish_image_size_hint_gib: self
                .layout
                .publish_image_size_hint_gib
                .unwrap_or(defaults.publish_image_size_hint_gib),
        };
        let problem = |key: &str, message: String, hint: &str| {
            Diagnostic::new(&manifest, message)
                .key(key)
                .locate(text, key.rsplit('.').next().unwrap_or(key))
                .hint(hint)
        };
        let mut problems = Vec::new();
        if layout.publish_image_size_hint_gib <= layout.os_image_size_gib {
            problems.push(problem(
                "image-layout.publish-image-size-hint-gib",
                format!(
                    "{} GiB leaves no room for data beside the {} GiB OS image",
                    layout.publish_image_size_hint_gib, layout.os_image_size_gib
                ),
                "the hint is the total published size: make it larger than os-image-size-gib",
            ));
        }
        let supported_arches = self.supported_arches.unwrap_or_else(|| Arch::ALL.to_vec());
        if self.included_packages.is_empty() {
            problems.push(problem(
                "included-packages",
                "the variant includes no packages".into(),
                "list the packages to install, or inherit a base that does",
            ));
        }
        if self.kits.is_empty() {
            problems.push(problem(
                "kits",
                "the variant names no kit to take packages from".into(),
                "add `kits: [core-kit]` or inherit a base that does",
            ));
        }
        if !problems.is_empty() {
            return Err(problems);
        }
        let image_features = ImageFeature::ALL
            .into_iter()
            .map(|f| {
                let on = self
                    .image_features
                    .get(&f)
                    .copied()
                    .unwrap_or(f.default_enabled());
                (f, on)
            })
            .collect::<BTreeMap<_, _>>();
        let ami = self
            .ami
            .resolve(image_features[&ImageFeature::UefiSecureBoot]);
        Ok(Variant {
            name: name.to_string(),
            parts,
            manifest,
            inherits: self.inherits,
            included_packages: self.included_packages,
            kits: self.kits,
            image_format: self.image_format.unwrap_or_default(),
            image_layout: layout,
            supported_arches,
            kernel_parameters: self.kernel_parameters,
            settings_families: if self.settings_families.is_empty() {
                settings::ALL_FAMILIES
                    .iter()
                    .map(|f| f.to_string())
                    .collect()
            } else {
                self.settings_families
            },
            image_features,
            ami,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ami_defaults_follow_secure_boot_and_keys_override_them() {
        let plain = AmiSpec::default();
        assert_eq!(plain.volume_type, "gp3");
        assert!(plain.imds_v2_only && !plain.tpm && plain.boot_mode.is_none());
        let secure = AmiManifest::default().resolve(true);
        assert_eq!(secure.boot_mode, Some(BootMode::UefiPreferred));
        assert!(secure.tpm);
        let overridden = AmiManifest {
            tpm: Some(false),
            ..AmiManifest::default()
        }
        .resolve(true);
        assert!(!overridden.tpm);
    }

    #[test]
    fn feature_names_are_the_manifest_spelling() {
        for feature in ImageFeature::ALL {
            let serialized = serde_json::to_value(feature).unwrap();
            assert_eq!(serialized.as_str(), Some(feature.as_str()));
            assert_eq!(feature.to_string(), feature.as_str());
        }
    }

    #[test]
    fn unbuildable_features_are_refused_where_they_are_turned_on() {
        let text = "image-features:\n  uefi-secure-boot: true\n  xfs-data-partition: false\n";
        let manifest: VariantManifest = serde_yaml::from_str(text).unwrap();
        let problems = check_manifest(&manifest, std::path::Path::new("v.yaml"), text);
        assert_eq!(problems.len(), 1, "{problems:?}");
        let shown = problems[0].to_string();
        assert!(
            shown.contains("`uefi-secure-boot` is not supported"),
            "{shown}"
        );
        assert!(shown.contains("v.yaml:2"), "{shown}");
    }

    #[test]
    fn arch_names_per_ecosystem() {
        let names: Vec<_> = Arch::ALL
            .iter()
            .map(|a| (a.name(), a.ec2_name(), a.oci_name()))
            .collect();
        assert_eq!(
            names,
            [("x86_64", "x86_64", "amd64"), ("aarch64", "arm64", "arm64")]
        );
        for arch in Arch::ALL {
            assert_eq!(Arch::from_name(arch.oci_name()), Some(arch));
        }
    }
}
