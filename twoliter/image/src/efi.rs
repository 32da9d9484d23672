//! The EFI system partition: a FAT filesystem made from the `efi/` directory of the boot tree
//! (what packages install under `/boot/efi`, e.g. `EFI/BOOT/BOOTX64.EFI`) by dosfstools and
//! mtools, bit-identical across builds: `mkfs.fat --invariant` with a volume id from the image
//! seed, and mtools' times from the build epoch (`SOURCE_DATE_EPOCH`, and `mcopy -m` with every
//! file's time set to it first), so neither the build time nor the files' times reach the image.

use std::path::{Path, PathBuf};

use twoliter_engine::{ToolCommand, ToolRunner};

use crate::error::{Error, Result};

/// Where, in the boot tree, the EFI system partition's files are.
pub const EFI_TREE: &str = "efi";

/// Where firmware looks for the boot loader of a disk it has no boot entry for (UEFI's
/// removable-media path), on `arch`; `None` for an architecture without one.
pub fn removable_media_path(arch: &str) -> Option<&'static str> {
    match arch {
        "x86_64" => Some("EFI/BOOT/BOOTX64.EFI"),
        "aarch64" => Some("EFI/BOOT/BOOTAA64.EFI"),
        _ => None,
    }
}

/// The volume label of EFI-SYSTEM.
const LABEL: &str = "EFI-SYSTEM";

/// What to put into an EFI system partition.
#[derive(Debug, Clone, Copy)]
pub struct EfiSpec<'a> {
    /// The files (`EFI/BOOT/BOOTX64.EFI`, ...); their times are set to `epoch`.
    pub tree: &'a Path,
    /// The partition size, bytes (a multiple of 512).
    pub size: u64,
    /// The FAT volume id.
    pub volume_id: u32,
    /// Every time in the filesystem, seconds since 1970 (FAT keeps even seconds from 1980).
    pub epoch: u64,
}

/// Writes the FAT filesystem `spec` describes into the new file `out`; returns the bytes its
/// files take.
///
/// # Errors
/// [`Error::Io`] when `tree` cannot be read or `out` written, [`Error::Invalid`] for an entry
/// that is neither a file nor a directory, [`Error::Tool`] when a tool fails (e.g. the files do
/// not fit).
pub fn make_fat(runner: &dyn ToolRunner, spec: &EfiSpec<'_>, out: &Path) -> Result<u64> {
    let entries = tree_entries(spec.tree)?;
    let time = std::time::UNIX_EPOCH + std::time::Duration::from_secs(spec.epoch);
    for (path, _) in &entries {
        let file = std::fs::File::open(path).map_err(|e| Error::io(path, "open", e))?;
        file.set_modified(time)
            .map_err(|e| Error::io(path, "set the time of", e))?;
    }
    if out.exists() {
        std::fs::remove_file(out).map_err(|e| Error::io(out, "remove", e))?;
    }
    let tool = |what: &str| {
        let what = format!("{what} the EFI system partition {}", out.display());
        move |source| Error::Tool { what, source }
    };
    runner
        .run(
            &ToolCommand::new("mkfs.fat")
                .args(["--invariant", "-n", LABEL])
                .arg("-i")
                .arg(format!("{:08x}", spec.volume_id))
                .arg("-C")
                .arg(out)
                .arg((spec.size / 1024).to_string()),
        )
        .map_err(tool("format"))?;
    let mut used = 0;
    let image = out.display().to_string();
    let epoch = spec.epoch.to_string();
    for (path, is_dir) in &entries {
        let relative = path.strip_prefix(spec.tree).unwrap_or(path);
        let target = format!("::/{}", relative.display());
        let command = if *is_dir {
            ToolCommand::new("mmd").args(["-i", &image, &target])
        } else {
            used += std::fs::metadata(path)
                .map_err(|e| Error::io(path, "stat", e))?
                .len();
            ToolCommand::new("mcopy")
                .args(["-m", "-i", &image])
                .arg(path)
                .arg(&target)
        };
        runner
            .run(
                &command
                    .env("SOURCE_DATE_EPOCH", epoch.clone())
                    .env("MTOOLS_SKIP_CHECK", "1"),
            )
            .map_err(tool("write"))?;
    }
    Ok(used)
}

