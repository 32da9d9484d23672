//! Multi-threaded LZ4 compression of artifacts.
//!
//! The input is cut into fixed 8 MiB chunks, each compressed on its own thread into an
//! independent LZ4 frame (with content checksum); the frames are written in order. Concatenated
//! frames are a valid LZ4 stream (`lz4 -d` and every frame decoder read them), and the output
//! depends only on the input bytes, never on the thread count.

use crate::error::{Error, Result};
use rayon::prelude::*;
use std::fs::File;
use std::io::{Read, Write};
use std::path::Path;

/// Bytes per independently compressed frame.
const CHUNK: usize = 8 << 20;

/// Compresses `input` into `output` (created or replaced); returns the compressed size.
pub fn compress_file(input: &Path, output: &Path) -> Result<u64> {
    let mut reader = File::open(input).map_err(|e| Error::io(input, "open", e))?;
    let mut writer = File::create(output).map_err(|e| Error::io(output, "create", e))?;
    let batch = rayon::current_num_threads().max(1) * 2;
    let mut written = 0u64;
    loop {
        let mut chunks = Vec::with_capacity(batch);
        for _ in 0..batch {
            let chunk = read_chunk(&mut reader, input)?;
            if chunk.is_empty() {
                break;
            }
            chunks.push(chunk);
        }
        if chunks.is_empty() {
            break;
        }
        let frames: Vec<Vec<u8>> = chunks
            .par_iter()
            .map(|chunk| compress_frame(chunk))
            .collect::<std::io::Result<_>>()
            .map_err(|e| Error::io(output, "compress into", e))?;
        for frame in &frames {
            writer
                .write_all(frame)
                .map_err(|e| Error::io(output, "write", e))?;
            written += frame.len() as u64;
        }
    }
    writer.sync_all().map_err(|e| Error::io(output, "sync", e))?;
    Ok(written)
}

fn read_chunk(reader: &mut File, path: &Path) -> Result<Vec<u8>> {
    let mut chunk = Vec::with_capacity(CHUNK);
    Read::by_ref(reader)
        .take(CHUNK as u64)
        .read_to_end(&mut chunk)
        .map_err(|e| Error::io(path, "read", e))?;
    Ok(chunk)
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
        assert!(std::fs::read(&out).unwrap() == data, "round trip changed the data");
    }
}
