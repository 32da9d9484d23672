//! The `manifest.json` types, reading and writing, and editing.

use crate::error::{Error, Result, UpdateId};
use crate::timestamp::Timestamp;
use crate::waves::MAX_SEED;
use fsutil::io_err;
use semver::Version;
use serde::de::{Error as _, MapAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::collections::BTreeMap;
use std::fmt;
use std::fs;
use std::path::Path;
use std::time::SystemTime;

/// The image files of one update, as TUF target names (lz4-compressed).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Images {
    /// The BOOT partition image, e.g. `bottlerocket-aws-k8s-1.31-x86_64-1.20.0-abcdef01-boot.ext4.lz4`.
    pub boot: String,
    /// The ROOT partition image, e.g. `...-root.ext4.lz4`.
    pub root: String,
    /// The dm-verity HASH partition image, e.g. `...-root.verity.lz4`.
    pub hash: String,
}

/// One OS version published for a variant and architecture.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Update {
    /// The variant, e.g. `aws-k8s-1.31` (old manifests call this `flavor`, which is accepted).
    #[serde(alias = "flavor")]
    pub variant: String,
    /// The architecture, `x86_64` or `aarch64`.
    pub arch: String,
    /// The OS version of the images.
    pub version: Version,
    /// The highest version hosts of this variant/arch should move to. An entry whose `version`
    /// is above its `max_version` is hidden from hosts (that is how a release is pulled).
    pub max_version: Version,
    /// First seed of each wave → the time that wave may start updating (see [`crate::waves`]).
    /// Empty means available to every host at once.
    #[serde(default, deserialize_with = "deserialize_waves")]
    pub waves: BTreeMap<u32, Timestamp>,
    /// The image targets.
    pub images: Images,
}

impl Update {
    /// An update with `max_version = version` and no waves.
    #[must_use]
    pub fn new(
        variant: impl Into<String>,
        arch: impl Into<String>,
        version: Version,
        images: Images,
    ) -> Self {
        Self {
            variant: variant.into(),
            arch: arch.into(),
            max_version: version.clone(),
            version,
            waves: BTreeMap::new(),
            images,
        }
    }

    /// When a host with `seed` may take this update: the start time of the wave holding the
    /// seed (the largest bound ≤ `seed`; seeds below the first bound belong to the first wave).
    /// `None` when there are no waves: the update is available at once.
    #[must_use]
    pub fn wave_start(&self, seed: u32) -> Option<&Timestamp> {
        self.waves
            .range(..=seed)
            .next_back()
            .or_else(|| self.waves.iter().next())
            .map(|(_, time)| time)
    }

    /// Whether a host with `seed` may take this update at `now`.
    #[must_use]
    pub fn is_ready(&self, seed: u32, now: SystemTime) -> bool {
        self.wave_start(seed)
            .is_none_or(|start| start.is_at_or_before(now))
    }

    fn matches(&self, variant: &str, arch: &str) -> bool {
        self.variant == variant && self.arch == arch
    }

    fn invalid(&self, reason: impl Into<String>) -> Error {
        Error::InvalidUpdate {
            id: UpdateId::boxed(&self.variant, &self.arch, &self.version),
            reason: reason.into(),
        }
    }

    /// Checks names and waves (bounds within `0..=MAX_SEED`, times strictly increasing).
    fn validate(&self) -> Result<()> {
        for (name, value) in [("variant", &self.variant), ("arch", &self.arch)] {
            if value.is_empty() || value.chars().any(|c| c.is_whitespace() || c.is_control()) {
                return Err(self.invalid(format!(
                    "{name} '{value}' must be non-empty without whitespace"
                )));
            }
        }
        if let Some(bound) = self.waves.keys().find(|b| **b > MAX_SEED) {
            return Err(self.invalid(format!(
                "wave seed bound {bound} is above the maximum {MAX_SEED}"
            )));
        }
        let mut prev: Option<(&u32, &Timestamp)> = None;
        for (bound, time) in &self.waves {
            if let Some((prev_bound, prev_time)) = prev {
                if time <= prev_time {
                    return Err(self.invalid(format!(
                        "wave {bound} starts at {time}, not after wave {prev_bound} ({prev_time}); \
                         later seeds must start later"
                    )));
                }
            }
            prev = Some((bound, time));
        }
        Ok(())
    }
}

