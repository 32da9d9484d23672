//! External files (upstream source tarballs) through the lookaside cache.
//!
//! A file is found as `<source>/<name>/<sha512>/<name>` in a lookaside directory or under a
//! lookaside URL, or as a plain `<dir>/<name>` dropped into a lookaside directory; its sha512 is
//! always checked before use, and it is kept in the local store (`<cache>/lookaside`, same
//! layout) so it is fetched once. Nothing is ever downloaded inside a build container; upstream
//! URLs are only tried when asked for (`--fetch-upstream`).

use crate::inputs::{sha512_file, sha512_reader};
use std::io::Seek;
use std::path::{Path, PathBuf};
use twoliter_project::package::ExternalFile;

/// Where external files come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LookasideSource {
    /// A local directory in lookaside layout (or holding plain files).
    Dir(PathBuf),
    /// An `http://` or `https://` base URL in lookaside layout.
    Url(String),
}

impl LookasideSource {
    /// A directory path or an http(s) URL.
    pub fn parse(text: &str) -> Self {
        if text.starts_with("http://") || text.starts_with("https://") {
            LookasideSource::Url(text.trim_end_matches('/').to_string())
        } else {
            LookasideSource::Dir(PathBuf::from(text))
        }
    }
}

/// The lookaside configuration of a build.
#[derive(Debug, Clone)]
pub struct Lookaside {
    /// Sources tried in order after the local store.
    pub sources: Vec<LookasideSource>,
    /// The local store (`<cache>/lookaside`).
    pub store: PathBuf,
    /// Also try each file's upstream URL.
    pub fetch_upstream: bool,
    /// Where files of Debian packages are fetched from (always tried for them, after
    /// the lookaside sources: the machine's own Debian mirror is a package registry, as for
    /// the SDK).
    pub debian: crate::debian::DebianArchive,
}

/// Why an external file could not be provided.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Problem {
    /// Nowhere to be found.
    Missing {
        /// Where it was looked for.
        looked: Vec<String>,
        /// A copy with another sha512, when one was seen.
        other_sha512: Option<String>,
    },
    /// Found, but its contents do not match the manifest.
    Mismatch {
        /// Where.
        location: String,
        /// Its actual sha512.
        actual: String,
    },
    /// Reading or fetching failed.
    Failed(String),
}

/// One external file that could not be provided, for one package.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unavailable {
    /// The package that needs it.
    pub package: String,
    /// The file.
    pub file: ExternalFile,
    /// What went wrong.
    pub problem: Problem,
}

impl std::fmt::Display for Unavailable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let name = self.file.file_name();
        let sha = &self.file.sha512;
        match &self.problem {
            Problem::Missing {
                looked,
                other_sha512,
            } => {
                write!(f, "{}: {name} (sha512 {}…) is missing; looked in {}", self.package, short(sha), looked.join(", "))?;
                if let Some(other) = other_sha512 {
                    write!(f, "\n    the lookaside holds {name} with sha512 {}… instead: if upstream changed the file, verify it and update `sha512` in the package manifest", short(other))?;
                }
                write!(f, "\n    get it from {} and place it at <lookaside>/{name}/{sha}/{name}", self.file.origin())
            }
            Problem::Mismatch { location, actual } => write!(
                f,
                "{}: {name} at {location} has sha512 {actual} but the package manifest expects {sha}\n    the file is corrupt or upstream changed it: fetch it again, or verify it and update `sha512`",
                self.package
            ),
            Problem::Failed(why) => write!(f, "{}: {name}: {why}", self.package),
        }
    }
}

