//! Object storage: scans and bundles by key. One interface ([`ObjectStore`]); a local folder
//! ([`LocalObjects`]) by default, Google Cloud Storage in production (crate `gabarito-gcs`).
//!
//! A scan is stored before anything else is done with it, under a key made of its content hash
//! ([`scan_object_key`]), so an upload is never lost and the same bytes are stored once.

use std::future::Future;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::pin::Pin;

use rand::RngExt;
use sha2::{Digest, Sha256};

use super::TenantId;

/// A boxed future, so that [`ObjectStore`] can be used as `dyn ObjectStore`.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Why an object could not be stored or read.
#[derive(Debug, thiserror::Error)]
pub enum ObjectError {
    /// The key is not a valid object key.
    #[error("object key {0:?}: segments of letters, digits, '.', '-', '_' separated by '/'")]
    Key(String),
    /// No object under this key.
    #[error("object {0:?} not found")]
    NotFound(String),
    /// A byte range the object does not have.
    #[error("object {key:?} has {len} bytes: no bytes {start}..{end}")]
    Range {
        /// The object's key.
        key: String,
        /// Its size.
        len: u64,
        /// The first byte asked for.
        start: u64,
        /// The byte after the last one asked for.
        end: u64,
    },
    /// The backend cannot do this (e.g. a signed URL from a local folder).
    #[error("{0}")]
    Unsupported(String),
    /// The storage failed.
    #[error("object storage ({key}): {source}")]
    Io {
        /// The key involved.
        key: String,
        /// What failed.
        source: std::io::Error,
    },
}

/// What is stored under a key ([`ObjectStore::stat`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ObjectMeta {
    /// Its size in bytes.
    pub len: u64,
    /// Its generation, on a backend that versions objects (Cloud Storage): a new one each time
    /// the key is written. `None` on a local folder.
    pub generation: Option<i64>,
}

/// What a signed URL lets its holder do ([`ObjectStore::signed_url`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignedMethod {
    /// Download the object.
    Get,
    /// Upload the object (a `PUT` of the whole body).
    Put,
}

/// An object found by [`ObjectStore::list`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListedObject {
    /// Its name below where the objects are (the folder, or the bucket's prefix), `/` between
    /// folders: what a person calls it, and what does not change with the backend.
    pub name: String,
    /// Its key, to read it with; `None` when the name is not a valid key ([`check_key`]: e.g. it
    /// holds a newline or a `..` segment), so that it cannot be read through this interface.
    pub key: Option<String>,
    /// Its size in bytes.
    pub len: u64,
}

/// One page of a listing ([`ObjectStore::list`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ObjectPage {
    /// The objects of the page, in the listing's order.
    pub objects: Vec<ListedObject>,
    /// The token of the next page; `None` on the last one.
    pub next: Option<String>,
}

/// Where scans and bundles live, by key.
pub trait ObjectStore: Send + Sync {
    /// Stores `bytes` under `key`, replacing any object there. When it returns, the object is
    /// durable.
    fn put<'a>(&'a self, key: &'a str, bytes: &'a [u8]) -> BoxFuture<'a, Result<(), ObjectError>>;
    /// Stores the file at `path` under `key`, streaming it (a large scanner PDF is never held
    /// whole in memory to store it).
    fn put_file<'a>(
        &'a self,
        key: &'a str,
        path: &'a Path,
    ) -> BoxFuture<'a, Result<(), ObjectError>>;
    /// The bytes under `key`.
    fn get<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<Vec<u8>, ObjectError>>;
    /// Whether an object is stored under `key`.
    fn exists<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<bool, ObjectError>>;
    /// The size of the object under `key`, in bytes.
    fn len<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<u64, ObjectError>>;
    /// A reader of the bytes `range` of the object under `key` (an HTTP `Range` answered from
    /// storage), which holds no more than a buffer of it in memory at a time. A range that ends
    /// past the object, or is reversed, is refused ([`ObjectError::Range`]): compare it with
    /// [`ObjectStore::len`] first.
    fn read_range<'a>(
        &'a self,
        key: &'a str,
        range: Range<u64>,
    ) -> BoxFuture<'a, Result<ObjectReader, ObjectError>>;
    /// The size (and generation, where there is one) of the object under `key`.
    fn stat<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<ObjectMeta, ObjectError>> {
        Box::pin(async move {
            Ok(ObjectMeta {
                len: self.len(key).await?,
                generation: None,
            })
        })
    }
    /// A URL that lets whoever holds it `method` the object under `key` directly at the
    /// storage, without credentials, for `expires` (Cloud Storage V4 signed URLs). A backend
    /// that cannot hand out such URLs answers [`ObjectError::Unsupported`] (the default).
    fn signed_url<'a>(
        &'a self,
        key: &'a str,
        method: SignedMethod,
        expires: std::time::Duration,
    ) -> BoxFuture<'a, Result<String, ObjectError>> {
        let _ = (method, expires);
        Box::pin(async move {
            check_key(key)?;
            Err(ObjectError::Unsupported(
                "this object storage cannot sign URLs: signed URLs need Cloud Storage \
                 (GABARITO_STORAGE=gs://BUCKET[/PREFIX])"
                    .to_string(),
            ))
        })
    }
    /// One page of the objects stored here, at most `page_size` of them (at least 1), in an
    /// order that does not change between calls: `page` is `None` for the first page, else the
    /// [`ObjectPage::next`] token of the one before. Only a page is held at a time, so that
    /// millions of objects are listed in bounded memory. Objects being written are not listed.
    fn list<'a>(
        &'a self,
        page: Option<&'a str>,
        page_size: usize,
    ) -> BoxFuture<'a, Result<ObjectPage, ObjectError>>;
    /// Where the objects are, for logs (`folder /srv/objects`, `gs://bucket/prefix`).
    fn describe(&self) -> String;
    /// The key of object `name` in bucket `bucket` as a storage event names it, when that
    /// object is one of these objects (right bucket, under the prefix, a valid key); `None`
    /// otherwise, and always on a backend without buckets (the default).
    fn key_of(&self, bucket: &str, name: &str) -> Option<String> {
        let _ = (bucket, name);
        None
    }
}

