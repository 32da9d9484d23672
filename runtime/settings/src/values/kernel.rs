//! Kernel, boot and OCI-defaults values.

use super::{check_chars, check_length, InvalidValue};
use schemars::gen::SchemaGenerator;
use schemars::schema::{InstanceType, Schema, SchemaObject, SubschemaValidation};
use schemars::JsonSchema;
use serde::de::{self, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;

fn check_sysctl_key(value: &str) -> Result<(), String> {
    check_length(value, 255)?;
    check_chars(value, |c| {
        c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '_' | '.' | '/' | '-')
    })?;
    if value.starts_with(['.', '/']) || value.ends_with(['.', '/']) {
        return Err("it starts or ends with '.' or '/'".to_owned());
    }
    if value.contains("..") || value.contains("//") || value.contains("./") || value.contains("/.")
    {
        return Err("it has an empty path segment ('..', '//', './' or '/.')".to_owned());
    }
    Ok(())
}

fn check_module_name(value: &str) -> Result<(), String> {
    check_length(value, 64)?;
    check_chars(value, |c| {
        c.is_ascii_alphanumeric() || matches!(c, '_' | '-')
    })
}

fn check_boot_config_key(value: &str) -> Result<(), String> {
    check_length(value, 256)?;
    check_chars(value, |c| {
        c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.')
    })?;
    if value.split('.').any(str::is_empty) {
        return Err("it has an empty '.'-separated part".to_owned());
    }
    Ok(())
}

fn check_boot_config_value(value: &str) -> Result<(), String> {
    if value.len() > 1024 {
        return Err(format!(
            "it is {} characters long, more than 1024",
            value.len()
        ));
    }
    check_chars(value, |c| c.is_ascii() && !c.is_ascii_control())?;
    if value.contains('\'') && value.contains('"') {
        return Err("it contains both single and double quotes".to_owned());
    }
    Ok(())
}

validated_string! {
    /// A sysctl key, as in `net.ipv4.ip_forward` or `net/ipv4/ip_forward`.
    pub struct SysctlKey {
        thing: "sysctl key",
        expected: "1-255 characters of `[a-z0-9_./-]` without a leading or trailing '.' or '/' and \
                   without empty segments (e.g. `net.ipv4.ip_forward`)",
        pattern: "^[a-z0-9_-][a-z0-9_./-]*$",
        max_length: 255,
        check: check_sysctl_key,
    }
}

validated_string! {
    /// A kernel module name such as `sctp`.
    pub struct KernelModuleName {
        thing: "kernel module name",
        expected: "1-64 characters of `[A-Za-z0-9_-]` (e.g. `sctp`, `nvidia_uvm`)",
        pattern: "^[A-Za-z0-9_-]{1,64}$",
        check: check_module_name,
    }
}

validated_string! {
    /// A kernel or init command-line parameter name (a bootconfig key).
    pub struct BootConfigKey {
        thing: "boot parameter name",
        expected: "1-256 characters of `[A-Za-z0-9_-]` words joined by '.' (e.g. `console`, \
                   `usbcore.quirks`)",
        pattern: "^[A-Za-z0-9_-]+(\\.[A-Za-z0-9_-]+)*$",
        max_length: 256,
        check: check_boot_config_key,
    }
}

validated_string! {
    /// One value of a kernel or init command-line parameter.
    pub struct BootConfigValue {
        thing: "boot parameter value",
        expected: "at most 1024 printable ASCII characters, not mixing single and double quotes \
                   (e.g. `ttyS0,115200n8`)",
        max_length: 1024,
        check: check_boot_config_value,
    }
}

string_enum! {
    /// The kernel lockdown mode.
    pub enum Lockdown("kernel lockdown mode") {
        /// No lockdown.
        None => "none",
        /// Block changes to the running kernel.
        Integrity => "integrity",
        /// Also block reading kernel memory.
        Confidentiality => "confidentiality",
    }
}

