//! The checked-in JSON Schemas must match the ones generated from the Rust types.

use std::path::Path;

#[test]
fn checked_in_schemas_match_the_types() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../schemas");
    let stale = twoliter_project::schema::stale(&dir);
    assert!(
        stale.is_empty(),
        "schemas/ is out of date for {stale:?}: a manifest type changed without regenerating.\n\
         Run `cargo run -p twoliter -- schemas` and commit the result."
    );
}

#[test]
fn drift_is_detected() {
    let dir = tempfile::tempdir().unwrap();
    twoliter_project::schema::write_all(dir.path()).unwrap();
    assert!(twoliter_project::schema::stale(dir.path()).is_empty());
    // A schema that lacks a field the type has (as after adding a field) is stale.
    let path = dir.path().join("variant.schema.json");
    let text = std::fs::read_to_string(&path).unwrap();
    std::fs::write(&path, text.replace("kernel-parameters", "kernel-params")).unwrap();
    assert_eq!(
        twoliter_project::schema::stale(dir.path()),
        ["variant.schema.json"]
    );
}

#[test]
fn schemas_describe_the_manifest_keys() {
    let variant: serde_json::Value =
        serde_json::from_str(&twoliter_project::SchemaKind::Variant.render()).unwrap();
    let properties = variant["properties"].as_object().unwrap();
    for key in [
        "inherits",
        "included-packages",
        "kits",
        "image-format",
        "image-layout",
        "supported-arches",
        "kernel-parameters",
        "settings-families",
        "image-features",
    ] {
        assert!(properties.contains_key(key), "variant schema lacks `{key}`");
    }
    assert_eq!(variant["additionalProperties"], false);
}
