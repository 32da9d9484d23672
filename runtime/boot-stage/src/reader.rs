//! Byte-addressed reads of one partition over a sector [`BlockDevice`], for `ext4-view`.

use alloc::boxed::Box;
use alloc::format;
use alloc::rc::Rc;
use alloc::string::String;
use alloc::vec;
use core::cell::RefCell;
use core::fmt;

use ext4_view::Ext4Read;
use gptprio::BlockDevice;

/// A disk shared by the GPT code and the partition readers of one boot (the stage is
/// single-threaded; `ext4-view` wants to own its reader).
pub type SharedDisk<D> = Rc<RefCell<D>>;

/// A read of a partition's bytes that failed or left the partition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReadError {
    /// `len` bytes at byte `offset` of the partition go past its end (`size` bytes).
    OutOfRange {
        /// Byte offset in the partition.
        offset: u64,
        /// Bytes asked for.
        len: usize,
        /// Bytes in the partition.
        size: u64,
    },
    /// The device failed to read `sectors` sectors at disk LBA `lba`.
    Device {
        /// First disk LBA of the read.
        lba: u64,
        /// Sectors in the read.
        sectors: u64,
        /// The device's error, as text.
        message: String,
    },
}

impl fmt::Display for ReadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ReadError::OutOfRange { offset, len, size } => write!(
                f,
                "read of {len} bytes at offset {offset} leaves the {size}-byte partition"
            ),
            ReadError::Device {
                lba,
                sectors,
                message,
            } => write!(f, "cannot read {sectors} sectors at LBA {lba}: {message}"),
        }
    }
}

impl core::error::Error for ReadError {}

/// Sectors read per device call at most (1 MiB of 512-byte sectors): bounds the bounce buffer.
const MAX_SECTORS_PER_READ: u64 = 2048;

/// The bytes of LBAs `first_lba..=last_lba` of a disk, as one byte-addressed volume.
pub struct PartitionReader<D> {
    disk: SharedDisk<D>,
    first_lba: u64,
    sectors: u64,
}

impl<D: BlockDevice> PartitionReader<D> {
    /// A reader of the partition spanning `first_lba..=last_lba` (inclusive, as GPT entries say).
    /// An inverted range gives an empty partition.
    pub fn new(disk: SharedDisk<D>, first_lba: u64, last_lba: u64) -> PartitionReader<D> {
        let sectors = last_lba
            .checked_sub(first_lba)
            .map_or(0, |n| n.saturating_add(1));
        PartitionReader {
            disk,
            first_lba,
            sectors,
        }
    }

    /// Size of the partition in bytes.
    pub fn size(&self) -> u64 {
        let ss = u64::from(self.disk.borrow().sector_size());
        self.sectors.saturating_mul(ss)
    }

    /// Reads `dst.len()` bytes at byte `offset` of the partition.
    pub fn read_at(&mut self, offset: u64, dst: &mut [u8]) -> Result<(), ReadError>
    where
        D::Error: fmt::Display,
    {
        let size = self.size();
        let out_of_range = ReadError::OutOfRange {
            offset,
            len: dst.len(),
            size,
        };
        let end = offset
            .checked_add(dst.len() as u64)
            .ok_or_else(|| out_of_range.clone())?;
        if end > size {
            return Err(out_of_range);
        }
        if dst.is_empty() {
            return Ok(());
        }
        let mut disk = self.disk.borrow_mut();
        let ss = u64::from(disk.sector_size());
        let mut done = 0usize;
        let mut bounce = vec![];
        while done < dst.len() {
            let pos = offset + done as u64;
            let sector = pos / ss;
            let skip = (pos % ss) as usize;
            let want = dst.len() - done;
            let last_sector = (pos + want as u64 - 1) / ss;
            let count = (last_sector - sector + 1).min(MAX_SECTORS_PER_READ);
            let lba = self.first_lba + sector;
            let bytes = (count * ss) as usize;
            let take = (bytes - skip).min(want);
            let device_err = |e: D::Error| ReadError::Device {
                lba,
                sectors: count,
                message: format!("{e}"),
            };
            if skip == 0 && take == bytes {
                // Whole sectors straight into the caller's buffer.
                disk.read(lba, &mut dst[done..done + take])
                    .map_err(device_err)?;
            } else {
                bounce.resize(bytes, 0);
                disk.read(lba, &mut bounce).map_err(device_err)?;
                dst[done..done + take].copy_from_slice(&bounce[skip..skip + take]);
            }
            done += take;
        }
        Ok(())
    }
}

