//! `Twoliter.toml`, the project file, and `Twoliter.lock`, which pins the SDK and kits by digest.

use crate::diagnostic::{Diagnostic, Diagnostics};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::Path;

/// The only `schema-version` this release reads.
pub const SCHEMA_VERSION: u32 = 1;

/// The contents of `Twoliter.toml`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct TwoliterConfig {
    /// Version of this file's format; must be 1.
    pub schema_version: u32,
    /// The OS release version (`X.Y.Z`) stamped into images and update metadata.
    #[schemars(with = "String", regex(pattern = r"^\d+\.\d+\.\d+$"))]
    pub release_version: semver::Version,
    /// Container registries that SDKs and kits come from, by vendor name.
    #[serde(default)]
    pub vendor: BTreeMap<String, Vendor>,
    /// The build SDK container image.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sdk: Option<Sdk>,
    /// External kits this project consumes.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub kit: Vec<ExternalKit>,
}

/// A source of container images.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Vendor {
    /// Registry host and path prefix, without a scheme (`public.ecr.aws/bottlerocket`).
    pub registry: String,
}

/// The SDK image every package build runs in.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Sdk {
    /// Image name (`bottlerocket-sdk`).
    pub name: String,
    /// Image version.
    #[schemars(with = "String")]
    pub version: semver::Version,
    /// The vendor whose registry serves the image; not used when `local` is true.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vendor: Option<String>,
    /// The image is built on this machine by `twoliter sdk build` rather than pulled.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub local: bool,
}

/// A kit published by a vendor, consumed by this project's variants.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct ExternalKit {
    /// Kit name.
    pub name: String,
    /// Kit version.
    #[schemars(with = "String")]
    pub version: semver::Version,
    /// The vendor whose registry serves the kit.
    pub vendor: String,
}

/// The contents of `Twoliter.lock`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Lockfile {
    /// Version of this file's format; must be 1.
    pub schema_version: u32,
    /// The resolved SDK image.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sdk: Option<LockedImage>,
    /// The resolved external kits.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub kit: Vec<LockedImage>,
}

/// An image pinned by digest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct LockedImage {
    /// Image or kit name.
    pub name: String,
    /// Version.
    #[schemars(with = "String")]
    pub version: semver::Version,
    /// Vendor name; absent for a locally built SDK.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vendor: Option<String>,
    /// Full image reference the digest was resolved from.
    pub source: String,
    /// Content digest, `sha256:<64 hex digits>`.
    #[schemars(regex(pattern = r"^sha256:[0-9a-f]{64}$"))]
    pub digest: String,
}

/// True when `digest` is `sha256:` followed by 64 lowercase hex digits.
pub fn is_sha256_digest(digest: &str) -> bool {
    digest
        .strip_prefix("sha256:")
        .is_some_and(|hex| is_lower_hex(hex, 64))
}

