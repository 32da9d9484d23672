//! A variant's root and boot trees, composed from RPMs.
//!
//! The variant's `included-packages` are closed over the RPMs' Requires/Provides, their payloads
//! installed into a fresh root tree (scriptlets refused), `/boot` moved into the BOOT tree, and
//! the files the build itself owns written: `/etc/os-release`, the application inventory,
//! `/usr/share/updog/root.json` when the project has a repository root role, and the settings
//! defaults checked the way storewolf will read them at boot.

use serde::Serialize;
use std::path::{Path, PathBuf};
use twoliter_project::Arch;
use twoliter_rpm::{InstallOptions, Installer, RpmInfo};

/// Where packages ship settings defaults; storewolf reads them at boot.
pub const DEFAULTS_DIR: &str = "usr/share/bottlerocket/defaults.d";
/// The application inventory inside the root tree.
pub const INVENTORY_PATH: &str = "usr/share/bottlerocket/application-inventory.json";
/// The TUF root role updog trusts.
pub const UPDOG_ROOT_PATH: &str = "usr/share/updog/root.json";

/// Errors while composing the trees.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// An RPM could not be read or installed, or the closure failed.
    #[error(transparent)]
    Rootfs(#[from] twoliter_rpm::Error),
    /// The package closure failed.
    #[error(transparent)]
    Closure(#[from] twoliter_rpm::ClosureError),
    /// The settings defaults the packages ship are invalid.
    #[error("the settings defaults of variant {variant} are invalid: {source}")]
    Defaults {
        /// The variant.
        variant: String,
        /// storewolf's error (names the file and key).
        #[source]
        source: storewolf::Error,
    },
    /// A file operation failed.
    #[error(transparent)]
    Io(#[from] fsutil::IoError),
}

impl Error {
    /// The name of a requirement that no RPM provides (`foo` of `foo >= 1.2`), when that is why
    /// composing failed: a package of that name may just not be built yet.
    pub fn missing_requirement(&self) -> Option<&str> {
        match self {
            Error::Closure(twoliter_rpm::ClosureError::MissingCapability { name, .. }) => {
                Some(name)
            }
            _ => None,
        }
    }
}

/// What to compose.
#[derive(Debug, Clone)]
pub struct ComposeInput<'a> {
    /// Variant name (`metal-dev`).
    pub variant: &'a str,
    /// Its `included-packages`.
    pub wanted: &'a [String],
    /// Architecture.
    pub arch: Arch,
    /// Release version (`X.Y.Z`).
    pub version: &'a str,
    /// Build id (short commit).
    pub build_id: &'a str,
    /// Who publishes the image (inventory `Publisher`).
    pub vendor: &'a str,
    /// SOURCE_DATE_EPOCH (inventory install times).
    pub epoch: u64,
    /// Every candidate RPM (the built packages of the variant's kits).
    pub rpms: &'a [PathBuf],
    /// Receives `root/` and `boot/` (both replaced).
    pub work_dir: &'a Path,
    /// The repository's TUF `root.json`, when the project has one.
    pub updog_root: Option<&'a Path>,
    /// Capabilities the variant itself provides to the closure (`variant-platform(aws)`,
    /// `image-feature(erofs-root-partition)`, ...), so a package can require a variant trait
    /// instead of naming variants.
    pub capabilities: &'a [String],
}

/// The name of the virtual package that provides [`ComposeInput::capabilities`].
pub const VARIANT_PACKAGE: &str = "twoliter-variant";

/// One installed package, as in the application inventory.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct InventoryEntry {
    /// Package name.
    pub name: String,
    /// Publisher (the project's vendor).
    pub publisher: String,
    /// Version.
    pub version: String,
    /// Release.
    pub release: String,
    /// Install time (the build epoch, RFC 3339).
    pub installed_time: String,
    /// Always `Unspecified`, as Bottlerocket writes.
    pub application_type: String,
    /// Architecture.
    pub architecture: String,
    /// Upstream URL.
    pub url: String,
    /// One-line summary.
    pub summary: String,
}

/// The result.
#[derive(Debug, Clone)]
pub struct Composed {
    /// The root tree.
    pub root: PathBuf,
    /// The BOOT tree (kernel and boot files).
    pub boot: PathBuf,
    /// The installed packages, sorted by name.
    pub inventory: Vec<InventoryEntry>,
    /// The os-release text written.
    pub os_release: String,
    /// Files and bytes installed from payloads.
    pub files: u64,
    /// Bytes installed from payloads.
    pub bytes: u64,
}

