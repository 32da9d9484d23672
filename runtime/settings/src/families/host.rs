//! Host-level families: updates, network, ntp, kernel, boot, pki.

use crate::schema::map_of;
use crate::values::{
    BootConfigKey, BootConfigValue, HostOrUrl, KernelModuleName, Lockdown, NoProxyEntry, PemBundle,
    ProxyAddress, SingleLineString, SysctlKey, UpdateSeed, Url, ValidLinuxHostname, VersionLock,
};
use indexmap::IndexMap;

settings_struct! {
    /// `settings.updates`: where and when the host looks for OS updates.
    pub struct UpdatesSettings {
        /// Base URL of the TUF repository's metadata.
        metadata_base_url: Url,
        /// Base URL of the TUF repository's targets (images).
        targets_base_url: Url,
        /// This host's position in update waves (0-2047); lower seeds update earlier.
        seed: UpdateSeed,
        /// The version to update to: `latest`, or one exact version.
        version_lock: VersionLock,
        /// Update as soon as an update is available, ignoring wave schedules.
        ignore_waves: bool,
    }
}

settings_struct! {
    /// `settings.network`: host name and proxies.
    pub struct NetworkSettings {
        /// The host name (a Linux hostname or FQDN).
        hostname: ValidLinuxHostname,
        /// Proxy for HTTP traffic of the container runtime and host services.
        http_proxy: ProxyAddress,
        /// Proxy for HTTPS traffic of the container runtime and host services.
        https_proxy: ProxyAddress,
        /// Hosts, domains, IP addresses and CIDR blocks reached without the proxy.
        no_proxy: Vec<NoProxyEntry>,
    }
}

settings_struct! {
    /// `settings.ntp`: time synchronisation.
    pub struct NtpSettings {
        /// NTP servers, as host names, IP addresses or URLs.
        time_servers: Vec<HostOrUrl>,
        /// Extra options appended to each server line (e.g. `iburst`, `minpoll 4`).
        options: Vec<SingleLineString>,
    }
}

settings_struct! {
    /// `settings.kernel.modules.<name>`: whether a kernel module may be loaded.
    pub struct KernelModule {
        /// `false` blocks the module from loading.
        allowed: bool,
    }
}

settings_struct! {
    /// `settings.kernel`: kernel lockdown, sysctls and modules.
    pub struct KernelSettings {
        /// The kernel lockdown mode.
        lockdown: Lockdown,
        /// Sysctl values, by sysctl key (e.g. `net.ipv4.ip_forward`).
        #[schemars(schema_with = "map_of::<SysctlKey, SingleLineString>")]
        sysctl: IndexMap<SysctlKey, SingleLineString>,
        /// Kernel module policy, by module name.
        #[schemars(schema_with = "map_of::<KernelModuleName, KernelModule>")]
        modules: IndexMap<KernelModuleName, KernelModule>,
    }
}

settings_struct! {
    /// `settings.boot`: kernel and init command line (applied after a reboot).
    pub struct BootSettings {
        /// Reboot automatically when the boot settings differ from the running ones.
        reboot_to_reconcile: bool,
        /// Kernel parameters: name to values (an empty list gives a bare flag).
        #[schemars(schema_with = "map_of::<BootConfigKey, Vec<BootConfigValue>>")]
        kernel_parameters: IndexMap<BootConfigKey, Vec<BootConfigValue>>,
        /// Init (systemd) parameters: name to values (an empty list gives a bare flag).
        #[schemars(schema_with = "map_of::<BootConfigKey, Vec<BootConfigValue>>")]
        init_parameters: IndexMap<BootConfigKey, Vec<BootConfigValue>>,
    }
}

settings_struct! {
    /// `settings.pki.<name>`: a certificate bundle.
    pub struct PkiBundle {
        /// The certificates: base64 of a PEM bundle.
        data: PemBundle,
        /// `true` to trust the certificates, `false` to distrust them.
        trusted: bool,
    }
}
