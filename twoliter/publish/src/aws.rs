//! AWS SDK configuration: the standard chain, optionally a profile and a role from Infra.toml,
//! and one client per service and region.

use aws_config::{BehaviorVersion, SdkConfig};

/// The loaded AWS configuration, from which per-region clients are made.
#[derive(Clone)]
pub struct Aws {
    base: SdkConfig,
}

impl Aws {
    /// Loads the standard AWS configuration chain. `profile` (Infra.toml `[aws] profile`)
    /// takes precedence over `AWS_PROFILE`; with `role` (Infra.toml `[aws] role`), that role is
    /// assumed with the chain's credentials.
    pub async fn load(profile: Option<&str>, role: Option<&str>) -> Aws {
        // A server that accepts and never answers must fail, not hang: EC2 and SSM calls answer
        // in seconds (the EBS uploads set their own, per block).
        let timeouts = aws_config::timeout::TimeoutConfig::builder()
            .connect_timeout(std::time::Duration::from_secs(10))
            .read_timeout(std::time::Duration::from_secs(60))
            .operation_attempt_timeout(std::time::Duration::from_secs(90))
            .build();
        let mut loader = aws_config::defaults(BehaviorVersion::latest()).timeout_config(timeouts);
        if let Some(profile) = profile {
            loader = loader.profile_name(profile);
        }
        let mut base = loader.load().await;
        if let Some(role) = role {
            let provider = aws_config::sts::AssumeRoleProvider::builder(role)
                .session_name("twoliter-publish")
                .configure(&base)
                .build()
                .await;
            base = base
                .into_builder()
                .credentials_provider(
                    aws_credential_types::provider::SharedCredentialsProvider::new(provider),
                )
                .build();
        }
        Aws { base }
    }

    /// The region the chain configures (`AWS_REGION`, the profile's `region`), if any.
    pub fn default_region(&self) -> Option<String> {
        self.base.region().map(|r| r.to_string())
    }

    /// The configuration with `region` set.
    pub fn config(&self, region: &str) -> SdkConfig {
        self.base
            .clone()
            .into_builder()
            .region(aws_config::Region::new(region.to_string()))
            .build()
    }

    /// An EC2 client for `region`.
    pub fn ec2(&self, region: &str) -> aws_sdk_ec2::Client {
        aws_sdk_ec2::Client::new(&self.config(region))
    }

    /// An EBS direct-API client for `region`.
    pub fn ebs(&self, region: &str) -> aws_sdk_ebs::Client {
        aws_sdk_ebs::Client::new(&self.config(region))
    }

    /// An SSM client for `region`.
    pub fn ssm(&self, region: &str) -> aws_sdk_ssm::Client {
        aws_sdk_ssm::Client::new(&self.config(region))
    }
}

/// An AWS region name (`us-west-2`): lowercase letters and digits in at least three
/// `-`-separated parts, the last one a number.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Region(String);

impl Region {
    /// The name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for Region {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::str::FromStr for Region {
    type Err = crate::Error;

    fn from_str(text: &str) -> crate::Result<Region> {
        let parts: Vec<&str> = text.split('-').collect();
        let ok = parts.len() >= 3
            && parts.iter().all(|p| {
                !p.is_empty()
                    && p.bytes()
                        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
            })
            && parts
                .last()
                .is_some_and(|p| p.bytes().all(|b| b.is_ascii_digit()));
        if ok {
            Ok(Region(text.to_string()))
        } else {
            Err(crate::Error::Usage(format!(
                "'{text}' is not an AWS region name (like us-west-2); check --regions and [aws] regions in Infra.toml"
            )))
        }
    }
}

/// The regions to publish to, the first one the source: `given` (the command line), else
/// `configured` (Infra.toml `[aws] regions`), else the chain's `default` (`AWS_REGION`).
/// Repeated regions are dropped, keeping the first.
///
/// # Errors
/// [`Error::Usage`](crate::Error::Usage) when there is no region or a name is not a region's.
pub fn resolve_regions(
    given: &[String],
    configured: &[String],
    default: Option<String>,
) -> crate::Result<Vec<Region>> {
    let names: Vec<String> = if !given.is_empty() {
        given.to_vec()
    } else if !configured.is_empty() {
        configured.to_vec()
    } else if let Some(region) = default {
        vec![region]
    } else {
        return Err(crate::Error::Usage(
            "no region: pass --regions, set [aws] regions in Infra.toml, or set AWS_REGION".into(),
        ));
    };
    let mut regions: Vec<Region> = Vec::new();
    for name in names {
        let region: Region = name.parse()?;
        if !regions.contains(&region) {
            regions.push(region);
        }
    }
    Ok(regions)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(regions: &[Region]) -> Vec<&str> {
        regions.iter().map(Region::as_str).collect()
    }

    #[test]
    fn region_names_follow_aws_grammar() {
        for good in [
            "us-west-2",
            "ap-southeast-1",
            "us-gov-west-1",
            "eu-central-10",
        ] {
            assert_eq!(good.parse::<Region>().unwrap().to_string(), good);
        }
        for bad in [
            "us-west",
            "US-west-2",
            "us--2",
            "us-west-2a",
            "",
            "us_west-2-1",
        ] {
            let error = bad.parse::<Region>().unwrap_err();
            assert!(
                error.to_string().contains("not an AWS region name"),
                "{bad}: {error}"
            );
        }
    }

    #[test]
    fn regions_come_from_the_command_line_then_infra_then_the_chain() {
        let given = vec![
            "us-east-1".to_string(),
            "us-west-2".into(),
            "us-east-1".into(),
        ];
        let configured = vec!["eu-west-1".to_string()];
        let default = Some("ap-south-1".to_string());
        let regions = resolve_regions(&given, &configured, default.clone()).unwrap();
        assert_eq!(names(&regions), ["us-east-1", "us-west-2"]);
        let regions = resolve_regions(&[], &configured, default.clone()).unwrap();
        assert_eq!(names(&regions), ["eu-west-1"]);
        let regions = resolve_regions(&[], &[], default).unwrap();
        assert_eq!(names(&regions), ["ap-south-1"]);
        let error = resolve_regions(&[], &[], None).unwrap_err();
        assert!(error.to_string().contains("no region"), "{error}");
        assert!(resolve_regions(&["nowhere".into()], &[], None).is_err());
    }
}
