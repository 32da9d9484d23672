//! A streaming reader of the cpio archives in RPM payloads: SVR4 "newc" (`070701`), its CRC
//! variant (`070702`) and rpm's stripped variant (`07070X`, for files over 4 GiB, whose
//! metadata lives in the RPM header).

use std::io::{self, Read};

/// The name of the entry that ends an archive.
const TRAILER: &str = "TRAILER!!!";

/// Longest entry name accepted (rpm's own limit is PATH_MAX).
const MAX_NAME: usize = 4096;

/// One entry header.
#[derive(Debug, Clone, Default)]
pub(crate) struct Header {
    /// Name as stored (`./usr/bin/foo`); empty for stripped entries.
    pub name: String,
    /// For stripped entries, the index of the file in the RPM header.
    pub stripped_index: Option<usize>,
    pub ino: u32,
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
    pub nlink: u32,
    pub mtime: u32,
    /// Bytes of data following the header.
    pub size: u64,
    pub dev_major: u32,
    pub dev_minor: u32,
    pub rdev_major: u32,
    pub rdev_minor: u32,
}

/// Why the archive could not be read.
#[derive(Debug)]
pub(crate) enum CpioError {
    /// Reading (or decompressing) failed.
    Io(io::Error),
    /// The bytes are not a valid archive.
    Format(String),
}

impl std::fmt::Display for CpioError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CpioError::Io(e) if e.kind() == io::ErrorKind::UnexpectedEof => {
                f.write_str("the payload ends in the middle of an entry (truncated RPM?)")
            }
            CpioError::Io(e) => write!(f, "reading or decompressing the payload failed: {e}"),
            CpioError::Format(s) => f.write_str(s),
        }
    }
}

impl From<io::Error> for CpioError {
    fn from(e: io::Error) -> Self {
        CpioError::Io(e)
    }
}

/// Reads entries one after another from a decompressed payload.
pub(crate) struct Reader<R> {
    inner: R,
    /// Bytes consumed so far, for padding.
    offset: u64,
}

impl<R: Read> Reader<R> {
    /// Reads from the start of an archive.
    pub fn new(inner: R) -> Self {
        Reader { inner, offset: 0 }
    }

    fn read_exact(&mut self, buf: &mut [u8]) -> Result<(), CpioError> {
        self.inner.read_exact(buf)?;
        self.offset += buf.len() as u64;
        Ok(())
    }

    fn align(&mut self) -> Result<(), CpioError> {
        let pad = (4 - (self.offset % 4) as usize) % 4;
        let mut buf = [0u8; 3];
        self.read_exact(&mut buf[..pad])
    }

    fn hex(&mut self, field: &str) -> Result<u32, CpioError> {
        let mut buf = [0u8; 8];
        self.read_exact(&mut buf)?;
        std::str::from_utf8(&buf)
            .ok()
            .and_then(|s| u32::from_str_radix(s, 16).ok())
            .ok_or_else(|| {
                CpioError::Format(format!(
                    "header field {field} is not hexadecimal: {:?}",
                    String::from_utf8_lossy(&buf)
                ))
            })
    }

