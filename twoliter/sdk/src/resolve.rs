//! The project's SDK on this machine: its recipe from `Twoliter.toml` and the host's apt
//! configuration, checked against `Twoliter.lock`, found in the engine or built, and pinned.

use crate::apt::{self, AptSource};
use crate::{Error, SdkImage, SdkRecipe};
use std::path::Path;
use twoliter_engine::Engine;
use twoliter_project::{Arch, LockedImage, Project};

/// Where this machine configures its Debian archives.
pub const HOST_APT_CONFIG: &str = "/etc/apt";

/// Hears about an SDK build, e.g. to show a spinner.
pub trait SdkObserver {
    /// A build starts; `message` says what is built from where, and where the log is.
    fn building(&self, message: &str);
    /// The build ended (either way).
    fn finished(&self);
}

/// What [`LocalSdk::ensure`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolved {
    /// The image.
    pub image: SdkImage,
    /// Whether it was built now (else it was found in the engine).
    pub built: bool,
    /// Whether `Twoliter.lock` was written to pin it.
    pub pinned: bool,
}

/// The project's local SDK on this machine.
#[derive(Debug, Clone)]
pub struct LocalSdk {
    /// Its recipe.
    pub recipe: SdkRecipe,
    /// The Debian archive it is built from.
    pub source: AptSource,
    /// Its entry in `Twoliter.lock`.
    pin: LockedImage,
}

impl LocalSdk {
    /// The SDK of `project` for `arch`, built from the Debian archive configured under
    /// `etc_apt` (`/etc/apt`).
    pub fn new(project: &Project, arch: Arch, etc_apt: &Path) -> Result<Self, Error> {
        let sdk = project.config.sdk.as_ref().ok_or(Error::NoSdk)?;
        if !sdk.local {
            return Err(Error::NotLocal {
                name: sdk.name.clone(),
                version: sdk.version.to_string(),
            });
        }
        let source = apt::main_source(etc_apt)
            .ok_or_else(|| Error::NoMirror(etc_apt.display().to_string()))?;
        let recipe = SdkRecipe::new(&sdk.name, &sdk.version.to_string(), arch, &source.suite)?;
        let pin = LockedImage {
            name: sdk.name.clone(),
            version: sdk.version.clone(),
            vendor: None,
            source: recipe.reference(),
            digest: recipe.digest(),
        };
        Ok(Self {
            recipe,
            source,
            pin,
        })
    }

    /// The SDK of `project` for `arch`, built from this machine's Debian archive
    /// ([`HOST_APT_CONFIG`]).
    pub fn on_this_host(project: &Project, arch: Arch) -> Result<Self, Error> {
        Self::new(project, arch, Path::new(HOST_APT_CONFIG))
    }

    /// The image package builds use: the lock checked against this machine's recipe, then
    /// found or built, and pinned ([`LocalSdk::ensure`] without forcing).
    pub fn for_packages(
        &self,
        project: &Project,
        engine: &Engine,
        epoch: u64,
        observer: &dyn SdkObserver,
    ) -> Result<Resolved, Error> {
        self.check_lock(project)?;
        self.ensure(project, engine, epoch, false, observer)
    }

    /// Fails when `Twoliter.lock` pins another recipe than this machine's.
    pub fn check_lock(&self, project: &Project) -> Result<(), Error> {
        let locked = project.lock.as_ref().and_then(|lock| lock.sdk.as_ref());
        match locked {
            Some(locked) if locked.digest != self.recipe.digest() => Err(Error::LockMismatch {
                locked_source: locked.source.clone(),
                locked: locked.digest.clone(),
                digest: self.recipe.digest(),
                reference: self.recipe.reference(),
                suite: self.recipe.suite.clone(),
            }),
            _ => Ok(()),
        }
    }

    /// The image: found in `engine`, or built (always when `force`) into `build/sdk` with its
    /// log at `build/logs/sdk.log`; then pinned in `Twoliter.lock` when the pin changed.
    pub fn ensure(
        &self,
        project: &Project,
        engine: &Engine,
        epoch: u64,
        force: bool,
        observer: &dyn SdkObserver,
    ) -> Result<Resolved, Error> {
        let found = if force {
            None
        } else {
            self.recipe.find(engine)?
        };
        let (image, built) = match found {
            Some(image) => (image, false),
            None => (self.build(project, engine, epoch, observer)?, true),
        };
        let pinned = project.pin_sdk(self.pin.clone())?;
        Ok(Resolved {
            image,
            built,
            pinned,
        })
    }

    fn build(
        &self,
        project: &Project,
        engine: &Engine,
        epoch: u64,
        observer: &dyn SdkObserver,
    ) -> Result<SdkImage, Error> {
        let layout = project.layout();
        let log = layout.log("sdk");
        let logs = layout.logs_dir();
        std::fs::create_dir_all(&logs).map_err(fsutil::io_err("create", &logs))?;
        observer.building(&format!(
            "building SDK {} from {} {} ({} packages; log: {})",
            self.recipe.reference(),
            self.source.uri,
            self.source.suite,
            self.recipe.packages.len(),
            log.display()
        ));
        let result = self
            .recipe
            .build(engine, &self.source.uri, &layout.sdk_dir(), &log, epoch);
        observer.finished();
        result
    }
}
