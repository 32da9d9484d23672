//! `twoliter publish ssm [promote|validate]`: the AMI ids as SSM parameters.

use crate::cli::{Context, Image};
use anyhow::Result;
use clap::{Args, Subcommand};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::ExitCode;
use twoliter_publish::amis;
use twoliter_ssm::SsmInputs;

#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct SsmCommandArgs {
    #[command(subcommand)]
    command: Option<SsmCommand>,
    #[command(flatten)]
    params: SsmArgs,
    /// Overwrite parameters that exist with other values.
    #[arg(long)]
    allow_clobber: bool,
}

#[derive(Debug, Clone, Args)]
struct SsmArgs {
    #[command(flatten)]
    image: Image,
    /// The amis.json to publish [default: the build's].
    #[arg(long, value_name = "FILE")]
    ami_input: Option<PathBuf>,
    /// Parameter templates (TOML `[[parameter]] name = "..." value = "..."`) [default:
    /// {variant}/{arch}/{image_version}/image_id and .../image_version].
    #[arg(long, value_name = "FILE")]
    template: Option<PathBuf>,
    /// Prefix of every parameter name [default: Infra.toml [aws] ssm_prefix, else /twoliter].
    #[arg(long)]
    ssm_prefix: Option<String>,
}

#[derive(Debug, Subcommand)]
enum SsmCommand {
    /// Copy the parameters of version --source to version --target (e.g. `latest`).
    Promote {
        #[command(flatten)]
        params: SsmArgs,
        /// The image version to promote [default: the build's, <version>-<build>].
        #[arg(long)]
        source: Option<String>,
        /// The version name to point at it.
        #[arg(long, default_value = "latest")]
        target: String,
    },
    /// Compare the parameters with what amis.json says they should be; exits 1 on any
    /// difference.
    Validate {
        #[command(flatten)]
        params: SsmArgs,
    },
}

/// The library's inputs and one SSM client per region of the AMIs.
struct Loaded {
    inputs: SsmInputs,
    clients: BTreeMap<String, aws_sdk_ssm::Client>,
}

impl SsmArgs {
    async fn load(&self, ctx: &Context) -> Result<Loaded> {
        let artifacts = ctx.artifacts(&self.image)?;
        let path = self
            .ami_input
            .clone()
            .unwrap_or_else(|| artifacts.amis_file(&artifacts.name().to_string()));
        let mut amis = amis::read(&path)?;
        amis::only_regions(&mut amis, &self.image.regions, &path)?;
        let inputs = SsmInputs::new(
            artifacts.name().clone(),
            amis::published_images(&amis),
            self.template.as_deref(),
            self.ssm_prefix.as_deref(),
            ctx.aws_config().ssm_prefix.as_deref(),
        )?;
        let aws = ctx.aws().await;
        let clients = amis.keys().map(|r| (r.clone(), aws.ssm(r))).collect();
        Ok(Loaded { inputs, clients })
    }
}

impl SsmCommandArgs {
    /// Puts, promotes or validates the parameters, as the arguments say.
    pub async fn run(self, ctx: &Context) -> Result<ExitCode> {
        match self.command {
            None => {
                let Loaded { inputs, clients } = self.params.load(ctx).await?;
                let parameters = inputs.parameters()?;
                let report = twoliter_ssm::put(&clients, &parameters, self.allow_clobber).await?;
                print_put(ctx, &report)?;
                Ok(ExitCode::SUCCESS)
            }
            Some(SsmCommand::Promote {
                params,
                source,
                target,
            }) => {
                let Loaded { inputs, clients } = params.load(ctx).await?;
                let source = source.unwrap_or_else(|| inputs.image_version());
                let report = twoliter_ssm::promote(
                    &clients,
                    &inputs.templates,
                    &inputs.prefix,
                    &inputs.contexts(&source),
                    &target,
                )
                .await?;
                print_put(ctx, &report)?;
                Ok(ExitCode::SUCCESS)
            }
            Some(SsmCommand::Validate { params }) => {
                let Loaded { inputs, clients } = params.load(ctx).await?;
                let report = twoliter_ssm::validate(&clients, &inputs.parameters()?).await?;
                print_validate(ctx, &report)?;
                Ok(if report.is_ok() {
                    ExitCode::SUCCESS
                } else {
                    ExitCode::FAILURE
                })
            }
        }
    }
}

fn print_put(ctx: &Context, report: &twoliter_ssm::PutReport) -> Result<()> {
    ctx.print(report, || {
        let mut text = String::new();
        for change in &report.changes {
            text.push_str(&format!(
                "{}\t{} = {}\n",
                change.region, change.name, change.new
            ));
        }
        text.push_str(&format!(
            "{} parameter(s) written, {} already up to date",
            report.written, report.unchanged
        ));
        text
    })
}

fn print_validate(ctx: &Context, report: &twoliter_ssm::ValidateReport) -> Result<()> {
    ctx.print(report, || {
        let mut text = String::new();
        for (region, name) in &report.missing {
            text.push_str(&format!("{region}\t{name}: missing\n"));
        }
        for (region, name, expected, actual) in &report.different {
            text.push_str(&format!(
                "{region}\t{name}: is '{actual}', expected '{expected}'\n"
            ));
        }
        text.push_str(&format!(
            "{} correct, {} missing, {} different",
            report.correct.len(),
            report.missing.len(),
            report.different.len()
        ));
        text
    })
}
