//! Kit manifests (`kits/<kit>/kit.yaml`) and package manifests
//! (`kits/<kit>/packages/<pkg>/package.yaml` beside `<pkg>.spec`).

use crate::config::is_lower_hex;
use crate::diagnostic::{Diagnostic, Diagnostics};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// A kit manifest: a named set of packages built and shipped together.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct KitManifest {
    /// Kit name; must match its directory under `kits/`.
    pub name: String,
    /// One line on what the kit holds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

/// A package manifest: how to build one RPM package from its spec.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct PackageManifest {
    /// Package name; must match its directory and the spec's `Name:`.
    pub name: String,
    /// Upstream version (RPM `Version:`; no `-`).
    pub version: String,
    /// Package release number (RPM `Release:` before the build id).
    #[serde(default = "default_release")]
    #[schemars(range(min = 1))]
    pub release: u32,
    /// The spec file, relative to the package directory (default `<name>.spec`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub spec: Option<String>,
    /// Upstream sources, fetched through the lookaside cache and checked by SHA-512.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub external_files: Vec<ExternalFile>,
    /// Packages that must be built first; their RPMs are visible to this build.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub build_dependencies: Vec<String>,
    /// First-party source directories (relative to the project root) the package consumes.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub source_groups: Vec<String>,
    /// What the package's Rust source groups are built for (default `linux`).
    #[serde(default, skip_serializing_if = "RustTarget::is_default")]
    pub rust_target: RustTarget,
}

/// What a package's first-party Rust crates are compiled for.
#[derive(
    Debug,
    Clone,
    Copy,
    Default,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Serialize,
    Deserialize,
    JsonSchema,
)]
#[serde(rename_all = "kebab-case")]
pub enum RustTarget {
    /// Static Linux binaries for the host OS (`<arch>-unknown-linux-gnu`, `+crt-static`).
    #[default]
    Linux,
    /// UEFI applications (`<arch>-unknown-uefi`; cargo names them `<bin>.efi`), e.g. the boot
    /// stage.
    Uefi,
}

impl RustTarget {
    /// The rustc target triple for `arch`.
    pub fn triple(self, arch: crate::Arch) -> String {
        match self {
            RustTarget::Linux => format!("{arch}-unknown-linux-gnu"),
            RustTarget::Uefi => format!("{arch}-unknown-uefi"),
        }
    }

    /// The file name cargo gives binary `bin` for this target.
    pub fn binary_name(self, bin: &str) -> String {
        match self {
            RustTarget::Linux => bin.to_string(),
            RustTarget::Uefi => format!("{bin}.efi"),
        }
    }

    /// `kebab-case` name, as in `package.yaml`.
    pub fn as_str(self) -> &'static str {
        match self {
            RustTarget::Linux => "linux",
            RustTarget::Uefi => "uefi",
        }
    }

    fn is_default(&self) -> bool {
        *self == RustTarget::Linux
    }
}

fn default_release() -> u32 {
    1
}

/// An upstream file: published at a URL, a file of a Debian source package, or a Debian binary
/// package (`.deb`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct ExternalFile {
    /// Where upstream publishes it (`https://...`); give this, `debian-source` or
    /// `debian-package`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// The Debian source package it belongs to (`<source>=<version>`, e.g.
    /// `grub2=2.06-13+deb12u2`): fetched with `apt-get source --download-only` from the Debian
    /// mirror this machine's apt uses; `path` names the file (as in the package's `.dsc`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(
        with = "Option<String>",
        regex(pattern = r"^[a-z0-9][a-z0-9+.-]+=[0-9A-Za-z.+~:-]+$")
    )]
    pub debian_source: Option<DebianPackage>,
    /// A Debian binary package (`<package>=<version>`, e.g. `libc6=2.36-9+deb12u14`): its
    /// `.deb`, fetched with `apt-get download` from the Debian mirror this machine's apt uses,
    /// for the architecture `path` ends with (`libc6_2.36-9+deb12u14_amd64.deb`). Specs unpack
    /// it with `dpkg-deb -x`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(
        with = "Option<String>",
        regex(pattern = r"^[a-z0-9][a-z0-9+.-]+=[0-9A-Za-z.+~:-]+$")
    )]
    pub debian_package: Option<DebianPackage>,
    /// SHA-512 of its contents, 128 lowercase hex digits.
    #[schemars(regex(pattern = r"^[0-9a-f]{128}$"))]
    pub sha512: String,
    /// File name the spec sees (default: the last part of the URL).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
}

