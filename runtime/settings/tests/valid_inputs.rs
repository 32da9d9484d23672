//! Valid settings deserialize, and round-trip through serde_json unchanged.

use serde_json::{json, Value};
use settings::values::{
    Capability, ClusterDnsIp, Lockdown, ResourceLimitType, RlimitValue, TaintEffect,
};
use settings::{validate_settings_json, Settings, ALL_FAMILIES};

/// Valid inputs. The flag says whether the input is already in canonical form, i.e. whether
/// serializing the parsed settings gives back exactly the input.
fn cases() -> Vec<(Value, bool)> {
    let pem = "LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0tCk1JSUJ4VENDQVd1Z0F3SUJBZ0lVCi0tLS0tRU5EIENFUlRJRklDQVRFLS0tLS0K";
    vec![
        (json!({}), true),
        (json!({"motd": "Welcome to Bottlerocket!\nHave fun."}), true),
        (
            json!({"updates": {
                "metadata-base-url": "https://updates.bottlerocket.aws/2020-07-07/aws-k8s-1.31/x86_64/",
                "targets-base-url": "https://updates.bottlerocket.aws/targets/",
                "seed": 1234,
                "version-lock": "v1.20.3",
                "ignore-waves": false
            }}),
            true,
        ),
        (
            json!({"updates": {"version-lock": "latest", "seed": 0}}),
            true,
        ),
        (
            json!({"host-containers": {
                "admin": {
                    "source": "public.ecr.aws/bottlerocket/bottlerocket-admin:v0.11.0",
                    "enabled": false,
                    "superpowered": true,
                    "user-data": "eyJzc2giOnsiYXV0aG9yaXplZC1rZXlzIjpbXX19"
                },
                "control": {
                    "source": "328549459982.dkr.ecr.us-west-2.amazonaws.com/bottlerocket-control:v0.7.0",
                    "enabled": true,
                    "superpowered": false
                },
                "my-custom-1": {"source": "localhost:5000/tools@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"}
            }}),
            true,
        ),
        (
            json!({"bootstrap-containers": {
                "setup-disks": {
                    "source": "registry.example.com/setup:1.0",
                    "mode": "once",
                    "essential": true,
                    "user-data": ""
                },
                "off-one": {"mode": "off"}
            }}),
            true,
        ),
        (
            json!({"network": {
                "hostname": "ip-10-0-0-1.us-west-2.compute.internal",
                "http-proxy": "http://proxy.example.com:3128",
                "https-proxy": "proxy.example.com:3128",
                "no-proxy": ["localhost", "127.0.0.1", ".cluster.local", "*.example.com", "10.0.0.0/8", "fd00::/8"]
            }}),
            true,
        ),
        (
            json!({"ntp": {"time-servers": ["169.254.169.123", "2.amazon.pool.ntp.org", "fd00:ec2::123", "ntp://time.example.com"], "options": ["minpoll 4", "maxpoll 5"]}}),
            true,
        ),
        (
            json!({"kernel": {
                "lockdown": "integrity",
                "sysctl": {"net.ipv4.ip_forward": "1", "net/ipv4/conf/eth0/rp_filter": "2", "vm.max_map_count": "262144"},
                "modules": {"sctp": {"allowed": false}, "nvidia_uvm": {"allowed": true}}
            }}),
            true,
        ),
        (
            json!({"boot": {
                "reboot-to-reconcile": true,
                "kernel-parameters": {"console": ["tty0", "ttyS1,115200n8"], "crashkernel": ["2G-:256M"], "usbcore.quirks": ["0781:5580:bk", "0a5c:5834:gij"], "mitigations": []},
                "init-parameters": {"log_level": ["debug"], "splash": []}
            }}),
            true,
        ),
        (
            json!({"pki": {"my-trusted-bundle": {"data": pem, "trusted": true}, "distrusted": {"data": pem, "trusted": false}}}),
            true,
        ),
        (
            json!({"container-registry": {
                "mirrors": [
                    {"registry": "docker.io", "endpoint": ["https://mirror1.example.com", "https://[fd00::1]:5000"]},
                    {"registry": "*", "endpoint": ["https://everything.example.com"]}
                ],
                "credentials": [
                    {"registry": "docker.io", "username": "user", "password": "p@ss word"},
                    {"registry": "registry.example.com:5000", "auth": "dXNlcjpwYXNz"},
                    {"registry": "quay.io", "identitytoken": "abc.def"}
                ]
            }}),
            true,
        ),
        (
            json!({"oci-defaults": {
                "capabilities": {"sys-admin": false, "net-raw": true, "chown": true},
                "resource-limits": {
                    "max-open-files": {"hard-limit": 1048576, "soft-limit": 65536},
                    "max-processes": {"hard-limit": "unlimited", "soft-limit": "unlimited"}
                }
            }}),
            true,
        ),
        (
            // Linux spellings and -1 are accepted, and normalised when serialized.
            json!({"oci-defaults": {
                "capabilities": {"CAP_SYS_ADMIN": true},
                "resource-limits": {"RLIMIT_NOFILE": {"hard-limit": -1, "soft-limit": 1024}}
            }}),
            false,
        ),
        (
            json!({"kubernetes": {
                "cluster-name": "my-cluster",
                "api-server": "https://ABCDEF0123456789.gr7.us-west-2.eks.amazonaws.com",
                "cluster-certificate": "LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0t",
                "cluster-dns-ip": "10.100.0.10",
                "cluster-domain": "cluster.local",
                "max-pods": 110,
                "authentication-mode": "aws",
                "standalone-mode": false,
                "pod-infra-container-image": "602401143452.dkr.ecr.us-west-2.amazonaws.com/eks/pause:3.9",
                "provider-id": "aws:///us-west-2a/i-0123456789abcdef0",
                "hostname-override": "ip-10-0-0-1.us-west-2.compute.internal"
            }}),
            true,
        ),
        (
            json!({"kubernetes": {
                "cluster-dns-ip": ["10.100.0.10", "fd00::a"],
                "node-labels": {"example.com/role": "web", "tier": "", "a.b-c_d": "x.y"},
                "node-taints": {"dedicated": ["gpu:NoSchedule", "cpu:PreferNoSchedule"], "example.com/special": [":NoExecute"]},
                "kube-reserved": {"cpu": "100m", "memory": "1Gi", "ephemeral-storage": "1Gi"},
                "system-reserved": {"cpu": "0.5", "pid": "1000"},
                "eviction-hard": {"memory.available": "100Mi", "nodefs.available": "10%", "nodefs.inodesFree": "5%"},
                "authentication-mode": "tls",
                "bootstrap-token": "abcdef.0123456789abcdef",
                "cpu-manager-policy": "static",
                "cpu-manager-reconcile-period": "10s",
                "topology-manager-policy": "single-numa-node",
                "topology-manager-scope": "pod",
                "image-gc-high-threshold-percent": 85,
                "image-gc-low-threshold-percent": 80,
                "shutdown-grace-period": "1m30s",
                "shutdown-grace-period-for-critical-pods": "30s",
                "container-log-max-size": "10Mi",
                "container-log-max-files": 5,
                "kube-api-qps": 10,
                "kube-api-burst": 20,
                "pod-pids-limit": -1,
                "server-tls-bootstrap": true
            }}),
            true,
        ),
        (
            json!({"ecs": {
                "cluster": "arn:aws:ecs:us-west-2:123456789012:cluster/my-cluster",
                "instance-attributes": {"attribute.name": "value one", "stack": "prod"},
                "allow-privileged-containers": false,
                "logging-drivers": ["json-file", "awslogs", "none"],
                "loglevel": "info",
                "enable-spot-instance-draining": true,
                "image-pull-behavior": "prefer-cached",
                "container-stop-timeout": "30s",
                "task-cleanup-wait": "3h",
                "metadata-service-rps": 40,
                "metadata-service-burst": 60,
                "reserved-memory": 32,
                "awsvpc-block-imds": true,
                "enable-container-metadata": true
            }}),
            true,
        ),
        (
            json!({"aws": {"region": "us-gov-west-1", "config": "W2RlZmF1bHRdCnJlZ2lvbiA9IHVzLXdlc3QtMgo=", "credentials": "", "profile": "default"}}),
            true,
        ),
        (
            json!({"metrics": {"metrics-url": "https://metrics.bottlerocket.aws/v1/metrics", "send-metrics": true, "service-checks": ["apiserver", "chronyd", "containerd", "host-containerd", "kubelet@1.service"]}}),
            true,
        ),
        // Explicit nulls mean "not given".
        (
            json!({"motd": null, "kubernetes": {"max-pods": null}}),
            false,
        ),
    ]
}

