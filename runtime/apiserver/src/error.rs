//! [`ApiError`]: an error answer (status and [`api_model::ErrorBody`]), and how datastore errors
//! map to statuses.

use api_model::{ChangedKeys, ErrorBody};

/// An error answer: the status and the JSON body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    /// The HTTP status.
    pub status: u16,
    /// The body (boxed: errors travel far up the stack).
    pub body: Box<ErrorBody>,
    /// For a 405: the methods allowed on the path, sent as `Allow`.
    pub allow: Option<String>,
}

impl ApiError {
    /// An error with `status` and `message`.
    pub fn new(status: u16, message: impl Into<String>) -> Self {
        Self {
            status,
            body: Box::new(ErrorBody {
                error: message.into(),
                ..Default::default()
            }),
            allow: None,
        }
    }

    /// A 400.
    pub fn bad(message: impl Into<String>) -> Self {
        Self::new(400, message)
    }

    /// A 500.
    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(500, message)
    }

    /// Names the dotted key at fault.
    pub fn with_key(mut self, key: impl Into<String>) -> Self {
        self.body.key = Some(key.into());
        self
    }

    /// Adds the tail of a failed command's stderr.
    pub fn with_stderr(mut self, stderr: String) -> Self {
        self.body.stderr = Some(stderr);
        self
    }

    /// For an apply that failed after a commit: says so, and which keys were committed.
    pub fn after_commit(mut self, tx: &str, committed: ChangedKeys) -> Self {
        self.body.error = format!(
            "transaction '{tx}' was committed, but applying it failed: {}",
            self.body.error
        );
        self.body.committed = Some(committed);
        self
    }
}

impl From<datastore::Error> for ApiError {
    fn from(e: datastore::Error) -> Self {
        use datastore::Error as D;
        // The whole chain: the datastore's messages leave their causes to source().
        let msg = logging::Chain(&e).to_string();
        match &e {
            D::InvalidKey { key, .. } | D::InvalidValue { key, .. } => {
                ApiError::bad(msg).with_key(key.clone())
            }
            D::ToPairs { path, .. } => ApiError::bad(msg).with_key(path.clone()),
            D::InvalidTransaction { .. } => ApiError::bad(msg),
            D::KeyConflict { key, .. } => ApiError::new(409, msg).with_key(key.clone()),
            D::NothingToCommit { .. } => ApiError::new(422, msg),
            _ => ApiError::internal(msg),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn datastore_errors_map_to_statuses() {
        let e: ApiError = datastore::validate_transaction_name("bad/name")
            .unwrap_err()
            .into();
        assert_eq!(e.status, 400);
        let e = ApiError::internal("boom")
            .with_stderr("tail".into())
            .after_commit("t", ChangedKeys(vec!["settings.motd".into()]));
        assert_eq!(e.status, 500);
        assert!(e.body.error.starts_with("transaction 't' was committed"));
        assert_eq!(e.body.stderr.as_deref(), Some("tail"));
    }
}