/// Every entry below `tree`, parents before children and in name order (so the layout does not
/// depend on the order the host lists files in), with whether it is a directory.
fn tree_entries(tree: &Path) -> Result<Vec<(PathBuf, bool)>> {
    let mut entries = Vec::new();
    let mut names: Vec<PathBuf> = std::fs::read_dir(tree)
        .map_err(|e| Error::io(tree, "read the EFI tree", e))?
        .map(|entry| entry.map(|e| e.path()))
        .collect::<std::io::Result<_>>()
        .map_err(|e| Error::io(tree, "read the EFI tree", e))?;
    names.sort();
    for path in names {
        let kind = std::fs::metadata(&path)
            .map_err(|e| Error::io(&path, "stat", e))?
            .file_type();
        if kind.is_dir() {
            entries.push((path.clone(), true));
            entries.extend(tree_entries(&path)?);
        } else if kind.is_file() {
            entries.push((path, false));
        } else {
            return Err(Error::Invalid(format!(
                "{}: the EFI tree may hold only files and directories",
                path.display()
            )));
        }
    }
    Ok(entries)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::process::Command;

    /// A tree with the usual removable-media boot path and a second file.
    fn tree(dir: &Path, stage: &[u8]) -> PathBuf {
        let tree = dir.join("efi");
        std::fs::create_dir_all(tree.join("EFI/BOOT")).unwrap();
        std::fs::write(tree.join("EFI/BOOT/BOOTX64.EFI"), stage).unwrap();
        std::fs::write(tree.join("EFI/BOOT/stage.cfg"), b"version 1\n").unwrap();
        tree
    }

    /// The error and its causes, as the CLI prints them.
    fn chain(error: &Error) -> String {
        let mut text = error.to_string();
        let mut source = std::error::Error::source(error);
        while let Some(cause) = source {
            text.push_str(&format!(": {cause}"));
            source = cause.source();
        }
        text
    }

    fn run(program: &str, args: &[&str]) -> String {
        let out = Command::new(program)
            .args(args)
            .env("MTOOLS_SKIP_CHECK", "1")
            .output()
            .unwrap_or_else(|e| panic!("{program} (dosfstools/mtools) must be installed: {e}"));
        assert!(
            out.status.success(),
            "{program} {args:?}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    #[test]
    fn the_partition_is_a_valid_fat_with_the_tree_and_bit_identical_across_builds() {
        let dir = tempfile::tempdir().unwrap();
        let stage: Vec<u8> = (0..70_000u32).map(|i| (i % 251) as u8).collect();
        let tree = tree(dir.path(), &stage);
        let (first, second) = (dir.path().join("a.vfat"), dir.path().join("b.vfat"));
        let spec = EfiSpec {
            tree: &tree,
            size: 5 << 20,
            volume_id: 0x1234_abcd,
            epoch: 1_700_000_000,
        };
        let runner = twoliter_engine::HostRunner;
        let used = make_fat(&runner, &spec, &first).unwrap();
        assert_eq!(used, stage.len() as u64 + 10);
        // Other file times do not reach the image.
        let later = std::time::SystemTime::now() + std::time::Duration::from_secs(3600);
        std::fs::File::options()
            .write(true)
            .open(tree.join("EFI/BOOT/BOOTX64.EFI"))
            .unwrap()
            .set_modified(later)
            .unwrap();
        make_fat(&runner, &spec, &second).unwrap();
        assert_eq!(
            std::fs::read(&first).unwrap(),
            std::fs::read(&second).unwrap()
        );

        // Real oracles: fsck.fat finds nothing to fix; mtools reads the label, id and file back.
        let image = first.to_str().unwrap();
        run("fsck.fat", &["-n", "-v", image]);
        let info = run("minfo", &["-i", image, "::"]);
        assert!(info.contains("EFI-SYSTEM"), "{info}");
        assert!(info.to_lowercase().contains("1234abcd"), "{info}");
        let copy = dir.path().join("copied.efi");
        run(
            "mcopy",
            &[
                "-i",
                image,
                "::EFI/BOOT/BOOTX64.EFI",
                copy.to_str().unwrap(),
            ],
        );
        assert_eq!(std::fs::read(copy).unwrap(), stage);
    }

    #[test]
    fn a_tree_too_big_for_the_partition_is_refused_by_name() {
        let dir = tempfile::tempdir().unwrap();
        let tree = tree(dir.path(), &vec![7; 3 << 20]);
        let spec = EfiSpec {
            tree: &tree,
            size: 2 << 20,
            volume_id: 1,
            epoch: 1,
        };
        let out = dir.path().join("small.vfat");
        let error = make_fat(&twoliter_engine::HostRunner, &spec, &out).unwrap_err();
        let text = chain(&error);
        assert!(text.contains("small.vfat"), "{text}");
        assert!(text.contains("BOOTX64.EFI"), "{text}");
    }
}
