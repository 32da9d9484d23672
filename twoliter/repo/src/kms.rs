//! AWS KMS signing keys through `tough-kms` (the `kms` feature: it brings the AWS SDK, which is
//! kept out of the main build).

use tough::key_source::KeySource;
use tough::sign::Sign;

/// An AWS KMS asymmetric RSA key, signing with RSASSA_PSS_SHA_256 through `tough-kms`.
///
/// Credentials, region and endpoint come from the standard AWS configuration chain
/// (`AWS_PROFILE`, `AWS_REGION`, `AWS_ENDPOINT_URL`, `~/.aws/config`, instance roles, ...);
/// `region` and `profile`, when set in `Infra.toml`, take precedence over it. One client is
/// built on first use and shared by every signature.
#[derive(Debug)]
pub struct KmsKeySource {
    /// The KMS key id, ARN or alias.
    pub key_id: String,
    /// The key's region [default: the AWS configuration's].
    pub region: Option<String>,
    /// The AWS profile (`[aws] profile` in `Infra.toml`) [default: the AWS configuration's].
    pub profile: Option<String>,
    client: tokio::sync::OnceCell<aws_sdk_kms::Client>,
}

impl KmsKeySource {
    /// A KMS key source; no AWS call is made until it is used.
    pub fn new(key_id: &str, region: Option<&str>, profile: Option<&str>) -> Self {
        Self {
            key_id: key_id.to_string(),
            region: region.map(str::to_string),
            profile: profile.map(str::to_string),
            client: tokio::sync::OnceCell::new(),
        }
    }

    async fn client(&self) -> aws_sdk_kms::Client {
        self.client
            .get_or_init(|| async {
                let mut loader = aws_config::defaults(aws_config::BehaviorVersion::latest());
                if let Some(profile) = &self.profile {
                    loader = loader.profile_name(profile);
                }
                if let Some(region) = &self.region {
                    loader = loader.region(aws_config::Region::new(region.clone()));
                }
                aws_sdk_kms::Client::new(&loader.load().await)
            })
            .await
            .clone()
    }
}

#[tough::async_trait]
impl KeySource for KmsKeySource {
    async fn as_sign(
        &self,
    ) -> std::result::Result<Box<dyn Sign>, Box<dyn std::error::Error + Send + Sync + 'static>>
    {
        tough_kms::KmsKeySource {
            profile: self.profile.clone(),
            key_id: self.key_id.clone(),
            client: Some(self.client().await),
            signing_algorithm: tough_kms::KmsSigningAlgorithm::RsassaPssSha256,
        }
        .as_sign()
        .await
    }

    async fn write(
        &self,
        _value: &str,
        _key_id_hex: &str,
    ) -> std::result::Result<(), Box<dyn std::error::Error + Send + Sync + 'static>> {
        crate::keys::refuse_key_write()
    }
}