/// Options for [`Manifest::add_update`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AddUpdateOptions {
    /// Replace an entry with the same variant, arch and version instead of failing.
    pub replace: bool,
    /// Accept a version older than the newest one published for the variant and arch.
    pub allow_older: bool,
}

/// The `manifest.json` target of an update repository.
///
/// Field order, map ordering (`waves` by seed, `migrations` and `datastore_versions` by version)
/// and the 2-space pretty JSON without a trailing newline match what Bottlerocket's pubsys writes;
/// `updates` keep their order. Unknown fields are ignored when reading (and not written back).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    /// Every published OS version, for every variant and arch (required, as in Bottlerocket).
    pub updates: Vec<Update>,
    /// Migrations to run between two versions, keyed `(from, to)` with `from < to`, serialized
    /// as `"(1.19.0, 1.20.0)"`. Moving backward runs the same lists in reverse order.
    #[serde(
        default,
        serialize_with = "serialize_migrations",
        deserialize_with = "deserialize_migrations"
    )]
    pub migrations: BTreeMap<(Version, Version), Vec<String>>,
    /// OS version → datastore version. Only written when non-empty (current Bottlerocket no
    /// longer has this field; early manifests required it).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub datastore_versions: BTreeMap<Version, Version>,
}

impl Manifest {
    /// Parses a manifest from JSON bytes.
    ///
    /// # Errors
    /// [`Error::ParseManifest`] naming the offending field (e.g. `updates[0].version`).
    pub fn from_slice(json: &[u8]) -> Result<Self> {
        Self::parse(json, "(in memory)".to_string())
    }

    /// Reads and parses a manifest file.
    ///
    /// # Errors
    /// [`Error::Io`] when it can't be read, else as [`Manifest::from_slice`].
    pub fn from_path(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        let bytes = fs::read(path).map_err(io_err("read", path))?;
        Self::parse(&bytes, format!("'{}'", path.display()))
    }

    fn parse(json: &[u8], origin: String) -> Result<Self> {
        let mut de = serde_json::Deserializer::from_slice(json);
        let manifest: Self = serde_path_to_error::deserialize(&mut de).map_err(|e| {
            let field = e.path().to_string();
            Error::ParseManifest {
                origin: origin.clone(),
                field,
                source: e.into_inner(),
            }
        })?;
        de.end().map_err(|source| Error::ParseManifest {
            origin,
            field: ".".to_string(),
            source,
        })?;
        Ok(manifest)
    }

    /// The manifest as pretty JSON (2-space indent, no trailing newline), deterministic for a
    /// given manifest.
    ///
    /// # Errors
    /// [`Error::SerializeManifest`] if serialization fails (not expected for these types).
    pub fn to_json_pretty(&self) -> Result<String> {
        serde_json::to_string_pretty(self).map_err(|source| Error::SerializeManifest { source })
    }

    /// Checks the manifest, then writes it to `path` atomically: a temp file in the same
    /// directory is written and fsynced, renamed over `path`, and the directory fsynced.
    ///
    /// # Errors
    /// [`Error::InvalidManifest`]/[`Error::InvalidUpdate`]/[`Error::InvalidMigration`] from
    /// [`Manifest::validate`], or [`Error::Io`].
    pub fn write(&self, path: impl AsRef<Path>) -> Result<()> {
        self.validate()?;
        let json = self.to_json_pretty()?;
        fsutil::atomic_write(path.as_ref(), json.as_bytes(), 0o644)?;
        Ok(())
    }