string_enum! {
    /// A Linux process capability, named as in Bottlerocket (`sys-admin`) or as in Linux
    /// (`CAP_SYS_ADMIN`).
    pub enum Capability("capability", "the Linux spelling such as CAP_SYS_ADMIN is accepted too") {
        /// CAP_AUDIT_CONTROL
        AuditControl => "audit-control" | "CAP_AUDIT_CONTROL",
        /// CAP_AUDIT_READ
        AuditRead => "audit-read" | "CAP_AUDIT_READ",
        /// CAP_AUDIT_WRITE
        AuditWrite => "audit-write" | "CAP_AUDIT_WRITE",
        /// CAP_BLOCK_SUSPEND
        BlockSuspend => "block-suspend" | "CAP_BLOCK_SUSPEND",
        /// CAP_BPF
        Bpf => "bpf" | "CAP_BPF",
        /// CAP_CHECKPOINT_RESTORE
        CheckpointRestore => "checkpoint-restore" | "CAP_CHECKPOINT_RESTORE",
        /// CAP_CHOWN
        Chown => "chown" | "CAP_CHOWN",
        /// CAP_DAC_OVERRIDE
        DacOverride => "dac-override" | "CAP_DAC_OVERRIDE",
        /// CAP_DAC_READ_SEARCH
        DacReadSearch => "dac-read-search" | "CAP_DAC_READ_SEARCH",
        /// CAP_FOWNER
        Fowner => "fowner" | "CAP_FOWNER",
        /// CAP_FSETID
        Fsetid => "fsetid" | "CAP_FSETID",
        /// CAP_IPC_LOCK
        IpcLock => "ipc-lock" | "CAP_IPC_LOCK",
        /// CAP_IPC_OWNER
        IpcOwner => "ipc-owner" | "CAP_IPC_OWNER",
        /// CAP_KILL
        Kill => "kill" | "CAP_KILL",
        /// CAP_LEASE
        Lease => "lease" | "CAP_LEASE",
        /// CAP_LINUX_IMMUTABLE
        LinuxImmutable => "linux-immutable" | "CAP_LINUX_IMMUTABLE",
        /// CAP_MAC_ADMIN
        MacAdmin => "mac-admin" | "CAP_MAC_ADMIN",
        /// CAP_MAC_OVERRIDE
        MacOverride => "mac-override" | "CAP_MAC_OVERRIDE",
        /// CAP_MKNOD
        Mknod => "mknod" | "CAP_MKNOD",
        /// CAP_NET_ADMIN
        NetAdmin => "net-admin" | "CAP_NET_ADMIN",
        /// CAP_NET_BIND_SERVICE
        NetBindService => "net-bind-service" | "CAP_NET_BIND_SERVICE",
        /// CAP_NET_BROADCAST
        NetBroadcast => "net-broadcast" | "CAP_NET_BROADCAST",
        /// CAP_NET_RAW
        NetRaw => "net-raw" | "CAP_NET_RAW",
        /// CAP_PERFMON
        Perfmon => "perfmon" | "CAP_PERFMON",
        /// CAP_SETGID
        Setgid => "setgid" | "CAP_SETGID",
        /// CAP_SETFCAP
        Setfcap => "setfcap" | "CAP_SETFCAP",
        /// CAP_SETPCAP
        Setpcap => "setpcap" | "CAP_SETPCAP",
        /// CAP_SETUID
        Setuid => "setuid" | "CAP_SETUID",
        /// CAP_SYS_ADMIN
        SysAdmin => "sys-admin" | "CAP_SYS_ADMIN",
        /// CAP_SYS_BOOT
        SysBoot => "sys-boot" | "CAP_SYS_BOOT",
        /// CAP_SYS_CHROOT
        SysChroot => "sys-chroot" | "CAP_SYS_CHROOT",
        /// CAP_SYS_MODULE
        SysModule => "sys-module" | "CAP_SYS_MODULE",
        /// CAP_SYS_NICE
        SysNice => "sys-nice" | "CAP_SYS_NICE",
        /// CAP_SYS_PACCT
        SysPacct => "sys-pacct" | "CAP_SYS_PACCT",
        /// CAP_SYS_PTRACE
        SysPtrace => "sys-ptrace" | "CAP_SYS_PTRACE",
        /// CAP_SYS_RAWIO
        SysRawio => "sys-rawio" | "CAP_SYS_RAWIO",
        /// CAP_SYS_RESOURCE
        SysResource => "sys-resource" | "CAP_SYS_RESOURCE",
        /// CAP_SYS_TIME
        SysTime => "sys-time" | "CAP_SYS_TIME",
        /// CAP_SYS_TTY_CONFIG
        SysTtyConfig => "sys-tty-config" | "CAP_SYS_TTY_CONFIG",
        /// CAP_SYSLOG
        Syslog => "syslog" | "CAP_SYSLOG",
        /// CAP_WAKE_ALARM
        WakeAlarm => "wake-alarm" | "CAP_WAKE_ALARM",
    }
}