    /// Reads the next header; `None` at the trailer. The caller must then consume exactly
    /// `size` bytes with [`Reader::data`] (or [`Reader::skip`]) before the next call.
    /// `stripped_size` gives the data size of a stripped entry from its header index.
    pub fn next(
        &mut self,
        stripped_size: impl Fn(usize) -> Option<u64>,
    ) -> Result<Option<Header>, CpioError> {
        let mut magic = [0u8; 6];
        self.read_exact(&mut magic)?;
        match &magic {
            b"070701" | b"070702" => {}
            b"07070X" => {
                let index = self.hex("file index")? as usize;
                self.align()?;
                if index == u32::MAX as usize {
                    return Ok(None);
                }
                let size = stripped_size(index).ok_or_else(|| {
                    CpioError::Format(format!(
                        "stripped entry refers to file #{index}, which the header does not list"
                    ))
                })?;
                return Ok(Some(Header {
                    stripped_index: Some(index),
                    size,
                    ..Header::default()
                }));
            }
            other => {
                return Err(CpioError::Format(format!(
                    "bad entry magic {:?} (expected 070701, the newc format)",
                    String::from_utf8_lossy(other)
                )))
            }
        }
        let ino = self.hex("ino")?;
        let mode = self.hex("mode")?;
        let uid = self.hex("uid")?;
        let gid = self.hex("gid")?;
        let nlink = self.hex("nlink")?;
        let mtime = self.hex("mtime")?;
        let size = self.hex("filesize")?;
        let dev_major = self.hex("devmajor")?;
        let dev_minor = self.hex("devminor")?;
        let rdev_major = self.hex("rdevmajor")?;
        let rdev_minor = self.hex("rdevminor")?;
        let name_size = self.hex("namesize")? as usize;
        let _check = self.hex("check")?;
        if name_size == 0 || name_size > MAX_NAME {
            return Err(CpioError::Format(format!(
                "entry name length {name_size} is out of range 1..={MAX_NAME}"
            )));
        }
        let mut name = vec![0u8; name_size];
        self.read_exact(&mut name)?;
        if name.pop() != Some(0) {
            return Err(CpioError::Format("entry name is not NUL-terminated".into()));
        }
        self.align()?;
        let name = String::from_utf8(name).map_err(|e| {
            CpioError::Format(format!(
                "entry name {:?} is not UTF-8",
                String::from_utf8_lossy(e.as_bytes())
            ))
        })?;
        if name == TRAILER {
            return Ok(None);
        }
        Ok(Some(Header {
            name,
            stripped_index: None,
            ino,
            mode,
            uid,
            gid,
            nlink,
            mtime,
            size: u64::from(size),
            dev_major,
            dev_minor,
            rdev_major,
            rdev_minor,
        }))
    }

    /// Copies the current entry's `size` data bytes to `out`, then skips the padding.
    pub fn data(&mut self, size: u64, out: &mut impl io::Write) -> Result<(), CpioError> {
        let copied = io::copy(&mut (&mut self.inner).take(size), out)?;
        self.offset += copied;
        if copied != size {
            return Err(CpioError::Io(io::ErrorKind::UnexpectedEof.into()));
        }
        self.align()
    }

    /// Reads the current entry's data into memory (for symlink targets).
    pub fn data_vec(&mut self, size: u64, limit: u64) -> Result<Vec<u8>, CpioError> {
        if size > limit {
            return Err(CpioError::Format(format!(
                "entry data of {size} bytes is longer than the {limit} allowed"
            )));
        }
        let mut v = Vec::new();
        self.data(size, &mut v)?;
        Ok(v)
    }

    /// Skips the current entry's data.
    pub fn skip(&mut self, size: u64) -> Result<(), CpioError> {
        self.data(size, &mut io::sink())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(name: &str, mode: u32, data: &[u8]) -> Vec<u8> {
        let mut v = format!(
            "070701{:08x}{:08x}{:08x}{:08x}{:08x}{:08x}{:08x}{:08x}{:08x}{:08x}{:08x}{:08x}{:08x}",
            1,
            mode,
            0,
            0,
            1,
            0,
            data.len(),
            0,
            0,
            0,
            0,
            name.len() + 1,
            0
        )
        .into_bytes();
        v.extend_from_slice(name.as_bytes());
        v.push(0);
        while v.len() % 4 != 0 {
            v.push(0);
        }
        v.extend_from_slice(data);
        while v.len() % 4 != 0 {
            v.push(0);
        }
        v
    }

    #[test]
    fn reads_entries_and_trailer() {
        let mut archive = entry("./a", 0o100644, b"hello");
        archive.extend(entry("./bb", 0o040755, b""));
        archive.extend(entry(TRAILER, 0, b""));
        let mut r = Reader::new(&archive[..]);
        let h = r.next(|_| None).unwrap().unwrap();
        assert_eq!((h.name.as_str(), h.mode, h.size), ("./a", 0o100644, 5));
        let mut data = Vec::new();
        r.data(h.size, &mut data).unwrap();
        assert_eq!(data, b"hello");
        let h = r.next(|_| None).unwrap().unwrap();
        assert_eq!(h.name, "./bb");
        r.skip(h.size).unwrap();
        assert!(r.next(|_| None).unwrap().is_none());
    }

    #[test]
    fn rejects_garbage_and_truncation() {
        let mut r = Reader::new(&b"garbage-garbage"[..]);
        assert!(matches!(r.next(|_| None), Err(CpioError::Format(_))));
        let archive = entry("./a", 0o100644, b"hello");
        let mut r = Reader::new(&archive[..archive.len() - 4]);
        let h = r.next(|_| None).unwrap().unwrap();
        assert!(matches!(r.skip(h.size), Err(CpioError::Io(_))));
    }
}
