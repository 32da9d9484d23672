//! The Kubernetes (kubelet) family.

use crate::schema::map_of;
use crate::values::{
    AuthenticationMode, Base64, ClusterDnsIp, CpuManagerPolicy, DnsDomain, EvictionSignal,
    EvictionThreshold, GoDuration, ImageReference, KubernetesBootstrapToken, KubernetesClusterName,
    KubernetesLabelKey, KubernetesLabelValue, KubernetesQuantity, KubernetesTaintValue, Percent,
    ProviderId, ReservedResource, TopologyManagerPolicy, TopologyManagerScope, Url,
    ValidLinuxHostname,
};
use indexmap::IndexMap;

settings_struct! {
    /// `settings.kubernetes`: the kubelet and how it joins the cluster.
    pub struct KubernetesSettings {
        /// The cluster name.
        cluster_name: KubernetesClusterName,
        /// URL of the cluster's API server.
        api_server: Url,
        /// The cluster CA certificate, base64-encoded PEM.
        cluster_certificate: Base64,
        /// IP address(es) of the cluster DNS service.
        cluster_dns_ip: ClusterDnsIp,
        /// The cluster DNS domain (e.g. `cluster.local`).
        cluster_domain: DnsDomain,
        /// Labels registered on the node, by label key.
        #[schemars(schema_with = "map_of::<KubernetesLabelKey, KubernetesLabelValue>")]
        node_labels: IndexMap<KubernetesLabelKey, KubernetesLabelValue>,
        /// Taints registered on the node: key to a list of `value:Effect`.
        #[schemars(schema_with = "map_of::<KubernetesLabelKey, Vec<KubernetesTaintValue>>")]
        node_taints: IndexMap<KubernetesLabelKey, Vec<KubernetesTaintValue>>,
        /// Maximum number of pods on the node.
        max_pods: u32,
        /// Resources reserved for Kubernetes daemons (e.g. `cpu = "100m"`).
        #[schemars(schema_with = "map_of::<ReservedResource, KubernetesQuantity>")]
        kube_reserved: IndexMap<ReservedResource, KubernetesQuantity>,
        /// Resources reserved for system daemons.
        #[schemars(schema_with = "map_of::<ReservedResource, KubernetesQuantity>")]
        system_reserved: IndexMap<ReservedResource, KubernetesQuantity>,
        /// Hard eviction thresholds by signal (e.g. `"memory.available" = "100Mi"`).
        #[schemars(schema_with = "map_of::<EvictionSignal, EvictionThreshold>")]
        eviction_hard: IndexMap<EvictionSignal, EvictionThreshold>,
        /// The pause (pod infrastructure) container image.
        pod_infra_container_image: ImageReference,
        /// Run the kubelet without an API server.
        standalone_mode: bool,
        /// How the kubelet authenticates: `aws` or `tls`.
        authentication_mode: AuthenticationMode,
        /// Bootstrap token for TLS bootstrapping (with `authentication-mode = "tls"`).
        bootstrap_token: KubernetesBootstrapToken,
        /// The CPU manager policy.
        cpu_manager_policy: CpuManagerPolicy,
        /// How often the CPU manager reconciles.
        cpu_manager_reconcile_period: GoDuration,
        /// The topology manager policy.
        topology_manager_policy: TopologyManagerPolicy,
        /// The topology manager scope.
        topology_manager_scope: TopologyManagerScope,
        /// Disk usage (percent) above which image garbage collection always runs.
        image_gc_high_threshold_percent: Percent,
        /// Disk usage (percent) that image garbage collection frees down to.
        image_gc_low_threshold_percent: Percent,
        /// The node's provider ID (e.g. `aws:///us-west-2a/i-0123456789abcdef0`).
        provider_id: ProviderId,
        /// The node name to register instead of the host name.
        hostname_override: ValidLinuxHostname,
        /// How long the node delays shutdown for pods to terminate.
        shutdown_grace_period: GoDuration,
        /// The part of the shutdown grace period reserved for critical pods.
        shutdown_grace_period_for_critical_pods: GoDuration,
        /// Maximum size of a container log file before rotation (e.g. `10Mi`).
        container_log_max_size: KubernetesQuantity,
        /// Maximum number of rotated log files per container.
        container_log_max_files: u32,
        /// Queries per second to the API server.
        kube_api_qps: u32,
        /// Burst of queries to the API server.
        kube_api_burst: u32,
        /// Maximum number of process IDs per pod.
        pod_pids_limit: i64,
        /// Request a serving certificate from the cluster instead of a self-signed one.
        server_tls_bootstrap: bool,
    }
}