/// Composes the trees described by `input`.
pub fn compose(input: &ComposeInput<'_>) -> Result<Composed, Error> {
    let mut infos = input
        .rpms
        .iter()
        .map(|path| RpmInfo::read(path))
        .collect::<Result<Vec<_>, _>>()?;
    // The variant's traits, as a virtual package that is always part of the closure.
    let virtual_index = infos.len();
    infos.push(variant_package(input));
    let mut wanted = input.wanted.to_vec();
    wanted.push(VARIANT_PACKAGE.to_string());
    let chosen: Vec<usize> = twoliter_rpm::resolve(&wanted, &infos)?
        .into_iter()
        .filter(|&i| i != virtual_index)
        .collect();

    let root = input.work_dir.join("root");
    let boot = input.work_dir.join("boot");
    for dir in [&root, &boot] {
        if dir.exists() {
            std::fs::remove_dir_all(dir).map_err(fsutil::io_err("clean", dir))?;
        }
    }
    std::fs::create_dir_all(&root).map_err(fsutil::io_err("create", &root))?;
    let (mut files, mut bytes) = (0, 0);
    let mut installer = Installer::new(&root, InstallOptions::default());
    let mut inventory = Vec::new();
    for &i in &chosen {
        let info = &infos[i];
        tracing::debug!("installing {} from {}", info.name, input.rpms[i].display());
        let report = installer.install(&input.rpms[i])?;
        files += report.files;
        bytes += report.bytes;
        inventory.push(InventoryEntry {
            name: info.name.clone(),
            publisher: input.vendor.to_string(),
            version: info.version.clone(),
            release: info.release.clone(),
            installed_time: rfc3339(input.epoch),
            application_type: "Unspecified".into(),
            architecture: info.arch.clone(),
            url: info.url.clone(),
            summary: info.summary.clone(),
        });
    }
    inventory.sort_by(|a, b| a.name.cmp(&b.name));

    // /boot becomes the BOOT filesystem; the root keeps the empty mount point.
    let root_boot = root.join("boot");
    if root_boot.is_dir() {
        std::fs::rename(&root_boot, &boot)
            .map_err(fsutil::io_err("move /boot out of", &root_boot))?;
    } else {
        std::fs::create_dir_all(&boot).map_err(fsutil::io_err("create", &boot))?;
    }
    std::fs::create_dir_all(&root_boot).map_err(fsutil::io_err("create", &root_boot))?;

    let os_release = os_release(input);
    write(&root.join("etc/os-release"), os_release.as_bytes())?;
    let inventory_json = serde_json::json!({ "Content": inventory });
    let text = serde_json::to_string_pretty(&inventory_json).unwrap_or_default() + "\n";
    write(&root.join(INVENTORY_PATH), text.as_bytes())?;
    if let Some(source) = input.updog_root {
        let bytes = std::fs::read(source).map_err(fsutil::io_err("read", source))?;
        write(&root.join(UPDOG_ROOT_PATH), &bytes)?;
    }
    let defaults = root.join(DEFAULTS_DIR);
    if defaults.is_dir() {
        storewolf::load_defaults(&defaults).map_err(|source| Error::Defaults {
            variant: input.variant.to_string(),
            source,
        })?;
    }
    Ok(Composed {
        root,
        boot,
        inventory,
        os_release,
        files,
        bytes,
    })
}

/// The virtual package providing the variant's capabilities.
fn variant_package(input: &ComposeInput<'_>) -> RpmInfo {
    let dependency = |name: &str| twoliter_rpm::Dependency {
        name: name.to_string(),
        flags: 0,
        version: String::new(),
    };
    RpmInfo {
        path: PathBuf::from(format!("<variant {}>", input.variant)),
        name: VARIANT_PACKAGE.into(),
        epoch: None,
        version: input.version.into(),
        release: "0".into(),
        arch: input.arch.name().into(),
        summary: String::new(),
        url: String::new(),
        license: String::new(),
        provides: std::iter::once(VARIANT_PACKAGE)
            .chain(input.capabilities.iter().map(String::as_str))
            .map(dependency)
            .collect(),
        requires: Vec::new(),
        files: Vec::new(),
        scriptlets: Vec::new(),
        payload_compressor: String::new(),
    }
}

/// `/etc/os-release` of the image.
pub fn os_release(input: &ComposeInput<'_>) -> String {
    format!(
        "NAME=Bottlerocket\nID=bottlerocket\nVERSION=\"{version} ({variant})\"\n\
         PRETTY_NAME=\"Bottlerocket OS {version} ({variant})\"\nVARIANT_ID={variant}\n\
         VERSION_ID={version}\nBUILD_ID={build}\nARCH={arch}\n",
        version = input.version,
        variant = input.variant,
        build = input.build_id,
        arch = input.arch
    )
}

fn rfc3339(epoch: u64) -> String {
    let time = std::time::UNIX_EPOCH + std::time::Duration::from_secs(epoch);
    humantime::format_rfc3339_seconds(time).to_string()
}

fn write(path: &Path, bytes: &[u8]) -> Result<(), Error> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(fsutil::io_err("create", dir))?;
    }
    Ok(std::fs::write(path, bytes).map_err(fsutil::io_err("write", path))?)
}
