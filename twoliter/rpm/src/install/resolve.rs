//! Root-confined path resolution: payload names to paths under the root, never escaping it
//! (symlinks inside the root are followed within it).

use super::*;

impl Run<'_> {
    pub(super) fn unsafe_path(&self, reason: impl Into<String>) -> Error {
        Error::UnsafePath {
            path: self.rpm.to_owned(),
            entry: self.entry.clone(),
            reason: reason.into(),
        }
    }

    /// Turns a payload name into a path relative to the root, refusing escapes.
    pub(super) fn relative(&self, name: &str) -> Result<Option<PathBuf>> {
        let trimmed = name.strip_prefix("./").unwrap_or(name);
        let mut rel = PathBuf::new();
        for c in Path::new(trimmed).components() {
            match c {
                Component::Normal(part) => rel.push(part),
                Component::CurDir => {}
                Component::ParentDir => return Err(self.unsafe_path("it contains `..`")),
                Component::RootDir | Component::Prefix(_) => {
                    return Err(self.unsafe_path("it is an absolute path (expected ./...)"))
                }
            }
        }
        Ok((!rel.as_os_str().is_empty()).then_some(rel))
    }

    /// Resolves `rel`'s parent inside the root, following symlinks as if the root were `/` and
    /// creating missing directories (0755, root-owned). Returns the host path of `rel`.
    pub(super) fn host_path(&mut self, rel: &Path) -> Result<PathBuf> {
        let parent = rel.parent().unwrap_or(Path::new(""));
        let Some(name) = rel.file_name() else {
            return Err(self.unsafe_path("it has no file name"));
        };
        let dir = self.resolve_dir(parent, true)?.ok_or_else(|| {
            self.conflict(
                rel,
                "a file",
                "a non-directory in one of its parent paths".into(),
            )
        })?;
        Ok(dir.join(name))
    }

    /// The host path of directory `rel` inside the root, or `None` if some component is not a
    /// directory (or, without `create`, is missing).
    pub(super) fn resolve_dir(&self, rel: &Path, create: bool) -> Result<Option<PathBuf>> {
        let root = self.root().to_owned();
        let mut resolved: Vec<OsString> = Vec::new();
        let mut todo: Vec<OsString> = rel
            .components()
            .rev()
            .map(|c| c.as_os_str().to_owned())
            .collect();
        let mut hops = 0;
        while let Some(part) = todo.pop() {
            if part == "." || part == "/" || part.is_empty() {
                continue;
            }
            if part == ".." {
                resolved.pop();
                continue;
            }
            let mut host = root.clone();
            host.extend(&resolved);
            host.push(&part);
            match fs::symlink_metadata(&host) {
                Ok(m) if m.is_dir() => resolved.push(part),
                Ok(m) if m.file_type().is_symlink() => {
                    hops += 1;
                    if hops > MAX_SYMLINK_HOPS {
                        return Err(self.unsafe_path(format!(
                            "resolving it inside the root follows more than {MAX_SYMLINK_HOPS} symlinks"
                        )));
                    }
                    let target = fs::read_link(&host).map_err(io_err("read symlink", &host))?;
                    if target.is_absolute() {
                        resolved.clear();
                    }
                    todo.extend(target.components().rev().map(|c| c.as_os_str().to_owned()));
                }
                Ok(_) => return Ok(None),
                Err(e) if e.kind() == io::ErrorKind::NotFound && create => {
                    fs::create_dir(&host).map_err(io_err("create directory", &host))?;
                    std::os::unix::fs::lchown(&host, Some(0), Some(0))
                        .map_err(io_err("chown", &host))?;
                    fs::set_permissions(&host, fs::Permissions::from_mode(0o755))
                        .map_err(io_err("chmod", &host))?;
                    resolved.push(part);
                }
                Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
                Err(e) => return Err(io_err("inspect", &host)(e).into()),
            }
        }
        let mut host = root;
        host.extend(&resolved);
        Ok(Some(host))
    }
}
