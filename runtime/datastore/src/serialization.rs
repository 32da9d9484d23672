//! Conversion between nested JSON documents and flat key/value pairs.
//!
//! `{"settings": {"motd": "hi", "kubernetes": {"node-labels": {"example.com/role": "web"}}}}`
//! flattens to `settings.motd` → `"hi"` and
//! `settings.kubernetes.node-labels."example.com/role"` → `"web"`: nested objects become dotted
//! keys (an object key with dots becomes a quoted segment), every other value becomes its JSON
//! serialization (strings keep their quotes, arrays are stored whole). Empty objects produce no
//! pairs and `null` is refused. [`from_pairs`] is the inverse.

use std::collections::HashMap;

use serde_json::{Map, Value};

use crate::error::{Error, Result};
use crate::key::{Key, KeyType};

/// Checks that `value` may be stored under data key `key`: serialized JSON that is a string,
/// number, bool or array (objects are stored as separate keys; `null` isn't storable).
pub fn validate_data_value(key: &Key, value: &str) -> Result<()> {
    let invalid = |reason: String| Error::InvalidValue {
        key: key.name().to_string(),
        reason,
    };
    match serde_json::from_str::<Value>(value) {
        Err(e) => Err(invalid(format!(
            "not valid JSON ({e}); values are stored serialized, e.g. \"\\\"text\\\"\" for a string"
        ))),
        Ok(Value::Null) => Err(invalid(
            "null can't be stored; unset the key instead".into(),
        )),
        Ok(Value::Object(_)) => Err(invalid(
            "a JSON object can't be stored under one key; store its fields as sub-keys".into(),
        )),
        Ok(_) => Ok(()),
    }
}

/// Checks that `value` may be stored as metadata: any serialized JSON value.
pub fn validate_metadata_value(key: &Key, value: &str) -> Result<()> {
    serde_json::from_str::<Value>(value)
        .map(|_| ())
        .map_err(|e| Error::InvalidValue {
            key: key.name().to_string(),
            reason: format!("metadata must be serialized JSON ({e})"),
        })
}

/// Flattens a JSON object into data keys and serialized JSON values.
pub fn to_pairs(value: &Value) -> Result<HashMap<Key, String>> {
    let mut out = HashMap::new();
    let mut path = Vec::new();
    flatten(value, &mut path, &mut out)?;
    Ok(out)
}

/// Like [`to_pairs`], with every key under `prefix` (e.g. `settings` for the body of
/// `PATCH /settings`).
pub fn to_pairs_with_prefix(prefix: &Key, value: &Value) -> Result<HashMap<Key, String>> {
    if prefix.key_type() != KeyType::Data {
        return Err(Error::ToPairs {
            path: prefix.name().to_string(),
            reason: "the prefix must be a data key".into(),
        });
    }
    let mut out = HashMap::new();
    let mut path = prefix.segments().to_vec();
    flatten(value, &mut path, &mut out)?;
    Ok(out)
}

fn flatten(value: &Value, path: &mut Vec<String>, out: &mut HashMap<Key, String>) -> Result<()> {
    let at = |path: &[String]| {
        if path.is_empty() {
            "(top level)".to_string()
        } else {
            path.iter()
                .map(|s| {
                    if s.contains('.') {
                        format!("\"{s}\"")
                    } else {
                        s.clone()
                    }
                })
                .collect::<Vec<_>>()
                .join(".")
        }
    };
    match value {
        Value::Object(map) => {
            for (name, child) in map {
                path.push(name.clone());
                flatten(child, path, out)?;
                path.pop();
            }
            Ok(())
        }
        _ if path.is_empty() => Err(Error::ToPairs {
            path: at(path),
            reason: "the document must be a JSON object".into(),
        }),
        Value::Null => Err(Error::ToPairs {
            path: at(path),
            reason: "null can't be stored; leave the key out instead".into(),
        }),
        _ => {
            let key = Key::from_segments(KeyType::Data, path).map_err(|e| Error::ToPairs {
                path: at(path),
                reason: e.to_string(),
            })?;
            let serialized = serde_json::to_string(value).map_err(|e| Error::ToPairs {
                path: at(path),
                reason: format!("can't serialize value: {e}"),
            })?;
            out.insert(key, serialized);
            Ok(())
        }
    }
}

