//! Uploads a raw disk image file as an EBS snapshot through the EBS direct APIs
//! (`StartSnapshot`, `PutSnapshotBlock`, `CompleteSnapshot`).
//!
//! The file is cut into blocks of the `BlockSize` the service returns (512 KiB on real EBS).
//! All-zero blocks are not sent: holes of sparse files are found with `SEEK_DATA`/`SEEK_HOLE`
//! and never read, and blocks that read as zeros are dropped after reading. Every other block is
//! hashed (SHA-256) on a blocking thread and sent with its checksum, at most
//! [`UploadOptions::concurrency`] at a time. Throttling, server errors, timeouts and connection
//! errors are retried with exponential back-off and jitter; anything else fails the upload.
//!
//! The upload ends with `CompleteSnapshot`; waiting for the snapshot to become `completed`
//! (EC2 `DescribeSnapshots`) is left to the caller.

use std::collections::hash_map::RandomState;
use std::fs::File;
use std::hash::{BuildHasher, Hasher};
use std::num::NonZeroUsize;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use aws_sdk_ebs::config::retry::RetryConfig;
use aws_sdk_ebs::config::timeout::TimeoutConfig;
use aws_sdk_ebs::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_ebs::primitives::ByteStream;
use aws_sdk_ebs::types::{ChecksumAggregationMethod, ChecksumAlgorithm, Tag};
use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;
use bytes::Bytes;
use futures::{StreamExt, TryStreamExt};
use sha2::{Digest, Sha256};

const GIB: u64 = 1 << 30;
/// Minutes of inactivity after which EBS cancels an unfinished snapshot (`StartSnapshot`
/// `Timeout`).
const SNAPSHOT_TIMEOUT_MINUTES: i32 = 60;
const BACKOFF_BASE: Duration = Duration::from_millis(100);
const BACKOFF_MAX: Duration = Duration::from_secs(20);

/// How [`upload_file`] makes the snapshot.
#[derive(Debug, Clone)]
pub struct UploadOptions {
    /// The snapshot's description.
    pub description: Option<String>,
    /// Tags (key, value) given to the snapshot.
    pub tags: Vec<(String, String)>,
    /// Blocks in flight at once (read, hashed or being sent); memory use is about
    /// `concurrency × BlockSize`. Default 32.
    pub concurrency: NonZeroUsize,
    /// The volume size in GiB; default: the file size rounded up to whole GiB, at least 1.
    pub volume_size_gib: Option<i64>,
    /// Attempts per API request before the upload fails (retryable errors only). Default 8.
    pub max_attempts: u32,
}

impl Default for UploadOptions {
    fn default() -> Self {
        UploadOptions {
            description: None,
            tags: Vec::new(),
            concurrency: NonZeroUsize::new(32).unwrap_or(NonZeroUsize::MIN),
            volume_size_gib: None,
            max_attempts: 8,
        }
    }
}

fn seconds<S: serde::Serializer>(elapsed: &Duration, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_f64(elapsed.as_secs_f64())
}

/// Progress reports of an upload; called from several tasks at once.
pub trait Progress: Send + Sync {
    /// The upload starts; `total_bytes` is what has to be read: the file without its holes.
    fn begin(&self, total_bytes: u64);
    /// `bytes` more of it are done (sent, or skipped as zeros).
    fn advance(&self, bytes: u64);
    /// A request failed with a retryable error and will be retried.
    fn retried(&self);
    /// The upload is over (successfully or not).
    fn end(&self);
}

/// A [`Progress`] that reports nothing.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoProgress;

impl Progress for NoProgress {
    fn begin(&self, _total_bytes: u64) {}
    fn advance(&self, _bytes: u64) {}
    fn retried(&self) {}
    fn end(&self) {}
}

/// The result of a successful upload.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Uploaded {
    /// The new snapshot (`pending` until EBS has processed it).
    pub snapshot_id: String,
    /// The block size the service chose, in bytes.
    pub block_size: u64,
    /// Blocks the file spans.
    pub blocks_total: u64,
    /// Blocks sent (`ChangedBlocksCount`).
    pub blocks_sent: u64,
    /// All-zero blocks (holes included) that were not sent.
    pub blocks_skipped: u64,
    /// Block bytes sent (`blocks_sent × block_size`).
    pub bytes_sent: u64,
    /// HTTP API calls made, retries included.
    pub requests: u64,
    /// Requests that were retried.
    pub retries: u64,
    /// Wall time of the upload (seconds in JSON).
    #[serde(rename = "elapsed_seconds", serialize_with = "seconds")]
    pub elapsed: Duration,
}

