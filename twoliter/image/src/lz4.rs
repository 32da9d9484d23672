//! Multi-threaded LZ4 compression of artifacts into ONE standard LZ4 frame.
//!
//! The frame declares independent 4 MiB blocks (FLG.B.Indep), so each block is compressed on its
//! own thread with the LZ4 block compressor; blocks are written in order, followed by the content
//! checksum. The result is a single ordinary frame: `lz4 -d`, `lz4 -t`, and single-frame
//! decoders such as the `lz4` crate's `Decoder` (used by Bottlerocket's updog) read all of it. The
//! output depends only on the input bytes, never on the thread count. Holes of a sparse input are
//! not read, and an all-zero block is compressed once.

use crate::error::{Error, Result};
use rayon::prelude::*;
use std::fs::File;
use std::hash::Hasher as _;
use std::io::Write;
use std::path::Path;

/// Bytes per block: the frame format's largest block size (BD = 7).
const BLOCK: usize = 4 << 20;
/// LZ4 frame magic number.
const MAGIC: u32 = 0x184D_2204;
/// FLG: version 01, independent blocks, content size present, content checksum present.
const FLG: u8 = 0b0110_1100;
/// BD: maximum block size 4 MiB.
const BD: u8 = 7 << 4;
/// Block size field bit marking a block stored uncompressed.
const UNCOMPRESSED: u32 = 1 << 31;

/// Compresses `input` into `output` (created or replaced); returns the compressed size.
pub fn compress_file(input: &Path, output: &Path) -> Result<u64> {
    let reader = File::open(input).map_err(|e| Error::io(input, "open", e))?;
    let len = reader
        .metadata()
        .map_err(|e| Error::io(input, "stat", e))?
        .len();
    let ranges =
        twoliter_sparse_file::data_ranges(&reader, len).map_err(|e| Error::io(input, "scan", e))?;
    let file = File::create(output).map_err(|e| Error::io(output, "create", e))?;
    let mut writer = std::io::BufWriter::with_capacity(1 << 20, file);
    let write_err = |e| Error::io(output, "write", e);

    let mut descriptor = vec![FLG, BD];
    descriptor.extend_from_slice(&len.to_le_bytes());
    let header_checksum = (twox_hash::XxHash32::oneshot(0, &descriptor) >> 8) as u8;
    writer.write_all(&MAGIC.to_le_bytes()).map_err(write_err)?;
    writer.write_all(&descriptor).map_err(write_err)?;
    writer.write_all(&[header_checksum]).map_err(write_err)?;
    let mut written = 4 + descriptor.len() as u64 + 1;

    let offsets: Vec<u64> = (0..len).step_by(BLOCK).collect();
    let batch = rayon::current_num_threads().max(1) * 4;
    let zero_block = std::sync::OnceLock::new();
    let mut content = twox_hash::XxHash32::with_seed(0);
    for group in offsets.chunks(batch) {
        let blocks: Vec<(Vec<u8>, std::sync::Arc<Vec<u8>>)> = group
            .par_iter()
            .map(|&offset| {
                let size = (len - offset).min(BLOCK as u64) as usize;
                let mut data = vec![0u8; size];
                let has_data = twoliter_sparse_file::read_at(&reader, &ranges, offset, &mut data)?;
                let packed = if !has_data && size == BLOCK {
                    zero_block
                        .get_or_init(|| std::sync::Arc::new(encode_block(&data)))
                        .clone()
                } else {
                    std::sync::Arc::new(encode_block(&data))
                };
                Ok((data, packed))
            })
            .collect::<std::io::Result<_>>()
            .map_err(|e| Error::io(input, "read", e))?;
        for (data, packed) in &blocks {
            content.write(data);
            writer.write_all(packed).map_err(write_err)?;
            written += packed.len() as u64;
        }
    }
    writer.write_all(&0u32.to_le_bytes()).map_err(write_err)?;
    writer
        .write_all(&content.finish_32().to_le_bytes())
        .map_err(write_err)?;
    written += 8;
    let file = writer
        .into_inner()
        .map_err(|e| Error::io(output, "write", e.into_error()))?;
    file.sync_all().map_err(|e| Error::io(output, "sync", e))?;
    Ok(written)
}

