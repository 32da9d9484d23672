//! The stage's input contract on a bank's BOOT filesystem, version 1.
//!
//! The boot stage is written once into EFI-SYSTEM at build time and never A/B-updated, so a stage
//! built today must boot banks written by every later twoliter: this contract only grows by new
//! versions, each in a new file that newer stages look for first. Version 1 is the GRUB
//! configuration twoliter writes today, read as follows:
//!
//! * The file is `/grub/grub.cfg` ([`CONFIG_PATH_V1`]) on the bank's BOOT filesystem (ext4),
//!   UTF-8.
//! * Blank lines and lines starting with `#` are ignored, as are `set NAME=VALUE` lines (GRUB's
//!   `default` and `timeout`), a `menuentry ... {` line and a lone `}`.
//! * Exactly one `linux PATH ARGS...` line. `PATH` is the kernel (an EFI-stub bzImage or
//!   `Image`): an absolute path on the same filesystem, optionally prefixed with GRUB's `($root)`,
//!   e.g. `($root)/vmlinuz` or `/vmlinuz`. `ARGS` is the rest of the line, passed to the kernel
//!   byte for byte except for the variable below (quotes included: the kernel parses them).
//! * `$boot_uuid` (or `${boot_uuid}`) in `ARGS` is replaced by the unique GUID of the BOOT
//!   partition that was chosen, lower-case and hyphenated as Linux prints a `PARTUUID`; the
//!   verity devices are then found relative to it (`PARTUUID=<boot>/PARTNROFF=1`). No other
//!   variable is defined: any other `$` is an error, as is any other GRUB command (an `initrd`
//!   line, say, would be silently lost otherwise).
//!
//! Anything outside this contract is rejected with a [`ConfigError`] naming the line, and the stage
//! falls back to the other bank.

use alloc::string::{String, ToString};
use alloc::vec::Vec;
use core::fmt;

use gptprio::Uuid;

/// Version of the input contract this module reads.
pub const CONTRACT_VERSION: u32 = 1;

/// Where version 1 of the contract lives on the BOOT filesystem.
pub const CONFIG_PATH_V1: &str = "/grub/grub.cfg";

/// The variable that stands for the chosen BOOT partition's PARTUUID.
pub const BOOT_UUID_VAR: &str = "boot_uuid";

/// What the stage boots from one bank: the kernel's path and its command line template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BootEntry {
    /// Absolute path of the kernel on the BOOT filesystem (`/vmlinuz`).
    pub kernel: String,
    /// The kernel command line as written, with `$boot_uuid` still in it.
    pub cmdline_template: String,
}

/// Why a BOOT filesystem's configuration is outside the contract.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConfigError {
    /// The file has no `linux` line.
    NoKernelLine,
    /// A second `linux` line (1-based line number).
    SecondKernelLine {
        /// The line of the second one.
        line: usize,
    },
    /// A `linux` line without a kernel path.
    NoKernelPath {
        /// The line.
        line: usize,
    },
    /// The kernel path is not absolute (after an optional `($root)`).
    RelativeKernelPath {
        /// The line.
        line: usize,
        /// The path found.
        path: String,
    },
    /// A GRUB command the contract does not define.
    UnknownCommand {
        /// The line.
        line: usize,
        /// The command word.
        command: String,
    },
    /// A `$` that is not `$boot_uuid` in the command line.
    UnknownVariable {
        /// The line.
        line: usize,
        /// The text from the `$` on (at most 32 bytes).
        at: String,
    },
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConfigError::NoKernelLine => write!(f, "{CONFIG_PATH_V1} has no `linux` line"),
            ConfigError::SecondKernelLine { line } => write!(
                f,
                "{CONFIG_PATH_V1} line {line}: a second `linux` line (contract v{CONTRACT_VERSION} \
                 allows one)"
            ),
            ConfigError::NoKernelPath { line } => {
                write!(
                    f,
                    "{CONFIG_PATH_V1} line {line}: `linux` without a kernel path"
                )
            }
            ConfigError::RelativeKernelPath { line, path } => write!(
                f,
                "{CONFIG_PATH_V1} line {line}: kernel path `{path}` is not absolute"
            ),
            ConfigError::UnknownCommand { line, command } => write!(
                f,
                "{CONFIG_PATH_V1} line {line}: `{command}` is not part of boot-stage contract \
                 v{CONTRACT_VERSION} (only set, menuentry and linux are)"
            ),
            ConfigError::UnknownVariable { line, at } => write!(
                f,
                "{CONFIG_PATH_V1} line {line}: unknown variable at `{at}` (only ${BOOT_UUID_VAR} \
                 is defined)"
            ),
        }
    }
}

