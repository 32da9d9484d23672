//! What the last build of a variant learned: the packages its closure needed besides its
//! `included-packages`, so the next build plans them at once.

use crate::Error;
use std::path::{Path, PathBuf};
use twoliter_project::{Arch, Project, ProjectLayout, Variant};

/// `build/state/<arch>/variant-<name>.packages.json`.
pub(crate) fn file(layout: &ProjectLayout, arch: Arch, variant: &str) -> PathBuf {
    layout
        .state_dir(arch)
        .join(format!("variant-{variant}.packages.json"))
}

/// `wanted`, then the packages the last build learned that are still packages of the
/// variant's kits.
pub(crate) fn targets(
    project: &Project,
    variant: &Variant,
    wanted: &[String],
    file: &Path,
) -> Vec<String> {
    let mut targets = wanted.to_vec();
    let learned: Vec<String> = std::fs::read(file)
        .ok()
        .and_then(|bytes| serde_json::from_slice(&bytes).ok())
        .unwrap_or_default();
    for package in learned {
        let known = project
            .packages
            .get(&package)
            .is_some_and(|p| variant.kits.contains(&p.kit));
        if known && !targets.contains(&package) {
            targets.push(package);
        }
    }
    targets
}

/// Records the packages a build needed, for the next build to start from.
pub(crate) fn remember(file: &Path, targets: &[String]) -> Result<(), Error> {
    crate::write(file, &serde_json::to_vec(targets).unwrap_or_default())
}
