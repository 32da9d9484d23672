//! JSON Schemas for every manifest kind, generated from the Rust types. The copies checked in
//! under `schemas/` are what editors validate against; a test fails when they drift.

use crate::config::{Lockfile, TwoliterConfig};
use crate::infra::InfraConfig;
use crate::package::{KitManifest, PackageManifest};
use crate::variant::VariantManifest;
use std::path::Path;

/// The kinds of project file that have a schema.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SchemaKind {
    /// `Twoliter.toml`.
    Twoliter,
    /// `Twoliter.lock`.
    Lock,
    /// `variants/<v>/variant.yaml` and `variants/shared/<base>.yaml`.
    Variant,
    /// `kits/<kit>/kit.yaml`.
    Kit,
    /// `kits/<kit>/packages/<pkg>/package.yaml`.
    Package,
    /// `Infra.toml`.
    Infra,
}

impl SchemaKind {
    /// Every kind.
    pub const ALL: [SchemaKind; 6] = [
        SchemaKind::Twoliter,
        SchemaKind::Lock,
        SchemaKind::Variant,
        SchemaKind::Kit,
        SchemaKind::Package,
        SchemaKind::Infra,
    ];

    /// The schema's file name under `schemas/`.
    pub fn file_name(self) -> &'static str {
        match self {
            SchemaKind::Twoliter => "twoliter.schema.json",
            SchemaKind::Lock => "twoliter-lock.schema.json",
            SchemaKind::Variant => "variant.schema.json",
            SchemaKind::Kit => "kit.schema.json",
            SchemaKind::Package => "package.schema.json",
            SchemaKind::Infra => "infra.schema.json",
        }
    }

    /// The schema, rendered as pretty JSON with a trailing newline.
    pub fn render(self) -> String {
        let schema = match self {
            SchemaKind::Twoliter => schemars::schema_for!(TwoliterConfig),
            SchemaKind::Lock => schemars::schema_for!(Lockfile),
            SchemaKind::Variant => schemars::schema_for!(VariantManifest),
            SchemaKind::Kit => schemars::schema_for!(KitManifest),
            SchemaKind::Package => schemars::schema_for!(PackageManifest),
            SchemaKind::Infra => schemars::schema_for!(InfraConfig),
        };
        let mut text =
            serde_json::to_string_pretty(&schema).expect("a JSON Schema always serializes to JSON");
        text.push('\n');
        text
    }
}

/// Writes every schema into `dir` (normally `<project>/schemas`), creating it if needed; each
/// file is replaced atomically.
pub fn write_all(dir: &Path) -> Result<(), fsutil::IoError> {
    std::fs::create_dir_all(dir).map_err(fsutil::io_err("create", dir))?;
    for kind in SchemaKind::ALL {
        fsutil::atomic_write(&dir.join(kind.file_name()), kind.render().as_bytes(), 0o644)?;
    }
    Ok(())
}

/// Names the schema files in `dir` that are missing or differ from the generated ones.
pub fn stale(dir: &Path) -> Vec<&'static str> {
    SchemaKind::ALL
        .into_iter()
        .filter(|kind| {
            std::fs::read_to_string(dir.join(kind.file_name())).ok() != Some(kind.render())
        })
        .map(SchemaKind::file_name)
        .collect()
}
