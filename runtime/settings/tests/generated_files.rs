//! The checked-in settings schema and reference must match what the Rust types generate.
//! Regenerate both with `UPDATE_SCHEMAS=1 cargo test -p settings --test generated_files`.

use settings::{
    reference_markdown, schema, schema_json, ALL_FAMILIES, REFERENCE_PATH, SCHEMA_PATH,
};
use std::path::PathBuf;

fn repo_file(relative: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .join(relative)
}

/// Compares a checked-in file with its generated text, or rewrites it under `UPDATE_SCHEMAS=1`.
fn check_generated(relative: &str, generated: &str) {
    let path = repo_file(relative);
    if std::env::var_os("UPDATE_SCHEMAS").is_some_and(|value| value == "1") {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        let temp = path.with_extension("tmp");
        std::fs::write(&temp, generated).unwrap();
        std::fs::rename(&temp, &path).unwrap();
        return;
    }
    let current = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        current == generated,
        "{relative} is out of date with the settings types in runtime/settings.\n\
         Regenerate it with `UPDATE_SCHEMAS=1 cargo test -p settings --test generated_files` \
         and commit the result."
    );
}

#[test]
fn checked_in_schema_matches_the_types() {
    check_generated(SCHEMA_PATH, &schema_json());
}

#[test]
fn checked_in_reference_matches_the_types() {
    check_generated(REFERENCE_PATH, &reference_markdown());
}

#[test]
fn schema_lists_every_family_and_rejects_unknown_keys() {
    let schema = serde_json::to_value(schema()).unwrap();
    let mut families: Vec<&str> = schema["properties"]
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    let mut expected = ALL_FAMILIES.to_vec();
    families.sort_unstable();
    expected.sort_unstable();
    assert_eq!(families, expected);
    assert_eq!(schema["additionalProperties"], false);
    assert!(schema.get("required").is_none(), "no key may be required");
    let kubernetes = &schema["definitions"]["KubernetesSettings"];
    assert_eq!(kubernetes["additionalProperties"], false);
    let labels = &kubernetes["properties"]["node-labels"];
    assert_eq!(
        labels["propertyNames"]["$ref"],
        "#/definitions/KubernetesLabelKey"
    );
    assert_eq!(
        schema["definitions"]["Lockdown"]["enum"],
        serde_json::json!(["none", "integrity", "confidentiality"])
    );
    assert_eq!(schema["definitions"]["UpdateSeed"]["maximum"], 2047.0);
}

#[test]
fn reference_has_a_row_per_dotted_key() {
    let reference = reference_markdown();
    for row in [
        "| `settings.motd` | string |",
        "| `settings.updates.seed` | `UpdateSeed` |",
        "| `settings.host-containers` | map of `Identifier` → `HostContainer` |",
        "| `settings.host-containers.<name>.source` | `ImageReference` |",
        "| `settings.container-registry.mirrors[].endpoint` | list of `Url` |",
        "| `settings.kubernetes.node-labels` | map of `KubernetesLabelKey` → `KubernetesLabelValue` |",
        "| `settings.kubernetes.max-pods` | integer (uint32) |",
        "| `settings.oci-defaults.resource-limits.<name>.hard-limit` | `RlimitValue` |",
        "| `KubernetesTaintValue` | string |",
    ] {
        assert!(reference.contains(row), "reference lacks {row:?}");
    }
    for family in ALL_FAMILIES {
        assert!(
            reference.contains(&format!("## `settings.{family}`")),
            "reference lacks a section for {family}"
        );
    }
}
