//! Files of Debian source packages, fetched by apt's own client (`apt-get source
//! --download-only <source>=<version>`) from the Debian mirror this machine's apt already uses
//! (DESIGN §7: the system's sources are left alone; a private apt state with one `deb-src`
//! entry for that mirror and release lives in the store). apt checks the files against the
//! archive's signed index; the lookaside then checks each against the manifest's sha512.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use twoliter_project::DebianSource;

/// The archive keyring Debian's apt sources name (`Signed-By:`).
const KEYRING: &str = "/usr/share/keyrings/debian-archive-keyring.gpg";

/// Where the Debian source packages come from.
#[derive(Debug, Clone)]
pub struct DebianArchive {
    /// The apt configuration directory the mirror is read from (`/etc/apt`).
    pub etc_apt: PathBuf,
}

impl DebianArchive {
    /// The directory holding every file of `source`, downloaded into `<store>/.debian/` the
    /// first time and kept there (a later call is a lookup).
    ///
    /// # Errors
    /// A message saying what failed: no Debian mirror in the apt configuration, or apt's own
    /// error (the version is not on the mirror, the mirror cannot be reached), with its output.
    pub fn files_of(&self, source: &DebianSource, store: &Path) -> Result<PathBuf, String> {
        let base = store.join(".debian");
        let done = base.join(format!("{}_{}", source.package, source.version));
        if done.is_dir() {
            return Ok(done);
        }
        let mirror = twoliter_sdk::apt::main_source(&self.etc_apt).ok_or_else(|| {
            format!(
                "no Debian archive in {}/sources.list or sources.list.d/ to fetch Debian source package {source} from; configure apt with a `deb` source for the release, or put the file into a lookaside directory",
                self.etc_apt.display()
            )
        })?;
        let apt = base.join("apt");
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
        let entry = format!(
            "deb-src [signed-by={KEYRING}] {} {} main\n",
            mirror.uri, mirror.suite
        );
        crate::lookaside::write_atomic(&list, entry.as_bytes())
            .map_err(|e| twoliter_project::error_chain(&e))?;
        let options = [
            format!("Dir::Etc::SourceList={}", list.display()),
            format!("Dir::Etc::SourceParts={}", parts.display()),
            format!("Dir::State::Lists={}", lists.display()),
            format!("Dir::Cache={}", cache.display()),
            // The store belongs to the user running the build, not to apt's sandbox user.
            "APT::Sandbox::User=root".to_string(),
        ];
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
                "`apt-get {}` ({}) failed for Debian source package {source} from {} {}:\n      {}",
                args.join(" "),
                output.status,
                mirror.uri,
                mirror.suite,
                tail.into_iter().rev().collect::<Vec<_>>().join("\n      ")
            ))
        };
        apt_get(&["update"], &base)?;
        let temp = base.join(format!(".fetch-{}-{}", source.package, std::process::id()));
        if temp.exists() {
            std::fs::remove_dir_all(&temp)
                .map_err(|e| format!("cannot clean {}: {e}", temp.display()))?;
        }
        std::fs::create_dir_all(&temp)
            .map_err(|e| format!("cannot create {}: {e}", temp.display()))?;
        let fetched = apt_get(&["source", "--download-only", &source.to_string()], &temp);
        if let Err(why) = fetched {
            let _ = std::fs::remove_dir_all(&temp);
            return Err(why);
        }
        tracing::info!("fetched Debian source package {source} from {}", mirror.uri);
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
        let source = DebianSource::try_from("grub2=2.06-13".to_string()).unwrap();
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
        let source = DebianSource::try_from("grub2=2.06-13".to_string()).unwrap();
        assert_eq!(archive.files_of(&source, store.path()).unwrap(), done);
    }
}
