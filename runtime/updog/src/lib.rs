//! `updog`: Bottlerocket's update client.
//!
//! updog reads its configuration ([`Config`], `/etc/updog.toml`), the running version and variant
//! ([`OsRelease`]), and loads the TUF update repository with tough ([`Repo`]): the trusted
//! `root.json`, then timestamp, snapshot and targets, with signatures, expirations and versions
//! checked (a persistent metadata directory rejects rolled-back metadata across runs). From the
//! signed `manifest.json` it picks an update (variant, architecture, `version ≤ max_version`,
//! the wave of this host's seed, the version lock), then:
//!
//! 1. clears the inactive bank (priority 0) so it can never boot half-written;
//! 2. streams the lz4 boot, root and hash images into the inactive bank's partitions while tough
//!    verifies their length and sha256, decompression and writing overlapping ([`image`]);
//! 3. caches the migrations between the running and the new version;
//! 4. on `update-apply`, gives the new bank one trial boot (signpost's `upgrade_to_inactive`).
//!
//! See [`Updog`] for the operations and the `updog` binary for the command line.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod config;
pub mod error;
pub mod image;
pub mod progress;
pub mod repo;
pub mod update;

pub use config::{Config, OsRelease, DEFAULT_SEED};
pub use error::{Error, Result};
pub use progress::Progress;
pub use repo::Repo;
pub use update::{parse_now, Applied, Reverted, Settings, Staged, Updog};
