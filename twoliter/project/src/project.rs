//! Loading a whole project: finding its root, reading every manifest, resolving variants and
//! checking the references between them.

use crate::config::{LockedImage, Lockfile, TwoliterConfig};
use crate::diagnostic::{relative, Diagnostic, Diagnostics};
use crate::layout::ProjectLayout;
use crate::package::{is_valid_name, KitManifest, Package, PackageManifest};
use crate::parse;
use crate::schema::SchemaKind;
use crate::variant::{Layered, Variant, VariantManifest};
use crate::variant_name::VariantName;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// The project file at the root of every project.
pub const PROJECT_FILE: &str = "Twoliter.toml";
/// The lock file beside it.
pub const LOCK_FILE: &str = "Twoliter.lock";
/// The directory under `variants/` that holds shared bases rather than a variant.
pub const SHARED_DIR: &str = "shared";

/// Why a project could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum ProjectError {
    /// No `Twoliter.toml` in the start directory or any parent.
    #[error("no {PROJECT_FILE} in {} or any directory above it; run twoliter inside a project or pass --project-path", start.display())]
    NotFound {
        /// Where the search started.
        start: PathBuf,
    },
    /// `--project-path` names something that is not a project.
    #[error("{} {problem}; pass the project directory or its {PROJECT_FILE}", path.display())]
    NotAProject {
        /// The path given.
        path: PathBuf,
        /// What is wrong with it.
        problem: &'static str,
    },
    /// The project's files have problems.
    #[error(transparent)]
    Invalid(#[from] Diagnostics),
}

/// A kit of this project, under `kits/<name>`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Kit {
    /// The manifest.
    #[serde(flatten)]
    pub manifest: KitManifest,
    /// Its directory, relative to the project root.
    pub dir: PathBuf,
    /// Names of its packages, sorted.
    pub packages: Vec<String>,
}

/// A loaded, fully validated project.
#[derive(Debug, Clone)]
pub struct Project {
    /// The directory holding `Twoliter.toml`.
    pub root: PathBuf,
    /// `Twoliter.toml`.
    pub config: TwoliterConfig,
    /// `Twoliter.lock`, when present.
    pub lock: Option<Lockfile>,
    /// Local kits by name.
    pub kits: BTreeMap<String, Kit>,
    /// Packages of all local kits by name.
    pub packages: BTreeMap<String, Package>,
    /// Resolved variants by name.
    pub variants: BTreeMap<String, Variant>,
}

/// Finds the project root: `start` or the nearest parent holding `Twoliter.toml`.
pub fn discover(start: &Path) -> Result<PathBuf, ProjectError> {
    let start = std::path::absolute(start).unwrap_or_else(|_| start.to_path_buf());
    start
        .ancestors()
        .find(|dir| dir.join(PROJECT_FILE).is_file())
        .map(Path::to_path_buf)
        .ok_or(ProjectError::NotFound { start })
}

/// The project root named by an explicit path: a directory holding `Twoliter.toml`, or that file.
pub fn at(path: &Path) -> Result<PathBuf, ProjectError> {
    let not = |problem| ProjectError::NotAProject {
        path: path.to_path_buf(),
        problem,
    };
    let meta = std::fs::metadata(path).map_err(|_| not("does not exist"))?;
    let dir = if meta.is_file() {
        if path.file_name().is_none_or(|n| n != PROJECT_FILE) {
            return Err(not("is a file but not Twoliter.toml"));
        }
        path.parent().unwrap_or(Path::new(".")).to_path_buf()
    } else {
        path.to_path_buf()
    };
    if dir.join(PROJECT_FILE).is_file() {
        Ok(if dir.as_os_str().is_empty() {
            PathBuf::from(".")
        } else {
            dir
        })
    } else {
        Err(not("holds no Twoliter.toml"))
    }
}

