//! What every on-host runtime binary shares at its edges: the logging setup ([`init`]: tracing to
//! stderr, `info` unless `RUST_LOG` says otherwise) and the way a failed run ends ([`exit_with`]).
//!
//! # Errors and exit codes
//!
//! A binary's `main` returns the [`ExitCode`] of [`exit_with`] when its run fails. The error is
//! printed once to stderr as `<tool>: error: <error>: <cause>: <cause>…`: its message followed by
//! its [`source`](Error::source) chain, each joined with `": "` on one line (one journal entry).
//! Library errors therefore do not repeat their cause in their own message.
//!
//! | Code | Meaning |
//! |---|---|
//! | 0 | Success. |
//! | [`EXIT_ERROR`] (1) | The run failed; the reason is on stderr. |
//! | other | A tool's own documented codes, passed to [`exit_with_code`] (signpost exits 2 on error, because its `has-boot-ever-succeeded` answers "false" with 1). |

#![forbid(unsafe_code)]
#![warn(missing_docs)]

use std::error::Error;
use std::fmt;
use std::process::ExitCode;

/// Exit code of a run that failed with an error.
pub const EXIT_ERROR: u8 = 1;

/// Installs the global tracing subscriber. Call once, first thing in `main`.
pub fn init() {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
}

/// Prints `<tool>: error: ` and `err` with its chain of causes to stderr, and returns
/// [`EXIT_ERROR`] for `main` to return.
pub fn exit_with(tool: &str, err: &(dyn Error + 'static)) -> ExitCode {
    exit_with_code(tool, err, EXIT_ERROR)
}

/// Like [`exit_with`], with the tool's own exit code `code`.
pub fn exit_with_code(tool: &str, err: &(dyn Error + 'static), code: u8) -> ExitCode {
    eprintln!("{tool}: error: {}", Chain(err));
    ExitCode::from(code)
}

/// Displays an error followed by its chain of [`source`](Error::source)s, joined with `": "`.
/// For error reports outside `main` too (an API response body, a log line).
#[derive(Debug, Clone, Copy)]
pub struct Chain<'a>(pub &'a (dyn Error + 'static));

impl fmt::Display for Chain<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)?;
        let mut source = self.0.source();
        while let Some(cause) = source {
            write!(f, ": {cause}")?;
            source = cause.source();
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug)]
    struct Layer(&'static str, Option<Box<Layer>>);

    impl fmt::Display for Layer {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str(self.0)
        }
    }

    impl Error for Layer {
        fn source(&self) -> Option<&(dyn Error + 'static)> {
            self.1.as_deref().map(|l| l as &(dyn Error + 'static))
        }
    }

    #[test]
    fn the_chain_shows_every_cause_once_in_order() {
        let err = Layer(
            "cannot load the config",
            Some(Box::new(Layer(
                "cannot read /etc/x.toml",
                Some(Box::new(Layer("permission denied", None))),
            ))),
        );
        assert_eq!(
            Chain(&err).to_string(),
            "cannot load the config: cannot read /etc/x.toml: permission denied"
        );
        assert_eq!(Chain(&Layer("alone", None)).to_string(), "alone");
    }

    #[test]
    fn exit_codes_are_the_documented_ones() {
        let err = Layer("boom", None);
        assert_eq!(exit_with("tool", &err), ExitCode::from(EXIT_ERROR));
        assert_eq!(exit_with_code("tool", &err, 2), ExitCode::from(2));
    }
}
