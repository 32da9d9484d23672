//! `GET /settings`, `PATCH /settings` and `PATCH /settings/keypair`.

use api_model::{KeyPair, PatchError, SettingsPatch};
use datastore::Committed;

use super::query::{settings_key, Query};
use super::Request;
use crate::action::{Action, Selection};
use crate::error::ApiError;

pub fn get(req: &Request) -> Result<Action, ApiError> {
    let q = Query::parse(req.query, &["keys", "prefix", "tx"])?;
    let from = match q.get("tx") {
        None => Committed::Live,
        Some(_) => Committed::pending(q.tx()?)?,
    };
    let selection = match (q.settings_keys("keys")?, q.get("prefix")) {
        (Some(_), Some(_)) => return Err(ApiError::bad("give either keys= or prefix=, not both")),
        (Some(keys), None) => Selection::Keys(keys),
        (None, Some(prefix)) => {
            if !(prefix == "settings" || prefix.starts_with("settings.")) {
                return Err(ApiError::bad(format!(
                    "prefix '{prefix}' is not under 'settings'"
                )));
            }
            Selection::Prefix(prefix.to_string())
        }
        (None, None) => Selection::All,
    };
    Ok(Action::GetSettings {
        from,
        selection,
        query: req.query.to_string(),
    })
}

pub fn patch(req: &Request) -> Result<Action, ApiError> {
    let tx = Query::parse(req.query, &["tx"])?.tx()?;
    Ok(Action::PatchSettings {
        tx,
        settings: req.json()?,
    })
}

/// One `{"key": "settings.x", "value": v}` object or a list of them, written together (all or
/// nothing); two keypairs for one key (or for a key and its sub-key) are a 409.
pub fn patch_keypair(req: &Request) -> Result<Action, ApiError> {
    let tx = Query::parse(req.query, &["tx"])?.tx()?;
    let pairs = KeyPair::list_from_json(req.json()?).map_err(|e| ApiError::bad(e.to_string()))?;
    let mut patch = SettingsPatch::new();
    for KeyPair { key: name, value } in pairs {
        let key = settings_key(&name)?;
        patch
            .insert(&key.segments()[1..], value)
            .map_err(|e| match e {
                PatchError::EmptyKey => {
                    ApiError::bad("the key must name a setting below 'settings'").with_key(&name)
                }
                PatchError::Duplicate { .. } | PatchError::ValueAndSubkeys { .. } => ApiError::new(
                    409,
                    format!("key '{name}' conflicts with an earlier keypair"),
                )
                .with_key(&name),
            })?;
    }
    Ok(Action::PatchSettings {
        tx,
        settings: patch.into_value(),
    })
}

#[cfg(test)]
mod tests {
    use datastore::{Committed, Key};
    use serde_json::json;

    use crate::action::{Action, Selection};
    use crate::routes::{get, request};

    #[test]
    fn reads() {
        assert_eq!(
            get("/settings").unwrap(),
            Action::GetSettings {
                from: Committed::Live,
                selection: Selection::All,
                query: String::new()
            }
        );
        assert_eq!(
            get("/settings?tx=t&keys=settings.motd").unwrap(),
            Action::GetSettings {
                from: Committed::pending("t").unwrap(),
                selection: Selection::Keys(vec![Key::data("settings.motd").unwrap()]),
                query: "tx=t&keys=settings.motd".into()
            }
        );
        for bad in [
            "/settings?prefix=services",
            "/settings?keys=settings.motd&prefix=settings",
            "/settings?keys=services.x",
            "/settings?bogus=1",
            "/settings?tx=bad/name",
            "/settings?tx=a%zz",
        ] {
            assert_eq!(get(bad).unwrap_err().status, 400, "{bad}");
        }
    }

    #[test]
    fn keypairs_nest_and_conflict() {
        let body = r#"[{"key": "settings.network.hostname", "value": "h"},
                       {"key": "settings.kubernetes.node-labels.\"example.com/zone\"", "value": "z"}]"#;
        assert_eq!(
            request("PATCH", "/settings/keypair?tx=kp", body).unwrap(),
            Action::PatchSettings {
                tx: "kp".into(),
                settings: json!({"network": {"hostname": "h"},
                                 "kubernetes": {"node-labels": {"example.com/zone": "z"}}})
            }
        );
        let twice = r#"[{"key": "settings.ntp.time-servers", "value": ["a"]},
                        {"key": "settings.ntp.time-servers", "value": ["b"]}]"#;
        let e = request("PATCH", "/settings/keypair", twice).unwrap_err();
        assert_eq!(
            (e.status, e.body.key.as_deref()),
            (409, Some("settings.ntp.time-servers"))
        );
        for (body, key) in [
            ("[1]", None),
            (r#"{"key": "settings.motd"}"#, None),
            ("\"x\"", None),
            (r#"{"key": "settings", "value": 1}"#, Some("settings")),
            (
                r#"{"key": "services.motd.path", "value": 1}"#,
                Some("services.motd.path"),
            ),
        ] {
            let e = request("PATCH", "/settings/keypair", body).unwrap_err();
            assert_eq!((e.status, e.body.key.as_deref()), (400, key), "{body}");
        }
        assert_eq!(
            request("PATCH", "/settings", "{not json")
                .unwrap_err()
                .status,
            400
        );
    }
}
