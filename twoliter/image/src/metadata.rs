//! The machine-readable description written beside the artifacts (`<name>.json`): the types
//! are the artifact contract's ([`twoliter_artifacts`]); this module fills them in.

pub use twoliter_artifacts::{
    ArtifactFile, DiskReport, DiskRole, Metadata, PartitionReport, PartitionUsage, VerityInfo,
};

/// The metadata's record of a dm-verity tree.
pub fn verity_info(v: &twoliter_verity::VerityOutput) -> VerityInfo {
    VerityInfo {
        root_hash: v.root_hash_hex(),
        salt: v.salt_hex(),
        data_blocks: v.data_blocks,
        hash_size: v.hash_size,
        superblock: v.has_superblock(),
    }
}

/// The usage table as printed after a build.
pub fn usage_table(partitions: &[PartitionUsage]) -> String {
    let mib = |b: u64| b as f64 / (1024.0 * 1024.0);
    let mut out = format!(
        "{:<26} {:>10} {:>10} {:>6}\n",
        "PARTITION", "USED MiB", "SIZE MiB", "USE%"
    );
    for p in partitions {
        out.push_str(&format!(
            "{:<26} {:>10.1} {:>10.1} {:>5.1}%\n",
            p.partition,
            mib(p.used_bytes),
            mib(p.capacity_bytes),
            p.percent
        ));
    }
    out
}