    /// Checks what the JSON shape alone can't: update names and waves (bounds ≤ 2048, times
    /// strictly increasing), no two entries for one variant/arch/version, and migration keys
    /// with `from < to`.
    ///
    /// # Errors
    /// [`Error::InvalidUpdate`], [`Error::InvalidManifest`] or [`Error::InvalidMigration`].
    pub fn validate(&self) -> Result<()> {
        for (i, update) in self.updates.iter().enumerate() {
            update.validate()?;
            if let Some(j) = self.updates[..i].iter().position(|u| {
                u.matches(&update.variant, &update.arch) && u.version == update.version
            }) {
                return Err(Error::InvalidManifest {
                    field: format!("updates[{i}]"),
                    reason: format!(
                        "duplicates updates[{j}] (variant '{}' arch '{}' version {}); remove one",
                        update.variant, update.arch, update.version
                    ),
                });
            }
        }
        for (from, to) in self.migrations.keys() {
            if from >= to {
                return Err(Error::InvalidMigration {
                    from: from.clone(),
                    to: to.clone(),
                    reason: "the first version must be lower than the second".to_string(),
                });
            }
        }
        Ok(())
    }

    /// The newest version published for `variant` and `arch`.
    #[must_use]
    pub fn newest_version(&self, variant: &str, arch: &str) -> Option<&Version> {
        self.updates
            .iter()
            .filter(|u| u.matches(variant, arch))
            .map(|u| &u.version)
            .max()
    }

    /// Adds an update, then raises the `max_version` of every entry of the same variant and
    /// arch (the new one included) to the highest of: the existing `max_version`s, the new
    /// version and the new entry's own `max_version`. This is Bottlerocket's behaviour: hosts
    /// on any older release see the new one.
    ///
    /// A new entry is appended; a replaced one keeps its position.
    ///
    /// # Errors
    /// - [`Error::InvalidUpdate`] for empty names or bad waves;
    /// - [`Error::DuplicateUpdate`] if the version exists and `options.replace` is false;
    /// - [`Error::OlderThanNewest`] if the version is new but below the newest existing one
    ///   and `options.allow_older` is false.
    pub fn add_update(&mut self, update: Update, options: AddUpdateOptions) -> Result<()> {
        update.validate()?;
        let (variant, arch) = (update.variant.clone(), update.arch.clone());
        let existing = self
            .updates
            .iter()
            .position(|u| u.matches(&variant, &arch) && u.version == update.version);
        match existing {
            Some(_) if !options.replace => {
                return Err(Error::DuplicateUpdate {
                    id: UpdateId::boxed(&variant, &arch, &update.version),
                });
            }
            None if !options.allow_older => {
                if let Some(newest) = self.newest_version(&variant, &arch) {
                    if *newest > update.version {
                        return Err(Error::OlderThanNewest {
                            id: UpdateId::boxed(&variant, &arch, &update.version),
                            newest: newest.clone(),
                        });
                    }
                }
            }
            _ => {}
        }
        let max_version = self
            .updates
            .iter()
            .filter(|u| u.matches(&variant, &arch))
            .map(|u| &u.max_version)
            .chain([&update.version, &update.max_version])
            .max()
            .cloned()
            .unwrap_or_else(|| update.version.clone());
        match existing {
            Some(i) => self.updates[i] = update,
            None => self.updates.push(update),
        }
        for u in self
            .updates
            .iter_mut()
            .filter(|u| u.matches(&variant, &arch))
        {
            u.max_version = max_version.clone();
        }
        Ok(())
    }

    /// Sets the `max_version` of every entry of `variant` and `arch`, lowering or raising it:
    /// lowering pulls the releases above `max_version` from hosts. Returns how many entries
    /// changed.
    pub fn set_max_version(&mut self, variant: &str, arch: &str, max_version: &Version) -> usize {
        let mut changed = 0;
        for u in self.updates.iter_mut().filter(|u| u.matches(variant, arch)) {
            if u.max_version != *max_version {
                u.max_version = max_version.clone();
                changed += 1;
            }
        }
        changed
    }

