//! One package build from start to end: the build directory's lock, the preflight of external
//! files (before any SDK or container), the plan against the SDK and the scheduled builds.

use crate::plan::{plan, preflight};
use crate::{BuildOptions, BuildReport, Error, Observer, Plan, Preflight};
use fsutil::{FileLock, Wait};
use twoliter_engine::ContainerRunner;
use twoliter_project::{Arch, Project};

/// The SDK image packages build in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SdkImageRef {
    /// Its image ID (part of every package's cache key).
    pub id: String,
    /// The reference containers run.
    pub reference: String,
}

/// A package build holding its build directory: one build per build directory at a time.
#[derive(Debug)]
pub struct PackageBuild {
    options: BuildOptions,
    _lock: FileLock,
}

impl PackageBuild {
    /// Starts a build with `options`: packages build for this machine's architecture only, and
    /// the build directory's lock is taken, waiting (and saying so) while another build holds it.
    pub fn start(options: BuildOptions) -> Result<Self, Error> {
        if Some(options.arch) != Arch::host() {
            return Err(Error::CrossBuild {
                wanted: options.arch,
                host: std::env::consts::ARCH,
            });
        }
        let build_dir = options.layout.build_dir();
        std::fs::create_dir_all(build_dir).map_err(fsutil::io_err("create", build_dir))?;
        let path = options.layout.lock_file();
        let lock = match fsutil::lock_exclusive(&path, Wait::NoBlock) {
            Err(busy) if busy.is_would_block() => {
                tracing::info!(
                    "another twoliter build is using {}; waiting for it",
                    build_dir.display()
                );
                fsutil::lock_exclusive(&path, Wait::Block)?
            }
            taken => taken?,
        };
        Ok(Self {
            options,
            _lock: lock,
        })
    }

    /// How this build runs.
    pub fn options(&self) -> &BuildOptions {
        &self.options
    }

    /// Provides every external file of `targets` and their build dependencies: one error lists
    /// every file that is missing or wrong, before any SDK or container is touched.
    pub fn preflight(&self, project: &Project, targets: &[String]) -> Result<Preflight, Error> {
        preflight(project, targets, &self.options)
    }

    /// Plans what `preflight` found against `sdk`: each package's inputs, key and cache state.
    pub fn plan(
        &self,
        project: &Project,
        preflight: Preflight,
        sdk: &SdkImageRef,
    ) -> Result<Plan, Error> {
        plan(project, preflight, &self.options, &sdk.id)
    }

