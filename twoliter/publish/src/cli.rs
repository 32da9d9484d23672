//! Arguments and command dispatch of `twoliter-publish`.

use anyhow::{bail, Context as _, Result};
use clap::{Args as ClapArgs, Parser, Subcommand};
use std::collections::BTreeMap;
use std::num::NonZeroUsize;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;
use twoliter_project::{AmiSpec, AwsConfig, Infra, Project};
use twoliter_publish::ami::{self, AmiOptions};
use twoliter_publish::amis::{self, AmisFile};
use twoliter_publish::artifacts::Artifacts;
use twoliter_publish::aws::Aws;
use twoliter_publish::permissions::{self, Change, Principals};

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
    #[arg(long, global = true)]
    arch: Option<String>,
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
    Ami(Ami),
    /// Publish the AMI ids as SSM parameters (or promote, validate them).
    Ssm(Ssm),
    /// Upload one raw disk image as an EBS snapshot (what `ami` does for each disk).
    Snapshot {
        #[command(subcommand)]
        command: SnapshotCommand,
    },
}

/// Which build to publish.
#[derive(Debug, Clone, ClapArgs)]
struct Image {
    /// The variant whose latest build to publish (build/images/<arch>-<variant>/latest).
    #[arg(long)]
    variant: Option<String>,
    /// An artifact directory to publish instead (one build's output).
    #[arg(long, value_name = "DIR")]
    image_dir: Option<PathBuf>,
    /// Regions, the first one the source [default: Infra.toml [aws] regions, else AWS_REGION].
    #[arg(long, value_delimiter = ',')]
    regions: Vec<String>,
}

#[derive(Debug, ClapArgs)]
#[command(args_conflicts_with_subcommands = true)]
struct Ami {
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

#[derive(Debug, Clone, Default, ClapArgs)]
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

#[derive(Debug, ClapArgs)]
#[command(args_conflicts_with_subcommands = true)]
struct Ssm {
    #[command(subcommand)]
    command: Option<SsmCommand>,
    #[command(flatten)]
    params: SsmArgs,
    /// Overwrite parameters that exist with other values.
    #[arg(long)]
    allow_clobber: bool,
}

#[derive(Debug, Clone, ClapArgs)]
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

#[derive(Debug, Subcommand)]
enum SnapshotCommand {
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

fn humantime_duration(text: &str) -> Result<Duration, String> {
    humantime::parse_duration(text).map_err(|e| format!("{e} (e.g. 30m, 2h)"))
}

/// The project, Infra.toml and AWS configuration a command works with.
struct Context {
    root: Option<PathBuf>,
    arch: String,
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
        let arch = match &args.arch {
            Some(arch) => arch.clone(),
            None => std::env::consts::ARCH.to_string(),
        };
        if !["x86_64", "aarch64"].contains(&arch.as_str()) {
            bail!("--arch {arch}: twoliter builds x86_64 and aarch64");
        }
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

    fn aws_config(&self) -> AwsConfig {
        self.infra
            .as_ref()
            .and_then(|i| i.config.aws.clone())
            .unwrap_or_default()
    }

    async fn aws(&self) -> Aws {
        let config = self.aws_config();
        Aws::load(config.profile.as_deref(), config.role.as_deref()).await
    }

    fn regions(&self, aws: &Aws, given: &[String]) -> Result<Vec<String>> {
        let mut regions: Vec<String> = if !given.is_empty() {
            given.to_vec()
        } else if !self.aws_config().regions.is_empty() {
            self.aws_config().regions
        } else if let Some(region) = aws.default_region() {
            vec![region]
        } else {
            bail!("no region: pass --regions, set [aws] regions in Infra.toml, or set AWS_REGION");
        };
        let mut seen = std::collections::BTreeSet::new();
        regions.retain(|r| seen.insert(r.clone()));
        for region in &regions {
            let parts: Vec<&str> = region.split('-').collect();
            let ok = parts.len() >= 3
                && parts.iter().all(|p| {
                    !p.is_empty()
                        && p.bytes()
                            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
                })
                && parts
                    .last()
                    .is_some_and(|p| p.bytes().all(|b| b.is_ascii_digit()));
            if !ok {
                bail!("'{region}' is not an AWS region name (like us-west-2); check --regions and [aws] regions in Infra.toml");
            }
        }
        Ok(regions)
    }

