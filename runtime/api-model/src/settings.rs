//! Bodies that write settings: a nested [`SettingsPatch`] (`PATCH /settings`, `apiclient set`)
//! and the [`KeyPair`]s of `PATCH /settings/keypair`.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// Why a value can't go into a [`SettingsPatch`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PatchError {
    /// No segments were given.
    #[error("empty key")]
    EmptyKey,
    /// A segment would be both a value and an object of sub-keys.
    #[error("'{segment}' is given both a value and sub-keys")]
    ValueAndSubkeys {
        /// The segment at fault.
        segment: String,
    },
    /// The key was given already.
    #[error("'{segment}' is given twice")]
    Duplicate {
        /// The last segment of the key.
        segment: String,
    },
}

/// A partial settings object (the object under `settings`), built one dotted key at a time.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct SettingsPatch(Map<String, Value>);

impl SettingsPatch {
    /// An empty patch.
    pub fn new() -> Self {
        Self::default()
    }

    /// Whether nothing has been set.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Puts `value` at `segments` (the key's segments below `settings`), creating objects on
    /// the way; a key given twice is [`PatchError::Duplicate`].
    pub fn insert(&mut self, segments: &[String], value: Value) -> Result<(), PatchError> {
        let (parent, last) = self.parent_of(segments)?;
        if parent.contains_key(last) {
            return Err(PatchError::Duplicate {
                segment: last.clone(),
            });
        }
        parent.insert(last.clone(), value);
        Ok(())
    }

    /// Like [`SettingsPatch::insert`], but a later value of the same key replaces the earlier
    /// one (as `apiclient set a=1 a=2` does); replacing an object of sub-keys is still an error.
    pub fn set(&mut self, segments: &[String], value: Value) -> Result<(), PatchError> {
        let (parent, last) = self.parent_of(segments)?;
        if parent.get(last).is_some_and(Value::is_object) {
            return Err(PatchError::ValueAndSubkeys {
                segment: last.clone(),
            });
        }
        parent.insert(last.clone(), value);
        Ok(())
    }

    /// The object that holds the last segment (created as needed), and that segment.
    fn parent_of<'s>(
        &mut self,
        segments: &'s [String],
    ) -> Result<(&mut Map<String, Value>, &'s String), PatchError> {
        let (last, parents) = segments.split_last().ok_or(PatchError::EmptyKey)?;
        let mut cur = &mut self.0;
        for segment in parents {
            cur = cur
                .entry(segment.clone())
                .or_insert_with(|| Value::Object(Map::new()))
                .as_object_mut()
                .ok_or_else(|| PatchError::ValueAndSubkeys {
                    segment: segment.clone(),
                })?;
        }
        Ok((cur, last))
    }

    /// The patch as a JSON object.
    pub fn into_value(self) -> Value {
        Value::Object(self.0)
    }
}

/// Why a `PATCH /settings/keypair` body is not a list of keypairs.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyPairError {
    /// The body is neither an object nor an array.
    #[error("body must be a {{key, value}} object or a list of them")]
    NotObjectOrList,
    /// An item is not exactly `{"key": "<string>", "value": ...}`.
    #[error("each keypair must be an object with exactly a string 'key' and a 'value'")]
    BadItem,
}

/// One `{"key": "settings.motd", "value": "hi"}` of `PATCH /settings/keypair`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeyPair {
    /// The dotted data key, under `settings`.
    pub key: String,
    /// Its value.
    pub value: Value,
}

impl KeyPair {
    /// Reads a keypair body: one keypair object or a list of them.
    pub fn list_from_json(body: Value) -> Result<Vec<KeyPair>, KeyPairError> {
        let items = match body {
            Value::Array(items) => items,
            obj @ Value::Object(_) => vec![obj],
            _ => return Err(KeyPairError::NotObjectOrList),
        };
        items
            .into_iter()
            .map(|item| serde_json::from_value(item).map_err(|_| KeyPairError::BadItem))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn segs(key: &str) -> Vec<String> {
        key.split('.').map(String::from).collect()
    }

    #[test]
    fn patches_nest_and_find_conflicts() {
        let mut p = SettingsPatch::new();
        assert!(p.is_empty());
        p.insert(&segs("motd"), json!("hi")).unwrap();
        p.insert(&segs("kubernetes.max-pods"), json!(10)).unwrap();
        p.insert(
            &[
                "kubernetes".into(),
                "node-labels".into(),
                "example.com/role".into(),
            ],
            json!("web"),
        )
        .unwrap();
        assert_eq!(
            p.clone().into_value(),
            json!({"motd": "hi", "kubernetes": {"max-pods": 10, "node-labels": {"example.com/role": "web"}}})
        );
        assert_eq!(
            p.insert(&segs("motd"), json!("again")),
            Err(PatchError::Duplicate {
                segment: "motd".into()
            })
        );
        assert_eq!(
            p.insert(&segs("motd.x"), json!(1)),
            Err(PatchError::ValueAndSubkeys {
                segment: "motd".into()
            })
        );
        assert_eq!(p.insert(&[], json!(1)), Err(PatchError::EmptyKey));
        // `set` replaces a value, never an object of sub-keys.
        p.set(&segs("motd"), json!("later")).unwrap();
        assert_eq!(p.clone().into_value()["motd"], "later");
        assert_eq!(
            p.set(&segs("kubernetes"), json!(1)),
            Err(PatchError::ValueAndSubkeys {
                segment: "kubernetes".into()
            })
        );
        // Round trip as the plain object it is.
        let text = serde_json::to_string(&p).unwrap();
        assert_eq!(serde_json::from_str::<SettingsPatch>(&text).unwrap(), p);
    }

    #[test]
    fn keypair_bodies() {
        let one = KeyPair::list_from_json(json!({"key": "settings.motd", "value": "hi"})).unwrap();
        assert_eq!(
            one,
            [KeyPair {
                key: "settings.motd".into(),
                value: json!("hi")
            }]
        );
        let many = KeyPair::list_from_json(json!([
            {"key": "settings.a", "value": null},
            {"key": "settings.b", "value": [1]}
        ]))
        .unwrap();
        assert_eq!(many.len(), 2);
        assert_eq!(many[0].value, Value::Null);
        assert_eq!(
            serde_json::to_value(&many[1]).unwrap(),
            json!({"key": "settings.b", "value": [1]})
        );
        for bad in [
            json!([1]),
            json!({"key": "settings.motd"}),
            json!({"key": 1, "value": 1}),
            json!({"key": "settings.motd", "value": 1, "extra": 2}),
        ] {
            assert_eq!(KeyPair::list_from_json(bad), Err(KeyPairError::BadItem));
        }
        assert_eq!(
            KeyPair::list_from_json(json!("x")),
            Err(KeyPairError::NotObjectOrList)
        );
    }
}
