//! Planning: the closure of the requested packages over `build-dependencies` in build order,
//! every external file provided up front (all problems reported at once, before any container
//! starts), first-party binaries built, and each package's inputs and cache key.

use crate::firstparty::{self, GroupOutput};
use crate::inputs::{hash_tree, sha256_text, Inputs, BUILD_LOGIC_VERSION};
use crate::{BuildOptions, Error};
use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use twoliter_project::package::Package;
use twoliter_project::{closest_name, Project};

/// One package of a plan.
#[derive(Debug, Clone)]
pub struct Planned {
    /// The package.
    pub package: Package,
    /// Its named inputs.
    pub inputs: Inputs,
    /// Its cache key.
    pub key: String,
    /// Whether the store already holds its RPMs.
    pub cached: bool,
    /// Why it must be built (empty when cached).
    pub reasons: Vec<String>,
    /// Its external files, local paths by the name the spec sees.
    pub external: Vec<(String, PathBuf)>,
    /// Its first-party inputs.
    pub firstparty: Vec<GroupOutput>,
}

/// Packages in build order (dependencies first).
#[derive(Debug, Clone)]
pub struct Plan {
    /// The packages, dependencies before dependents.
    pub packages: Vec<Planned>,
}

/// Local paths of each package's external files, by package and the name the spec sees.
type ExternalPaths = BTreeMap<String, Vec<(String, PathBuf)>>;

/// The targets in build order with every external file provided: what [`plan`] starts from.
#[derive(Debug, Clone)]
pub struct Preflight {
    order: Vec<String>,
    external: ExternalPaths,
}

impl Preflight {
    /// The packages to build (targets and their build dependencies), dependencies first.
    pub fn order(&self) -> &[String] {
        &self.order
    }
}

/// Provides every external file of `targets` and their build dependencies, before anything else
/// (no SDK, no container): one error lists every file that is missing or wrong.
pub(crate) fn preflight(
    project: &Project,
    targets: &[String],
    options: &BuildOptions,
) -> Result<Preflight, Error> {
    let order = build_order(project, targets)?;
    let mut external = ExternalPaths::new();
    let mut unavailable = Vec::new();
    for name in &order {
        let package = &project.packages[name];
        for file in &package.manifest.external_files {
            match options.lookaside.provide(name, file) {
                Ok(path) => external
                    .entry(name.clone())
                    .or_default()
                    .push((file.file_name().to_string(), path)),
                Err(problem) => unavailable.push(problem),
            }
        }
    }
    if unavailable.is_empty() {
        Ok(Preflight { order, external })
    } else {
        Err(Error::Unavailable(unavailable))
    }
}

/// Plans building what `preflight` found against SDK image `sdk_id`.
pub(crate) fn plan(
    project: &Project,
    preflight: Preflight,
    options: &BuildOptions,
    sdk_id: &str,
) -> Result<Plan, Error> {
    let Preflight {
        order,
        mut external,
    } = preflight;

    let uses = |manifest: &twoliter_project::PackageManifest| -> Vec<firstparty::GroupUse> {
        manifest
            .source_groups
            .iter()
            .map(|group| (group.clone(), manifest.rust_target))
            .collect()
    };
    let groups: BTreeSet<firstparty::GroupUse> = order
        .iter()
        .flat_map(|name| uses(&project.packages[name].manifest))
        .collect();
    let groups: Vec<firstparty::GroupUse> = groups.into_iter().collect();
    let firstparty =
        firstparty::prepare(&project.root, &groups, options.arch, &options.log("cargo"))?;

    let mut planned: Vec<Planned> = Vec::new();
    let mut keys: BTreeMap<String, String> = BTreeMap::new();
    for name in order {
        let package = project.packages[&name].clone();
        let mut inputs = Inputs::default();
        inputs.add("build-logic", BUILD_LOGIC_VERSION);
        inputs.add("build-script", sha256_text(crate::rpmbuild::SCRIPT));
        inputs.add("sdk", sdk_id);
        inputs.add("arch", options.arch.name());
        inputs.add("epoch", options.epoch.to_string());
        let dir = project.root.join(&package.dir);
        let files = hash_tree(&dir).map_err(fsutil::io_err("read the package", &dir))?;
        for (path, hash) in files {
            inputs.add(format!("file:{path}"), hash);
        }
        for file in &package.manifest.external_files {
            inputs.add(format!("external:{}", file.file_name()), &file.sha512);
        }
        for dep in &package.manifest.build_dependencies {
            inputs.add(format!("dep:{dep}"), &keys[dep]);
        }
        let mut own_groups = Vec::new();
        if package.manifest.rust_target != twoliter_project::RustTarget::default() {
            inputs.add("rust-target", package.manifest.rust_target.as_str());
        }
        for used in uses(&package.manifest) {
            let output = firstparty[&used].clone();
            let group = &used.0;
            match &output {
                GroupOutput::Binaries(bins) => {
                    for (bin, _, hash) in bins {
                        inputs.add(format!("firstparty:{group}/{bin}"), hash);
                    }
                }
                GroupOutput::Directory { files, .. } => {
                    for (path, hash) in files {
                        inputs.add(format!("firstparty:{group}/{path}"), hash);
                    }
                }
            }
            own_groups.push(output);
        }
        check_staged_names(&package, &dir, &external, &own_groups)?;
        let key = inputs.key();
        keys.insert(name.clone(), key.clone());
        let cached = options.cached(&key).join("inputs.json").is_file();
        let reasons = if cached {
            Vec::new()
        } else {
            miss_reasons(options, &name, &inputs)
        };
        planned.push(Planned {
            package,
            inputs,
            key,
            cached,
            reasons,
            external: external.remove(&name).unwrap_or_default(),
            firstparty: own_groups,
        });
    }
    Ok(Plan { packages: planned })
}

