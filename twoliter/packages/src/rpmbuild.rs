//! One package build: stage its sources, run `rpmbuild -bb` in the SDK with no network, and move
//! the RPMs into the content-addressed store.

use crate::firstparty::GroupOutput;
use crate::lookaside::write_atomic;
use crate::{copy_tree, link_or_copy, rpms_in, BuildOptions, Planned};
use std::path::{Path, PathBuf};
use twoliter_engine::{ContainerRunner, Mount, RunSpec};

/// The script run in the container: dependencies' RPMs installed first (files only, no
/// scriptlets) into the sysroot `/twoliter/sysroot` (`%{_twoliter_sysroot}`), so they never
/// replace the SDK's own tools; then rpmbuild with reproducibility macros. Arguments: spec file,
/// dist tag. Part of every package's cache key.
pub(crate) const SCRIPT: &str = r#"set -euo pipefail
spec="$1"; dist="$2"
shopt -s nullglob
sysroot=/twoliter/sysroot
mkdir -p "$sysroot"
deps=(/twoliter/deps/*.rpm)
if (( ${#deps[@]} )); then
  echo "twoliter: installing build dependencies into $sysroot: ${deps[*]##*/}"
  rpm --root "$sysroot" --initdb
  rpm --root "$sysroot" -i --nodeps --noscripts --nosignature --excludedocs "${deps[@]}"
fi
exec rpmbuild -bb --nodeps \
  --define "_topdir /twoliter/output" \
  --define "_sourcedir /twoliter/sources" \
  --define "_twoliter_sysroot $sysroot" \
  --define "dist ${dist}" \
  --define "_buildhost twoliter" \
  --define "use_source_date_epoch_as_buildtime 1" \
  --define "clamp_mtime_to_source_date_epoch 1" \
  --define "_build_id_links none" \
  --define "debug_package %{nil}" \
  --define "_binary_payload w3.zstdio" \
  "/twoliter/sources/${spec}"
"#;

/// Builds one planned package with its dependencies' RPMs visible; returns the store directory
/// holding its RPMs, or a message saying what failed.
pub(crate) fn build_one(
    engine: &dyn ContainerRunner,
    sdk_reference: &str,
    options: &BuildOptions,
    planned: &Planned,
    dep_rpms: &[PathBuf],
) -> Result<PathBuf, String> {
    let name = &planned.package.manifest.name;
    let work = options.work(name);
    let log = options.log(name);
    let io = |what: &str, path: &Path| {
        let message = format!("{what} {}", path.display());
        move |e: std::io::Error| format!("{message}: {e}")
    };
    if work.exists() {
        std::fs::remove_dir_all(&work).map_err(io("cannot clean", &work))?;
    }
    let (sources, deps, output) = (work.join("sources"), work.join("deps"), work.join("output"));
    for dir in [
        &sources,
        &deps,
        &output,
        &log.parent().unwrap_or(Path::new(".")).to_path_buf(),
    ] {
        std::fs::create_dir_all(dir).map_err(io("cannot create", dir))?;
    }
    std::fs::write(&log, b"").map_err(io("cannot create", &log))?;

    let package_dir = options.layout.root().join(&planned.package.dir);
    copy_tree(&package_dir, &sources).map_err(io("cannot stage", &package_dir))?;
    for (file_name, path) in &planned.external {
        link_or_copy(path, &sources.join(file_name)).map_err(io("cannot stage", path))?;
    }
    for group in &planned.firstparty {
        match group {
            GroupOutput::Binaries(bins) => {
                for (bin, path, _) in bins {
                    link_or_copy(path, &sources.join(bin)).map_err(io("cannot stage", path))?;
                }
            }
            GroupOutput::Directory { path, .. } => {
                let base = path.file_name().unwrap_or_default();
                copy_tree(path, &sources.join(base)).map_err(io("cannot stage", path))?;
            }
        }
    }
    for rpm in dep_rpms {
        let target = deps.join(rpm.file_name().unwrap_or_default());
        link_or_copy(rpm, &target).map_err(io("cannot stage", rpm))?;
    }

    let spec_name = planned
        .package
        .spec
        .file_name()
        .unwrap_or_default()
        .to_string_lossy()
        .into_owned();
    let dist = format!(".{}", &planned.key[..12]);
    let run = RunSpec {
        image: sdk_reference.to_string(),
        mounts: vec![
            Mount::input(&sources, "/twoliter/sources"),
            Mount::input(&deps, "/twoliter/deps"),
            Mount::output(&output, "/twoliter/output"),
        ],
        env: vec![("SOURCE_DATE_EPOCH".into(), options.epoch.to_string())],
        workdir: Some("/twoliter/output".into()),
        command: vec![
            "bash".into(),
            "-c".into(),
            SCRIPT.into(),
            "twoliter-build".into(),
            spec_name,
            dist,
        ],
    };
    engine.run(&run, &log).map_err(|e| e.to_string())?;

    let mut built = Vec::new();
    let rpm_root = output.join("RPMS");
    for entry in std::fs::read_dir(&rpm_root).map_err(io("rpmbuild left no", &rpm_root))? {
        let dir = entry.map_err(io("cannot read", &rpm_root))?.path();
        built.extend(rpms_in(&dir).map_err(io("cannot read", &dir))?);
    }
    if built.is_empty() {
        return Err(format!("rpmbuild produced no RPM; see {}", log.display()));
    }
    let store = options.cached(&planned.key);
    let temp = store.with_extension(format!("part-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&temp);
    std::fs::create_dir_all(&temp).map_err(io("cannot create", &temp))?;
    for rpm in &built {
        let target = temp.join(rpm.file_name().unwrap_or_default());
        std::fs::rename(rpm, &target)
            .or_else(|_| std::fs::copy(rpm, &target).map(|_| ()))
            .map_err(io("cannot store", rpm))?;
    }
    let inputs = serde_json::to_vec_pretty(&planned.inputs).unwrap_or_default();
    write_atomic(&temp.join("inputs.json"), &inputs)
        .map_err(|e| twoliter_project::error_chain(&e))?;
    // The store is content-addressed: an entry another build finished meanwhile is as good.
    if store.join("inputs.json").is_file() {
        let _ = std::fs::remove_dir_all(&temp);
    } else {
        let _ = std::fs::remove_dir_all(&store);
        std::fs::rename(&temp, &store).map_err(io("cannot store", &store))?;
    }
    let _ = std::fs::remove_dir_all(&work);
    Ok(store)
}
