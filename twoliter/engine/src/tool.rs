//! Running external tools.
//!
//! twoliter implements what it can itself and runs the rest (mkfs.ext4, mkfs.erofs, resize2fs,
//! debugfs, qemu-img, ...) through a [`ToolRunner`]. [`HostRunner`] runs them on this machine;
//! a runner that runs them in the SDK container would implement the same trait.

use std::ffi::{OsStr, OsString};
use std::fmt;
use std::process::Command;

/// One tool invocation: program, arguments and extra environment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ToolCommand {
    /// Program name, looked up on `PATH` (`mkfs.ext4`).
    pub program: String,
    /// Arguments.
    pub args: Vec<OsString>,
    /// Extra environment variables.
    pub env: Vec<(String, String)>,
    /// Text fed to the tool's standard input, if any.
    pub stdin: Option<Vec<u8>>,
}

impl ToolCommand {
    /// A command running `program` with no arguments.
    pub fn new(program: impl Into<String>) -> Self {
        Self {
            program: program.into(),
            args: Vec::new(),
            env: Vec::new(),
            stdin: None,
        }
    }

    /// Adds one argument.
    pub fn arg(mut self, arg: impl AsRef<OsStr>) -> Self {
        self.args.push(arg.as_ref().to_os_string());
        self
    }

    /// Adds several arguments.
    pub fn args<I, S>(mut self, args: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        self.args
            .extend(args.into_iter().map(|a| a.as_ref().to_os_string()));
        self
    }

    /// Sets an environment variable for the tool.
    pub fn env(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.env.push((key.into(), value.into()));
        self
    }

    /// Feeds `input` to the tool's standard input.
    pub fn stdin(mut self, input: impl Into<Vec<u8>>) -> Self {
        self.stdin = Some(input.into());
        self
    }
}

impl fmt::Display for ToolCommand {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.program)?;
        for arg in &self.args {
            write!(f, " {}", arg.to_string_lossy())?;
        }
        Ok(())
    }
}

/// What a tool printed.
#[derive(Debug, Clone, Default)]
pub struct ToolOutput {
    /// Standard output.
    pub stdout: Vec<u8>,
    /// Standard error.
    pub stderr: Vec<u8>,
}

impl ToolOutput {
    /// Standard output as text.
    pub fn stdout_text(&self) -> String {
        String::from_utf8_lossy(&self.stdout).into_owned()
    }
}

/// Why a tool could not do its job.
#[derive(Debug, thiserror::Error)]
pub enum ExecError {
    /// The program is not installed.
    #[error("`{program}` is not installed{}", package.map(|p| format!("; install it with `apt-get install {p}`")).unwrap_or_default())]
    Missing {
        /// The program.
        program: String,
        /// The Debian package that provides it, when known.
        package: Option<&'static str>,
    },
    /// The program could not be started.
    #[error("cannot start `{program}`")]
    Spawn {
        /// The program.
        program: String,
        /// The OS error.
        source: std::io::Error,
    },
    /// The program ran and failed.
    #[error("`{command}` failed ({status}):\n{stderr}")]
    Failed {
        /// The command line.
        command: String,
        /// Exit status.
        status: String,
        /// The last lines of its standard error (and output).
        stderr: String,
    },
}

/// Runs tool commands somewhere: on the host, or in a container.
pub trait ToolRunner: Send + Sync {
    /// Runs `command` to completion; a non-zero exit is an error carrying the tool's messages.
    fn run(&self, command: &ToolCommand) -> Result<ToolOutput, ExecError>;
}

/// Runs tools directly on this machine.
#[derive(Debug, Clone, Copy, Default)]
pub struct HostRunner;

