//! Root filesystem trees from RPM packages.
//!
//! A variant lists the packages it wants. [`RpmInfo::read`] reads the headers of the RPMs the
//! kit repositories offer, [`resolve`] closes the wanted names over Requires/Provides, and
//! [`install`] (or an [`Installer`], for conflict messages naming both packages) extracts each
//! chosen package's payload into a directory tree that then becomes the image's root
//! filesystem.
//!
//! Nothing from a package is ever run: packages with scriptlets (`%pre`, `%post`, triggers...)
//! are refused unless [`InstallOptions::allow_scriptlets`] is set, and even then their
//! scriptlets are skipped. Payloads (cpio, compressed with zstd, xz or gzip) are checked
//! against the header's payload digest, and every path is confined to the root: entries with
//! `..` are refused and symlinks already in the root are followed as if the root were `/`.
//!
//! Installing sets owners and device nodes, so it needs root privileges (or a user namespace
//! mapping them).

#![forbid(unsafe_code)]

mod closure;
mod cpio;
mod error;
mod info;
mod install;
mod version;

pub use closure::resolve;
pub use error::{ClosureError, Error, Result};
pub use info::{Dependency, RpmInfo, ScriptletKind};
pub use install::{install, InstallOptions, InstallReport, Installer};
pub use version::rpmvercmp;