impl Project {
    /// Loads and validates every file of the project at `root`, reporting all problems at once.
    pub fn load(root: &Path) -> Result<Project, ProjectError> {
        if !root.join(PROJECT_FILE).is_file() {
            return Err(ProjectError::NotFound {
                start: root.to_path_buf(),
            });
        }
        let mut loader = Loader {
            root: root.to_path_buf(),
            problems: Diagnostics::default(),
            broken_packages: BTreeSet::new(),
            texts: BTreeMap::new(),
        };
        let config = loader.config();
        let lock = config.as_ref().and_then(|c| loader.lock(c));
        let (kits, packages) = loader.kits();
        let variants = loader.variants();
        let external_kits: BTreeSet<String> = config
            .iter()
            .flat_map(|c| c.kit.iter().map(|k| k.name.clone()))
            .collect();
        loader.check_dependencies(&packages);
        loader.check_variants(&variants, &kits, &packages, &external_kits);
        match config {
            Some(config) if loader.problems.is_empty() => Ok(Project {
                root: root.to_path_buf(),
                config,
                lock,
                kits,
                packages,
                variants,
            }),
            _ => Err(ProjectError::Invalid(loader.problems)),
        }
    }

    /// The project's vendor name for metadata (the first `[vendor.<name>]`), `local` without one.
    pub fn vendor(&self) -> &str {
        self.config
            .vendor
            .keys()
            .next()
            .map(String::as_str)
            .unwrap_or("local")
    }

    /// Where this project's build outputs live.
    pub fn layout(&self) -> ProjectLayout {
        ProjectLayout::new(&self.root)
    }

    /// Pins `sdk` in `Twoliter.lock` (keeping its kits), written atomically, when it differs
    /// from the lock this project was loaded with; whether the file was written.
    pub fn pin_sdk(&self, sdk: LockedImage) -> Result<bool, LockWriteError> {
        let mut lock = self.lock.clone().unwrap_or_default();
        if !lock.pin_sdk(sdk) {
            return Ok(false);
        }
        let text = lock.to_text().map_err(LockWriteError::Serialize)?;
        fsutil::atomic_write(&self.root.join(LOCK_FILE), text.as_bytes(), 0o644)?;
        Ok(true)
    }

    /// The variant with this name, or an error listing the known ones.
    pub fn variant(&self, name: &str) -> Result<&Variant, UnknownVariant> {
        self.variants.get(name).ok_or_else(|| UnknownVariant {
            name: name.to_string(),
            known: self.variants.keys().cloned().collect(),
        })
    }
}

/// `Twoliter.lock` could not be written.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LockWriteError {
    /// The lock does not serialize as TOML.
    #[error("cannot serialize Twoliter.lock")]
    Serialize(#[source] toml::ser::Error),
    /// The file could not be written.
    #[error(transparent)]
    Io(#[from] fsutil::IoError),
}

/// A variant name that the project does not define.
#[derive(Debug, thiserror::Error)]
#[error(
    "no variant `{name}` in this project (variants/{name}/variant.yaml does not exist); {}",
    suggestion(name, known)
)]
pub struct UnknownVariant {
    name: String,
    known: Vec<String>,
}

/// The known name closest to `name` when it is close enough to be a typo of it.
pub fn closest_name<'a, I>(name: &str, known: I) -> Option<&'a str>
where
    I: IntoIterator<Item = &'a String>,
{
    known
        .into_iter()
        .map(|k| (strsim::damerau_levenshtein(name, k), k))
        .min()
        .filter(|(distance, _)| *distance <= 3)
        .map(|(_, k)| k.as_str())
}

/// "did you mean `x`?" for the closest known name, or the list of known names.
fn suggestion(name: &str, known: &[String]) -> String {
    match closest_name(name, known) {
        Some(k) => format!("did you mean `{k}`?"),
        None => format!("known variants: {}", known.join(", ")),
    }
}

struct Loader {
    root: PathBuf,
    problems: Diagnostics,
    /// Names (directory names) of packages whose manifests could not be read; references to them
    /// are not reported again.
    broken_packages: BTreeSet<String>,
    /// Manifest texts by displayed path, to point later problems at lines.
    texts: BTreeMap<PathBuf, String>,
}

