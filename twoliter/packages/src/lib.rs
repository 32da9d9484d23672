//! Package builds: RPM specs built with `rpmbuild -bb` inside the SDK container, scheduled as a
//! DAG over `build-dependencies` with `-j N`, and cached by content.
//!
//! Each package's cache key is sha256 over its named [`Inputs`](inputs::Inputs): every file of
//! its directory (manifest and spec included), its external files' sha512s, its first-party
//! binaries, its dependencies' keys, the SDK image ID, the architecture, the epoch and
//! [`BUILD_LOGIC_VERSION`](inputs::BUILD_LOGIC_VERSION). A hit links the cached RPMs and starts no
//! container; a miss says which input changed. Kits ([`kit`]) collect a kit's RPMs with yum
//! repodata and an OCI archive.

pub mod debian;
pub mod firstparty;
pub mod http;
pub mod inputs;
pub mod kit;
pub mod lookaside;
mod plan;
mod rpmbuild;
mod scheduler;
mod session;

pub use kit::{KitInfo, KitOutput};
pub use plan::{Plan, Planned, Preflight};
pub use scheduler::{BuildReport, Observer, Outcome};
pub use session::{PackageBuild, SdkImageRef};

use std::path::{Path, PathBuf};
use twoliter_project::{Arch, ProjectLayout};

