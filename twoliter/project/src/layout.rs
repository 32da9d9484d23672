//! Where a project's build outputs live: every path under `build/` is named here, so the
//! commands and libraries that read or write them agree without repeating path literals.
//!
//! ```text
//! <root>/build/
//!   .lock                       one build per build directory at a time
//!   cache/                      default content-addressed cache (packages, lookaside)
//!   images/<arch>-<variant>/    artifact directories (see twoliter-artifacts)
//!   kits/<kit>/                 built kits: RPMs, repodata, OCI archive
//!   logs/<step>.log             one log per step
//!   repos/<repo>/               signed TUF repositories
//!   rpms/<arch>/<package>/      each package's RPMs after a build
//!   sdk/                        the SDK image build's scratch space
//!   state/<arch>/               what the last build learned (inputs, closure), for explanations
//!   work/<arch>/                per-step scratch directories
//! <root>/lookaside/             a project-local lookaside cache, used when present
//! ```

use crate::Arch;
use std::path::{Path, PathBuf};

/// The paths of a project's build outputs, from its root.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProjectLayout {
    root: PathBuf,
    build: PathBuf,
}

impl ProjectLayout {
    /// The layout of the project at `root`.
    pub fn new(root: impl Into<PathBuf>) -> Self {
        let root = root.into();
        let build = root.join("build");
        Self { root, build }
    }

    /// The project root.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// `build/`.
    pub fn build_dir(&self) -> &Path {
        &self.build
    }

    /// `build/.lock`: held while a build uses the build directory.
    pub fn lock_file(&self) -> PathBuf {
        self.build.join(".lock")
    }

    /// `build/cache/`: the cache used when no `--cache-dir` is given.
    pub fn default_cache_dir(&self) -> PathBuf {
        self.build.join("cache")
    }

    /// `build/images/`: every variant's artifact directories.
    pub fn images_dir(&self) -> PathBuf {
        self.build.join("images")
    }

    /// `build/kits/<kit>/`.
    pub fn kit_dir(&self, kit: &str) -> PathBuf {
        self.build.join("kits").join(kit)
    }

    /// `build/logs/`.
    pub fn logs_dir(&self) -> PathBuf {
        self.build.join("logs")
    }

    /// `build/logs/<step>.log`.
    pub fn log(&self, step: &str) -> PathBuf {
        self.logs_dir().join(format!("{step}.log"))
    }

    /// `build/repos/`: the signed update repositories.
    pub fn repos_dir(&self) -> PathBuf {
        self.build.join("repos")
    }

    /// `build/rpms/<arch>/<package>/`: a package's RPMs after a build.
    pub fn rpms_dir(&self, arch: Arch, package: &str) -> PathBuf {
        self.build.join("rpms").join(arch.name()).join(package)
    }

    /// `build/sdk/`: scratch space of the SDK image build.
    pub fn sdk_dir(&self) -> PathBuf {
        self.build.join("sdk")
    }

    /// `build/state/<arch>/`: what the last builds learned.
    pub fn state_dir(&self, arch: Arch) -> PathBuf {
        self.build.join("state").join(arch.name())
    }

    /// `build/work/<arch>/<step>/`: a step's scratch directory.
    pub fn work_dir(&self, arch: Arch, step: &str) -> PathBuf {
        self.build.join("work").join(arch.name()).join(step)
    }

    /// `<root>/lookaside/`: a project-local lookaside cache.
    pub fn lookaside_dir(&self) -> PathBuf {
        self.root.join("lookaside")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_output_is_under_build() {
        let layout = ProjectLayout::new("/p");
        let arch = Arch::X86_64;
        assert_eq!(layout.build_dir(), Path::new("/p/build"));
        assert_eq!(layout.lock_file(), Path::new("/p/build/.lock"));
        assert_eq!(layout.images_dir(), Path::new("/p/build/images"));
        assert_eq!(layout.log("sdk"), Path::new("/p/build/logs/sdk.log"));
        assert_eq!(
            layout.rpms_dir(arch, "kernel"),
            Path::new("/p/build/rpms/x86_64/kernel")
        );
        assert_eq!(layout.state_dir(arch), Path::new("/p/build/state/x86_64"));
        assert_eq!(
            layout.work_dir(arch, "variant-metal-dev"),
            Path::new("/p/build/work/x86_64/variant-metal-dev")
        );
        assert_eq!(
            layout.kit_dir("core-kit"),
            Path::new("/p/build/kits/core-kit")
        );
        assert_eq!(layout.repos_dir(), Path::new("/p/build/repos"));
        assert_eq!(layout.default_cache_dir(), Path::new("/p/build/cache"));
        assert_eq!(layout.lookaside_dir(), Path::new("/p/lookaside"));
    }
}
