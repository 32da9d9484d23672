//! `GET /metadata/{affected-services,setting-generators,templates}?keys=`.

use datastore::Key;

use super::query::Query;
use super::Request;
use crate::action::Action;
use crate::error::ApiError;

fn metadata(req: &Request, meta: &str) -> Result<Action, ApiError> {
    let q = Query::parse(req.query, &["keys"])?;
    let meta = Key::meta(meta).map_err(|e| ApiError::internal(e.to_string()))?;
    let keys = q
        .list("keys")
        .map(|names| {
            names
                .iter()
                .map(|n| Key::data(n).map_err(|e| ApiError::bad(e.to_string()).with_key(n)))
                .collect::<Result<Vec<_>, _>>()
        })
        .transpose()?;
    Ok(Action::GetMetadata { meta, keys })
}

pub fn affected_services(req: &Request) -> Result<Action, ApiError> {
    metadata(req, "affected-services")
}

pub fn setting_generators(req: &Request) -> Result<Action, ApiError> {
    metadata(req, "setting-generator")
}

pub fn templates(req: &Request) -> Result<Action, ApiError> {
    metadata(req, "template")
}

#[cfg(test)]
mod tests {
    use datastore::Key;

    use crate::action::Action;
    use crate::routes::get;

    #[test]
    fn metadata_by_key() {
        assert_eq!(
            get("/metadata/templates?keys=settings.motd").unwrap(),
            Action::GetMetadata {
                meta: Key::meta("template").unwrap(),
                keys: Some(vec![Key::data("settings.motd").unwrap()])
            }
        );
        assert_eq!(
            get("/metadata/setting-generators").unwrap(),
            Action::GetMetadata {
                meta: Key::meta("setting-generator").unwrap(),
                keys: None
            }
        );
        let e = get("/metadata/templates?keys=a..b").unwrap_err();
        assert_eq!((e.status, e.body.key.as_deref()), (400, Some("a..b")));
    }
}
