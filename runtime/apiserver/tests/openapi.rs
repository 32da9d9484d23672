//! `schemas/openapi.yaml` describes exactly the routes the server serves.

use std::collections::BTreeSet;

use serde_yaml::Value;

const METHODS: &[&str] = &[
    "get", "put", "post", "delete", "options", "head", "patch", "trace",
];

fn spec() -> Value {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../schemas/openapi.yaml");
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{path}: {e}"));
    serde_yaml::from_str(&text).expect("openapi.yaml is valid YAML")
}

#[test]
fn openapi_routes_match_the_router() {
    let spec = spec();
    assert!(spec["openapi"].as_str().unwrap().starts_with("3.0."));
    let mut documented = BTreeSet::new();
    for (path, item) in spec["paths"].as_mapping().expect("paths is a mapping") {
        let path = path.as_str().unwrap();
        for (method, op) in item.as_mapping().unwrap() {
            let method = method.as_str().unwrap();
            if !METHODS.contains(&method) {
                continue;
            }
            let responses = op["responses"].as_mapping();
            assert!(
                responses.is_some_and(|r| !r.is_empty()),
                "{method} {path} has no responses"
            );
            assert!(
                documented.insert((method.to_ascii_uppercase(), path.to_string())),
                "{method} {path} twice"
            );
        }
    }
    let served: BTreeSet<_> = apiserver::ROUTES
        .iter()
        .map(|r| (r.method.to_string(), r.path.to_string()))
        .collect();
    assert_eq!(served.len(), apiserver::ROUTES.len(), "duplicate routes");
    let missing: Vec<_> = served.difference(&documented).collect();
    let extra: Vec<_> = documented.difference(&served).collect();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "served but not documented: {missing:?}; documented but not served: {extra:?}"
    );
}

/// Every `$ref` points at something that exists, and errors use the `{error, key}` body.
#[test]
fn openapi_refs_resolve() {
    let spec = spec();
    fn walk(v: &Value, spec: &Value, refs: &mut usize) {
        match v {
            Value::Mapping(m) => {
                for (k, child) in m {
                    if k.as_str() == Some("$ref") {
                        let target = child.as_str().unwrap();
                        let mut cur = spec;
                        for seg in target.strip_prefix("#/").unwrap().split('/') {
                            cur = &cur[seg];
                        }
                        assert!(!cur.is_null(), "dangling $ref {target}");
                        *refs += 1;
                    } else {
                        walk(child, spec, refs);
                    }
                }
            }
            Value::Sequence(s) => s.iter().for_each(|c| walk(c, spec, refs)),
            _ => {}
        }
    }
    let mut refs = 0;
    walk(&spec, &spec, &mut refs);
    assert!(refs > 0);
    let error = &spec["components"]["schemas"]["Error"]["properties"];
    assert!(!error["error"].is_null() && !error["key"].is_null());
}
