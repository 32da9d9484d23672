//! `twoliter publish ...` runs the `twoliter-publish` binary, git-style: the AWS SDK it needs is
//! slow to compile, so it stays out of the `twoliter` binary that builds images.

use anyhow::{bail, Result};
use std::ffi::OsString;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use twoliter_project::Arch;

const BINARY: &str = "twoliter-publish";

/// Replaces this process with `twoliter-publish`, passing the global options on.
pub fn run(
    project_path: Option<&Path>,
    arch: Option<Arch>,
    args: Vec<OsString>,
) -> Result<ExitCode> {
    let Some(program) = find() else {
        bail!(
            "`twoliter publish` needs the {BINARY} binary beside twoliter or on PATH; build it with `cargo install --path twoliter/publish` (or `cargo build -p twoliter-publish`)"
        );
    };
    let mut command = std::process::Command::new(&program);
    if let Some(path) = project_path {
        command.arg("--project-path").arg(path);
    }
    if let Some(arch) = arch {
        command.arg("--arch").arg(arch.name());
    }
    let error = command.args(args).exec();
    bail!("cannot run {}: {error}", program.display())
}

/// `twoliter-publish` beside the running `twoliter`, else on PATH.
fn find() -> Option<PathBuf> {
    let beside = std::env::current_exe()
        .ok()
        .and_then(|exe| exe.parent().map(|dir| dir.join(BINARY)))
        .filter(|p| p.is_file());
    beside.or_else(|| {
        std::env::var_os("PATH").and_then(|paths| {
            std::env::split_paths(&paths)
                .map(|dir| dir.join(BINARY))
                .find(|p| p.is_file())
        })
    })
}