impl ExternalFile {
    /// The file name the spec sees.
    pub fn file_name(&self) -> &str {
        self.path.as_deref().unwrap_or_else(|| {
            let url = self.url.as_deref().unwrap_or_default();
            let path = url.split(['?', '#']).next().unwrap_or_default();
            path.rsplit('/').next().unwrap_or_default()
        })
    }

    /// Where the file comes from, for messages: its URL or its Debian package.
    pub fn origin(&self) -> String {
        match (&self.url, &self.debian_source, &self.debian_package) {
            (Some(url), _, _) => url.clone(),
            (None, Some(source), _) => format!("Debian source package {source}"),
            (None, None, Some(binary)) => format!("Debian package {binary}"),
            (None, None, None) => "nowhere (no url, debian-source or debian-package)".into(),
        }
    }

    /// The Debian architecture of a `.deb` named `<package>_<version>_<arch>.deb` (`amd64`).
    pub fn deb_architecture(&self) -> Option<&str> {
        let stem = self.path.as_deref()?.strip_suffix(".deb")?;
        let (_, arch) = stem.rsplit_once('_')?;
        DEBIAN_ARCHITECTURES.contains(&arch).then_some(arch)
    }
}

/// The Debian architectures a `.deb` can be for.
const DEBIAN_ARCHITECTURES: [&str; 3] = ["amd64", "arm64", "all"];

/// A Debian package, source or binary, at one version (`grub2=2.06-13+deb12u2`).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct DebianPackage {
    /// The package name (`grub2`).
    pub package: String,
    /// Its Debian version (`2.06-13+deb12u2`).
    pub version: String,
}

impl TryFrom<String> for DebianPackage {
    type Error = String;

    fn try_from(text: String) -> Result<Self, String> {
        let (package, version) = text.split_once('=').ok_or_else(|| {
            format!("`{text}` is not `<package>=<version>` (e.g. `grub2=2.06-13+deb12u2`)")
        })?;
        let package_ok = package.len() >= 2
            && package.starts_with(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit())
            && package
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "+.-".contains(c));
        let version_ok = version.starts_with(|c: char| c.is_ascii_digit())
            && version
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || ".+~:-".contains(c));
        if !package_ok || !version_ok {
            return Err(format!(
                "`{text}` is not `<package>=<version>`: Debian package names are lowercase letters, digits and `+.-`, versions start with a digit"
            ));
        }
        Ok(DebianPackage {
            package: package.into(),
            version: version.into(),
        })
    }
}

impl From<DebianPackage> for String {
    fn from(source: DebianPackage) -> String {
        source.to_string()
    }
}

impl std::fmt::Display for DebianPackage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}={}", self.package, self.version)
    }
}

/// A loaded package: its manifest and where it lives.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Package {
    /// The manifest.
    #[serde(flatten)]
    pub manifest: PackageManifest,
    /// The kit it belongs to.
    pub kit: String,
    /// Its directory, relative to the project root.
    pub dir: PathBuf,
    /// Its spec file, relative to the project root.
    pub spec: PathBuf,
}

/// True when `text` is a name we accept for kits and packages.
pub fn is_valid_name(text: &str) -> bool {
    !text.is_empty()
        && text.starts_with(|c: char| c.is_ascii_alphanumeric())
        && text
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'+'))
}

