//! Disk image assembly for twoliter (DESIGN §2.4–2.8): a root tree and a boot tree become
//! reproducible filesystems, a dm-verity hash tree, a Bottlerocket A/B GPT OS disk (and data disk
//! for the split plan), and compressed, checksummed artifacts with a metadata file and a
//! per-partition usage report.
//!
//! External tools (mkfs.ext4, mkfs.erofs, resize2fs, debugfs, dumpe2fs, qemu-img) run through a
//! [`twoliter_engine::ToolRunner`]; dm-verity, GPT writing and LZ4 compression are done here.

#![forbid(unsafe_code)]

pub mod artifacts;
pub mod assemble;
pub mod bios;
pub mod efi;
pub mod error;
pub mod fs;
pub mod lz4;
pub mod metadata;

pub use assemble::{assemble, kernel_cmdline, AssembleInput, Assembled, ImageFormat, Timing};
pub use error::{Error, Result};
pub use fs::RootFs;
pub use metadata::{usage_table, Metadata, PartitionUsage};
