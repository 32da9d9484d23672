//! The build id stamped into artifact names: the short commit of the project, `-dirty` when the
//! work tree has changes.

use std::path::Path;
use std::process::Command;

/// Build id used outside a git checkout.
pub const UNVERSIONED: &str = "local";

/// The short commit (8 hex digits) of the git checkout holding `root`, with `-dirty` appended when
/// tracked files differ from it; [`UNVERSIONED`] when `root` is not in a git checkout or git is
/// missing.
pub fn build_id(root: &Path) -> String {
    let git = |args: &[&str]| {
        Command::new("git")
            .arg("-C")
            .arg(root)
            .args(args)
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
    };
    let Some(commit) = git(&["rev-parse", "--short=8", "HEAD"]) else {
        return UNVERSIONED.to_string();
    };
    let dirty = git(&["status", "--porcelain", "--untracked-files=no"])
        .is_some_and(|status| !status.is_empty());
    if dirty {
        format!("{commit}-dirty")
    } else {
        commit
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outside_git_the_build_is_local() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(build_id(dir.path()), UNVERSIONED);
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
        std::fs::write(dir.path().join("f"), "2").unwrap();
        assert_eq!(build_id(dir.path()), format!("{clean}-dirty"));
    }
}
