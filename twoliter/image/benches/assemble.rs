//! `cargo bench -p twoliter-image`: a whole `image assemble` of a variant with a 1 GiB root tree,
//! printing the time of each step (filesystems, dm-verity, GPT and copy, compression).
//!
//! The tree (≈1 GiB: 512 MiB of incompressible files, 512 MiB of text-like files and a few
//! thousand small files) is made once under `$ASSEMBLE_BENCH_DIR` (default
//! `/var/tmp/twoliter-assemble-bench`) and reused.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Instant;
use twoliter_image::{assemble, AssembleInput, ImageFormat, RootFs};

fn main() {
    if !std::env::args().any(|a| a == "--bench") {
        // `cargo test --all-targets` runs benches without --bench: nothing to do then.
        return;
    }
    let base = std::env::var_os("ASSEMBLE_BENCH_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/var/tmp/twoliter-assemble-bench"));
    let (root, boot) = (base.join("root"), base.join("boot"));
    make_trees(&base, &root, &boot);
    let output = base.join("out");
    let _ = std::fs::remove_dir_all(&output);
    let input = AssembleInput {
        root_dir: root,
        boot_dir: boot,
        private_dir: None,
        variant: "bench-dev".into(),
        arch: "x86_64".into(),
        version: "1.0.0".into(),
        build_id: "bench".into(),
        os_image_gib: 3,
        data_image_gib: 1,
        plan: partitions::PartitionPlan::Split,
        in_place_updates: true,
        root_fs: RootFs::Ext4,
        kernel_parameters: vec!["console=ttyS0".into()],
        image_format: ImageFormat::Raw,
        output_dir: output,
        epoch: 1_700_000_000,
    };
    let started = Instant::now();
    let built = assemble(&twoliter_engine::HostRunner, &input, &|_| {}).expect("assembly succeeds");
    let total = started.elapsed().as_secs_f64();
    println!("image assemble, 1 GiB root tree, 3 GiB OS image, split plan, ext4 root");
    for timing in &built.timings {
        let secs = timing.elapsed.as_secs_f64();
        println!(
            "  {:<18} {:>7.2} s  {:>5.1}%",
            timing.step,
            secs,
            secs * 100.0 / total
        );
    }
    println!("  {:<18} {:>7.2} s", "total", total);
    print!(
        "{}",
        twoliter_image::usage_table(&built.metadata.partitions)
    );
}

fn make_trees(base: &Path, root: &Path, boot: &Path) {
    let done = base.join(".complete-v1");
    if done.exists() {
        return;
    }
    let _ = std::fs::remove_dir_all(base);
    let mut state = 0x2545_F491_4F6C_DD1Du64;
    let mut random = |buffer: &mut [u8]| {
        for chunk in buffer.chunks_mut(8) {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            chunk.copy_from_slice(&state.to_le_bytes()[..chunk.len()]);
        }
    };
    let mut buffer = vec![0u8; 8 << 20];
    let bin = root.join("usr/bin");
    std::fs::create_dir_all(&bin).unwrap();
    for i in 0..64 {
        let mut file = std::fs::File::create(bin.join(format!("binary-{i:02}"))).unwrap();
        random(&mut buffer);
        file.write_all(&buffer).unwrap();
    }
    let share = root.join("usr/share/doc");
    std::fs::create_dir_all(&share).unwrap();
    let words: Vec<u8> = b"settings kubernetes container bottlerocket update verity partition "
        .repeat((8 << 20) / 60 + 1)[..8 << 20]
        .to_vec();
    for i in 0..64 {
        std::fs::write(share.join(format!("text-{i:02}")), &words).unwrap();
    }
    for d in 0..40 {
        let dir = root.join(format!("usr/lib/pkg{d:02}"));
        std::fs::create_dir_all(&dir).unwrap();
        for f in 0..100 {
            std::fs::write(dir.join(format!("f{f:03}.conf")), format!("key{f} = {d}\n")).unwrap();
        }
    }
    std::fs::create_dir_all(boot).unwrap();
    random(&mut buffer);
    std::fs::write(boot.join("vmlinuz"), &buffer[..6 << 20]).unwrap();
    std::fs::write(&done, "").unwrap();
}