/// True when `text` is exactly `len` lowercase hex digits.
pub fn is_lower_hex(text: &str, len: usize) -> bool {
    text.len() == len && text.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

impl TwoliterConfig {
    /// Checks what the types alone cannot: the schema version and references between tables.
    pub fn validate(&self, text: &str, shown: &Path, problems: &mut Diagnostics) {
        let version = &self.release_version;
        if !version.pre.is_empty() || !version.build.is_empty() {
            problems.push(
                Diagnostic::new(
                    shown,
                    format!("release version `{version}` is not plain X.Y.Z"),
                )
                .key("release-version")
                .locate(text, "release-version")
                .hint("drop the pre-release/build suffix; the build id is added to artifact names already"),
            );
        }
        if self.schema_version != SCHEMA_VERSION {
            problems.push(
                Diagnostic::new(
                    shown,
                    format!(
                        "schema version {} is not supported; this twoliter reads version {SCHEMA_VERSION}",
                        self.schema_version
                    ),
                )
                .key("schema-version")
                .locate(text, "schema-version")
                .hint(format!("set `schema-version = {SCHEMA_VERSION}`")),
            );
        }
        for (name, vendor) in &self.vendor {
            if vendor.registry.is_empty() || vendor.registry.contains("://") {
                problems.push(
                    Diagnostic::new(
                        shown,
                        format!("registry `{}` is not a registry host/path", vendor.registry),
                    )
                    .key(format!("vendor.{name}.registry"))
                    .locate(text, "registry")
                    .hint("write the host and path without a scheme, e.g. `public.ecr.aws/bottlerocket`"),
                );
            }
        }
        if let Some(sdk) = &self.sdk {
            match (&sdk.vendor, sdk.local) {
                (None, false) => problems.push(
                    Diagnostic::new(shown, "the SDK names no vendor and is not local")
                        .key("sdk")
                        .locate(text, "[sdk]")
                        .hint("add `vendor = \"<name>\"` naming a [vendor.<name>] table, or `local = true` for an SDK built by `twoliter sdk build`"),
                ),
                (Some(_), true) => problems.push(
                    Diagnostic::new(shown, "the SDK is both local and from a vendor")
                        .key("sdk")
                        .locate(text, "[sdk]")
                        .hint("keep `local = true` for an SDK built by `twoliter sdk build`, or `vendor = \"...\"` to pull it, not both"),
                ),
                (Some(vendor), false) => self.check_vendor(vendor, "sdk.vendor", text, shown, problems),
                (None, true) => {}
            }
        }
        let mut seen = BTreeMap::new();
        for (index, kit) in self.kit.iter().enumerate() {
            self.check_vendor(
                &kit.vendor,
                &format!("kit[{index}].vendor"),
                text,
                shown,
                problems,
            );
            if let Some(first) = seen.insert(kit.name.as_str(), index) {
                problems.push(
                    Diagnostic::new(
                        shown,
                        format!("kit `{}` is listed twice (also as kit[{first}])", kit.name),
                    )
                    .key(format!("kit[{index}].name"))
                    .hint("keep one [[kit]] entry per kit"),
                );
            }
        }
    }

    fn check_vendor(
        &self,
        vendor: &str,
        key: &str,
        text: &str,
        shown: &Path,
        problems: &mut Diagnostics,
    ) {
        if !self.vendor.contains_key(vendor) {
            problems.push(
                Diagnostic::new(shown, format!("vendor `{vendor}` is not defined"))
                    .key(key)
                    .locate(text, vendor)
                    .hint(format!(
                        "add a `[vendor.{vendor}]` table with `registry = \"...\"`"
                    )),
            );
        }
    }
}

impl TwoliterConfig {
    /// Whether the project pulls anything that `Twoliter.lock` must pin.
    pub fn needs_lock(&self) -> bool {
        !self.kit.is_empty() || self.sdk.as_ref().is_some_and(|sdk| !sdk.local)
    }
}

/// The first lines of `Twoliter.lock`.
const LOCK_HEADER: &str = "# Written by twoliter; pins the SDK and kits by digest. For a local SDK the digest is\n# that of its recipe (Debian suite and package list).\n";

impl Default for Lockfile {
    fn default() -> Self {
        Self {
            schema_version: SCHEMA_VERSION,
            sdk: None,
            kit: Vec::new(),
        }
    }
}

impl Lockfile {
    /// Pins `sdk`, keeping the kits; false when the lock pinned exactly that already.
    pub fn pin_sdk(&mut self, sdk: LockedImage) -> bool {
        if self.sdk.as_ref() == Some(&sdk) {
            return false;
        }
        self.sdk = Some(sdk);
        true
    }

    /// The text of `Twoliter.lock`: a header saying who writes it, then the TOML.
    pub fn to_text(&self) -> Result<String, toml::ser::Error> {
        Ok(format!("{LOCK_HEADER}{}", toml::to_string(self)?))
    }

    /// Checks the lock's own form, and that it pins exactly what `Twoliter.toml` asks for.
    pub fn validate(
        &self,
        config: &TwoliterConfig,
        text: &str,
        shown: &Path,
        problems: &mut Diagnostics,
    ) {
        let stale = |message: String| {
            Diagnostic::new(shown, message)
                .hint("run `twoliter update` to resolve Twoliter.toml again and rewrite the lock")
        };
        if self.schema_version != SCHEMA_VERSION {
            problems.push(
                Diagnostic::new(
                    shown,
                    format!("schema version {} is not supported", self.schema_version),
                )
                .key("schema-version")
                .locate(text, "schema-version")
                .hint(format!("set `schema-version = {SCHEMA_VERSION}`")),
            );
        }
        let locked = self.sdk.iter().chain(&self.kit);
        for image in locked {
            if !is_sha256_digest(&image.digest) {
                problems.push(
                    Diagnostic::new(
                        shown,
                        format!(
                            "digest `{}` of `{}` is not `sha256:` and 64 lowercase hex digits",
                            image.digest, image.name
                        ),
                    )
                    .key("digest")
                    .locate(text, &image.digest),
                );
            }
        }
        match (&config.sdk, &self.sdk) {
            (Some(want), Some(have))
                if want.name != have.name
                    || want.version != have.version
                    || want.vendor != have.vendor =>
            {
                problems.push(stale(format!(
                    "the lock pins SDK {} {} but Twoliter.toml asks for {} {}",
                    have.name, have.version, want.name, want.version
                )));
            }
            (None, Some(have)) => problems.push(stale(format!(
                "the lock pins SDK {} but Twoliter.toml has no [sdk]",
                have.name
            ))),
            (Some(want), None) if !want.local => problems.push(stale(format!(
                "Twoliter.toml asks for SDK {} {} but the lock pins no SDK",
                want.name, want.version
            ))),
            _ => {}
        }
        for want in &config.kit {
            match self.kit.iter().find(|have| have.name == want.name) {
                None => problems.push(stale(format!("kit `{}` is not in the lock", want.name))),
                Some(have)
                    if have.version != want.version
                        || have.vendor.as_deref() != Some(&want.vendor) =>
                {
                    problems.push(stale(format!(
                        "the lock pins kit `{}` {} but Twoliter.toml asks for {}",
                        want.name, have.version, want.version
                    )))
                }
                Some(_) => {}
            }
        }
        for have in &self.kit {
            if !config.kit.iter().any(|want| want.name == have.name) {
                problems.push(stale(format!(
                    "the lock pins kit `{}`, which Twoliter.toml no longer lists",
                    have.name
                )));
            }
        }
    }
}
