//! The typed settings model of the host: every settings family as a Rust struct with validated
//! value types, Bottlerocket-compatible (kebab-case keys under `settings`, unknown keys
//! rejected).
//!
//! * [`Settings`] is the object under `settings`. Every field is optional so that partial
//!   updates deserialize; absent keys mean "unchanged".
//! * [`validate_settings_json`] checks a JSON settings object, optionally against the families a
//!   variant offers, and reports the full dotted key of the first problem.
//! * [`schema`] and [`reference_markdown`] generate the JSON Schema checked in at
//!   `schemas/settings.schema.json` and the reference at `docs/settings-reference.md`.

#![warn(missing_docs)]

#[macro_use]
mod macros;

mod error;
pub mod families;
mod schema;
pub mod values;

pub use error::{quote_segment, SettingsError};
pub use families::*;
pub use schema::{reference_markdown, schema, schema_json, REFERENCE_PATH, SCHEMA_PATH};
pub use values::InvalidValue;

use indexmap::IndexMap;
use schema::map_of;
use values::Identifier;

/// Every settings family, i.e. every top-level key of [`Settings`], in declaration order.
pub const ALL_FAMILIES: &[&str] = &[
    "motd",
    "updates",
    "host-containers",
    "bootstrap-containers",
    "network",
    "ntp",
    "kernel",
    "boot",
    "pki",
    "container-registry",
    "oci-defaults",
    "kubernetes",
    "ecs",
    "aws",
    "metrics",
];

settings_struct! {
    /// The object under `settings`: one optional field per settings family.
    pub struct Settings {
        /// Message of the day, shown when logging in to the admin container.
        motd: String,
        /// OS update source and policy.
        updates: UpdatesSettings,
        /// Long-running host containers (such as `admin` and `control`), by name.
        #[schemars(schema_with = "map_of::<Identifier, HostContainer>")]
        host_containers: IndexMap<Identifier, HostContainer>,
        /// Containers run at boot before the orchestrator starts, by name.
        #[schemars(schema_with = "map_of::<Identifier, BootstrapContainer>")]
        bootstrap_containers: IndexMap<Identifier, BootstrapContainer>,
        /// Host name and proxies.
        network: NetworkSettings,
        /// Time synchronisation.
        ntp: NtpSettings,
        /// Kernel lockdown, sysctls and modules.
        kernel: KernelSettings,
        /// Kernel and init command line.
        boot: BootSettings,
        /// Certificate bundles to trust or distrust, by name.
        #[schemars(schema_with = "map_of::<Identifier, PkiBundle>")]
        pki: IndexMap<Identifier, PkiBundle>,
        /// Container registry mirrors and credentials.
        container_registry: ContainerRegistrySettings,
        /// Defaults of the OCI spec for orchestrated containers.
        oci_defaults: OciDefaultsSettings,
        /// The kubelet and how it joins the cluster.
        kubernetes: KubernetesSettings,
        /// The Amazon ECS agent.
        ecs: EcsSettings,
        /// AWS region and SDK configuration.
        aws: AwsSettings,
        /// Anonymous health metrics.
        metrics: MetricsSettings,
    }
}

/// Whether `name` is a settings family (an entry of [`ALL_FAMILIES`]).
pub fn is_family(name: &str) -> bool {
    ALL_FAMILIES.contains(&name)
}

/// Validates a JSON settings object (the object under `settings`, e.g.
/// `{"kubernetes": {"max-pods": 110}}`) and returns it typed.
///
/// When `allowed_families` is `Some`, top-level families outside it are rejected with an error
/// naming the family and listing the allowed ones (a variant declares its families as data).
/// Errors name the full dotted key, such as `settings.kubernetes.node-labels."bad key"`, say
/// what is wrong and what is expected.
pub fn validate_settings_json(
    value: &serde_json::Value,
    allowed_families: Option<&[&str]>,
) -> Result<Settings, SettingsError> {
    let serde_json::Value::Object(families) = value else {
        return Err(SettingsError::NotAnObject {
            found: error::json_kind(value),
        });
    };
    for family in families.keys() {
        let path = format!("settings.{}", quote_segment(family));
        let offered: Vec<String> = allowed_families
            .unwrap_or(ALL_FAMILIES)
            .iter()
            .map(|name| (*name).to_owned())
            .collect();
        if !is_family(family) {
            return Err(SettingsError::UnknownFamily {
                path,
                family: family.clone(),
                expected: offered,
            });
        }
        if !offered.contains(family) {
            return Err(SettingsError::FamilyNotAllowed {
                path,
                family: family.clone(),
                allowed: offered,
            });
        }
    }
    serde_path_to_error::deserialize(value).map_err(|err| SettingsError::Invalid {
        path: error::dotted_path(err.path()),
        message: err.inner().to_string(),
    })
}