    /// Builds `targets` and their build dependencies: preflight, then `sdk` (called only once
    /// every external file is there), plan, and the scheduled builds through `runner`.
    pub fn build(
        &self,
        project: &Project,
        targets: &[String],
        runner: &dyn ContainerRunner,
        sdk: &mut dyn FnMut() -> Result<SdkImageRef, Error>,
        observer: &dyn Observer,
    ) -> Result<(SdkImageRef, BuildReport), Error> {
        let preflight = self.preflight(project, targets)?;
        let sdk = sdk()?;
        let plan = self.plan(project, preflight, &sdk)?;
        observer.planned(plan.packages.iter().filter(|p| !p.cached).count());
        let report =
            crate::scheduler::build(runner, &sdk.reference, &self.options, &plan, observer)?;
        Ok((sdk, report))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lookaside::Lookaside;
    use crate::Outcome;
    use std::path::{Path, PathBuf};
    use std::sync::Mutex;
    use twoliter_engine::RunSpec;
    use twoliter_project::ProjectLayout;

    /// A container engine that "builds" a spec by writing one RPM-named file per package into
    /// the output mount, and records what it ran.
    #[derive(Default)]
    struct FakeEngine {
        /// (spec, dependency RPMs visible to it), in start order.
        runs: Mutex<Vec<(String, Vec<String>)>>,
        /// Specs whose build fails.
        failing: Vec<String>,
    }

    impl ContainerRunner for FakeEngine {
        fn run(&self, spec: &RunSpec, log: &Path) -> Result<(), twoliter_engine::Error> {
            let mount = |target: &str| -> PathBuf {
                spec.mounts
                    .iter()
                    .find(|m| m.target == target)
                    .map(|m| m.source.clone())
                    .expect("mounted")
            };
            assert_eq!(spec.image, "sdk:test");
            let name = spec.command[4].trim_end_matches(".spec").to_string();
            let mut deps: Vec<String> = std::fs::read_dir(mount("/twoliter/deps"))
                .unwrap()
                .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .collect();
            deps.sort();
            self.runs.lock().unwrap().push((name.clone(), deps));
            std::fs::write(log, format!("building {name}\n")).unwrap();
            if self.failing.contains(&name) {
                return Err(twoliter_engine::Error::ContainerFailed {
                    status: "exit status: 1".into(),
                    log: log.display().to_string(),
                });
            }
            let rpms = mount("/twoliter/output").join("RPMS/x86_64");
            std::fs::create_dir_all(&rpms).unwrap();
            std::fs::write(rpms.join(format!("{name}-1-1.x86_64.rpm")), &name).unwrap();
            Ok(())
        }
    }

    /// Counts what the observer heard.
    #[derive(Default)]
    struct Heard(Mutex<Vec<String>>);

    impl Observer for Heard {
        fn planned(&self, misses: usize) {
            self.0.lock().unwrap().push(format!("planned {misses}"));
        }
        fn started(&self, package: &str, _: &[String]) {
            self.0.lock().unwrap().push(format!("started {package}"));
        }
        fn finished(&self, _: &str, _: &Outcome) {}
    }

    /// A project with packages `base` ← `lib` ← `app` (build dependencies) and `other`.
    fn project(dir: &Path) -> Project {
        test_support::project::write_project(
            dir,
            "1.0.0",
            &[
                ("k", "base", ""),
                ("k", "lib", "build-dependencies: [base]\n"),
                ("k", "app", "build-dependencies: [lib]\n"),
                ("k", "other", ""),
            ],
            &[],
        );
        Project::load(dir).unwrap_or_else(|e| panic!("{e}"))
    }

    fn options(root: &Path, cache: &Path) -> BuildOptions {
        BuildOptions {
            layout: ProjectLayout::new(root),
            arch: Arch::host().expect("a supported host"),
            jobs: 2,
            cache_dir: cache.to_path_buf(),
            lookaside: Lookaside {
                sources: Vec::new(),
                store: cache.join("lookaside"),
                fetch_upstream: false,
                debian: crate::debian::DebianArchive {
                    etc_apt: cache.join("no-apt"),
                },
            },
            epoch: 1,
        }
    }

    fn sdk() -> Result<SdkImageRef, Error> {
        Ok(SdkImageRef {
            id: "sha256:test".into(),
            reference: "sdk:test".into(),
        })
    }

    fn names(runs: &Mutex<Vec<(String, Vec<String>)>>) -> Vec<String> {
        runs.lock()
            .unwrap()
            .iter()
            .map(|(n, _)| n.clone())
            .collect()
    }

    #[test]
    fn dependencies_build_first_and_their_rpms_are_visible() {
        let (dir, cache) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        let project = project(dir.path());
        let build = PackageBuild::start(options(dir.path(), cache.path())).unwrap();
        let engine = FakeEngine::default();
        let heard = Heard::default();
        let (_, report) = build
            .build(&project, &["app".into()], &engine, &mut sdk, &heard)
            .unwrap();
        assert_eq!(names(&engine.runs), ["base", "lib", "app"]);
        let runs = engine.runs.lock().unwrap();
        assert_eq!(runs[2].1, ["base-1-1.x86_64.rpm", "lib-1-1.x86_64.rpm"]);
        assert!(report.failures().is_empty());
        assert_eq!(report.counts(), (0, 3));
        assert_eq!(heard.0.lock().unwrap()[0], "planned 3");
        let exported = &report.rpms["app"];
        assert_eq!(exported.len(), 1);
        assert!(exported[0].starts_with(dir.path().join("build/rpms")));
    }

    #[test]
    fn a_rebuild_with_nothing_changed_starts_no_container_and_a_change_is_explained() {
        let (dir, cache) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        let project = project(dir.path());
        let build = PackageBuild::start(options(dir.path(), cache.path())).unwrap();
        let first = FakeEngine::default();
        build
            .build(
                &project,
                &["app".into()],
                &first,
                &mut sdk,
                &Heard::default(),
            )
            .unwrap();

        let again = FakeEngine::default();
        let (_, report) = build
            .build(
                &project,
                &["app".into()],
                &again,
                &mut sdk,
                &Heard::default(),
            )
            .unwrap();
        assert!(names(&again.runs).is_empty(), "a cache hit runs nothing");
        assert_eq!(report.counts(), (3, 0));

        std::fs::write(
            dir.path().join("kits/k/packages/lib/lib.spec"),
            "Name: lib\nVersion: 1.0.0\n# changed\n",
        )
        .unwrap();
        let changed = FakeEngine::default();
        let (_, report) = build
            .build(
                &project,
                &["app".into()],
                &changed,
                &mut sdk,
                &Heard::default(),
            )
            .unwrap();
        assert_eq!(names(&changed.runs), ["lib", "app"], "base stays cached");
        let Outcome::Built { reasons, .. } = &report.outcomes["lib"] else {
            panic!("lib is rebuilt: {:?}", report.outcomes["lib"]);
        };
        assert!(
            reasons.iter().any(|r| r.contains("lib.spec")),
            "{reasons:?}"
        );
    }

    #[test]
    fn a_failure_skips_its_dependents_only() {
        let (dir, cache) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        let project = project(dir.path());
        let build = PackageBuild::start(options(dir.path(), cache.path())).unwrap();
        let engine = FakeEngine {
            failing: vec!["base".into()],
            ..FakeEngine::default()
        };
        let (_, report) = build
            .build(
                &project,
                &["app".into(), "other".into()],
                &engine,
                &mut sdk,
                &Heard::default(),
            )
            .unwrap();
        assert!(matches!(report.outcomes["base"], Outcome::Failed { .. }));
        assert_eq!(
            report.outcomes["lib"],
            Outcome::Skipped {
                dependency: "base".into()
            }
        );
        assert!(matches!(report.outcomes["app"], Outcome::Skipped { .. }));
        assert!(matches!(report.outcomes["other"], Outcome::Built { .. }));
        assert_eq!(report.failures(), ["app", "base", "lib"]);
        let Outcome::Failed { tail, .. } = &report.outcomes["base"] else {
            unreachable!()
        };
        assert_eq!(tail, "building base");
    }

    #[test]
    fn the_sdk_is_not_touched_when_a_source_is_missing_or_a_name_unknown() {
        let (dir, cache) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        let project = project(dir.path());
        let build = PackageBuild::start(options(dir.path(), cache.path())).unwrap();
        let mut asked = false;
        let mut sdk = || {
            asked = true;
            sdk()
        };
        let error = build
            .build(
                &project,
                &["ap".into()],
                &FakeEngine::default(),
                &mut sdk,
                &Heard::default(),
            )
            .unwrap_err();
        assert!(error.to_string().contains("did you mean `app`"), "{error}");
        assert!(!asked);
    }

    #[test]
    fn a_second_build_waits_for_the_lock_of_the_first() {
        let (dir, cache) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        let first = PackageBuild::start(options(dir.path(), cache.path())).unwrap();
        let lock = std::fs::File::open(dir.path().join("build/.lock")).unwrap();
        assert!(lock.try_lock().is_err(), "the build directory is locked");
        drop(first);
        assert!(lock.try_lock().is_ok(), "and unlocked when the build ends");
    }
}
