//! `GET /updates/status`.

use super::query::Query;
use super::Request;
use crate::action::Action;
use crate::error::ApiError;

pub fn status(req: &Request) -> Result<Action, ApiError> {
    Query::parse(req.query, &[])?;
    Ok(Action::GetUpdateStatus)
}

#[cfg(test)]
mod tests {
    use crate::action::Action;
    use crate::routes::{get, request};

    #[test]
    fn status() {
        assert_eq!(get("/updates/status").unwrap(), Action::GetUpdateStatus);
        assert_eq!(
            request("POST", "/updates/status", "").unwrap_err().status,
            405
        );
    }
}
