//! The build SDK: a container image holding rpmbuild, compilers, filesystem and boot tools.
//!
//! A project either pulls a published SDK or, with `local = true` in `Twoliter.toml`, builds
//! one on this machine from Debian packages ([`SdkRecipe`]), with mmdebstrap from the mirror the
//! host's apt already uses. The image is tagged with a digest of its recipe, so a changed recipe
//! gets a new image and an unchanged one is found again without rebuilding.

pub mod apt;
mod resolve;

pub use resolve::{LocalSdk, Resolved, SdkObserver, HOST_APT_CONFIG};

use sha2::{Digest, Sha256};
use std::path::Path;
use std::process::{Command, Stdio};
use twoliter_engine::Engine;
use twoliter_project::Arch;

/// Bump when the way the SDK is made changes (not its package list, which is hashed anyway).
const RECIPE_VERSION: &str = "1";

/// The Debian packages of the development SDK: RPM tooling, a C toolchain and what the kernel
/// build needs, what GRUB's build from Debian's source package needs (autotools, autopoint,
/// python3, the 32-bit multilib for i386-pc), filesystem and image tools, busybox and the
/// kernel source.
pub const SDK_PACKAGES: &[&str] = &[
    "autoconf",
    "automake",
    "autopoint",
    "bash",
    "bc",
    "bison",
    "busybox-static",
    "cpio",
    "createrepo-c",
    "diffutils",
    "dosfstools",
    "e2fsprogs",
    "erofs-utils",
    "file",
    "flex",
    "gcc",
    "gcc-multilib",
    "gettext",
    "kmod",
    "libelf-dev",
    "libssl-dev",
    "linux-source-6.1",
    "lz4",
    "make",
    "mtools",
    "patch",
    "pkg-config",
    "python3",
    "qemu-utils",
    "rpm",
    "xz-utils",
    "zstd",
];

/// Errors while building or finding the SDK.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// No Debian mirror in the host's apt configuration.
    #[error("no Debian archive found in {0}/sources.list or sources.list.d/\nhelp: configure apt with a `deb` source for the Debian release (`deb <mirror URI> <release> main`)")]
    NoMirror(String),
    /// mmdebstrap is not installed.
    #[error(
        "mmdebstrap is not installed ({0})\nhelp: install it with `apt-get install mmdebstrap`"
    )]
    NoMmdebstrap(String),
    /// mmdebstrap failed.
    #[error("mmdebstrap failed ({status}); the last lines of {log}:\n{tail}")]
    Mmdebstrap {
        /// Exit status.
        status: String,
        /// The log.
        log: String,
        /// Its last lines.
        tail: String,
    },
    /// Files of the build could not be written.
    #[error(transparent)]
    Io(#[from] fsutil::IoError),
    /// The container engine failed.
    #[error(transparent)]
    Engine(#[from] twoliter_engine::Error),
    /// `Twoliter.toml` has no `[sdk]`.
    #[error("Twoliter.toml has no [sdk] table\nhelp: add one (e.g. `[sdk] name = \"twoliter-sdk\", version = \"0.1.0\", local = true`)")]
    NoSdk,
    /// The project's SDK is a published one, which cannot be pulled yet.
    #[error("pulling SDK {name} {version} from a registry is not supported yet\nhelp: set `local = true` under [sdk] in Twoliter.toml to build it here with `twoliter sdk build`")]
    NotLocal {
        /// The SDK's name.
        name: String,
        /// Its version.
        version: String,
    },
    /// The lock pins a recipe that differs from this machine's.
    #[error("Twoliter.lock pins SDK {locked_source} (recipe {locked}), but on this machine the SDK recipe is {digest} ({reference}, Debian {suite}): the Debian release or architecture differs\nhelp: run `twoliter sdk build` to build and pin this machine's SDK, or build where the pinned one was made")]
    LockMismatch {
        /// The pinned image.
        locked_source: String,
        /// The pinned digest.
        locked: String,
        /// This machine's recipe digest.
        digest: String,
        /// This machine's reference.
        reference: String,
        /// This machine's Debian suite.
        suite: String,
    },
    /// `Twoliter.lock` could not be written.
    #[error(transparent)]
    Lock(#[from] twoliter_project::LockWriteError),
}

/// What the local SDK is made of. Its [`digest`](Self::digest) names the image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SdkRecipe {
    /// Image name from `Twoliter.toml` (`twoliter-sdk`).
    pub name: String,
    /// Image version from `Twoliter.toml`.
    pub version: String,
    /// Debian architecture (`amd64`).
    pub debian_arch: String,
    /// Debian suite (`bookworm`).
    pub suite: String,
    /// Debian packages to install.
    pub packages: Vec<String>,
}

/// An SDK image present in the engine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SdkImage {
    /// The tag it runs by (`localhost/twoliter-sdk:0.1.0-<digest>`).
    pub reference: String,
    /// The image's content digest (its layer digests): part of every package's cache key, and
    /// the same for a rebuilt SDK with the same files.
    pub id: String,
}

