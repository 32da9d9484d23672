//! Recovery from interrupted writers: stale or half-built generations, temp links and files,
//! unfinished transaction cleanups.

use super::read::{committed_marker, read_dir_if_present};
use super::*;

impl FilesystemDataStore {
    /// Repairs whatever an interrupted writer left; the write lock is held. Returns the live
    /// generation.
    pub(super) fn recover(&self, sweep_temp_files: bool) -> Result<u64> {
        let generation = self.ensure_live_link()?;
        let entries = fs::read_dir(&self.root).map_err(io_err("read directory", &self.root))?;
        for dirent in entries {
            let dirent = dirent.map_err(io_err("read directory", &self.root))?;
            let Some(name) = dirent.file_name().to_str().map(str::to_string) else {
                continue;
            };
            let path = dirent.path();
            if parse_tmp_gen(&name).is_some() {
                info!("removing unfinished generation '{}'", path.display());
                files::remove_tree(&path)?;
            } else if parse_gen(&name).is_some_and(|g| g != generation) {
                info!("removing stale generation '{}'", path.display());
                files::remove_tree(&path)?;
            } else if files::is_temp_link(&name) {
                files::remove_file(&path)?;
            }
        }
        let gen_dir = self.gen_dir(generation);
        if let Some(tx) = committed_marker(&gen_dir)? {
            info!("finishing the interrupted commit of transaction '{tx}'");
            if validate_transaction_name(&tx).is_ok() {
                self.finish_commit(&gen_dir, &tx)?;
            } else {
                files::remove_file(&gen_dir.join(COMMITTED_TX_MARKER))?;
            }
        }
        let pending = self.root.join(PENDING);
        if files::node(&pending)? == Node::Missing {
            fs::create_dir(&pending).map_err(io_err("create directory", &pending))?;
            files::sync_dir(&self.root)?;
        }
        let entries = fs::read_dir(&pending).map_err(io_err("read directory", &pending))?;
        for dirent in entries {
            let dirent = dirent.map_err(io_err("read directory", &pending))?;
            let path = dirent.path();
            let name = dirent.file_name();
            let name = name.to_string_lossy();
            if name.starts_with('.') {
                if dirent.file_type().map(|t| t.is_dir()).unwrap_or(false) {
                    files::remove_tree(&path)?;
                } else {
                    files::remove_file(&path)?;
                }
            } else if sweep_temp_files {
                sweep_hidden_files(&path)?;
            }
        }
        Ok(generation)
    }

    /// Makes sure `live` is a symlink to a generation and returns it. Converts a plain `live`
    /// directory (the Bottlerocket layout) into generation 0, and repairs a missing link left by
    /// an interrupted initialization or conversion.
    pub(super) fn ensure_live_link(&self) -> Result<u64> {
        let link = self.root.join(LIVE);
        let meta = match fs::symlink_metadata(&link) {
            Ok(meta) => Some(meta),
            Err(e) if e.kind() == io::ErrorKind::NotFound => None,
            Err(e) => return Err(io_err("inspect", &link)(e).into()),
        };
        match meta {
            Some(meta) if meta.file_type().is_symlink() => {
                let generation = self.current_generation()?;
                if files::node(&self.gen_dir(generation))? != Node::Dir {
                    return Err(Error::Corrupt {
                        path: link,
                        reason: format!(
                            "generation {generation} that '{LIVE}' points at is missing"
                        ),
                    });
                }
                Ok(generation)
            }
            Some(meta) if meta.is_dir() => {
                let first = self.gen_dir(0);
                if files::node(&first)? != Node::Missing {
                    return Err(Error::Corrupt {
                        path: link,
                        reason: format!("'{LIVE}' is a directory but '{}' exists too", gen_name(0)),
                    });
                }
                info!("converting plain '{}' into generation 0", link.display());
                fs::rename(&link, &first).map_err(io_err("rename", &link))?;
                files::sync_dir(&self.root)?;
                files::replace_symlink(&self.root.join(LIVE), Path::new(&gen_name(0)))?;
                Ok(0)
            }
            Some(_) => Err(Error::Corrupt {
                path: link,
                reason: format!("'{LIVE}' is neither a symlink nor a directory"),
            }),
            None => {
                let mut generations = Vec::new();
                for dirent in
                    fs::read_dir(&self.root).map_err(io_err("read directory", &self.root))?
                {
                    let dirent = dirent.map_err(io_err("read directory", &self.root))?;
                    if let Some(g) = dirent.file_name().to_str().and_then(parse_gen) {
                        generations.push(g);
                    }
                }
                match generations.as_slice() {
                    [only] => {
                        info!("restoring the missing '{LIVE}' link to generation {only}");
                        files::replace_symlink(&self.root.join(LIVE), Path::new(&gen_name(*only)))?;
                        Ok(*only)
                    }
                    [] => Err(Error::NotADatastore {
                        path: self.root.clone(),
                        reason: format!("it has no '{LIVE}' tree"),
                    }),
                    _ => Err(Error::Corrupt {
                        path: link,
                        reason: format!(
                            "'{LIVE}' is missing and several generations exist: {generations:?}"
                        ),
                    }),
                }
            }
        }
    }
}

/// Removes hidden (temp) files left in a pending tree by interrupted writes.
pub(super) fn sweep_hidden_files(dir: &Path) -> Result<()> {
    let Some(entries) = read_dir_if_present(dir)? else {
        return Ok(());
    };
    for dirent in entries {
        let dirent = dirent.map_err(io_err("read directory", dir))?;
        let path = dirent.path();
        let is_dir = dirent.file_type().map(|t| t.is_dir()).unwrap_or(false);
        if dirent.file_name().to_string_lossy().starts_with('.') {
            debug!("removing leftover temp file '{}'", path.display());
            if is_dir {
                files::remove_tree(&path)?;
            } else {
                files::remove_file(&path)?;
            }
        } else if is_dir {
            sweep_hidden_files(&path)?;
        }
    }
    Ok(())
}