/// Errors of package and kit builds.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A package name that no kit has.
    #[error("no package named `{name}` in this project's kits{}", hint.as_ref().map(|h| format!("\nhelp: did you mean `{h}`?")).unwrap_or_default())]
    UnknownPackage {
        /// The name asked for.
        name: String,
        /// The closest existing name.
        hint: Option<String>,
    },
    /// A kit name that the project does not have.
    #[error("no kit named `{name}` under kits/; the project has: {known}")]
    UnknownKit {
        /// The name asked for.
        name: String,
        /// The kits that exist.
        known: String,
    },
    /// Build dependencies form a cycle.
    #[error(
        "build dependencies form a cycle: {0}\nhelp: remove one of these `build-dependencies`"
    )]
    Cycle(String),
    /// External files are missing or wrong; nothing was built.
    #[error("{} external file(s) are not available, so nothing was built:\n  {}\nhelp: put the files into a lookaside directory (`--lookaside-cache <dir>` or TWOLITER_LOOKASIDE_CACHE) in the layout <dir>/<file>/<sha512>/<file>, point it at a lookaside URL, or allow `--fetch-upstream` where the network is reachable", .0.len(), .0.iter().map(|u| u.to_string()).collect::<Vec<_>>().join("\n  "))]
    Unavailable(Vec<Box<lookaside::Unavailable>>),
    /// Two sources of one package would be staged under the same name.
    #[error("package {package}: {first} and {second} are both named `{name}` in the build's sources\nhelp: rename one (an external file can get another name with `path:` in package.yaml)")]
    SourceCollision {
        /// The package.
        package: String,
        /// The clashing name.
        name: String,
        /// What had the name first.
        first: String,
        /// What wanted it too.
        second: String,
    },
    /// cargo failed on first-party sources.
    #[error("{message}{}", if log.is_empty() { String::new() } else { format!("; see {log}") })]
    Cargo {
        /// What failed.
        message: String,
        /// The cargo log.
        log: String,
    },
    /// A file could not be written.
    #[error(transparent)]
    Fs(#[from] fsutil::IoError),
    /// The kit archive could not be written.
    #[error("cannot write the kit archive")]
    Kit(#[source] twoliter_oci::Error),
    /// The container engine failed outside a package build.
    #[error(transparent)]
    Engine(#[from] twoliter_engine::Error),
    /// Packages of another architecture cannot be built here.
    #[error("building {wanted} packages on this {host} machine is not supported yet (no cross builds); build on an {wanted} machine")]
    CrossBuild {
        /// The architecture asked for.
        wanted: Arch,
        /// This machine's.
        host: &'static str,
    },
    /// The SDK image could not be found, built or checked.
    #[error("the SDK is not usable")]
    Sdk(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// `SOURCE_DATE_EPOCH` is not a number.
    #[error(transparent)]
    Epoch(#[from] twoliter_project::InvalidEpoch),
}

/// What the user chooses about a package build (the command line's flags); everything else
/// follows from the project.
#[derive(Debug, Clone, Default)]
pub struct BuildChoices {
    /// Packages built at once [default: the number of CPUs].
    pub jobs: Option<usize>,
    /// Lookaside sources tried before `<project>/lookaside/`.
    pub lookaside: Vec<lookaside::LookasideSource>,
    /// Also download external files from upstream.
    pub fetch_upstream: bool,
    /// The package cache [default: `<project>/build/cache`].
    pub cache_dir: Option<PathBuf>,
}

/// Where and how a build runs.
#[derive(Debug, Clone)]
pub struct BuildOptions {
    /// The project's paths (absolute and symlink-free: container mounts need them).
    pub layout: ProjectLayout,
    /// Target architecture.
    pub arch: Arch,
    /// Packages built at once.
    pub jobs: usize,
    /// The content-addressed store (`<cache>/packages/<arch>/<key>/`).
    pub cache_dir: PathBuf,
    /// External-file sources.
    pub lookaside: lookaside::Lookaside,
    /// SOURCE_DATE_EPOCH for every package.
    pub epoch: u64,
}

impl BuildOptions {
    /// The options of a build of the project at `root` for `arch`: the root made absolute and
    /// symlink-free (container mounts and cargo's path remapping need that), the cache and
    /// lookaside as `choices` say (with `<project>/lookaside/` always searched last, and the
    /// local store in `<cache>/lookaside`), and the packages' epoch from `SOURCE_DATE_EPOCH`.
    ///
    /// # Errors
    /// [`Error::Fs`] when the root cannot be resolved, [`Error::Epoch`] when
    /// `SOURCE_DATE_EPOCH` is not a number.
    pub fn for_project(root: &Path, arch: Arch, choices: BuildChoices) -> Result<Self, Error> {
        let root = std::fs::canonicalize(root).map_err(fsutil::io_err("resolve", root))?;
        let layout = ProjectLayout::new(root);
        let cache_dir = choices
            .cache_dir
            .unwrap_or_else(|| layout.default_cache_dir());
        let mut sources = choices.lookaside;
        if layout.lookaside_dir().is_dir() {
            sources.push(lookaside::LookasideSource::Dir(layout.lookaside_dir()));
        }
        let jobs = choices.jobs.unwrap_or_else(|| {
            std::thread::available_parallelism().map_or(2, std::num::NonZeroUsize::get)
        });
        Ok(Self {
            arch,
            jobs,
            lookaside: lookaside::Lookaside {
                sources,
                store: cache_dir.join("lookaside"),
                fetch_upstream: choices.fetch_upstream,
                debian: debian::DebianArchive {
                    etc_apt: PathBuf::from(twoliter_sdk::HOST_APT_CONFIG),
                },
            },
            cache_dir,
            layout,
            epoch: twoliter_project::Epochs::from_env()?.packages(),
        })
    }

    /// `build/logs/<name>.log`.
    pub fn log(&self, name: &str) -> PathBuf {
        self.layout.log(name)
    }

    /// `build/rpms/<arch>/<package>/`: a package's RPMs after a build.
    pub fn exported(&self, package: &str) -> PathBuf {
        self.layout.rpms_dir(self.arch, package)
    }

    fn cached(&self, key: &str) -> PathBuf {
        self.cache_dir
            .join("packages")
            .join(self.arch.name())
            .join(key)
    }

    fn state(&self, package: &str) -> PathBuf {
        self.layout
            .state_dir(self.arch)
            .join(format!("{package}.json"))
    }

    fn work(&self, package: &str) -> PathBuf {
        self.layout.work_dir(self.arch, package)
    }
}

/// Hard-links `from` to `to`, copying when they are on different filesystems.
pub(crate) fn link_or_copy(from: &Path, to: &Path) -> std::io::Result<()> {
    let _ = std::fs::remove_file(to);
    std::fs::hard_link(from, to).or_else(|_| std::fs::copy(from, to).map(|_| ()))
}

/// Copies the tree `from` into `to` (created), linking files where possible and following
/// symlinks (so the copy matches what [`inputs::hash_tree`] hashed).
pub(crate) fn copy_tree(from: &Path, to: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(to)?;
    for entry in std::fs::read_dir(from)? {
        let entry = entry?;
        if inputs::is_scratch(&entry.file_name().to_string_lossy()) {
            continue;
        }
        let (source, target) = (entry.path(), to.join(entry.file_name()));
        if std::fs::metadata(&source)?.is_dir() {
            copy_tree(&source, &target)?;
        } else {
            link_or_copy(&std::fs::canonicalize(&source)?, &target)?;
        }
    }
    Ok(())
}

/// The RPM files directly in `dir`, sorted.
pub(crate) fn rpms_in(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut rpms: Vec<PathBuf> = std::fs::read_dir(dir)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "rpm"))
        .collect();
    rpms.sort();
    Ok(rpms)
}

#[cfg(test)]
mod tests {
    use super::*;
    use lookaside::LookasideSource;

    #[test]
    fn options_resolve_the_root_and_search_the_project_lookaside_last() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("project");
        std::fs::create_dir_all(root.join("lookaside")).unwrap();
        std::os::unix::fs::symlink(&root, dir.path().join("link")).unwrap();
        let given = LookasideSource::parse("https://lookaside.example/cache/");
        let options = BuildOptions::for_project(
            &dir.path().join("link"),
            Arch::X86_64,
            BuildChoices {
                jobs: Some(3),
                lookaside: vec![given.clone()],
                ..BuildChoices::default()
            },
        )
        .unwrap();
        let root = root.canonicalize().unwrap();
        assert_eq!(options.layout.root(), root);
        assert_eq!(options.jobs, 3);
        assert_eq!(options.cache_dir, root.join("build/cache"));
        assert_eq!(options.lookaside.store, root.join("build/cache/lookaside"));
        assert_eq!(
            options.lookaside.sources,
            [given, LookasideSource::Dir(root.join("lookaside"))]
        );

        let cache = dir.path().join("cache");
        let options = BuildOptions::for_project(
            &root,
            Arch::X86_64,
            BuildChoices {
                cache_dir: Some(cache.clone()),
                ..BuildChoices::default()
            },
        )
        .unwrap();
        assert_eq!(options.lookaside.store, cache.join("lookaside"));
        assert!(options.jobs >= 1);
        let missing = BuildOptions::for_project(
            &dir.path().join("absent"),
            Arch::X86_64,
            BuildChoices::default(),
        )
        .unwrap_err();
        assert!(missing.to_string().contains("absent"), "{missing}");
    }
}
