//! `twoliter publish ...` runs `twoliter-publish`, git-style, passing the global options on.

use std::os::unix::fs::PermissionsExt;
use std::process::Command;

/// A directory for a twoliter of its own, beside the built one (so it can be hard-linked: a
/// copy being written while another test forks fails with "text file busy").
fn dir() -> tempfile::TempDir {
    let built = std::path::Path::new(env!("CARGO_BIN_EXE_twoliter"));
    tempfile::tempdir_in(built.parent().unwrap()).unwrap()
}

/// twoliter hard-linked into `dir`, with PATH holding nothing else.
fn isolated_twoliter(dir: &std::path::Path) -> Command {
    let twoliter = dir.join("twoliter");
    std::fs::hard_link(env!("CARGO_BIN_EXE_twoliter"), &twoliter).unwrap();
    let mut command = Command::new(twoliter);
    command.env("PATH", dir.join("empty"));
    command
}

#[test]
fn publish_runs_the_binary_beside_twoliter_with_the_global_options() {
    let dir = dir();
    let stand_in = dir.path().join("twoliter-publish");
    std::fs::write(&stand_in, "#!/bin/sh\nprintf '%s\\n' \"$@\"\nexit 7\n").unwrap();
    std::fs::set_permissions(&stand_in, std::fs::Permissions::from_mode(0o755)).unwrap();
    let output = isolated_twoliter(dir.path())
        .args(["--arch", "aarch64", "publish", "ami", "--grant", "--help"])
        .output()
        .unwrap();
    assert_eq!(
        output.status.code(),
        Some(7),
        "the binary's exit code passes through"
    );
    let args = String::from_utf8(output.stdout).unwrap();
    assert_eq!(args, "--arch\naarch64\nami\n--grant\n--help\n");
}

#[test]
fn publish_without_the_binary_says_how_to_get_it() {
    let dir = dir();
    let output = isolated_twoliter(dir.path())
        .args(["publish", "ami"])
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert!(
        stderr.contains("twoliter-publish")
            && stderr.contains("cargo install --path twoliter/publish"),
        "{stderr}"
    );
}
