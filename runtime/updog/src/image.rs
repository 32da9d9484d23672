//! Streaming an lz4-compressed image target into a partition.
//!
//! Three stages overlap: the async task pulls tough's verified stream (sha256 and length checked
//! as the bytes pass) and hands the compressed chunks to a decoder thread; the decoder fills
//! large buffers with decompressed bytes and hands them to a writer thread, which `pwrite`s them
//! at their offset within the partition. Buffers are recycled, so steady state allocates nothing.

use std::fs::File;
use std::io::{self, Read};
use std::ops::Range;
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::sync::mpsc::{sync_channel, Receiver};
use std::time::{Duration, Instant};

use futures::StreamExt;
use tough::Bytes;

use crate::error::{Error, Result};
use crate::progress::Progress;
use crate::repo::{fetch_err, Repo};

/// Size of a decompressed buffer handed to the writer.
const WRITE_BUF: usize = 4 * 1024 * 1024;

/// Buffers in flight between decoder and writer (plus one being filled).
const WRITE_DEPTH: usize = 3;

/// Compressed chunks queued for the decoder.
const READ_DEPTH: usize = 4;

/// Alignment of direct I/O: buffers, offsets and lengths (covers 512- and 4096-byte sectors).
const DIRECT_ALIGN: usize = 4096;

/// Where an image goes: a byte range of the disk.
#[derive(Debug, Clone)]
pub struct PartitionSink<'a> {
    /// The open disk (block device or image file).
    pub disk: &'a File,
    /// The disk opened with `O_DIRECT`, if that worked: whole aligned buffers go through it,
    /// which spares the CPU the copy into the page cache (the CPU is busy hashing and
    /// decompressing) and keeps a GiB of image out of the cache. Unaligned tails, and every
    /// write if the file system refuses direct I/O, go through `disk`.
    pub direct: Option<&'a File>,
    /// Its path, for errors.
    pub disk_path: &'a Path,
    /// The partition's label, for errors and progress.
    pub label: &'a str,
    /// The partition's byte range on the disk.
    pub range: Range<u64>,
}