/// Nests data keys and their serialized JSON values into one JSON object (the inverse of
/// [`to_pairs`]).
///
/// Fails on metadata keys, values that aren't JSON (or are objects or `null`), and on a key that
/// would need to be both a value and an object (`a.b` and `a.b.c`).
pub fn from_pairs(pairs: &HashMap<Key, String>) -> Result<Value> {
    let mut sorted: Vec<(&Key, &String)> = pairs.iter().collect();
    sorted.sort();
    let mut root = Map::new();
    for (key, raw) in sorted {
        let fail = |reason: String| Error::FromPairs {
            key: key.name().to_string(),
            reason,
        };
        if key.key_type() != KeyType::Data {
            return Err(fail("only data keys can be nested".into()));
        }
        validate_data_value(key, raw).map_err(|e| fail(e.to_string()))?;
        let value: Value = serde_json::from_str(raw).map_err(|e| fail(e.to_string()))?;
        let (last, parents) = key
            .segments()
            .split_last()
            .ok_or_else(|| fail("key has no segments".into()))?;
        let mut current = &mut root;
        for (depth, segment) in parents.iter().enumerate() {
            let slot = current
                .entry(segment.clone())
                .or_insert_with(|| Value::Object(Map::new()));
            current = match slot {
                Value::Object(map) => map,
                _ => {
                    let parent = Key::from_segments(KeyType::Data, &key.segments()[..=depth])
                        .map(|k| k.name().to_string())
                        .unwrap_or_default();
                    return Err(fail(format!(
                        "'{parent}' holds a value, so it can't also have sub-keys"
                    )));
                }
            };
        }
        if current.contains_key(last) {
            return Err(fail(
                "the key has sub-keys, so it can't also hold a value".into(),
            ));
        }
        current.insert(last.clone(), value);
    }
    Ok(Value::Object(root))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn key(name: &str) -> Key {
        Key::data(name).unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn flattens_nested_objects() {
        let doc = json!({
            "settings": {
                "motd": "hi",
                "kubernetes": {
                    "max-pods": 110,
                    "node-labels": {"example.com/role": "web", "plain": "x"},
                    "node-taints": {"dedicated": ["experimental:NoSchedule"]},
                },
                "host-containers": {"admin": {"enabled": true}},
                "empty": {},
            }
        });
        let pairs = to_pairs(&doc).unwrap();
        let want: HashMap<Key, String> = [
            ("settings.motd", "\"hi\""),
            ("settings.kubernetes.max-pods", "110"),
            (
                "settings.kubernetes.node-labels.\"example.com/role\"",
                "\"web\"",
            ),
            ("settings.kubernetes.node-labels.plain", "\"x\""),
            (
                "settings.kubernetes.node-taints.dedicated",
                "[\"experimental:NoSchedule\"]",
            ),
            ("settings.host-containers.admin.enabled", "true"),
        ]
        .into_iter()
        .map(|(k, v)| (key(k), v.to_string()))
        .collect();
        assert_eq!(pairs, want);
        // Round trip: the empty object disappears, everything else comes back.
        let mut expected = doc.clone();
        expected["settings"]
            .as_object_mut()
            .unwrap()
            .remove("empty");
        assert_eq!(from_pairs(&pairs).unwrap(), expected);
    }

    #[test]
    fn round_trips() {
        for doc in [
            json!({}),
            json!({"a": 1}),
            json!({"a": {"b.c": {"d.e.f": "x"}, "g": [1, {"h": null}]}}),
            json!({"settings": {"kubernetes": {"node-labels": {
                "example.com/role": "web",
                "k8s.io/cluster-autoscaler/enabled": "true",
                "a": "b",
            }}}}),
            json!({"n": {"f": 1.5, "neg": -3, "big": 18446744073709551615u64, "s": "é\n\"q\""}}),
        ] {
            let pairs = to_pairs(&doc).unwrap();
            assert_eq!(from_pairs(&pairs).unwrap(), doc);
            // And pairs → doc → pairs.
            assert_eq!(to_pairs(&from_pairs(&pairs).unwrap()).unwrap(), pairs);
        }
    }

    #[test]
    fn with_prefix() {
        let pairs = to_pairs_with_prefix(&key("settings"), &json!({"motd": "hi"})).unwrap();
        assert_eq!(
            pairs.get(&key("settings.motd")).map(String::as_str),
            Some("\"hi\"")
        );
    }

    #[test]
    fn refuses_unstorable_documents() {
        for (doc, want) in [
            (json!("scalar"), "must be a JSON object"),
            (json!([1]), "must be a JSON object"),
            (json!({"a": null}), "null"),
            (json!({"a b": 1}), "character ' '"),
            (json!({"a": {"": 1}}), "empty segment"),
            (json!({"a": {"..": 1}}), "path traversal"),
            (json!({"a": {"x\"y": 1}}), "not allowed"),
            (json!({"a": {"b".repeat(300): 1}}), "maximum is 255"),
        ] {
            let err = to_pairs(&doc).expect_err(&doc.to_string()).to_string();
            assert!(err.contains(want), "{doc}: {err}");
        }
    }

    #[test]
    fn refuses_conflicting_pairs() {
        let pairs: HashMap<Key, String> = [("a.b", "1"), ("a.b.c", "2")]
            .into_iter()
            .map(|(k, v)| (key(k), v.to_string()))
            .collect();
        let err = from_pairs(&pairs).unwrap_err().to_string();
        assert!(
            err.contains("'a.b.c'") && err.contains("'a.b' holds a value"),
            "{err}"
        );

        for bad in ["not json", "", "null", "{\"x\":1}"] {
            let pairs = HashMap::from([(key("a"), bad.to_string())]);
            assert!(from_pairs(&pairs).is_err(), "{bad:?}");
        }
        let pairs = HashMap::from([(Key::meta("m").unwrap(), "1".to_string())]);
        assert!(from_pairs(&pairs).is_err());
    }
}