    /// Replaces the waves of the entry `variant`/`arch`/`version` (e.g. with
    /// [`crate::waves_for`]'s result; an empty map releases it to everyone at once).
    ///
    /// # Errors
    /// [`Error::UpdateNotFound`] if there is no such entry, [`Error::InvalidUpdate`] if the
    /// waves are invalid (the entry is then left unchanged).
    pub fn set_waves(
        &mut self,
        variant: &str,
        arch: &str,
        version: &Version,
        waves: BTreeMap<u32, Timestamp>,
    ) -> Result<()> {
        let Some(update) = self
            .updates
            .iter_mut()
            .find(|u| u.matches(variant, arch) && u.version == *version)
        else {
            return Err(Error::UpdateNotFound {
                id: UpdateId::boxed(variant, arch, version),
            });
        };
        let old = std::mem::replace(&mut update.waves, waves);
        if let Err(e) = update.validate() {
            update.waves = old;
            return Err(e);
        }
        Ok(())
    }

    /// Sets the migrations run between `from` and `to` (an empty list still links the two
    /// versions in the chain [`Manifest::migrations_between`] follows).
    ///
    /// # Errors
    /// [`Error::InvalidMigration`] unless `from < to` and every name is a plain, non-empty file
    /// name.
    pub fn set_migrations(&mut self, from: Version, to: Version, names: Vec<String>) -> Result<()> {
        let invalid = |reason: String| Error::InvalidMigration {
            from: from.clone(),
            to: to.clone(),
            reason,
        };
        if from >= to {
            return Err(invalid(
                "the first version must be lower than the second".to_string(),
            ));
        }
        if let Some(bad) = names
            .iter()
            .find(|n| n.is_empty() || n.contains('/') || n.as_str() == "." || n.as_str() == "..")
        {
            return Err(invalid(format!("'{bad}' is not a plain target file name")));
        }
        self.migrations.insert((from, to), names);
        Ok(())
    }

    /// The migrations to run, in order, to move a datastore from `from` to `to`.
    ///
    /// Forward, the chain starts at `from` and repeatedly takes the entry `(v, w)` with the
    /// highest `w ≤ to` (so a shortcut entry wins) until it reaches `to`. Backward
    /// (`from > to`), the forward chain from `to` to `from` is reversed. `from == to` needs none.
    ///
    /// # Errors
    /// [`Error::MissingMigration`] naming the version where the chain breaks.
    pub fn migrations_between(&self, from: &Version, to: &Version) -> Result<Vec<String>> {
        if from <= to {
            self.migrations_forward(from, to)
        } else {
            self.migrations_forward(to, from)
                .map(|names| names.into_iter().rev().collect())
                .map_err(|e| match e {
                    Error::MissingMigration { at, .. } => Error::MissingMigration {
                        from: from.clone(),
                        to: to.clone(),
                        at,
                    },
                    other => other,
                })
        }
    }

    fn migrations_forward(&self, from: &Version, to: &Version) -> Result<Vec<String>> {
        let mut names = Vec::new();
        let mut at = from;
        while at != to {
            // Keys sort by (from, to): the last key starting at `at` with an end ≤ `to` is the
            // longest step. Requiring end > at guarantees progress.
            let step = self
                .migrations
                .iter()
                .rfind(|((f, t), _)| f == at && t > at && t <= to);
            let Some(((_, next), list)) = step else {
                return Err(Error::MissingMigration {
                    from: from.clone(),
                    to: to.clone(),
                    at: at.clone(),
                });
            };
            names.extend(list.iter().cloned());
            at = next;
        }
        Ok(names)
    }

