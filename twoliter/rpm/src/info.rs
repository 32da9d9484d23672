//! What a binary RPM's headers say: identity, capabilities, requirements, scriptlets.

use crate::error::{Error, Result};
use crate::version::{
    ranges_overlap, SENSE_EQUAL, SENSE_GREATER, SENSE_LESS, SENSE_MASK, SENSE_MISSINGOK,
    SENSE_RPMLIB,
};
use rpm::{IndexTag, PackageMetadata};
use std::fmt;
use std::fs::File;
use std::io::BufReader;
use std::path::{Path, PathBuf};

/// A kind of scriptlet an RPM can carry. None of them is ever run by this crate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ScriptletKind {
    /// `%pre`.
    Pre,
    /// `%post`.
    Post,
    /// `%preun`.
    PreUn,
    /// `%postun`.
    PostUn,
    /// `%pretrans`.
    PreTrans,
    /// `%posttrans`.
    PostTrans,
    /// `%preuntrans`.
    PreUnTrans,
    /// `%postuntrans`.
    PostUnTrans,
    /// `%triggerin`, `%triggerun`, `%triggerpostun` or `%triggerprein`.
    Trigger,
    /// `%filetriggerin`, `%filetriggerun` or `%filetriggerpostun`.
    FileTrigger,
    /// `%transfiletriggerin`, `%transfiletriggerun` or `%transfiletriggerpostun`.
    TransFileTrigger,
}

impl ScriptletKind {
    /// Every kind, with the header tags (script, interpreter) that reveal it.
    const TAGS: [(ScriptletKind, IndexTag, IndexTag); 11] = [
        (
            Self::Pre,
            IndexTag::RPMTAG_PREIN,
            IndexTag::RPMTAG_PREINPROG,
        ),
        (
            Self::Post,
            IndexTag::RPMTAG_POSTIN,
            IndexTag::RPMTAG_POSTINPROG,
        ),
        (
            Self::PreUn,
            IndexTag::RPMTAG_PREUN,
            IndexTag::RPMTAG_PREUNPROG,
        ),
        (
            Self::PostUn,
            IndexTag::RPMTAG_POSTUN,
            IndexTag::RPMTAG_POSTUNPROG,
        ),
        (
            Self::PreTrans,
            IndexTag::RPMTAG_PRETRANS,
            IndexTag::RPMTAG_PRETRANSPROG,
        ),
        (
            Self::PostTrans,
            IndexTag::RPMTAG_POSTTRANS,
            IndexTag::RPMTAG_POSTTRANSPROG,
        ),
        (
            Self::PreUnTrans,
            IndexTag::RPMTAG_PREUNTRANS,
            IndexTag::RPMTAG_PREUNTRANSPROG,
        ),
        (
            Self::PostUnTrans,
            IndexTag::RPMTAG_POSTUNTRANS,
            IndexTag::RPMTAG_POSTUNTRANSPROG,
        ),
        (
            Self::Trigger,
            IndexTag::RPMTAG_TRIGGERSCRIPTS,
            IndexTag::RPMTAG_TRIGGERSCRIPTPROG,
        ),
        (
            Self::FileTrigger,
            IndexTag::RPMTAG_FILETRIGGERSCRIPTS,
            IndexTag::RPMTAG_FILETRIGGERSCRIPTPROG,
        ),
        (
            Self::TransFileTrigger,
            IndexTag::RPMTAG_TRANSFILETRIGGERSCRIPTS,
            IndexTag::RPMTAG_TRANSFILETRIGGERSCRIPTPROG,
        ),
    ];
}

impl fmt::Display for ScriptletKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Pre => "%pre",
            Self::Post => "%post",
            Self::PreUn => "%preun",
            Self::PostUn => "%postun",
            Self::PreTrans => "%pretrans",
            Self::PostTrans => "%posttrans",
            Self::PreUnTrans => "%preuntrans",
            Self::PostUnTrans => "%postuntrans",
            Self::Trigger => "%trigger",
            Self::FileTrigger => "%filetrigger",
            Self::TransFileTrigger => "%transfiletrigger",
        })
    }
}

/// One Provides or Requires entry: a capability name and an optional version range.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Dependency {
    /// The capability (`foo`, `libbar.so.1()(64bit)`, `/bin/sh`).
    pub name: String,
    /// rpm's `RPMSENSE_*` flags; bits 1–3 are the comparison (`<`, `>`, `=`).
    pub flags: u32,
    /// `[epoch:]version[-release]`, empty when unversioned.
    pub version: String,
}

impl Dependency {
    /// The comparison operator: `""`, `"<"`, `"<="`, `"="`, `">="` or `">"`.
    pub fn comparison(&self) -> &'static str {
        let f = self.flags & SENSE_MASK;
        match (
            f & SENSE_LESS != 0,
            f & SENSE_GREATER != 0,
            f & SENSE_EQUAL != 0,
        ) {
            (true, false, true) => "<=",
            (false, true, true) => ">=",
            (true, false, false) => "<",
            (false, true, false) => ">",
            (false, false, true) => "=",
            _ => "",
        }
    }

    /// Whether this provided capability satisfies `requirement` (same name, overlapping
    /// version ranges; an unversioned side always overlaps).
    pub fn satisfies(&self, requirement: &Dependency) -> bool {
        self.name == requirement.name
            && ranges_overlap(
                self.flags,
                &self.version,
                requirement.flags,
                &requirement.version,
            )
    }
}

impl fmt::Display for Dependency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let op = self.comparison();
        if op.is_empty() || self.version.is_empty() {
            f.write_str(&self.name)
        } else {
            write!(f, "{} {op} {}", self.name, self.version)
        }
    }
}

