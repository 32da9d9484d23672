//! Uploads real files through the real AWS SDK to two servers: the loopback EBS server of
//! `scripts/publish-e2e/ebs_server.py` (512 KiB blocks, checksums verified, fault injection) and
//! moto (512-byte blocks).

use std::io::{BufRead, BufReader, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use test_support::{http_request, KillOnDrop};

use twoliter_ebs_upload::{upload_file, NoProgress, Progress, UploadError, UploadOptions};

const BLOCK: u64 = 524_288;

/// The loopback EBS server, killed on drop.
struct EbsServer {
    _child: KillOnDrop,
    port: u16,
    store: tempfile::TempDir,
}

impl EbsServer {
    fn start(args: &[&str]) -> EbsServer {
        let script =
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/publish-e2e/ebs_server.py");
        let store = tempfile::tempdir().expect("temp dir");
        let mut child = KillOnDrop::spawn(
            Command::new("python3")
                .arg(&script)
                .arg("--store")
                .arg(store.path())
                .args(args)
                .stdin(Stdio::null())
                .stdout(Stdio::piped()),
        );
        let mut line = String::new();
        BufReader::new(child.child().stdout.take().expect("stdout"))
            .read_line(&mut line)
            .expect("the server's first line");
        let port = line
            .trim()
            .rsplit(':')
            .next()
            .and_then(|p| p.parse().ok())
            .unwrap_or_else(|| panic!("unexpected first line {line:?}"));
        EbsServer {
            _child: child,
            port,
            store,
        }
    }

    fn client(&self) -> aws_sdk_ebs::Client {
        client(&format!("http://127.0.0.1:{}", self.port))
    }

    fn stats(&self) -> serde_json::Value {
        let response = http_request(self.port, "GET", "/_loopback/stats").expect("stats");
        serde_json::from_str(&response.body).expect("JSON stats")
    }

    fn image(&self, snapshot_id: &str) -> PathBuf {
        self.store.path().join(format!("{snapshot_id}.img"))
    }
}

fn client(endpoint: &str) -> aws_sdk_ebs::Client {
    let credentials =
        aws_credential_types::Credentials::new("testing", "testing", None, None, "test");
    let sdk_config = aws_config::SdkConfig::builder()
        .behavior_version(aws_config::BehaviorVersion::latest())
        .region(aws_config::Region::new("us-west-2"))
        .credentials_provider(
            aws_credential_types::provider::SharedCredentialsProvider::new(credentials),
        )
        .build();
    let config = aws_sdk_ebs::config::Builder::from(&sdk_config)
        .endpoint_url(endpoint)
        .build();
    aws_sdk_ebs::Client::from_conf(config)
}

/// Deterministic incompressible bytes.
fn noise(len: usize, mut seed: u64) -> Vec<u8> {
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        out.extend_from_slice(&seed.to_le_bytes());
    }
    out.truncate(len);
    out
}

/// A 10-block image: blocks 0-1 data, 2 written zeros, 3 a little data, 4-8 a hole, 9 a partial
/// block of data. Blocks 0, 1, 3 and 9 must be sent.
fn sample_image(dir: &Path) -> PathBuf {
    let path = dir.join("image.raw");
    let mut file = std::fs::File::create(&path).expect("create image");
    file.write_all(&noise(2 * BLOCK as usize, 1))
        .expect("write");
    file.write_all(&vec![0; BLOCK as usize]).expect("write");
    file.write_all(b"hello, snapshot").expect("write");
    file.seek(SeekFrom::Start(9 * BLOCK)).expect("seek");
    file.write_all(&noise(1000, 2)).expect("write");
    path
}

/// The stored snapshot holds the image's bytes; anything beyond either is zeros.
fn assert_same_disk(image: &Path, stored: &Path) {
    let a = std::fs::read(image).expect("read image");
    let b = std::fs::read(stored).expect("read stored snapshot");
    let common = a.len().min(b.len());
    assert!(
        a[..common] == b[..common],
        "the snapshot differs from the image"
    );
    assert!(a[common..].iter().chain(&b[common..]).all(|&x| x == 0));
}

#[derive(Default)]
struct Counting {
    total: AtomicU64,
    done: AtomicU64,
    retried: AtomicU64,
    ended: AtomicU64,
}

