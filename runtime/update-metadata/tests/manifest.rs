//! Reading, writing, editing and querying `manifest.json`.

use logging::Chain;
use semver::Version;
use std::collections::BTreeMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use update_metadata::{
    waves_for, AddUpdateOptions, Error, Images, Manifest, Timestamp, Update, WavePolicy,
};

const FIXTURE: &str = include_str!("data/manifest.json");
const VARIANT: &str = "aws-k8s-1.31";
const ARCH: &str = "x86_64";

fn v(s: &str) -> Version {
    Version::parse(s).unwrap()
}

fn ts(s: &str) -> Timestamp {
    s.parse().unwrap()
}

/// 2024-05-01T00:00:00Z.
fn may_first() -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(1_714_521_600)
}

fn at(s: &str) -> SystemTime {
    let t = ts(s);
    UNIX_EPOCH
        + Duration::from_secs(u64::try_from(t.unix_seconds()).unwrap())
        + Duration::from_nanos(u64::from(t.subsec_nanos()))
}

fn images(version: &str) -> Images {
    let base = format!("bottlerocket-{VARIANT}-{ARCH}-{version}-abcdef01");
    Images {
        boot: format!("{base}-boot.ext4.lz4"),
        root: format!("{base}-root.ext4.lz4"),
        hash: format!("{base}-root.verity.lz4"),
    }
}

fn update(version: &str) -> Update {
    Update::new(VARIANT, ARCH, v(version), images(version))
}

fn manifest_with(versions: &[&str]) -> Manifest {
    let mut m = Manifest::default();
    for version in versions {
        m.add_update(update(version), AddUpdateOptions::default())
            .unwrap();
    }
    m
}

#[test]
fn bottlerocket_manifest_round_trips_byte_for_byte() {
    let m = Manifest::from_slice(FIXTURE.as_bytes()).unwrap();
    assert_eq!(m.updates.len(), 3);
    assert_eq!(m.updates[1].waves.len(), 7);
    assert_eq!(m.updates[1].waves[&20], ts("2024-05-01T04:00:00Z"));
    assert_eq!(
        m.migrations[&(v("1.19.0"), v("1.20.0"))],
        ["migrate_v1.20.0_foo.lz4", "migrate_v1.20.0_bar.lz4"]
    );
    assert_eq!(m.datastore_versions[&v("1.20.0")], v("1.20.0"));
    m.validate().unwrap();
    assert_eq!(m.to_json_pretty().unwrap(), FIXTURE);

    // Through the filesystem too: write is atomic and leaves no temp file behind.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("manifest.json");
    m.write(&path).unwrap();
    assert_eq!(std::fs::read_to_string(&path).unwrap(), FIXTURE);
    assert_eq!(Manifest::from_path(&path).unwrap(), m);
    let names: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names, ["manifest.json"]);
    // Overwriting an existing file works the same way.
    Manifest::default().write(&path).unwrap();
    assert_eq!(
        std::fs::read_to_string(&path).unwrap(),
        "{\n  \"updates\": [],\n  \"migrations\": {}\n}"
    );
}

#[test]
fn lenient_inputs_are_normalized() {
    // Old field name, no waves, a migrations key without the space, an offset timestamp,
    // unknown fields, no datastore_versions.
    let json = r#"{"updates":[{"flavor":"aws-dev","arch":"x86_64","version":"1.0.0",
        "max_version":"1.0.0","images":{"boot":"b","root":"r","hash":"h"},"extra":1},
        {"variant":"aws-dev","arch":"x86_64","version":"1.1.0","max_version":"1.1.0",
        "waves":{"0":"2024-05-01T02:00:00+02:00"},"images":{"boot":"b","root":"r","hash":"h"}}],
        "migrations":{"(1.0.0,1.1.0)":[]},"future":true}"#;
    let m = Manifest::from_slice(json.as_bytes()).unwrap();
    assert_eq!(m.updates[0].variant, "aws-dev");
    assert!(m.updates[0].waves.is_empty());
    assert_eq!(m.updates[1].waves[&0].to_string(), "2024-05-01T00:00:00Z");
    let out = m.to_json_pretty().unwrap();
    assert!(out.contains("\"(1.0.0, 1.1.0)\": []"), "{out}");
    assert!(out.contains("\"variant\": \"aws-dev\""));
    assert!(!out.contains("flavor") && !out.contains("extra") && !out.contains("future"));
    assert!(!out.contains("datastore_versions"));
    // The normalized form is stable.
    let again = Manifest::from_slice(out.as_bytes()).unwrap();
    assert_eq!(again.to_json_pretty().unwrap(), out);
}

