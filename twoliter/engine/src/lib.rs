//! Container engines: podman or docker, found and configured for this machine.
//!
//! Every package build and every tool twoliter does not implement itself runs in the SDK image
//! through an [`Engine`]: no network, inputs mounted read-only and one writable output directory.
//! [`Engine::detect`] picks a working engine (or the one the caller chose) and works around
//! machine quirks itself, e.g. podman with runc needs explicit rlimits on these hosts. Code that
//! only runs containers takes a [`ContainerRunner`], so it can be tested with a fake; tools
//! twoliter does not implement itself run through a [`ToolRunner`] ([`tool`]).

pub mod tool;

pub use tool::{package_for, ExecError, HostRunner, ToolCommand, ToolOutput, ToolRunner};

use std::ffi::OsString;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

/// Open-file and process limits passed explicitly to every podman container (podman with runc
/// fails with "error setting rlimits" when it has to raise them itself).
const CONTAINER_ULIMIT: u64 = 4096;

/// Errors from container engines.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The user asked for an engine we do not know.
    #[error("unknown container engine `{0}`; use `podman` or `docker`")]
    UnknownEngine(String),
    /// No engine works on this machine.
    #[error("no working container engine: {tried}\nhelp: install podman (`apt-get install podman runc`) or start a docker daemon; choose one with `--engine`")]
    NoEngine {
        /// What was tried and why each failed.
        tried: String,
    },
    /// The engine could not be started.
    #[error("could not run `{program}`")]
    Spawn {
        /// The engine program.
        program: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// An engine command failed.
    #[error("`{command}` failed: {message}")]
    Command {
        /// The command line.
        command: String,
        /// What it printed.
        message: String,
    },
    /// A container ran but its command failed.
    #[error("container command exited with {status}; see {log}")]
    ContainerFailed {
        /// Exit status.
        status: String,
        /// The log holding its output.
        log: String,
    },
    /// The log file could not be opened.
    #[error("could not open log {path}")]
    Log {
        /// The log.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
}

/// Which engine program.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EngineKind {
    /// podman (daemonless; rootful or rootless).
    Podman,
    /// docker (needs a running daemon).
    Docker,
}

impl EngineKind {
    /// The program name.
    pub fn program(self) -> &'static str {
        match self {
            EngineKind::Podman => "podman",
            EngineKind::Docker => "docker",
        }
    }
}

impl std::str::FromStr for EngineKind {
    type Err = Error;

    fn from_str(name: &str) -> Result<Self, Error> {
        match name {
            "podman" => Ok(EngineKind::Podman),
            "docker" => Ok(EngineKind::Docker),
            other => Err(Error::UnknownEngine(other.to_string())),
        }
    }
}

impl std::fmt::Display for EngineKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.program())
    }
}

/// Runs containers: what package and kit builds need of an engine.
pub trait ContainerRunner: Sync {
    /// Runs `spec` to completion, its output appended to `log`.
    fn run(&self, spec: &RunSpec, log: &Path) -> Result<(), Error>;
}

impl ContainerRunner for Engine {
    fn run(&self, spec: &RunSpec, log: &Path) -> Result<(), Error> {
        Engine::run(self, spec, log)
    }
}

/// A bind mount into a container.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mount {
    /// Host path.
    pub source: PathBuf,
    /// Path inside the container.
    pub target: String,
    /// Writable? (inputs are read-only; one output directory is writable).
    pub writable: bool,
}

impl Mount {
    /// A read-only input mount.
    pub fn input(source: impl Into<PathBuf>, target: impl Into<String>) -> Self {
        Self {
            source: source.into(),
            target: target.into(),
            writable: false,
        }
    }

    /// A writable output mount.
    pub fn output(source: impl Into<PathBuf>, target: impl Into<String>) -> Self {
        Self {
            source: source.into(),
            target: target.into(),
            writable: true,
        }
    }
}

/// One container run: always `--rm`, `--network=none` and `--pull=never` (the image must be
/// local; a build never reaches a registry).
#[derive(Debug, Clone, Default)]
pub struct RunSpec {
    /// Image reference.
    pub image: String,
    /// Bind mounts.
    pub mounts: Vec<Mount>,
    /// Environment variables.
    pub env: Vec<(String, String)>,
    /// Working directory inside the container.
    pub workdir: Option<String>,
    /// The command and its arguments.
    pub command: Vec<String>,
}