    /// The artifact directory of `--image-dir` or the variant's latest build.
    fn artifacts(&self, image: &Image) -> Result<Artifacts> {
        let dir = match (&image.image_dir, &image.variant, &self.root) {
            (Some(dir), _, _) => dir.clone(),
            (None, Some(variant), Some(root)) => root
                .join("build/images")
                .join(format!("{}-{variant}", self.arch))
                .join("latest"),
            (None, Some(_), None) => bail!(
                "no twoliter project here (no Twoliter.toml found); pass --project-path or --image-dir"
            ),
            (None, None, _) => bail!("name the build to publish: --variant NAME or --image-dir DIR"),
        };
        let artifacts = Artifacts::open(&dir)?;
        if self.arch_given && artifacts.metadata.arch != self.arch {
            bail!(
                "{} holds a {} build, not {}; drop --arch or pass the {} build",
                dir.display(),
                artifacts.metadata.arch,
                self.arch,
                self.arch
            );
        }
        if let Some(variant) = &image.variant {
            if &artifacts.metadata.variant != variant {
                bail!(
                    "{} holds a build of {}, not {variant}",
                    dir.display(),
                    artifacts.metadata.variant
                );
            }
        }
        Ok(artifacts)
    }

    /// The variant's AMI settings and published volume size hint, from the project; defaults
    /// when the build is published from outside its project.
    fn variant_settings(&self, variant: &str) -> Result<(AmiSpec, u32)> {
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
            AmiSpec {
                boot_mode: None,
                tpm: false,
                imds_v2_only: true,
                volume_type: "gp3".into(),
                tags: BTreeMap::new(),
            },
            twoliter_project::ImageLayout::default().publish_image_size_hint_gib,
        ))
    }

    fn print<T: serde::Serialize>(&self, value: &T, text: impl FnOnce() -> String) {
        if self.json {
            println!(
                "{}",
                serde_json::to_string_pretty(value).expect("serialise")
            );
        } else {
            println!("{}", text());
        }
    }
}

/// Runs a parsed command line.
pub async fn run(args: Args) -> Result<ExitCode> {
    let ctx = Context::new(&args)?;
    match args.command {
        Command::Ami(ami) => match ami.command {
            Some(AmiCommand::Validate { image, ami_input }) => {
                ami_validate(&ctx, &image, ami_input.as_deref()).await
            }
            None => ami_publish_or_grant(&ctx, ami).await,
        },
        Command::Ssm(ssm) => match ssm.command {
            None => ssm_put(&ctx, &ssm.params, ssm.allow_clobber).await,
            Some(SsmCommand::Promote {
                params,
                source,
                target,
            }) => ssm_promote(&ctx, &params, source, &target).await,
            Some(SsmCommand::Validate { params }) => ssm_validate(&ctx, &params).await,
        },
        Command::Snapshot {
            command:
                SnapshotCommand::Upload {
                    file,
                    region,
                    description,
                    concurrency,
                    wait,
                },
        } => snapshot_upload(&ctx, &file, region, description, concurrency, wait).await,
    }
}

fn amis_path(
    ctx: &Context,
    image: &Image,
    given: Option<&Path>,
    name: Option<&str>,
) -> Result<PathBuf> {
    if let Some(path) = given {
        return Ok(path.to_path_buf());
    }
    let artifacts = ctx.artifacts(image)?;
    Ok(amis::path(&artifacts.dir, name.unwrap_or(&artifacts.name)))
}

