//! `publish snapshot upload`: one raw disk image as an EBS snapshot.

use crate::ami;
use crate::aws::{Aws, Region};
use crate::progress::UploadBar;
use crate::{Error, Result};
use std::io::Read;
use std::path::Path;
use std::time::Duration;
use twoliter_ebs_upload::{UploadOptions, Uploaded};

/// How long `upload` waits for the snapshot to complete when asked to.
const WAIT_TIMEOUT: Duration = Duration::from_secs(7200);

/// A snapshot must be the raw disk: refuses the packed formats twoliter writes beside it (and
/// other common ones), by their magic bytes, naming the way to unpack them.
///
/// # Errors
/// [`Error::Usage`] for a packed image, [`Error::Io`] when `file` cannot be read.
pub fn check_raw_image(file: &Path) -> Result<()> {
    let mut magic = [0u8; 4];
    let read = std::fs::File::open(file)
        .and_then(|mut f| f.read(&mut magic))
        .map_err(|e| Error::io("read", file, e))?;
    let format = match &magic[..read] {
        [0x04, 0x22, 0x4d, 0x18] => "lz4-compressed (decompress it: lz4 -d)",
        [b'Q', b'F', b'I', 0xfb] => "a qcow2 image (convert it: qemu-img convert -O raw)",
        [b'K', b'D', b'M', b'V'] => "a VMDK image (convert it: qemu-img convert -O raw)",
        [0xfd, b'7', b'z', b'X'] => "xz-compressed",
        [0x1f, 0x8b, ..] => "gzip-compressed",
        _ => return Ok(()),
    };
    Err(Error::Usage(format!(
        "{} is {format}; a snapshot takes the raw disk image",
        file.display()
    )))
}

/// Uploads the raw image `file` as a snapshot in `region` (after [`check_raw_image`]), showing
/// progress; with `wait`, waits until EC2 reports it `completed`.
///
/// # Errors
/// [`Error::Upload`] for a failed upload, and the errors of [`check_raw_image`] and
/// [`ami::wait_snapshot`].
pub async fn upload(
    aws: &Aws,
    region: &Region,
    file: &Path,
    options: &UploadOptions,
    wait: bool,
) -> Result<Uploaded> {
    check_raw_image(file)?;
    let region = region.as_str();
    let bar = UploadBar::new(region, file);
    let uploaded = twoliter_ebs_upload::upload_file(&aws.ebs(region), file, options, &bar)
        .await
        .map_err(|source| Error::Upload {
            path: file.to_path_buf(),
            region: region.to_string(),
            source: Box::new(source),
        })?;
    if wait {
        ami::wait_snapshot(
            &aws.ec2(region),
            region,
            &uploaded.snapshot_id,
            WAIT_TIMEOUT,
        )
        .await?;
    }
    Ok(uploaded)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn packed_images_are_refused_with_the_way_to_unpack_them() {
        let tmp = tempfile::tempdir().unwrap();
        let cases: [(&[u8], Option<&str>); 7] = [
            (&[0x04, 0x22, 0x4d, 0x18, 0], Some("lz4 -d")),
            (b"QFI\xfb....", Some("qcow2")),
            (b"KDMV....", Some("VMDK")),
            (b"\xfd7zXZ\0", Some("xz")),
            (&[0x1f, 0x8b, 8], Some("gzip")),
            (&[0; 4096], None),
            (b"", None),
        ];
        for (i, (bytes, refused)) in cases.into_iter().enumerate() {
            let file = tmp.path().join(format!("{i}.img"));
            std::fs::write(&file, bytes).unwrap();
            match (check_raw_image(&file), refused) {
                (Ok(()), None) => {}
                (Err(error), Some(hint)) => {
                    let text = error.to_string();
                    assert!(
                        text.contains(hint) && text.contains("raw disk image"),
                        "{text}"
                    );
                }
                (result, _) => panic!("case {i}: {result:?}"),
            }
        }
        let error = check_raw_image(&tmp.path().join("none")).unwrap_err();
        assert!(error.to_string().contains("none"), "{error}");
    }
}