impl PackageManifest {
    /// Checks the manifest against its directory and files. `dir` is absolute, `shown` is the
    /// manifest as the user sees it, `root` the project root.
    pub fn validate(
        &self,
        root: &Path,
        dir: &Path,
        shown: &Path,
        text: &str,
        problems: &mut Diagnostics,
    ) -> PathBuf {
        let problem = |key: &str, needle: &str, message: String, hint: String| {
            Diagnostic::new(shown, message)
                .key(key)
                .locate(text, needle)
                .hint(hint)
        };
        let dir_name = dir.file_name().and_then(|n| n.to_str()).unwrap_or_default();
        if self.name != dir_name {
            problems.push(problem(
                "name",
                "name",
                format!("package `{}` lives in directory `{dir_name}`", self.name),
                format!("rename the directory or set `name: {dir_name}`"),
            ));
        }
        if !is_valid_name(&self.name) {
            problems.push(problem(
                "name",
                "name",
                format!("`{}` is not a valid package name", self.name),
                "use letters, digits and `-_.+`, starting with a letter or digit".into(),
            ));
        }
        if self.version.is_empty()
            || !self
                .version
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"._+~^".contains(&b))
        {
            problems.push(problem(
                "version",
                "version",
                format!("`{}` is not an RPM version", self.version),
                "use letters, digits and `._+~^` (no `-`), e.g. `1.36.1`".into(),
            ));
        }
        if self.release == 0 {
            problems.push(problem(
                "release",
                "release",
                "release 0 is not allowed".into(),
                "releases count from 1".into(),
            ));
        }
        let mut names = Vec::new();
        for (index, file) in self.external_files.iter().enumerate() {
            let key = format!("external-files[{index}]");
            let origins = [
                file.url.as_ref().map(|_| "url"),
                file.debian_source.as_ref().map(|_| "debian-source"),
                file.debian_package.as_ref().map(|_| "debian-package"),
            ];
            let given: Vec<&str> = origins.into_iter().flatten().collect();
            if given.len() > 1 {
                problems.push(problem(
                    &format!("{key}.{}", given[1]),
                    given[1],
                    format!(
                        "an external file has both `{}` and `{}`",
                        given[0], given[1]
                    ),
                    "keep the one it is fetched from".into(),
                ));
            }
            if let Some(url) = &file.url {
                let scheme_ok = url.starts_with("https://") || url.starts_with("http://");
                let host_ok = url
                    .split_once("://")
                    .and_then(|(_, rest)| rest.split('/').next())
                    .is_some_and(|host| !host.is_empty());
                if !scheme_ok || !host_ok {
                    problems.push(problem(
                        &format!("{key}.url"),
                        url,
                        format!("`{url}` is not an http(s) URL"),
                        "give the full upstream URL, e.g. `https://example.org/pkg-1.0.tar.gz`"
                            .into(),
                    ));
                }
            }
            if let (Some(source), None) = (&file.debian_source, &file.path) {
                problems.push(problem(
                    &format!("{key}.path"),
                    &source.to_string(),
                    format!("a file of Debian source package {source} needs `path:`"),
                    "set `path:` to the file's name as the package's .dsc lists it, e.g. `grub2_2.06.orig.tar.xz`".into(),
                ));
            }
            if let Some(binary) = &file.debian_package {
                if file.deb_architecture().is_none() {
                    problems.push(problem(
                        &format!("{key}.path"),
                        &binary.to_string(),
                        format!(
                            "Debian package {binary} needs `path: <package>_<version>_<arch>.deb`, the architecture one of {}",
                            DEBIAN_ARCHITECTURES.join(", ")
                        ),
                        format!(
                            "e.g. `path: {}_{}_amd64.deb` (without the version's epoch)",
                            binary.package,
                            binary.version.rsplit(':').next().unwrap_or_default()
                        ),
                    ));
                }
            }
            if given.is_empty() {
                problems.push(problem(
                    &key,
                    file.file_name(),
                    "an external file needs `url`, `debian-source` or `debian-package`".into(),
                    "give the upstream URL, `debian-source: <source>=<version>` with `path:`, or `debian-package: <package>=<version>` with `path:`"
                        .into(),
                ));
            }
            if !is_lower_hex(&file.sha512, 128) {
                problems.push(problem(
                    &format!("{key}.sha512"),
                    &file.sha512,
                    format!(
                        "`{}` is not a SHA-512 digest ({} characters; need 128 lowercase hex digits)",
                        file.sha512,
                        file.sha512.len()
                    ),
                    "compute it with `sha512sum <file>`".into(),
                ));
            }
            let name = file.file_name();
            if name.is_empty() || name.contains('/') || name == "." || name == ".." {
                problems.push(problem(
                    &format!("{key}.path"),
                    &file.origin(),
                    format!("`{name}` is not a plain file name"),
                    "set `path:` to a file name without `/`".into(),
                ));
            } else if names.contains(&name) {
                problems.push(problem(
                    &format!("{key}.path"),
                    name,
                    format!("two external files are both named `{name}`"),
                    "give one of them another `path:`".into(),
                ));
            }
            names.push(name);
        }
        for (index, dependency) in self.build_dependencies.iter().enumerate() {
            if dependency == &self.name {
                problems.push(problem(
                    &format!("build-dependencies[{index}]"),
                    dependency,
                    format!("package `{}` depends on itself", self.name),
                    "remove it from build-dependencies".into(),
                ));
            }
            if self.build_dependencies[..index].contains(dependency) {
                problems.push(problem(
                    &format!("build-dependencies[{index}]"),
                    dependency,
                    format!("`{dependency}` is listed twice in build-dependencies"),
                    "list each dependency once".into(),
                ));
            }
        }
        for (index, group) in self.source_groups.iter().enumerate() {
            let escapes = Path::new(group)
                .components()
                .any(|c| !matches!(c, std::path::Component::Normal(_)));
            if escapes || !root.join(group).is_dir() {
                problems.push(problem(
                    &format!("source-groups[{index}]"),
                    group,
                    format!("source group `{group}` is not a directory in the project"),
                    "name a directory relative to the project root, without `..`".into(),
                ));
            }
        }
        let spec_name = self
            .spec
            .clone()
            .unwrap_or_else(|| format!("{}.spec", self.name));
        if spec_name.contains('/') || spec_name.starts_with('.') {
            problems.push(problem(
                "spec",
                "spec",
                format!("spec `{spec_name}` is not a file name in the package directory"),
                "keep the spec beside package.yaml and name it without `/`".into(),
            ));
        }
        let spec = dir.join(&spec_name);
        let spec_shown = crate::diagnostic::relative(root, &spec);
        match std::fs::read_to_string(&spec) {
            Err(e) => problems.push(problem(
                "spec",
                "spec",
                format!("cannot read spec file `{}`: {e}", spec_shown.display()),
                format!("add `{spec_name}` beside package.yaml or set `spec:` to its name"),
            )),
            Ok(spec_text) => {
                let tag = |name: &str| {
                    spec_text.lines().find_map(|line| {
                        let (tag, value) = line.split_once(':')?;
                        tag.trim().eq_ignore_ascii_case(name).then(|| value.trim())
                    })
                };
                let checks = [
                    ("Name", "name", self.name.as_str()),
                    ("Version", "version", self.version.as_str()),
                ];
                for (spec_tag, key, want) in checks {
                    match tag(spec_tag) {
                        None => problems.push(problem(
                            "spec",
                            "spec",
                            format!("spec `{spec_name}` has no `{spec_tag}:` tag"),
                            format!("add `{spec_tag}: {want}` to the spec"),
                        )),
                        Some(have) if !have.contains('%') && have != want => {
                            problems.push(problem(
                                key,
                                key,
                                format!("spec `{spec_name}` says `{spec_tag}: {have}` but package.yaml says `{want}`"),
                                format!("make them agree: set the spec's `{spec_tag}: {want}` or change package.yaml"),
                            ))
                        }
                        Some(_) => {}
                    }
                }
                // `Release: <n>%{?dist}`: the number before the macro must be package.yaml's.
                if let Some(have) = tag("Release") {
                    let number = have.split('%').next().unwrap_or_default().trim();
                    let want = self.release.to_string();
                    if !number.is_empty() && number != want {
                        problems.push(problem(
                            "release",
                            "release",
                            format!(
                                "spec `{spec_name}` says `Release: {have}` but package.yaml says release {want}"
                            ),
                            format!("make them agree: set the spec's `Release: {want}%{{?dist}}` or change package.yaml"),
                        ));
                    }
                }
            }
        }
        spec_shown
    }
}
