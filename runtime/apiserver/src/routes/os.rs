//! `GET /` and `GET /os`.

use super::query::Query;
use super::Request;
use crate::action::Action;
use crate::error::ApiError;

pub fn get_root(req: &Request) -> Result<Action, ApiError> {
    Query::parse(req.query, &[])?;
    Ok(Action::GetRoot)
}

pub fn get(req: &Request) -> Result<Action, ApiError> {
    Query::parse(req.query, &[])?;
    Ok(Action::GetOs)
}

#[cfg(test)]
mod tests {
    use crate::action::Action;
    use crate::routes::get;

    #[test]
    fn take_no_query() {
        assert_eq!(get("/").unwrap(), Action::GetRoot);
        assert_eq!(get("/os").unwrap(), Action::GetOs);
        assert_eq!(get("/os?x=1").unwrap_err().status, 400);
    }
}