impl Lookaside {
    /// The local path of `file`, fetching it into the store when needed.
    pub fn provide(&self, package: &str, file: &ExternalFile) -> Result<PathBuf, Box<Unavailable>> {
        let unavailable = |problem| {
            Box::new(Unavailable {
                package: package.to_string(),
                file: file.clone(),
                problem,
            })
        };
        let name = file.file_name();
        let relative = Path::new(name).join(&file.sha512).join(name);
        let stored = self.store.join(&relative);
        if stored.is_file() {
            return Ok(stored);
        }
        let mut looked = vec![self.store.display().to_string()];
        let mut other_sha512 = other_copy(&self.store, name);
        let mut first_problem = None;
        for source in &self.sources {
            let found = match source {
                LookasideSource::Dir(dir) => {
                    looked.push(dir.display().to_string());
                    other_sha512 = other_sha512.or_else(|| other_copy(dir, name));
                    [dir.join(&relative), dir.join(name)]
                        .into_iter()
                        .find(|p| p.is_file())
                        .map(|p| self.store_copy(&p, &stored, file))
                }
                LookasideSource::Url(base) => {
                    let url = format!("{base}/{name}/{}/{name}", file.sha512);
                    looked.push(base.clone());
                    self.store_download(&url, &stored, file)
                }
            };
            // A bad copy in one source does not end the search; it is reported if no source
            // has a good one.
            match found {
                Some(Ok(())) => return Ok(stored),
                Some(Err(problem)) => first_problem = first_problem.or(Some(problem)),
                None => {}
            }
        }
        if let Some(url) = file.url.as_deref().filter(|_| self.fetch_upstream) {
            looked.push(url.to_string());
            match self.store_download(url, &stored, file) {
                Some(Ok(())) => return Ok(stored),
                Some(Err(problem)) => first_problem = first_problem.or(Some(problem)),
                None => {}
            }
        }
        let from_debian = match (&file.debian_source, &file.debian_package) {
            (Some(source), _) => Some((
                format!("Debian source package {source}"),
                self.debian.files_of(source, &self.store).and_then(|dir| {
                    let path = dir.join(name);
                    if path.is_file() {
                        Ok(path)
                    } else {
                        Err(format!(
                            "Debian source package {source} has no file {name} (it has {}); fix `path:`",
                            file_list(&dir)
                        ))
                    }
                }),
            )),
            (None, Some(binary)) => Some((
                format!("Debian package {binary}"),
                match file.deb_architecture() {
                    Some(arch) => self.debian.deb_of(binary, arch, &self.store),
                    None => Err(format!(
                        "`path: {name}` does not name the architecture of Debian package {binary}: use `<package>_<version>_<arch>.deb`"
                    )),
                },
            )),
            (None, None) => None,
        };
        if let Some((origin, found)) = from_debian {
            looked.push(origin);
            match found {
                Ok(path) => match self.store_copy(&path, &stored, file) {
                    Ok(()) => return Ok(stored),
                    Err(problem) => first_problem = first_problem.or(Some(problem)),
                },
                Err(why) => first_problem = first_problem.or(Some(Problem::Failed(why))),
            }
        }
        Err(unavailable(first_problem.unwrap_or(Problem::Missing {
            looked,
            other_sha512,
        })))
    }

    /// Copies `from` into the store after checking its sha512.
    fn store_copy(&self, from: &Path, stored: &Path, file: &ExternalFile) -> Result<(), Problem> {
        let actual = sha512_file(from)
            .map_err(|e| Problem::Failed(format!("cannot read {}: {e}", from.display())))?;
        if actual != file.sha512 {
            return Err(Problem::Mismatch {
                location: from.display().to_string(),
                actual,
            });
        }
        // A copy, not a link: rewriting the user's file later must not change the store.
        let mut temp = temp_beside(stored)?;
        std::fs::File::open(from)
            .and_then(|mut source| std::io::copy(&mut source, temp.file_mut()))
            .map_err(|e| Problem::Failed(format!("cannot store {}: {e}", stored.display())))?;
        temp.commit()
            .map_err(|e| Problem::Failed(twoliter_project::error_chain(&e)))
    }

    /// Downloads `url` into the store after checking its sha512; `None` when the server
    /// does not have it (404).
    fn store_download(
        &self,
        url: &str,
        stored: &Path,
        file: &ExternalFile,
    ) -> Option<Result<(), Problem>> {
        let mut temp = match temp_beside(stored) {
            Ok(temp) => temp,
            Err(problem) => return Some(Err(problem)),
        };
        let result = match crate::http::download(url, temp.file_mut()) {
            Ok(false) => return None,
            Ok(true) => Ok(()),
            Err(why) => Err(Problem::Failed(format!("fetching {url}: {why}"))),
        };
        Some(result.and_then(|()| {
            // What was downloaded, read back through the temporary file before it is committed.
            let actual = (|| {
                let mut file = temp.file().try_clone()?;
                file.seek(std::io::SeekFrom::Start(0))?;
                sha512_reader(file)
            })()
            .map_err(|e| Problem::Failed(format!("cannot read the download of {url}: {e}")))?;
            if actual != file.sha512 {
                return Err(Problem::Mismatch {
                    location: url.to_string(),
                    actual,
                });
            }
            temp.commit()
                .map_err(|e| Problem::Failed(twoliter_project::error_chain(&e)))
        }))
    }
}