#[test]
fn migration_keys_sort_by_version_and_waves_by_seed() {
    let mut m = manifest_with(&["1.9.0", "1.10.0"]);
    m.set_migrations(v("1.9.0"), v("1.10.0"), vec!["b".into()])
        .unwrap();
    m.set_migrations(v("1.2.0"), v("1.9.0"), vec!["a".into()])
        .unwrap();
    let waves = waves_for(may_first(), &WavePolicy::default()).unwrap();
    m.set_waves(VARIANT, ARCH, &v("1.10.0"), waves).unwrap();
    let out = m.to_json_pretty().unwrap();
    let first = out.find("(1.2.0, 1.9.0)").unwrap();
    let second = out.find("(1.9.0, 1.10.0)").unwrap();
    assert!(first < second, "{out}");
    // Numeric, not lexicographic, seed order.
    let seeds: Vec<usize> = ["\"0\"", "\"20\"", "\"102\"", "\"307\"", "\"1843\""]
        .iter()
        .map(|k| out.find(k).unwrap())
        .collect();
    assert!(seeds.windows(2).all(|w| w[0] < w[1]), "{out}");
}

#[test]
fn add_update_raises_max_version_of_older_entries() {
    let mut m = manifest_with(&["1.18.0", "1.19.0"]);
    m.add_update(
        Update::new(VARIANT, "aarch64", v("1.19.0"), images("1.19.0")),
        AddUpdateOptions::default(),
    )
    .unwrap();
    m.add_update(
        Update::new("aws-dev", ARCH, v("1.19.0"), images("1.19.0")),
        AddUpdateOptions::default(),
    )
    .unwrap();
    m.add_update(update("1.20.0"), AddUpdateOptions::default())
        .unwrap();

    let max = |variant: &str, arch: &str, version: &str| {
        m.updates
            .iter()
            .find(|u| u.variant == variant && u.arch == arch && u.version == v(version))
            .unwrap()
            .max_version
            .to_string()
    };
    assert_eq!(max(VARIANT, ARCH, "1.18.0"), "1.20.0");
    assert_eq!(max(VARIANT, ARCH, "1.19.0"), "1.20.0");
    assert_eq!(max(VARIANT, ARCH, "1.20.0"), "1.20.0");
    // Other arches and variants are untouched.
    assert_eq!(max(VARIANT, "aarch64", "1.19.0"), "1.19.0");
    assert_eq!(max("aws-dev", ARCH, "1.19.0"), "1.19.0");
    assert_eq!(m.newest_version(VARIANT, ARCH), Some(&v("1.20.0")));
    // New entries are appended.
    assert_eq!(m.updates.last().unwrap().version, v("1.20.0"));
}

