//! Kubernetes values: labels, taints, quantities, policies.

use super::net::{check_dns_name, LOWERCASE_DNS};
use super::{check_chars, check_length, show, IpAddress};
use schemars::gen::SchemaGenerator;
use schemars::schema::{InstanceType, Schema, SchemaObject, SubschemaValidation};
use schemars::JsonSchema;
use serde::de::{self, SeqAccess, Visitor};
use serde::ser::SerializeSeq;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;
use std::str::FromStr;

/// Checks the name part of a label key, or a non-empty label value: 1-63 characters of
/// `[A-Za-z0-9_.-]` starting and ending with a letter or digit.
fn check_label_name(name: &str, what: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err(format!("the {what} is empty"));
    }
    if name.len() > 63 {
        return Err(format!(
            "the {what} is {} characters long, more than 63",
            name.len()
        ));
    }
    check_chars(name, |c| {
        c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')
    })?;
    let alphanumeric = |c: Option<char>| c.is_some_and(|c| c.is_ascii_alphanumeric());
    if !alphanumeric(name.chars().next()) || !alphanumeric(name.chars().last()) {
        return Err(format!(
            "the {what} does not start and end with a letter or digit"
        ));
    }
    Ok(())
}

fn check_label_key(key: &str) -> Result<(), String> {
    match key.split_once('/') {
        Some((prefix, name)) => {
            check_dns_name(prefix, LOWERCASE_DNS)
                .map_err(|problem| format!("prefix {}: {problem}", show(prefix)))?;
            check_label_name(name, "name")
        }
        None => check_label_name(key, "name"),
    }
}

fn check_label_value(value: &str) -> Result<(), String> {
    if value.is_empty() {
        return Ok(());
    }
    check_label_name(value, "value")
}

fn check_taint_value(taint: &str) -> Result<(), String> {
    let Some((value, effect)) = taint.split_once(':') else {
        return Err("it has no `:Effect` part".to_owned());
    };
    check_label_value(value)?;
    match TaintEffect::from_str(effect) {
        Ok(_) => Ok(()),
        Err(_) => Err(format!(
            "effect {} is not one of {}",
            show(effect),
            TaintEffect::NAMES.join(", ")
        )),
    }
}

fn check_cluster_name(value: &str) -> Result<(), String> {
    check_length(value, 100)?;
    check_chars(value, |c| {
        c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')
    })?;
    if !value.starts_with(|c: char| c.is_ascii_alphanumeric()) {
        return Err("it does not start with a letter or digit".to_owned());
    }
    Ok(())
}

fn check_bootstrap_token(value: &str) -> Result<(), String> {
    let lower = |part: &str, len: usize| {
        part.len() == len
            && part
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
    };
    match value.split_once('.') {
        Some((id, secret)) if lower(id, 6) && lower(secret, 16) => Ok(()),
        _ => Err("it is not a 6-character ID, '.', and a 16-character secret".to_owned()),
    }
}

/// Splits a leading unsigned decimal number (`12`, `1.5`, `.5`) from the rest of `value`.
fn split_number(value: &str) -> Result<(&str, &str), String> {
    let end = value
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(value.len());
    let (number, rest) = value.split_at(end);
    if !number.chars().any(|c| c.is_ascii_digit()) || number.matches('.').count() > 1 {
        return Err(format!(
            "it does not start with a non-negative number (found {})",
            show(number)
        ));
    }
    Ok((number, rest))
}

fn check_quantity(value: &str) -> Result<(), String> {
    if value.is_empty() {
        return Err("it is empty".to_owned());
    }
    let (_, suffix) = split_number(value)?;
    let exponent = suffix
        .strip_prefix(['e', 'E'])
        .map(|exp| exp.strip_prefix(['+', '-']).unwrap_or(exp))
        .is_some_and(|digits| !digits.is_empty() && digits.chars().all(|c| c.is_ascii_digit()));
    let known = matches!(
        suffix,
        "" | "Ki"
            | "Mi"
            | "Gi"
            | "Ti"
            | "Pi"
            | "Ei"
            | "n"
            | "u"
            | "m"
            | "k"
            | "M"
            | "G"
            | "T"
            | "P"
            | "E"
    );
    if known || exponent {
        Ok(())
    } else {
        Err(format!("suffix {} is not a known unit", show(suffix)))
    }
}

