//! Test support for the publishing crates: starts moto's server (`moto_server`, from
//! `pip install 'moto[server]'`) on a free port of 127.0.0.1 and builds AWS SDK configurations
//! that talk to it with throwaway credentials. The server is killed when the handle drops.
//!
//! Each [`MotoServer`] is its own empty AWS: tests that start their own server never see each
//! other's resources.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use test_support::{free_port, http_request, KillOnDrop};

/// A running moto server, killed when it drops.
pub struct MotoServer {
    child: KillOnDrop,
    port: u16,
}

impl MotoServer {
    /// Starts `moto_server` (or `$MOTO_SERVER`) on a free loopback port and waits until it
    /// answers. Panics with a hint when moto is not installed (the test fails): this is test
    /// support.
    pub fn start() -> MotoServer {
        let port = free_port();
        let program = std::env::var("MOTO_SERVER").unwrap_or_else(|_| "moto_server".into());
        let child = Command::new(&program)
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map(KillOnDrop)
            .unwrap_or_else(|e| {
                panic!(
                    "cannot run {program} ({e}); install it with: pip install 'moto[server]>=5.1,<6'"
                )
            });
        let mut server = MotoServer { child, port };
        server.wait_ready();
        server
    }

    /// The endpoint URL (`http://127.0.0.1:<port>`), as `AWS_ENDPOINT_URL` takes it.
    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Environment variables that point an AWS SDK process (the `twoliter-publish` binary) at
    /// this server with throwaway credentials and no shared config files.
    pub fn env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("AWS_ENDPOINT_URL", self.endpoint()),
            ("AWS_ACCESS_KEY_ID", "testing".into()),
            ("AWS_SECRET_ACCESS_KEY", "testing".into()),
            ("AWS_REGION", "us-west-2".into()),
            ("AWS_CONFIG_FILE", "/dev/null".into()),
            ("AWS_SHARED_CREDENTIALS_FILE", "/dev/null".into()),
            ("AWS_EC2_METADATA_DISABLED", "true".into()),
        ]
    }

    /// An SDK configuration for `region` that talks to this server.
    pub fn sdk_config(&self, region: &str) -> aws_config::SdkConfig {
        let credentials =
            aws_credential_types::Credentials::new("testing", "testing", None, None, "moto-server");
        aws_config::SdkConfig::builder()
            .behavior_version(aws_config::BehaviorVersion::latest())
            .region(aws_config::Region::new(region.to_string()))
            .endpoint_url(self.endpoint())
            .credentials_provider(
                aws_credential_types::provider::SharedCredentialsProvider::new(credentials),
            )
            .build()
    }

    /// Everything moto recorded is dropped (`POST /moto-api/reset`).
    pub fn reset(&self) {
        let response = http_request(self.port, "POST", "/moto-api/reset").expect("reset moto");
        assert_eq!(response.status, 200, "moto reset: {}", response.body);
    }

    fn wait_ready(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Ok(Some(status)) = self.child.child().try_wait() {
                panic!("moto_server exited early with {status}");
            }
            if http_request(self.port, "GET", "/moto-api/").is_ok_and(|r| r.status == 200) {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "moto_server did not answer in 60 s"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}