impl core::error::Error for ConfigError {}

/// Parses version 1 of the contract (see the module documentation).
pub fn parse_v1(text: &str) -> Result<BootEntry, ConfigError> {
    let mut entry = None;
    for (index, raw) in text.lines().enumerate() {
        let line = index + 1;
        let trimmed = raw.trim();
        if trimmed.is_empty() || trimmed.starts_with('#') || trimmed == "}" {
            continue;
        }
        let (command, rest) = match trimmed.split_once(|c: char| c.is_ascii_whitespace()) {
            Some((c, r)) => (c, r.trim_start()),
            None => (trimmed, ""),
        };
        match command {
            "set" => continue,
            "menuentry" if trimmed.ends_with('{') => continue,
            "linux" => {
                if entry.is_some() {
                    return Err(ConfigError::SecondKernelLine { line });
                }
                let (path, args) = match rest.split_once(|c: char| c.is_ascii_whitespace()) {
                    Some((p, a)) => (p, a.trim()),
                    None => (rest, ""),
                };
                if path.is_empty() {
                    return Err(ConfigError::NoKernelPath { line });
                }
                let kernel = path.strip_prefix("($root)").unwrap_or(path);
                if !kernel.starts_with('/') {
                    return Err(ConfigError::RelativeKernelPath {
                        line,
                        path: path.to_string(),
                    });
                }
                check_variables(args, line)?;
                entry = Some(BootEntry {
                    kernel: kernel.to_string(),
                    cmdline_template: args.to_string(),
                });
            }
            other => {
                return Err(ConfigError::UnknownCommand {
                    line,
                    command: other.to_string(),
                })
            }
        }
    }
    entry.ok_or(ConfigError::NoKernelLine)
}

/// The forms of the variable, longest first.
const VAR_FORMS: [&str; 2] = ["${boot_uuid}", "$boot_uuid"];

fn check_variables(args: &str, line: usize) -> Result<(), ConfigError> {
    let mut rest = args;
    while let Some(at) = rest.find('$') {
        let tail = &rest[at..];
        let Some(form) = VAR_FORMS.iter().find(|f| tail.starts_with(**f)) else {
            let end = tail.char_indices().nth(32).map_or(tail.len(), |(i, _)| i);
            return Err(ConfigError::UnknownVariable {
                line,
                at: tail[..end].to_string(),
            });
        };
        // `$boot_uuidX` would be GRUB's variable `boot_uuidX`, not ours.
        let after = &tail[form.len()..];
        if *form == "$boot_uuid"
            && after
                .chars()
                .next()
                .is_some_and(|c| c.is_ascii_alphanumeric() || c == '_')
        {
            let end = tail.char_indices().nth(32).map_or(tail.len(), |(i, _)| i);
            return Err(ConfigError::UnknownVariable {
                line,
                at: tail[..end].to_string(),
            });
        }
        rest = after;
    }
    Ok(())
}

impl BootEntry {
    /// The command line for the BOOT partition whose unique GUID is `boot_partuuid`: every
    /// `$boot_uuid` replaced by the GUID in lower case (`e02e2be6-aa05-8886-afa0-362b02f5ce0a`).
    pub fn cmdline(&self, boot_partuuid: Uuid) -> String {
        let mut buf = [0u8; 36];
        let uuid = boot_partuuid.hyphenated().encode_lower(&mut buf);
        let mut out = String::with_capacity(self.cmdline_template.len() + 64);
        let mut rest = self.cmdline_template.as_str();
        while let Some(at) = rest.find('$') {
            out.push_str(&rest[..at]);
            let tail = &rest[at..];
            match VAR_FORMS.iter().find(|f| tail.starts_with(**f)) {
                Some(form) => {
                    out.push_str(uuid);
                    rest = &tail[form.len()..];
                }
                // parse_v1 admits no other `$`; keep it verbatim if a caller built the entry.
                None => {
                    out.push('$');
                    rest = &tail[1..];
                }
            }
        }
        out.push_str(rest);
        out
    }
}