#[test]
fn add_update_refuses_downgrades_and_duplicates_unless_asked() {
    let mut m = manifest_with(&["1.19.0", "1.20.0"]);
    let err = m
        .add_update(update("1.19.5"), AddUpdateOptions::default())
        .unwrap_err();
    assert!(
        matches!(&err, Error::OlderThanNewest { newest, .. } if *newest == v("1.20.0")),
        "{err}"
    );
    assert!(err.to_string().contains("1.19.5"), "{err}");
    assert_eq!(m.updates.len(), 2);

    let err = m
        .add_update(update("1.20.0"), AddUpdateOptions::default())
        .unwrap_err();
    assert!(matches!(err, Error::DuplicateUpdate { .. }), "{err}");

    // Allowed: an older point release keeps the newest max_version, so hosts still see 1.20.0.
    m.add_update(
        update("1.19.5"),
        AddUpdateOptions {
            allow_older: true,
            ..Default::default()
        },
    )
    .unwrap();
    assert!(m.updates.iter().all(|u| u.max_version == v("1.20.0")));

    // Replacing keeps the entry's position and takes the new images.
    let mut replacement = update("1.19.0");
    replacement.images.boot = "rebuilt-boot.ext4.lz4".into();
    m.add_update(
        replacement,
        AddUpdateOptions {
            replace: true,
            ..Default::default()
        },
    )
    .unwrap();
    assert_eq!(m.updates.len(), 3);
    assert_eq!(m.updates[0].images.boot, "rebuilt-boot.ext4.lz4");
    assert_eq!(m.updates[0].max_version, v("1.20.0"));
}

#[test]
fn add_update_rejects_bad_entries() {
    let mut m = Manifest::default();
    let err = m
        .add_update(
            Update::new("", ARCH, v("1.0.0"), images("1.0.0")),
            AddUpdateOptions::default(),
        )
        .unwrap_err();
    assert!(matches!(err, Error::InvalidUpdate { .. }), "{err}");

    let mut bad = update("1.0.0");
    bad.waves.insert(0, ts("2024-05-02T00:00:00Z"));
    bad.waves.insert(20, ts("2024-05-01T00:00:00Z"));
    let err = m.add_update(bad, AddUpdateOptions::default()).unwrap_err();
    assert!(
        err.to_string().contains("later seeds must start later"),
        "{err}"
    );

    let mut bad = update("1.0.0");
    bad.waves.insert(4096, ts("2024-05-02T00:00:00Z"));
    let err = m.add_update(bad, AddUpdateOptions::default()).unwrap_err();
    assert!(err.to_string().contains("4096"), "{err}");
    assert!(m.updates.is_empty());
}

#[test]
fn set_max_version_pulls_a_release() {
    let mut m = manifest_with(&["1.19.0", "1.20.0"]);
    assert_eq!(m.set_max_version(VARIANT, ARCH, &v("1.19.0")), 2);
    let chosen = m.best_update(VARIANT, ARCH, &v("1.18.0"), 5, may_first(), false, None);
    assert_eq!(chosen.unwrap().version, v("1.19.0"));
    assert!(m
        .best_update(VARIANT, ARCH, &v("1.19.0"), 5, may_first(), false, None)
        .is_none());
}

#[test]
fn set_waves_needs_an_existing_entry_and_valid_waves() {
    let mut m = manifest_with(&["1.0.0"]);
    let err = m
        .set_waves(VARIANT, ARCH, &v("2.0.0"), BTreeMap::new())
        .unwrap_err();
    assert!(matches!(err, Error::UpdateNotFound { .. }), "{err}");
    let good = BTreeMap::from([(0, ts("2024-05-01T00:00:00Z"))]);
    m.set_waves(VARIANT, ARCH, &v("1.0.0"), good.clone())
        .unwrap();
    let bad = BTreeMap::from([
        (0, ts("2024-05-01T00:00:00Z")),
        (10, ts("2024-05-01T00:00:00Z")),
    ]);
    assert!(m.set_waves(VARIANT, ARCH, &v("1.0.0"), bad).is_err());
    assert_eq!(m.updates[0].waves, good);
}