/// Why a package is not in the cache, compared with its last build here.
fn miss_reasons(options: &BuildOptions, name: &str, inputs: &Inputs) -> Vec<String> {
    let before: Option<Inputs> = std::fs::read(options.state(name))
        .ok()
        .and_then(|bytes| serde_json::from_slice(&bytes).ok());
    match before {
        None => vec!["not built before".to_string()],
        Some(before) => {
            let reasons = inputs.explain_change(&before);
            if reasons.is_empty() {
                vec!["not in the cache".to_string()]
            } else {
                reasons
            }
        }
    }
}

/// The closure of `targets` over build dependencies, dependencies first; cycles and unknown
/// names are errors.
fn build_order(project: &Project, targets: &[String]) -> Result<Vec<String>, Error> {
    fn visit(
        project: &Project,
        name: &str,
        path: &mut Vec<String>,
        done: &mut BTreeSet<String>,
        order: &mut Vec<String>,
    ) -> Result<(), Error> {
        if done.contains(name) {
            return Ok(());
        }
        if let Some(start) = path.iter().position(|p| p == name) {
            let mut cycle = path[start..].to_vec();
            cycle.push(name.to_string());
            return Err(Error::Cycle(cycle.join(" -> ")));
        }
        let package = project
            .packages
            .get(name)
            .ok_or_else(|| Error::UnknownPackage {
                name: name.to_string(),
                hint: closest_name(name, project.packages.keys()).map(String::from),
            })?;
        path.push(name.to_string());
        for dep in &package.manifest.build_dependencies {
            visit(project, dep, path, done, order)?;
        }
        path.pop();
        done.insert(name.to_string());
        order.push(name.to_string());
        Ok(())
    }
    let mut order = Vec::new();
    let mut done = BTreeSet::new();
    for target in targets {
        visit(project, target, &mut Vec::new(), &mut done, &mut order)?;
    }
    Ok(order)
}

/// Every file a build stages into its sources directory must have its own name: package files,
/// external files, first-party binaries and directory groups would otherwise overwrite each other.
fn check_staged_names(
    package: &Package,
    dir: &std::path::Path,
    external: &ExternalPaths,
    groups: &[GroupOutput],
) -> Result<(), Error> {
    let mut seen: BTreeMap<String, String> = BTreeMap::new();
    let mut claim = |name: String, what: String| -> Result<(), Error> {
        match seen.get(&name) {
            Some(first) => Err(Error::SourceCollision {
                package: package.manifest.name.clone(),
                name,
                first: first.clone(),
                second: what,
            }),
            None => {
                seen.insert(name, what);
                Ok(())
            }
        }
    };
    let entries = std::fs::read_dir(dir).map_err(fsutil::io_err("read the package", dir))?;
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if !crate::inputs::is_scratch(&name) {
            claim(name, format!("a file of {}", package.dir.display()))?;
        }
    }
    for (name, _) in external.get(&package.manifest.name).into_iter().flatten() {
        claim(name.clone(), "an external file".into())?;
    }
    for group in groups {
        match group {
            GroupOutput::Binaries(bins) => {
                for (bin, _, _) in bins {
                    claim(bin.clone(), "a first-party binary".into())?;
                }
            }
            GroupOutput::Directory { path, .. } => {
                let base = path
                    .file_name()
                    .unwrap_or_default()
                    .to_string_lossy()
                    .into_owned();
                claim(base, format!("the source group {}", path.display()))?;
            }
        }
    }
    Ok(())
}
