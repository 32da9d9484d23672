//! Multi-threaded LZ4 compression of artifacts.
//!
//! The input is cut into fixed 8 MiB chunks, each compressed on its own thread into an
//! independent LZ4 frame (with content checksum); the frames are written in order. Concatenated
//! frames are a valid LZ4 stream (`lz4 -d` and every frame decoder read them), and the output
//! depends only on the input bytes, never on the thread count.

use crate::error::{Error, Result};
use rayon::prelude::*;
use std::fs::File;
use std::io::Write;
use std::path::Path;

/// Bytes per independently compressed frame.
const CHUNK: usize = 8 << 20;

/// Compresses `input` into `output` (created or replaced); returns the compressed size.
/// Holes of a sparse input are not read, and an all-zero chunk is compressed only once.
pub fn compress_file(input: &Path, output: &Path) -> Result<u64> {
    let reader = File::open(input).map_err(|e| Error::io(input, "open", e))?;
    let len = reader
        .metadata()
        .map_err(|e| Error::io(input, "stat", e))?
        .len();
    let ranges =
        crate::sparse::data_ranges(&reader, len).map_err(|e| Error::io(input, "scan", e))?;
    let mut writer = File::create(output).map_err(|e| Error::io(output, "create", e))?;
    let offsets: Vec<u64> = (0..len).step_by(CHUNK).collect();
    let batch = rayon::current_num_threads().max(1) * 2;
    let zero_frame = std::sync::OnceLock::new();
    let mut written = 0u64;
    for group in offsets.chunks(batch) {
        let frames: Vec<Vec<u8>> = group
            .par_iter()
            .map(|&offset| {
                let size = (len - offset).min(CHUNK as u64) as usize;
                let mut chunk = vec![0u8; size];
                let has_data = crate::sparse::read_at(&reader, &ranges, offset, &mut chunk)?;
                if !has_data && size == CHUNK {
                    return Ok(zero_frame
                        .get_or_init(|| compress_frame(&chunk))
                        .as_ref()
                        .map_err(|e| std::io::Error::other(e.to_string()))?
                        .clone());
                }
                compress_frame(&chunk)
            })
            .collect::<std::io::Result<_>>()
            .map_err(|e| Error::io(input, "compress", e))?;
        for frame in &frames {
            writer
                .write_all(frame)
                .map_err(|e| Error::io(output, "write", e))?;
            written += frame.len() as u64;
        }
    }
    writer
        .sync_all()
        .map_err(|e| Error::io(output, "sync", e))?;
    Ok(written)
}

fn compress_frame(chunk: &[u8]) -> std::io::Result<Vec<u8>> {
    let info = lz4_flex::frame::FrameInfo::new()
        .block_size(lz4_flex::frame::BlockSize::Max4MB)
        .content_checksum(true);
    let mut encoder =
        lz4_flex::frame::FrameEncoder::with_frame_info(info, Vec::with_capacity(chunk.len() / 2));
    encoder.write_all(chunk)?;
    encoder.finish().map_err(std::io::Error::other)
}

/// Decompresses an LZ4 stream of one or more frames from `input` into `output`.
pub fn decompress_file(input: &Path, output: &Path) -> Result<u64> {
    use std::io::BufRead;
    let reader = File::open(input).map_err(|e| Error::io(input, "open", e))?;
    let mut writer = File::create(output).map_err(|e| Error::io(output, "create", e))?;
    let mut reader = std::io::BufReader::new(reader);
    let mut total = 0;
    // One decoder per frame: the frame decoder stops at the end of its frame.
    while !reader
        .fill_buf()
        .map_err(|e| Error::io(input, "read", e))?
        .is_empty()
    {
        let mut decoder = lz4_flex::frame::FrameDecoder::new(reader);
        total += std::io::copy(&mut decoder, &mut writer)
            .map_err(|e| Error::io(input, "decompress", e))?;
        reader = decoder.into_inner();
    }
    Ok(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_across_frames() {
        let dir = tempfile::tempdir().unwrap();
        let input = dir.path().join("in");
        // 2.5 chunks of patterned data, so several frames are written.
        let data: Vec<u8> = (0..(CHUNK * 5 / 2)).map(|i| (i % 251) as u8).collect();
        std::fs::write(&input, &data).unwrap();
        let packed = dir.path().join("in.lz4");
        compress_file(&input, &packed).unwrap();
        let out = dir.path().join("out");
        decompress_file(&packed, &out).unwrap();
        assert!(
            std::fs::read(&out).unwrap() == data,
            "round trip changed the data"
        );
    }
}
