//! Arguments and command dispatch of `twoliter-publish`; each subcommand lives in
//! [`crate::cmd`], and [`Context`] turns the global options into library values once.

use crate::cmd;
use anyhow::{bail, Result};
use clap::{Args as ClapArgs, Parser, Subcommand};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use twoliter_artifacts::ArtifactDir;
use twoliter_project::{AmiSpec, Arch, AwsConfig, Infra, Project};
use twoliter_publish::aws::{Aws, Region};

/// Publish built images to AWS: EBS snapshots, AMIs in every region, launch permissions and
/// SSM parameters.
///
/// AWS credentials, region, profile, role and endpoints come from the standard AWS
/// configuration chain (AWS_PROFILE, AWS_REGION, AWS_ENDPOINT_URL[_EC2|_EBS|_SSM],
/// ~/.aws/config, SSO, instance roles). Infra.toml's [aws] table may name the regions, a
/// profile, a role to assume and the SSM prefix.
///
/// Typical use:
///   twoliter publish ami --variant aws-k8s-1.31 --regions us-west-2,us-east-1
///   twoliter publish ami --variant aws-k8s-1.31 --grant --user-ids 111122223333
///   twoliter publish ssm --variant aws-k8s-1.31
///   twoliter publish ssm promote --variant aws-k8s-1.31 --target latest
#[derive(Debug, Parser)]
#[command(
    name = "twoliter publish",
    bin_name = "twoliter publish",
    version,
    verbatim_doc_comment
)]
pub struct Args {
    /// The project directory [default: found from the current directory].
    #[arg(long, global = true, env = "TWOLITER_PROJECT_PATH")]
    project_path: Option<PathBuf>,
    /// Infra.toml [default: <project>/Infra.toml, when it exists].
    #[arg(long, global = true)]
    infra_config_path: Option<PathBuf>,
    /// Architecture of the image [default: this machine's].
    #[arg(long, global = true, value_parser = parse_arch)]
    arch: Option<Arch>,
    /// Print the result as JSON on stdout.
    #[arg(long, global = true)]
    json: bool,
    /// Log every step.
    #[arg(long, short, global = true)]
    pub verbose: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Register AMIs from a built variant (or grant, revoke, validate them).
    Ami(cmd::ami::AmiArgs),
    /// Publish the AMI ids as SSM parameters (or promote, validate them).
    Ssm(cmd::ssm::SsmCommandArgs),
    /// Upload one raw disk image as an EBS snapshot (what `ami` does for each disk).
    Snapshot {
        #[command(subcommand)]
        command: cmd::snapshot::SnapshotCommand,
    },
}

/// Which build to publish.
#[derive(Debug, Clone, ClapArgs)]
pub struct Image {
    /// The variant whose latest build to publish (build/images/<arch>-<variant>/latest).
    #[arg(long)]
    pub variant: Option<String>,
    /// An artifact directory to publish instead (one build's output).
    #[arg(long, value_name = "DIR")]
    pub image_dir: Option<PathBuf>,
    /// Regions, the first one the source [default: Infra.toml [aws] regions, else AWS_REGION].
    #[arg(long, value_delimiter = ',')]
    pub regions: Vec<String>,
}

fn parse_arch(text: &str) -> Result<Arch, String> {
    Arch::ALL
        .into_iter()
        .find(|arch| arch.name() == text)
        .ok_or_else(|| "twoliter builds x86_64 and aarch64".into())
}

/// The project, Infra.toml and AWS configuration a command works with.
pub struct Context {
    root: Option<PathBuf>,
    arch: Arch,
    arch_given: bool,
    infra: Option<Infra>,
    json: bool,
}

