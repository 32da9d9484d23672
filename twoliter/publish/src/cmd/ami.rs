//! `twoliter publish ami [validate]`: register, share and check AMIs.

use crate::cli::{Context, Image};
use anyhow::{bail, Result};
use clap::{Args, Subcommand};
use std::num::NonZeroUsize;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;
use twoliter_publish::amis::{self, AmisFile};
use twoliter_publish::build::{self, AmiRequest};
use twoliter_publish::permissions::{self, Change, Principals};

#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct AmiArgs {
    #[command(subcommand)]
    command: Option<AmiCommand>,
    #[command(flatten)]
    image: Image,
    /// The AMI name [default: the image name, bottlerocket-<variant>-<arch>-<version>-<build>].
    #[arg(long)]
    name: Option<String>,
    /// The AMI description [default: the name].
    #[arg(long)]
    description: Option<String>,
    /// Grant launch permission to the principals named (no upload).
    #[arg(long, conflicts_with = "revoke")]
    grant: bool,
    /// Revoke launch permission from the principals named (no upload).
    #[arg(long)]
    revoke: bool,
    /// Make the AMIs and their snapshots public (same as --grant --group-names all).
    #[arg(long, conflicts_with_all = ["grant", "revoke"])]
    make_public: bool,
    #[command(flatten)]
    principals: PrincipalArgs,
    /// The amis.json to grant or revoke on [default: <artifact dir>/<name>-amis.json].
    #[arg(long, value_name = "FILE")]
    ami_input: Option<PathBuf>,
    /// EBS blocks uploaded at the same time (memory: this × the block size, 512 KiB on AWS).
    #[arg(long, default_value = "32")]
    concurrency: NonZeroUsize,
    /// How long to wait for snapshots and images to become ready.
    #[arg(long, default_value = "2h", value_parser = humantime_duration)]
    wait_timeout: Duration,
}

#[derive(Debug, Clone, Default, Args)]
struct PrincipalArgs {
    /// AWS account ids.
    #[arg(long, value_delimiter = ',')]
    user_ids: Vec<String>,
    /// Groups (EC2 knows `all`: public).
    #[arg(long, value_delimiter = ',')]
    group_names: Vec<String>,
    /// AWS Organizations organization ARNs.
    #[arg(long, value_delimiter = ',')]
    organization_arns: Vec<String>,
    /// AWS Organizations organizational unit ARNs.
    #[arg(long, value_delimiter = ',')]
    organizational_unit_arns: Vec<String>,
}

#[derive(Debug, Subcommand)]
enum AmiCommand {
    /// Compare the AMIs in amis.json with AWS (existence, name, state, permissions); exits 1 on
    /// any difference.
    Validate {
        #[command(flatten)]
        image: Image,
        /// The amis.json to check [default: the build's].
        #[arg(long, value_name = "FILE")]
        ami_input: Option<PathBuf>,
    },
}

fn humantime_duration(text: &str) -> Result<Duration, String> {
    humantime::parse_duration(text).map_err(|e| format!("{e} (e.g. 30m, 2h)"))
}

impl AmiArgs {
    /// Publishes, shares or validates, as the arguments say.
    pub async fn run(self, ctx: &Context) -> Result<ExitCode> {
        if let Some(AmiCommand::Validate { image, ami_input }) = &self.command {
            return validate(ctx, image, ami_input.as_deref()).await;
        }
        let p = &self.principals;
        let principals = Principals {
            user_ids: p.user_ids.clone(),
            groups: p
                .group_names
                .iter()
                .cloned()
                .chain(self.make_public.then(|| "all".to_string()))
                .collect(),
            organization_arns: p.organization_arns.clone(),
            organizational_unit_arns: p.organizational_unit_arns.clone(),
        };
        if self.grant || self.revoke || self.make_public {
            let change = if self.revoke {
                Change::Revoke
            } else {
                Change::Grant
            };
            return self.share(ctx, &principals, change).await;
        }
        if !principals.is_empty() {
            bail!("--user-ids, --group-names, --organization-arns and --organizational-unit-arns need --grant or --revoke");
        }
        self.publish(ctx).await
    }

    async fn share(
        &self,
        ctx: &Context,
        principals: &Principals,
        change: Change,
    ) -> Result<ExitCode> {
        let aws = ctx.aws().await;
        let path = ctx.amis_path(&self.image, self.ami_input.as_deref(), self.name.as_deref())?;
        let mut amis = amis::read(&path)?;
        permissions::modify(&aws, &mut amis, principals, change).await?;
        amis::write(&path, &amis)?;
        ctx.print(&amis, || format!("updated {}", path.display()))?;
        Ok(ExitCode::SUCCESS)
    }

    async fn publish(&self, ctx: &Context) -> Result<ExitCode> {
        let aws = ctx.aws().await;
        let artifacts = ctx.artifacts(&self.image)?;
        let regions = ctx.regions(&aws, &self.image.regions)?;
        let (spec, size_hint_gib) = ctx.variant_settings(&artifacts.name().variant)?;
        let request = AmiRequest {
            name: self.name.clone(),
            description: self.description.clone(),
            regions,
            spec,
            size_hint_gib,
            concurrency: self.concurrency,
            wait_timeout: self.wait_timeout,
        };
        let outcome = build::publish_build(&aws, &artifacts, &request).await?;
        ctx.print(&outcome, || {
            let mut text = String::new();
            for (region, image) in &outcome.amis {
                text.push_str(&format!("{region}\t{}\t{}\n", image.id, image.name));
            }
            text.push_str(&format!("wrote {}", outcome.amis_file.display()));
            text
        })?;
        Ok(ExitCode::SUCCESS)
    }
}

async fn validate(ctx: &Context, image: &Image, ami_input: Option<&Path>) -> Result<ExitCode> {
    let aws = ctx.aws().await;
    let path = ctx.amis_path(image, ami_input, None)?;
    let amis: AmisFile = amis::read(&path)?;
    let mismatches = twoliter_publish::ami::validate(&aws, &amis).await?;
    #[derive(serde::Serialize)]
    struct Output<'a> {
        ok: bool,
        amis: usize,
        mismatches: &'a [twoliter_publish::ami::Mismatch],
    }
    let output = Output {
        ok: mismatches.is_empty(),
        amis: amis.len(),
        mismatches: &mismatches,
    };
    ctx.print(&output, || {
        if mismatches.is_empty() {
            format!("{} AMI(s) in {} match AWS", amis.len(), path.display())
        } else {
            mismatches
                .iter()
                .map(|m| format!("{}: {} {}", m.region, m.id, m.problem))
                .collect::<Vec<_>>()
                .join("\n")
        }
    })?;
    Ok(if mismatches.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
