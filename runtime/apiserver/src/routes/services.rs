//! `GET /services` and `GET /configuration-files` (`names=` picks entries).

use super::query::Query;
use super::Request;
use crate::action::Action;
use crate::error::ApiError;

fn tree(req: &Request, root: &'static str) -> Result<Action, ApiError> {
    let q = Query::parse(req.query, &["names"])?;
    Ok(Action::GetTree {
        root,
        names: q.list("names"),
    })
}

pub fn services(req: &Request) -> Result<Action, ApiError> {
    tree(req, "services")
}

pub fn configuration_files(req: &Request) -> Result<Action, ApiError> {
    tree(req, "configuration-files")
}

#[cfg(test)]
mod tests {
    use crate::action::Action;
    use crate::routes::get;

    #[test]
    fn trees() {
        assert_eq!(
            get("/services?names=a,b").unwrap(),
            Action::GetTree {
                root: "services",
                names: Some(vec!["a".into(), "b".into()])
            }
        );
        assert_eq!(
            get("/configuration-files").unwrap(),
            Action::GetTree {
                root: "configuration-files",
                names: None
            }
        );
    }
}
