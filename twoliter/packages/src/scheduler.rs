//! Runs a [`Plan`]: cached packages are linked, the others built with up to `jobs` containers at
//! once as soon as their dependencies are done. A failure stops its dependents only.

use crate::lookaside::write_atomic;
use crate::rpmbuild::build_one;
use crate::{rpms_in, BuildOptions, Error, Plan};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::mpsc;
use std::time::{Duration, Instant};
use twoliter_engine::ContainerRunner;

/// Lines of a failed package's log shown to the user.
const LOG_TAIL_LINES: usize = 40;

/// What happened to one package.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
#[serde(tag = "outcome", rename_all = "kebab-case")]
pub enum Outcome {
    /// Found in the cache; no container started.
    Cached,
    /// Built now.
    Built {
        /// Wall time.
        seconds: f64,
        /// Why it was not cached.
        reasons: Vec<String>,
    },
    /// Its build failed.
    Failed {
        /// What failed.
        error: String,
        /// The package's log.
        log: PathBuf,
        /// The last lines of the log.
        tail: String,
    },
    /// Not built because a dependency failed.
    Skipped {
        /// The failed dependency.
        dependency: String,
    },
}

/// Hears about progress, e.g. to draw a progress bar.
pub trait Observer: Sync {
    /// The plan is made: `misses` packages will be built in containers.
    fn planned(&self, misses: usize) {
        let _ = misses;
    }
    /// A package build started in a container.
    fn started(&self, package: &str, reasons: &[String]);
    /// A package is done (any outcome).
    fn finished(&self, package: &str, outcome: &Outcome);
}

/// The result of a build.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct BuildReport {
    /// Outcome per package.
    pub outcomes: BTreeMap<String, Outcome>,
    /// Exported RPMs per successful package (`build/rpms/<arch>/<pkg>/`).
    pub rpms: BTreeMap<String, Vec<PathBuf>>,
    /// Cache key per package.
    pub keys: BTreeMap<String, String>,
}

impl BuildReport {
    /// Packages that failed or were skipped.
    pub fn failures(&self) -> Vec<&str> {
        self.outcomes
            .iter()
            .filter(|(_, o)| matches!(o, Outcome::Failed { .. } | Outcome::Skipped { .. }))
            .map(|(n, _)| n.as_str())
            .collect()
    }

    /// (cached, built) counts.
    pub fn counts(&self) -> (usize, usize) {
        let cached = self
            .outcomes
            .values()
            .filter(|o| matches!(o, Outcome::Cached))
            .count();
        let built = self
            .outcomes
            .values()
            .filter(|o| matches!(o, Outcome::Built { .. }))
            .count();
        (cached, built)
    }
}

/// Builds `plan` in the SDK image `sdk_reference` through `engine`.
pub(crate) fn build(
    engine: &dyn ContainerRunner,
    sdk_reference: &str,
    options: &BuildOptions,
    plan: &Plan,
    observer: &dyn Observer,
) -> Result<BuildReport, Error> {
    let mut report = BuildReport::default();
    let index: BTreeMap<&str, usize> = plan
        .packages
        .iter()
        .enumerate()
        .map(|(i, p)| (p.package.manifest.name.as_str(), i))
        .collect();
    let mut waiting: Vec<usize> = plan
        .packages
        .iter()
        .map(|p| {
            let unique: std::collections::BTreeSet<&String> =
                p.package.manifest.build_dependencies.iter().collect();
            unique.len()
        })
        .collect();
    let mut ready: Vec<usize> = (0..plan.packages.len())
        .filter(|&i| waiting[i] == 0)
        .collect();
    let mut stores: BTreeMap<usize, PathBuf> = BTreeMap::new();
    let jobs = options.jobs.max(1);

    std::thread::scope(|scope| -> Result<(), Error> {
        let (done_tx, done_rx) = mpsc::channel::<(usize, Result<PathBuf, String>, Duration)>();
        let mut running = 0usize;
        let mut finished = 0usize;
        while finished < plan.packages.len() {
            // Cached packages finish at once; the rest start while there are free slots.
            while let Some(position) = ready
                .iter()
                .position(|&i| plan.packages[i].cached || running < jobs)
            {
                let i = ready.remove(position);
                let planned = &plan.packages[i];
                if planned.cached {
                    done_tx
                        .send((i, Ok(options.cached(&planned.key)), Duration::ZERO))
                        .ok();
                    running += 1;
                    continue;
                }
                let dep_rpms = dependency_rpms(plan, &index, &stores, i);
                observer.started(&planned.package.manifest.name, &planned.reasons);
                let tx = done_tx.clone();
                running += 1;
                scope.spawn(move || {
                    let started = Instant::now();
                    let result = build_one(engine, sdk_reference, options, planned, &dep_rpms);
                    tx.send((i, result, started.elapsed())).ok();
                });
            }
            if running == 0 {
                break;
            }
            let Ok((i, result, elapsed)) = done_rx.recv() else {
                break;
            };
            running -= 1;
            finished += 1;
            let planned = &plan.packages[i];
            let name = planned.package.manifest.name.clone();
            report.keys.insert(name.clone(), planned.key.clone());
            let outcome = match result {
                Ok(store) => {
                    let exported = export(options, &name, &store)?;
                    remember(options, planned)?;
                    report.rpms.insert(name.clone(), exported);
                    stores.insert(i, store);
                    for (j, other) in plan.packages.iter().enumerate() {
                        if other.package.manifest.build_dependencies.contains(&name) {
                            waiting[j] -= 1;
                            if waiting[j] == 0 {
                                ready.push(j);
                            }
                        }
                    }
                    if planned.cached {
                        Outcome::Cached
                    } else {
                        Outcome::Built {
                            seconds: elapsed.as_secs_f64(),
                            reasons: planned.reasons.clone(),
                        }
                    }
                }
                Err(error) => {
                    let log = options.log(&name);
                    let outcome = Outcome::Failed {
                        tail: tail(&log),
                        log,
                        error,
                    };
                    finished += skip_dependents(plan, &name, &mut report, observer);
                    outcome
                }
            };
            observer.finished(&name, &outcome);
            report.outcomes.insert(name, outcome);
        }
        Ok(())
    })?;
    // Every planned package must have an outcome; one without would silently be missing.
    for planned in &plan.packages {
        let name = &planned.package.manifest.name;
        if !report.outcomes.contains_key(name) {
            let outcome = Outcome::Failed {
                error: "never scheduled (its dependencies did not finish)".into(),
                log: options.log(name),
                tail: String::new(),
            };
            observer.finished(name, &outcome);
            report.outcomes.insert(name.clone(), outcome);
        }
    }
    Ok(report)
}

