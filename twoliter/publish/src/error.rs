//! Errors of publishing, each naming what failed, where (file, region, resource) and why.

use std::path::PathBuf;

/// A publishing failure.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A file could not be read or written.
    #[error("cannot {action} {}: {source}", path.display())]
    Io {
        /// What was being done.
        action: &'static str,
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The artifacts to publish are missing or not what they should be.
    #[error("{}: {message}", path.display())]
    Artifact {
        /// The file or directory at fault.
        path: PathBuf,
        /// What is wrong and how to fix it.
        message: String,
    },
    /// The image cannot boot in the boot mode it would be registered with.
    #[error("{build} {problem}")]
    Boot {
        /// The build.
        build: String,
        /// What it lacks, and how to fix it.
        problem: String,
    },
    /// The artifact directory is missing or not one build's.
    #[error(transparent)]
    Artifacts(#[from] twoliter_artifacts::Error),
    /// An image could not be decompressed.
    #[error("cannot decompress the image (corrupt or truncated? rebuild the variant)")]
    Decompress(#[source] twoliter_image::Error),
    /// An EBS snapshot upload failed.
    #[error("cannot upload {} as an EBS snapshot in {region}", path.display())]
    Upload {
        /// The image file.
        path: PathBuf,
        /// The region.
        region: String,
        /// The cause.
        source: Box<twoliter_ebs_upload::UploadError>,
    },
    /// An AWS API call failed.
    #[error("{operation} in {region} failed: {message}")]
    Aws {
        /// The API operation (`RegisterImage`, ...).
        operation: &'static str,
        /// The region.
        region: String,
        /// The service's error code and message.
        message: String,
    },
    /// Waiting for a resource timed out or the resource failed.
    #[error("{what} in {region}: {message}")]
    Wait {
        /// The resource (`snapshot snap-...`, `image ami-...`).
        what: String,
        /// The region.
        region: String,
        /// What happened.
        message: String,
    },
    /// The input or configuration is not usable.
    #[error("{0}")]
    Usage(String),
    /// SSM parameters could not be published or checked.
    #[error(transparent)]
    Ssm(#[from] twoliter_ssm::SsmError),
}

/// Result with [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// An [`Error::Aws`] from an SDK error, with the service's code and message.
    pub fn aws<E, R>(
        operation: &'static str,
        region: &str,
        error: aws_sdk_ec2::error::SdkError<E, R>,
    ) -> Error
    where
        E: aws_sdk_ec2::error::ProvideErrorMetadata + std::error::Error + 'static,
        R: std::fmt::Debug,
    {
        Error::Aws {
            operation,
            region: region.to_string(),
            message: describe_sdk_error(&error),
        }
    }

    pub(crate) fn io(
        action: &'static str,
        path: &std::path::Path,
        source: std::io::Error,
    ) -> Error {
        Error::Io {
            action,
            path: path.to_path_buf(),
            source,
        }
    }
}

/// `Code: message` for a service error; the transport failure (with its causes) otherwise.
pub fn describe_sdk_error<E, R>(error: &aws_sdk_ec2::error::SdkError<E, R>) -> String
where
    E: aws_sdk_ec2::error::ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    if let Some(service) = error.as_service_error() {
        match (service.code(), service.message()) {
            (Some(code), Some(message)) => return format!("{code}: {message}"),
            (Some(code), None) => return code.to_string(),
            _ => {}
        }
    }
    let mut text = error.to_string();
    let mut cause = std::error::Error::source(error);
    while let Some(c) = cause {
        text.push_str(": ");
        text.push_str(&c.to_string());
        cause = c.source();
    }
    text
}