/// Why the decoder or writer stopped.
enum StageError {
    TooLarge,
    Decode(io::Error),
    Write { offset: u64, source: io::Error },
    Panic(&'static str),
}

/// Streams target `target` (lz4 frame) from `repo`, decompressed, into `sink`. Returns the number
/// of decompressed bytes written. Nothing is synced here; the caller fsyncs the disk once.
pub fn write_image(
    repo: &Repo,
    target: &str,
    sink: &PartitionSink<'_>,
    progress: &mut Progress,
) -> Result<u64> {
    let capacity = sink.range.end - sink.range.start;
    let start = Instant::now();
    progress.start(target, sink.label);
    let (chunk_tx, chunk_rx) = sync_channel::<Bytes>(READ_DEPTH);
    let written = std::sync::atomic::AtomicU64::new(0);
    let (fetched, staged) = std::thread::scope(|scope| {
        let decoder = scope.spawn(|| decode_and_write(chunk_rx, sink, capacity, &written));
        let fetched: Result<()> = repo.block_on(async {
            let mut stream = repo.stream(target).await?;
            let mut tx = Some(chunk_tx);
            let mut last = Instant::now();
            while let Some(chunk) = stream.next().await {
                let chunk = chunk.map_err(|e| fetch_err(target, &e))?;
                // After the decoder stops (done or failed) keep reading, so tough still checks
                // the length and hash of the whole target: a verification failure is the better
                // explanation of a decode error.
                if let Some(sender) = &tx {
                    if sender.send(chunk).is_err() {
                        tx = None;
                    }
                }
                if last.elapsed() >= Duration::from_millis(200) {
                    last = Instant::now();
                    progress.update(written.load(std::sync::atomic::Ordering::Relaxed));
                }
            }
            Ok(())
        });
        let staged = decoder.join().unwrap_or(Err(StageError::Panic("decoder")));
        (fetched, staged)
    });
    // Verification failures win; without one, a stage error explains what went wrong.
    fetched?;
    let bytes = staged.map_err(|e| match e {
        StageError::TooLarge => Error::TooLarge {
            target: target.to_string(),
            label: sink.label.to_string(),
            disk: sink.disk_path.to_path_buf(),
            capacity,
        },
        StageError::Decode(e) => Error::Decompress {
            target: target.to_string(),
            label: sink.label.to_string(),
            reason: e.to_string(),
        },
        StageError::Write { offset, source } => Error::WritePartition {
            target: target.to_string(),
            label: sink.label.to_string(),
            disk: sink.disk_path.to_path_buf(),
            offset,
            source,
        },
        StageError::Panic(what) => Error::Thread(what),
    })?;
    progress.finish(bytes, start.elapsed());
    Ok(bytes)
}

/// The decoder thread: decompresses chunks from `rx` into large buffers and feeds a writer
/// thread. Returns the decompressed size.
fn decode_and_write(
    rx: Receiver<Bytes>,
    sink: &PartitionSink<'_>,
    capacity: u64,
    written: &std::sync::atomic::AtomicU64,
) -> std::result::Result<u64, StageError> {
    let mut decoder = lz4_flex::frame::FrameDecoder::new(ChannelReader {
        rx,
        current: Bytes::new(),
    });
    let (full_tx, full_rx) = sync_channel::<(u64, AlignedBuf)>(WRITE_DEPTH);
    let (empty_tx, empty_rx) = sync_channel::<AlignedBuf>(WRITE_DEPTH + 1);
    for _ in 0..=WRITE_DEPTH {
        let _ = empty_tx.send(AlignedBuf::new());
    }
    std::thread::scope(|scope| {
        let writer = scope.spawn(move || -> std::result::Result<(), StageError> {
            let mut direct = sink.direct;
            for (offset, buf) in full_rx {
                let at = sink.range.start + offset;
                write_at(sink.disk, &mut direct, buf.filled(), at)
                    .map_err(|source| StageError::Write { offset: at, source })?;
                written.fetch_add(buf.len as u64, std::sync::atomic::Ordering::Relaxed);
                // The decoder may be gone (finished); a lost buffer is fine then.
                let _ = empty_tx.send(buf);
            }
            Ok(())
        });
        let decoded = (|| {
            let mut total: u64 = 0;
            loop {
                let Ok(mut buf) = empty_rx.recv() else {
                    // The writer stopped early: its error is reported below.
                    return Ok(total);
                };
                let area = buf.area();
                let mut filled = 0;
                while filled < area.len() {
                    match decoder.read(&mut area[filled..]) {
                        Ok(0) => break,
                        Ok(n) => filled += n,
                        Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                        Err(e) => return Err(StageError::Decode(e)),
                    }
                    if total + filled as u64 > capacity {
                        return Err(StageError::TooLarge);
                    }
                }
                if filled == 0 {
                    return Ok(total);
                }
                buf.len = filled;
                if full_tx.send((total, buf)).is_err() {
                    return Ok(total);
                }
                total += filled as u64;
                if filled < WRITE_BUF {
                    return Ok(total);
                }
            }
        })();
        drop(full_tx);
        let wrote = writer.join().unwrap_or(Err(StageError::Panic("writer")));
        // A write error explains an early stop of the decoder; otherwise report the decoder's.
        wrote?;
        decoded
    })
}

/// A `WRITE_BUF`-sized area aligned for direct I/O (inside a slightly larger allocation) and how
/// much of it holds data.
struct AlignedBuf {
    storage: Vec<u8>,
    start: usize,
    len: usize,
}

impl AlignedBuf {
    fn new() -> Self {
        let storage = vec![0u8; WRITE_BUF + DIRECT_ALIGN];
        let start = storage.as_ptr().align_offset(DIRECT_ALIGN);
        Self {
            storage,
            start,
            len: 0,
        }
    }

    /// The whole aligned area, to fill.
    fn area(&mut self) -> &mut [u8] {
        &mut self.storage[self.start..self.start + WRITE_BUF]
    }

    /// The filled part.
    fn filled(&self) -> &[u8] {
        &self.storage[self.start..self.start + self.len]
    }
}

/// Writes `data` at `at`: its aligned head through `direct` when there is one (`data` starts
/// aligned, and `at` is: partitions start on MiB boundaries and buffers are written back to
/// back), the rest through `disk`. A file system that refuses direct I/O (`EINVAL`) turns it
/// off for the rest of the image.
fn write_at(disk: &File, direct: &mut Option<&File>, data: &[u8], at: u64) -> io::Result<()> {
    let aligned = data.len() / DIRECT_ALIGN * DIRECT_ALIGN;
    let mut done = 0;
    if let Some(file) = *direct {
        if aligned > 0 && at.is_multiple_of(DIRECT_ALIGN as u64) {
            match file.write_all_at(&data[..aligned], at) {
                Ok(()) => done = aligned,
                Err(e) if e.raw_os_error() == Some(libc::EINVAL) => *direct = None,
                Err(e) => return Err(e),
            }
        }
    }
    disk.write_all_at(&data[done..], at + done as u64)
}

/// Reads the compressed chunks the async task sends; end of input when the sender is dropped.
struct ChannelReader {
    rx: Receiver<Bytes>,
    current: Bytes,
}

impl Read for ChannelReader {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        while self.current.is_empty() {
            match self.rx.recv() {
                Ok(chunk) => self.current = chunk,
                Err(_) => return Ok(0),
            }
        }
        let n = out.len().min(self.current.len());
        out[..n].copy_from_slice(&self.current[..n]);
        let _ = self.current.split_to(n);
        Ok(n)
    }
}