/// The Debian package that provides a tool twoliter uses, for install hints.
pub fn package_for(program: &str) -> Option<&'static str> {
    Some(match program {
        "mkfs.ext4" | "mke2fs" | "resize2fs" | "debugfs" | "dumpe2fs" | "e2fsck" | "fsck.ext4" => {
            "e2fsprogs"
        }
        "mkfs.erofs" | "fsck.erofs" | "dump.erofs" => "erofs-utils",
        "qemu-img" => "qemu-utils",
        "veritysetup" => "cryptsetup-bin",
        "sgdisk" => "gdisk",
        "sfdisk" => "fdisk",
        "lz4" => "lz4",
        "mkfs.fat" | "fsck.fat" => "dosfstools",
        "mmd" | "mcopy" | "minfo" => "mtools",
        _ => return None,
    })
}

impl ToolRunner for HostRunner {
    fn run(&self, command: &ToolCommand) -> Result<ToolOutput, ExecError> {
        use std::io::Write;
        use std::process::Stdio;
        tracing::debug!("running {command}");
        let mut child = Command::new(&command.program)
            .args(&command.args)
            .envs(command.env.iter().map(|(k, v)| (k, v)))
            .stdin(if command.stdin.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|source| {
                if source.kind() == std::io::ErrorKind::NotFound {
                    ExecError::Missing {
                        program: command.program.clone(),
                        package: package_for(&command.program),
                    }
                } else {
                    ExecError::Spawn {
                        program: command.program.clone(),
                        source,
                    }
                }
            })?;
        // Feed standard input from another thread while this one drains the output pipes, so a
        // tool that echoes its input cannot fill a pipe and stall both sides.
        let feeder = match (&command.stdin, child.stdin.take()) {
            (Some(input), Some(mut pipe)) => {
                let input = input.clone();
                // A tool that exits early closes its input; its exit status tells what happened.
                Some(std::thread::spawn(move || {
                    let _ = pipe.write_all(&input);
                }))
            }
            _ => None,
        };
        let output = child
            .wait_with_output()
            .map_err(|source| ExecError::Spawn {
                program: command.program.clone(),
                source,
            })?;
        if let Some(feeder) = feeder {
            let _ = feeder.join();
        }
        if output.status.success() {
            return Ok(ToolOutput {
                stdout: output.stdout,
                stderr: output.stderr,
            });
        }
        let mut text = String::from_utf8_lossy(&output.stderr).into_owned();
        if text.trim().is_empty() {
            text = String::from_utf8_lossy(&output.stdout).into_owned();
        }
        Err(ExecError::Failed {
            command: command.to_string(),
            status: output.status.to_string(),
            stderr: tail(&text, 20),
        })
    }
}

/// The last `lines` lines of `text`.
fn tail(text: &str, lines: usize) -> String {
    let all: Vec<&str> = text.trim_end().lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runs_a_tool_and_captures_output() {
        let out = HostRunner
            .run(
                &ToolCommand::new("sh")
                    .args(["-c", "cat; echo err >&2"])
                    .stdin("hi"),
            )
            .unwrap();
        assert_eq!(out.stdout_text(), "hi");
        assert_eq!(String::from_utf8_lossy(&out.stderr), "err\n");
    }

    #[test]
    fn large_input_echoed_back_does_not_stall() {
        let input = vec![b'x'; 4 << 20];
        let out = HostRunner
            .run(&ToolCommand::new("cat").stdin(input.clone()))
            .unwrap();
        assert_eq!(out.stdout.len(), input.len());
    }

    #[test]
    fn a_failing_tool_reports_its_messages() {
        let error = HostRunner
            .run(&ToolCommand::new("sh").args(["-c", "echo broken thing >&2; exit 3"]))
            .unwrap_err();
        let text = error.to_string();
        assert!(
            text.contains("sh -c") && text.contains("exit status: 3"),
            "{text}"
        );
        assert!(text.contains("broken thing"), "{text}");
    }

    #[test]
    fn a_missing_tool_names_its_package() {
        let error = HostRunner
            .run(&ToolCommand::new("definitely-not-a-tool-xyz"))
            .unwrap_err();
        assert!(matches!(error, ExecError::Missing { .. }), "{error}");
        assert_eq!(package_for("mkfs.erofs"), Some("erofs-utils"));
    }
}
