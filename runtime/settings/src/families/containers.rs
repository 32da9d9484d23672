//! Container families: host and bootstrap containers, registries, OCI defaults.

use crate::schema::map_of;
use crate::values::{
    Base64, BootstrapContainerMode, Capability, ImageReference, RegistryHost, ResourceLimitType,
    RlimitValue, SingleLineString, Url,
};
use indexmap::IndexMap;

settings_struct! {
    /// `settings.host-containers.<name>`: a long-running host container such as `admin` or
    /// `control`.
    pub struct HostContainer {
        /// The container image.
        source: ImageReference,
        /// Whether the container runs.
        enabled: bool,
        /// Run with elevated privileges (host namespaces, all capabilities).
        superpowered: bool,
        /// Data passed to the container, base64-encoded.
        user_data: Base64,
    }
}

settings_struct! {
    /// `settings.bootstrap-containers.<name>`: a container that runs before the orchestrator
    /// starts.
    pub struct BootstrapContainer {
        /// The container image.
        source: ImageReference,
        /// When it runs: `off`, `once` or `always`.
        mode: BootstrapContainerMode,
        /// Whether boot fails when this container fails.
        essential: bool,
        /// Data passed to the container, base64-encoded.
        user_data: Base64,
    }
}

settings_struct! {
    /// One registry mirror.
    pub struct RegistryMirror {
        /// The registry being mirrored (e.g. `docker.io`, or `*` for all).
        registry: RegistryHost,
        /// Mirror endpoints, tried in order.
        endpoint: Vec<Url>,
    }
}

settings_struct! {
    /// Credentials for one registry.
    pub struct RegistryCredential {
        /// The registry these credentials are for.
        registry: RegistryHost,
        /// User name.
        username: SingleLineString,
        /// Password.
        password: SingleLineString,
        /// Base64 of `username:password`.
        auth: Base64,
        /// An identity token (OAuth refresh token).
        identitytoken: SingleLineString,
    }
}

settings_struct! {
    /// `settings.container-registry`: registry mirrors and credentials.
    pub struct ContainerRegistrySettings {
        /// Registry mirrors.
        mirrors: Vec<RegistryMirror>,
        /// Registry credentials.
        credentials: Vec<RegistryCredential>,
    }
}

settings_struct! {
    /// One resource limit of the default OCI spec.
    pub struct ResourceLimit {
        /// The hard limit (an integer or "unlimited").
        hard_limit: RlimitValue,
        /// The soft limit (an integer or "unlimited").
        soft_limit: RlimitValue,
    }
}

settings_struct! {
    /// `settings.oci-defaults`: defaults of the OCI spec for orchestrated containers.
    pub struct OciDefaultsSettings {
        /// Capabilities granted by default (`true`) or not (`false`).
        #[schemars(schema_with = "map_of::<Capability, bool>")]
        capabilities: IndexMap<Capability, bool>,
        /// Resource limits by limit name.
        #[schemars(schema_with = "map_of::<ResourceLimitType, ResourceLimit>")]
        resource_limits: IndexMap<ResourceLimitType, ResourceLimit>,
    }
}