/// The bytes of an object as they are read ([`ObjectStore::read_range`]).
pub type ObjectReader = Pin<Box<dyn tokio::io::AsyncRead + Send>>;

/// Hex SHA-256 of `bytes`: the identity of a scan.
pub fn content_hash(bytes: &[u8]) -> String {
    hex(&Sha256::digest(bytes))
}

/// Hex SHA-256 of a file's bytes, read in chunks (see [`content_hash`]).
pub fn content_hash_of_file(path: &Path) -> std::io::Result<String> {
    use std::io::Read;
    let mut file = std::fs::File::open(path)?;
    let mut hasher = Sha256::new();
    let mut chunk = vec![0u8; 1 << 20];
    loop {
        let n = file.read(&mut chunk)?;
        if n == 0 {
            break;
        }
        hasher.update(&chunk[..n]);
    }
    Ok(hex(&hasher.finalize()))
}

/// Hex SHA-256 of what `reader` yields, read in 256 KiB pieces (an object read back from storage
/// is hashed without being held in memory).
pub async fn content_hash_of_reader(
    mut reader: impl tokio::io::AsyncRead + Unpin,
) -> std::io::Result<String> {
    use tokio::io::AsyncReadExt;
    let mut hasher = Sha256::new();
    let mut chunk = vec![0u8; 256 * 1024];
    loop {
        let n = reader.read(&mut chunk).await?;
        if n == 0 {
            break;
        }
        hasher.update(&chunk[..n]);
    }
    Ok(hex(&hasher.finalize()))
}

fn hex(digest: &[u8]) -> String {
    let mut out = String::with_capacity(64);
    for b in digest {
        out.push(char::from(HEX[usize::from(b >> 4)]));
        out.push(char::from(HEX[usize::from(b & 0xf)]));
    }
    out
}

const HEX: &[u8; 16] = b"0123456789abcdef";

/// The key of a scan: `TENANT/scans/HH/HASH` (`HH` the hash's first two digits, so that no
/// folder holds millions of files).
pub fn scan_object_key(tenant: &TenantId, hash: &str) -> String {
    let prefix = hash.get(..2).unwrap_or("00");
    format!("{tenant}/scans/{prefix}/{hash}")
}

/// Refuses a key that could escape a folder or is not a name: an empty one, an empty, `.` or
/// `..` segment between the `/`, a control character (a newline breaks a listing, and Cloud
/// Storage refuses it), a backslash (a folder separator on Windows), more than 1,024 bytes
/// (Cloud Storage's limit). Anything else is a name as people write them — `Turma 3ºA –
/// João #12 (100%).jpg` from a scanning station — and is kept as it is: backends encode it
/// where they must (a URL path), never rename it.
pub fn check_key(key: &str) -> Result<(), ObjectError> {
    let ok = !key.is_empty()
        && key.len() <= 1024
        && key.split('/').all(|seg| {
            !seg.is_empty()
                && seg != "."
                && seg != ".."
                && !seg.chars().any(|c| c.is_control() || c == '\\')
        });
    if ok {
        Ok(())
    } else {
        Err(ObjectError::Key(key.to_string()))
    }
}

