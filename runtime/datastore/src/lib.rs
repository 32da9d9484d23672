//! The settings datastore of the on-host runtime.
//!
//! Settings live as one file per key under a versioned directory (see [`version`]):
//!
//! * [`Key`]: validated data keys (`settings.kubernetes.node-labels."example.com/role"`) and
//!   metadata keys (`affected-services`);
//! * [`FilesystemDataStore`] (alias [`Datastore`]): reads, writes, transactions and commits
//!   (layout in [`store`]);
//! * [`to_pairs`] / [`from_pairs`]: conversion between nested JSON and key/value pairs;
//! * [`create`]: a fresh datastore behind the `current` → `vX` → `vX.Y` → `vX.Y.Z` →
//!   `vX.Y.Z_<id>` links.
//!
//! # Reading pending transactions
//!
//! A read with [`Committed::Pending`] sees the transaction overlaid on live: a key the transaction
//! sets has its pending value, a key it unsets is absent, every other key has its live value.
//! [`FilesystemDataStore::pending_changes`] gives the transaction alone.
//!
//! # Atomic, durable commits
//!
//! `live` is a symlink to a generation directory `live.<g>`; a generation is never modified once
//! `live` points at it, and no file is ever modified in place. A commit (of a transaction, or a
//! direct write to live):
//!
//! 1. builds `live.<g+1>.tmp`: every unchanged file of `live.<g>` is hard-linked in, each set
//!    key is written as a new file, unset keys are left out; every new file and directory is
//!    fsynced;
//! 2. renames it to `live.<g+1>` and fsyncs the datastore directory;
//! 3. **commit point**: creates a temp symlink to `live.<g+1>` and renames it over `live`, then
//!    fsyncs the datastore directory;
//! 4. removes the transaction's pending tree (the new generation carries a hidden marker naming
//!    the transaction until this is done, so an interrupted cleanup is finished later and a
//!    committed transaction can never be committed twice), then deletes `live.<g>`.
//!
//! A crash before step 3 leaves `live` on the old generation, after it on the new one; never a
//! mix. Recovery ([`FilesystemDataStore::open`], and every write before it starts) removes
//! `*.tmp` generations, generations `live` doesn't point at and half-deleted transactions, and
//! finishes step 4. Pending writes replace each file by temp + fsync + rename, so a pending file
//! is never torn either.
//!
//! # Concurrency
//!
//! Writers (pending writes, commits, deletes) hold an exclusive `flock` on `.lock`, taken through
//! an open file of their own, so it excludes threads and processes alike. Readers take no lock: they resolve `live` once, read that
//! generation, and retry if `live` moved meanwhile (after a few retries they take a shared
//! `flock`), so a read always sees exactly one generation and never stalls a writer.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod encoding;
mod error;
mod files;
pub mod key;
pub mod serialization;
pub mod store;
pub mod version;

pub use error::{Error, Result};

/// Where a host keeps its versioned datastores (on PRIVATE, as on Bottlerocket): storewolf's
/// `--data-store-base-path` default.
pub const DEFAULT_BASE_PATH: &str = "/var/lib/bottlerocket/datastore";
/// The host's live datastore (the `current` link under [`DEFAULT_BASE_PATH`]): the apiserver's
/// and thar-be-settings' `--datastore-path` default.
pub const DEFAULT_CURRENT_PATH: &str = "/var/lib/bottlerocket/datastore/current";
pub use key::{Key, KeyType, KEY_SEPARATOR, MAX_KEY_LEN};
pub use serialization::{
    from_pairs, to_pairs, to_pairs_with_prefix, validate_data_value, validate_metadata_value,
};
pub use store::{
    validate_transaction_name, Committed, Datastore, FilesystemDataStore, TransactionChanges,
};
pub use version::{create, create_version_dir, current_version, link_version, DatastoreVersion};
