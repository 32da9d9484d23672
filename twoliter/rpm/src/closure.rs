//! The closure of a set of wanted packages over Requires/Provides.

use crate::error::ClosureError;
use crate::info::{Dependency, RpmInfo};
use crate::version::Evr;
use std::cmp::Ordering;
use std::collections::{BTreeSet, HashMap, HashSet, VecDeque};

/// How a package came into the closure.
#[derive(Debug, Clone)]
enum Reason {
    /// It was wanted under this name.
    Wanted(String),
    /// Package `by` required `capability`.
    Required { by: usize, capability: String },
}

/// Compares two packages' `[epoch:]version-release`.
fn compare_evr(a: &RpmInfo, b: &RpmInfo) -> Ordering {
    let ea = Evr {
        epoch: a.epoch.unwrap_or(0),
        version: &a.version,
        release: Some(&a.release),
    };
    let eb = Evr {
        epoch: b.epoch.unwrap_or(0),
        version: &b.version,
        release: Some(&b.release),
    };
    ea.compare(&eb)
}

/// Capability name → indexes of the packages having a Provides entry or a file of that name.
fn provider_index(available: &[RpmInfo]) -> HashMap<&str, BTreeSet<usize>> {
    let mut index: HashMap<&str, BTreeSet<usize>> = HashMap::new();
    for (i, info) in available.iter().enumerate() {
        for p in &info.provides {
            index.entry(p.name.as_str()).or_default().insert(i);
        }
        for f in &info.files {
            index.entry(f.as_str()).or_default().insert(i);
        }
    }
    index
}

/// Picks the best of `candidates`: by name, then highest version, then lowest index.
fn best(available: &[RpmInfo], candidates: impl IntoIterator<Item = usize>) -> Option<usize> {
    candidates.into_iter().min_by(|&a, &b| {
        available[a]
            .name
            .cmp(&available[b].name)
            .then_with(|| compare_evr(&available[b], &available[a]))
            .then_with(|| a.cmp(&b))
    })
}

/// Levenshtein distance, for did-you-mean suggestions.
fn distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut prev = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let cur = row[j + 1];
            row[j + 1] = (prev + usize::from(ca != *cb)).min(row[j] + 1).min(cur + 1);
            prev = cur;
        }
    }
    row[b.len()]
}

/// Up to three available package names that look like `name`.
fn suggestions(name: &str, available: &[RpmInfo]) -> Vec<String> {
    let names: BTreeSet<&str> = available.iter().map(|i| i.name.as_str()).collect();
    let limit = (name.chars().count() / 3).max(2);
    let mut close: Vec<(usize, &str)> = names
        .into_iter()
        .filter_map(|n| {
            let d = distance(name, n);
            (d <= limit || (name.len() >= 3 && (n.contains(name) || name.contains(n))))
                .then_some((d, n))
        })
        .collect();
    close.sort();
    close
        .into_iter()
        .take(3)
        .map(|(_, n)| n.to_owned())
        .collect()
}

