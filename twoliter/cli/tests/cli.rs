//! The `twoliter` binary run as a user would, against this repository's project and a broken one.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn twoliter(cwd: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_twoliter"))
        .args(args)
        .current_dir(cwd)
        .env_remove("TWOLITER_PROJECT_PATH")
        .env_remove("TWOLITER_ARCH")
        .env_remove("SOURCE_DATE_EPOCH")
        .output()
        .expect("the twoliter binary runs")
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

#[test]
fn check_passes_on_the_repository_from_a_subdirectory() {
    // Discovery walks up from the current directory.
    let out = twoliter(&repo_root().join("variants/metal-dev"), &["check"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).contains("no problems"), "{}", stdout(&out));
}

#[test]
fn variant_list_json_lists_every_variant() {
    let out = twoliter(&repo_root(), &["variant", "list", "--json"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let list: Vec<serde_json::Value> = serde_json::from_slice(&out.stdout).unwrap();
    let names: Vec<&str> = list.iter().map(|v| v["name"].as_str().unwrap()).collect();
    for name in [
        "aws-k8s-1.24",
        "aws-k8s-1.32-nvidia",
        "aws-ecs-1",
        "aws-ecs-2-nvidia",
        "vmware-k8s-1.28",
        "vmware-k8s-1.32",
        "metal-dev",
    ] {
        assert!(names.contains(&name), "{name} missing from {names:?}");
    }
    assert_eq!(names.len(), 28);
    let nvidia = list
        .iter()
        .find(|v| v["name"] == "aws-k8s-1.31-nvidia")
        .unwrap();
    assert_eq!(nvidia["flavor"], "nvidia");
    assert_eq!(nvidia["version"], "1.31");
}

#[test]
fn variant_show_resolves_layout_and_format() {
    let out = twoliter(
        &repo_root(),
        &["variant", "show", "vmware-k8s-1.31", "--json"],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["image-format"], "vmdk");
    assert_eq!(v["image-layout"]["partition-plan"], "unified");
    assert_eq!(v["image-features"]["in-place-updates"], true);

    let out = twoliter(
        &repo_root(),
        &[
            "variant",
            "show",
            "aws-k8s-1.31-nvidia",
            "--json",
            "--arch",
            "aarch64",
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["image-layout"]["os-image-size-gib"], 4);
    assert_eq!(v["arch"], "aarch64");
    assert_eq!(v["arch-supported"], true);

    let out = twoliter(&repo_root(), &["variant", "show", "metal-dev"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).contains("dev-init"), "{}", stdout(&out));
}

#[test]
fn an_unknown_variant_suggests_the_closest_or_lists_them() {
    let out = twoliter(&repo_root(), &["variant", "show", "aws-k8s-1.31-nvidai"]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(err.contains("no variant `aws-k8s-1.31-nvidai`"), "{err}");
    assert!(err.contains("did you mean `aws-k8s-1.31-nvidia`?"), "{err}");
    let out = twoliter(&repo_root(), &["variant", "show", "zzz"]);
    assert!(stderr(&out).contains("known variants: ") && stderr(&out).contains("metal-dev"));
}

#[test]
fn a_broken_project_fails_with_located_problems_and_no_panic() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("Twoliter.toml"),
        "schema-version = 1\nrelease-version = \"1.0.0\"\nflavour = \"x\"\n",
    )
    .unwrap();
    let out = twoliter(dir.path(), &["check"]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(
        err.contains("Twoliter.toml:3:1: flavour: unknown field `flavour`"),
        "{err}"
    );
    assert!(!err.contains("panicked"), "{err}");

    let out = twoliter(dir.path(), &["check", "--json"]);
    assert_eq!(out.status.code(), Some(1));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["ok"], false);
    assert_eq!(report["problems"][0]["line"], 3);
}

#[test]
fn outside_a_project_says_how_to_point_at_one() {
    let dir = tempfile::tempdir().unwrap();
    let out = twoliter(dir.path(), &["check"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("--project-path"), "{}", stderr(&out));
    let out = twoliter(
        dir.path(),
        &["--project-path", repo_root().to_str().unwrap(), "check"],
    );
    assert!(out.status.success(), "{}", stderr(&out));
}

#[test]
fn project_path_takes_the_directory_or_its_twoliter_toml() {
    let root = repo_root();
    let file = root.join("Twoliter.toml");
    let out = twoliter(
        Path::new("/"),
        &["--project-path", file.to_str().unwrap(), "check"],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let sub = root.join("variants");
    let out = twoliter(
        Path::new("/"),
        &["--project-path", sub.to_str().unwrap(), "check"],
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("variants holds no Twoliter.toml"),
        "{}",
        stderr(&out)
    );
    let out = twoliter(
        Path::new("/"),
        &["--project-path", "/nonexistent/x", "check"],
    );
    assert!(
        stderr(&out).contains("/nonexistent/x does not exist"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn a_closed_pipe_ends_the_output_quietly() {
    let command = format!(
        "{} variant list | head -n 1",
        env!("CARGO_BIN_EXE_twoliter")
    );
    let out = Command::new("sh")
        .args(["-c", &command])
        .current_dir(repo_root())
        .output()
        .unwrap();
    assert!(stdout(&out).starts_with("VARIANT"), "{}", stdout(&out));
    assert!(!stderr(&out).contains("panicked"), "{}", stderr(&out));
}

#[test]
fn completions_and_help_are_available() {
    let out = twoliter(&repo_root(), &["completions", "bash"]);
    assert!(out.status.success());
    assert!(stdout(&out).contains("twoliter"));
    let out = twoliter(&repo_root(), &["--help"]);
    assert!(stdout(&out).contains("variant") && stdout(&out).contains("--project-path"));
    let out = twoliter(&repo_root(), &["--arch", "sparc", "check"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("x86_64, aarch64"), "{}", stderr(&out));
}

#[test]
fn schemas_are_current() {
    let out = twoliter(&repo_root(), &["schemas", "--check"]);
    assert!(out.status.success(), "{}", stderr(&out));
}

/// Runs `twoliter image assemble --variant <variant>` with more arguments, in the repository.
fn assemble(variant: &str, more: &[&str]) -> Output {
    let mut args = vec!["image", "assemble", "--variant", variant];
    args.extend_from_slice(more);
    twoliter(&repo_root(), &args)
}

#[test]
fn image_assemble_uses_the_variant_and_reports_usage() {
    let dir = tempfile::tempdir().unwrap();
    let (root, boot) = (dir.path().join("root"), dir.path().join("boot"));
    std::fs::create_dir_all(root.join("etc")).unwrap();
    std::fs::write(root.join("etc/motd"), "hi\n").unwrap();
    std::fs::create_dir_all(&boot).unwrap();
    std::fs::write(boot.join("vmlinuz"), vec![7u8; 4096]).unwrap();
    let (root, boot) = (root.to_str().unwrap(), boot.to_str().unwrap());
    let out = dir.path().join("out");
    let again = dir.path().join("again");
    let build = |out: &Path, more: &[&str]| {
        let mut args = vec![
            "--root",
            root,
            "--boot",
            boot,
            "--output-dir",
            out.to_str().unwrap(),
        ];
        args.extend_from_slice(more);
        assemble("metal-dev", &args)
    };

    let run = build(&out, &["--build-id", "test", "--json"]);
    assert!(run.status.success(), "{}", stderr(&run));
    let meta: serde_json::Value = serde_json::from_slice(&run.stdout).unwrap();
    // metal-dev: x86_64 (this machine in CI), raw, split plan, 2 GiB OS image, console=ttyS0.
    assert_eq!(meta["partition-plan"], "split");
    assert_eq!(meta["os-image-size-gib"], 2);
    assert!(meta["kernel-cmdline"]
        .as_str()
        .unwrap()
        .starts_with("console=ttyS0 root=/dev/dm-0"));
    let version = meta["version"].as_str().unwrap();
    let latest = std::fs::read_link(out.join("latest")).unwrap();
    assert_eq!(latest, Path::new(&format!("{version}-test")));

    // Without SOURCE_DATE_EPOCH the commit time is used, so a rebuild is byte-identical.
    assert!(meta["source-date-epoch"].as_u64().unwrap() > 1);
    let rerun = build(&again, &["--build-id", "test", "--json"]);
    assert!(rerun.status.success(), "{}", stderr(&rerun));
    let meta_again: serde_json::Value = serde_json::from_slice(&rerun.stdout).unwrap();
    assert_eq!(
        meta["artifacts"], meta_again["artifacts"],
        "rebuild differs"
    );

    let missing = assemble(
        "metal-dev",
        &["--root", "/nonexistent/root", "--boot", boot],
    );
    assert_eq!(missing.status.code(), Some(1));
    let err = stderr(&missing);
    assert!(
        err.contains("/nonexistent/root") && err.contains("(the root tree)"),
        "{err}"
    );

    let bad_id = build(&out, &["--build-id", "a/../../b"]);
    assert_eq!(bad_id.status.code(), Some(1));
    assert!(
        stderr(&bad_id).contains("build id `a/../../b` is not valid"),
        "{}",
        stderr(&bad_id)
    );

    let typo = assemble("metal-deb", &["--root", root, "--boot", boot]);
    assert_eq!(typo.status.code(), Some(1));
    assert!(
        stderr(&typo).contains("did you mean `metal-dev`?"),
        "{}",
        stderr(&typo)
    );

    let reserved = build(&out, &["--kernel-parameter", "root=/dev/sda"]);
    assert!(
        stderr(&reserved).contains("--kernel-parameter: `root=/dev/sda` is set by twoliter itself"),
        "{}",
        stderr(&reserved)
    );

    let bad_format = assemble(
        "metal-dev",
        &["--root", root, "--boot", boot, "--image-format", "iso"],
    );
    assert_eq!(bad_format.status.code(), Some(2));
    assert!(
        stderr(&bad_format).contains("possible values: raw, qcow2, vmdk"),
        "{}",
        stderr(&bad_format)
    );
}