/// Why an upload failed.
#[derive(Debug, thiserror::Error)]
pub enum UploadError {
    /// The file cannot be opened or examined.
    #[error("cannot open {}: {source}", path.display())]
    Open {
        /// The image file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The path is not a regular file (a directory, a device, ...).
    #[error("{} is not a regular file", path.display())]
    NotAFile {
        /// The path given.
        path: PathBuf,
    },
    /// The file is empty: there is nothing to make a snapshot of.
    #[error("{} is empty", path.display())]
    Empty {
        /// The image file.
        path: PathBuf,
    },
    /// The file is larger than the requested volume, or too large for EBS block indexes.
    #[error("{}: {reason}", path.display())]
    TooLarge {
        /// The image file.
        path: PathBuf,
        /// What does not fit.
        reason: String,
    },
    /// Reading a block of the file failed.
    #[error("cannot read block {block_index} of {}: {source}", path.display())]
    Read {
        /// The image file.
        path: PathBuf,
        /// The block index.
        block_index: u64,
        /// The I/O error.
        source: std::io::Error,
    },
    /// An EBS API call failed (not retryable, or out of attempts).
    #[error("{call} ({context}) failed after {attempts} attempt(s): {code}: {message}")]
    Api {
        /// The API call: `StartSnapshot`, `PutSnapshotBlock` or `CompleteSnapshot`.
        call: &'static str,
        /// What the call was about: file, snapshot, block index.
        context: String,
        /// The service's error code (e.g. `ValidationException`), or the kind of transport
        /// failure (`TimeoutError`, `DispatchFailure`, ...).
        code: String,
        /// The service's message, or the transport error.
        message: String,
        /// Attempts made.
        attempts: u32,
    },
    /// The service answered without a field the upload needs.
    #[error("{call} ({context}) returned an unusable response: {detail}")]
    BadResponse {
        /// The API call.
        call: &'static str,
        /// What the call was about.
        context: String,
        /// What is wrong.
        detail: String,
    },
    /// A blocking read/hash task failed to run.
    #[error("reading {}: a worker task failed: {detail}", path.display())]
    Task {
        /// The image file.
        path: PathBuf,
        /// The task's failure.
        detail: String,
    },
}

/// Uploads the raw image at `path` as a new EBS snapshot and returns its id and statistics.
/// Does not wait for the snapshot to become `completed`.
pub async fn upload_file(
    client: &aws_sdk_ebs::Client,
    path: &Path,
    options: &UploadOptions,
    progress: &dyn Progress,
) -> Result<Uploaded, UploadError> {
    let started = Instant::now();
    let file = open(path)?;
    let size = file
        .metadata()
        .map_err(|source| open_error(path, source))?
        .len();
    let volume_gib = match options.volume_size_gib {
        Some(gib) if gib < 1 || (gib as u64).saturating_mul(GIB) < size => {
            return Err(UploadError::TooLarge {
                path: path.into(),
                reason: format!("{size} bytes do not fit a volume of {gib} GiB"),
            })
        }
        Some(gib) => gib,
        None => size.div_ceil(GIB).max(1) as i64,
    };
    let uploader = Uploader {
        client,
        path,
        file: Arc::new(file),
        size,
        max_attempts: options.max_attempts.max(1),
        progress,
        requests: AtomicU64::new(0),
        retries: AtomicU64::new(0),
    };
    let result = uploader.run(options, volume_gib).await;
    progress.end();
    let mut uploaded = result?;
    uploaded.elapsed = started.elapsed();
    Ok(uploaded)
}

fn open_error(path: &Path, source: std::io::Error) -> UploadError {
    UploadError::Open {
        path: path.into(),
        source,
    }
}

fn open(path: &Path) -> Result<File, UploadError> {
    let meta = std::fs::metadata(path).map_err(|source| open_error(path, source))?;
    if !meta.is_file() {
        return Err(UploadError::NotAFile { path: path.into() });
    }
    if meta.len() == 0 {
        return Err(UploadError::Empty { path: path.into() });
    }
    File::open(path).map_err(|source| open_error(path, source))
}

struct Uploader<'a> {
    client: &'a aws_sdk_ebs::Client,
    path: &'a Path,
    file: Arc<File>,
    size: u64,
    max_attempts: u32,
    progress: &'a dyn Progress,
    requests: AtomicU64,
    retries: AtomicU64,
}