async fn ami_publish_or_grant(ctx: &Context, args: Ami) -> Result<ExitCode> {
    let aws = ctx.aws().await;
    if args.grant || args.revoke || args.make_public {
        let path = amis_path(
            ctx,
            &args.image,
            args.ami_input.as_deref(),
            args.name.as_deref(),
        )?;
        let mut amis = amis::read(&path)?;
        let p = &args.principals;
        let mut principals = Principals {
            user_ids: p.user_ids.clone(),
            groups: p.group_names.clone(),
            organization_arns: p.organization_arns.clone(),
            organizational_unit_arns: p.organizational_unit_arns.clone(),
        };
        if args.make_public {
            principals.groups.push("all".into());
        }
        let change = if args.revoke {
            Change::Revoke
        } else {
            Change::Grant
        };
        permissions::modify(&aws, &mut amis, &principals, change).await?;
        amis::write(&path, &amis)?;
        ctx.print(&amis, || format!("updated {}", path.display()));
        return Ok(ExitCode::SUCCESS);
    }

    let p = &args.principals;
    if !(p.user_ids.is_empty()
        && p.group_names.is_empty()
        && p.organization_arns.is_empty()
        && p.organizational_unit_arns.is_empty())
    {
        bail!("--user-ids, --group-names, --organization-arns and --organizational-unit-arns need --grant or --revoke");
    }
    let artifacts = ctx.artifacts(&args.image)?;
    let metadata = &artifacts.metadata;
    let regions = ctx.regions(&aws, &args.image.regions)?;
    let (spec, hint) = ctx.variant_settings(&metadata.variant)?;
    let name = args.name.clone().unwrap_or_else(|| artifacts.name.clone());
    check_ami_name(&name)?;
    let os_gib = i32::try_from(metadata.os_image_size_gib).context("OS image size")?;
    let split = artifacts.data_image().is_some();
    let options = AmiOptions {
        description: args.description.clone().unwrap_or_else(|| name.clone()),
        name: name.clone(),
        regions,
        architecture: ami::ec2_architecture(&metadata.arch).to_string(),
        os_volume_gib: if split {
            os_gib
        } else {
            os_gib.max(hint as i32)
        },
        data_volume_gib: split.then(|| (hint as i32 - os_gib).max(1)),
        upload: twoliter_ebs_upload::UploadOptions {
            description: Some(name.clone()),
            tags: spec
                .tags
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
            concurrency: args.concurrency,
            ..Default::default()
        },
        spec,
        wait_timeout: args.wait_timeout,
    };
    let _lock = artifacts.lock()?;
    // Checked before anything reaches AWS: decompressed beside the artifacts, removed after.
    let work = tempfile::Builder::new()
        .prefix(".publish-")
        .tempdir_in(&artifacts.dir)
        .with_context(|| {
            format!(
                "cannot make a work directory in {}",
                artifacts.dir.display()
            )
        })?;
    let images = artifacts.prepare(work.path())?;
    tracing::info!(
        "checked {} (GPT and partitions match the build's metadata)",
        artifacts.os_image().display()
    );
    let (mut amis, report) = ami::publish(&aws, &images, &options).await?;
    if !report.created.is_empty() && path_has_grants(&artifacts, &name)? {
        tracing::warn!(
            "new AMIs in {} are private; rerun the --grant/--make-public commands to share them like the others",
            report.created.join(", ")
        );
    }
    drop(work);
    let path = amis::path(&artifacts.dir, &name);
    if path.exists() {
        let kept = amis::merge_earlier(&mut amis, &amis::read(&path)?);
        if !kept.is_empty() {
            tracing::info!(
                "{} keeps the AMIs published earlier in {}",
                path.display(),
                kept.join(", ")
            );
        }
    }
    amis::write(&path, &amis)?;
    #[derive(serde::Serialize)]
    struct Output<'a> {
        amis_file: &'a Path,
        amis: &'a AmisFile,
        report: &'a ami::PublishReport,
    }
    let output = Output {
        amis_file: &path,
        amis: &amis,
        report: &report,
    };
    ctx.print(&output, || {
        let mut text = String::new();
        for (region, image) in &amis {
            text.push_str(&format!("{region}\t{}\t{}\n", image.id, image.name));
        }
        text.push_str(&format!("wrote {}", path.display()));
        text
    });
    Ok(ExitCode::SUCCESS)
}