    /// The update a host should move to, if any.
    ///
    /// Candidates are the entries of `variant`/`arch` with `version ≤ max_version` whose wave
    /// for `seed` has started at `now` (unless `ignore_waves`; an entry without waves is
    /// available at once). Without a lock, the newest candidate newer than `current_version` is
    /// chosen. With `version_lock`, only the candidate with exactly that version is, if it
    /// differs from `current_version` (a lock below the running version is a downgrade).
    /// Seeds above 2047 count as the last wave.
    #[allow(clippy::too_many_arguments)]
    #[must_use]
    pub fn best_update(
        &self,
        variant: &str,
        arch: &str,
        current_version: &Version,
        seed: u32,
        now: SystemTime,
        ignore_waves: bool,
        version_lock: Option<&Version>,
    ) -> Option<&Update> {
        let mut candidates = self.updates.iter().filter(|u| {
            u.matches(variant, arch)
                && u.version <= u.max_version
                && (ignore_waves || u.is_ready(seed, now))
        });
        match version_lock {
            Some(lock) if lock == current_version => None,
            Some(lock) => candidates.find(|u| u.version == *lock),
            None => candidates
                .filter(|u| u.version > *current_version)
                .max_by(|a, b| a.version.cmp(&b.version)),
        }
    }
}

/// Reads `waves` keys as decimal seed bounds ≤ `MAX_SEED`, rejecting duplicates.
fn deserialize_waves<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<BTreeMap<u32, Timestamp>, D::Error> {
    struct WavesVisitor;
    impl<'de> Visitor<'de> for WavesVisitor {
        type Value = BTreeMap<u32, Timestamp>;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a map of seed bounds (\"0\"..\"2048\") to RFC 3339 times")
        }
        fn visit_map<M: MapAccess<'de>>(self, mut access: M) -> Result<Self::Value, M::Error> {
            let mut map = BTreeMap::new();
            while let Some(key) = access.next_key::<String>()? {
                let bound = key
                    .bytes()
                    .all(|b| b.is_ascii_digit())
                    .then(|| key.parse::<u32>().ok())
                    .flatten()
                    .filter(|b| *b <= MAX_SEED)
                    .ok_or_else(|| {
                        M::Error::custom(format!(
                            "wave seed bound '{key}' is not an integer from 0 to {MAX_SEED}"
                        ))
                    })?;
                let time: Timestamp = access.next_value()?;
                if map.insert(bound, time).is_some() {
                    return Err(M::Error::custom(format!(
                        "wave seed bound {bound} appears twice"
                    )));
                }
            }
            Ok(map)
        }
    }
    deserializer.deserialize_map(WavesVisitor)
}

/// Parses a migrations key `"(1.19.0, 1.20.0)"` (any spaces after the comma).
fn parse_migration_key(key: &str) -> Option<(Version, Version)> {
    let inner = key.strip_prefix('(')?.strip_suffix(')')?;
    let (from, to) = inner.split_once(',')?;
    let (from, to) = (from.trim(), to.trim());
    if from.is_empty() || to.is_empty() {
        return None;
    }
    Some((Version::parse(from).ok()?, Version::parse(to).ok()?))
}

#[allow(clippy::type_complexity)]
fn deserialize_migrations<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<BTreeMap<(Version, Version), Vec<String>>, D::Error> {
    struct MigrationsVisitor;
    impl<'de> Visitor<'de> for MigrationsVisitor {
        type Value = BTreeMap<(Version, Version), Vec<String>>;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a map of \"(from, to)\" version pairs to lists of migration names")
        }
        fn visit_map<M: MapAccess<'de>>(self, mut access: M) -> Result<Self::Value, M::Error> {
            let mut map = BTreeMap::new();
            while let Some(key) = access.next_key::<String>()? {
                let pair = parse_migration_key(&key).ok_or_else(|| {
                    M::Error::custom(format!(
                        "migrations key '{key}' is not a version pair like \"(1.19.0, 1.20.0)\""
                    ))
                })?;
                let list: Vec<String> = access.next_value()?;
                if map.insert(pair, list).is_some() {
                    return Err(M::Error::custom(format!(
                        "migrations key '{key}' appears twice"
                    )));
                }
            }
            Ok(map)
        }
    }
    deserializer.deserialize_map(MigrationsVisitor)
}

fn serialize_migrations<S: Serializer>(
    migrations: &BTreeMap<(Version, Version), Vec<String>>,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    serializer.collect_map(
        migrations
            .iter()
            .map(|((from, to), list)| (format!("({from}, {to})"), list)),
    )
}
