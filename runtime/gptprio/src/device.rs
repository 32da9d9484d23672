//! The block device the GPT code reads and writes: whole sectors by LBA.
//!
//! Kept tiny so that a UEFI `BlockIO` protocol, a `std::fs::File` (`FileDevice`, feature
//! `std`) and test wrappers can all implement it.

/// A disk of fixed-size sectors, addressed by LBA.
pub trait BlockDevice {
    /// What a failed read, write or flush reports.
    type Error;

    /// Bytes per sector (512 for every disk Bottlerocket ships on; 4096-byte sectors also work).
    fn sector_size(&self) -> u32 {
        512
    }

    /// Number of sectors on the disk (the last LBA is this minus one).
    fn sector_count(&self) -> u64;

    /// Reads `buf.len() / sector_size()` whole sectors starting at `lba` into `buf`, whose length
    /// is a multiple of the sector size.
    fn read(&mut self, lba: u64, buf: &mut [u8]) -> Result<(), Self::Error>;

    /// Writes `buf` (a whole number of sectors) starting at `lba`.
    fn write(&mut self, lba: u64, buf: &[u8]) -> Result<(), Self::Error>;

    /// Makes every write so far durable before returning.
    fn flush(&mut self) -> Result<(), Self::Error>;
}

impl<D: BlockDevice + ?Sized> BlockDevice for &mut D {
    type Error = D::Error;

    fn sector_size(&self) -> u32 {
        (**self).sector_size()
    }

    fn sector_count(&self) -> u64 {
        (**self).sector_count()
    }

    fn read(&mut self, lba: u64, buf: &mut [u8]) -> Result<(), Self::Error> {
        (**self).read(lba, buf)
    }

    fn write(&mut self, lba: u64, buf: &[u8]) -> Result<(), Self::Error> {
        (**self).write(lba, buf)
    }

    fn flush(&mut self) -> Result<(), Self::Error> {
        (**self).flush()
    }
}

#[cfg(feature = "std")]
mod file {
    use std::format;
    use std::fs::File;
    use std::io::{self, Read, Seek, SeekFrom, Write};

    use super::BlockDevice;

    /// A [`BlockDevice`] over an image file or a block device node.
    #[derive(Debug)]
    pub struct FileDevice {
        file: File,
        sector_size: u32,
        sectors: u64,
    }

    impl FileDevice {
        /// Wraps `file` with the given sector size. The size is found by seeking to the end, so
        /// block device nodes (whose metadata length is 0) work too; a trailing partial sector is
        /// not part of the device.
        pub fn new(mut file: File, sector_size: u32) -> io::Result<FileDevice> {
            if !sector_size.is_power_of_two() || sector_size < 512 {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    format!("sector size {sector_size} is not a power of two ≥ 512"),
                ));
            }
            let len = file.seek(SeekFrom::End(0))?;
            Ok(FileDevice {
                file,
                sector_size,
                sectors: len / u64::from(sector_size),
            })
        }

        /// The file.
        pub fn file(&self) -> &File {
            &self.file
        }

        /// Gives the file back.
        pub fn into_file(self) -> File {
            self.file
        }

        fn seek(&mut self, lba: u64) -> io::Result<()> {
            let offset = lba
                .checked_mul(u64::from(self.sector_size))
                .ok_or_else(|| {
                    io::Error::new(
                        io::ErrorKind::InvalidInput,
                        format!("LBA {lba} is out of range"),
                    )
                })?;
            self.file.seek(SeekFrom::Start(offset)).map(drop)
        }
    }

    impl BlockDevice for FileDevice {
        type Error = io::Error;

        fn sector_size(&self) -> u32 {
            self.sector_size
        }

        fn sector_count(&self) -> u64 {
            self.sectors
        }

        fn read(&mut self, lba: u64, buf: &mut [u8]) -> io::Result<()> {
            self.seek(lba)?;
            self.file.read_exact(buf)
        }

        fn write(&mut self, lba: u64, buf: &[u8]) -> io::Result<()> {
            self.seek(lba)?;
            self.file.write_all(buf)
        }

        fn flush(&mut self) -> io::Result<()> {
            self.file.sync_data()
        }
    }
}

#[cfg(feature = "std")]
pub use file::FileDevice;