/// `cmdline` as UEFI load options: UCS-2/UTF-16 code units with a terminating NUL, as the Linux
/// EFI stub reads them.
pub fn load_options(cmdline: &str) -> Vec<u16> {
    cmdline.encode_utf16().chain(core::iter::once(0)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What twoliter's `grub_config` writes today (twoliter/image/src/assemble.rs).
    const TWOLITER_GRUB_CFG: &str = "# Written by twoliter. The boot stage sets $boot_uuid to the PARTUUID of the BOOT\n\
        # partition it chose, so this command line serves either bank.\n\
        set default=\"0\"\n\
        set timeout=\"0\"\n\
        menuentry \"metal-dev x86_64 0.1.0-58e076a3\" {\n    \
        linux ($root)/vmlinuz console=ttyS0 root=/dev/dm-0 rootwait ro dm-mod.create=\"root,,,ro,0 77824 verity 1 PARTUUID=$boot_uuid/PARTNROFF=1 PARTUUID=$boot_uuid/PARTNROFF=2 4096 4096 9728 1 sha256 ab60 ba3c 2 restart_on_corruption ignore_zero_blocks\"\n\
        }\n";

    const BOOT_A: Uuid = Uuid::from_u128(0xE02E2BE6_AA05_8886_AFA0_362B02F5CE0A);

    #[test]
    fn reads_what_twoliter_writes() {
        let entry = parse_v1(TWOLITER_GRUB_CFG).unwrap();
        assert_eq!(entry.kernel, "/vmlinuz");
        assert!(entry
            .cmdline_template
            .starts_with("console=ttyS0 root=/dev/dm-0"));
        assert_eq!(
            entry.cmdline(BOOT_A),
            "console=ttyS0 root=/dev/dm-0 rootwait ro dm-mod.create=\"root,,,ro,0 77824 verity 1 \
             PARTUUID=e02e2be6-aa05-8886-afa0-362b02f5ce0a/PARTNROFF=1 \
             PARTUUID=e02e2be6-aa05-8886-afa0-362b02f5ce0a/PARTNROFF=2 4096 4096 9728 1 sha256 \
             ab60 ba3c 2 restart_on_corruption ignore_zero_blocks\""
        );
    }

    #[test]
    fn plain_path_and_braced_variable() {
        let entry = parse_v1("linux /boot/vmlinuz root=PARTUUID=${boot_uuid}\n").unwrap();
        assert_eq!(entry.kernel, "/boot/vmlinuz");
        assert_eq!(
            entry.cmdline(BOOT_A),
            "root=PARTUUID=e02e2be6-aa05-8886-afa0-362b02f5ce0a"
        );
        let entry = parse_v1("linux /vmlinuz").unwrap();
        assert_eq!(entry.cmdline_template, "");
    }

    #[test]
    fn rejects_what_the_contract_does_not_define() {
        assert_eq!(parse_v1("# empty\n"), Err(ConfigError::NoKernelLine));
        assert_eq!(parse_v1(""), Err(ConfigError::NoKernelLine));
        assert_eq!(
            parse_v1("linux /a\nlinux /b\n"),
            Err(ConfigError::SecondKernelLine { line: 2 })
        );
        assert_eq!(
            parse_v1("linux\n"),
            Err(ConfigError::NoKernelPath { line: 1 })
        );
        assert_eq!(
            parse_v1("linux vmlinuz ro\n"),
            Err(ConfigError::RelativeKernelPath {
                line: 1,
                path: "vmlinuz".into()
            })
        );
        let err = parse_v1("linux /vmlinuz ro\ninitrd /initrd.img\n").unwrap_err();
        assert_eq!(
            err,
            ConfigError::UnknownCommand {
                line: 2,
                command: "initrd".into()
            }
        );
        assert!(
            err.to_string().contains("line 2: `initrd` is not part"),
            "{err}"
        );
        assert!(matches!(
            parse_v1("linux /vmlinuz root=$root\n"),
            Err(ConfigError::UnknownVariable { line: 1, .. })
        ));
        assert!(matches!(
            parse_v1("linux /vmlinuz x=$boot_uuid2\n"),
            Err(ConfigError::UnknownVariable { line: 1, .. })
        ));
        // A menuentry without its brace is not the shape twoliter writes.
        assert!(matches!(
            parse_v1("menuentry \"x\"\nlinux /vmlinuz\n"),
            Err(ConfigError::UnknownCommand { line: 1, .. })
        ));
    }

    #[test]
    fn load_options_are_nul_terminated_utf16() {
        assert_eq!(load_options("ro"), [b'r' as u16, b'o' as u16, 0]);
        assert_eq!(load_options(""), [0]);
        assert_eq!(load_options("→"), [0x2192, 0]);
    }
}