#[test]
fn default_policy_maps_to_exact_bounds_and_times() {
    let waves = waves_for(may_first(), &WavePolicy::default()).unwrap();
    let got: Vec<(u32, String)> = waves.iter().map(|(k, t)| (*k, t.to_string())).collect();
    let want = [
        (0, "2024-05-01T01:00:00Z"),
        (20, "2024-05-01T04:00:00Z"),
        (102, "2024-05-02T00:00:00Z"),
        (307, "2024-05-03T00:00:00Z"),
        (819, "2024-05-05T00:00:00Z"),
        (1228, "2024-05-06T00:00:00Z"),
        (1843, "2024-05-07T00:00:00Z"),
    ];
    let want: Vec<(u32, String)> = want.iter().map(|(k, t)| (*k, t.to_string())).collect();
    assert_eq!(got, want);

    // The same policy written as Bottlerocket's waves.toml gives the same map.
    let toml = r#"
        [[waves]]
        start_after = "1 hour"
        fleet_percentage = 1
        [[waves]]
        start_after = "4 hours"
        fleet_percentage = 5
        [[waves]]
        start_after = "1 day"
        fleet_percentage = 15
        [[waves]]
        start_after = "2 days"
        fleet_percentage = 40
        [[waves]]
        start_after = "4 days"
        fleet_percentage = 60
        [[waves]]
        start_after = "5 days"
        fleet_percentage = 90
        [[waves]]
        start_after = "6 days"
        fleet_percentage = 100
    "#;
    let policy = WavePolicy::from_toml(toml).unwrap();
    assert_eq!(policy, WavePolicy::default());
    // Embedded in another config, the policy validates itself too.
    assert_eq!(toml::from_str::<WavePolicy>(toml).unwrap(), policy);
    let err = toml::from_str::<WavePolicy>(&toml.replace("= 90", "= 95").replace("= 100", "= 95"))
        .unwrap_err();
    assert!(err.to_string().contains("does not increase"), "{err}");
    assert_eq!(waves_for(may_first(), &policy).unwrap(), waves);

    // And the policy serializes back to TOML that parses to itself.
    let text = toml::to_string(&policy).unwrap();
    assert!(text.contains("start_after = \"1h\""), "{text}");
    assert_eq!(WavePolicy::from_toml(&text).unwrap(), policy);
}

#[test]
fn policy_from_path() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("waves.toml");
    std::fs::write(
        &path,
        "[[waves]]\nstart_after = \"30min\"\nfleet_percentage = 50\n\
         [[waves]]\nstart_after = \"2h\"\nfleet_percentage = 100\n",
    )
    .unwrap();
    let policy = WavePolicy::from_path(&path).unwrap();
    let waves = policy.waves_for(may_first()).unwrap();
    assert_eq!(
        waves,
        BTreeMap::from([
            (0, ts("2024-05-01T00:30:00Z")),
            (1024, ts("2024-05-01T02:00:00Z"))
        ])
    );
    let err = WavePolicy::from_path(dir.path().join("missing.toml")).unwrap_err();
    assert!(matches!(err, Error::Io(_)), "{err}");
}