/// A container engine ready to use.
#[derive(Debug, Clone)]
pub struct Engine {
    kind: EngineKind,
    /// Arguments every `run` gets (runtime choice, rlimits, user mapping).
    run_args: Vec<String>,
}

impl Engine {
    /// Finds a working engine: `choice` when given, else podman, then docker (whose daemon
    /// must answer).
    pub fn detect(choice: Option<EngineKind>) -> Result<Self, Error> {
        let wanted: Vec<EngineKind> = match choice {
            Some(kind) => vec![kind],
            None => vec![EngineKind::Podman, EngineKind::Docker],
        };
        let mut tried = Vec::new();
        for kind in wanted {
            match probe(kind) {
                Ok(engine) => return Ok(engine),
                Err(why) => tried.push(format!("{}: {why}", kind.program())),
            }
        }
        Err(Error::NoEngine {
            tried: tried.join("; "),
        })
    }

    /// Which engine this is.
    pub fn kind(&self) -> EngineKind {
        self.kind
    }

    /// The content digest of `reference`: its layers' digests (`sha256:...`, joined by `,`),
    /// which depend only on the files, unlike the image ID, which also covers the creation
    /// time. `None` when the engine does not have the image.
    pub fn image_digest(&self, reference: &str) -> Result<Option<String>, Error> {
        let output = self.output(&[
            "image",
            "inspect",
            "--format",
            "{{json .RootFS.Layers}}",
            reference,
        ])?;
        if !output.status.success() {
            return Ok(None);
        }
        let layers: Vec<String> =
            serde_json::from_slice(&output.stdout).map_err(|e| Error::Command {
                command: format!("{} image inspect {reference}", self.kind.program()),
                message: format!("unexpected output: {e}"),
            })?;
        Ok(Some(layers.join(",")))
    }

    /// Imports a root filesystem tarball as image `reference`; returns its content digest.
    pub fn import(&self, tarball: &Path, reference: &str) -> Result<String, Error> {
        let tarball = tarball.display().to_string();
        let output = self.output(&[
            "import",
            "--change",
            "ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
            &tarball,
            reference,
        ])?;
        self.check("import", &output)?;
        self.image_digest(reference)?.ok_or_else(|| Error::Command {
            command: format!("{} import {tarball} {reference}", self.kind.program()),
            message: "the image is missing right after the import".into(),
        })
    }

    /// Runs a container with no network, its output appended to `log`.
    pub fn run(&self, spec: &RunSpec, log: &Path) -> Result<(), Error> {
        let file = File::options()
            .create(true)
            .append(true)
            .open(log)
            .map_err(|source| Error::Log {
                path: log.to_path_buf(),
                source,
            })?;
        let err = file.try_clone().map_err(|source| Error::Log {
            path: log.to_path_buf(),
            source,
        })?;
        let args = self.run_args(spec);
        tracing::debug!("{} {}", self.kind.program(), shown(&args));
        let started = Instant::now();
        let status = Command::new(self.kind.program())
            .args(&args)
            .stdin(Stdio::null())
            .stdout(file)
            .stderr(err)
            .status()
            .map_err(|source| Error::Spawn {
                program: self.kind.program().into(),
                source,
            })?;
        tracing::debug!("container finished in {:.1?}: {status}", started.elapsed());
        if status.success() {
            Ok(())
        } else {
            Err(Error::ContainerFailed {
                status: status.to_string(),
                log: log.display().to_string(),
            })
        }
    }

    /// The full argument list of `run` for `spec`.
    pub fn run_args(&self, spec: &RunSpec) -> Vec<OsString> {
        let mut args: Vec<OsString> = ["run", "--rm", "--network=none", "--pull=never"]
            .into_iter()
            .map(OsString::from)
            .collect();
        args.extend(self.run_args.iter().map(OsString::from));
        for mount in &spec.mounts {
            let mode = if mount.writable { "rw" } else { "ro" };
            let mut value = OsString::from("type=bind,source=");
            value.push(&mount.source);
            value.push(format!(",target={},{mode}", mount.target));
            args.push("--mount".into());
            args.push(value);
        }
        for (key, value) in &spec.env {
            args.push("--env".into());
            args.push(format!("{key}={value}").into());
        }
        if let Some(dir) = &spec.workdir {
            args.push("--workdir".into());
            args.push(dir.into());
        }
        args.push(spec.image.clone().into());
        args.extend(spec.command.iter().map(OsString::from));
        args
    }

