//! The build id stamped into artifact names: the short commit of the project, `-dirty` when the
//! work tree has changes.

use std::path::Path;
use std::process::Command;

/// Build id used outside a git checkout.
pub const UNVERSIONED: &str = "local";

/// Runs git in `root`; its trimmed output when it succeeds.
fn git(root: &Path, args: &[&str]) -> Option<String> {
    Command::new("git")
        .arg("-C")
        .arg(root)
        .args(args)
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
}

/// The short commit (8 hex digits) of the git checkout holding `root`, with `-dirty` appended when
/// the work tree differs from it (modified or new files that git does not ignore);
/// [`UNVERSIONED`] when `root` is not in a git checkout or git is missing.
pub fn build_id(root: &Path) -> String {
    let Some(commit) = git(root, &["rev-parse", "--short=8", "HEAD"]) else {
        return UNVERSIONED.to_string();
    };
    let dirty = git(root, &["status", "--porcelain"]).is_some_and(|status| !status.is_empty());
    if dirty {
        format!("{commit}-dirty")
    } else {
        commit
    }
}

/// The commit time (seconds since the epoch) of the checkout's HEAD: the default
/// SOURCE_DATE_EPOCH of a build, so rebuilding a commit gives the same timestamps.
pub fn commit_time(root: &Path) -> Option<u64> {
    git(root, &["log", "-1", "--format=%ct"])?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outside_git_the_build_is_local() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(build_id(dir.path()), UNVERSIONED);
        assert_eq!(commit_time(dir.path()), None);
    }

    #[test]
    fn in_git_the_build_is_the_short_commit() {
        let dir = tempfile::tempdir().unwrap();
        let git = |args: &[&str]| {
            let ok = Command::new("git")
                .arg("-C")
                .arg(dir.path())
                .args(["-c", "user.name=t", "-c", "user.email=t@example.com"])
                .args(args)
                .output()
                .unwrap()
                .status
                .success();
            assert!(ok, "git {args:?}");
        };
        git(&["init", "-q"]);
        std::fs::write(dir.path().join("f"), "1").unwrap();
        git(&["add", "f"]);
        git(&["commit", "-q", "-m", "one"]);
        let clean = build_id(dir.path());
        assert_eq!(clean.len(), 8, "{clean}");
        assert!(clean.bytes().all(|b| b.is_ascii_hexdigit()));
        assert!(commit_time(dir.path()).is_some_and(|t| t > 1_600_000_000));
        std::fs::write(dir.path().join("new"), "untracked").unwrap();
        assert_eq!(build_id(dir.path()), format!("{clean}-dirty"));
        std::fs::remove_file(dir.path().join("new")).unwrap();
        std::fs::write(dir.path().join("f"), "2").unwrap();
        assert_eq!(build_id(dir.path()), format!("{clean}-dirty"));
    }
}
