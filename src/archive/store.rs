//! The object store behind an archive URL (`s3://bucket/prefix`,
//! `file:///path`), through the `object_store` crate, with what the archive
//! needs on top: create-only writes that tell our own retry from another
//! writer, durable `file://` objects, and listings after a known name.
//!
//! S3 settings come from the environment (`AWS_ACCESS_KEY_ID`,
//! `AWS_SECRET_ACCESS_KEY`, `AWS_REGION`, `AWS_ENDPOINT_URL`,
//! `AWS_ALLOW_HTTP`), path-style addressing; credentials are never printed
//! (the URL holds none).

use super::layout::{system_folder, Name};
use crate::durable::IoError;
use bytes::Bytes;
use futures::TryStreamExt;
use object_store::path::Path as ObjectPath;
use object_store::{ObjectStore, ObjectStoreExt, PutMode, PutOptions, PutPayload};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// Errors of the archive's store, each naming the URL or object.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("archive URL {url:?}: {reason}")]
    Url { url: String, reason: String },
    #[error("archive {url}: {op} {name}: {source}")]
    Request {
        url: String,
        op: &'static str,
        name: String,
        #[source]
        source: Box<object_store::Error>,
    },
    #[error("archive {url}: {name} already exists with other content: another node is writing this system's timeline to the same archive (two primaries?); archiving stops")]
    Conflict { url: String, name: String },
    #[error("archive {url}: {source}")]
    Io { url: String, source: IoError },
}

/// What [`ArchiveStore::put_new`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Put {
    Created,
    /// The same bytes were there already (an earlier try whose answer was lost).
    AlreadyThere,
}

/// An object seen in a listing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listed {
    pub system_id: u64,
    pub name: Name,
    pub size: u64,
}

/// The store behind one archive URL.
#[derive(Debug, Clone)]
pub struct ArchiveStore {
    url: String,
    store: Arc<dyn ObjectStore>,
    prefix: String,
    /// For `file://`: the directory objects live in, fsynced after each write.
    local_root: Option<PathBuf>,
    /// Set once the store was seen to overwrite on a create-only write: each
    /// new object is then looked for before it is written.
    check_first: Arc<std::sync::atomic::AtomicBool>,
}

/// Retries inside one request: short, so a store that is down shows as an
/// error in status within seconds; the archiver itself retries for ever.
fn retry() -> object_store::RetryConfig {
    object_store::RetryConfig {
        backoff: object_store::BackoffConfig {
            init_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_secs(2),
            base: 2.0,
        },
        max_retries: 3,
        retry_timeout: Duration::from_secs(20),
    }
}

impl ArchiveStore {
    /// Opens the store an archive URL names (nothing is sent yet).
    ///
    /// # Errors
    /// [`StoreError::Url`] for a malformed or unsupported URL or settings.
    pub fn open(url: &str) -> Result<ArchiveStore, StoreError> {
        let bad = |reason: &str| StoreError::Url {
            url: url.to_string(),
            reason: reason.to_string(),
        };
        if let Some(rest) = url.strip_prefix("s3://") {
            let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
            if bucket.is_empty() {
                return Err(bad("no bucket (expected s3://BUCKET/PREFIX)"));
            }
            let store = object_store::aws::AmazonS3Builder::from_env()
                .with_bucket_name(bucket)
                .with_virtual_hosted_style_request(false)
                .with_retry(retry())
                .build()
                .map_err(|e| bad(&e.to_string()))?;
            return Ok(ArchiveStore {
                url: url.to_string(),
                store: Arc::new(store),
                prefix: prefix.trim_matches('/').to_string(),
                local_root: None,
                check_first: Default::default(),
            });
        }
        if let Some(path) = url.strip_prefix("file://") {
            if !path.starts_with('/') {
                return Err(bad("a file URL needs an absolute path (file:///path)"));
            }
            let root = PathBuf::from(path);
            std::fs::create_dir_all(&root).map_err(|e| StoreError::Io {
                url: url.to_string(),
                source: IoError::new("create directory", &root, e),
            })?;
            let store = object_store::local::LocalFileSystem::new_with_prefix(&root)
                .map_err(|e| bad(&e.to_string()))?
                .with_automatic_cleanup(true);
            return Ok(ArchiveStore {
                url: url.to_string(),
                store: Arc::new(store),
                prefix: String::new(),
                local_root: Some(root),
                check_first: Default::default(),
            });
        }
        Err(bad(
            "unsupported scheme (use s3://BUCKET/PREFIX or file:///PATH)",
        ))
    }

