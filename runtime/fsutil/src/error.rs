//! The one error type of the crate, also the `Io` shape the other crates use.

use std::io;
use std::path::{Path, PathBuf};

/// A filesystem operation failed: "cannot {op} {path}". The OS error is the
/// [`source`](std::error::Error::source), not part of the message, so a chain printer shows it
/// once.
#[derive(Debug, thiserror::Error)]
#[error("cannot {op} {}", path.display())]
pub struct IoError {
    /// What was being done, as a verb phrase: "read", "fsync directory", "rename into place".
    pub op: &'static str,
    /// The file or directory it was done to.
    pub path: PathBuf,
    /// The underlying error.
    #[source]
    pub source: io::Error,
}

impl IoError {
    /// An error for `op` on `path`.
    pub fn new(op: &'static str, path: impl Into<PathBuf>, source: io::Error) -> Self {
        Self {
            op,
            path: path.into(),
            source,
        }
    }

    /// Whether the operation failed because it would have had to wait: a lock taken with
    /// [`Wait::NoBlock`](crate::Wait::NoBlock) that someone else holds.
    pub fn is_would_block(&self) -> bool {
        self.source.kind() == io::ErrorKind::WouldBlock
    }

    /// The kind of the underlying error.
    pub fn kind(&self) -> io::ErrorKind {
        self.source.kind()
    }
}

/// A closure mapping an [`io::Error`] to an [`IoError`] for `op` on `path`, for `map_err`.
pub fn io_err<'a>(op: &'static str, path: &'a Path) -> impl FnOnce(io::Error) -> IoError + 'a {
    move |source| IoError::new(op, path, source)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::error::Error as _;

    #[test]
    fn the_message_names_op_and_path_and_the_cause_is_the_source() {
        let e = IoError::new(
            "read",
            "/etc/motd",
            io::Error::new(io::ErrorKind::NotFound, "no such file"),
        );
        assert_eq!(e.to_string(), "cannot read /etc/motd");
        assert_eq!(e.source().unwrap().to_string(), "no such file");
        assert_eq!(e.kind(), io::ErrorKind::NotFound);
        assert!(!e.is_would_block());
    }
}
