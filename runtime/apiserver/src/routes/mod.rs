//! The routes: each parses a request into an [`Action`] (one module per resource, in the style
//! of Firecracker's `request/*.rs`); [`ROUTES`] is the single source of truth for routing, the
//! `Allow` header of a 405 and the OpenAPI check in the tests.

mod actions;
mod metadata;
mod os;
mod query;
mod services;
mod settings;
mod tx;
mod updates;

pub use query::DEFAULT_TX;

use api_model::CommandType;
use serde_json::Value;

use crate::action::Action;
use crate::error::ApiError;

/// The parts of an HTTP request the routes look at.
#[derive(Debug, Clone, Copy)]
pub struct Request<'a> {
    /// The method.
    pub method: &'a str,
    /// The path part of the target.
    pub path: &'a str,
    /// The raw query string (without `?`), possibly empty.
    pub query: &'a str,
    /// The body.
    pub body: &'a [u8],
}

impl Request<'_> {
    /// The body as JSON (400 when it isn't).
    fn json(&self) -> Result<Value, ApiError> {
        serde_json::from_slice(self.body)
            .map_err(|e| ApiError::bad(format!("request body is not valid JSON: {e}")))
    }

    /// Whether the body is empty or only whitespace.
    fn body_is_blank(&self) -> bool {
        self.body.iter().all(u8::is_ascii_whitespace)
    }
}

type Parser = fn(&Request) -> Result<Action, ApiError>;

/// One route the server serves: a method on an exact path.
#[derive(Clone, Copy)]
pub struct Route {
    /// The method, upper-case.
    pub method: &'static str,
    /// The path, exact.
    pub path: &'static str,
    parse: Parser,
}

impl std::fmt::Debug for Route {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.method, self.path)
    }
}

const fn r(method: &'static str, path: &'static str, parse: Parser) -> Route {
    Route {
        method,
        path,
        parse,
    }
}

const fn update(cmd: CommandType, parse: Parser) -> Route {
    r("POST", cmd.action_path(), parse)
}

/// Every route the server serves.
pub const ROUTES: &[Route] = &[
    r("GET", "/", os::get_root),
    r("GET", "/settings", settings::get),
    r("PATCH", "/settings", settings::patch),
    r("PATCH", "/settings/keypair", settings::patch_keypair),
    r("GET", "/tx", tx::get),
    r("DELETE", "/tx", tx::delete),
    r("GET", "/tx/list", tx::list),
    r("POST", "/tx/commit", tx::commit),
    r("POST", "/tx/apply", tx::apply),
    r("POST", "/tx/commit_and_apply", tx::commit_and_apply),
    r("GET", "/os", os::get),
    r(
        "GET",
        "/metadata/affected-services",
        metadata::affected_services,
    ),
    r(
        "GET",
        "/metadata/setting-generators",
        metadata::setting_generators,
    ),
    r("GET", "/metadata/templates", metadata::templates),
    r("GET", "/services", services::services),
    r("GET", "/configuration-files", services::configuration_files),
    r("POST", "/actions/reboot", actions::reboot),
    update(CommandType::Refresh, actions::refresh),
    update(CommandType::Prepare, actions::prepare),
    update(CommandType::Activate, actions::activate),
    update(CommandType::Deactivate, actions::deactivate),
    r("GET", "/updates/status", updates::status),
];

/// Routes a request: the action of the route for its method and path, a 404 for an unknown
/// path, or a 405 (with the allowed methods) for a known path.
pub fn route(req: &Request) -> Result<Action, ApiError> {
    let mut on_path = ROUTES.iter().filter(|r| r.path == req.path).peekable();
    if on_path.peek().is_none() {
        return Err(ApiError::new(404, format!("no such route '{}'", req.path)));
    }
    let mut allowed = Vec::new();
    for route in on_path {
        if route.method.eq_ignore_ascii_case(req.method) {
            return (route.parse)(req);
        }
        allowed.push(route.method);
    }
    let allowed = allowed.join(", ");
    let mut e = ApiError::new(
        405,
        format!(
            "method {} not allowed on {}; use {allowed}",
            req.method.to_ascii_uppercase(),
            req.path
        ),
    );
    e.allow = Some(allowed);
    Err(e)
}

#[cfg(test)]
fn get(path_and_query: &str) -> Result<Action, ApiError> {
    request("GET", path_and_query, "")
}

#[cfg(test)]
fn request(method: &str, path_and_query: &str, body: &str) -> Result<Action, ApiError> {
    let (path, query) = path_and_query
        .split_once('?')
        .unwrap_or((path_and_query, ""));
    route(&Request {
        method,
        path,
        query,
        body: body.as_bytes(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_paths_are_404_and_wrong_methods_405_with_allow() {
        assert_eq!(get("/nope").unwrap_err().status, 404);
        assert_eq!(get("/settings/nope").unwrap_err().status, 404);
        let e = request("DELETE", "/settings", "").unwrap_err();
        assert_eq!((e.status, e.allow.as_deref()), (405, Some("GET, PATCH")));
        assert_eq!(
            request("GET", "/actions/reboot", "")
                .unwrap_err()
                .allow
                .as_deref(),
            Some("POST")
        );
        // Methods match whatever their case.
        assert_eq!(request("get", "/tx/list", "").unwrap(), Action::ListTx);
    }

    #[test]
    fn routes_are_unique() {
        let mut seen = std::collections::HashSet::new();
        for r in ROUTES {
            assert!(seen.insert((r.method, r.path)), "{r:?} twice");
        }
    }
}