#[test]
fn invalid_policies_are_rejected_with_reasons() {
    let cases = [
        ("waves = []", "no waves"),
        (
            "[[waves]]\nstart_after = \"1h\"\nfleet_percentage = 0",
            "not between 1 and 100",
        ),
        (
            "[[waves]]\nstart_after = \"1h\"\nfleet_percentage = 101",
            "not between 1 and 100",
        ),
        (
            "[[waves]]\nstart_after = \"1h\"\nfleet_percentage = 50\n\
             [[waves]]\nstart_after = \"2h\"\nfleet_percentage = 50",
            "does not increase",
        ),
        (
            "[[waves]]\nstart_after = \"2h\"\nfleet_percentage = 10\n\
             [[waves]]\nstart_after = \"2h\"\nfleet_percentage = 100",
            "not later than",
        ),
        (
            "[[waves]]\nstart_after = \"1d\"\nfleet_percentage = 10\n\
             [[waves]]\nstart_after = \"2h\"\nfleet_percentage = 100",
            "not later than",
        ),
        (
            "[[waves]]\nstart_after = \"1h\"\nfleet_percentage = 40",
            "must be 100",
        ),
        (
            "[[waves]]\nstart_after = \"500ms\"\nfleet_percentage = 100",
            "whole number of seconds",
        ),
        (
            "[[waves]]\nstart_after = \"soon\"\nfleet_percentage = 100",
            "invalid duration 'soon'",
        ),
        (
            "[[waves]]\nstart_after = \"1h\"\nfleet_percent = 100",
            "fleet_percent",
        ),
        ("[[waves]]\nfleet_percentage = 100", "start_after"),
        (
            "[[waves]]\nstart_after = \"1h\"\nfleet_percentage = -5",
            "fleet_percentage",
        ),
    ];
    for (i, (toml, needle)) in cases.into_iter().enumerate() {
        let err = WavePolicy::from_toml(toml).unwrap_err();
        // The first 8 break the rules; the rest are not even the policy's shape.
        if i < 8 {
            assert!(matches!(err, Error::InvalidPolicy { .. }), "{toml}: {err}");
        } else {
            assert!(matches!(err, Error::ParsePolicy { .. }), "{toml}: {err}");
        }
        let report = Chain(&err).to_string();
        assert!(report.contains(needle), "{toml}: {report}");
    }
    let err = WavePolicy::new(Vec::new()).unwrap_err();
    assert!(matches!(err, Error::InvalidPolicy { .. }), "{err}");
}

#[test]
fn waves_for_reports_times_out_of_range() {
    let far = UNIX_EPOCH + Duration::from_secs(253_402_300_000); // late 9999
    let err = waves_for(far, &WavePolicy::default()).unwrap_err();
    assert!(matches!(err, Error::TimeOutOfRange { .. }), "{err}");
}

/// A manifest with 1.19.0 (no waves) and 1.20.0 (default waves from 2024-05-01).
fn staged() -> Manifest {
    let mut m = manifest_with(&["1.19.0", "1.20.0"]);
    let waves = waves_for(may_first(), &WavePolicy::default()).unwrap();
    m.set_waves(VARIANT, ARCH, &v("1.20.0"), waves).unwrap();
    m
}

#[test]
fn waves_gate_by_seed_and_time() {
    let m = staged();
    let pick = |seed: u32, now: &str| {
        m.best_update(VARIANT, ARCH, &v("1.18.0"), seed, at(now), false, None)
            .map(|u| u.version.to_string())
    };
    // Before the first wave every host gets only the wave-less 1.19.0.
    assert_eq!(pick(0, "2024-05-01T00:59:59Z").as_deref(), Some("1.19.0"));
    // The first wave (seeds 0-19) starts at 01:00 exactly.
    assert_eq!(pick(0, "2024-05-01T01:00:00Z").as_deref(), Some("1.20.0"));
    assert_eq!(pick(19, "2024-05-01T01:00:00Z").as_deref(), Some("1.20.0"));
    assert_eq!(pick(20, "2024-05-01T01:00:00Z").as_deref(), Some("1.19.0"));
    // Second wave (20-101) at 04:00.
    assert_eq!(
        pick(20, "2024-05-01T03:59:59.999Z").as_deref(),
        Some("1.19.0")
    );
    assert_eq!(pick(20, "2024-05-01T04:00:00Z").as_deref(), Some("1.20.0"));
    assert_eq!(pick(101, "2024-05-01T04:00:00Z").as_deref(), Some("1.20.0"));
    assert_eq!(pick(102, "2024-05-01T23:59:59Z").as_deref(), Some("1.19.0"));
    assert_eq!(pick(102, "2024-05-02T00:00:00Z").as_deref(), Some("1.20.0"));
    // The last wave holds seeds 1843-2047 (and, defensively, anything above).
    assert_eq!(
        pick(1842, "2024-05-06T00:00:00Z").as_deref(),
        Some("1.20.0")
    );
    assert_eq!(
        pick(1843, "2024-05-06T23:59:59Z").as_deref(),
        Some("1.19.0")
    );
    assert_eq!(
        pick(2047, "2024-05-07T00:00:00Z").as_deref(),
        Some("1.20.0")
    );
    assert_eq!(
        pick(u32::MAX, "2024-05-07T00:00:00Z").as_deref(),
        Some("1.20.0")
    );

    // ignore_waves takes the newest at once.
    let forced = m.best_update(VARIANT, ARCH, &v("1.18.0"), 2047, may_first(), true, None);
    assert_eq!(forced.unwrap().version, v("1.20.0"));

    // A host already on the newest ready version has nothing to do.
    assert!(m
        .best_update(VARIANT, ARCH, &v("1.19.0"), 2047, may_first(), false, None)
        .is_none());
    // Other arches and variants see nothing.
    assert!(m
        .best_update(VARIANT, "aarch64", &v("1.0.0"), 0, may_first(), true, None)
        .is_none());
    assert!(m
        .best_update("aws-dev", ARCH, &v("1.0.0"), 0, may_first(), true, None)
        .is_none());
}