fn check_eviction_threshold(value: &str) -> Result<(), String> {
    if let Some(percent) = value.strip_suffix('%') {
        let (number, rest) = split_number(percent)?;
        if !rest.is_empty() {
            return Err(format!("{} is not a percentage", show(value)));
        }
        return match number.parse::<f64>() {
            Ok(n) if n <= 100.0 => Ok(()),
            _ => Err("the percentage is more than 100".to_owned()),
        };
    }
    check_quantity(value)
}

fn check_provider_id(value: &str) -> Result<(), String> {
    check_length(value, 1024)?;
    if let Some(c) = value.chars().find(|c| c.is_whitespace() || c.is_control()) {
        return Err(format!("it contains {c:?}"));
    }
    let Some((provider, _)) = value.split_once("://") else {
        return Err("it has no `<provider>://` prefix".to_owned());
    };
    let mut chars = provider.chars();
    let valid = chars.next().is_some_and(|c| c.is_ascii_lowercase())
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
    if !valid {
        return Err(format!(
            "provider {} is not [a-z][a-z0-9-]*",
            show(provider)
        ));
    }
    Ok(())
}

validated_string! {
    /// A Kubernetes label (or taint) key: an optional DNS-subdomain prefix and `/`, then a name.
    pub struct KubernetesLabelKey {
        thing: "Kubernetes label key",
        expected: "an optional prefix (a lowercase DNS subdomain of at most 253 characters) and \
                   '/', then a name of 1-63 characters matching \
                   `[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?` (e.g. `example.com/role`)",
        max_length: 317,
        check: check_label_key,
    }
}

validated_string! {
    /// A Kubernetes label value: empty, or a name of 1-63 characters.
    pub struct KubernetesLabelValue {
        thing: "Kubernetes label value",
        expected: "an empty string or 1-63 characters matching \
                   `[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?`",
        pattern: "^([A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)?$",
        max_length: 63,
        check: check_label_value,
    }
}

validated_string! {
    /// A Kubernetes taint `value:Effect`, where value is a label value (possibly empty).
    pub struct KubernetesTaintValue {
        thing: "Kubernetes taint",
        expected: "`value:Effect` where value is empty or a label value and Effect is one of \
                   NoSchedule, PreferNoSchedule, NoExecute (e.g. `gpu:NoSchedule`)",
        pattern: "^([A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)?:(NoSchedule|PreferNoSchedule|NoExecute)$",
        check: check_taint_value,
    }
}

impl KubernetesTaintValue {
    /// The taint value (possibly empty).
    pub fn value(&self) -> &str {
        self.0.split_once(':').map_or("", |(value, _)| value)
    }

    /// The taint effect.
    pub fn effect(&self) -> TaintEffect {
        self.0
            .split_once(':')
            .and_then(|(_, effect)| effect.parse().ok())
            .unwrap_or(TaintEffect::NoSchedule)
    }
}

validated_string! {
    /// A Kubernetes cluster name.
    pub struct KubernetesClusterName {
        thing: "Kubernetes cluster name",
        expected: "1-100 characters of `[A-Za-z0-9_.-]` starting with a letter or digit",
        pattern: "^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$",
        check: check_cluster_name,
    }
}

validated_string! {
    /// A Kubernetes bootstrap token `<id>.<secret>`.
    pub struct KubernetesBootstrapToken {
        thing: "Kubernetes bootstrap token",
        expected: "6 characters of `[a-z0-9]`, '.', then 16 characters of `[a-z0-9]` \
                   (e.g. `abcdef.0123456789abcdef`)",
        pattern: "^[a-z0-9]{6}\\.[a-z0-9]{16}$",
        check: check_bootstrap_token,
    }
}

validated_string! {
    /// A Kubernetes resource quantity such as `100m`, `1Gi` or `128974848`.
    pub struct KubernetesQuantity {
        thing: "Kubernetes quantity",
        expected: "a non-negative number with an optional suffix Ki, Mi, Gi, Ti, Pi, Ei, n, u, \
                   m, k, M, G, T, P, E or an exponent such as e6 (e.g. `100m`, `1Gi`, `500M`)",
        check: check_quantity,
    }
}

