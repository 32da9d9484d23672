//! Sparse-file helpers: find where a file holds data so holes are neither read nor written.
//! Reading a hole costs as much as reading data on many filesystems, and disk images are mostly
//! holes.

#![forbid(unsafe_code)]

use std::fs::File;
use std::os::unix::fs::FileExt;

use rustix::fs::{seek, SeekFrom};
use rustix::io::Errno;

/// The byte ranges `[start, end)` of `file` (of length `len`) that may hold data, in order.
/// Filesystems without hole reporting give one range covering the whole file.
pub fn data_ranges(file: &File, len: u64) -> std::io::Result<Vec<(u64, u64)>> {
    let mut ranges = Vec::new();
    let mut offset = 0u64;
    while offset < len {
        let start = match seek(file, SeekFrom::Data(offset)) {
            Ok(start) => start,
            // No data after `offset`.
            Err(Errno::NXIO) => return Ok(ranges),
            // No hole reporting: treat everything as data.
            Err(Errno::INVAL) | Err(Errno::OPNOTSUPP) => return Ok(vec![(0, len)]),
            Err(e) => return Err(e.into()),
        };
        let end = seek(file, SeekFrom::Hole(start))?;
        let end = end.min(len);
        if start >= end {
            break;
        }
        ranges.push((start, end));
        offset = end;
    }
    Ok(ranges)
}

/// Fills `buffer` with the bytes of `file` at `offset`, reading only the parts that `ranges`
/// (from [`data_ranges`]) say hold data; the rest is zeroed. Returns false when the whole buffer
/// lies in a hole.
pub fn read_at(
    file: &File,
    ranges: &[(u64, u64)],
    offset: u64,
    buffer: &mut [u8],
) -> std::io::Result<bool> {
    let end = offset + buffer.len() as u64;
    buffer.fill(0);
    let mut any = false;
    let first = ranges.partition_point(|&(_, e)| e <= offset);
    for &(start, stop) in &ranges[first..] {
        if start >= end {
            break;
        }
        let (from, to) = (start.max(offset), stop.min(end));
        let slice = &mut buffer[(from - offset) as usize..(to - offset) as usize];
        file.read_exact_at(slice, from)?;
        any = true;
    }
    Ok(any)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Seek, SeekFrom, Write};

    #[test]
    fn reads_data_and_zero_fills_holes() {
        let mut file = tempfile::tempfile().unwrap();
        file.set_len(64 << 20).unwrap();
        file.seek(SeekFrom::Start(40 << 20)).unwrap();
        file.write_all(&[7u8; 8192]).unwrap();
        let ranges = data_ranges(&file, 64 << 20).unwrap();
        assert!(ranges
            .iter()
            .any(|&(s, e)| s <= 40 << 20 && e >= (40 << 20) + 8192));
        let mut buffer = vec![1u8; 16384];
        assert!(read_at(&file, &ranges, (40 << 20) - 4096, &mut buffer).unwrap());
        assert!(buffer[..4096].iter().all(|&b| b == 0));
        assert!(buffer[4096..12288].iter().all(|&b| b == 7));
        let mut hole = vec![1u8; 4096];
        let in_hole = read_at(&file, &ranges, 1 << 20, &mut hole).unwrap();
        assert!(hole.iter().all(|&b| b == 0));
        // Filesystems without hole reporting read it as data; either way it is zero.
        let _ = in_hole;
    }
}
