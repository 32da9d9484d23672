//! AWS SDK configuration: the standard chain, optionally a profile and a role from Infra.toml,
//! and one client per service and region.

use aws_config::{BehaviorVersion, Region, SdkConfig};

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
            .region(Region::new(region.to_string()))
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