#[test]
fn seeds_below_the_first_bound_join_the_first_wave() {
    let mut m = manifest_with(&["1.0.0"]);
    let waves = BTreeMap::from([
        (100, ts("2024-05-01T01:00:00Z")),
        (1000, ts("2024-05-01T02:00:00Z")),
    ]);
    m.set_waves(VARIANT, ARCH, &v("1.0.0"), waves).unwrap();
    let u = &m.updates[0];
    assert_eq!(u.wave_start(5), Some(&ts("2024-05-01T01:00:00Z")));
    assert!(!u.is_ready(5, at("2024-05-01T00:59:59Z")));
    assert!(u.is_ready(5, at("2024-05-01T01:00:00Z")));
    assert!(update("1.0.0").is_ready(5, UNIX_EPOCH));
}

#[test]
fn version_lock_picks_exactly_that_version() {
    let m = manifest_with(&["1.18.0", "1.19.0", "1.20.0"]);
    let pick = |current: &str, lock: &str| {
        m.best_update(
            VARIANT,
            ARCH,
            &v(current),
            7,
            may_first(),
            false,
            Some(&v(lock)),
        )
        .map(|u| u.version.to_string())
    };
    assert_eq!(pick("1.18.0", "1.19.0").as_deref(), Some("1.19.0"));
    // Locked to the running version: nothing to do.
    assert_eq!(pick("1.19.0", "1.19.0"), None);
    // Locked below the running version: a downgrade.
    assert_eq!(pick("1.20.0", "1.18.0").as_deref(), Some("1.18.0"));
    // Locked to an unpublished version: nothing.
    assert_eq!(pick("1.18.0", "1.21.0"), None);

    // The lock still honours waves unless they are ignored.
    let staged = staged();
    let locked = |ignore_waves| {
        staged
            .best_update(
                VARIANT,
                ARCH,
                &v("1.19.0"),
                2047,
                may_first(),
                ignore_waves,
                Some(&v("1.20.0")),
            )
            .map(|u| u.version.to_string())
    };
    assert_eq!(locked(false), None);
    assert_eq!(locked(true).as_deref(), Some("1.20.0"));
}

fn chain() -> Manifest {
    let mut m = Manifest::default();
    m.set_migrations(
        v("1.0.0"),
        v("1.1.0"),
        vec!["m_1.1.0_a".into(), "m_1.1.0_b".into()],
    )
    .unwrap();
    m.set_migrations(v("1.1.0"), v("1.2.0"), vec![]).unwrap();
    m.set_migrations(v("1.2.0"), v("1.3.0"), vec!["m_1.3.0_c".into()])
        .unwrap();
    // A shortcut that skips 1.2.0.
    m.set_migrations(v("1.1.0"), v("1.3.0"), vec!["m_1.3.0_shortcut".into()])
        .unwrap();
    m.set_migrations(v("1.3.0"), v("1.4.0"), vec!["m_1.4.0_d".into()])
        .unwrap();
    m
}