    /// The URL, as given (it holds no credentials).
    pub fn url(&self) -> &str {
        &self.url
    }

    fn full(&self, rel: &str) -> String {
        if self.prefix.is_empty() {
            rel.to_string()
        } else {
            format!("{}/{rel}", self.prefix)
        }
    }

    /// The path of `name` of system `system_id`, relative to the URL.
    pub fn object_path(system_id: u64, name: &Name) -> String {
        format!("{}/{}", system_folder(system_id), name.path())
    }

    fn request(
        &self,
        op: &'static str,
        name: &str,
    ) -> impl FnOnce(object_store::Error) -> StoreError {
        let url = self.url.clone();
        let name = name.to_string();
        move |source| StoreError::Request {
            url,
            op,
            name,
            source: Box::new(source),
        }
    }

    /// Writes a new object at `rel` (relative to the URL), never replacing
    /// one: a create-only write where the store honours it, and the bytes
    /// compared when the object exists. On `file://` the file and its
    /// folders are fsynced before this returns.
    ///
    /// # Errors
    /// [`StoreError::Conflict`] when other bytes are there; request errors.
    pub async fn put_new(&self, rel: &str, bytes: Bytes) -> Result<Put, StoreError> {
        let path = ObjectPath::from(self.full(rel));
        if self.check_first.load(std::sync::atomic::Ordering::Relaxed) {
            if let Some(there) = self.get(rel).await? {
                return if there == bytes {
                    Ok(Put::AlreadyThere)
                } else {
                    Err(StoreError::Conflict {
                        url: self.url.clone(),
                        name: rel.to_string(),
                    })
                };
            }
        }
        let opts = PutOptions {
            mode: PutMode::Create,
            ..Default::default()
        };
        match self
            .store
            .put_opts(&path, PutPayload::from_bytes(bytes.clone()), opts)
            .await
        {
            Ok(_) => {
                self.make_durable(rel).await?;
                Ok(Put::Created)
            }
            Err(object_store::Error::AlreadyExists { .. }) => match self.get(rel).await? {
                Some(there) if there == bytes => {
                    self.make_durable(rel).await?;
                    Ok(Put::AlreadyThere)
                }
                _ => Err(StoreError::Conflict {
                    url: self.url.clone(),
                    name: rel.to_string(),
                }),
            },
            Err(e) => Err(self.request("write", rel)(e)),
        }
    }

    /// Writes `rel`, replacing what is there (the heartbeat only).
    ///
    /// # Errors
    /// Request errors.
    pub async fn put_replace(&self, rel: &str, bytes: Bytes) -> Result<(), StoreError> {
        let path = ObjectPath::from(self.full(rel));
        self.store
            .put(&path, PutPayload::from_bytes(bytes))
            .await
            .map_err(self.request("write", rel))?;
        self.make_durable(rel).await
    }

    /// fsyncs a `file://` object and every folder from it up to the root: the
    /// local back end writes and renames without syncing.
    async fn make_durable(&self, rel: &str) -> Result<(), StoreError> {
        let Some(root) = self.local_root.clone() else {
            return Ok(());
        };
        let file = root.join(self.full(rel));
        let url = self.url.clone();
        tokio::task::spawn_blocking(move || -> Result<(), IoError> {
            std::fs::File::open(&file)
                .and_then(|f| f.sync_all())
                .map_err(IoError::at("fsync", &file))?;
            let mut dir = file.parent();
            while let Some(d) = dir {
                crate::durable::sync_dir(d)?;
                if d == root {
                    break;
                }
                dir = d.parent();
            }
            Ok(())
        })
        .await
        .expect("fsync task does not panic")
        .map_err(|source| StoreError::Io { url, source })
    }

    /// Reads `rel`; `None` when it does not exist.
    ///
    /// # Errors
    /// Request errors.
    pub async fn get(&self, rel: &str) -> Result<Option<Bytes>, StoreError> {
        let path = ObjectPath::from(self.full(rel));
        match self.store.get(&path).await {
            Ok(r) => Ok(Some(r.bytes().await.map_err(self.request("read", rel))?)),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(self.request("read", rel)(e)),
        }
    }

