//! Errors of the renderer; each names the key, file, template or command involved and why.

use std::fmt;
use std::path::PathBuf;

/// Failure of [`crate::apply`] or [`crate::affected_services`].
#[derive(Debug, thiserror::Error)]
pub enum ApplyError {
    /// Reading the datastore failed.
    #[error("cannot {op} from the datastore")]
    Datastore {
        /// What was being read.
        op: String,
        /// The datastore's error.
        #[source]
        source: datastore::Error,
    },
    /// A `services.*`, `configuration-files.*` key or an `affected-services` metadata value
    /// doesn't follow the conventions documented in the crate.
    #[error("invalid value of '{key}': {reason}")]
    InvalidData {
        /// The key (or `key/metadata`) holding the value.
        key: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A service lists a configuration file that has no `configuration-files.<name>.*` keys.
    #[error("service '{service}' lists configuration file '{file}', which has no configuration-files.{file}.* settings")]
    UnknownConfigFile {
        /// The service.
        service: String,
        /// The configuration file name.
        file: String,
    },
    /// A configuration file lacks a required field.
    #[error(
        "configuration file '{file}' has no '{field}' (set configuration-files.{file}.{field})"
    )]
    MissingField {
        /// The configuration file name.
        file: String,
        /// The missing field, `path` or `template-path`.
        field: &'static str,
    },
    /// A configuration file's `path` is not absolute.
    #[error("configuration file '{file}': path '{}' is not absolute", path.display())]
    RelativePath {
        /// The configuration file name.
        file: String,
        /// The path given.
        path: PathBuf,
    },
    /// A configuration file's `mode` is not an octal permission string.
    #[error(
        "configuration file '{file}': mode '{mode}' is not an octal permission mode like \"0644\""
    )]
    InvalidMode {
        /// The configuration file name.
        file: String,
        /// The mode given.
        mode: String,
    },
    /// The live settings couldn't be turned into the template context.
    #[error("cannot build the template context from the live settings")]
    Context {
        /// The datastore's error.
        #[source]
        source: datastore::Error,
    },
    /// A template couldn't be read.
    #[error("configuration file '{file}': cannot read template {}", template.display())]
    TemplateRead {
        /// The configuration file name.
        file: String,
        /// The template path.
        template: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// A template isn't valid handlebars.
    #[error("configuration file '{file}': template {} is invalid: {reason}", template.display())]
    TemplateParse {
        /// The configuration file name.
        file: String,
        /// The template path.
        template: PathBuf,
        /// The parser's message.
        reason: String,
    },
    /// Rendering a template failed (e.g. a setting it uses is missing: strict mode).
    #[error("configuration file '{file}': rendering template {} failed: {reason}", template.display())]
    Render {
        /// The configuration file name.
        file: String,
        /// The template path.
        template: PathBuf,
        /// The renderer's message.
        reason: String,
    },
    /// Writing a rendered file failed.
    #[error("cannot write configuration file '{file}'")]
    Write {
        /// The configuration file name.
        file: String,
        /// The step that failed and the path.
        #[source]
        source: fsutil::IoError,
    },
    /// One or more restart commands failed (all were attempted).
    #[error("{} restart command(s) failed: {}", failures.len(), DisplayFailures(failures))]
    RestartFailed {
        /// Each failure.
        failures: Vec<CommandFailure>,
    },
}

/// A restart command that couldn't be started or exited unsuccessfully.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommandFailure {
    /// The service whose command it is.
    pub service: String,
    /// The command as configured.
    pub command: String,
    /// Its exit status (`exit status: 1`, `signal: 9`), or why it couldn't be started.
    pub status: String,
    /// The last lines of its standard error.
    pub stderr_tail: String,
}

impl fmt::Display for CommandFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "service '{}': command `{}` failed ({})",
            self.service, self.command, self.status
        )?;
        if !self.stderr_tail.is_empty() {
            write!(f, "; stderr: {}", self.stderr_tail)?;
        }
        Ok(())
    }
}

struct DisplayFailures<'a>(&'a [CommandFailure]);

impl fmt::Display for DisplayFailures<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, failure) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("; ")?;
            }
            write!(f, "{failure}")?;
        }
        Ok(())
    }
}

/// Result of this crate's operations.
pub type Result<T, E = ApplyError> = std::result::Result<T, E>;

pub(crate) fn ds(op: impl Into<String>) -> impl FnOnce(datastore::Error) -> ApplyError {
    let op = op.into();
    move |source| ApplyError::Datastore { op, source }
}