#[test]
fn migration_chains_forward_and_backward() {
    let m = chain();
    assert_eq!(
        m.migrations_between(&v("1.0.0"), &v("1.4.0")).unwrap(),
        ["m_1.1.0_a", "m_1.1.0_b", "m_1.3.0_shortcut", "m_1.4.0_d"]
    );
    // The shortcut overshoots 1.2.0, so the step-by-step path is taken.
    assert_eq!(
        m.migrations_between(&v("1.0.0"), &v("1.2.0")).unwrap(),
        ["m_1.1.0_a", "m_1.1.0_b"]
    );
    assert_eq!(
        m.migrations_between(&v("1.4.0"), &v("1.0.0")).unwrap(),
        ["m_1.4.0_d", "m_1.3.0_shortcut", "m_1.1.0_b", "m_1.1.0_a"]
    );
    assert!(m
        .migrations_between(&v("1.2.0"), &v("1.2.0"))
        .unwrap()
        .is_empty());
    assert_eq!(
        m.migrations_between(&v("1.2.0"), &v("1.3.0")).unwrap(),
        ["m_1.3.0_c"]
    );
}

#[test]
fn migration_gaps_are_errors() {
    let m = chain();
    let err = m.migrations_between(&v("1.0.0"), &v("1.5.0")).unwrap_err();
    match &err {
        Error::MissingMigration { from, to, at } => {
            assert_eq!((from, to, at), (&v("1.0.0"), &v("1.5.0"), &v("1.4.0")));
        }
        other => panic!("unexpected error {other}"),
    }
    assert!(err.to_string().contains("(1.4.0, <next version>)"), "{err}");
    // Backward through the same gap names the requested direction.
    let err = m.migrations_between(&v("1.5.0"), &v("1.0.0")).unwrap_err();
    assert!(
        matches!(&err, Error::MissingMigration { from, .. } if *from == v("1.5.0")),
        "{err}"
    );
    // A start version with no entry at all.
    let err = m.migrations_between(&v("0.9.0"), &v("1.1.0")).unwrap_err();
    assert!(matches!(err, Error::MissingMigration { .. }), "{err}");
}

#[test]
fn set_migrations_rejects_bad_entries() {
    let mut m = Manifest::default();
    for (from, to, names) in [
        ("1.1.0", "1.1.0", vec![]),
        ("1.2.0", "1.1.0", vec![]),
        ("1.0.0", "1.1.0", vec!["../evil".to_string()]),
        ("1.0.0", "1.1.0", vec![String::new()]),
    ] {
        let err = m.set_migrations(v(from), v(to), names).unwrap_err();
        assert!(matches!(err, Error::InvalidMigration { .. }), "{err}");
    }
    assert!(m.migrations.is_empty());

    // A backward key read from a file is caught by validate (and so by write).
    let json = r#"{"updates":[],"migrations":{"(1.1.0, 1.0.0)":[]}}"#;
    let m = Manifest::from_slice(json.as_bytes()).unwrap();
    assert!(matches!(
        m.validate().unwrap_err(),
        Error::InvalidMigration { .. }
    ));
    let dir = tempfile::tempdir().unwrap();
    assert!(m.write(dir.path().join("manifest.json")).is_err());
    assert!(std::fs::read_dir(dir.path()).unwrap().next().is_none());
}

#[test]
fn validate_catches_duplicate_entries() {
    let mut m = manifest_with(&["1.0.0"]);
    m.updates.push(update("1.0.0"));
    let err = m.validate().unwrap_err();
    assert!(err.to_string().contains("updates[1]"), "{err}");
}