/// Marks every package that depends (transitively) on `failed` as skipped; returns how many.
fn skip_dependents(
    plan: &Plan,
    failed: &str,
    report: &mut BuildReport,
    observer: &dyn Observer,
) -> usize {
    let mut count = 0;
    let mut blocked = vec![failed.to_string()];
    while let Some(dependency) = blocked.pop() {
        for other in &plan.packages {
            let name = &other.package.manifest.name;
            if other
                .package
                .manifest
                .build_dependencies
                .contains(&dependency)
                && !report.outcomes.contains_key(name)
            {
                let outcome = Outcome::Skipped {
                    dependency: dependency.clone(),
                };
                observer.finished(name, &outcome);
                report.outcomes.insert(name.clone(), outcome);
                blocked.push(name.clone());
                count += 1;
            }
        }
    }
    count
}

/// The RPMs of package `i`'s build dependencies (transitively).
fn dependency_rpms(
    plan: &Plan,
    index: &BTreeMap<&str, usize>,
    stores: &BTreeMap<usize, PathBuf>,
    i: usize,
) -> Vec<PathBuf> {
    let mut seen = Vec::new();
    let mut stack: Vec<usize> = plan.packages[i]
        .package
        .manifest
        .build_dependencies
        .iter()
        .map(|d| index[d.as_str()])
        .collect();
    while let Some(j) = stack.pop() {
        if seen.contains(&j) {
            continue;
        }
        seen.push(j);
        stack.extend(
            plan.packages[j]
                .package
                .manifest
                .build_dependencies
                .iter()
                .map(|d| index[d.as_str()]),
        );
    }
    seen.iter()
        .filter_map(|j| stores.get(j))
        .flat_map(|store| rpms_in(store).unwrap_or_default())
        .collect()
}

/// Links a package's stored RPMs into `build/rpms/<arch>/<pkg>/`, replacing what was there.
fn export(
    options: &BuildOptions,
    name: &str,
    store: &std::path::Path,
) -> Result<Vec<PathBuf>, Error> {
    let dir = options.exported(name);
    if dir.exists() {
        std::fs::remove_dir_all(&dir).map_err(fsutil::io_err("clean", &dir))?;
    }
    std::fs::create_dir_all(&dir).map_err(fsutil::io_err("create", &dir))?;
    let mut exported = Vec::new();
    for rpm in rpms_in(store).map_err(fsutil::io_err("read the cache entry", store))? {
        let target = dir.join(rpm.file_name().unwrap_or_default());
        crate::link_or_copy(&rpm, &target).map_err(fsutil::io_err("export", &target))?;
        exported.push(target);
    }
    Ok(exported)
}

/// Records a package's inputs, to explain the next miss.
fn remember(options: &BuildOptions, planned: &crate::Planned) -> Result<(), Error> {
    let path = options.state(&planned.package.manifest.name);
    let bytes = serde_json::to_vec_pretty(&planned.inputs).unwrap_or_default();
    Ok(write_atomic(&path, &bytes)?)
}

/// The last lines of a log.
fn tail(log: &std::path::Path) -> String {
    let text = std::fs::read(log).unwrap_or_default();
    let text = String::from_utf8_lossy(&text);
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(LOG_TAIL_LINES)..].join("\n")
}
