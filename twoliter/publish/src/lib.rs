//! Publishing built images to AWS (DESIGN §4): the OS and data disks become EBS snapshots
//! through the EBS direct APIs, then an AMI registered in the first region and copied to the
//! others; launch permissions are granted or revoked on the AMIs and their snapshots; the AMI
//! ids are recorded in `<name>-amis.json` and published as SSM parameters.
//!
//! Every AWS call goes through the AWS SDK for Rust with the standard configuration chain
//! (`AWS_PROFILE`, `AWS_REGION`, `AWS_ENDPOINT_URL[_<SERVICE>]`, `~/.aws/config`, SSO, roles).

pub mod ami;
pub mod amis;
pub mod artifacts;
pub mod aws;
pub mod build;
pub mod error;
pub mod permissions;
pub mod progress;
pub mod snapshot;

pub use error::{Error, Result};
