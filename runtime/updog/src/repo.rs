//! Loading the TUF repository with tough and reading its targets.

use std::path::{Path, PathBuf};

use futures::{Stream, StreamExt};
use tough::{Bytes, ExpirationEnforcement, RepositoryLoader, TargetName};
use update_metadata::Manifest;

use crate::config::{base_url, Config};
use crate::error::{chain, Error, Result};
use fsutil::io_err;
use tuf_transport::UreqTransport;

/// Largest `manifest.json` accepted (it is signed, but is read into memory).
const MAX_MANIFEST: usize = 16 * 1024 * 1024;

/// A loaded, verified repository and the runtime its streams run on.
pub struct Repo {
    repo: tough::Repository,
    runtime: tokio::runtime::Runtime,
}

/// Where to find the repository and what to trust.
#[derive(Debug, Clone)]
pub struct RepoSource<'a> {
    /// The configuration (URLs).
    pub config: &'a Config,
    /// The trusted root.json.
    pub root: &'a Path,
    /// tough's persistent datastore (latest seen metadata, against rollback).
    pub metadata_dir: &'a Path,
}

impl Repo {
    /// Loads and verifies the repository's metadata: root chain, timestamp, snapshot, targets,
    /// with expiration enforced and versions checked against `metadata_dir`.
    pub fn load(source: &RepoSource<'_>) -> Result<Repo> {
        let config = source.config;
        let fail = |reason: String| Error::LoadRepository {
            metadata_url: config.metadata_base_url.clone(),
            targets_url: config.targets_base_url.clone(),
            root: source.root.to_path_buf(),
            reason,
        };
        let metadata_url = base_url(&config.metadata_base_url).map_err(fail)?;
        let targets_url = base_url(&config.targets_base_url).map_err(fail)?;
        let root = std::fs::read(source.root).map_err(io_err("read", source.root))?;
        std::fs::create_dir_all(source.metadata_dir)
            .map_err(io_err("create directory", source.metadata_dir))?;
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .map_err(io_err("start the async runtime for", source.metadata_dir))?;
        let loader = RepositoryLoader::new(&root, metadata_url, targets_url)
            .transport(UreqTransport::default())
            .datastore(source.metadata_dir)
            .expiration_enforcement(ExpirationEnforcement::Safe)
            .limits(tuf_transport::limits());
        let repo = runtime
            .block_on(loader.load())
            .map_err(|e| fail(chain(&e)))?;
        Ok(Repo { repo, runtime })
    }

    /// Reads and strictly validates `manifest.json`.
    pub fn manifest(&self) -> Result<Manifest> {
        let bytes = self.read_small("manifest.json", MAX_MANIFEST)?;
        Manifest::from_slice(&bytes).map_err(|e| Error::Manifest(Box::new(e)))
    }

    /// Reads a whole target into memory, refusing more than `max` bytes.
    fn read_small(&self, target: &str, max: usize) -> Result<Vec<u8>> {
        self.runtime.block_on(async {
            let mut stream = self.stream(target).await?;
            let mut out = Vec::new();
            while let Some(chunk) = stream.next().await {
                let chunk = chunk.map_err(|e| fetch_err(target, &e))?;
                if out.len() + chunk.len() > max {
                    return Err(Error::Fetch {
                        target: target.to_string(),
                        reason: format!("larger than the {max} bytes allowed"),
                    });
                }
                out.extend_from_slice(&chunk);
            }
            Ok(out)
        })
    }

    /// The verified byte stream of `target`: tough checks its length while streaming and its
    /// sha256 at the end; the final item is an error if either is wrong.
    pub(crate) async fn stream(
        &self,
        target: &str,
    ) -> Result<impl Stream<Item = tough::error::Result<Bytes>> + Send + Unpin + '_> {
        let name = TargetName::new(target).map_err(|e| Error::TargetName {
            target: target.to_string(),
            reason: chain(&e),
        })?;
        let stream = self
            .repo
            .read_target(&name)
            .await
            .map_err(|e| fetch_err(target, &e))?
            .ok_or_else(|| Error::TargetNotListed {
                target: target.to_string(),
            })?;
        Ok(Box::pin(stream))
    }

    /// Runs a future on the repository's runtime.
    pub(crate) fn block_on<F: std::future::Future>(&self, future: F) -> F::Output {
        self.runtime.block_on(future)
    }

    /// Downloads migration target `name` into `dir` atomically (temp file, fsync, rename, fsync
    /// of the directory); the bytes are kept as published (lz4), the migrator decompresses them.
    pub fn save_migration(&self, name: &str, dir: &Path) -> Result<PathBuf> {
        use std::io::Write;
        if name.is_empty()
            || name.starts_with('.')
            || name.contains('/')
            || name.contains('\\')
            || name.contains('\0')
        {
            return Err(Error::MigrationName {
                name: name.to_string(),
            });
        }
        std::fs::create_dir_all(dir).map_err(io_err("create directory", dir))?;
        let path = dir.join(name);
        let mut file = fsutil::AtomicFile::create(&path, 0o644)?;
        self.block_on(async {
            let mut stream = self.stream(name).await?;
            while let Some(chunk) = stream.next().await {
                let chunk = chunk.map_err(|e| fetch_err(name, &e))?;
                file.write_all(&chunk).map_err(io_err("write", &path))?;
            }
            Ok::<_, Error>(())
        })?;
        file.commit()?;
        Ok(path)
    }
}

/// [`Error::Fetch`] for `target` with tough's whole chain of causes.
pub(crate) fn fetch_err(target: &str, e: &tough::error::Error) -> Error {
    Error::Fetch {
        target: target.to_string(),
        reason: chain(e),
    }
}