    /// Reads bytes `range` of `rel`; `None` when it does not exist.
    ///
    /// # Errors
    /// Request errors.
    pub async fn get_range(
        &self,
        rel: &str,
        range: std::ops::Range<u64>,
    ) -> Result<Option<Bytes>, StoreError> {
        let path = ObjectPath::from(self.full(rel));
        match self.store.get_range(&path, range.clone()).await {
            Ok(b) => Ok(Some(b)),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            // Some servers answer a range with the whole object (`rclone
            // serve s3` does for small ones), which the client refuses: read
            // it whole then.
            Err(_) => Ok(self.get(rel).await?.map(|b| {
                let end = (range.end as usize).min(b.len());
                b.slice((range.start as usize).min(end)..end)
            })),
        }
    }

    /// Removes `rel` (gone already is fine).
    ///
    /// # Errors
    /// Request errors.
    pub async fn delete(&self, rel: &str) -> Result<(), StoreError> {
        let path = ObjectPath::from(self.full(rel));
        match self.store.delete(&path).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(self.request("remove", rel)(e)),
        }
    }

    /// The objects below `folder` (relative to the URL, e.g. a system's
    /// `wal/00000001`) whose paths sort after `after`, in name order. Paths
    /// that are not the archive's names are skipped.
    ///
    /// # Errors
    /// Request errors.
    pub async fn list(&self, folder: &str, after: Option<&str>) -> Result<Vec<Listed>, StoreError> {
        let prefix = ObjectPath::from(self.full(folder));
        let stream = match after {
            Some(a) => self
                .store
                .list_with_offset(Some(&prefix), &ObjectPath::from(self.full(a))),
            None => self.store.list(Some(&prefix)),
        };
        let metas: Vec<_> = stream
            .try_collect()
            .await
            .map_err(self.request("list", folder))?;
        let strip = if self.prefix.is_empty() {
            String::new()
        } else {
            format!("{}/", self.prefix)
        };
        let mut out: Vec<Listed> = metas
            .into_iter()
            .filter_map(|m| {
                let full = m.location.to_string();
                let rel = full.strip_prefix(&strip)?;
                let (sys, path) = rel.split_once('/')?;
                Some(Listed {
                    system_id: super::layout::parse_system_folder(sys)?,
                    name: Name::parse(path)?,
                    size: m.size,
                })
            })
            .collect();
        out.sort_by_key(|l| (l.system_id, l.name.path()));
        Ok(out)
    }

    /// The systems the archive holds (the folders at its top).
    ///
    /// # Errors
    /// Request errors.
    pub async fn systems(&self) -> Result<Vec<u64>, StoreError> {
        let prefix = (!self.prefix.is_empty()).then(|| ObjectPath::from(self.prefix.as_str()));
        let r = self
            .store
            .list_with_delimiter(prefix.as_ref())
            .await
            .map_err(self.request("list", "/"))?;
        let mut out: Vec<u64> = r
            .common_prefixes
            .iter()
            .filter_map(|p| p.filename().and_then(super::layout::parse_system_folder))
            .collect();
        out.sort_unstable();
        Ok(out)
    }

    /// Whether the store refuses a create-only write over an existing object
    /// (S3 and `file://` do; `rclone serve s3` accepts the header and
    /// overwrites). Writes and removes one probe object of `system_id`.
    ///
    /// # Errors
    /// Request errors.
    pub async fn honours_create_only(&self, system_id: u64) -> Result<bool, StoreError> {
        let rel = format!(
            "{}/probe/{:016x}",
            system_folder(system_id),
            rand::random::<u64>()
        );
        let path = ObjectPath::from(self.full(&rel));
        let create = || PutOptions {
            mode: PutMode::Create,
            ..Default::default()
        };
        self.store
            .put_opts(&path, PutPayload::from_static(b"1"), create())
            .await
            .map_err(self.request("write", &rel))?;
        let second = self
            .store
            .put_opts(&path, PutPayload::from_static(b"2"), create())
            .await;
        let honoured = matches!(second, Err(object_store::Error::AlreadyExists { .. }));
        if let Err(e) = second {
            if !honoured {
                return Err(self.request("write", &rel)(e));
            }
        }
        self.delete(&rel).await?;
        self.check_first
            .store(!honoured, std::sync::atomic::Ordering::Relaxed);
        Ok(honoured)
    }
}