/// EC2's rule for AMI names: 3–128 characters of letters, digits, ( ) [ ] space . / - ' @ _.
fn check_ami_name(name: &str) -> Result<()> {
    let ok = (3..=128).contains(&name.len())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "()[] ./-'@_".contains(c));
    if !ok {
        bail!(
            "--name '{name}': AMI names are 3 to 128 letters, digits and ( ) [ ] space . / - ' @ _"
        );
    }
    Ok(())
}

async fn ami_validate(ctx: &Context, image: &Image, ami_input: Option<&Path>) -> Result<ExitCode> {
    let aws = ctx.aws().await;
    let path = amis_path(ctx, image, ami_input, None)?;
    let amis = amis::read(&path)?;
    let mismatches = ami::validate(&aws, &amis).await?;
    #[derive(serde::Serialize)]
    struct Output<'a> {
        ok: bool,
        amis: usize,
        mismatches: &'a [ami::Mismatch],
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
    });
    Ok(if mismatches.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// What the SSM commands share: the build, its AMIs, the templates and prefix, the clients.
struct SsmInputs {
    artifacts: Artifacts,
    amis: AmisFile,
    templates: Vec<twoliter_ssm::Template>,
    prefix: String,
    clients: BTreeMap<String, aws_sdk_ssm::Client>,
}

impl SsmInputs {
    async fn load(ctx: &Context, args: &SsmArgs) -> Result<SsmInputs> {
        let artifacts = ctx.artifacts(&args.image)?;
        let path = args
            .ami_input
            .clone()
            .unwrap_or_else(|| amis::path(&artifacts.dir, &artifacts.name));
        let mut amis = amis::read(&path)?;
        if !args.image.regions.is_empty() {
            amis.retain(|region, _| args.image.regions.contains(region));
            if amis.is_empty() {
                bail!(
                    "{} has no AMI in {}",
                    path.display(),
                    args.image.regions.join(", ")
                );
            }
        }
        let templates = match &args.template {
            Some(path) => {
                let templates = twoliter_ssm::load_templates(path)?;
                if templates.is_empty() {
                    bail!("{} defines no [[parameter]]; add one, or leave out --template for the defaults", path.display());
                }
                templates
            }
            None => twoliter_ssm::default_templates(),
        };
        let prefix = args
            .ssm_prefix
            .clone()
            .or_else(|| ctx.aws_config().ssm_prefix)
            .unwrap_or_else(|| "/twoliter".into());
        let aws = ctx.aws().await;
        let clients = amis.keys().map(|r| (r.clone(), aws.ssm(r))).collect();
        Ok(SsmInputs {
            artifacts,
            amis,
            templates,
            prefix,
            clients,
        })
    }

    fn image_version(&self) -> String {
        let m = &self.artifacts.metadata;
        format!("{}-{}", m.version, m.build_id)
    }

    fn contexts(&self, image_version: &str) -> BTreeMap<String, twoliter_ssm::Context> {
        let m = &self.artifacts.metadata;
        self.amis
            .iter()
            .map(|(region, image)| {
                (
                    region.clone(),
                    twoliter_ssm::Context {
                        variant: m.variant.clone(),
                        arch: m.arch.clone(),
                        image_id: image.id.clone(),
                        image_name: image.name.clone(),
                        image_version: image_version.to_string(),
                        region: region.clone(),
                    },
                )
            })
            .collect()
    }

    fn parameters(&self) -> Result<twoliter_ssm::Parameters> {
        let mut parameters = twoliter_ssm::Parameters::new();
        for (region, context) in self.contexts(&self.image_version()) {
            parameters.insert(
                region,
                twoliter_ssm::render(&self.templates, &self.prefix, &context)?,
            );
        }
        Ok(parameters)
    }
}

fn print_put(ctx: &Context, report: &twoliter_ssm::PutReport) {
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
    });
}

