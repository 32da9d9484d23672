//! `twoliter repo init|create|validate|status|refresh` through the real binary.

use std::path::Path;
use std::process::{Command, Output};

fn twoliter(project: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_twoliter"))
        .arg("--project-path")
        .arg(project)
        .args(["--arch", "x86_64"])
        .args(args)
        .output()
        .unwrap()
}

fn ok(project: &Path, args: &[&str]) -> String {
    let out = twoliter(project, args);
    assert!(
        out.status.success(),
        "twoliter {args:?} failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn fails(project: &Path, args: &[&str]) -> String {
    let out = twoliter(project, args);
    assert!(!out.status.success(), "twoliter {args:?} succeeded");
    String::from_utf8(out.stderr).unwrap()
}

fn fake_build(project: &Path, version: &str) {
    let release = format!("{version}-0123abcd");
    let dir = project.join("build/images/x86_64-metal-dev").join(&release);
    std::fs::create_dir_all(&dir).unwrap();
    let stem = format!("bottlerocket-metal-dev-x86_64-{release}");
    std::fs::write(
        dir.join(format!("{stem}.json")),
        format!(r#"{{"variant":"metal-dev","arch":"x86_64","version":"{version}","build-id":"0123abcd"}}"#),
    )
    .unwrap();
    for suffix in [
        "-boot.ext4.lz4",
        "-root.ext4.lz4",
        "-root.verity.lz4",
        ".img.lz4",
    ] {
        std::fs::write(
            dir.join(format!("{stem}{suffix}")),
            format!("{version}{suffix}"),
        )
        .unwrap();
    }
    let latest = project.join("build/images/x86_64-metal-dev/latest");
    let _ = std::fs::remove_file(&latest);
    std::os::unix::fs::symlink(&release, latest).unwrap();
}

#[test]
fn repo_lifecycle() {
    let tmp = tempfile::tempdir().unwrap();
    let project = tmp.path();
    std::fs::write(
        project.join("Twoliter.toml"),
        "schema-version = 1\nrelease-version = \"0.1.0\"\n",
    )
    .unwrap();
    let published = project.join("published");
    std::fs::write(
        project.join("Infra.toml"),
        format!(
            "[repo.default]\nroot_role_path = \"roles/root.json\"\n\
             signing_keys = {{ file = {{ path = \"keys/signing.pem\" }} }}\n\
             root_keys = {{ file = {{ path = \"keys/root.pem\" }} }}\n\
             metadata_base_url = \"file://{0}/metadata\"\ntargets_url = \"file://{0}/targets\"\n",
            published.display()
        ),
    )
    .unwrap();

    let out = ok(project, &["repo", "init", "--key-type", "ed25519"]);
    assert!(
        out.contains("generated key") && out.contains("root_role_sha512"),
        "{out}"
    );
    assert!(project.join("keys/root.pem").exists() && project.join("roles/root.json").exists());
    let err = fails(project, &["repo", "init"]);
    assert!(err.contains("--force"), "{err}");

    fake_build(project, "0.1.0");
    let out = ok(
        project,
        &["repo", "create", "--variant", "metal-dev", "--json"],
    );
    let report: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(report["extended"], false);
    assert_eq!(report["total_targets"], 5);
    // "Publish" it, then extend it with 0.2.0.
    std::os::unix::fs::symlink(report["dir"].as_str().unwrap(), &published).unwrap();
    fake_build(project, "0.2.0");
    let out = ok(
        project,
        &["repo", "create", "--variant", "metal-dev", "--json"],
    );
    let report: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(report["extended"], true);
    assert_eq!(report["total_targets"], 9);

    let out = ok(
        project,
        &["repo", "validate", "--validate-targets", "--json"],
    );
    let validated: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(validated["targets_verified"], 9);
    let out = ok(project, &["repo", "status", "--published"]);
    assert!(out.contains("timestamp") && out.contains("1/1"), "{out}");
    let out = ok(project, &["repo", "refresh", "--published", "--json"]);
    let refreshed: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert!(refreshed["versions"]["timestamp"].as_u64().unwrap() > 1);

    // A changed target is caught.
    let dir = Path::new(report["dir"].as_str().unwrap());
    let boot = std::fs::read_dir(dir.join("targets"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| {
            p.to_string_lossy()
                .ends_with("0.2.0-0123abcd-boot.ext4.lz4")
        })
        .unwrap();
    std::fs::remove_file(&boot).unwrap();
    std::fs::write(&boot, "tampered").unwrap();
    let err = fails(project, &["repo", "validate", "--validate-targets"]);
    assert!(
        err.contains("boot.ext4.lz4") && err.contains("changed since it was signed"),
        "{err}"
    );

    // Unknown Infra.toml keys are reported with the line.
    std::fs::write(
        project.join("Infra.toml"),
        "[repo.default]\nsigning_key = 1\n",
    )
    .unwrap();
    let err = fails(project, &["repo", "status"]);
    assert!(err.contains("Infra.toml:2"), "{err}");
}
