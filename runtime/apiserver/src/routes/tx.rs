//! `/tx` and its commit and apply routes.

use super::query::{settings_key, Query};
use super::Request;
use crate::action::Action;
use crate::error::ApiError;

fn tx_of(req: &Request) -> Result<String, ApiError> {
    Query::parse(req.query, &["tx"])?.tx()
}

pub fn get(req: &Request) -> Result<Action, ApiError> {
    Ok(Action::GetTx { tx: tx_of(req)? })
}

pub fn delete(req: &Request) -> Result<Action, ApiError> {
    Ok(Action::DeleteTx { tx: tx_of(req)? })
}

pub fn list(req: &Request) -> Result<Action, ApiError> {
    Query::parse(req.query, &[])?;
    Ok(Action::ListTx)
}

pub fn commit(req: &Request) -> Result<Action, ApiError> {
    Ok(Action::Commit { tx: tx_of(req)? })
}

pub fn commit_and_apply(req: &Request) -> Result<Action, ApiError> {
    Ok(Action::CommitAndApply { tx: tx_of(req)? })
}

/// Keys from `keys=a,b` or a JSON array body (not both); none means every live settings key.
pub fn apply(req: &Request) -> Result<Action, ApiError> {
    let q = Query::parse(req.query, &["keys"])?;
    let from_body = if req.body_is_blank() {
        None
    } else {
        let serde_json::Value::Array(items) = req.json()? else {
            return Err(ApiError::bad("body must be a JSON array of keys"));
        };
        Some(
            items
                .iter()
                .map(|v| {
                    v.as_str()
                        .map(String::from)
                        .ok_or_else(|| ApiError::bad("body must be a JSON array of key strings"))
                })
                .collect::<Result<Vec<_>, _>>()?,
        )
    };
    let names = match (q.list("keys"), from_body) {
        (Some(_), Some(_)) => {
            return Err(ApiError::bad(
                "give keys in the query or the body, not both",
            ))
        }
        (Some(n), None) | (None, Some(n)) => n,
        (None, None) => Vec::new(),
    };
    let keys = if names.is_empty() {
        None
    } else {
        Some(
            names
                .iter()
                .map(|n| settings_key(n))
                .collect::<Result<_, _>>()?,
        )
    };
    Ok(Action::Apply { keys })
}

#[cfg(test)]
mod tests {
    use datastore::Key;

    use crate::action::Action;
    use crate::routes::{get, request};

    #[test]
    fn transactions() {
        assert_eq!(
            get("/tx").unwrap(),
            Action::GetTx {
                tx: "default".into()
            }
        );
        assert_eq!(
            request("DELETE", "/tx?tx=kp", "").unwrap(),
            Action::DeleteTx { tx: "kp".into() }
        );
        assert_eq!(
            request("POST", "/tx/commit_and_apply?tx=a", "").unwrap(),
            Action::CommitAndApply { tx: "a".into() }
        );
        assert_eq!(request("GET", "/tx/commit", "").unwrap_err().status, 405);
    }

    #[test]
    fn apply_keys_from_query_or_body() {
        let motd = || Some(vec![Key::data("settings.motd").unwrap()]);
        assert_eq!(
            request("POST", "/tx/apply?keys=settings.motd", "").unwrap(),
            Action::Apply { keys: motd() }
        );
        assert_eq!(
            request("POST", "/tx/apply", "[\"settings.motd\"]").unwrap(),
            Action::Apply { keys: motd() }
        );
        assert_eq!(
            request("POST", "/tx/apply", " \n").unwrap(),
            Action::Apply { keys: None }
        );
        for (uri, body) in [
            ("/tx/apply", "{\"a\": 1}"),
            ("/tx/apply", "[1]"),
            ("/tx/apply?keys=a..b", ""),
            ("/tx/apply?keys=settings.motd", "[\"settings.motd\"]"),
        ] {
            assert_eq!(
                request("POST", uri, body).unwrap_err().status,
                400,
                "{uri} {body}"
            );
        }
    }
}
