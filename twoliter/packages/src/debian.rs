//! Files of Debian packages, fetched by apt's own client from the Debian mirror this machine's
//! apt already uses (DESIGN §7: the system's sources are left alone; a private apt state with
//! one entry for that mirror and release lives in the store): the files of a source package
//! (`apt-get source --download-only <source>=<version>`) and binary packages (`apt-get download
//! <package>:<arch>=<version>`). apt checks the files against the archive's signed index; the
//! lookaside then checks each against the manifest's sha512.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use twoliter_project::DebianPackage;

/// The archive keyring Debian's apt sources name (`Signed-By:`).
const KEYRING: &str = "/usr/share/keyrings/debian-archive-keyring.gpg";

/// Where the Debian packages come from.
#[derive(Debug, Clone)]
pub struct DebianArchive {
    /// The apt configuration directory the mirror is read from (`/etc/apt`).
    pub etc_apt: PathBuf,
}

/// What is fetched from the archive.
enum Fetch<'a> {
    /// Every file of a source package.
    Source(&'a DebianPackage),
    /// The `.deb` of a binary package for a Debian architecture.
    Binary(&'a DebianPackage, &'a str),
}

impl Fetch<'_> {
    fn package(&self) -> &DebianPackage {
        match self {
            Fetch::Source(package) | Fetch::Binary(package, _) => package,
        }
    }

    /// Names the kept result directory and the private apt state under `.debian/`.
    fn names(&self) -> (String, String) {
        match self {
            Fetch::Source(p) => (format!("{}_{}", p.package, p.version), "apt".into()),
            Fetch::Binary(p, arch) => (
                format!("{}_{}_{arch}.deb", p.package, p.version),
                format!("apt-{arch}"),
            ),
        }
    }

    /// Says what it is, for messages.
    fn describe(&self) -> String {
        match self {
            Fetch::Source(p) => format!("Debian source package {p}"),
            Fetch::Binary(p, arch) => format!("Debian package {p} ({arch})"),
        }
    }
}

impl DebianArchive {
    /// The directory holding every file of source package `source`, downloaded into
    /// `<store>/.debian/` the first time and kept there (a later call is a lookup).
    ///
    /// # Errors
    /// A message saying what failed: no Debian mirror in the apt configuration, or apt's own
    /// error (the version is not on the mirror, the mirror cannot be reached), with its output.
    pub fn files_of(&self, source: &DebianPackage, store: &Path) -> Result<PathBuf, String> {
        self.fetch(Fetch::Source(source), store)
    }

    /// The `.deb` of binary package `package` for Debian architecture `arch` (`amd64`),
    /// downloaded into `<store>/.debian/` the first time and kept there.
    ///
    /// # Errors
    /// As [`DebianArchive::files_of`].
    pub fn deb_of(
        &self,
        package: &DebianPackage,
        arch: &str,
        store: &Path,
    ) -> Result<PathBuf, String> {
        let dir = self.fetch(Fetch::Binary(package, arch), store)?;
        let debs: Vec<PathBuf> = std::fs::read_dir(&dir)
            .map_err(|e| format!("cannot read {}: {e}", dir.display()))?
            .flatten()
            .map(|entry| entry.path())
            .filter(|path| path.extension().is_some_and(|ext| ext == "deb"))
            .collect();
        match debs.as_slice() {
            [deb] => Ok(deb.clone()),
            _ => Err(format!(
                "apt-get download of Debian package {package} ({arch}) left {} .deb files in {}",
                debs.len(),
                dir.display()
            )),
        }
    }