/// The header information of one binary RPM that closing and installing need.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RpmInfo {
    /// Where the RPM file is.
    pub path: PathBuf,
    /// Package name.
    pub name: String,
    /// Epoch, when the package has one.
    pub epoch: Option<u32>,
    /// Version.
    pub version: String,
    /// Release.
    pub release: String,
    /// Architecture (`x86_64`, `noarch`...).
    pub arch: String,
    /// One-line summary (empty when the header has none).
    pub summary: String,
    /// Upstream URL (empty when the header has none).
    pub url: String,
    /// License.
    pub license: String,
    /// Provided capabilities; always includes `name = [epoch:]version-release`.
    pub provides: Vec<Dependency>,
    /// Required capabilities, without rpmlib-internal (`rpmlib(...)`) and weak ones.
    pub requires: Vec<Dependency>,
    /// Absolute paths of the files the package ships (each is also a capability).
    pub files: Vec<String>,
    /// The scriptlets the package has, in [`ScriptletKind`] order.
    pub scriptlets: Vec<ScriptletKind>,
    /// The payload compressor the header names (`zstd`, `xz`, `gzip`...).
    pub payload_compressor: String,
}

impl RpmInfo {
    /// Reads the headers (not the payload) of the RPM at `path`.
    pub fn read(path: &Path) -> Result<RpmInfo> {
        let file = File::open(path).map_err(fsutil::io_err("open RPM", path))?;
        let metadata =
            PackageMetadata::parse(&mut BufReader::new(file)).map_err(|source| Error::Header {
                path: path.to_owned(),
                source,
            })?;
        Self::from_metadata(path, &metadata)
    }

    /// Builds the information from already parsed headers.
    pub(crate) fn from_metadata(path: &Path, metadata: &PackageMetadata) -> Result<RpmInfo> {
        let invalid = |detail: String| Error::InvalidHeader {
            path: path.to_owned(),
            detail,
        };
        if metadata.is_source_package() {
            return Err(invalid(
                "this is a source RPM; only binary RPMs can be installed".into(),
            ));
        }
        let field = |what: &str, r: std::result::Result<&str, rpm::Error>| {
            r.map(str::to_owned)
                .map_err(|e| invalid(format!("cannot read the package {what}: {e}")))
        };
        let name = field("name", metadata.get_name())?;
        let version = field("version", metadata.get_version())?;
        let release = field("release", metadata.get_release())?;
        let arch = field("architecture", metadata.get_arch())?;
        let optional = |r: std::result::Result<&str, rpm::Error>| r.unwrap_or_default().to_owned();
        let summary = optional(metadata.get_summary());
        let url = optional(metadata.get_url());
        let license = optional(metadata.get_license());
        let epoch = match metadata.get_epoch() {
            Ok(e) => Some(e),
            Err(rpm::Error::TagNotFound(_)) => None,
            Err(e) => return Err(invalid(format!("cannot read the package epoch: {e}"))),
        };
        let convert = |deps: Vec<rpm::Dependency>| -> Vec<Dependency> {
            deps.into_iter()
                .map(|d| Dependency {
                    name: d.name,
                    flags: d.flags.bits(),
                    version: d.version,
                })
                .collect()
        };
        let mut provides = convert(
            metadata
                .get_provides()
                .map_err(|e| invalid(format!("cannot read Provides: {e}")))?,
        );
        let requires = convert(
            metadata
                .get_requires()
                .map_err(|e| invalid(format!("cannot read Requires: {e}")))?,
        )
        .into_iter()
        .filter(|d| {
            d.flags & (SENSE_RPMLIB | SENSE_MISSINGOK) == 0 && !d.name.starts_with("rpmlib(")
        })
        .collect();
        let evr = match epoch {
            Some(e) => format!("{e}:{version}-{release}"),
            None => format!("{version}-{release}"),
        };
        if !provides.iter().any(|p| p.name == name) {
            provides.push(Dependency {
                name: name.clone(),
                flags: SENSE_EQUAL,
                version: evr,
            });
        }
        let files = metadata
            .get_file_paths()
            .map_err(|e| invalid(format!("cannot read the file list: {e}")))?
            .into_iter()
            .map(|p| p.to_string_lossy().into_owned())
            .collect();
        let scriptlets = ScriptletKind::TAGS
            .iter()
            .filter(|(_, script, prog)| {
                metadata.header.entry_is_present(*script) || metadata.header.entry_is_present(*prog)
            })
            .map(|(kind, _, _)| *kind)
            .collect();
        let payload_compressor = metadata
            .header
            .get_entry_data_as_string(IndexTag::RPMTAG_PAYLOADCOMPRESSOR)
            .unwrap_or("gzip")
            .to_owned();
        Ok(RpmInfo {
            path: path.to_owned(),
            name,
            epoch,
            version,
            release,
            arch,
            summary,
            url,
            license,
            provides,
            requires,
            files,
            scriptlets,
            payload_compressor,
        })
    }

    /// `[epoch:]version-release`.
    pub fn evr(&self) -> String {
        match self.epoch {
            Some(e) => format!("{e}:{}-{}", self.version, self.release),
            None => format!("{}-{}", self.version, self.release),
        }
    }

    /// `name-[epoch:]version-release.arch`, how packages are named in messages.
    pub fn nevra(&self) -> String {
        format!("{}-{}.{}", self.name, self.evr(), self.arch)
    }

    /// Whether the package satisfies `requirement`, through a Provides entry or, for a
    /// requirement on an absolute path, by shipping that file.
    pub fn provides_capability(&self, requirement: &Dependency) -> bool {
        self.provides.iter().any(|p| p.satisfies(requirement))
            || (requirement.name.starts_with('/') && self.files.contains(&requirement.name))
    }
}