#[test]
fn valid_settings_deserialize_and_round_trip() {
    let cases = cases();
    assert!(cases.len() >= 15, "only {} cases", cases.len());
    for (input, canonical) in &cases {
        let settings = validate_settings_json(input, None)
            .unwrap_or_else(|err| panic!("rejected {input}: {err}"));
        let serialized = serde_json::to_value(&settings).unwrap();
        if *canonical {
            assert_eq!(&serialized, input, "serialization changed the input");
        }
        let again = validate_settings_json(&serialized, None)
            .unwrap_or_else(|err| panic!("re-reading {serialized} failed: {err}"));
        assert_eq!(again, settings, "round trip changed {input}");
        let text = serde_json::to_string(&settings).unwrap();
        assert_eq!(serde_json::from_str::<Settings>(&text).unwrap(), settings);
    }
}

#[test]
fn every_family_together_with_an_allow_list() {
    let mut all = serde_json::Map::new();
    for (input, _) in cases() {
        if let Value::Object(families) = input {
            all.extend(families.into_iter().filter(|(_, v)| !v.is_null()));
        }
    }
    let all = Value::Object(all);
    let settings = validate_settings_json(&all, Some(ALL_FAMILIES)).unwrap();
    let families: Vec<String> = serde_json::to_value(&settings)
        .unwrap()
        .as_object()
        .unwrap()
        .keys()
        .cloned()
        .collect();
    let mut expected: Vec<&str> = ALL_FAMILIES.to_vec();
    expected.sort_unstable();
    assert_eq!(families, expected);
}