impl<D> Ext4Read for PartitionReader<D>
where
    D: BlockDevice,
    D::Error: fmt::Display,
{
    fn read(
        &mut self,
        start_byte: u64,
        dst: &mut [u8],
    ) -> Result<(), Box<dyn core::error::Error + Send + Sync + 'static>> {
        self.read_at(start_byte, dst).map_err(|e| Box::new(e) as _)
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use alloc::string::ToString;
    use alloc::vec::Vec;

    /// An in-memory disk that counts reads and can fail at one LBA.
    pub struct MemDisk {
        pub bytes: Vec<u8>,
        pub sector_size: u32,
        pub fail_at: Option<u64>,
        pub reads: usize,
    }

    impl MemDisk {
        pub fn new(bytes: Vec<u8>, sector_size: u32) -> MemDisk {
            MemDisk {
                bytes,
                sector_size,
                fail_at: None,
                reads: 0,
            }
        }
    }

    impl BlockDevice for MemDisk {
        type Error = String;
        fn sector_size(&self) -> u32 {
            self.sector_size
        }
        fn sector_count(&self) -> u64 {
            self.bytes.len() as u64 / u64::from(self.sector_size)
        }
        fn read(&mut self, lba: u64, buf: &mut [u8]) -> Result<(), String> {
            self.reads += 1;
            let ss = u64::from(self.sector_size);
            let n = buf.len() as u64 / ss;
            if self.fail_at.is_some_and(|f| (lba..lba + n).contains(&f)) {
                return Err("injected failure".into());
            }
            let at = (lba * ss) as usize;
            let src = self
                .bytes
                .get(at..at + buf.len())
                .ok_or_else(|| String::from("past the end"))?;
            buf.copy_from_slice(src);
            Ok(())
        }
        fn write(&mut self, lba: u64, buf: &[u8]) -> Result<(), String> {
            let at = (lba * u64::from(self.sector_size)) as usize;
            self.bytes
                .get_mut(at..at + buf.len())
                .ok_or_else(|| String::from("past the end"))?
                .copy_from_slice(buf);
            Ok(())
        }
        fn flush(&mut self) -> Result<(), String> {
            Ok(())
        }
    }

    fn disk() -> SharedDisk<MemDisk> {
        let bytes: Vec<u8> = (0..64 * 512u32).map(|i| (i % 251) as u8).collect();
        Rc::new(RefCell::new(MemDisk::new(bytes, 512)))
    }

    #[test]
    fn reads_unaligned_ranges_inside_the_partition() {
        let d = disk();
        let mut r = PartitionReader::new(d.clone(), 4, 11); // 8 sectors = 4096 bytes
        assert_eq!(r.size(), 4096);
        for (offset, len) in [
            (0u64, 512usize),
            (1, 1),
            (511, 2),
            (100, 3000),
            (0, 4096),
            (4095, 1),
        ] {
            let mut buf = vec![0u8; len];
            r.read_at(offset, &mut buf).unwrap();
            let start = 4 * 512 + offset as usize;
            let expect: Vec<u8> = (start..start + len).map(|i| (i % 251) as u8).collect();
            assert_eq!(buf, expect, "offset {offset} len {len}");
        }
    }

    #[test]
    fn refuses_reads_past_the_end_and_reports_device_errors() {
        let d = disk();
        let mut r = PartitionReader::new(d.clone(), 4, 11);
        let mut buf = [0u8; 2];
        assert_eq!(
            r.read_at(4095, &mut buf),
            Err(ReadError::OutOfRange {
                offset: 4095,
                len: 2,
                size: 4096
            })
        );
        assert!(r.read_at(u64::MAX, &mut buf).is_err());
        d.borrow_mut().fail_at = Some(6);
        let err = r.read_at(1024, &mut buf).unwrap_err();
        assert_eq!(
            err.to_string(),
            "cannot read 1 sectors at LBA 6: injected failure"
        );
        let empty = PartitionReader::new(d, 5, 4);
        assert_eq!(empty.size(), 0);
    }

    #[test]
    fn large_reads_are_split() {
        let bytes = vec![7u8; 3000 * 512];
        let d = Rc::new(RefCell::new(MemDisk::new(bytes, 512)));
        let mut r = PartitionReader::new(d.clone(), 0, 2999);
        let mut buf = vec![0u8; 2500 * 512];
        r.read_at(0, &mut buf).unwrap();
        assert!(buf.iter().all(|&b| b == 7));
        assert_eq!(d.borrow().reads, 2);
    }
}
