//! The artifact-directory contract of twoliter builds (DESIGN §2.8): what
//! `twoliter build variant` leaves in `build/images/<arch>-<variant>/<version>-<build>/` and what
//! `twoliter repo` and `twoliter publish` read back.
//!
//! - [`ArtifactName`]: `bottlerocket-<variant>-<arch>-<version>-<build>`, the prefix of every
//!   versioned file; [`ArtifactKind`] gives each file's name from it.
//! - [`Metadata`]: the machine-readable `<name>.json` written beside the images.
//! - [`ArtifactDir`]: one build's directory, opened by path or found as the newest build of a
//!   variant; [`images_dir`] is the directory of a variant's builds.
//!
//! Image assembly (`twoliter-image`) is the one writer of an artifact directory; the variant
//! pipeline adds its extra files ([`ArtifactKind::Inventory`]) through [`ArtifactDir::write`].
//! Publishing keeps its own state beside the images under names given here
//! ([`ArtifactDir::amis_file`], [`ArtifactDir::publish_lock`]).
//!
//! ```
//! use twoliter_artifacts::{ArtifactKind, ArtifactName};
//! let name: ArtifactName = "bottlerocket-aws-k8s-1.31-x86_64-1.2.3-abc1234".parse().unwrap();
//! assert_eq!(name.variant, "aws-k8s-1.31");
//! assert_eq!(name.release(), "1.2.3-abc1234");
//! assert_eq!(
//!     ArtifactKind::OsDisk.file_name(&name),
//!     "bottlerocket-aws-k8s-1.31-x86_64-1.2.3-abc1234.img.lz4"
//! );
//! ```

#![deny(missing_docs)]

mod dir;
mod error;
mod fs;
mod metadata;
mod name;

pub use dir::{images_dir, ArtifactDir, PublishLock, BUILD_INPUTS_FILE, LATEST};
pub use error::{Error, Result};
pub use fs::write_atomic;
pub use metadata::{
    ArtifactFile, DiskReport, DiskRole, FirmwareBoot, ImageFormat, Metadata, PartitionReport,
    PartitionUsage, RootFs, VerityInfo,
};
pub use name::{ArtifactKind, ArtifactName};
pub use twoliter_project::Arch;
