//! `POST /actions/*`: reboot and the update actions.

use api_model::CommandType;

use super::query::Query;
use super::Request;
use crate::action::Action;
use crate::error::ApiError;

pub fn reboot(req: &Request) -> Result<Action, ApiError> {
    Query::parse(req.query, &[])?;
    Ok(Action::Reboot)
}

fn start(req: &Request, cmd: CommandType) -> Result<Action, ApiError> {
    Query::parse(req.query, &[])?;
    Ok(Action::StartUpdate(cmd))
}

pub fn refresh(req: &Request) -> Result<Action, ApiError> {
    start(req, CommandType::Refresh)
}

pub fn prepare(req: &Request) -> Result<Action, ApiError> {
    start(req, CommandType::Prepare)
}

pub fn activate(req: &Request) -> Result<Action, ApiError> {
    start(req, CommandType::Activate)
}

pub fn deactivate(req: &Request) -> Result<Action, ApiError> {
    start(req, CommandType::Deactivate)
}

#[cfg(test)]
mod tests {
    use api_model::CommandType;

    use crate::action::Action;
    use crate::routes::request;

    #[test]
    fn actions() {
        assert_eq!(
            request("POST", "/actions/reboot", "").unwrap(),
            Action::Reboot
        );
        for cmd in CommandType::ALL {
            assert_eq!(
                request("POST", cmd.action_path(), "").unwrap(),
                Action::StartUpdate(cmd)
            );
        }
        assert_eq!(
            request("POST", "/actions/reboot?now=1", "")
                .unwrap_err()
                .status,
            400
        );
    }
}