impl SdkRecipe {
    /// The recipe of `name` `version` for `arch` and Debian `suite`.
    pub fn new(name: &str, version: &str, arch: Arch, suite: &str) -> Result<Self, Error> {
        let debian_arch = match arch {
            Arch::X86_64 => "amd64",
            Arch::Aarch64 => "arm64",
        };
        Ok(Self {
            name: name.into(),
            version: version.into(),
            debian_arch: debian_arch.into(),
            suite: suite.into(),
            packages: SDK_PACKAGES.iter().map(|p| p.to_string()).collect(),
        })
    }

    /// `sha256:<hex>` over everything that decides the image's contents.
    pub fn digest(&self) -> String {
        let mut hasher = Sha256::new();
        for part in [RECIPE_VERSION, &self.debian_arch, &self.suite] {
            hasher.update(part.as_bytes());
            hasher.update(b"\n");
        }
        for package in &self.packages {
            hasher.update(package.as_bytes());
            hasher.update(b"\n");
        }
        format!("sha256:{}", hex::encode(hasher.finalize()))
    }

    /// The image reference: `localhost/<name>:<version>-<first 12 digits of the digest>`.
    pub fn reference(&self) -> String {
        let digest = self.digest();
        format!(
            "localhost/{}:{}-{}",
            self.name,
            self.version,
            &digest["sha256:".len()..][..12]
        )
    }

    /// The SDK image when the engine already has it.
    pub fn find(&self, engine: &Engine) -> Result<Option<SdkImage>, Error> {
        let reference = self.reference();
        Ok(engine
            .image_digest(&reference)?
            .map(|id| SdkImage { reference, id }))
    }

    /// Builds the image with mmdebstrap from `mirror` into a tarball under `work_dir`, imports
    /// it, and deletes the tarball. `epoch` pins file times (SOURCE_DATE_EPOCH). mmdebstrap's
    /// output goes to `log`.
    pub fn build(
        &self,
        engine: &Engine,
        mirror: &str,
        work_dir: &Path,
        log: &Path,
        epoch: u64,
    ) -> Result<SdkImage, Error> {
        std::fs::create_dir_all(work_dir).map_err(fsutil::io_err("create", work_dir))?;
        let tarball = work_dir.join(format!("{}-{}.tar", self.name, self.debian_arch));
        let _ = std::fs::remove_file(&tarball);
        let out = std::fs::File::create(log).map_err(fsutil::io_err("create", log))?;
        let err = out.try_clone().map_err(fsutil::io_err("open", log))?;
        let status = Command::new("mmdebstrap")
            .arg("--variant=apt")
            .arg(format!("--architectures={}", self.debian_arch))
            .arg(format!("--include={}", self.packages.join(",")))
            // Documentation is dead weight in a build container.
            .args(
                ["doc", "man", "info"]
                    .map(|dir| format!("--dpkgopt=path-exclude=/usr/share/{dir}/*")),
            )
            .arg(&self.suite)
            .arg(&tarball)
            .arg(mirror)
            .env("SOURCE_DATE_EPOCH", epoch.to_string())
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .status();
        match status {
            Ok(status) if status.success() => {}
            Ok(status) => {
                let text = std::fs::read_to_string(log).unwrap_or_default();
                let lines: Vec<&str> = text.lines().collect();
                return Err(Error::Mmdebstrap {
                    status: status.to_string(),
                    log: log.display().to_string(),
                    tail: lines[lines.len().saturating_sub(20)..].join("\n"),
                });
            }
            Err(e) => return Err(Error::NoMmdebstrap(e.to_string())),
        }
        let imported = engine.import(&tarball, &self.reference());
        let _ = std::fs::remove_file(&tarball);
        Ok(SdkImage {
            reference: self.reference(),
            id: imported?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reference_follows_the_recipe() {
        let a = SdkRecipe::new("twoliter-sdk", "0.1.0", Arch::X86_64, "bookworm").unwrap();
        let mut b = a.clone();
        assert_eq!(a.reference(), b.reference());
        assert!(a.reference().starts_with("localhost/twoliter-sdk:0.1.0-"));
        b.packages.push("strace".into());
        assert_ne!(a.digest(), b.digest());
        let arm = SdkRecipe::new("twoliter-sdk", "0.1.0", Arch::Aarch64, "bookworm").unwrap();
        assert_eq!(arm.debian_arch, "arm64");
        assert_ne!(arm.digest(), a.digest());
    }
}