/// Returns the indexes (into `available`) of the packages to install for `wanted`: the wanted
/// packages and, transitively, packages providing everything they require, sorted by package
/// name (then version, newest first).
///
/// A wanted name is matched against package names first (the newest version wins), then against
/// provided capabilities. A requirement already satisfied by a package in the closure adds
/// nothing; otherwise the provider chosen is the first by name, newest version first, that
/// does not bring a second version of a package already in the closure. `rpmlib(...)`
/// requirements are not in [`RpmInfo::requires`], and a file requirement (`/bin/sh`) is
/// satisfied by any package shipping that path.
pub fn resolve(wanted: &[String], available: &[RpmInfo]) -> Result<Vec<usize>, ClosureError> {
    let providers = provider_index(available);
    let mut reason: HashMap<usize, Reason> = HashMap::new();
    let mut names: HashSet<&str> = HashSet::new();
    let mut queue = VecDeque::new();

    for name in wanted {
        let by_name = available
            .iter()
            .enumerate()
            .filter(|(_, i)| &i.name == name)
            .map(|(n, _)| n);
        let chosen = best(available, by_name).or_else(|| {
            let requirement = Dependency {
                name: name.clone(),
                flags: 0,
                version: String::new(),
            };
            let candidates = providers.get(name.as_str())?;
            best(
                available,
                candidates
                    .iter()
                    .copied()
                    .filter(|&c| available[c].provides_capability(&requirement)),
            )
        });
        let Some(chosen) = chosen else {
            return Err(ClosureError::UnknownPackage {
                name: name.clone(),
                suggestions: suggestions(name, available),
            });
        };
        if reason.contains_key(&chosen) {
            continue;
        }
        reason.insert(chosen, Reason::Wanted(name.clone()));
        names.insert(&available[chosen].name);
        queue.push_back(chosen);
    }

    while let Some(current) = queue.pop_front() {
        let info = &available[current];
        for requirement in &info.requires {
            if requirement.name.starts_with('(') {
                return Err(ClosureError::RichDependency {
                    package: info.nevra(),
                    requirement: requirement.to_string(),
                });
            }
            let candidates: Vec<usize> = providers
                .get(requirement.name.as_str())
                .map(|set| {
                    set.iter()
                        .copied()
                        .filter(|&c| available[c].provides_capability(requirement))
                        .collect()
                })
                .unwrap_or_default();
            if candidates.iter().any(|c| reason.contains_key(c)) {
                continue;
            }
            let usable = candidates
                .iter()
                .copied()
                .filter(|&c| !names.contains(available[c].name.as_str()));
            let Some(chosen) = best(available, usable) else {
                return Err(missing(
                    available,
                    &providers,
                    &reason,
                    current,
                    requirement,
                ));
            };
            reason.insert(
                chosen,
                Reason::Required {
                    by: current,
                    capability: requirement.to_string(),
                },
            );
            names.insert(&available[chosen].name);
            queue.push_back(chosen);
        }
    }

    let mut closure: Vec<usize> = reason.into_keys().collect();
    closure.sort_by(|&a, &b| {
        available[a]
            .name
            .cmp(&available[b].name)
            .then_with(|| compare_evr(&available[b], &available[a]))
            .then_with(|| a.cmp(&b))
    });
    Ok(closure)
}

