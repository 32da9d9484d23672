//! `twoliter publish snapshot upload`: one raw disk image as an EBS snapshot.

use crate::cli::Context;
use anyhow::Result;
use clap::Subcommand;
use std::num::NonZeroUsize;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Debug, Subcommand)]
pub enum SnapshotCommand {
    /// Upload a raw disk image as an EBS snapshot and print its id.
    Upload {
        /// The raw image file.
        file: PathBuf,
        /// The region [default: AWS_REGION].
        #[arg(long)]
        region: Option<String>,
        /// The snapshot description.
        #[arg(long)]
        description: Option<String>,
        /// Blocks uploaded at the same time.
        #[arg(long, default_value = "32")]
        concurrency: NonZeroUsize,
        /// Wait until the snapshot is `completed` (EC2 DescribeSnapshots).
        #[arg(long)]
        wait: bool,
    },
}

impl SnapshotCommand {
    /// Uploads the file and prints the snapshot id.
    pub async fn run(self, ctx: &Context) -> Result<ExitCode> {
        let SnapshotCommand::Upload {
            file,
            region,
            description,
            concurrency,
            wait,
        } = self;
        let aws = ctx.aws().await;
        let region = match region {
            Some(region) => region.parse()?,
            None => ctx.regions(&aws, &[])?.remove(0),
        };
        let options = twoliter_ebs_upload::UploadOptions {
            description,
            concurrency,
            ..Default::default()
        };
        let uploaded =
            twoliter_publish::snapshot::upload(&aws, &region, &file, &options, wait).await?;
        ctx.print(&uploaded, || uploaded.snapshot_id.clone())?;
        Ok(ExitCode::SUCCESS)
    }
}