validated_string! {
    /// An eviction threshold: a quantity or a percentage.
    pub struct EvictionThreshold {
        thing: "eviction threshold",
        expected: "a Kubernetes quantity such as `100Mi` or a percentage from 0% to 100% such as \
                   `10%`",
        check: check_eviction_threshold,
    }
}

validated_string! {
    /// A node's provider ID, `<provider>://<id>`.
    pub struct ProviderId {
        thing: "provider ID",
        expected: "`<provider>://<id>` without whitespace (e.g. \
                   `aws:///us-west-2a/i-0123456789abcdef0`)",
        check: check_provider_id,
    }
}

string_enum! {
    /// The effect of a Kubernetes taint.
    pub enum TaintEffect("taint effect") {
        /// Pods that do not tolerate the taint are not scheduled.
        NoSchedule => "NoSchedule",
        /// The scheduler avoids the node for pods that do not tolerate the taint.
        PreferNoSchedule => "PreferNoSchedule",
        /// Pods that do not tolerate the taint are evicted.
        NoExecute => "NoExecute",
    }
}

string_enum! {
    /// A kubelet eviction signal.
    pub enum EvictionSignal("eviction signal") {
        /// memory.available
        MemoryAvailable => "memory.available",
        /// nodefs.available
        NodefsAvailable => "nodefs.available",
        /// nodefs.inodesFree
        NodefsInodesFree => "nodefs.inodesFree",
        /// imagefs.available
        ImagefsAvailable => "imagefs.available",
        /// imagefs.inodesFree
        ImagefsInodesFree => "imagefs.inodesFree",
        /// pid.available
        PidAvailable => "pid.available",
    }
}

string_enum! {
    /// A resource that can be reserved for Kubernetes or system daemons.
    pub enum ReservedResource("reservable resource") {
        /// CPU.
        Cpu => "cpu",
        /// Memory.
        Memory => "memory",
        /// Local ephemeral storage.
        EphemeralStorage => "ephemeral-storage",
        /// Process IDs.
        Pid => "pid",
    }
}

string_enum! {
    /// How the kubelet authenticates to the API server.
    pub enum AuthenticationMode("authentication mode") {
        /// AWS IAM authentication.
        Aws => "aws",
        /// TLS client certificates (bootstrap token).
        Tls => "tls",
    }
}

string_enum! {
    /// The kubelet CPU manager policy.
    pub enum CpuManagerPolicy("CPU manager policy") {
        /// No CPU pinning.
        None => "none",
        /// Exclusive CPUs for guaranteed pods with integer CPU requests.
        Static => "static",
    }
}

string_enum! {
    /// The kubelet topology manager policy.
    pub enum TopologyManagerPolicy("topology manager policy") {
        /// No topology alignment.
        None => "none",
        /// Prefer NUMA-aligned resources.
        BestEffort => "best-effort",
        /// Reject pods that cannot be aligned.
        Restricted => "restricted",
        /// Require a single NUMA node.
        SingleNumaNode => "single-numa-node",
    }
}

string_enum! {
    /// The granularity at which the topology manager aligns resources.
    pub enum TopologyManagerScope("topology manager scope") {
        /// Per container.
        Container => "container",
        /// Per pod.
        Pod => "pod",
    }
}

/// The cluster DNS server: one IP address, or a list of them.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ClusterDnsIp {
    /// One address.
    Scalar(IpAddress),
    /// Several addresses.
    Vector(Vec<IpAddress>),
}

impl ClusterDnsIp {
    /// Every address, in order.
    pub fn addresses(&self) -> Vec<IpAddress> {
        match self {
            ClusterDnsIp::Scalar(ip) => vec![*ip],
            ClusterDnsIp::Vector(ips) => ips.clone(),
        }
    }
}

impl Serialize for ClusterDnsIp {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            ClusterDnsIp::Scalar(ip) => ip.serialize(serializer),
            ClusterDnsIp::Vector(ips) => {
                let mut seq = serializer.serialize_seq(Some(ips.len()))?;
                for ip in ips {
                    seq.serialize_element(ip)?;
                }
                seq.end()
            }
        }
    }
}

impl<'de> Deserialize<'de> for ClusterDnsIp {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct DnsVisitor;