impl Loader {
    fn shown(&self, path: &Path) -> PathBuf {
        relative(&self.root, path)
    }

    /// Reads and parses one file, remembering its text.
    fn read<T: serde::de::DeserializeOwned>(
        &mut self,
        path: &Path,
        kind: Option<SchemaKind>,
    ) -> Option<T> {
        let shown = self.shown(path);
        let text = self.problems.keep(parse::read_text(path, &shown))?;
        self.texts.insert(shown.clone(), text.clone());
        if let Some(kind) = kind {
            let schemas = self.root.join("schemas");
            let checked =
                parse::check_schema_comment(&text, path, &shown, &schemas, kind.file_name());
            self.problems.keep(checked);
        }
        let parsed = match path.extension().and_then(|e| e.to_str()) {
            Some("toml") | Some("lock") => parse::toml(&text, &shown),
            _ => parse::yaml(&text, &shown),
        };
        self.problems.keep(parsed)
    }

    fn text(&self, shown: &Path) -> &str {
        self.texts.get(shown).map_or("", String::as_str)
    }

    fn config(&mut self) -> Option<TwoliterConfig> {
        let path = self.root.join(PROJECT_FILE);
        let config: TwoliterConfig = self.read(&path, None)?;
        let shown = self.shown(&path);
        let text = self.text(&shown).to_string();
        config.validate(&text, &shown, &mut self.problems);
        Some(config)
    }

    fn lock(&mut self, config: &TwoliterConfig) -> Option<Lockfile> {
        let path = self.root.join(LOCK_FILE);
        if !path.exists() {
            if config.needs_lock() {
                self.problems.push(
                    Diagnostic::new(
                        LOCK_FILE,
                        "the lock file is missing, but Twoliter.toml names a vendor SDK or external kits",
                    )
                    .hint("run `twoliter update` to resolve them and write Twoliter.lock"),
                );
            }
            return None;
        }
        let lock: Lockfile = self.read(&path, None)?;
        let shown = self.shown(&path);
        let text = self.text(&shown).to_string();
        lock.validate(config, &text, &shown, &mut self.problems);
        Some(lock)
    }

    /// Subdirectories of `dir`, sorted; none when it does not exist.
    fn subdirs(&mut self, dir: &Path) -> Vec<PathBuf> {
        let entries = match std::fs::read_dir(dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Vec::new(),
            Err(e) => {
                let shown = self.shown(dir);
                self.problems.push(Diagnostic::new(
                    shown,
                    format!("cannot list the directory: {e}"),
                ));
                return Vec::new();
            }
        };
        let mut dirs: Vec<PathBuf> = entries
            .filter_map(Result::ok)
            .map(|entry| entry.path())
            .filter(|path| path.is_dir())
            .collect();
        dirs.sort();
        dirs
    }

    fn kits(&mut self) -> (BTreeMap<String, Kit>, BTreeMap<String, Package>) {
        let mut kits = BTreeMap::new();
        let mut packages: BTreeMap<String, Package> = BTreeMap::new();
        for kit_dir in self.subdirs(&self.root.join("kits")) {
            let kit_file = kit_dir.join("kit.yaml");
            let dir_name = file_name(&kit_dir);
            if !kit_file.is_file() {
                let shown = self.shown(&kit_dir);
                self.problems.push(
                    Diagnostic::new(shown, "the kit directory has no kit.yaml")
                        .hint("add kit.yaml with `name:`, or remove the directory"),
                );
                continue;
            }
            let Some(manifest) = self.read::<KitManifest>(&kit_file, Some(SchemaKind::Kit)) else {
                continue;
            };
            if manifest.name != dir_name || !is_valid_name(&manifest.name) {
                let shown = self.shown(&kit_file);
                let text = self.text(&shown).to_string();
                self.problems.push(
                    Diagnostic::new(
                        shown,
                        format!("kit `{}` lives in directory `{dir_name}`", manifest.name),
                    )
                    .key("name")
                    .locate(&text, "name")
                    .hint(format!("set `name: {dir_name}` or rename the directory")),
                );
            }
            let mut names = Vec::new();
            for package_dir in self.subdirs(&kit_dir.join("packages")) {
                if let Some(package) = self.package(&package_dir, &dir_name) {
                    let name = package.manifest.name.clone();
                    if let Some(first) = packages.get(&name) {
                        let shown = package.dir.join("package.yaml");
                        let text = self.text(&shown).to_string();
                        self.problems.push(
                            Diagnostic::new(
                                &shown,
                                format!(
                                    "package `{name}` is defined twice: also in {}",
                                    first.dir.join("package.yaml").display()
                                ),
                            )
                            .key("name")
                            .locate(&text, "name")
                            .hint("package names are unique across all kits: rename or remove one"),
                        );
                        continue;
                    }
                    names.push(name.clone());
                    packages.insert(name, package);
                }
            }
            names.sort();
            kits.insert(
                dir_name.clone(),
                Kit {
                    manifest,
                    dir: self.shown(&kit_dir),
                    packages: names,
                },
            );
        }
        (kits, packages)
    }

