//! Command-line arguments.

use clap::{Parser, Subcommand, ValueEnum};
use std::path::PathBuf;
use twoliter_project::Arch;

/// Build Bottlerocket-style container host OS images from a declarative project.
///
/// A project is a directory with `Twoliter.toml`, `kits/<kit>/packages/<pkg>/` (RPM specs and
/// package.yaml) and `variants/<variant>/variant.yaml`. Start with `twoliter check` to validate
/// it, then `twoliter variant list` to see what it can build.
#[derive(Debug, Parser)]
#[command(
    name = "twoliter",
    version,
    propagate_version = true,
    max_term_width = 100
)]
pub struct Args {
    /// How much to log on stderr.
    #[arg(long, global = true, value_enum, default_value_t = LogLevel::Info, env = "TWOLITER_LOG_LEVEL")]
    pub log_level: LogLevel,

    /// The project directory or its Twoliter.toml [default: the nearest directory upwards holding
    /// Twoliter.toml].
    #[arg(long, global = true, value_name = "DIR", env = "TWOLITER_PROJECT_PATH")]
    pub project_path: Option<PathBuf>,

    /// Target architecture [default: this machine's].
    #[arg(long, global = true, value_enum, env = "TWOLITER_ARCH")]
    pub arch: Option<Arch>,

    #[command(subcommand)]
    pub command: Command,
}

/// Log verbosity.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum LogLevel {
    /// Only errors.
    Error,
    /// Errors and warnings.
    Warn,
    /// Progress and results (default).
    Info,
    /// Details of each step.
    Debug,
    /// Everything.
    Trace,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Load and validate the whole project: Twoliter.toml and its lock, every kit, package and
    /// variant manifest, spec files, variant bases and the package dependency graph.
    ///
    /// Every problem is reported at once with its file, line, column and key. Exits 1 when any is
    /// found.
    Check {
        /// Print a JSON report instead of text.
        #[arg(long)]
        json: bool,
    },

    /// Inspect the project's variants.
    #[command(subcommand)]
    Variant(VariantCommand),

    /// Low-level image steps, runnable on their own.
    #[command(subcommand)]
    Image(ImageCommand),

    /// Build or inspect the SDK container image that package builds run in.
    #[command(subcommand)]
    Sdk(SdkCommand),

    /// Build RPM packages or whole kits inside the SDK (no network inside builds).
    ///
    /// Every package is cached by a hash of all its inputs (files, external sources, first-party
    /// binaries, dependencies, SDK); a rebuild with nothing changed starts no container and says
    /// why each package that is rebuilt was not cached. Logs go to build/logs/<package>.log.
    #[command(subcommand)]
    Build(BuildCommand),

    /// Signed TUF update repositories (configured in Infra.toml): create, validate, status,
    /// refresh.
    ///
    /// Example: `twoliter repo create --repo default --variant metal-dev`, then
    /// `twoliter repo validate --repo default --validate-targets`.
    #[command(subcommand)]
    Repo(RepoCommand),
    /// Publish images to AWS: AMIs in every region, launch permissions, SSM parameters.
    ///
    /// Runs the `twoliter-publish` binary (the AWS SDK is slow to compile, so it is built on
    /// its own: `cargo install --path twoliter/publish`). `twoliter publish --help` shows its
    /// commands. Example: `twoliter publish ami --variant aws-k8s-1.31 --regions us-west-2`.
    #[command(disable_help_flag = true)]
    Publish {
        /// Arguments for `twoliter-publish` (`ami`, `ssm`, `snapshot`, `--help`).
        #[arg(trailing_var_arg = true, allow_hyphen_values = true, num_args = 0..)]
        args: Vec<std::ffi::OsString>,
    },

    /// Write the JSON Schemas of every manifest kind into `<project>/schemas/`.
    ///
    /// Run it after changing a manifest type; `--check` only reports schemas that are out of date.
    Schemas {
        /// Report stale schemas and exit 1 instead of writing.
        #[arg(long)]
        check: bool,
    },

    /// Print a shell completion script, e.g. `twoliter completions bash > /etc/bash_completion.d/twoliter`.
    Completions {
        /// The shell to complete for.
        shell: clap_complete::Shell,
    },
}