        impl<'de> Visitor<'de> for DnsVisitor {
            type Value = ClusterDnsIp;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an IP address or a list of IP addresses")
            }

            fn visit_str<E: de::Error>(self, value: &str) -> Result<ClusterDnsIp, E> {
                IpAddress::try_from(value)
                    .map(ClusterDnsIp::Scalar)
                    .map_err(E::custom)
            }

            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<ClusterDnsIp, A::Error> {
                let mut ips = Vec::new();
                while let Some(ip) = seq.next_element::<IpAddress>()? {
                    ips.push(ip);
                }
                Ok(ClusterDnsIp::Vector(ips))
            }
        }

        deserializer.deserialize_any(DnsVisitor)
    }
}

impl JsonSchema for ClusterDnsIp {
    fn schema_name() -> String {
        "ClusterDnsIp".to_owned()
    }

    fn json_schema(generator: &mut SchemaGenerator) -> Schema {
        let one = generator.subschema_for::<IpAddress>();
        let list = SchemaObject {
            instance_type: Some(InstanceType::Array.into()),
            array: Some(Box::new(schemars::schema::ArrayValidation {
                items: Some(one.clone().into()),
                ..Default::default()
            })),
            ..Default::default()
        };
        let mut schema = SchemaObject {
            subschemas: Some(Box::new(SubschemaValidation {
                one_of: Some(vec![one, list.into()]),
                ..Default::default()
            })),
            ..Default::default()
        };
        schema.metadata().description =
            Some("Cluster DNS IP: an IP address or a list of IP addresses.".to_owned());
        schema.into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_keys() {
        for ok in [
            "no-prefix",
            "example.com/role",
            "a",
            &"a".repeat(63),
            &format!("{}/name", ["a"; 127].join(".")),
        ] {
            KubernetesLabelKey::try_from(ok).unwrap();
        }
        for bad in [
            "",
            ".bad",
            "bad.",
            "bad key",
            "a/b/c",
            "/name",
            "Example.com/x",
            &"a".repeat(64),
            &format!("{}/name", "a".repeat(254)),
        ] {
            assert!(KubernetesLabelKey::try_from(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn label_values_and_taints() {
        for ok in ["", "x", "more-chars_here.now", &"a".repeat(63)] {
            KubernetesLabelValue::try_from(ok).unwrap();
        }
        for bad in [".bad", "bad.", "a b", &"a".repeat(64)] {
            assert!(KubernetesLabelValue::try_from(bad).is_err(), "{bad}");
        }
        let taint = KubernetesTaintValue::try_from("gpu:NoExecute").unwrap();
        assert_eq!(
            (taint.value(), taint.effect()),
            ("gpu", TaintEffect::NoExecute)
        );
        KubernetesTaintValue::try_from(":NoSchedule").unwrap();
        for bad in [
            "value",
            "value:",
            ":",
            "-a:NoSchedule",
            "a:noschedule",
            "a:b:NoSchedule",
        ] {
            assert!(KubernetesTaintValue::try_from(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn quantities() {
        for ok in ["100m", "1Gi", "128974848", "129e6", "1.5", ".5Ki", "0"] {
            KubernetesQuantity::try_from(ok).unwrap();
        }
        for bad in ["", "Gi", "1GB", "1.2.3", "-1", "1e", "1 Gi"] {
            assert!(KubernetesQuantity::try_from(bad).is_err(), "{bad}");
        }
        for ok in ["10%", "100Mi", "0.5%"] {
            EvictionThreshold::try_from(ok).unwrap();
        }
        for bad in ["101%", "%", "10%%", "ten"] {
            assert!(EvictionThreshold::try_from(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn tokens_names_ids() {
        KubernetesBootstrapToken::try_from("abcdef.0123456789abcdef").unwrap();
        assert!(KubernetesBootstrapToken::try_from("ABCDEF.0123456789abcdef").is_err());
        KubernetesClusterName::try_from("my-cluster_1").unwrap();
        assert!(KubernetesClusterName::try_from("-x").is_err());
        ProviderId::try_from("aws:///us-west-2a/i-0123456789abcdef0").unwrap();
        assert!(ProviderId::try_from("i-0123").is_err());
    }
}
