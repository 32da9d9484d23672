//! UEFI glue: the disk the stage was loaded from, a [`BlockDevice`] over its BlockIO, the
//! console, and starting a kernel through `LoadImage`/`StartImage`.

extern crate alloc;

use alloc::format;
use alloc::rc::Rc;
use alloc::string::String;
use alloc::vec;
use alloc::vec::Vec;
use core::cell::RefCell;
use core::fmt;
use core::time::Duration;

use boot_stage::stage::{self, Firmware};
use boot_stage::{LINE_PREFIX, RESET_DELAY_SECS};
use gptprio::BlockDevice;
use uefi::boot::{
    self, LoadImageSource, OpenProtocolAttributes, OpenProtocolParams, ScopedProtocol,
};
use uefi::prelude::*;
use uefi::proto::device_path::{DevicePath, DeviceSubType, DeviceType};
use uefi::proto::loaded_image::LoadedImage;
use uefi::proto::media::block::BlockIO;
use uefi::runtime::ResetType;
use uefi::CString16;

/// Prints `boot-stage: <line>` on the firmware console. The arrow of a decision line is written
/// `->` (firmware serial terminals render U+2192 as `>` or not at all); other characters the
/// console cannot show are dropped by the firmware, and a console error never stops the boot.
fn say(line: fmt::Arguments<'_>) {
    let text = format!("{LINE_PREFIX}{line}\r\n").replace('\u{2192}', "->");
    let Ok(text) = CString16::try_from(text.as_str()) else {
        return;
    };
    uefi::system::with_stdout(|out| {
        let _ = out.output_string_lossy(&text);
    });
}

/// What went wrong finding or using the boot disk, with the step that failed.
#[derive(Debug)]
struct GlueError {
    what: &'static str,
    status: Status,
}

impl fmt::Display for GlueError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {:?}", self.what, self.status)
    }
}

fn ctx<T: fmt::Debug>(what: &'static str) -> impl FnOnce(uefi::Error<T>) -> GlueError {
    move |e| GlueError {
        what,
        status: e.status(),
    }
}

/// Opens protocol `P` on `handle` without taking it from the drivers that use it (the partition
/// and filesystem drivers keep the disk's BlockIO open).
fn open_shared<P: uefi::proto::ProtocolPointer + ?Sized>(
    handle: Handle,
    what: &'static str,
) -> Result<ScopedProtocol<P>, GlueError> {
    // SAFETY: GetProtocol does not change who owns the protocol; the stage is the only user that
    // writes, and it does not uninstall anything.
    unsafe {
        boot::open_protocol::<P>(
            OpenProtocolParams {
                handle,
                agent: boot::image_handle(),
                controller: None,
            },
            OpenProtocolAttributes::GetProtocol,
        )
    }
    .map_err(ctx(what))
}

/// The whole disk the stage was loaded from: the device path of the loaded image's device
/// without its final hard-drive (partition) media node, and that device's BlockIO.
fn boot_disk() -> Result<ScopedProtocol<BlockIO>, GlueError> {
    let device = {
        let loaded = open_shared::<LoadedImage>(boot::image_handle(), "open LoadedImage")?;
        loaded.device().ok_or(GlueError {
            what: "the loaded image has no device handle",
            status: Status::NOT_FOUND,
        })?
    };
    let path = open_shared::<DevicePath>(device, "open the boot partition's DevicePath")?;
    // Keep every node before the last hard-drive node, then end the path.
    let mut disk_path: Vec<u8> = Vec::new();
    let mut kept = 0usize;
    let mut offset = 0usize;
    for node in path.node_iter() {
        let len = usize::from(node.length());
        if node.full_type() == (DeviceType::MEDIA, DeviceSubType::MEDIA_HARD_DRIVE) {
            kept = offset;
        }
        offset += len;
    }
    if kept == 0 {
        return Err(GlueError {
            what: "the stage was not loaded from a partition of a disk (no hard-drive node in its \
                   device path)",
            status: Status::NOT_FOUND,
        });
    }
    disk_path.extend_from_slice(&path.as_bytes()[..kept]);
    disk_path.extend_from_slice(&[0x7f, 0xff, 0x04, 0x00]);
    let mut remaining: &DevicePath =
        <&DevicePath>::try_from(disk_path.as_slice()).map_err(|_| GlueError {
            what: "build the whole disk's device path",
            status: Status::INVALID_PARAMETER,
        })?;
    let disk = boot::locate_device_path::<BlockIO>(&mut remaining)
        .map_err(ctx("find BlockIO on the whole disk"))?;
    if remaining.node_iter().next().is_some() {
        return Err(GlueError {
            what: "the BlockIO found is not the whole disk's",
            status: Status::NOT_FOUND,
        });
    }
    let bio = open_shared::<BlockIO>(disk, "open the disk's BlockIO")?;
    if bio.media().is_logical_partition() {
        return Err(GlueError {
            what: "the disk's BlockIO is a partition's",
            status: Status::NOT_FOUND,
        });
    }
    Ok(bio)
}

