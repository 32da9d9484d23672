//! `twoliter repo init|create|validate|status|refresh` through the real binary.

use std::path::Path;
use std::process::{Command, Output};

fn twoliter(project: &Path, args: &[&str]) -> Output {
    twoliter_with(project, args, &[])
}

/// Runs twoliter with extra environment variables (for the AWS SDK).
fn twoliter_with(project: &Path, args: &[&str], env: &[(&str, String)]) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_twoliter"));
    command
        .arg("--project-path")
        .arg(project)
        .args(["--arch", "x86_64"])
        .args(args);
    if !env.is_empty() {
        for name in [
            "AWS_PROFILE",
            "AWS_DEFAULT_PROFILE",
            "AWS_DEFAULT_REGION",
            "AWS_SESSION_TOKEN",
            "AWS_ROLE_ARN",
            "AWS_WEB_IDENTITY_TOKEN_FILE",
            "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
            "AWS_CONTAINER_CREDENTIALS_FULL_URI",
        ] {
            command.env_remove(name);
        }
        command.envs(env.iter().map(|(name, value)| (name, value)));
    }
    command.output().unwrap()
}

fn ok(project: &Path, args: &[&str]) -> String {
    ok_with(project, args, &[])
}

fn ok_with(project: &Path, args: &[&str], env: &[(&str, String)]) -> String {
    let out = twoliter_with(project, args, env);
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

/// A unified-plan build of metal-dev `version` in the project, as `twoliter build variant` lays
/// it out; `latest` points at it.
fn fake_build(project: &Path, version: &str) {
    let name = test_support::build::name("metal-dev", "x86_64", version, "0123abcd");
    test_support::build::write_build(
        &project.join("build"),
        &name,
        partitions::PartitionPlan::Unified,
        |kind| format!("{version}{}", kind.file_name(&name)).into_bytes(),
    );
}

/// `twoliter repo create --variant metal-dev --json`, parsed.
fn create_json(project: &Path) -> serde_json::Value {
    let out = ok(
        project,
        &["repo", "create", "--variant", "metal-dev", "--json"],
    );
    serde_json::from_str(&out).unwrap()
}

/// Makes `project` a twoliter project whose Infra.toml has `[repo.<repo>]` with a root at
/// roles/root.json, the given key lines, and `<project>/published` as the published location.
/// Returns that location.
fn project_with_repo(project: &Path, repo: &str, key_lines: &str) -> std::path::PathBuf {
    std::fs::write(
        project.join("Twoliter.toml"),
        "schema-version = 1\nrelease-version = \"0.1.0\"\n",
    )
    .unwrap();
    let published = project.join("published");
    std::fs::write(
        project.join("Infra.toml"),
        format!(
            "[repo.{repo}]\nroot_role_path = \"roles/root.json\"\n{key_lines}\
             metadata_base_url = \"file://{0}/metadata\"\ntargets_url = \"file://{0}/targets\"\n",
            published.display()
        ),
    )
    .unwrap();
    published
}

/// Without the `kms` feature a KMS key is a clear error, not a crash or a silent skip.
#[cfg(not(feature = "kms"))]
#[test]
fn kms_key_without_the_feature_says_how_to_get_it() {
    let dir = tempfile::tempdir().unwrap();
    let project = dir.path();
    project_with_repo(
        project,
        "default",
        "signing_keys = { kms = { key_id = \"targets-key\" } }\n",
    );
    for args in [
        &["repo", "init"][..],
        &["repo", "init", "--signing-key", "kms:targets-key"],
    ] {
        let err = fails(project, args);
        assert!(
            err.contains("KMS key 'targets-key'") && err.contains("--features kms"),
            "{err}"
        );
    }
    assert!(!project.join("roles/root.json").exists());
}

#[test]
fn repo_lifecycle() {
    let tmp = tempfile::tempdir().unwrap();
    let project = tmp.path();
    let published = project_with_repo(
        project,
        "default",
        "signing_keys = { file = { path = \"keys/signing.pem\" } }\n\
         root_keys = { file = { path = \"keys/root.pem\" } }\n",
    );

    let out = ok(project, &["repo", "init", "--key-type", "ed25519"]);
    assert!(
        out.contains("generated key") && out.contains("root_role_sha512"),
        "{out}"
    );
    assert!(project.join("keys/root.pem").exists() && project.join("roles/root.json").exists());
    let err = fails(project, &["repo", "init"]);
    assert!(err.contains("--force"), "{err}");

    fake_build(project, "0.1.0");
    let report = create_json(project);
    assert_eq!(report["extended"], false);
    assert_eq!(report["total_targets"], 5);
    // "Publish" it, then extend it with 0.2.0.
    std::os::unix::fs::symlink(report["dir"].as_str().unwrap(), &published).unwrap();
    fake_build(project, "0.2.0");
    let report = create_json(project);
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

/// The KMS signing path; needs the `kms` feature (`cargo test -p twoliter --features kms --test
/// repo`), which `.ci/run` runs.
#[cfg(feature = "kms")]
mod kms {
    use super::*;
    use test_support::{require_python, script, tuf_oracle, KillOnDrop};

    /// Signing through AWS KMS (tough-kms, the AWS SDK's standard configuration pointed at a
    /// loopback stand-in by AWS_ENDPOINT_URL), with targets from --add-targets and no variant.
    #[test]
    fn kms_signing_key_and_add_targets() {
        require_python(
            "cryptography, tuf.ngclient",
            "cryptography 'tuf>=5,<8' 'securesystemslib[crypto]>=1,<2'",
        );
        let tmp = tempfile::tempdir().unwrap();
        let project = tmp.path();
        let port_file = project.join("kms.port");
        let log = project.join("kms.log");
        let _kms = KillOnDrop(
            Command::new("python3")
                .arg(script("repo-e2e/kms_standin.py"))
                .arg("--port-file")
                .arg(&port_file)
                .arg("--key-dir")
                .arg(project.join("kms-keys"))
                .args(["--key", "targets-key", "--log"])
                .arg(&log)
                .env("AWS_REGION", "us-west-2")
                .spawn()
                .unwrap(),
        );
        let mut port = None;
        for _ in 0..600 {
            if let Some(p) = std::fs::read_to_string(&port_file)
                .ok()
                .and_then(|t| t.trim().parse::<u16>().ok())
            {
                port = Some(p);
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        let port = port.expect("the KMS stand-in did not start");
        let env = [
            ("AWS_ENDPOINT_URL", format!("http://127.0.0.1:{port}")),
            ("AWS_REGION", "us-west-2".to_string()),
            ("AWS_ACCESS_KEY_ID", "testing".to_string()),
            ("AWS_SECRET_ACCESS_KEY", "testing".to_string()),
            ("AWS_EC2_METADATA_DISABLED", "true".to_string()),
            (
                "AWS_CONFIG_FILE",
                project.join("no-aws-config").display().to_string(),
            ),
            (
                "AWS_SHARED_CREDENTIALS_FILE",
                project.join("no-aws-credentials").display().to_string(),
            ),
        ];

        project_with_repo(
            project,
            "bench",
            "root_keys = { file = { path = \"keys/root.pem\" } }\n\
             signing_keys = { kms = { key_id = \"targets-key\" } }\n",
        );
        // The root trusts the KMS key for targets, snapshot and timestamp.
        let out = ok_with(
            project,
            &[
                "repo",
                "init",
                "--repo",
                "bench",
                "--key-type",
                "ed25519",
                "--json",
            ],
            &env,
        );
        let init: serde_json::Value = serde_json::from_str(&out).unwrap();
        assert_eq!(init["signing_keys"].as_array().unwrap().len(), 1);
        assert!(project.join("keys/root.pem").exists());
        // `kms:` on the command line names the same key.
        let other_root = project.join("roles/other-root.json").display().to_string();
        let root_key = project.join("keys/root.pem").display().to_string();
        let out = ok_with(
            project,
            &[
                "repo",
                "init",
                "--repo",
                "bench",
                "--json",
                "--out",
                &other_root,
                "--root-key",
                &root_key,
                "--signing-key",
                "kms:targets-key",
            ],
            &env,
        );
        let other: serde_json::Value = serde_json::from_str(&out).unwrap();
        assert_eq!(other["signing_keys"], init["signing_keys"]);
        let err = fails(
            project,
            &[
                "repo",
                "init",
                "--repo",
                "bench",
                "--force",
                "--signing-key",
                "kms:",
            ],
        );
        assert!(err.contains("no KMS key id"), "{err}");

        let targets = project.join("targets-in");
        std::fs::create_dir_all(&targets).unwrap();
        for i in 0..5 {
            std::fs::write(targets.join(format!("t{i}.bin")), format!("target {i}")).unwrap();
        }
        let targets_arg = targets.display().to_string();
        let out = ok_with(
            project,
            &[
                "repo",
                "create",
                "--repo",
                "bench",
                "--add-targets",
                &targets_arg,
                "--json",
            ],
            &env,
        );
        let report: serde_json::Value = serde_json::from_str(&out).unwrap();
        assert_eq!(report["total_targets"], 6, "{report}");
        assert_eq!(report["version"], serde_json::Value::Null);
        let signs = std::fs::read_to_string(&log)
            .unwrap()
            .lines()
            .filter(|line| line.contains("Sign key=") && line.contains(" ok"))
            .count();
        assert!(signs >= 3, "expected KMS Sign calls in the log");

        let out = ok_with(
            project,
            &[
                "repo",
                "validate",
                "--repo",
                "bench",
                "--validate-targets",
                "--json",
            ],
            &env,
        );
        let validated: serde_json::Value = serde_json::from_str(&out).unwrap();
        assert_eq!(validated["targets_verified"], 6);
        tuf_oracle(Path::new(report["dir"].as_str().unwrap()), 6);
    }
}