impl Capability {
    /// The Linux name, e.g. `CAP_SYS_ADMIN`.
    pub fn linux_name(self) -> String {
        format!(
            "CAP_{}",
            self.as_str().to_ascii_uppercase().replace('-', "_")
        )
    }
}

string_enum! {
    /// A process resource limit, named as in Bottlerocket (`max-open-files`) or as in Linux
    /// (`RLIMIT_NOFILE`).
    pub enum ResourceLimitType("resource limit", "the Linux spelling such as RLIMIT_NOFILE is accepted too") {
        /// RLIMIT_AS
        MaxAddressSpace => "max-address-space" | "RLIMIT_AS",
        /// RLIMIT_CORE
        MaxCoreFileSize => "max-core-file-size" | "RLIMIT_CORE",
        /// RLIMIT_CPU
        MaxCpuTime => "max-cpu-time" | "RLIMIT_CPU",
        /// RLIMIT_DATA
        MaxDataSize => "max-data-size" | "RLIMIT_DATA",
        /// RLIMIT_LOCKS
        MaxFileLocks => "max-file-locks" | "RLIMIT_LOCKS",
        /// RLIMIT_FSIZE
        MaxFileSize => "max-file-size" | "RLIMIT_FSIZE",
        /// RLIMIT_MEMLOCK
        MaxLockedMemory => "max-locked-memory" | "RLIMIT_MEMLOCK",
        /// RLIMIT_MSGQUEUE
        MaxMsgqueueSize => "max-msgqueue-size" | "RLIMIT_MSGQUEUE",
        /// RLIMIT_NICE
        MaxNicePriority => "max-nice-priority" | "RLIMIT_NICE",
        /// RLIMIT_NOFILE
        MaxOpenFiles => "max-open-files" | "RLIMIT_NOFILE",
        /// RLIMIT_SIGPENDING
        MaxPendingSignals => "max-pending-signals" | "RLIMIT_SIGPENDING",
        /// RLIMIT_NPROC
        MaxProcesses => "max-processes" | "RLIMIT_NPROC",
        /// RLIMIT_RTPRIO
        MaxRealtimePriority => "max-realtime-priority" | "RLIMIT_RTPRIO",
        /// RLIMIT_RTTIME
        MaxRealtimeTimeout => "max-realtime-timeout" | "RLIMIT_RTTIME",
        /// RLIMIT_RSS
        MaxResidentSet => "max-resident-set" | "RLIMIT_RSS",
        /// RLIMIT_STACK
        MaxStackSize => "max-stack-size" | "RLIMIT_STACK",
    }
}

impl ResourceLimitType {
    /// The Linux name, e.g. `RLIMIT_NOFILE`.
    pub fn linux_name(self) -> &'static str {
        use ResourceLimitType::*;
        match self {
            MaxAddressSpace => "RLIMIT_AS",
            MaxCoreFileSize => "RLIMIT_CORE",
            MaxCpuTime => "RLIMIT_CPU",
            MaxDataSize => "RLIMIT_DATA",
            MaxFileLocks => "RLIMIT_LOCKS",
            MaxFileSize => "RLIMIT_FSIZE",
            MaxLockedMemory => "RLIMIT_MEMLOCK",
            MaxMsgqueueSize => "RLIMIT_MSGQUEUE",
            MaxNicePriority => "RLIMIT_NICE",
            MaxOpenFiles => "RLIMIT_NOFILE",
            MaxPendingSignals => "RLIMIT_SIGPENDING",
            MaxProcesses => "RLIMIT_NPROC",
            MaxRealtimePriority => "RLIMIT_RTPRIO",
            MaxRealtimeTimeout => "RLIMIT_RTTIME",
            MaxResidentSet => "RLIMIT_RSS",
            MaxStackSize => "RLIMIT_STACK",
        }
    }
}

/// A resource limit: a non-negative integer, or `"unlimited"` (`-1` is read as unlimited too).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RlimitValue {
    /// No limit.
    Unlimited,
    /// This many units of the resource.
    Limit(u64),
}

const RLIMIT_EXPECTED: &str = "a non-negative integer or \"unlimited\"";

impl Serialize for RlimitValue {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            RlimitValue::Unlimited => serializer.serialize_str("unlimited"),
            RlimitValue::Limit(limit) => serializer.serialize_u64(*limit),
        }
    }
}