#[derive(Debug, Subcommand)]
pub enum VariantCommand {
    /// List every variant with its architectures, image format and layout.
    List {
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Show one variant with its bases applied and every default filled in.
    Show {
        /// The variant's name, e.g. `aws-k8s-1.31` (its directory under `variants/`).
        variant: String,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum SdkCommand {
    /// Build the development SDK from Debian packages (mmdebstrap from the mirror this machine's
    /// apt uses) and import it into the container engine under a tag derived from its recipe.
    ///
    /// Does nothing when that image already exists. Pins the recipe digest in Twoliter.lock.
    /// Takes a few minutes the first time; the log is build/logs/sdk.log.
    Build {
        #[command(flatten)]
        engine: EngineArgs,
        /// Rebuild even when the image exists.
        #[arg(long)]
        force: bool,
    },
    /// Show the SDK reference, recipe digest and whether the engine has the image.
    Show {
        #[command(flatten)]
        engine: EngineArgs,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
}

/// Choosing the container engine.
#[derive(Debug, clap::Args)]
pub struct EngineArgs {
    /// Container engine: `podman` or `docker` [default: the first that works, podman first].
    #[arg(long, env = "TWOLITER_ENGINE", value_name = "ENGINE")]
    pub engine: Option<twoliter_engine::EngineKind>,
}

#[derive(Debug, Subcommand)]
pub enum BuildCommand {
    /// Build packages and their build dependencies; RPMs land in build/rpms/<arch>/<package>/.
    ///
    /// Example: twoliter build package busybox
    Package {
        /// Package names (directories under kits/<kit>/packages/).
        #[arg(required = true)]
        packages: Vec<String>,
        #[command(flatten)]
        args: BuildArgs,
    },
    /// Build a variant's OS image: its packages (in the SDK, cached), a root tree from their
    /// RPMs, then the disk images and artifacts in build/images/<arch>-<variant>/.
    ///
    /// A second build with nothing changed is a no-op. Missing external sources are listed before
    /// anything is built.
    ///
    /// Example: twoliter build variant metal-dev
    Variant {
        /// The variant's name (its directory under `variants/`).
        variant: String,
        /// Rebuild the image even when nothing changed.
        #[arg(long)]
        force: bool,
        /// Timestamp for every file in the images [default: $SOURCE_DATE_EPOCH, else the commit
        /// time of the project's HEAD].
        #[arg(long, value_name = "SECONDS")]
        source_date_epoch: Option<u64>,
        /// The OS version to build, e.g. the next release for an update repository
        /// [default: release-version in Twoliter.toml]. Packages are shared between versions;
        /// only the image is rebuilt.
        #[arg(long, value_name = "X.Y.Z")]
        release_version: Option<semver::Version>,
        /// Also write the OS disk in this format (e.g. qcow2 for QEMU, vmdk for vSphere)
        /// [default: the variant's image-format].
        #[arg(long, value_enum)]
        image_format: Option<twoliter_image::ImageFormat>,
        #[command(flatten)]
        args: BuildArgs,
    },
    /// Build every package of a kit, then its yum repository (build/kits/<kit>/<arch>/) and its
    /// OCI image archive (build/kits/<kit>/<kit>-<version>-<arch>.oci.tar).
    ///
    /// Example: twoliter build kit core-kit
    Kit {
        /// Kit name (directory under kits/).
        kit: String,
        #[command(flatten)]
        args: BuildArgs,
    },
}

/// Options of package and kit builds.
#[derive(Debug, clap::Args)]
pub struct BuildArgs {
    #[command(flatten)]
    pub engine: EngineArgs,
    /// Packages built at once [default: the number of CPUs].
    #[arg(short, long, value_name = "N")]
    pub jobs: Option<usize>,
    /// Lookaside cache for external files: a directory or http(s) URL in the layout
    /// <file>/<sha512>/<file>; repeat for several. `<project>/lookaside/` is always searched.
    #[arg(
        long,
        value_name = "DIR|URL",
        env = "TWOLITER_LOOKASIDE_CACHE",
        value_delimiter = ','
    )]
    pub lookaside_cache: Vec<String>,
    /// Also download external files from their upstream URLs when the lookaside lacks them.
    #[arg(long)]
    pub fetch_upstream: bool,
    /// The package cache [default: <project>/build/cache].
    #[arg(long, value_name = "DIR", env = "TWOLITER_CACHE_DIR")]
    pub cache_dir: Option<PathBuf>,
    /// Print a JSON report instead of text.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Subcommand)]
pub enum ImageCommand {
    /// Turn a root tree and a boot tree into the Bottlerocket-style OS disk (and data disk).
    ///
    /// Makes the root filesystem (ext4 shrunk to its content, or erofs), its dm-verity hash tree,
    /// the BOOT, PRIVATE and DATA filesystems, writes them into an A/B GPT disk and compresses the
    /// artifacts into `<output-dir>/<version>-<build-id>/`, pointing `<output-dir>/latest` at it.
    ///
    /// Layout, features, format and kernel parameters default to the variant's manifest when the
    /// project defines the variant; the flags below override them.
    ///
    /// Example: twoliter image assemble --variant metal-dev --root build/rootfs --boot build/boot
    Assemble(Box<AssembleArgs>),
}

/// Arguments of `twoliter image assemble`.
#[derive(Debug, clap::Args)]
pub struct AssembleArgs {
    /// Variant name; used in artifact names and to find defaults in the project.
    #[arg(long)]
    pub variant: String,
    /// Directory holding the root filesystem tree.
    #[arg(long, value_name = "DIR")]
    pub root: PathBuf,
    /// Directory holding the BOOT filesystem tree (kernel, boot configuration).
    #[arg(long, value_name = "DIR")]
    pub boot: PathBuf,
    /// Directory with files for the PRIVATE filesystem.
    #[arg(long, value_name = "DIR")]
    pub private: Option<PathBuf>,
    /// Where artifacts go [default: <project>/build/images/<arch>-<variant>].
    #[arg(long, value_name = "DIR")]
    pub output_dir: Option<PathBuf>,
    /// Release version [default: the project's release-version].
    #[arg(long, value_name = "X.Y.Z")]
    pub release_version: Option<semver::Version>,
    /// Build id in artifact names [default: short git commit, `-dirty` if modified, or `local`].
    #[arg(long)]
    pub build_id: Option<String>,
    /// OS disk size in GiB [default: the variant's, else 2].
    #[arg(long, value_name = "GIB")]
    pub os_image_size_gib: Option<u32>,
    /// Data disk size in GiB [default: the variant's, else 1].
    #[arg(long, value_name = "GIB")]
    pub data_image_size_gib: Option<u32>,
    /// Where DATA lives [default: the variant's, else split].
    #[arg(long, value_enum)]
    pub partition_plan: Option<twoliter_project::PartitionPlan>,
    /// One bank of doubled size instead of A/B banks.
    #[arg(long)]
    pub no_in_place_updates: bool,
    /// Root filesystem type [default: erofs if the variant enables erofs-root-partition, else ext4].
    #[arg(long, value_enum)]
    pub root_fs: Option<twoliter_image::RootFs>,
    /// Extra disk format besides the raw image [default: the variant's, else raw].
    #[arg(long, value_enum)]
    pub image_format: Option<twoliter_image::ImageFormat>,
    /// Kernel parameter placed before the generated ones; repeat for several [default: the variant's].
    #[arg(long = "kernel-parameter", value_name = "PARAM")]
    pub kernel_parameters: Vec<String>,
    /// Timestamp for every file in the images [default: $SOURCE_DATE_EPOCH, else the commit time
    /// of the project's HEAD, else 1].
    #[arg(long, value_name = "SECONDS")]
    pub source_date_epoch: Option<u64>,
    /// Print the artifact metadata as JSON instead of the usage table.
    #[arg(long)]
    pub json: bool,
}

impl AssembleArgs {
    /// The flags as overrides of the variant's manifest.
    pub fn overrides(&self) -> twoliter_variant::AssemblyOverrides {
        twoliter_variant::AssemblyOverrides {
            private_dir: self.private.clone(),
            output_dir: self.output_dir.clone(),
            release_version: self.release_version.clone(),
            build_id: self.build_id.clone(),
            os_image_size_gib: self.os_image_size_gib,
            data_image_size_gib: self.data_image_size_gib,
            partition_plan: self.partition_plan,
            no_in_place_updates: self.no_in_place_updates,
            root_fs: self.root_fs,
            image_format: self.image_format,
            kernel_parameters: self.kernel_parameters.clone(),
            source_date_epoch: self.source_date_epoch,
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_command_line_definition_is_consistent() {
        use clap::CommandFactory;
        super::Args::command().debug_assert();
    }
}

/// Which repository and configuration.
#[derive(Debug, clap::Args)]
pub struct RepoArgs {
    /// The repository's name in Infra.toml (`[repo.NAME]`).
    #[arg(long, default_value = "default")]
    pub repo: String,
    /// The Infra.toml file [default: `<project>/Infra.toml`].
    #[arg(long, value_name = "FILE", env = "TWOLITER_INFRA_CONFIG")]
    pub infra_config_path: Option<PathBuf>,
}

/// Where to read a repository from (default: the last one `repo create` wrote).
#[derive(Debug, clap::Args)]
pub struct RepoLocationArgs {
    /// A repository directory holding `metadata/` and `targets/` [default:
    /// `build/repos/<repo>/latest`].
    #[arg(long, value_name = "DIR", conflicts_with_all = ["metadata_url", "targets_url", "published"])]
    pub dir: Option<PathBuf>,
    /// Base URL of the metadata (with --targets-url).
    #[arg(long, requires = "targets_url")]
    pub metadata_url: Option<String>,
    /// Base URL of the targets (with --metadata-url).
    #[arg(long, requires = "metadata_url")]
    pub targets_url: Option<String>,
    /// Use the published location from Infra.toml (`metadata_base_url`, `targets_url`).
    #[arg(long)]
    pub published: bool,
}

#[derive(Debug, Subcommand)]
pub enum RepoCommand {
    /// Create a new signed root role (root.json) for a repository.
    ///
    /// Root keys come from --root-key, else Infra.toml's `root_keys`; signing keys (trusted for
    /// targets, snapshot and timestamp) from --signing-key, else `signing_keys`. A key file that
    /// does not exist yet is generated there (PEM, mode 0600); with no setting at all, keys are
    /// generated as `keys/<repo>-root.pem` and `keys/<repo>-signing.pem` next to Infra.toml.
    /// `kms:<key-id>` (on the command line, or a `kms` setting) uses an AWS KMS RSA key instead;
    /// AWS credentials, region and endpoint come from the standard AWS configuration. Refuses to replace an existing root.json without --force. Prints the sha512 for
    /// `root_role_sha512`.
    ///
    /// Example: `twoliter repo init --repo default --key-type ed25519`
    Init {
        #[command(flatten)]
        repo: RepoArgs,
        /// Where to write root.json [default: Infra.toml's root_role_path].
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
        /// Root keys: PEM files or `kms:<key-id>` (repeatable).
        #[arg(long, value_name = "FILE|kms:KEY")]
        root_key: Vec<PathBuf>,
        /// Signing keys: PEM files or `kms:<key-id>` (repeatable).
        #[arg(long, value_name = "FILE|kms:KEY")]
        signing_key: Vec<PathBuf>,
        /// The type of keys generated for key files that don't exist yet [default: rsa];
        /// existing key files are used as they are.
        #[arg(long, value_enum)]
        key_type: Option<twoliter_repo::KeyType>,
        /// How many root keys must sign root.json [default: root_key_threshold, else 1].
        #[arg(long)]
        threshold: Option<std::num::NonZeroU64>,
        /// How long the root is valid, e.g. "52 weeks", "2y".
        #[arg(long, default_value = "52 weeks", value_parser = twoliter_repo::parse_lifetime)]
        expires: std::time::Duration,
        /// Replace an existing root.json.
        #[arg(long)]
        force: bool,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Add a built variant release and/or files to the repository and sign it.
    ///
    /// When a repository is already published at Infra.toml's `metadata_base_url`, it is loaded
    /// (verified with the trusted root) and extended; otherwise a new one is started. Targets:
    /// the boot/root/hash images, OS and data disk images, migrations and `manifest.json` (the
    /// new update with deployment waves; older updates' max_version raised), plus every file in
    /// the --add-targets directories. Without --variant, `manifest.json` is carried over
    /// unchanged (a new repository gets an empty one). Output:
    /// `build/repos/<repo>/<version>-<build>/` (`targets-<targets version>/` without a variant)
    /// and `latest`.
    ///
    /// Example: `twoliter repo create --repo default --variant metal-dev --release-start-time 2026-12-01T00:00:00Z`
    #[command(
        disable_version_flag = true,
        group(clap::ArgGroup::new("what").required(true).multiple(true).args(["variant", "add_targets"]))
    )]
    Create {
        #[command(flatten)]
        repo: RepoArgs,
        /// The variant to publish (built with `twoliter build variant`); optional with
        /// --add-targets.
        #[arg(long)]
        variant: Option<String>,
        /// The version to publish [default: the latest build].
        #[arg(long, requires = "variant")]
        version: Option<semver::Version>,
        /// Also add every regular file directly in DIR (not recursive; symlinks followed) as a
        /// target named by its file name (repeatable). Two files with one name, or a file named
        /// like a variant image or manifest.json, are refused.
        #[arg(long, value_name = "DIR")]
        add_targets: Vec<PathBuf>,
        /// When the first wave starts counting (RFC 3339) [default: now].
        #[arg(long, value_name = "RFC3339")]
        release_start_time: Option<update_metadata::Timestamp>,
        /// A waves policy TOML ([[waves]] start_after, fleet_percentage) [default: 1h/1%, 4h/5%,
        /// 1d/15%, 2d/40%, 4d/60%, 5d/90%, 6d/100%].
        #[arg(long, value_name = "FILE")]
        wave_policy: Option<PathBuf>,
        /// An expiration policy TOML (snapshot_expiration, targets_expiration,
        /// timestamp_expiration) [default: 2 weeks, 2 weeks, 1 week].
        #[arg(long, value_name = "FILE")]
        expiration_policy: Option<PathBuf>,
        /// Sign with these keys (PEM files or `kms:<key-id>`) instead of Infra.toml's
        /// signing_keys (repeatable).
        #[arg(long, value_name = "FILE|kms:KEY")]
        signing_key: Vec<PathBuf>,
        /// Replace manifest.json's entry when this version is already published (e.g. a rebuild
        /// of a release that hosts have not taken yet) instead of refusing.
        #[arg(long, requires = "variant")]
        replace: bool,
        /// Print a JSON report.
        #[arg(long)]
        json: bool,
    },
    /// Check a repository with the trusted root: signatures, thresholds, versions, expiry.
    ///
    /// Example: `twoliter repo validate --repo default --validate-targets`
    Validate {
        #[command(flatten)]
        repo: RepoArgs,
        #[command(flatten)]
        location: RepoLocationArgs,
        /// Also read every target and check its length and sha256.
        #[arg(long)]
        validate_targets: bool,
        /// Print a JSON report.
        #[arg(long)]
        json: bool,
    },
    /// Show each role's version, expiry, keys, threshold and signatures. Exits 1 when a role has
    /// expired (clients refuse the repository), so it can serve as a monitoring check.
    ///
    /// Example: `twoliter repo status --repo default --published --warn-days 3`
    Status {
        #[command(flatten)]
        repo: RepoArgs,
        #[command(flatten)]
        location: RepoLocationArgs,
        /// Warn about roles expiring within this many days (timestamps live a week by default:
        /// refresh at least every few days).
        #[arg(long, default_value_t = 3)]
        warn_days: u32,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Re-sign targets, snapshot and timestamp with new versions and expirations, without
    /// touching targets. Writes `build/repos/<repo>/refresh-<time>/metadata/` to upload.
    ///
    /// Example: `twoliter repo refresh --repo default --published`
    Refresh {
        #[command(flatten)]
        repo: RepoArgs,
        #[command(flatten)]
        location: RepoLocationArgs,
        /// An expiration policy TOML [default: 2 weeks, 2 weeks, 1 week].
        #[arg(long, value_name = "FILE")]
        expiration_policy: Option<PathBuf>,
        /// Sign with these keys (PEM files or `kms:<key-id>`) instead of Infra.toml's
        /// signing_keys (repeatable).
        #[arg(long, value_name = "FILE|kms:KEY")]
        signing_key: Vec<PathBuf>,
        /// Load the repository even when its metadata has already expired.
        #[arg(long)]
        unsafe_refresh: bool,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
}