#[test]
fn typed_access() {
    let input = json!({
        "kernel": {"lockdown": "confidentiality"},
        "kubernetes": {
            "max-pods": 58,
            "cluster-dns-ip": ["10.0.0.10", "10.0.0.11"],
            "node-taints": {"gpu": ["yes:NoExecute"]}
        },
        "oci-defaults": {
            "capabilities": {"CAP_NET_RAW": false},
            "resource-limits": {"max-open-files": {"hard-limit": "unlimited", "soft-limit": 4096}}
        },
        "updates": {"seed": 7, "version-lock": "1.2.3"},
        "ecs": {"task-cleanup-wait": "1h30m"}
    });
    let settings = validate_settings_json(&input, None).unwrap();
    assert_eq!(
        settings.kernel.unwrap().lockdown,
        Some(Lockdown::Confidentiality)
    );
    let kubernetes = settings.kubernetes.unwrap();
    assert_eq!(kubernetes.max_pods, Some(58));
    let dns = kubernetes.cluster_dns_ip.unwrap();
    assert!(matches!(dns, ClusterDnsIp::Vector(_)));
    assert_eq!(dns.addresses().len(), 2);
    let taints = kubernetes.node_taints.unwrap();
    let taint = &taints
        .get("gpu")
        .or_else(|| taints.values().next())
        .unwrap()[0];
    assert_eq!(
        (taint.value(), taint.effect()),
        ("yes", TaintEffect::NoExecute)
    );
    let oci = settings.oci_defaults.unwrap();
    assert!(!oci.capabilities.unwrap()[&Capability::NetRaw]);
    let limits = oci.resource_limits.unwrap();
    let nofile = &limits[&ResourceLimitType::MaxOpenFiles];
    assert_eq!(nofile.hard_limit, Some(RlimitValue::Unlimited));
    assert_eq!(nofile.soft_limit, Some(RlimitValue::Limit(4096)));
    let updates = settings.updates.unwrap();
    assert_eq!(updates.seed.unwrap().get(), 7);
    assert_eq!(
        updates.version_lock.unwrap().version(),
        Some(semver_1_2_3())
    );
    let wait = settings.ecs.unwrap().task_cleanup_wait.unwrap();
    assert_eq!(wait.to_std(), std::time::Duration::from_secs(5400));
}

fn semver_1_2_3() -> semver::Version {
    semver::Version::new(1, 2, 3)
}
