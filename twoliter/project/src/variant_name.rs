//! Variant names: `platform-runtime[-version][-flavor]`, as in `aws-k8s-1.31-nvidia`.

use serde::Serialize;
use std::fmt;
use std::str::FromStr;

/// A variant name split into its parts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct VariantName {
    /// Where the image runs: `aws`, `vmware`, `metal`, ...
    pub platform: String,
    /// The orchestrator or purpose: `k8s`, `ecs`, `dev`, ...
    pub runtime: String,
    /// The orchestrator version (`1.31`, `2`), when the name has one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// A flavor such as `nvidia` or `fips`, when the name has one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub flavor: Option<String>,
}

/// Why a variant name does not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("variant name `{name}` is not `platform-runtime[-version][-flavor]`: {reason}")]
pub struct VariantNameError {
    name: String,
    reason: &'static str,
}

impl FromStr for VariantName {
    type Err = VariantNameError;

    fn from_str(name: &str) -> Result<Self, Self::Err> {
        let fail = |reason| VariantNameError {
            name: name.to_string(),
            reason,
        };
        if !name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'.' || b == b'-')
        {
            return Err(fail("use only lowercase letters, digits, `.` and `-`"));
        }
        let segments: Vec<&str> = name.split('-').collect();
        if segments.iter().any(|s| s.is_empty()) {
            return Err(fail("a part between dashes is empty"));
        }
        let [platform, runtime, rest @ ..] = segments.as_slice() else {
            return Err(fail("it needs at least a platform and a runtime"));
        };
        for part in [platform, runtime] {
            if !part.starts_with(|c: char| c.is_ascii_lowercase()) || part.contains('.') {
                return Err(fail(
                    "platform and runtime are words starting with a letter",
                ));
            }
        }
        let (version, flavor) = match rest {
            [first, tail @ ..] if is_version(first) => (Some(first.to_string()), tail),
            tail => (None, tail),
        };
        if flavor.iter().any(|part| part.contains('.')) {
            return Err(fail("the version must come right after the runtime"));
        }
        Ok(Self {
            platform: platform.to_string(),
            runtime: runtime.to_string(),
            version,
            flavor: (!flavor.is_empty()).then(|| flavor.join("-")),
        })
    }
}

fn is_version(part: &str) -> bool {
    part.split('.')
        .all(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
}

impl fmt::Display for VariantName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.platform, self.runtime)?;
        if let Some(version) = &self.version {
            write!(f, "-{version}")?;
        }
        if let Some(flavor) = &self.flavor {
            write!(f, "-{flavor}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parts(name: &str) -> (String, String, Option<String>, Option<String>) {
        let v: VariantName = name.parse().unwrap();
        assert_eq!(v.to_string(), name, "round trip");
        (v.platform, v.runtime, v.version, v.flavor)
    }

    #[test]
    fn parses_the_shapes_in_use() {
        let s = |x: &str| x.to_string();
        assert_eq!(
            parts("aws-k8s-1.31-nvidia"),
            (s("aws"), s("k8s"), Some(s("1.31")), Some(s("nvidia")))
        );
        assert_eq!(parts("aws-ecs-2"), (s("aws"), s("ecs"), Some(s("2")), None));
        assert_eq!(parts("metal-dev"), (s("metal"), s("dev"), None, None));
        assert_eq!(
            parts("aws-k8s-1.31-nvidia-fips"),
            (s("aws"), s("k8s"), Some(s("1.31")), Some(s("nvidia-fips")))
        );
        assert_eq!(
            parts("aws-dev-nvidia"),
            (s("aws"), s("dev"), None, Some(s("nvidia")))
        );
    }

    #[test]
    fn rejects_malformed_names() {
        for bad in [
            "aws",
            "aws--k8s",
            "AWS-k8s",
            "aws-k8s-",
            "aws-1.31",
            "aws-k8s-nvidia-1.31",
            "aws_k8s",
            "",
        ] {
            assert!(
                bad.parse::<VariantName>().is_err(),
                "{bad} should not parse"
            );
        }
    }
}