    fn fetch(&self, what: Fetch<'_>, store: &Path) -> Result<PathBuf, String> {
        let base = store.join(".debian");
        let (kept, state) = what.names();
        let done = base.join(kept);
        if done.is_dir() {
            return Ok(done);
        }
        let release = twoliter_sdk::apt::release_sources(&self.etc_apt);
        let mirror = release.first().cloned().ok_or_else(|| {
            format!(
                "no Debian archive in {}/sources.list or sources.list.d/ to fetch {} from; configure apt with a `deb` source for the release, or put the file into a lookaside directory",
                self.etc_apt.display(),
                what.describe()
            )
        })?;
        let apt = base.join(state);
        let (lists, cache, parts) = (apt.join("lists"), apt.join("cache"), apt.join("parts"));
        for dir in [
            &lists.join("partial"),
            &cache.join("archives/partial"),
            &parts,
        ] {
            std::fs::create_dir_all(dir)
                .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
        }
        let list = apt.join("sources.list");
        let (entry, mut options) = match &what {
            Fetch::Source(_) => (
                format!(
                    "deb-src [signed-by={KEYRING}] {} {} main\n",
                    mirror.uri, mirror.suite
                ),
                Vec::new(),
            ),
            // Binary packages from the release and its -updates and -security pockets, where
            // fixed versions are published.
            Fetch::Binary(_, arch) => (
                release
                    .iter()
                    .map(|source| {
                        format!(
                            "deb [arch={arch} signed-by={KEYRING}] {} {} main\n",
                            source.uri, source.suite
                        )
                    })
                    .collect(),
                vec![
                    format!("APT::Architecture={arch}"),
                    format!("APT::Architectures={arch}"),
                ],
            ),
        };
        crate::lookaside::write_atomic(&list, entry.as_bytes())
            .map_err(|e| twoliter_project::error_chain(&e))?;
        options.extend([
            format!("Dir::Etc::SourceList={}", list.display()),
            format!("Dir::Etc::SourceParts={}", parts.display()),
            format!("Dir::State::Lists={}", lists.display()),
            format!("Dir::Cache={}", cache.display()),
            // The store belongs to the user running the build, not to apt's sandbox user.
            "APT::Sandbox::User=root".to_string(),
        ]);
        let apt_get = |args: &[&str], dir: &Path| -> Result<(), String> {
            let mut command = Command::new("apt-get");
            for option in &options {
                command.arg("-o").arg(option);
            }
            let output = command
                .args(["-q", "-y"])
                .args(args)
                .current_dir(dir)
                .stdin(Stdio::null())
                .output()
                .map_err(|e| format!("cannot run apt-get (is this a Debian machine?): {e}"))?;
            if output.status.success() {
                return Ok(());
            }
            let text = String::from_utf8_lossy(&output.stderr).into_owned()
                + &String::from_utf8_lossy(&output.stdout);
            let tail: Vec<&str> = text.lines().rev().take(6).collect();
            Err(format!(
                "`apt-get {}` ({}) failed for {} from {} {}:\n      {}",
                args.join(" "),
                output.status,
                what.describe(),
                mirror.uri,
                mirror.suite,
                tail.into_iter().rev().collect::<Vec<_>>().join("\n      ")
            ))
        };
        // The index is refreshed once per store and state; a package missing from it gets one
        // more refresh (the mirror may have moved on since).
        let fresh = lists.join(".updated");
        if !fresh.exists() {
            apt_get(&["update"], &base)?;
            crate::lookaside::write_atomic(&fresh, b"")
                .map_err(|e| twoliter_project::error_chain(&e))?;
        }
        let package = what.package();
        let temp = base.join(format!(".fetch-{}-{}", package.package, std::process::id()));
        if temp.exists() {
            std::fs::remove_dir_all(&temp)
                .map_err(|e| format!("cannot clean {}: {e}", temp.display()))?;
        }
        std::fs::create_dir_all(&temp)
            .map_err(|e| format!("cannot create {}: {e}", temp.display()))?;
        let spec = match &what {
            Fetch::Source(p) => p.to_string(),
            Fetch::Binary(p, arch) => format!("{}:{arch}={}", p.package, p.version),
        };
        let args: Vec<&str> = match &what {
            Fetch::Source(_) => vec!["source", "--download-only", &spec],
            Fetch::Binary(..) => vec!["download", &spec],
        };
        let fetched = apt_get(&args, &temp).or_else(|_| {
            apt_get(&["update"], &base)?;
            apt_get(&args, &temp)
        });
        if let Err(why) = fetched {
            let _ = std::fs::remove_dir_all(&temp);
            return Err(why);
        }
        tracing::info!("fetched {} from {}", what.describe(), mirror.uri);
        match std::fs::rename(&temp, &done) {
            Ok(()) => Ok(done),
            // Another build fetched it meanwhile.
            Err(_) if done.is_dir() => {
                let _ = std::fs::remove_dir_all(&temp);
                Ok(done)
            }
            Err(e) => Err(format!(
                "cannot move {} to {}: {e}",
                temp.display(),
                done.display()
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn without_a_debian_mirror_the_error_says_where_it_looked_and_what_to_do() {
        let (etc, store) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        let archive = DebianArchive {
            etc_apt: etc.path().to_path_buf(),
        };
        let source = DebianPackage::try_from("grub2=2.06-13".to_string()).unwrap();
        let message = archive.files_of(&source, store.path()).unwrap_err();
        assert!(
            message.contains(&etc.path().display().to_string()),
            "{message}"
        );
        assert!(message.contains("grub2=2.06-13"), "{message}");
        assert!(message.contains("lookaside"), "{message}");
    }

    #[test]
    fn a_package_fetched_before_is_a_lookup() {
        let (etc, store) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        let done = store.path().join(".debian/grub2_2.06-13");
        std::fs::create_dir_all(&done).unwrap();
        let archive = DebianArchive {
            etc_apt: etc.path().to_path_buf(),
        };
        let source = DebianPackage::try_from("grub2=2.06-13".to_string()).unwrap();
        assert_eq!(archive.files_of(&source, store.path()).unwrap(), done);
    }
}