impl Progress for Counting {
    fn begin(&self, total_bytes: u64) {
        self.total.store(total_bytes, Ordering::Relaxed);
    }
    fn advance(&self, bytes: u64) {
        self.done.fetch_add(bytes, Ordering::Relaxed);
    }
    fn retried(&self) {
        self.retried.fetch_add(1, Ordering::Relaxed);
    }
    fn end(&self) {
        self.ended.fetch_add(1, Ordering::Relaxed);
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn uploads_data_blocks_only_and_reconstructs() {
    let server = EbsServer::start(&[]);
    let dir = tempfile::tempdir().expect("temp dir");
    let image = sample_image(dir.path());
    let progress = Counting::default();
    let options = UploadOptions {
        description: Some("test image".into()),
        tags: vec![("purpose".into(), "test".into())],
        ..UploadOptions::default()
    };
    let up = upload_file(&server.client(), &image, &options, &progress)
        .await
        .expect("upload");

    assert_eq!(up.block_size, BLOCK);
    assert_eq!(up.blocks_total, 10);
    assert_eq!(up.blocks_sent, 4);
    assert_eq!(up.blocks_skipped, 6);
    assert_eq!(up.bytes_sent, 4 * BLOCK);
    assert_eq!(up.retries, 0);
    assert_eq!(up.requests, 6, "start + 4 blocks + complete");
    let size = std::fs::metadata(&image).expect("stat").len();
    // Progress counts what had to be read: the file without its holes (at least the 3 blocks
    // of data and the partial last one), and ends at that total.
    let total = progress.total.load(Ordering::Relaxed);
    assert!(total <= size && total >= 3 * BLOCK + 1000, "total {total}");
    assert_eq!(progress.done.load(Ordering::Relaxed), total);
    assert_eq!(progress.ended.load(Ordering::Relaxed), 1);

    let stats = server.stats();
    assert_eq!(stats["requests"]["PutSnapshotBlock"], 4, "{stats}");
    let snap = &stats["snapshots"][&up.snapshot_id];
    assert_eq!(snap["status"], "completed", "{stats}");
    assert_eq!(snap["blocks_received"], 4, "{stats}");
    assert_same_disk(&image, &server.image(&up.snapshot_id));

    // The server's read APIs answer the SDK: the blocks sent, and their bytes.
    let client = server.client();
    let listed = client
        .list_snapshot_blocks()
        .snapshot_id(&up.snapshot_id)
        .send()
        .await
        .expect("ListSnapshotBlocks");
    let indexes: Vec<i32> = listed
        .blocks()
        .iter()
        .filter_map(|b| b.block_index())
        .collect();
    assert_eq!(indexes, [0, 1, 3, 9]);
    assert_eq!(listed.block_size(), Some(BLOCK as i32));
    let block = &listed.blocks()[2];
    let got = client
        .get_snapshot_block()
        .snapshot_id(&up.snapshot_id)
        .block_index(3)
        .block_token(block.block_token().expect("a token"))
        .send()
        .await
        .expect("GetSnapshotBlock");
    assert_eq!(got.data_length(), Some(BLOCK as i32));
    let data = got
        .block_data
        .collect()
        .await
        .expect("block data")
        .into_bytes();
    assert!(data.starts_with(b"hello, snapshot") && data.len() == BLOCK as usize);
}

#[tokio::test(flavor = "multi_thread")]
async fn retries_throttled_blocks() {
    retries_failed_blocks(&["--throttle-every", "3"]).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn retries_unavailable_service() {
    retries_failed_blocks(&[
        "--throttle-every",
        "4",
        "--throttle-status",
        "503",
        "--throttle-code",
        "ServiceUnavailableException",
    ])
    .await;
}

async fn retries_failed_blocks(server_args: &[&str]) {
    let server = EbsServer::start(server_args);
    let dir = tempfile::tempdir().expect("temp dir");
    let image = dir.path().join("image.raw");
    std::fs::write(&image, noise(12 * BLOCK as usize + 4096, 3)).expect("write image");
    let progress = Counting::default();
    let options = UploadOptions {
        concurrency: std::num::NonZeroUsize::new(4).expect("non-zero"),
        ..UploadOptions::default()
    };
    let up = upload_file(&server.client(), &image, &options, &progress)
        .await
        .expect("upload despite throttling");

    assert_eq!(up.blocks_sent, 13);
    assert!(up.retries > 0, "{up:?}");
    assert_eq!(progress.retried.load(Ordering::Relaxed), up.retries);
    let stats = server.stats();
    let puts = stats["requests"]["PutSnapshotBlock"]
        .as_u64()
        .expect("a count");
    assert_eq!(puts, 13 + up.retries, "{stats}");
    assert_eq!(up.requests, puts + 2);
    assert_eq!(
        stats["faults_injected"].as_u64(),
        Some(up.retries),
        "{stats}"
    );
    assert_eq!(stats["snapshots"][&up.snapshot_id]["status"], "completed");
    assert_same_disk(&image, &server.image(&up.snapshot_id));
}

#[tokio::test(flavor = "multi_thread")]
async fn refused_calls_fail_fast_and_name_the_call() {
    let server = EbsServer::start(&["--deny", "PutSnapshotBlock"]);
    let dir = tempfile::tempdir().expect("temp dir");
    let image = sample_image(dir.path());
    let error = upload_file(
        &server.client(),
        &image,
        &UploadOptions::default(),
        &NoProgress,
    )
    .await
    .expect_err("access denied");
    let text = error.to_string();
    match error {
        UploadError::Api {
            call,
            code,
            attempts,
            ..
        } => {
            assert_eq!(call, "PutSnapshotBlock");
            assert_eq!(code, "AccessDeniedException");
            assert_eq!(attempts, 1);
        }
        other => panic!("unexpected error {other:?}"),
    }
    assert!(
        text.contains("PutSnapshotBlock") && text.contains("block "),
        "{text}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_inputs_are_clear_errors() {
    // Nothing listens here: every error must come before the first request.
    let client = client("http://127.0.0.1:9");
    let dir = tempfile::tempdir().expect("temp dir");
    let empty = dir.path().join("empty.raw");
    std::fs::write(&empty, b"").expect("write");
    let options = UploadOptions::default();
    let err = upload_file(&client, &empty, &options, &NoProgress).await;
    assert!(matches!(err, Err(UploadError::Empty { .. })), "{err:?}");
    let err = upload_file(&client, dir.path(), &options, &NoProgress).await;
    assert!(matches!(err, Err(UploadError::NotAFile { .. })), "{err:?}");
    let missing = dir.path().join("missing.raw");
    let err = upload_file(&client, &missing, &options, &NoProgress).await;
    assert!(
        matches!(&err, Err(e @ UploadError::Open { .. }) if e.to_string().contains("missing.raw")),
        "{err:?}"
    );
    let big = dir.path().join("big.raw");
    std::fs::File::create(&big)
        .and_then(|f| f.set_len((1 << 30) + 1))
        .expect("sparse file");
    let small = UploadOptions {
        volume_size_gib: Some(1),
        ..UploadOptions::default()
    };
    let err = upload_file(&client, &big, &small, &NoProgress).await;
    assert!(matches!(err, Err(UploadError::TooLarge { .. })), "{err:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn uploads_to_moto_with_its_block_size() {
    let moto = moto_server::MotoServer::start();
    let config = aws_sdk_ebs::Config::from(&moto.sdk_config("us-west-2"));
    let client = aws_sdk_ebs::Client::from_conf(config);
    let dir = tempfile::tempdir().expect("temp dir");
    let image = dir.path().join("image.raw");
    // 1 MiB: 64 KiB of data at the start and a few bytes near the end; the rest zeros.
    let mut bytes = vec![0u8; 1 << 20];
    bytes[..65536].copy_from_slice(&noise(65536, 4));
    bytes[(1 << 20) - 700..(1 << 20) - 600].copy_from_slice(&noise(100, 5));
    std::fs::write(&image, &bytes).expect("write image");
    let up = upload_file(&client, &image, &UploadOptions::default(), &NoProgress)
        .await
        .expect("upload to moto");
    assert_eq!(up.block_size, 512);
    assert_eq!(up.blocks_total, 2048);
    assert_eq!(up.blocks_sent, 128 + 1);
    assert!(up.snapshot_id.starts_with("snap-"), "{up:?}");
}
