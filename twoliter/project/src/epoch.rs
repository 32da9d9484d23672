//! The one `SOURCE_DATE_EPOCH` rule of a build: every timestamp that ends up in a package or an
//! image comes from here.
//!
//! - Packages: `SOURCE_DATE_EPOCH` from the environment, else a fixed date, so a package's RPMs
//!   depend only on its own inputs and stay cached across commits.
//! - Images: `--source-date-epoch`, else `SOURCE_DATE_EPOCH`, else the commit time of the
//!   project's HEAD (rebuilding a commit gives the same timestamps), else 1.
//!
//! The environment is read once, by [`Epochs::from_env`].

use std::path::Path;

/// The environment variable (<https://reproducible-builds.org/specs/source-date-epoch/>).
pub const SOURCE_DATE_EPOCH: &str = "SOURCE_DATE_EPOCH";

/// Packages' timestamp when the environment sets none: 2024-01-01T00:00:00Z.
pub const DEFAULT_PACKAGE_EPOCH: u64 = 1_704_067_200;

/// A `SOURCE_DATE_EPOCH` that is not a number of seconds.
#[derive(Debug, thiserror::Error)]
#[error("{SOURCE_DATE_EPOCH}={value} is not a number of seconds since 1970\nhelp: set it to an integer such as `$(git log -1 --format=%ct)`, or unset it")]
pub struct InvalidEpoch {
    /// The value found.
    pub value: String,
}

/// The timestamps of one build.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Epochs {
    /// `SOURCE_DATE_EPOCH` as the environment set it.
    env: Option<u64>,
}

impl Epochs {
    /// Reads `SOURCE_DATE_EPOCH` from the environment; an unset or empty variable is none.
    pub fn from_env() -> Result<Self, InvalidEpoch> {
        Self::parse(std::env::var(SOURCE_DATE_EPOCH).ok().as_deref())
    }

    /// The rule applied to the variable's value.
    pub fn parse(value: Option<&str>) -> Result<Self, InvalidEpoch> {
        let env = match value.map(str::trim).filter(|v| !v.is_empty()) {
            None => None,
            Some(v) => Some(v.parse().map_err(|_| InvalidEpoch { value: v.into() })?),
        };
        Ok(Self { env })
    }

    /// The timestamp of package builds and of the SDK.
    pub fn packages(self) -> u64 {
        self.env.unwrap_or(DEFAULT_PACKAGE_EPOCH)
    }

    /// The timestamp of the images of the project at `root`: `explicit` (a flag) wins.
    pub fn image(self, explicit: Option<u64>, root: &Path) -> u64 {
        explicit
            .or(self.env)
            .or_else(|| crate::build_id::commit_time(root))
            .unwrap_or(1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn packages_default_to_a_fixed_date() {
        assert_eq!(
            Epochs::parse(None).unwrap().packages(),
            DEFAULT_PACKAGE_EPOCH
        );
        assert_eq!(
            Epochs::parse(Some("")).unwrap().packages(),
            DEFAULT_PACKAGE_EPOCH
        );
        assert_eq!(Epochs::parse(Some("42")).unwrap().packages(), 42);
    }

    #[test]
    fn images_prefer_the_flag_then_the_environment_then_the_commit() {
        let outside_git = tempfile::tempdir().unwrap();
        let none = Epochs::parse(None).unwrap();
        assert_eq!(none.image(None, outside_git.path()), 1);
        assert_eq!(none.image(Some(7), outside_git.path()), 7);
        let env = Epochs::parse(Some("42")).unwrap();
        assert_eq!(env.image(None, outside_git.path()), 42);
        assert_eq!(env.image(Some(7), outside_git.path()), 7);
    }

    #[test]
    fn a_malformed_value_is_an_error_naming_it() {
        let error = Epochs::parse(Some("yesterday")).unwrap_err().to_string();
        assert!(error.contains("SOURCE_DATE_EPOCH=yesterday"), "{error}");
    }
}