/// A block read from the file that is not all zeros.
struct DataBlock {
    data: Bytes,
    checksum: String,
    digest: [u8; 32],
}

impl Uploader<'_> {
    async fn run(&self, options: &UploadOptions, volume_gib: i64) -> Result<Uploaded, UploadError> {
        let (snapshot_id, block_size) = self.start(options, volume_gib).await?;
        let blocks_total = self.size.div_ceil(block_size);
        if blocks_total > i32::MAX as u64 {
            return Err(UploadError::TooLarge {
                path: self.path.into(),
                reason: format!(
                    "{blocks_total} blocks of {block_size} bytes exceed EBS block indexes"
                ),
            });
        }
        let candidates = data_blocks(&self.file, self.size, block_size);
        let candidate_bytes: u64 = candidates
            .iter()
            .map(|&i| self.block_len(i, block_size))
            .sum();
        self.progress.begin(candidate_bytes);

        let mut sent: Vec<(u64, [u8; 32])> = futures::stream::iter(candidates)
            .map(|index| self.send_block(&snapshot_id, index, block_size))
            .buffer_unordered(options.concurrency.get())
            .try_filter_map(|sent| async move { Ok(sent) })
            .try_collect()
            .await?;
        sent.sort_unstable_by_key(|&(index, _)| index);

        let mut aggregate = Sha256::new();
        for (_, digest) in &sent {
            aggregate.update(digest);
        }
        let blocks_sent = sent.len() as u64;
        self.complete(
            &snapshot_id,
            blocks_sent,
            &BASE64.encode(aggregate.finalize()),
        )
        .await?;
        Ok(Uploaded {
            snapshot_id,
            block_size,
            blocks_total,
            blocks_sent,
            blocks_skipped: blocks_total - blocks_sent,
            bytes_sent: blocks_sent * block_size,
            requests: self.requests.load(Ordering::Relaxed),
            retries: self.retries.load(Ordering::Relaxed),
            elapsed: Duration::ZERO,
        })
    }

    /// Bytes of the file in block `index` (the last block may be partial).
    fn block_len(&self, index: u64, block_size: u64) -> u64 {
        block_size.min(self.size - index * block_size)
    }

    async fn start(
        &self,
        options: &UploadOptions,
        volume_gib: i64,
    ) -> Result<(String, u64), UploadError> {
        let context = format!("{}", self.path.display());
        let token = uuid::Uuid::new_v4().to_string();
        let tags: Vec<Tag> = options
            .tags
            .iter()
            .map(|(key, value)| Tag::builder().key(key).value(value).build())
            .collect();
        let output = self
            .call("StartSnapshot", &context, || {
                self.client
                    .start_snapshot()
                    .client_token(&token)
                    .volume_size(volume_gib)
                    .set_description(options.description.clone())
                    .set_tags((!tags.is_empty()).then(|| tags.clone()))
                    .timeout(SNAPSHOT_TIMEOUT_MINUTES)
                    .customize()
                    .config_override(no_sdk_retries())
                    .send()
            })
            .await?;
        let bad = |detail: &str| UploadError::BadResponse {
            call: "StartSnapshot",
            context: context.clone(),
            detail: detail.into(),
        };
        let snapshot_id = output.snapshot_id().ok_or_else(|| bad("no SnapshotId"))?;
        let block_size = output
            .block_size()
            .filter(|&size| size > 0)
            .ok_or_else(|| bad("no positive BlockSize"))?;
        tracing::debug!(snapshot_id, block_size, path = %self.path.display(), "snapshot started");
        Ok((snapshot_id.to_string(), block_size as u64))
    }

    /// Reads and hashes block `index`; sends it unless it is all zeros. Returns the block's
    /// digest when it was sent.
    async fn send_block(
        &self,
        snapshot_id: &str,
        index: u64,
        block_size: u64,
    ) -> Result<Option<(u64, [u8; 32])>, UploadError> {
        let len = self.block_len(index, block_size);
        let file = Arc::clone(&self.file);
        let read = tokio::task::spawn_blocking(move || read_block(&file, index, len, block_size))
            .await
            .map_err(|e| UploadError::Task {
                path: self.path.into(),
                detail: e.to_string(),
            })?
            .map_err(|source| UploadError::Read {
                path: self.path.into(),
                block_index: index,
                source,
            })?;
        let Some(block) = read else {
            self.progress.advance(len);
            return Ok(None);
        };
        let context = format!(
            "{}, snapshot {snapshot_id}, block {index}",
            self.path.display()
        );
        self.call("PutSnapshotBlock", &context, || {
            self.client
                .put_snapshot_block()
                .snapshot_id(snapshot_id)
                .block_index(index as i32)
                .block_data(ByteStream::from(block.data.clone()))
                .data_length(block_size as i32)
                .checksum(&block.checksum)
                .checksum_algorithm(ChecksumAlgorithm::ChecksumAlgorithmSha256)
                .customize()
                .config_override(no_sdk_retries())
                .send()
        })
        .await?;
        self.progress.advance(len);
        Ok(Some((index, block.digest)))
    }

    async fn complete(
        &self,
        snapshot_id: &str,
        changed_blocks: u64,
        checksum: &str,
    ) -> Result<(), UploadError> {
        let context = format!("{}, snapshot {snapshot_id}", self.path.display());
        let output = self
            .call("CompleteSnapshot", &context, || {
                self.client
                    .complete_snapshot()
                    .snapshot_id(snapshot_id)
                    .changed_blocks_count(changed_blocks as i32)
                    .checksum(checksum)
                    .checksum_algorithm(ChecksumAlgorithm::ChecksumAlgorithmSha256)
                    .checksum_aggregation_method(
                        ChecksumAggregationMethod::ChecksumAggregationLinear,
                    )
                    .customize()
                    .config_override(no_sdk_retries())
                    .send()
            })
            .await?;
        tracing::debug!(snapshot_id, status = ?output.status(), "snapshot completed");
        Ok(())
    }

    /// Runs one API call, retrying retryable failures with exponential back-off and jitter.
    async fn call<T, E, F, Fut>(
        &self,
        call: &'static str,
        context: &str,
        mut request: F,
    ) -> Result<T, UploadError>
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Result<T, SdkError<E>>>,
        E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    {
        let mut attempt = 0;
        loop {
            attempt += 1;
            self.requests.fetch_add(1, Ordering::Relaxed);
            let error = match request().await {
                Ok(output) => return Ok(output),
                Err(error) => error,
            };
            let (code, message) = describe(&error);
            if !retryable(&error) || attempt >= self.max_attempts {
                return Err(UploadError::Api {
                    call,
                    context: context.into(),
                    code,
                    message,
                    attempts: attempt,
                });
            }
            let delay = backoff(attempt);
            tracing::debug!(call, context, code, message, ?delay, "retrying");
            self.retries.fetch_add(1, Ordering::Relaxed);
            self.progress.retried();
            tokio::time::sleep(delay).await;
        }
    }
}