/// Builds the error for `requirement` of `package`, which nothing usable provides.
fn missing(
    available: &[RpmInfo],
    providers: &HashMap<&str, BTreeSet<usize>>,
    reason: &HashMap<usize, Reason>,
    package: usize,
    requirement: &Dependency,
) -> ClosureError {
    let mut chain = vec![format!("requires {requirement} (missing)")];
    let mut current = package;
    // Each package is reached once, so the walk ends; the bound is a guard against bugs.
    for _ in 0..=available.len() {
        match reason.get(&current) {
            Some(Reason::Wanted(name)) => {
                chain.push(format!("wanted {name}"));
                break;
            }
            Some(Reason::Required { by, capability }) => {
                let provider = &available[current].name;
                if capability == provider {
                    chain.push(format!("requires {capability}"));
                } else {
                    chain.push(format!("requires {capability} ({provider})"));
                }
                current = *by;
            }
            None => break,
        }
    }
    chain.reverse();
    let candidates = providers
        .get(requirement.name.as_str())
        .map(|set| {
            set.iter()
                .map(|&c| {
                    let info = &available[c];
                    match info.provides.iter().find(|p| p.name == requirement.name) {
                        Some(p) if !p.version.is_empty() => {
                            format!("{} provides {p}", info.nevra())
                        }
                        _ => info.nevra(),
                    }
                })
                .collect()
        })
        .unwrap_or_default();
    ClosureError::MissingCapability {
        capability: requirement.to_string(),
        name: requirement.name.clone(),
        package: available[package].nevra(),
        chain,
        candidates,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::version::{SENSE_EQUAL, SENSE_GREATER};
    use std::path::PathBuf;

    fn dep(s: &str) -> Dependency {
        match s.split_once(" >= ") {
            Some((n, v)) => Dependency {
                name: n.into(),
                flags: SENSE_GREATER | SENSE_EQUAL,
                version: v.into(),
            },
            None => Dependency {
                name: s.into(),
                flags: 0,
                version: String::new(),
            },
        }
    }

    fn pkg(
        name: &str,
        version: &str,
        provides: &[&str],
        requires: &[&str],
        files: &[&str],
    ) -> RpmInfo {
        let mut p: Vec<Dependency> = provides.iter().map(|s| dep(s)).collect();
        p.push(Dependency {
            name: name.into(),
            flags: SENSE_EQUAL,
            version: format!("{version}-1"),
        });
        RpmInfo {
            path: PathBuf::from(format!("{name}.rpm")),
            name: name.into(),
            epoch: None,
            version: version.into(),
            release: "1".into(),
            arch: "x86_64".into(),
            summary: String::new(),
            url: String::new(),
            license: String::new(),
            provides: p,
            requires: requires.iter().map(|s| dep(s)).collect(),
            files: files.iter().map(|s| s.to_string()).collect(),
            scriptlets: vec![],
            payload_compressor: "zstd".into(),
        }
    }

    fn names(r: &[usize], a: &[RpmInfo]) -> Vec<String> {
        r.iter().map(|&i| a[i].nevra()).collect()
    }

    #[test]
    fn closes_and_sorts() {
        let a = vec![
            pkg("zeta", "1", &[], &["libfoo.so.1", "/bin/sh"], &[]),
            pkg("foo", "1", &["libfoo.so.1"], &[], &[]),
            pkg("foo", "2", &["libfoo.so.1"], &[], &[]),
            pkg("busybox", "1", &[], &[], &["/bin/sh"]),
            pkg("unrelated", "1", &[], &[], &[]),
        ];
        let r = resolve(&["zeta".into()], &a).unwrap();
        assert_eq!(
            names(&r, &a),
            ["busybox-1-1.x86_64", "foo-2-1.x86_64", "zeta-1-1.x86_64"]
        );
    }

    #[test]
    fn prefers_provider_already_in_closure() {
        let a = vec![
            pkg("app", "1", &[], &["mta"], &[]),
            pkg("alpha-mta", "1", &["mta"], &[], &[]),
            pkg("zz-mta", "1", &["mta"], &[], &[]),
        ];
        let r = resolve(&["app".into(), "zz-mta".into()], &a).unwrap();
        assert_eq!(names(&r, &a), ["app-1-1.x86_64", "zz-mta-1-1.x86_64"]);
        let r = resolve(&["app".into()], &a).unwrap();
        assert_eq!(names(&r, &a), ["alpha-mta-1-1.x86_64", "app-1-1.x86_64"]);
    }

    #[test]
    fn missing_capability_has_chain() {
        let a = vec![
            pkg("kernel", "1", &[], &["foo"], &[]),
            pkg("foo", "1", &[], &["libbar.so.1"], &[]),
        ];
        let e = resolve(&["kernel".into()], &a).unwrap_err();
        let msg = e.to_string();
        assert!(
            msg.contains("wanted kernel → requires foo → requires libbar.so.1 (missing)"),
            "{msg}"
        );
        assert!(msg.contains("foo-1-1.x86_64 requires libbar.so.1"), "{msg}");
    }

    #[test]
    fn version_ranges_are_checked() {
        let a = vec![
            pkg("app", "1", &[], &["lib >= 2"], &[]),
            pkg("lib", "1.5", &[], &[], &[]),
        ];
        let msg = resolve(&["app".into()], &a).unwrap_err().to_string();
        assert!(msg.contains("requires lib >= 2"), "{msg}");
        assert!(
            msg.contains("lib-1.5-1.x86_64 provides lib = 1.5-1"),
            "{msg}"
        );
    }

    #[test]
    fn unknown_wanted_name_suggests() {
        let a = vec![pkg("kernel-6.1", "1", &[], &[], &[])];
        let e = resolve(&["kernel-6.2".into()], &a).unwrap_err();
        assert_eq!(
            e,
            ClosureError::UnknownPackage {
                name: "kernel-6.2".into(),
                suggestions: vec!["kernel-6.1".into()],
            }
        );
        assert!(e.to_string().contains("did you mean \"kernel-6.1\"?"));
    }
}
