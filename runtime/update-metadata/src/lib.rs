//! The `manifest.json` target of a TUF update repository, shared by the build side (`twoliter`
//! adds releases and waves) and the host (`updog` picks an update and its migrations).
//!
//! The format is Bottlerocket's:
//!
//! ```json
//! {
//!   "updates": [
//!     {
//!       "variant": "aws-k8s-1.31",
//!       "arch": "x86_64",
//!       "version": "1.20.0",
//!       "max_version": "1.20.0",
//!       "waves": { "0": "2024-05-01T01:00:00Z", "20": "2024-05-01T04:00:00Z" },
//!       "images": { "boot": "...-boot.ext4.lz4", "root": "...-root.ext4.lz4", "hash": "...-root.verity.lz4" }
//!     }
//!   ],
//!   "migrations": { "(1.19.0, 1.20.0)": ["migrate_v1.20.0_foo.lz4"] },
//!   "datastore_versions": { "1.20.0": "1.20.0" }
//! }
//! ```
//!
//! * [`Manifest`], [`Update`], [`Images`]: the types; [`Manifest::from_path`],
//!   [`Manifest::to_json_pretty`] and the atomic [`Manifest::write`];
//! * [`Manifest::add_update`]: publish a version (raising older entries' `max_version`);
//! * [`WavePolicy`] and [`waves_for`]: staged rollouts by host seed (see [`waves`]);
//! * [`Manifest::best_update`] and [`Manifest::migrations_between`]: the host's choice.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod error;
mod manifest;
mod timestamp;
pub mod waves;

pub use error::{Error, Result, UpdateId};
pub use manifest::{AddUpdateOptions, Images, Manifest, Update};
pub use timestamp::Timestamp;
pub use waves::{seed_bound, waves_for, Wave, WavePolicy, MAX_SEED};