impl Context {
    fn new(args: &Args) -> Result<Context> {
        let root = match &args.project_path {
            Some(path) => Some(twoliter_project::at(path)?),
            None => std::env::current_dir()
                .ok()
                .and_then(|cwd| twoliter_project::discover(&cwd).ok()),
        };
        let arch = match args.arch.or_else(Arch::host) {
            Some(arch) => arch,
            None => bail!("this machine is neither x86_64 nor aarch64; pass --arch"),
        };
        let infra_path = match (&args.infra_config_path, &root) {
            (Some(path), _) => Some(path.clone()),
            (None, Some(root)) => Some(root.join("Infra.toml")).filter(|p| p.exists()),
            (None, None) => None,
        };
        let infra = match infra_path {
            Some(path) => Some(Infra::load(&path).map_err(|d| anyhow::anyhow!("{d}"))?),
            None => None,
        };
        Ok(Context {
            root,
            arch,
            arch_given: args.arch.is_some(),
            infra,
            json: args.json,
        })
    }

    /// Infra.toml's `[aws]` table, or the defaults.
    pub fn aws_config(&self) -> AwsConfig {
        self.infra
            .as_ref()
            .and_then(|i| i.config.aws.clone())
            .unwrap_or_default()
    }

    /// The AWS configuration chain with Infra.toml's profile and role.
    pub async fn aws(&self) -> Aws {
        let config = self.aws_config();
        Aws::load(config.profile.as_deref(), config.role.as_deref()).await
    }

    /// The regions to publish to ([`twoliter_publish::aws::resolve_regions`]).
    pub fn regions(&self, aws: &Aws, given: &[String]) -> Result<Vec<Region>> {
        let configured = self.aws_config().regions;
        Ok(twoliter_publish::aws::resolve_regions(
            given,
            &configured,
            aws.default_region(),
        )?)
    }

    /// The artifact directory of `--image-dir`, or the variant's newest build.
    pub fn artifacts(&self, image: &Image) -> Result<ArtifactDir> {
        let arch = self.arch_given.then_some(self.arch);
        let variant = image.variant.as_deref();
        match (&image.image_dir, variant, &self.root) {
            (Some(dir), _, _) => Ok(twoliter_publish::artifacts::open_checked(
                dir, variant, arch,
            )?),
            (None, Some(variant), Some(root)) => Ok(ArtifactDir::find(
                twoliter_project::ProjectLayout::new(root).build_dir(),
                variant,
                self.arch,
                None,
            )?),
            (None, Some(_), None) => bail!(
                "no twoliter project here (no Twoliter.toml found); pass --project-path or --image-dir"
            ),
            (None, None, _) => bail!("name the build to publish: --variant NAME or --image-dir DIR"),
        }
    }

    /// `--ami-input`, else the build's `<name>-amis.json`.
    pub fn amis_path(
        &self,
        image: &Image,
        given: Option<&Path>,
        name: Option<&str>,
    ) -> Result<PathBuf> {
        if let Some(path) = given {
            return Ok(path.to_path_buf());
        }
        let artifacts = self.artifacts(image)?;
        let name = name.map_or_else(|| artifacts.name().to_string(), str::to_string);
        Ok(artifacts.amis_file(&name))
    }

    /// The variant's AMI settings and published volume size hint, from the project; defaults
    /// when the build is published from outside its project.
    pub fn variant_settings(&self, variant: &str) -> Result<(AmiSpec, u32)> {
        if let Some(root) = &self.root {
            let project = Project::load(root)?;
            if let Ok(v) = project.variant(variant) {
                return Ok((v.ami.clone(), v.image_layout.publish_image_size_hint_gib));
            }
        }
        tracing::warn!(
            "variant {variant} is not in a project here; using the default AMI settings"
        );
        Ok((
            twoliter_project::AmiSpec::default(),
            twoliter_project::ImageLayout::default().publish_image_size_hint_gib,
        ))
    }

    /// Prints `value` as JSON with `--json`, else `text()`.
    pub fn print<T: serde::Serialize>(
        &self,
        value: &T,
        text: impl FnOnce() -> String,
    ) -> Result<()> {
        if self.json {
            println!("{}", serde_json::to_string_pretty(value)?);
        } else {
            println!("{}", text());
        }
        Ok(())
    }
}

/// Runs a parsed command line.
pub async fn run(args: Args) -> Result<ExitCode> {
    let ctx = Context::new(&args)?;
    match args.command {
        Command::Ami(ami) => ami.run(&ctx).await,
        Command::Ssm(ssm) => ssm.run(&ctx).await,
        Command::Snapshot { command } => command.run(&ctx).await,
    }
}