    fn output(&self, args: &[&str]) -> Result<std::process::Output, Error> {
        Command::new(self.kind.program())
            .args(args)
            .stdin(Stdio::null())
            .output()
            .map_err(|source| Error::Spawn {
                program: self.kind.program().into(),
                source,
            })
    }

    fn check(&self, what: &str, output: &std::process::Output) -> Result<(), Error> {
        if output.status.success() {
            return Ok(());
        }
        Err(Error::Command {
            command: format!("{} {what}", self.kind.program()),
            message: String::from_utf8_lossy(&output.stderr).trim().to_string(),
        })
    }
}

/// Checks that `kind` answers and works out its run arguments.
fn probe(kind: EngineKind) -> Result<Engine, String> {
    let output = Command::new(kind.program())
        .args(["info", "--format", "json"])
        .stdin(Stdio::null())
        .output()
        .map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => "not installed".to_string(),
            _ => e.to_string(),
        })?;
    if !output.status.success() {
        let message = String::from_utf8_lossy(&output.stderr);
        let first = message.lines().find(|l| !l.trim().is_empty()).unwrap_or("");
        return Err(format!(
            "`{} info` failed: {}",
            kind.program(),
            first.trim()
        ));
    }
    let info: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap_or_default();
    let mut run_args = Vec::new();
    let uid = current_uid();
    match kind {
        EngineKind::Podman => {
            // crun fails on these machines; runc works when the limits are explicit.
            let runtime = info
                .pointer("/host/ociRuntime/name")
                .and_then(|v| v.as_str())
                .unwrap_or("");
            if runtime != "runc" && has_program("runc") {
                run_args.push("--runtime".to_string());
                run_args.push("runc".to_string());
            }
            for limit in ["nofile", "nproc"] {
                run_args.push("--ulimit".to_string());
                run_args.push(format!("{limit}={CONTAINER_ULIMIT}:{CONTAINER_ULIMIT}"));
            }
        }
        EngineKind::Docker => {
            // A rootful daemon would create root-owned files in the output directory.
            if let Some((uid, gid)) = uid.filter(|(uid, _)| *uid != 0) {
                run_args.push("--user".to_string());
                run_args.push(format!("{uid}:{gid}"));
                run_args.push("--env".to_string());
                run_args.push("HOME=/tmp".to_string());
            }
        }
    }
    Ok(Engine { kind, run_args })
}

fn has_program(name: &str) -> bool {
    std::env::var_os("PATH")
        .map(|path| std::env::split_paths(&path).any(|dir| dir.join(name).is_file()))
        .unwrap_or(false)
        || Path::new("/usr/sbin").join(name).is_file()
}

/// The uid and gid of this process, from /proc (no libc dependency).
fn current_uid() -> Option<(u32, u32)> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let field = |name: &str| -> Option<u32> {
        status
            .lines()
            .find(|l| l.starts_with(name))?
            .split_whitespace()
            .nth(1)?
            .parse()
            .ok()
    };
    Some((field("Uid:")?, field("Gid:")?))
}

fn shown(args: &[OsString]) -> String {
    args.iter()
        .map(|a| a.to_string_lossy().into_owned())
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn run_args_are_isolated() {
        let engine = Engine {
            kind: EngineKind::Podman,
            run_args: vec!["--ulimit".into(), "nofile=4096:4096".into()],
        };
        let spec = RunSpec {
            image: "sdk:1".into(),
            mounts: vec![Mount::input("/src", "/in"), Mount::output("/out", "/out")],
            env: vec![("A".into(), "b".into())],
            workdir: Some("/out".into()),
            command: vec!["true".into()],
        };
        let args = shown(&engine.run_args(&spec));
        assert_eq!(
            args,
            "run --rm --network=none --pull=never --ulimit nofile=4096:4096 --mount type=bind,source=/src,target=/in,ro \
             --mount type=bind,source=/out,target=/out,rw --env A=b --workdir /out sdk:1 true"
        );
    }

    #[test]
    fn unknown_engine_is_named() {
        let err = "lxc".parse::<EngineKind>().unwrap_err().to_string();
        assert!(err.contains("`lxc`") && err.contains("podman"), "{err}");
        assert_eq!("docker".parse::<EngineKind>().unwrap(), EngineKind::Docker);
        assert_eq!(EngineKind::Podman.to_string(), "podman");
    }
}