    fn package(&mut self, dir: &Path, kit: &str) -> Option<Package> {
        let file = dir.join("package.yaml");
        if !file.is_file() {
            let shown = self.shown(dir);
            self.problems.push(
                Diagnostic::new(shown, "the package directory has no package.yaml")
                    .hint("add package.yaml with name, version and spec, or remove the directory"),
            );
            return None;
        }
        let Some(manifest) = self.read::<PackageManifest>(&file, Some(SchemaKind::Package)) else {
            self.broken_packages.insert(file_name(dir));
            return None;
        };
        let shown = self.shown(&file);
        let text = self.text(&shown).to_string();
        let spec = manifest.validate(&self.root, dir, &shown, &text, &mut self.problems);
        Some(Package {
            manifest,
            kit: kit.to_string(),
            dir: self.shown(dir),
            spec,
        })
    }

    /// Reads every shared base, used or not, so a broken one is reported either way.
    fn bases(&mut self) -> BTreeMap<String, Option<VariantManifest>> {
        let dir = self.root.join("variants").join(SHARED_DIR);
        let mut bases = BTreeMap::new();
        let Ok(entries) = std::fs::read_dir(&dir) else {
            return bases;
        };
        let mut files: Vec<PathBuf> = entries
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
            .collect();
        files.sort();
        for path in files {
            let name = path
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_default();
            let manifest = self.read::<VariantManifest>(&path, Some(SchemaKind::Variant));
            if let Some(manifest) = &manifest {
                let shown = self.shown(&path);
                self.check_manifest(manifest, &shown);
            }
            bases.insert(name, manifest);
        }
        bases
    }

    /// Checks one manifest's own values, so problems point at the file that has them.
    fn check_manifest(&mut self, manifest: &VariantManifest, shown: &Path) {
        let text = self.text(shown).to_string();
        for problem in crate::variant::check_manifest(manifest, shown, &text) {
            self.problems.push(problem);
        }
    }

    fn variants(&mut self) -> BTreeMap<String, Variant> {
        let variants_dir = self.root.join("variants");
        let mut bases = self.bases();
        let mut variants = BTreeMap::new();
        for dir in self.subdirs(&variants_dir) {
            let name = file_name(&dir);
            if name == SHARED_DIR {
                continue;
            }
            let file = dir.join("variant.yaml");
            let shown = self.shown(&file);
            if !file.is_file() {
                self.problems.push(
                    Diagnostic::new(
                        self.shown(&dir),
                        "the variant directory has no variant.yaml",
                    )
                    .hint("add variant.yaml, or move shared manifests to variants/shared/"),
                );
                continue;
            }
            let parts = match name.parse::<VariantName>() {
                Ok(parts) => Some(parts),
                Err(e) => {
                    self.problems.push(
                        Diagnostic::new(self.shown(&dir), e.to_string())
                            .hint("rename the directory, e.g. `aws-k8s-1.31` or `metal-dev`"),
                    );
                    None
                }
            };
            let Some(manifest) = self.read::<VariantManifest>(&file, Some(SchemaKind::Variant))
            else {
                continue;
            };
            self.check_manifest(&manifest, &shown);
            let mut layered = Layered::default();
            let mut stack = vec![name.clone()];
            let complete =
                self.apply_bases(&manifest, &shown, &mut layered, &mut bases, &mut stack);
            layered.apply(&manifest, &shown);
            let (Some(parts), true) = (parts, complete) else {
                continue;
            };
            let text = self.text(&shown).to_string();
            match layered.resolve(&name, parts, shown, &text) {
                Ok(variant) => {
                    variants.insert(name, variant);
                }
                Err(problems) => problems.into_iter().for_each(|p| self.problems.push(p)),
            }
        }
        variants
    }

