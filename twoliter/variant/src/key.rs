//! The whole-build key of a variant image, as named inputs: every package's cache key, each
//! value of the resolved variant, and each assembly setting. Paths are never inputs, so a moved
//! clone is still up to date; a rebuild says which input changed.

use serde::Serialize;
use std::collections::BTreeMap;
use twoliter_image::AssembleInput;
use twoliter_packages::inputs::{sha256_text, Inputs};
use twoliter_project::Variant;

/// Bump when composing or assembling changes, so existing images are rebuilt.
pub const IMAGE_LOGIC_VERSION: &str = "twoliter-variant-4";

/// The named inputs of one image build.
pub(crate) fn image_inputs(
    variant: &Variant,
    input: &AssembleInput,
    package_keys: &BTreeMap<String, String>,
    updog_root: Option<&str>,
) -> Inputs {
    let mut inputs = Inputs::default();
    inputs.add("image-logic", IMAGE_LOGIC_VERSION);
    inputs.add("twoliter", env!("CARGO_PKG_VERSION"));
    for (package, key) in package_keys {
        inputs.add(format!("package:{package}"), key);
    }
    // Each value of the resolved variant on its own, so a change names its key.
    if let Ok(serde_json::Value::Object(values)) = serde_json::to_value(variant) {
        for (key, value) in values {
            if key != "manifest" {
                inputs.add(format!("variant.{key}"), value.to_string());
            }
        }
    }
    let settings: [(&str, String); 11] = [
        ("arch", input.arch.clone()),
        ("version", input.version.clone()),
        ("build-id", input.build_id.clone()),
        ("os-image-gib", input.os_image_gib.to_string()),
        ("data-image-gib", input.data_image_gib.to_string()),
        ("partition-plan", input.plan.as_str().to_string()),
        ("in-place-updates", input.in_place_updates.to_string()),
        ("root-fs", json(&input.root_fs)),
        ("image-format", json(&input.image_format)),
        ("kernel-parameters", json(&input.kernel_parameters)),
        ("epoch", input.epoch.to_string()),
    ];
    for (name, value) in settings {
        inputs.add(format!("assembly.{name}"), value);
    }
    if let Some(root) = updog_root {
        inputs.add("updog-root", sha256_text(root));
    }
    inputs
}

/// A value as compact JSON (the manifests' own spelling).
fn json<T: Serialize>(value: &T) -> String {
    serde_json::to_string(value).unwrap_or_default()
}

/// Why an image must be built, compared with the inputs of the latest build (`None`: none).
pub(crate) fn rebuild_reasons(now: &Inputs, before: Option<&Inputs>) -> Vec<String> {
    match before {
        None => vec!["not built before".to_string()],
        Some(before) => now.explain_change(before),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn inputs(pairs: &[(&str, &str)]) -> Inputs {
        let mut inputs = Inputs::default();
        for (name, value) in pairs {
            inputs.add(*name, *value);
        }
        inputs
    }

    #[test]
    fn reasons_name_the_changed_inputs() {
        let before = inputs(&[("package:kernel", "a"), ("assembly.epoch", "1")]);
        let now = inputs(&[("package:kernel", "b"), ("assembly.epoch", "1")]);
        assert_eq!(
            rebuild_reasons(&now, Some(&before)),
            ["changed package:kernel"]
        );
        assert!(rebuild_reasons(&now, Some(&now)).is_empty());
        assert_eq!(rebuild_reasons(&now, None), ["not built before"]);
    }
}