/// The SDK's own retries are off: [`Uploader::call`] retries, and counts what it does. A stalled
/// request times out (and is retried) instead of hanging the upload.
fn no_sdk_retries() -> aws_sdk_ebs::config::Builder {
    aws_sdk_ebs::config::Builder::default()
        .retry_config(RetryConfig::disabled())
        .timeout_config(
            TimeoutConfig::builder()
                .connect_timeout(Duration::from_secs(10))
                .read_timeout(Duration::from_secs(30))
                .operation_attempt_timeout(Duration::from_secs(60))
                .build(),
        )
}

/// The error code and message of a failed call.
fn describe<E>(error: &SdkError<E>) -> (String, String)
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    let kind = match error {
        SdkError::ServiceError(service) => {
            let status = service.raw().status().as_u16();
            let code = error
                .code()
                .map_or_else(|| format!("HTTP {status}"), str::to_string);
            let message = error
                .message()
                .map_or_else(|| format!("HTTP status {status}"), str::to_string);
            return (code, message);
        }
        SdkError::TimeoutError(_) => "TimeoutError",
        SdkError::DispatchFailure(_) => "DispatchFailure",
        SdkError::ResponseError(_) => "ResponseError",
        SdkError::ConstructionFailure(_) => "ConstructionFailure",
        _ => "SdkError",
    };
    (kind.into(), DisplayErrorContext(error).to_string())
}

