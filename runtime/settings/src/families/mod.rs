//! The settings families: one struct per top-level key under `settings`.

mod containers;
mod host;
mod kubernetes;
mod platform;

pub use containers::{
    BootstrapContainer, ContainerRegistrySettings, HostContainer, OciDefaultsSettings,
    RegistryCredential, RegistryMirror, ResourceLimit,
};
pub use host::{
    BootSettings, KernelModule, KernelSettings, NetworkSettings, NtpSettings, PkiBundle,
    UpdatesSettings,
};
pub use kubernetes::KubernetesSettings;
pub use platform::{AwsSettings, EcsSettings, MetricsSettings};