/// Objects as files under a folder, one file per key (`ROOT/KEY`).
#[derive(Debug, Clone)]
pub struct LocalObjects {
    root: PathBuf,
}

impl LocalObjects {
    /// Objects under `root` (created when first needed).
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self { root: root.into() }
    }

    /// The folder.
    pub fn root(&self) -> &Path {
        &self.root
    }

    fn path(&self, key: &str) -> Result<PathBuf, ObjectError> {
        check_key(key)?;
        Ok(self.root.join(key))
    }
}

fn io(key: &str) -> impl FnOnce(std::io::Error) -> ObjectError + '_ {
    move |source| ObjectError::Io {
        key: key.to_string(),
        source,
    }
}

impl LocalObjects {
    /// Writes the object aside with `write`, syncs it, then renames it into place: a crash
    /// leaves either no object or the whole one.
    async fn write_aside(
        &self,
        key: &str,
        write: impl FnOnce(&mut std::fs::File) -> std::io::Result<()> + Send + 'static,
    ) -> Result<(), ObjectError> {
        let path = self.path(key)?;
        let dir = path
            .parent()
            .ok_or_else(|| ObjectError::Key(key.to_string()))?
            .to_path_buf();
        let tmp = dir.join(format!(
            ".tmp-{:016x}",
            rand::rng().random_range(0..u64::MAX)
        ));
        tokio::task::spawn_blocking(move || -> std::io::Result<()> {
            std::fs::create_dir_all(&dir)?;
            let mut file = std::fs::File::create(&tmp)?;
            write(&mut file)?;
            file.sync_all()?;
            drop(file);
            std::fs::rename(&tmp, &path).inspect_err(|_| {
                let _ = std::fs::remove_file(&tmp);
            })?;
            if let Ok(d) = std::fs::File::open(&dir) {
                let _ = d.sync_all();
            }
            Ok(())
        })
        .await
        .map_err(|e| ObjectError::Io {
            key: key.to_string(),
            source: std::io::Error::other(e),
        })?
        .map_err(io(key))
    }
}

impl ObjectStore for LocalObjects {
    fn describe(&self) -> String {
        format!("folder {}", self.root.display())
    }

    fn list<'a>(
        &'a self,
        page: Option<&'a str>,
        page_size: usize,
    ) -> BoxFuture<'a, Result<ObjectPage, ObjectError>> {
        let root = self.root.clone();
        let after = page.map(str::to_string);
        Box::pin(async move {
            let limit = page_size.max(1);
            let listed = tokio::task::spawn_blocking(move || {
                let segments: Option<Vec<&str>> = after.as_deref().map(|a| a.split('/').collect());
                let mut out = Vec::with_capacity(limit);
                list_folder(&root, "", segments.as_deref(), &mut out, limit).map(|()| out)
            })
            .await
            .map_err(|e| ObjectError::Io {
                key: String::new(),
                source: std::io::Error::other(e),
            })?
            .map_err(io(""))?;
            // The token is the last name: the next page starts after it. A full page may be the
            // last; the next call then answers an empty one.
            let next = (listed.len() >= limit)
                .then(|| listed.last().map(|o| o.name.clone()))
                .flatten();
            Ok(ObjectPage {
                objects: listed,
                next,
            })
        })
    }

    fn put<'a>(&'a self, key: &'a str, bytes: &'a [u8]) -> BoxFuture<'a, Result<(), ObjectError>> {
        // The blocking writer needs its own copy; uploads through here are request-sized (large
        // files go through `put_file`).
        let bytes = bytes.to_vec();
        Box::pin(self.write_aside(key, move |file| {
            use std::io::Write;
            file.write_all(&bytes)
        }))
    }

    fn put_file<'a>(
        &'a self,
        key: &'a str,
        path: &'a Path,
    ) -> BoxFuture<'a, Result<(), ObjectError>> {
        let source = path.to_path_buf();
        Box::pin(self.write_aside(key, move |file| {
            std::io::copy(&mut std::fs::File::open(&source)?, file).map(drop)
        }))
    }

    fn get<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<Vec<u8>, ObjectError>> {
        Box::pin(async move {
            let path = self.path(key)?;
            tokio::fs::read(&path)
                .await
                .map_err(|e| not_found_or_io(key, e))
        })
    }

    fn exists<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<bool, ObjectError>> {
        Box::pin(async move {
            let path = self.path(key)?;
            tokio::fs::try_exists(&path).await.map_err(io(key))
        })
    }

    fn len<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<u64, ObjectError>> {
        Box::pin(async move {
            let path = self.path(key)?;
            match tokio::fs::metadata(&path).await {
                Ok(meta) if meta.is_file() => Ok(meta.len()),
                Ok(_) => Err(ObjectError::NotFound(key.to_string())),
                Err(e) => Err(not_found_or_io(key, e)),
            }
        })
    }

    fn read_range<'a>(
        &'a self,
        key: &'a str,
        range: Range<u64>,
    ) -> BoxFuture<'a, Result<ObjectReader, ObjectError>> {
        Box::pin(async move {
            use tokio::io::{AsyncReadExt, AsyncSeekExt};
            let path = self.path(key)?;
            let mut file = tokio::fs::File::open(&path)
                .await
                .map_err(|e| not_found_or_io(key, e))?;
            let len = file.metadata().await.map_err(io(key))?.len();
            if range.start > range.end || range.end > len {
                return Err(ObjectError::Range {
                    key: key.to_string(),
                    len,
                    start: range.start,
                    end: range.end,
                });
            }
            file.seek(std::io::SeekFrom::Start(range.start))
                .await
                .map_err(io(key))?;
            let reader: ObjectReader = Box::pin(file.take(range.end - range.start));
            Ok(reader)
        })
    }
}

