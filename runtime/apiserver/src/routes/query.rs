//! Query strings: `name=value` pairs, percent-decoded, restricted to the names a route accepts.

use std::collections::HashMap;

use datastore::Key;

use crate::error::ApiError;

/// The transaction used when a request names none.
pub const DEFAULT_TX: &str = "default";

/// Parsed query parameters.
#[derive(Debug)]
pub struct Query(HashMap<String, String>);

impl Query {
    /// Parses `raw`; a name outside `allowed`, a name given twice or a bad escape is a 400.
    pub fn parse(raw: &str, allowed: &[&str]) -> Result<Self, ApiError> {
        let mut out = HashMap::new();
        for pair in raw.split('&').filter(|p| !p.is_empty()) {
            let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
            let bad_escape = || ApiError::bad(format!("bad escape in query '{pair}'"));
            let name = percent_decode(name).ok_or_else(bad_escape)?;
            let value = percent_decode(value).ok_or_else(bad_escape)?;
            if !allowed.contains(&name.as_str()) {
                return Err(ApiError::bad(format!(
                    "unknown query parameter '{name}'; allowed: {}",
                    allowed.join(", ")
                )));
            }
            if out.insert(name.clone(), value).is_some() {
                return Err(ApiError::bad(format!(
                    "query parameter '{name}' given twice"
                )));
            }
        }
        Ok(Self(out))
    }

    /// A parameter.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0.get(name).map(String::as_str)
    }

    /// A comma-separated list parameter.
    pub fn list(&self, name: &str) -> Option<Vec<String>> {
        self.get(name).map(|v| {
            v.split(',')
                .filter(|s| !s.is_empty())
                .map(String::from)
                .collect()
        })
    }

    /// The transaction name (`default` when absent), validated.
    pub fn tx(&self) -> Result<String, ApiError> {
        let tx = self.get("tx").unwrap_or(DEFAULT_TX).to_string();
        datastore::validate_transaction_name(&tx)?;
        Ok(tx)
    }

    /// A comma-separated list of settings keys.
    pub fn settings_keys(&self, name: &str) -> Result<Option<Vec<Key>>, ApiError> {
        self.list(name)
            .map(|names| names.iter().map(|n| settings_key(n)).collect())
            .transpose()
    }
}

/// Parses a key name that must be a data key under `settings`.
pub fn settings_key(name: &str) -> Result<Key, ApiError> {
    let key = Key::data(name).map_err(|e| ApiError::bad(e.to_string()).with_key(name))?;
    if key.segments().first().map(String::as_str) != Some("settings") {
        return Err(ApiError::bad(format!("key '{name}' is not under 'settings'")).with_key(name));
    }
    Ok(key)
}

/// Percent-decodes a query component (`+` stays `+`); `None` on a bad escape or non-UTF-8.
fn percent_decode(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = s.get(i + 1..i + 3)?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_queries() {
        let q = Query::parse("tx=a&keys=settings.x,%22y%22", &["tx", "keys"]).unwrap();
        assert_eq!(q.tx().unwrap(), "a");
        assert_eq!(q.list("keys").unwrap(), vec!["settings.x", "\"y\""]);
        assert!(Query::parse("bogus=1", &["tx"]).is_err());
        assert!(Query::parse("tx=a&tx=b", &["tx"]).is_err());
        assert!(Query::parse("tx=a%2", &["tx"]).is_err());
        let q = Query::parse("tx=bad/name", &["tx"]).unwrap();
        assert_eq!(q.tx().unwrap_err().status, 400);
        assert_eq!(Query::parse("", &[]).unwrap().tx().unwrap(), DEFAULT_TX);
    }

    #[test]
    fn decodes_percent_escapes() {
        assert_eq!(percent_decode("a%22b%2Fc").unwrap(), "a\"b/c");
        assert_eq!(percent_decode("a+b").unwrap(), "a+b");
        assert!(percent_decode("%zz").is_none());
        assert!(percent_decode("%2").is_none());
        assert!(percent_decode("%ff").is_none());
    }

    #[test]
    fn settings_keys_must_be_under_settings() {
        assert!(settings_key("settings.motd").is_ok());
        assert_eq!(
            settings_key("services.x").unwrap_err().body.key.as_deref(),
            Some("services.x")
        );
        assert_eq!(settings_key("a..b").unwrap_err().status, 400);
    }
}