    /// Applies the bases `manifest` inherits from, depth first, each at most once. Returns false
    /// when a base is missing, broken or part of a cycle (the problem is recorded).
    fn apply_bases(
        &mut self,
        manifest: &VariantManifest,
        from: &Path,
        layered: &mut Layered,
        bases: &mut BTreeMap<String, Option<VariantManifest>>,
        stack: &mut Vec<String>,
    ) -> bool {
        let mut complete = true;
        for base in &manifest.inherits {
            if layered.inherits.contains(base) {
                continue;
            }
            if stack.contains(base) {
                let cycle = stack.iter().chain([base]).cloned().collect::<Vec<_>>();
                let text = self.text(from).to_string();
                self.problems.push(
                    Diagnostic::new(from, format!("inheritance cycle: {}", cycle.join(" -> ")))
                        .key("inherits")
                        .locate(&text, base)
                        .hint("a base must not inherit, directly or not, from itself"),
                );
                return false;
            }
            let shown = Path::new("variants")
                .join(SHARED_DIR)
                .join(format!("{base}.yaml"));
            if !bases.contains_key(base) {
                let text = self.text(from).to_string();
                let is_variant = self
                    .root
                    .join("variants")
                    .join(base)
                    .join("variant.yaml")
                    .is_file();
                let hint = if is_variant {
                    format!("`{base}` is a variant; variants cannot be inherited: move what they share to variants/shared/<name>.yaml")
                } else {
                    format!("create {} or fix the name", shown.display())
                };
                self.problems.push(
                    Diagnostic::new(
                        from,
                        format!(
                            "base `{base}` does not exist ({} is missing)",
                            shown.display()
                        ),
                    )
                    .key("inherits")
                    .locate(&text, base)
                    .hint(hint),
                );
                bases.insert(base.clone(), None);
            }
            let Some(base_manifest) = bases.get(base).cloned().flatten() else {
                complete = false;
                continue;
            };
            stack.push(base.clone());
            complete &= self.apply_bases(&base_manifest, &shown, layered, bases, stack);
            stack.pop();
            layered.apply(&base_manifest, &shown);
            layered.inherits.push(base.clone());
        }
        complete
    }

    fn check_dependencies(&mut self, packages: &BTreeMap<String, Package>) {
        for package in packages.values() {
            let shown = package.dir.join("package.yaml");
            for dependency in &package.manifest.build_dependencies {
                if !packages.contains_key(dependency) && !self.broken_packages.contains(dependency)
                {
                    let text = self.text(&shown).to_string();
                    self.problems.push(
                        Diagnostic::new(
                            &shown,
                            format!(
                                "build dependency `{dependency}` is not a package of any kit ({} -> {dependency})",
                                package.manifest.name
                            ),
                        )
                        .key("build-dependencies")
                        .locate(&text, dependency)
                        .hint("add the package under kits/<kit>/packages/ or fix the name"),
                    );
                }
            }
        }
        for cycle in find_cycles(packages) {
            let first = &packages[&cycle[0]];
            let shown = first.dir.join("package.yaml");
            let text = self.text(&shown).to_string();
            self.problems.push(
                Diagnostic::new(
                    &shown,
                    format!("build dependency cycle: {}", cycle.join(" -> ")),
                )
                .key("build-dependencies")
                .locate(&text, &cycle[1])
                .hint("packages cannot build-depend on each other in a circle: remove one edge"),
            );
        }
    }