/// Prefix of the files [`LocalObjects`] writes aside before renaming them into place.
const TMP_PREFIX: &str = ".tmp-";

/// Lists the files under `dir` (whose name below the root is `rel`) in the folder-by-folder
/// order of their names, after `after` (the segments of the last name of the page before),
/// until `out` holds `limit` names.
fn list_folder(
    dir: &Path,
    rel: &str,
    after: Option<&[&str]>,
    out: &mut Vec<ListedObject>,
    limit: usize,
) -> std::io::Result<()> {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && rel.is_empty() => return Ok(()),
        Err(e) => return Err(e),
    };
    let mut names: Vec<(String, std::fs::FileType)> = Vec::new();
    for entry in entries {
        let entry = entry?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with(TMP_PREFIX) {
            continue;
        }
        names.push((name, entry.file_type()?));
    }
    names.sort_unstable_by(|a, b| a.0.cmp(&b.0));
    for (name, kind) in names {
        if out.len() >= limit {
            return Ok(());
        }
        // Past the page before's last name: everything at or below `name` is new.
        let (skip, deeper) = match after {
            Some([first, rest @ ..]) => match name.as_str().cmp(first) {
                std::cmp::Ordering::Less => (true, None),
                std::cmp::Ordering::Equal => (!kind.is_dir() || rest.is_empty(), Some(rest)),
                std::cmp::Ordering::Greater => (false, None),
            },
            _ => (false, None),
        };
        if skip {
            continue;
        }
        let full = if rel.is_empty() {
            name.clone()
        } else {
            format!("{rel}/{name}")
        };
        let path = dir.join(&name);
        if kind.is_dir() {
            list_folder(&path, &full, deeper, out, limit)?;
        } else if kind.is_file() {
            let len = std::fs::metadata(&path)?.len();
            out.push(ListedObject {
                key: check_key(&full).ok().map(|()| full.clone()),
                name: full,
                len,
            });
        }
    }
    Ok(())
}

fn not_found_or_io(key: &str, e: std::io::Error) -> ObjectError {
    if e.kind() == std::io::ErrorKind::NotFound {
        ObjectError::NotFound(key.to_string())
    } else {
        io(key)(e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_are_hex_sha256() {
        assert_eq!(
            content_hash(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn keys_cannot_escape_the_folder() {
        for bad in [
            "", "/a", "a/", "a//b", "../a", "a/../b", "a/./b", "a\\b", "a\nb", "a\rb", "a\u{7f}b",
        ] {
            assert!(check_key(bad).is_err(), "{bad:?}");
        }
        assert!(check_key(&"a".repeat(1025)).is_err());
        assert!(check_key("default/scans/ab/abcdef").is_ok());
        assert!(check_key("escola/lote 7/Turma 3ºA – João #12 (100%) + ç.jpg").is_ok());
    }

    // Round trips, ranges and missing objects: the contract suite
    // (`objects_contract`, run on the local folder by tests/objects_contract.rs).
}