#[test]
fn malformed_json_errors_name_the_field() {
    let base: serde_json::Value = serde_json::from_str(FIXTURE).unwrap();
    let with = |edit: &dyn Fn(&mut serde_json::Value)| {
        let mut value = base.clone();
        edit(&mut value);
        serde_json::to_vec(&value).unwrap()
    };
    let cases: Vec<(Vec<u8>, &str, &str)> = vec![
        (
            with(&|m| m["updates"][1]["version"] = "one.two".into()),
            "updates[1].version",
            "",
        ),
        (
            with(&|m| {
                m["updates"][0]
                    .as_object_mut()
                    .unwrap()
                    .remove("max_version");
            }),
            "updates[0]",
            "max_version",
        ),
        (
            with(&|m| m["updates"][1]["waves"]["abc"] = "2024-05-01T00:00:00Z".into()),
            "updates[1].waves",
            "'abc'",
        ),
        (
            with(&|m| m["updates"][1]["waves"]["2049"] = "2024-05-09T00:00:00Z".into()),
            "updates[1].waves",
            "'2049'",
        ),
        (
            with(&|m| m["updates"][1]["waves"]["20"] = "tomorrow".into()),
            "updates[1].waves.20",
            "'tomorrow'",
        ),
        (
            with(&|m| m["updates"][2]["images"]["hash"] = 5.into()),
            "updates[2].images.hash",
            "",
        ),
        (
            with(&|m| m["migrations"]["1.0.0 -> 1.1.0"] = serde_json::json!([])),
            "migrations",
            "'1.0.0 -> 1.1.0'",
        ),
        (
            with(&|m| m["migrations"]["(1.0.0, x)"] = serde_json::json!([])),
            "migrations",
            "'(1.0.0, x)'",
        ),
        (
            with(&|m| m["datastore_versions"]["1.20.0"] = "v1".into()),
            "datastore_versions",
            "",
        ),
        (
            with(&|m| m["updates"] = serde_json::json!({})),
            "updates",
            "",
        ),
    ];
    for (json, field, needle) in cases {
        let err = Manifest::from_slice(&json).unwrap_err();
        let Error::ParseManifest { field: got, .. } = &err else {
            panic!("unexpected error {err}");
        };
        assert!(got.starts_with(field), "want {field}, got {got}: {err}");
        let report = Chain(&err).to_string();
        assert!(report.contains(needle), "{report}");
    }

    // Duplicate keys that differ only in spelling.
    let dup = br#"{"updates":[],"migrations":{"(1.0.0, 1.1.0)":[],"(1.0.0,1.1.0)":[]}}"#;
    let err = Manifest::from_slice(dup).unwrap_err();
    assert!(
        Chain(&err).to_string().contains("appears twice"),
        "{}",
        Chain(&err)
    );
    let dup = br#"{"updates":[{"variant":"a","arch":"x86_64","version":"1.0.0",
        "max_version":"1.0.0","waves":{"7":"2024-05-01T00:00:00Z","07":"2024-05-01T00:00:00Z"},
        "images":{"boot":"b","root":"r","hash":"h"}}]}"#;
    let err = Manifest::from_slice(dup).unwrap_err();
    assert!(
        Chain(&err).to_string().contains("appears twice"),
        "{}",
        Chain(&err)
    );

    // Not JSON at all, no updates, trailing garbage.
    let err = Manifest::from_slice(b"{}").unwrap_err();
    assert!(
        Chain(&err).to_string().contains("missing field `updates`"),
        "{}",
        Chain(&err)
    );
    let err = Manifest::from_slice(b"{\"updates\": [").unwrap_err();
    assert!(matches!(err, Error::ParseManifest { .. }), "{err}");
    let err = Manifest::from_slice(b"{\"updates\": []} {}").unwrap_err();
    assert!(matches!(err, Error::ParseManifest { .. }), "{err}");

    // From a file, the error names the path.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("manifest.json");
    std::fs::write(&path, b"[]").unwrap();
    let err = Manifest::from_path(&path).unwrap_err();
    assert!(err.to_string().contains("manifest.json"), "{err}");
    let err = Manifest::from_path(dir.path().join("nope.json")).unwrap_err();
    assert!(matches!(err, Error::Io(_)), "{err}");
}