/// A file that replaces `stored` when committed (dropped: removed), its directory created.
fn temp_beside(stored: &Path) -> Result<fsutil::AtomicFile, Problem> {
    let dir = stored.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir)
        .map_err(|e| Problem::Failed(format!("cannot create {}: {e}", dir.display())))?;
    fsutil::AtomicFile::create(stored, 0o644)
        .map_err(|e| Problem::Failed(twoliter_project::error_chain(&e)))
}

/// The sha512 of another copy of `name` in lookaside layout under `dir`, if any (directories
/// not named by 128 hex digits are ignored).
fn other_copy(dir: &Path, name: &str) -> Option<String> {
    std::fs::read_dir(dir.join(name))
        .ok()?
        .filter_map(|e| e.ok())
        .map(|e| (e.file_name().to_string_lossy().into_owned(), e.path()))
        .find(|(sha, path)| {
            sha.len() == 128
                && sha.bytes().all(|b| b.is_ascii_hexdigit())
                && path.join(name).is_file()
        })
        .map(|(sha, _)| sha)
}

/// The names of the files in `dir`, for messages.
fn file_list(dir: &Path) -> String {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    if names.is_empty() {
        "no files".into()
    } else {
        names.join(", ")
    }
}

/// The first 16 characters of a digest, for messages.
fn short(digest: &str) -> &str {
    digest.get(..16).unwrap_or(digest)
}

/// Writes `bytes` to `path` atomically, its directory created.
pub(crate) fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), fsutil::IoError> {
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).map_err(fsutil::io_err("create", dir))?;
    fsutil::atomic_write(path, bytes, 0o644)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn external(name: &str, bytes: &[u8]) -> ExternalFile {
        ExternalFile {
            url: Some(format!("https://upstream.invalid/{name}")),
            debian_source: None,
            debian_package: None,
            sha512: sha512_reader(bytes).unwrap(),
            path: None,
        }
    }

    #[test]
    fn a_file_from_a_lookaside_url_is_checked_and_stored() {
        let (served, store) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        let file = external("served.txt", b"served bytes\n");
        let dir = served.path().join("served.txt").join(&file.sha512);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("served.txt"), b"served bytes\n").unwrap();
        let (_server, port) = test_support::serve_dir(served.path());
        let lookaside = Lookaside {
            sources: vec![LookasideSource::parse(&format!("http://127.0.0.1:{port}"))],
            store: store.path().to_path_buf(),
            fetch_upstream: false,
            debian: crate::debian::DebianArchive {
                etc_apt: store.path().join("no-apt"),
            },
        };
        let stored = lookaside.provide("fetched", &file).unwrap();
        assert_eq!(std::fs::read(&stored).unwrap(), b"served bytes\n");
        assert_eq!(sha512_file(&stored).unwrap(), file.sha512);

        // A file whose bytes differ from the manifest's sha512 is refused and not stored.
        let wrong = ExternalFile {
            sha512: sha512_reader(&b"other"[..]).unwrap(),
            ..file.clone()
        };
        let wrong_dir = served.path().join("served.txt").join(&wrong.sha512);
        std::fs::create_dir_all(&wrong_dir).unwrap();
        std::fs::write(wrong_dir.join("served.txt"), b"served bytes\n").unwrap();
        assert!(lookaside.provide("fetched", &wrong).is_err());
        let refused = store.path().join("served.txt").join(&wrong.sha512);
        let left: Vec<_> = std::fs::read_dir(&refused)
            .map(|entries| entries.flatten().map(|e| e.file_name()).collect())
            .unwrap_or_default();
        assert!(
            left.is_empty(),
            "nothing of the refused download is left: {left:?}"
        );
    }
}
