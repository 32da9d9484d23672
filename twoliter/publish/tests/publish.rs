//! `twoliter-publish` end to end against moto's real AWS-protocol server: the real binary, the
//! real AWS SDK, a small built image. A recording proxy in front of EC2 shows the requests moto
//! does not keep (block-device mappings, architecture, ENA) and can refuse an action.

use aws_sdk_ec2::types::Filter;
use serde_json::Value;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use test_support::KillOnDrop;

const NAME: &str = "bottlerocket-test-x86_64-1.2.3-abc";
const REGIONS: &str = "us-west-2,us-east-1,eu-west-1";

/// moto, a recording proxy for EC2 in front of it, and a built image.
struct Env {
    moto: moto_server::MotoServer,
    _proxy: KillOnDrop,
    proxy_port: u16,
    log: PathBuf,
    dir: tempfile::TempDir,
}

impl Env {
    fn new(fail: Option<&str>) -> Env {
        let dir = tempfile::tempdir().unwrap();
        make_build(&dir.path().join("build"));
        let moto = moto_server::MotoServer::start();
        let log = dir.path().join("requests.jsonl");
        let script =
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/publish-e2e/record_proxy.py");
        let mut command = Command::new("python3");
        command
            .arg(script)
            .args(["--upstream", &moto.endpoint(), "--log"])
            .arg(&log)
            .stdout(Stdio::piped())
            .stderr(Stdio::null());
        if let Some(action) = fail {
            command.args(["--fail", action]);
        }
        let mut proxy = KillOnDrop::spawn(&mut command);
        let mut line = String::new();
        BufReader::new(proxy.child().stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let proxy_port = line.trim().rsplit(':').next().unwrap().parse().unwrap();
        Env {
            moto,
            _proxy: proxy,
            proxy_port,
            log,
            dir,
        }
    }

    fn build(&self) -> PathBuf {
        self.dir.path().join("build")
    }

    fn amis_file(&self) -> PathBuf {
        self.build().join(format!("{NAME}-amis.json"))
    }

    /// Runs `twoliter-publish ARGS` with the AWS configuration pointing at moto (EC2 through
    /// the proxy).
    fn run(&self, args: &[&str]) -> Output {
        let output = Command::new(env!("CARGO_BIN_EXE_twoliter-publish"))
            .args(args)
            .envs(self.moto.env())
            .env(
                "AWS_ENDPOINT_URL_EC2",
                format!("http://127.0.0.1:{}", self.proxy_port),
            )
            .env_remove("AWS_PROFILE")
            .current_dir(self.dir.path())
            .output()
            .unwrap();
        eprintln!(
            "$ twoliter-publish {}\n{}{}",
            args.join(" "),
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        output
    }

    fn ok(&self, args: &[&str]) -> String {
        let output = self.run(args);
        assert!(output.status.success(), "twoliter-publish {args:?} failed");
        String::from_utf8(output.stdout).unwrap()
    }

    /// The EC2 requests recorded so far with this action.
    fn requests(&self, action: &str) -> Vec<serde_json::Map<String, Value>> {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        text.lines()
            .map(|l| serde_json::from_str::<Value>(l).unwrap())
            .filter(|v| v["action"] == action)
            .map(|v| v["params"].as_object().unwrap().clone())
            .collect()
    }

    /// `twoliter-publish ami` of the build to `regions`.
    fn publish(&self, regions: &str) -> Output {
        let build = self.build();
        self.run(&[
            "ami",
            "--image-dir",
            build.to_str().unwrap(),
            "--regions",
            regions,
        ])
    }

    /// The us-west-2 snapshots whose description is the image name (as the uploads set it).
    async fn snapshots_named(&self) -> Vec<String> {
        self.ec2("us-west-2")
            .describe_snapshots()
            .filters(Filter::builder().name("description").values(NAME).build())
            .send()
            .await
            .unwrap()
            .snapshots()
            .iter()
            .filter_map(|s| s.snapshot_id().map(str::to_string))
            .collect()
    }

    fn ec2(&self, region: &str) -> aws_sdk_ec2::Client {
        aws_sdk_ec2::Client::new(&self.moto.sdk_config(region))
    }

    fn ssm(&self, region: &str) -> aws_sdk_ssm::Client {
        aws_sdk_ssm::Client::new(&self.moto.sdk_config(region))
    }

    fn amis(&self) -> Value {
        serde_json::from_str(&std::fs::read_to_string(self.amis_file()).unwrap()).unwrap()
    }
}

/// A small build as `twoliter build variant` lays it out: a 4 MiB OS disk (BOOT-A, ROOT-A with
/// data and holes) and a 2 MiB data disk, lz4-compressed, and the metadata file.
fn make_build(dir: &Path) {
    std::fs::create_dir_all(dir).unwrap();
    let work = tempfile::tempdir().unwrap();
    let os = work.path().join("os.img");
    let data = work.path().join("data.img");
    let disk = |path: &Path, mib: u64, parts: &[(&str, &str, &str)]| {
        std::fs::File::create(path)
            .unwrap()
            .set_len(mib << 20)
            .unwrap();
        let mut args = vec!["-o".to_string()];
        for (i, (range, name, type_guid)) in parts.iter().enumerate() {
            let n = i + 1;
            args.extend([format!("-n{n}:{range}"), format!("-t{n}:{type_guid}")]);
            if !name.is_empty() {
                args.push(format!("-c{n}:{name}"));
            }
        }
        let status = Command::new("sgdisk")
            .args(&args)
            .arg(path)
            .stdout(Stdio::null())
            .status()
            .expect("sgdisk (gdisk) is needed");
        assert!(status.success());
    };
    disk(
        &os,
        4,
        &[
            (
                "2048:4095",
                "BOTTLEROCKET-BOOT-A",
                "6B636168-7420-6568-2070-6C616E657421",
            ),
            (
                "4096:6143",
                "BOTTLEROCKET-ROOT-A",
                "5526016A-1A97-4EA4-B39A-B7C8C6CA4502",
            ),
        ],
    );
    disk(
        &data,
        2,
        &[(
            "2048:3071",
            // Unlabelled, as the DATA partitions of real builds are.
            "",
            "626F7474-6C65-6474-6861-726D61726B73",
        )],
    );
    // Some content: a patterned run in BOOT-A, a shorter one in ROOT-A, holes elsewhere.
    let mut file = std::fs::OpenOptions::new().write(true).open(&os).unwrap();
    use std::os::unix::fs::FileExt;
    let pattern: Vec<u8> = (0..96 * 1024).map(|i| (i % 251) as u8 + 1).collect();
    file.write_all_at(&pattern, 1 << 20).unwrap();
    file.write_all_at(&pattern[..20 * 1024], 2 << 20).unwrap();
    file.flush().unwrap();
    let mut disks = Vec::new();
    for (label, path) in [("os", &os), ("data", &data)] {
        let table = partitions::image::read_table(path).unwrap();
        let partitions: Vec<Value> = table
            .partitions
            .iter()
            .map(|p| {
                serde_json::json!({
                    "number": p.number,
                    "name": if p.label.is_empty() { "DATA-A" } else { p.label.as_str() }, "type-guid": p.type_guid.to_string(),
                    "partuuid": p.partition_guid.to_string(), "start-mib": 1, "size-mib": 1,
                    "attributes": 0
                })
            })
            .collect();
        let size = std::fs::metadata(path).unwrap().len();
        disks.push(serde_json::json!({
            "disk": label, "size-mib": size >> 20, "disk-guid": table.disk_guid.to_string(),
            "partitions": partitions
        }));
        let suffix = if label == "os" { "" } else { "-data" };
        twoliter_image::lz4::compress_file(path, &dir.join(format!("{NAME}{suffix}.img.lz4")))
            .unwrap();
    }
    let metadata = serde_json::json!({
        "variant": "test", "arch": "x86_64", "version": "1.2.3", "build-id": "abc",
        "image-format": "raw", "partition-plan": "split", "in-place-updates": true,
        "os-image-size-gib": 2, "data-image-size-gib": 1, "root-filesystem": "ext4",
        "source-date-epoch": 0, "kernel-cmdline": "", "boot-partuuid-placeholder": "$boot_uuid",
        "firmware": {"uefi": true, "bios": false},
        "verity": {"root-hash": "", "salt": "", "data-blocks": 0, "hash-size": 0, "superblock": true},
        "disks": disks, "partitions": [], "artifacts": []
    });
    std::fs::write(
        dir.join(format!("{NAME}.json")),
        serde_json::to_string_pretty(&metadata).unwrap(),
    )
    .unwrap();
}

async fn images_named(ec2: &aws_sdk_ec2::Client) -> Vec<String> {
    ec2.describe_images()
        .owners("self")
        .filters(Filter::builder().name("name").values(NAME).build())
        .send()
        .await
        .unwrap()
        .images()
        .iter()
        .map(|i| i.image_id().unwrap().to_string())
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn publish_copy_grant_and_ssm_end_to_end() {
    let env = Env::new(None);
    let build = env.build();
    let build = build.to_str().unwrap();

    // Upload + register in us-west-2, copy to two more regions. A work directory an
    // interrupted run left behind goes away.
    std::fs::create_dir(env.build().join(".publish-stale")).unwrap();
    let out = env.ok(&["ami", "--image-dir", build, "--regions", REGIONS, "--json"]);
    assert!(!env.build().join(".publish-stale").exists());
    let report: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(report["report"]["created"].as_array().unwrap().len(), 3);
    let uploads = report["report"]["uploads"].as_array().unwrap();
    assert_eq!(uploads.len(), 2, "OS and data disks");
    // moto's BlockSize is 512 bytes: the uploader used it, and sent only the non-zero blocks
    // (96 KiB + 20 KiB of content, the GPT copies), not the 8,192 blocks of the 4 MiB disk.
    assert_eq!(uploads[0]["block_size"], 512);
    assert_eq!(uploads[0]["blocks_total"], 8192);
    let sent = uploads[0]["blocks_sent"].as_u64().unwrap();
    assert!((232..300).contains(&sent), "sent {sent} blocks");
    assert_eq!(uploads[0]["blocks_skipped"].as_u64().unwrap(), 8192 - sent);

    let amis = env.amis();
    let west = amis["us-west-2"]["id"].as_str().unwrap().to_string();
    for region in REGIONS.split(',') {
        let ids = images_named(&env.ec2(region)).await;
        assert_eq!(ids, [amis[region]["id"].as_str().unwrap()], "{region}");
        assert_eq!(amis[region]["name"], NAME);
        assert_eq!(amis[region]["public"], false);
    }

    // What moto does not keep, from the request the SDK sent.
    let register = env.requests("RegisterImage");
    assert_eq!(register.len(), 1);
    let r = &register[0];
    let snapshots = amis["us-west-2"]["snapshots"].as_array().unwrap();
    assert_eq!(r["Name"], NAME);
    assert_eq!(r["Architecture"], "x86_64");
    assert_eq!(r["VirtualizationType"], "hvm");
    assert_eq!(r["EnaSupport"], "true");
    assert_eq!(r["SriovNetSupport"], "simple");
    assert_eq!(r["ImdsSupport"], "v2.0");
    assert_eq!(r["RootDeviceName"], "/dev/xvda");
    assert_eq!(r["BlockDeviceMapping.1.DeviceName"], "/dev/xvda");
    assert_eq!(r["BlockDeviceMapping.1.Ebs.SnapshotId"], snapshots[0]);
    assert_eq!(r["BlockDeviceMapping.1.Ebs.VolumeSize"], "2");
    assert_eq!(r["BlockDeviceMapping.1.Ebs.VolumeType"], "gp3");
    assert_eq!(r["BlockDeviceMapping.2.DeviceName"], "/dev/xvdb");
    assert_eq!(r["BlockDeviceMapping.2.Ebs.SnapshotId"], snapshots[1]);
    assert_eq!(
        r["BlockDeviceMapping.2.Ebs.VolumeSize"], "20",
        "hint 22 − OS 2"
    );
    assert_eq!(env.requests("CopyImage").len(), 2);
    assert_eq!(
        env.snapshots_named().await.len(),
        2,
        "the uploads are found by name"
    );

    // A rerun reuses every AMI: nothing uploaded, registered or copied.
    let out = env.ok(&["ami", "--image-dir", build, "--regions", REGIONS, "--json"]);
    let rerun: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(rerun["report"]["reused"].as_array().unwrap().len(), 3);
    assert!(rerun["report"]["uploads"].as_array().unwrap().is_empty());
    assert_eq!(env.requests("RegisterImage").len(), 1);
    assert_eq!(env.requests("CopyImage").len(), 2);
    assert_eq!(env.amis()["us-west-2"]["id"], west.as_str());
    env.ok(&["ami", "validate", "--image-dir", build]);
    // A rerun for one region keeps the other regions in amis.json.
    env.ok(&["ami", "--image-dir", build, "--regions", "us-east-1"]);
    assert_eq!(env.amis().as_object().unwrap().len(), 3);
    // Principals without --grant or --revoke are a usage error, not a silent publish.
    let out = env.run(&["ami", "--image-dir", build, "--user-ids", "111122223333"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("need --grant or --revoke"));

    // Grant an account on images and snapshots, make public, revoke both.
    env.ok(&[
        "ami",
        "--image-dir",
        build,
        "--grant",
        "--user-ids",
        "111122223333",
    ]);
    let amis = env.amis();
    for region in REGIONS.split(',') {
        assert_eq!(
            amis[region]["launch_permissions"],
            serde_json::json!([{"user_id": "111122223333"}]),
            "{region}"
        );
    }
    let ec2 = env.ec2("us-west-2");
    for snapshot in snapshots {
        let (public, users) = twoliter_publish::permissions::snapshot_permissions(
            &ec2,
            "us-west-2",
            snapshot.as_str().unwrap(),
        )
        .await
        .unwrap();
        assert!(!public);
        assert_eq!(users, ["111122223333"]);
    }
    env.ok(&["ami", "--image-dir", build, "--make-public"]);
    assert!(REGIONS.split(',').all(|r| env.amis()[r]["public"] == true));
    let (public, _) = twoliter_publish::permissions::snapshot_permissions(
        &ec2,
        "us-west-2",
        snapshots[0].as_str().unwrap(),
    )
    .await
    .unwrap();
    assert!(public, "snapshots are public with the image");
    env.ok(&["ami", "validate", "--image-dir", build]);
    env.ok(&[
        "ami",
        "--image-dir",
        build,
        "--revoke",
        "--group-names",
        "all",
        "--user-ids",
        "111122223333",
    ]);
    let amis = env.amis();
    assert_eq!(amis["eu-west-1"]["public"], false);
    assert_eq!(
        amis["eu-west-1"]["launch_permissions"],
        serde_json::json!([])
    );
    env.ok(&["ami", "validate", "--image-dir", build]);

    // validate sees a difference between the file and AWS.
    let mut changed = env.amis();
    changed["us-east-1"]["public"] = Value::Bool(true);
    std::fs::write(env.amis_file(), changed.to_string()).unwrap();
    let out = env.run(&["ami", "validate", "--image-dir", build]);
    assert!(!out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("us-east-1") && text.contains("private"),
        "{text}"
    );
    std::fs::write(env.amis_file(), amis.to_string()).unwrap();

    // Bad principals change nothing.
    let out = env.run(&[
        "ami",
        "--image-dir",
        build,
        "--grant",
        "--user-ids",
        "12345",
    ]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("12 digits"));

    // SSM parameters in every region; a rerun is a no-op.
    let prefix = "/test/os";
    let out = env.ok(&[
        "ssm",
        "--image-dir",
        build,
        "--ssm-prefix",
        prefix,
        "--json",
    ]);
    let put: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(put["written"], 6);
    let out = env.ok(&[
        "ssm",
        "--image-dir",
        build,
        "--ssm-prefix",
        prefix,
        "--json",
    ]);
    let put: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(
        (put["written"].clone(), put["unchanged"].clone()),
        (0.into(), 6.into())
    );
    let get = |region: &'static str, name: String| {
        let client = env.ssm(region);
        async move {
            client
                .get_parameter()
                .name(name)
                .send()
                .await
                .ok()
                .and_then(|o| o.parameter().and_then(|p| p.value().map(str::to_string)))
        }
    };
    let id_name = |version: &str| format!("{prefix}/test/x86_64/{version}/image_id");
    assert_eq!(
        get("eu-west-1", id_name("1.2.3-abc")).await.as_deref(),
        Some(amis["eu-west-1"]["id"].as_str().unwrap())
    );

    // Promote to latest, then validate.
    env.ok(&[
        "ssm",
        "promote",
        "--image-dir",
        build,
        "--ssm-prefix",
        prefix,
        "--target",
        "latest",
    ]);
    for region in ["us-west-2", "us-east-1", "eu-west-1"] {
        assert_eq!(
            get(region, id_name("latest")).await.as_deref(),
            Some(amis[region]["id"].as_str().unwrap())
        );
    }
    env.ok(&[
        "ssm",
        "validate",
        "--image-dir",
        build,
        "--ssm-prefix",
        prefix,
    ]);

    // A changed parameter: validate fails, a plain publish refuses, --allow-clobber repairs.
    env.ssm("us-east-1")
        .put_parameter()
        .name(id_name("1.2.3-abc"))
        .value("ami-00000000")
        .overwrite(true)
        .send()
        .await
        .unwrap();
    assert!(!env
        .run(&[
            "ssm",
            "validate",
            "--image-dir",
            build,
            "--ssm-prefix",
            prefix
        ])
        .status
        .success());
    let out = env.run(&["ssm", "--image-dir", build, "--ssm-prefix", prefix]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--allow-clobber"));
    env.ok(&[
        "ssm",
        "--image-dir",
        build,
        "--ssm-prefix",
        prefix,
        "--allow-clobber",
    ]);
    env.ok(&[
        "ssm",
        "validate",
        "--image-dir",
        build,
        "--ssm-prefix",
        prefix,
    ]);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_refused_registration_deletes_the_uploaded_snapshots() {
    let env = Env::new(Some("RegisterImage"));
    let out = env.publish("us-west-2");
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("RegisterImage in us-west-2 failed"),
        "{stderr}"
    );
    assert!(stderr.contains("InvalidParameterValue"), "{stderr}");
    assert_eq!(
        env.requests("DeleteSnapshot").len(),
        2,
        "both uploads deleted"
    );
    // The uploads carried the image name as their description; none is left.
    let left = env.snapshots_named().await;
    assert!(left.is_empty(), "{left:?}");
    assert!(
        !env.amis_file().exists(),
        "no amis.json for a failed publish"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_broken_image_is_refused_before_anything_reaches_aws() {
    let env = Env::new(None);
    let build = env.build();
    // A qcow2 (or any non-GPT file) where the raw OS image should be.
    let os = build.join(format!("{NAME}.img.lz4"));
    let raw = env.dir.path().join("not-a-disk");
    std::fs::write(&raw, vec![7u8; 4 << 20]).unwrap();
    twoliter_image::lz4::compress_file(&raw, &os).unwrap();
    let out = env.publish("us-west-2");
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("not a raw disk image with a GUID partition table"),
        "{stderr}"
    );
    assert!(!env.log.exists(), "no EC2 call was made");

    // A mistyped region list, and a compressed file given to `snapshot upload`.
    let out = env.publish("us-west-2,,us-east-1");
    assert!(String::from_utf8_lossy(&out.stderr).contains("'' is not an AWS region name"));
    let out = env.run(&["snapshot", "upload", os.to_str().unwrap()]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("is lz4-compressed"));
    assert!(!env.log.exists(), "still no EC2 call");

    // No build at all: the error says how to make one.
    let out = env.run(&[
        "ami",
        "--image-dir",
        "/nonexistent",
        "--regions",
        "us-west-2",
    ]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("twoliter build variant"));
}
