//! The twoliter project model: `Twoliter.toml`, `Twoliter.lock`, variant, kit and package
//! manifests, their validation, and the JSON Schemas generated from them.
//!
//! [`Project::load`] reads a whole project and reports every problem it finds as a
//! [`Diagnostic`] naming the file, line, column and key, what is wrong and how to fix it.

pub mod build_id;
pub mod config;
pub mod diagnostic;
pub mod epoch;
pub mod infra;
pub mod layout;
pub mod package;
pub mod parse;
pub mod project;
pub mod schema;
pub mod variant;
pub mod variant_name;

pub use config::{ExternalKit, LockedImage, Lockfile, Sdk, TwoliterConfig, Vendor};
pub use diagnostic::{error_chain, Diagnostic, Diagnostics};
pub use epoch::{Epochs, InvalidEpoch};
pub use infra::{AwsConfig, Infra, InfraConfig, RepoConfig, SigningKeyConfig};
pub use layout::ProjectLayout;
pub use package::{DebianPackage, ExternalFile, KitManifest, Package, PackageManifest, RustTarget};
pub use project::{
    at, closest_name, discover, Kit, LockWriteError, Project, ProjectError, UnknownVariant,
};
pub use schema::SchemaKind;
pub use variant::{
    AmiManifest, AmiSpec, Arch, BootMode, ImageFeature, ImageFormat, ImageLayout, PartitionPlan,
    Variant, VariantManifest,
};
pub use variant_name::VariantName;