    fn check_variants(
        &mut self,
        variants: &BTreeMap<String, Variant>,
        kits: &BTreeMap<String, Kit>,
        packages: &BTreeMap<String, Package>,
        external_kits: &BTreeSet<String>,
    ) {
        let mut missing: BTreeMap<(PathBuf, String), (Vec<String>, Vec<String>)> = BTreeMap::new();
        for variant in variants.values() {
            let text = self.text(&variant.manifest).to_string();
            for kit in &variant.kits {
                if !kits.contains_key(kit) && !external_kits.contains(kit) {
                    self.problems.push(
                        Diagnostic::new(&variant.manifest, format!("kit `{kit}` is neither a local kit (kits/{kit}) nor a [[kit]] of Twoliter.toml"))
                            .key("kits")
                            .locate(&text, kit)
                            .hint("add the kit, or fix its name"),
                    );
                }
            }
            // Packages of external kits are known only once the kit is fetched.
            if variant.kits.iter().any(|k| external_kits.contains(k)) {
                continue;
            }
            for included in &variant.included_packages {
                let in_kits = packages
                    .get(&included.name)
                    .is_some_and(|p| variant.kits.contains(&p.kit))
                    || self.broken_packages.contains(&included.name);
                if !in_kits {
                    missing
                        .entry((included.from.clone(), included.name.clone()))
                        .or_insert_with(|| (Vec::new(), variant.kits.clone()))
                        .0
                        .push(variant.name.clone());
                }
            }
        }
        // One problem per listing, however many variants inherit it.
        for ((from, name), (users, kits)) in missing {
            let from_text = self.text(&from).to_string();
            let whereabouts = match packages.get(&name) {
                Some(p) => format!("it is in kit `{}`, which the variant does not use", p.kit),
                None => "no kit has it".to_string(),
            };
            self.problems.push(
                Diagnostic::new(
                    &from,
                    format!(
                        "package `{name}` is included by variant{} {}, but {whereabouts} (kits used: {})",
                        if users.len() == 1 { "" } else { "s" },
                        users.join(", "),
                        kits.join(", ")
                    ),
                )
                .key("included-packages")
                .locate(&from_text, &name)
                .hint("add the package under kits/<kit>/packages/, add its kit to `kits`, or fix the name"),
            );
        }
    }
}

fn file_name(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// Every elementary build-dependency cycle reachable by depth-first search, each reported once
/// as a path that starts and ends with the same package.
fn find_cycles(packages: &BTreeMap<String, Package>) -> Vec<Vec<String>> {
    #[derive(Clone, Copy, PartialEq)]
    enum State {
        Visiting,
        Done,
    }
    fn visit<'a>(
        name: &'a str,
        packages: &'a BTreeMap<String, Package>,
        state: &mut BTreeMap<&'a str, State>,
        path: &mut Vec<&'a str>,
        cycles: &mut Vec<Vec<String>>,
    ) {
        state.insert(name, State::Visiting);
        path.push(name);
        for dependency in packages
            .get(name)
            .map(|p| p.manifest.build_dependencies.as_slice())
            .unwrap_or_default()
        {
            match state.get(dependency.as_str()) {
                Some(State::Visiting) => {
                    let start = path.iter().position(|p| p == dependency).unwrap_or(0);
                    let mut cycle: Vec<String> =
                        path[start..].iter().map(|s| s.to_string()).collect();
                    cycle.push(dependency.clone());
                    cycles.push(cycle);
                }
                Some(State::Done) => {}
                None if packages.contains_key(dependency) => {
                    visit(dependency, packages, state, path, cycles)
                }
                None => {}
            }
        }
        path.pop();
        state.insert(name, State::Done);
    }
    let mut state = BTreeMap::new();
    let mut cycles = Vec::new();
    for name in packages.keys() {
        if !state.contains_key(name.as_str()) {
            visit(name, packages, &mut state, &mut Vec::new(), &mut cycles);
        }
    }
    cycles
}