/// The disk's BlockIO as a [`BlockDevice`]; buffers are bounced through an aligned one when the
/// device asks for an alignment the caller's buffer lacks.
struct UefiDisk {
    bio: ScopedProtocol<BlockIO>,
    media_id: u32,
    block_size: u32,
    blocks: u64,
    align: usize,
}

/// A failed BlockIO call.
#[derive(Debug)]
struct DiskError {
    op: &'static str,
    lba: u64,
    status: Status,
}

impl fmt::Display for DiskError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "BlockIO {} at LBA {}: {:?}",
            self.op, self.lba, self.status
        )
    }
}

impl UefiDisk {
    fn new(bio: ScopedProtocol<BlockIO>) -> UefiDisk {
        let media = bio.media();
        UefiDisk {
            media_id: media.media_id(),
            block_size: media.block_size(),
            blocks: media.last_block().saturating_add(1),
            align: (media.io_align() as usize).max(1),
            bio,
        }
    }

    fn aligned(&self, len: usize) -> (Vec<u8>, usize) {
        let buf = vec![0u8; len + self.align];
        let start = buf.as_ptr().align_offset(self.align);
        (buf, start)
    }
}

impl BlockDevice for UefiDisk {
    type Error = DiskError;

    fn sector_size(&self) -> u32 {
        self.block_size
    }

    fn sector_count(&self) -> u64 {
        self.blocks
    }

    fn read(&mut self, lba: u64, buf: &mut [u8]) -> Result<(), DiskError> {
        let err = |e: uefi::Error| DiskError {
            op: "read",
            lba,
            status: e.status(),
        };
        if buf.as_ptr().align_offset(self.align) == 0 {
            return self.bio.read_blocks(self.media_id, lba, buf).map_err(err);
        }
        let (mut bounce, start) = self.aligned(buf.len());
        let len = buf.len();
        self.bio
            .read_blocks(self.media_id, lba, &mut bounce[start..start + len])
            .map_err(err)?;
        buf.copy_from_slice(&bounce[start..start + len]);
        Ok(())
    }

    fn write(&mut self, lba: u64, buf: &[u8]) -> Result<(), DiskError> {
        let err = |e: uefi::Error| DiskError {
            op: "write",
            lba,
            status: e.status(),
        };
        if buf.as_ptr().align_offset(self.align) == 0 {
            return self.bio.write_blocks(self.media_id, lba, buf).map_err(err);
        }
        let (mut bounce, start) = self.aligned(buf.len());
        bounce[start..start + buf.len()].copy_from_slice(buf);
        self.bio
            .write_blocks(self.media_id, lba, &bounce[start..start + buf.len()])
            .map_err(err)
    }

    fn flush(&mut self) -> Result<(), DiskError> {
        self.bio.flush_blocks().map_err(|e| DiskError {
            op: "flush",
            lba: 0,
            status: e.status(),
        })
    }
}

/// The firmware side of [`stage::run`].
struct Uefi;

impl Firmware for Uefi {
    type StartError = GlueError;

    fn say(&mut self, line: fmt::Arguments<'_>) {
        say(line);
    }

    fn start_kernel(&mut self, kernel: &[u8], load_options: &[u16]) -> Result<(), GlueError> {
        let image = boot::load_image(
            boot::image_handle(),
            LoadImageSource::FromBuffer {
                buffer: kernel,
                file_path: None,
            },
        )
        .map_err(ctx("LoadImage"))?;
        let size = u32::try_from(core::mem::size_of_val(load_options)).map_err(|_| GlueError {
            what: "the command line is too long",
            status: Status::BAD_BUFFER_SIZE,
        })?;
        let opened = boot::open_protocol_exclusive::<LoadedImage>(image).map(|mut loaded| {
            // SAFETY: `load_options` outlives the kernel's use of it: it is borrowed until
            // StartImage returns, and a kernel that runs never returns.
            unsafe { loaded.set_load_options(load_options.as_ptr().cast(), size) };
        });
        if let Err(e) = opened {
            let _ = boot::unload_image(image);
            return Err(ctx("open the kernel's LoadedImage")(e));
        }
        let started = boot::start_image(image).map_err(ctx("StartImage"));
        let _ = boot::unload_image(image);
        started
    }
}

#[entry]
fn main() -> Status {
    let halt: String = match boot_disk() {
        Ok(bio) => {
            let disk = Rc::new(RefCell::new(UefiDisk::new(bio)));
            format!("{}", stage::run(&disk, &mut Uefi))
        }
        Err(e) => format!("cannot find the disk the stage was loaded from: {e}"),
    };
    say(format_args!("{halt}"));
    say(format_args!("resetting in {RESET_DELAY_SECS} s"));
    boot::stall(Duration::from_secs(RESET_DELAY_SECS));
    uefi::runtime::reset(ResetType::COLD, Status::NOT_FOUND, None)
}