impl<'de> Deserialize<'de> for RlimitValue {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct RlimitVisitor;

        impl Visitor<'_> for RlimitVisitor {
            type Value = RlimitValue;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(RLIMIT_EXPECTED)
            }

            fn visit_u64<E: de::Error>(self, value: u64) -> Result<RlimitValue, E> {
                Ok(RlimitValue::Limit(value))
            }

            fn visit_i64<E: de::Error>(self, value: i64) -> Result<RlimitValue, E> {
                match value {
                    -1 => Ok(RlimitValue::Unlimited),
                    _ => u64::try_from(value).map(RlimitValue::Limit).map_err(|_| {
                        E::custom(InvalidValue::new(
                            "resource limit value",
                            &value.to_string(),
                            "negative",
                            RLIMIT_EXPECTED,
                        ))
                    }),
                }
            }

            fn visit_str<E: de::Error>(self, value: &str) -> Result<RlimitValue, E> {
                match value {
                    "unlimited" => Ok(RlimitValue::Unlimited),
                    _ => Err(E::custom(InvalidValue::new(
                        "resource limit value",
                        value,
                        "not \"unlimited\"",
                        RLIMIT_EXPECTED,
                    ))),
                }
            }
        }

        deserializer.deserialize_any(RlimitVisitor)
    }
}

impl JsonSchema for RlimitValue {
    fn schema_name() -> String {
        "RlimitValue".to_owned()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        let number = SchemaObject {
            instance_type: Some(InstanceType::Integer.into()),
            number: Some(Box::new(schemars::schema::NumberValidation {
                minimum: Some(-1.0),
                ..Default::default()
            })),
            ..Default::default()
        };
        let unlimited = SchemaObject {
            instance_type: Some(InstanceType::String.into()),
            enum_values: Some(vec!["unlimited".into()]),
            ..Default::default()
        };
        let mut schema = SchemaObject {
            subschemas: Some(Box::new(SubschemaValidation {
                one_of: Some(vec![number.into(), unlimited.into()]),
                ..Default::default()
            })),
            ..Default::default()
        };
        schema.metadata().description = Some(
            "Resource limit value: a non-negative integer, or \"unlimited\" (-1 also means \
             unlimited)."
                .to_owned(),
        );
        schema.into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sysctl_keys() {
        for ok in [
            "net.ipv4.ip_forward",
            "net/ipv4/conf/eth0/rp_filter",
            "kernel.pid_max",
        ] {
            SysctlKey::try_from(ok).unwrap();
        }
        for bad in [
            "",
            ".net",
            "net..ipv4",
            "net.ipv4.",
            "a b",
            "net/../x",
            "Net.x",
            "/a",
        ] {
            assert!(SysctlKey::try_from(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn capabilities_and_rlimits() {
        assert_eq!(
            "CAP_SYS_ADMIN".parse::<Capability>().unwrap(),
            Capability::SysAdmin
        );
        assert_eq!(Capability::SysTtyConfig.linux_name(), "CAP_SYS_TTY_CONFIG");
        for cap in Capability::ALL {
            assert_eq!(cap.linux_name().parse::<Capability>().unwrap(), *cap);
        }
        for limit in ResourceLimitType::ALL {
            assert_eq!(
                limit.linux_name().parse::<ResourceLimitType>().unwrap(),
                *limit
            );
        }
        assert!("sys_admin".parse::<Capability>().is_err());
    }

    #[test]
    fn rlimit_values() {
        let parse = |v: &str| serde_json::from_str::<RlimitValue>(v);
        assert_eq!(parse("10").unwrap(), RlimitValue::Limit(10));
        assert_eq!(parse("-1").unwrap(), RlimitValue::Unlimited);
        assert_eq!(parse("\"unlimited\"").unwrap(), RlimitValue::Unlimited);
        assert!(parse("-2").is_err());
        assert!(parse("\"infinite\"").is_err());
        assert!(parse("1.5").is_err());
    }

    #[test]
    fn boot_config() {
        BootConfigKey::try_from("usbcore.quirks").unwrap();
        BootConfigValue::try_from("ttyS1,115200n8").unwrap();
        assert!(BootConfigKey::try_from("a..b").is_err());
        assert!(BootConfigValue::try_from("a'b\"c").is_err());
        assert!(BootConfigValue::try_from("a\nb").is_err());
    }
}
