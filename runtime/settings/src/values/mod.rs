//! Validated value types used by the settings structs. Each one can only be built from a valid
//! value; deserializing anything else fails with a message saying what is wrong and what is
//! expected.

mod containers;
mod general;
mod kernel;
mod kubernetes;
mod net;

pub use containers::{
    BootstrapContainerMode, EcsAttributeKey, EcsAttributeValue, EcsClusterName,
    EcsImagePullBehavior, EcsLogLevel, ImageReference, LoggingDriver,
};
pub use general::{
    AwsRegion, Base64, FileMode, GoDuration, Identifier, PemBundle, Percent, ServiceName,
    SingleLineString, UpdateSeed, VersionLock,
};
pub use kernel::{
    BootConfigKey, BootConfigValue, Capability, KernelModuleName, Lockdown, ResourceLimitType,
    RlimitValue, SysctlKey,
};
pub use kubernetes::{
    AuthenticationMode, ClusterDnsIp, CpuManagerPolicy, EvictionSignal, EvictionThreshold,
    KubernetesBootstrapToken, KubernetesClusterName, KubernetesLabelKey, KubernetesLabelValue,
    KubernetesQuantity, KubernetesTaintValue, ProviderId, ReservedResource, TaintEffect,
    TopologyManagerPolicy, TopologyManagerScope,
};
pub use net::{
    DnsDomain, HostOrUrl, IpAddress, NoProxyEntry, ProxyAddress, RegistryHost, Url,
    ValidLinuxHostname,
};

/// A value that was rejected, with a message naming the kind of value, the offending value, what
/// is wrong with it and what is expected instead.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct InvalidValue {
    message: String,
}

impl InvalidValue {
    /// Builds the message `invalid <thing> "<value>": <problem>; expected <expected>`.
    pub(crate) fn new(thing: &str, value: &str, problem: &str, expected: &str) -> Self {
        Self {
            message: format!(
                "invalid {thing} {}: {problem}; expected {expected}",
                show(value)
            ),
        }
    }

    /// Wraps a complete message.
    pub(crate) fn from_message(message: String) -> Self {
        Self { message }
    }

    /// The full message.
    pub fn message(&self) -> &str {
        &self.message
    }
}

/// Quotes a value for an error message, shortening very long ones.
pub(crate) fn show(value: &str) -> String {
    const MAX_CHARS: usize = 64;
    let count = value.chars().count();
    if count <= MAX_CHARS {
        format!("{value:?}")
    } else {
        let head: String = value.chars().take(48).collect();
        format!("{head:?}… ({count} characters)")
    }
}

/// Names the first character of `value` that `allowed` rejects, as a problem description.
pub(crate) fn check_chars(value: &str, allowed: impl Fn(char) -> bool) -> Result<(), String> {
    match value.chars().find(|c| !allowed(*c)) {
        Some(c) => Err(format!("character {c:?} is not allowed")),
        None => Ok(()),
    }
}

/// Checks that `value` is not empty and at most `max` bytes long.
pub(crate) fn check_length(value: &str, max: usize) -> Result<(), String> {
    if value.is_empty() {
        Err("it is empty".to_owned())
    } else if value.len() > max {
        Err(format!(
            "it is {} characters long, more than {max}",
            value.len()
        ))
    } else {
        Ok(())
    }
}