/// Throttling, server-side failures, timeouts and connection errors are worth retrying.
fn retryable<E: ProvideErrorMetadata>(error: &SdkError<E>) -> bool {
    match error {
        SdkError::ServiceError(service) => {
            let status = service.raw().status().as_u16();
            status == 429
                || status >= 500
                || matches!(
                    error.code(),
                    Some(
                        "ThrottlingException"
                            | "RequestThrottledException"
                            | "TooManyRequestsException"
                            | "InternalServerException"
                            | "InternalServerError"
                            | "ServiceUnavailable"
                            | "ServiceUnavailableException"
                            | "RequestTimeout"
                            | "RequestTimeoutException"
                    )
                )
        }
        SdkError::TimeoutError(_) | SdkError::ResponseError(_) => true,
        SdkError::DispatchFailure(failure) => {
            failure.is_timeout() || failure.is_io() || failure.is_other()
        }
        _ => false,
    }
}

/// Exponential back-off with jitter: a random delay in [d/2, d], d = base × 2^(attempt−1),
/// capped.
fn backoff(attempt: u32) -> Duration {
    let full = BACKOFF_BASE
        .saturating_mul(1 << attempt.saturating_sub(1).min(16))
        .min(BACKOFF_MAX);
    let random = RandomState::new().build_hasher().finish();
    let fraction = 0.5 + (random % 1_000) as f64 / 2_000.0;
    full.mul_f64(fraction)
}

/// Block indexes that may hold data: those overlapping the file's data regions per
/// `SEEK_DATA`/`SEEK_HOLE`, or every block when the file system cannot tell.
fn data_blocks(file: &File, size: u64, block_size: u64) -> Vec<u64> {
    let Ok(ranges) = twoliter_sparse_file::data_ranges(file, size) else {
        return (0..size.div_ceil(block_size)).collect();
    };
    let mut blocks: Vec<u64> = Vec::new();
    for (start, end) in ranges {
        let first = (start / block_size).max(blocks.last().map_or(0, |&last| last + 1));
        blocks.extend(first..end.div_ceil(block_size));
    }
    blocks
}

/// Reads block `index` (`len` bytes of the file, zero-padded to `block_size`) and hashes it;
/// `None` when it is all zeros.
fn read_block(
    file: &File,
    index: u64,
    len: u64,
    block_size: u64,
) -> std::io::Result<Option<DataBlock>> {
    let mut data = vec![0u8; block_size as usize];
    file.read_exact_at(&mut data[..len as usize], index * block_size)?;
    if is_zero(&data) {
        return Ok(None);
    }
    let digest: [u8; 32] = Sha256::digest(&data).into();
    Ok(Some(DataBlock {
        checksum: BASE64.encode(digest),
        digest,
        data: Bytes::from(data),
    }))
}

fn is_zero(data: &[u8]) -> bool {
    let mut chunks = data.chunks_exact(64);
    chunks.all(|chunk| chunk.iter().fold(0, |acc, &b| acc | b) == 0)
        && chunks.remainder().iter().all(|&b| b == 0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Seek, SeekFrom, Write};

    #[test]
    fn zero_detection() {
        assert!(is_zero(&[0; 1000]));
        let mut data = vec![0; 1000];
        data[999] = 1;
        assert!(!is_zero(&data));
        data[999] = 0;
        data[3] = 1;
        assert!(!is_zero(&data));
    }

    #[test]
    fn holes_are_skipped() {
        let mut file = tempfile::tempfile().expect("temp file");
        file.seek(SeekFrom::Start(10 << 20)).expect("seek");
        file.write_all(b"x").expect("write");
        file.set_len(20 << 20).expect("set_len");
        let blocks = data_blocks(&file, 20 << 20, 1 << 19);
        // The data sits in block 20; the file system may report a larger extent around it.
        assert!(blocks.contains(&20), "{blocks:?}");
        assert!(blocks.len() < 40, "{blocks:?}");
        assert!(blocks.windows(2).all(|w| w[0] < w[1]));
    }

    #[test]
    fn backoff_grows_and_is_capped() {
        assert!(backoff(1) <= BACKOFF_BASE && backoff(1) >= BACKOFF_BASE / 2);
        assert!(backoff(4) >= BACKOFF_BASE * 4);
        assert!(backoff(40) <= BACKOFF_MAX);
    }
}
