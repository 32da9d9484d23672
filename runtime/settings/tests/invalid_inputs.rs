//! Invalid settings are rejected with an error that names the full dotted key, says what is
//! wrong and what is expected.

use serde_json::{json, Value};
use settings::{validate_settings_json, SettingsError};

/// One invalid input: the settings object, the families allowed (if restricted), the dotted key
/// the error must name, and fragments the message must contain.
struct Case {
    input: Value,
    allowed: Option<&'static [&'static str]>,
    path: String,
    says: &'static [&'static str],
}

fn case(input: Value, path: &str, says: &'static [&'static str]) -> Case {
    Case {
        input,
        allowed: None,
        path: path.to_owned(),
        says,
    }
}

fn cases() -> Vec<Case> {
    let long_hostname = vec!["a".repeat(63); 4].join(".");
    let long_label = format!("{}.example.com", "a".repeat(64));
    let long_label_key = format!("example.com/{}", "n".repeat(64));
    let not_pem = "aGVsbG8gd29ybGQ="; // "hello world"
    vec![
        // The settings object itself and its families.
        case(
            json!([]),
            "settings",
            &["expected an object", "found an array"],
        ),
        case(
            json!({"kubernetes": {}, "bogus": {}}),
            "settings.bogus",
            &["unknown settings family `bogus`", "kubernetes", "motd"],
        ),
        Case {
            input: json!({"ecs": {"cluster": "default"}}),
            allowed: Some(&["motd", "kubernetes", "aws"]),
            path: "settings.ecs".to_owned(),
            says: &[
                "`ecs` settings family is not available",
                "allowed families: motd, kubernetes, aws",
            ],
        },
        Case {
            input: json!({"motd": "hi", "kubernetes": {"max-pods": 10}}),
            allowed: Some(&["motd", "ecs"]),
            path: "settings.kubernetes".to_owned(),
            says: &["`kubernetes` settings family is not available", "motd, ecs"],
        },
        Case {
            input: json!({"frobnicate": 1}),
            allowed: Some(&["motd"]),
            path: "settings.frobnicate".to_owned(),
            says: &["unknown settings family", "expected one of: motd"],
        },
        case(
            json!({"motd": 5}),
            "settings.motd",
            &["invalid type: integer `5`", "expected a string"],
        ),
        // updates
        case(
            json!({"updates": {"seeds": 1}}),
            "settings.updates.seeds",
            &["unknown field `seeds`", "expected one of", "`seed`"],
        ),
        case(
            json!({"updates": {"seed": 2048}}),
            "settings.updates.seed",
            &["invalid update seed 2048", "out of range", "from 0 to 2047"],
        ),
        case(
            json!({"updates": {"seed": -1}}),
            "settings.updates.seed",
            &["out of range", "from 0 to 2047"],
        ),
        case(
            json!({"updates": {"seed": "5"}}),
            "settings.updates.seed",
            &[
                "invalid type: string \"5\"",
                "expected an integer from 0 to 2047",
            ],
        ),
        case(
            json!({"updates": {"metadata-base-url": "updates.example.com/metadata"}}),
            "settings.updates.metadata-base-url",
            &["invalid URL", "no scheme", "expected an absolute URL"],
        ),
        case(
            json!({"updates": {"targets-base-url": "https://exa mple.com/"}}),
            "settings.updates.targets-base-url",
            &["invalid URL", "' '"],
        ),
        case(
            json!({"updates": {"version-lock": "newest"}}),
            "settings.updates.version-lock",
            &["invalid version lock", "`latest` or a semantic version"],
        ),
        case(
            json!({"updates": {"ignore-waves": "yes"}}),
            "settings.updates.ignore-waves",
            &["invalid type: string \"yes\"", "expected a boolean"],
        ),
        // host and bootstrap containers
        case(
            json!({"host-containers": {"my_admin": {"enabled": true}}}),
            "settings.host-containers.my_admin",
            &["invalid name", "'_' is not allowed", "[A-Za-z0-9-]"],
        ),
        case(
            json!({"host-containers": {"admin": {"source": "registry.example.com/Admin:v1"}}}),
            "settings.host-containers.admin.source",
            &[
                "invalid image reference",
                "'A' is not allowed",
                "lowercase repository path",
            ],
        ),
        case(
            json!({"host-containers": {"admin": {"superpower": true}}}),
            "settings.host-containers.admin.superpower",
            &["unknown field `superpower`", "`superpowered`"],
        ),
        case(
            json!({"host-containers": {"control": {"user-data": "not base64!"}}}),
            "settings.host-containers.control.user-data",
            &[
                "invalid base64 value",
                "' ' is not allowed",
                "standard base64",
            ],
        ),
        case(
            json!({"bootstrap-containers": {"setup": {"mode": "sometimes"}}}),
            "settings.bootstrap-containers.setup.mode",
            &[
                "invalid bootstrap container mode \"sometimes\"",
                "one of off, once, always",
            ],
        ),
        case(
            json!({"bootstrap-containers": {"setup": {"essential": "true"}}}),
            "settings.bootstrap-containers.setup.essential",
            &["invalid type", "expected a boolean"],
        ),
        // network and ntp
        case(
            json!({"network": {"hostname": long_hostname}}),
            "settings.network.hostname",
            &["invalid hostname", "more than 253", "1-253 characters"],
        ),
        case(
            json!({"network": {"hostname": long_label}}),
            "settings.network.hostname",
            &["more than 63", "each 1-63 characters"],
        ),
        case(
            json!({"network": {"hostname": "My_Host"}}),
            "settings.network.hostname",
            &["'M' is not allowed", "[a-z0-9-]"],
        ),
        case(
            json!({"network": {"https-proxy": "ftp://proxy.example.com"}}),
            "settings.network.https-proxy",
            &[
                "invalid proxy address",
                "not one of http, https",
                "proxy.example.com:3128",
            ],
        ),
        case(
            json!({"network": {"no-proxy": ["localhost", "10.0.0.0/40"]}}),
            "settings.network.no-proxy[1]",
            &[
                "invalid no-proxy entry",
                "prefix length \"40\"",
                "CIDR block",
            ],
        ),
        case(
            json!({"ntp": {"time-servers": ["bad host"]}}),
            "settings.ntp.time-servers[0]",
            &["invalid server address", "' '"],
        ),
        // kernel and boot
        case(
            json!({"kernel": {"lockdown": "full"}}),
            "settings.kernel.lockdown",
            &[
                "invalid kernel lockdown mode \"full\"",
                "none, integrity, confidentiality",
            ],
        ),
        case(
            json!({"kernel": {"sysctl": {"net..ipv4": "1"}}}),
            "settings.kernel.sysctl.\"net..ipv4\"",
            &["invalid sysctl key", "empty path segment"],
        ),
        case(
            json!({"kernel": {"sysctl": {"net.ipv4 forward": "1"}}}),
            "settings.kernel.sysctl.\"net.ipv4 forward\"",
            &["invalid sysctl key", "' ' is not allowed", "[a-z0-9_./-]"],
        ),
        case(
            json!({"kernel": {"sysctl": {".net.ipv4": "1"}}}),
            "settings.kernel.sysctl.\".net.ipv4\"",
            &["starts or ends with '.'"],
        ),
        case(
            json!({"kernel": {"sysctl": {"net.ipv4.ip_forward": "1\nkernel.x = 2"}}}),
            "settings.kernel.sysctl.\"net.ipv4.ip_forward\"",
            &["line break", "without line breaks"],
        ),
        case(
            json!({"kernel": {"modules": {"sctp": {"allowed": "no"}}}}),
            "settings.kernel.modules.sctp.allowed",
            &["invalid type", "expected a boolean"],
        ),
        case(
            json!({"kernel": {"modules": {"sctp": {"blocked": true}}}}),
            "settings.kernel.modules.sctp.blocked",
            &["unknown field `blocked`", "`allowed`"],
        ),
        case(
            json!({"boot": {"kernel-parameters": {"console": "tty0"}}}),
            "settings.boot.kernel-parameters.console",
            &["invalid type: string \"tty0\"", "expected a sequence"],
        ),
        case(
            json!({"boot": {"init-parameters": {"a..b": []}}}),
            "settings.boot.init-parameters.\"a..b\"",
            &["invalid boot parameter name", "empty"],
        ),
        case(
            json!({"pki": {"my-ca": {"data": not_pem, "trusted": true}}}),
            "settings.pki.my-ca.data",
            &["invalid PEM bundle", "without a `-----BEGIN", "PEM blocks"],
        ),
        // container-registry and oci-defaults
        case(
            json!({"container-registry": {"mirrors": [
                {"registry": "docker.io", "endpoint": ["https://m.example.com", "mirror"]}
            ]}}),
            "settings.container-registry.mirrors[0].endpoint[1]",
            &["invalid URL \"mirror\"", "no scheme"],
        ),
        case(
            json!({"container-registry": {"credentials": [
                {"registry": "docker.io", "auth": "dXNlcjpwYXNz"},
                {"registry": "quay.io", "token": "x"}
            ]}}),
            "settings.container-registry.credentials[1].token",
            &["unknown field `token`", "`identitytoken`"],
        ),
        case(
            json!({"container-registry": {"credentials": [{"registry": "bad host"}]}}),
            "settings.container-registry.credentials[0].registry",
            &["invalid registry host", "' '"],
        ),
        case(
            json!({"oci-defaults": {"capabilities": {"CAP_FLY": true}}}),
            "settings.oci-defaults.capabilities.CAP_FLY",
            &[
                "invalid capability \"CAP_FLY\"",
                "sys-admin",
                "CAP_SYS_ADMIN",
            ],
        ),
        case(
            json!({"oci-defaults": {"resource-limits": {"max-open-files": {"hard-limit": "infinite"}}}}),
            "settings.oci-defaults.resource-limits.max-open-files.hard-limit",
            &[
                "invalid resource limit value \"infinite\"",
                "non-negative integer or \"unlimited\"",
            ],
        ),
        case(
            json!({"oci-defaults": {"resource-limits": {"max-files": {"hard-limit": 10}}}}),
            "settings.oci-defaults.resource-limits.max-files",
            &["invalid resource limit \"max-files\"", "max-open-files"],
        ),
        // kubernetes
        case(
            json!({"kubernetes": {"node-labels": {"bad key": "x"}}}),
            "settings.kubernetes.node-labels.\"bad key\"",
            &[
                "invalid Kubernetes label key",
                "' ' is not allowed",
                "an optional prefix",
            ],
        ),
        case(
            json!({"kubernetes": {"node-labels": {long_label_key.clone(): "x"}}}),
            &format!("settings.kubernetes.node-labels.\"{long_label_key}\""),
            &["more than 63"],
        ),
        case(
            json!({"kubernetes": {"node-labels": {"Example.com/role": "x"}}}),
            "settings.kubernetes.node-labels.\"Example.com/role\"",
            &["prefix \"Example.com\"", "'E' is not allowed"],
        ),
        case(
            json!({"kubernetes": {"node-labels": {"example.com/role": "-web"}}}),
            "settings.kubernetes.node-labels.\"example.com/role\"",
            &[
                "invalid Kubernetes label value",
                "start and end with a letter or digit",
            ],
        ),
        case(
            json!({"kubernetes": {"node-taints": {"dedicated": ["gpu:NoSchedule", "gpu:NoRun"]}}}),
            "settings.kubernetes.node-taints.dedicated[1]",
            &[
                "invalid Kubernetes taint",
                "effect \"NoRun\"",
                "NoSchedule, PreferNoSchedule, NoExecute",
            ],
        ),
        case(
            json!({"kubernetes": {"node-taints": {"dedicated": "gpu:NoSchedule"}}}),
            "settings.kubernetes.node-taints.dedicated",
            &["invalid type", "expected a sequence"],
        ),
        case(
            json!({"kubernetes": {"max-pods": -1}}),
            "settings.kubernetes.max-pods",
            &["invalid value: integer `-1`", "expected u32"],
        ),
        case(
            json!({"kubernetes": {"cluster-dns-ip": "10.100.0"}}),
            "settings.kubernetes.cluster-dns-ip",
            &["invalid IP address \"10.100.0\"", "IPv4 address such as"],
        ),
        case(
            json!({"kubernetes": {"cluster-dns-ip": ["10.100.0.10", "fd00::zz"]}}),
            "settings.kubernetes.cluster-dns-ip[1]",
            &["invalid IP address \"fd00::zz\""],
        ),
        case(
            json!({"kubernetes": {"cluster-dns-ip": 10}}),
            "settings.kubernetes.cluster-dns-ip",
            &["expected an IP address or a list of IP addresses"],
        ),
        case(
            json!({"kubernetes": {"api-server": "https://"}}),
            "settings.kubernetes.api-server",
            &["invalid URL", "no host"],
        ),
        case(
            json!({"kubernetes": {"cluster-certificate": "abc"}}),
            "settings.kubernetes.cluster-certificate",
            &["invalid base64 value", "not a multiple of 4"],
        ),
        case(
            json!({"kubernetes": {"authentication-mode": "oidc"}}),
            "settings.kubernetes.authentication-mode",
            &["invalid authentication mode \"oidc\"", "one of aws, tls"],
        ),
        case(
            json!({"kubernetes": {"bootstrap-token": "abcdef-0123456789abcdef"}}),
            "settings.kubernetes.bootstrap-token",
            &["invalid Kubernetes bootstrap token", "16 characters"],
        ),
        case(
            json!({"kubernetes": {"image-gc-high-threshold-percent": 150}}),
            "settings.kubernetes.image-gc-high-threshold-percent",
            &["invalid percentage 150", "from 0 to 100"],
        ),
        case(
            json!({"kubernetes": {"cpu-manager-reconcile-period": "10"}}),
            "settings.kubernetes.cpu-manager-reconcile-period",
            &["invalid duration \"10\"", "has no unit", "`1h30m`"],
        ),
        case(
            json!({"kubernetes": {"shutdown-grace-period": "30 seconds"}}),
            "settings.kubernetes.shutdown-grace-period",
            &["invalid duration", "unit \" seconds\""],
        ),
        case(
            json!({"kubernetes": {"kube-reserved": {"gpu": "1"}}}),
            "settings.kubernetes.kube-reserved.gpu",
            &[
                "invalid reservable resource \"gpu\"",
                "cpu, memory, ephemeral-storage, pid",
            ],
        ),
        case(
            json!({"kubernetes": {"system-reserved": {"memory": "1GB"}}}),
            "settings.kubernetes.system-reserved.memory",
            &["invalid Kubernetes quantity \"1GB\"", "suffix \"GB\"", "Mi"],
        ),
        case(
            json!({"kubernetes": {"eviction-hard": {"memory.free": "100Mi"}}}),
            "settings.kubernetes.eviction-hard.\"memory.free\"",
            &["invalid eviction signal", "memory.available"],
        ),
        case(
            json!({"kubernetes": {"eviction-hard": {"nodefs.available": "110%"}}}),
            "settings.kubernetes.eviction-hard.\"nodefs.available\"",
            &["invalid eviction threshold", "more than 100"],
        ),
        case(
            json!({"kubernetes": {"cluster_name": "x"}}),
            "settings.kubernetes.cluster_name",
            &["unknown field `cluster_name`", "`cluster-name`"],
        ),
        case(
            json!({"kubernetes": {"cluster-domain": "-bad.local"}}),
            "settings.kubernetes.cluster-domain",
            &["invalid DNS domain name", "starts or ends with '-'"],
        ),
        case(
            json!({"kubernetes": {"pod-infra-container-image": "pause:"}}),
            "settings.kubernetes.pod-infra-container-image",
            &["invalid image reference", "tag \"\""],
        ),
        // ecs, aws, metrics
        case(
            json!({"ecs": {"loglevel": "verbose"}}),
            "settings.ecs.loglevel",
            &["invalid ECS log level", "debug, info, warn, error, crit"],
        ),
        case(
            json!({"ecs": {"image-pull-behavior": "never"}}),
            "settings.ecs.image-pull-behavior",
            &["default, always, once, prefer-cached"],
        ),
        case(
            json!({"ecs": {"container-stop-timeout": "30"}}),
            "settings.ecs.container-stop-timeout",
            &["invalid duration", "has no unit"],
        ),
        case(
            json!({"ecs": {"instance-attributes": {"a key": "v"}}}),
            "settings.ecs.instance-attributes.\"a key\"",
            &["invalid ECS attribute name", "1-128 characters"],
        ),
        case(
            json!({"ecs": {"logging-drivers": ["json-file", "Splunk"]}}),
            "settings.ecs.logging-drivers[1]",
            &["invalid logging driver", "'S' is not allowed"],
        ),
        case(
            json!({"aws": {"region": "us-west"}}),
            "settings.aws.region",
            &["invalid AWS region \"us-west\"", "`us-west-2`"],
        ),
        case(
            json!({"aws": {"config": "W2RlZmF1bHRd\n"}}),
            "settings.aws.config",
            &["invalid base64 value", "'\\n' is not allowed"],
        ),
        case(
            json!({"metrics": {"metrics-url": "metrics"}}),
            "settings.metrics.metrics-url",
            &["invalid URL", "no scheme"],
        ),
        case(
            json!({"metrics": {"service-checks": ["containerd", ".hidden"]}}),
            "settings.metrics.service-checks[1]",
            &["invalid service name", "starts with '.'"],
        ),
        case(
            json!({"metrics": {"send-metrics": true, "frequency": 5}}),
            "settings.metrics.frequency",
            &["unknown field `frequency`", "`send-metrics`"],
        ),
    ]
}

#[test]
fn invalid_settings_name_the_key_and_the_problem() {
    let cases = cases();
    assert!(cases.len() >= 40, "only {} cases", cases.len());
    let mut failures = Vec::new();
    for case in &cases {
        let outcome = validate_settings_json(&case.input, case.allowed);
        let err: SettingsError = match outcome {
            Ok(settings) => {
                failures.push(format!("{}: accepted as {settings:?}", case.path));
                continue;
            }
            Err(err) => err,
        };
        let message = err.to_string();
        if err.path() != case.path {
            failures.push(format!(
                "expected path {}, got {} ({message})",
                case.path,
                err.path()
            ));
            continue;
        }
        if !message.starts_with(&format!("{}: ", case.path)) {
            failures.push(format!("message does not start with the path: {message}"));
        }
        for needle in case.says {
            if !message.contains(needle) {
                failures.push(format!(
                    "{}: message lacks {needle:?}: {message}",
                    case.path
                ));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