async fn ssm_put(ctx: &Context, args: &SsmArgs, allow_clobber: bool) -> Result<ExitCode> {
    let inputs = SsmInputs::load(ctx, args).await?;
    let parameters = inputs.parameters()?;
    let report = twoliter_ssm::put(&inputs.clients, &parameters, allow_clobber).await?;
    print_put(ctx, &report);
    Ok(ExitCode::SUCCESS)
}

async fn ssm_promote(
    ctx: &Context,
    args: &SsmArgs,
    source: Option<String>,
    target: &str,
) -> Result<ExitCode> {
    let inputs = SsmInputs::load(ctx, args).await?;
    let source = source.unwrap_or_else(|| inputs.image_version());
    let contexts = inputs.contexts(&source);
    let report = twoliter_ssm::promote(
        &inputs.clients,
        &inputs.templates,
        &inputs.prefix,
        &contexts,
        target,
    )
    .await?;
    print_put(ctx, &report);
    Ok(ExitCode::SUCCESS)
}

async fn ssm_validate(ctx: &Context, args: &SsmArgs) -> Result<ExitCode> {
    let inputs = SsmInputs::load(ctx, args).await?;
    let parameters = inputs.parameters()?;
    let report = twoliter_ssm::validate(&inputs.clients, &parameters).await?;
    ctx.print(&report, || {
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
    });
    Ok(if report.is_ok() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

async fn snapshot_upload(
    ctx: &Context,
    file: &Path,
    region: Option<String>,
    description: Option<String>,
    concurrency: NonZeroUsize,
    wait: bool,
) -> Result<ExitCode> {
    let aws = ctx.aws().await;
    let region = match region {
        Some(region) => region,
        None => ctx.regions(&aws, &[])?.remove(0),
    };
    refuse_packed_image(file)?;
    let options = twoliter_ebs_upload::UploadOptions {
        description,
        concurrency,
        ..Default::default()
    };
    let bar = twoliter_publish::progress::UploadBar::new(&region, file);
    let uploaded = twoliter_ebs_upload::upload_file(&aws.ebs(&region), file, &options, &bar)
        .await
        .map_err(|source| twoliter_publish::Error::Upload {
            path: file.to_path_buf(),
            region: region.clone(),
            source: Box::new(source),
        })?;
    if wait {
        ami::wait_snapshot(
            &aws.ec2(&region),
            &region,
            &uploaded.snapshot_id,
            Duration::from_secs(7200),
        )
        .await?;
    }
    ctx.print(&uploaded, || uploaded.snapshot_id.clone());
    Ok(ExitCode::SUCCESS)
}

/// A snapshot must be the raw disk: refuses the packed formats twoliter writes beside it.
fn refuse_packed_image(file: &Path) -> Result<()> {
    use std::io::Read;
    let mut magic = [0u8; 4];
    let read = std::fs::File::open(file)
        .and_then(|mut f| f.read(&mut magic))
        .with_context(|| format!("cannot read {}", file.display()))?;
    let format = match &magic[..read] {
        [0x04, 0x22, 0x4d, 0x18] => "lz4-compressed (decompress it: lz4 -d)",
        [b'Q', b'F', b'I', 0xfb] => "a qcow2 image (convert it: qemu-img convert -O raw)",
        [b'K', b'D', b'M', b'V'] => "a VMDK image (convert it: qemu-img convert -O raw)",
        [0xfd, b'7', b'z', b'X'] => "xz-compressed",
        [0x1f, 0x8b, ..] => "gzip-compressed",
        _ => return Ok(()),
    };
    bail!(
        "{} is {format}; a snapshot takes the raw disk image",
        file.display()
    )
}

/// Whether the build's existing amis.json shares any AMI (then new copies need the same grants).
fn path_has_grants(artifacts: &Artifacts, name: &str) -> Result<bool> {
    let path = amis::path(&artifacts.dir, name);
    if !path.exists() {
        return Ok(false);
    }
    Ok(amis::read(&path)?
        .values()
        .any(|i| i.public || !i.launch_permissions.is_empty()))
}