/// One frame block: its size field, then the LZ4-compressed bytes, or the raw bytes when
/// compression does not make them smaller.
fn encode_block(data: &[u8]) -> Vec<u8> {
    let compressed = lz4_flex::block::compress(data);
    let (size, body) = if compressed.len() < data.len() {
        (compressed.len() as u32, compressed.as_slice())
    } else {
        (data.len() as u32 | UNCOMPRESSED, data)
    };
    let mut block = Vec::with_capacity(4 + body.len());
    block.extend_from_slice(&size.to_le_bytes());
    block.extend_from_slice(body);
    block
}

/// Decompresses an LZ4 stream of one or more frames from `input` into `output`. Runs of zeros
/// become holes (disk images are mostly empty), so the output takes only the space of its data.
pub fn decompress_file(input: &Path, output: &Path) -> Result<u64> {
    use std::io::{BufRead, Read, Seek, SeekFrom, Write};
    let reader = File::open(input).map_err(|e| Error::io(input, "open", e))?;
    let mut writer = File::create(output).map_err(|e| Error::io(output, "create", e))?;
    let mut reader = std::io::BufReader::new(reader);
    let mut total = 0u64;
    let mut chunk = vec![0u8; 64 * 1024];
    // One decoder per frame: the frame decoder stops at the end of its frame.
    while !reader
        .fill_buf()
        .map_err(|e| Error::io(input, "read", e))?
        .is_empty()
    {
        let mut decoder = lz4_flex::frame::FrameDecoder::new(reader);
        loop {
            let n = read_full(&mut decoder, &mut chunk)
                .map_err(|e| Error::io(input, "decompress", e))?;
            if n == 0 {
                break;
            }
            if chunk[..n].iter().all(|&b| b == 0) {
                writer.seek(SeekFrom::Current(n as i64))
            } else {
                writer.write_all(&chunk[..n]).map(|()| 0)
            }
            .map_err(|e| Error::io(output, "write", e))?;
            total += n as u64;
        }
        reader = decoder.into_inner();
    }
    // A trailing hole needs the length set explicitly.
    writer
        .set_len(total)
        .map_err(|e| Error::io(output, "write", e))?;
    return Ok(total);

    fn read_full(reader: &mut impl Read, buf: &mut [u8]) -> std::io::Result<usize> {
        let mut filled = 0;
        while filled < buf.len() {
            match reader.read(&mut buf[filled..]) {
                Ok(0) => break,
                Ok(n) => filled += n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(filled)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_frame_that_a_single_frame_decoder_reads_whole() {
        use std::io::Read;
        let dir = tempfile::tempdir().unwrap();
        let input = dir.path().join("in");
        // 2.5 blocks: patterned, then incompressible, then zeros.
        let mut data: Vec<u8> = (0..BLOCK).map(|i| (i % 251) as u8).collect();
        let mut x = 0x9E37_79B9u32;
        data.extend((0..BLOCK).map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            x as u8
        }));
        data.extend(vec![0u8; BLOCK / 2]);
        std::fs::write(&input, &data).unwrap();
        let packed = dir.path().join("in.lz4");
        compress_file(&input, &packed).unwrap();
        // As updog decodes: one frame decoder over the whole file.
        let mut decoder = lz4_flex::frame::FrameDecoder::new(File::open(&packed).unwrap());
        let mut whole = Vec::new();
        decoder.read_to_end(&mut whole).unwrap();
        assert!(
            whole == data,
            "a single frame decoder did not read back the input"
        );
        let out = dir.path().join("out");
        decompress_file(&packed, &out).unwrap();
        assert!(
            std::fs::read(&out).unwrap() == data,
            "round trip changed the data"
        );
    }
}
