//! The built-in S3 server's object store: buckets and objects on disk, where no key is a path.
//!
//! Owns: the on-disk layout under `<data>/.objects/` and the in-memory index of every bucket and
//! key (loaded at start), atomic and synced writes, and the one-time migration from the earlier
//! s3s-fs layout (`<data>/<bucket>/<key as a path>`). Must not: parse S3 requests (that is
//! [`s3`], the `S3` implementation over this store) or know about notifications.
//!
//! Why not s3s-fs: it maps a key to a path, so `../other-bucket/secret` read another bucket and
//! `../.esb-notifications.jsonl` overwrote esb's own log (issue 19). In S3 a key is an opaque
//! string of up to 1,024 bytes; here it only ever names a file through its SHA-256:
//!
//! ```text
//! <data>/.esb-notifications.jsonl      esb's own files: outside the store
//! <data>/.objects/<bucket>/.bucket     the bucket (bucket names never start with '.')
//! <data>/.objects/<bucket>/<sha256(key)>.json          the object's metadata, key included
//! <data>/.objects/<bucket>/<sha256(key)>.<unique>      its bytes, never rewritten in place
//! <data>/.objects/.uploads/<upload id>/               multipart uploads: upload.json, part-N[.json]
//! <data>/.objects/.tmp/                               files being written (removed at start)
//! ```
//!
//! A write streams into `.tmp`, syncs, renames the bytes into the bucket, then renames the
//! metadata over the old one: the metadata's rename is the commit, so a crash leaves the old
//! object or the new one, never a mix; unreferenced byte files are removed at start.
//!
//! Files: this one (layout, index, commits), [`list`] (ListObjects as a pure function), `s3` (the
//! S3 trait), `multipart`, `request` (what the handlers share), `migrate` (the old layout).

pub mod list;
mod migrate;
mod multipart;
mod request;
mod s3;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// S3's longest key, in bytes.
pub const MAX_KEY_BYTES: usize = 1024;
const STORE_DIR: &str = ".objects";
const TMP_DIR: &str = ".tmp";
const UPLOADS_DIR: &str = ".uploads";
const BUCKET_MARKER: &str = ".bucket";

/// Standard attributes and user metadata kept with an object.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Attrs {
    /// Content-Type.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_type: Option<String>,
    /// Content-Encoding.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_encoding: Option<String>,
    /// Content-Disposition.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_disposition: Option<String>,
    /// Content-Language.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_language: Option<String>,
    /// Cache-Control.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache_control: Option<String>,
    /// x-amz-website-redirect-location.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub website_redirect_location: Option<String>,
    /// x-amz-meta-*.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub metadata: BTreeMap<String, String>,
}

/// Checksums the client asked for, base64 as S3 sends them.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Checksums {
    /// CRC32.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub crc32: Option<String>,
    /// CRC32C.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub crc32c: Option<String>,
    /// SHA-1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sha1: Option<String>,
    /// SHA-256.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sha256: Option<String>,
    /// CRC64NVME.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub crc64nvme: Option<String>,
}

/// One object's metadata (what the `.json` file holds).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Meta {
    /// The key, exactly as the client sent it.
    pub key: String,
    /// Bytes.
    pub size: u64,
    /// ETag without quotes.
    pub etag: String,
    /// Last modified, milliseconds since the epoch.
    pub modified_ms: u64,
    /// The byte file's name in the bucket directory.
    pub data: String,
    /// Attributes.
    #[serde(default)]
    pub attrs: Attrs,
    /// Checksums.
    #[serde(default)]
    pub checksums: Checksums,
}

impl Meta {
    /// Last modified as a time.
    pub fn modified(&self) -> SystemTime {
        UNIX_EPOCH + Duration::from_millis(self.modified_ms)
    }
}

#[derive(Debug, Default)]
struct Bucket {
    created_ms: u64,
    objects: BTreeMap<String, Meta>,
}

/// Why a store operation failed (mapped to S3 errors in [`s3`]).
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// No such bucket.
    #[error("no such bucket")]
    NoSuchBucket,
    /// No such key.
    #[error("no such key")]
    NoSuchKey,
    /// The bucket exists.
    #[error("bucket exists")]
    BucketExists,
    /// The bucket still holds objects.
    #[error("bucket not empty")]
    BucketNotEmpty,
    /// The key is longer than S3 allows.
    #[error("key longer than 1024 bytes")]
    KeyTooLong,
    /// I/O.
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

/// The object store.
pub struct Store {
    root: PathBuf,
    index: Mutex<BTreeMap<String, Bucket>>,
    counter: AtomicU64,
}

/// The file name an object's metadata lives under.
fn key_file(key: &str) -> String {
    hex::encode(Sha256::digest(key.as_bytes()))
}

fn now_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0)
}

/// Writes `bytes` to `path` through a synced temp file and a rename.
fn write_atomic(tmp: &Path, path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let mut f = std::fs::File::create(tmp)?;
    f.write_all(bytes)?;
    f.sync_all()?;
    std::fs::rename(tmp, path)
}

fn sync_dir(dir: &Path) {
    if let Ok(d) = std::fs::File::open(dir) {
        let _ = d.sync_all();
    }
}

impl Store {
    /// Opens the store of the S3 data directory `data`, migrating an s3s-fs layout found there.
    pub fn open(data: &Path) -> Result<Store, StoreError> {
        let root = data.join(STORE_DIR);
        std::fs::create_dir_all(root.join(TMP_DIR))?;
        std::fs::create_dir_all(root.join(UPLOADS_DIR))?;
        for e in std::fs::read_dir(root.join(TMP_DIR))?.flatten() {
            let _ = std::fs::remove_file(e.path());
        }
        let store = Store { root, index: Mutex::new(BTreeMap::new()), counter: AtomicU64::new(0) };
        store.load()?;
        store.migrate(data)?;
        Ok(store)
    }

    fn load(&self) -> Result<(), StoreError> {
        let mut index = self.lock();
        for entry in std::fs::read_dir(&self.root)?.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if name.starts_with('.') || !entry.path().join(BUCKET_MARKER).is_file() {
                continue;
            }
            let dir = entry.path();
            let created_ms = std::fs::read_to_string(dir.join(BUCKET_MARKER)).ok().and_then(|s| s.trim().parse().ok()).unwrap_or(0);
            let mut bucket = Bucket { created_ms, objects: BTreeMap::new() };
            let mut files = Vec::new();
            for f in std::fs::read_dir(&dir)?.flatten() {
                let fname = f.file_name().to_string_lossy().into_owned();
                if fname == BUCKET_MARKER {
                    continue;
                }
                if let Some(stem) = fname.strip_suffix(".json") {
                    match std::fs::read(f.path()).ok().and_then(|b| serde_json::from_slice::<Meta>(&b).ok()) {
                        Some(m) if key_file(&m.key) == stem && dir.join(&m.data).is_file() => {
                            bucket.objects.insert(m.key.clone(), m);
                        }
                        _ => tracing::warn!(file = %f.path().display(), "an unreadable S3 object record was skipped"),
                    }
                } else {
                    files.push(fname);
                }
            }
            // Byte files no record names: a write cut off before its commit, or an old version.
            let used: std::collections::HashSet<&str> = bucket.objects.values().map(|m| m.data.as_str()).collect();
            for f in files.iter().filter(|f| !used.contains(f.as_str())) {
                let _ = std::fs::remove_file(dir.join(f));
            }
            index.insert(name, bucket);
        }
        Ok(())
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, Bucket>> {
        self.index.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn bucket_dir(&self, bucket: &str) -> PathBuf {
        self.root.join(bucket)
    }

    /// A fresh path in the temp directory.
    pub(crate) fn tmp_path(&self) -> PathBuf {
        let n = self.counter.fetch_add(1, Ordering::Relaxed);
        self.root.join(TMP_DIR).join(format!("{}-{n}", uuid::Uuid::new_v4().simple()))
    }

    /// The multipart upload directory for `id` (a UUID the store made).
    pub(crate) fn upload_dir(&self, id: &uuid::Uuid) -> PathBuf {
        self.root.join(UPLOADS_DIR).join(id.simple().to_string())
    }

    /// Creates a bucket.
    pub fn add_bucket(&self, bucket: &str) -> Result<(), StoreError> {
        let mut index = self.lock();
        if index.contains_key(bucket) {
            return Err(StoreError::BucketExists);
        }
        let dir = self.bucket_dir(bucket);
        std::fs::create_dir_all(&dir)?;
        let created_ms = now_ms();
        write_atomic(&self.tmp_path(), &dir.join(BUCKET_MARKER), created_ms.to_string().as_bytes())?;
        sync_dir(&self.root);
        index.insert(bucket.to_string(), Bucket { created_ms, objects: BTreeMap::new() });
        Ok(())
    }

    /// Deletes an empty bucket.
    pub fn remove_bucket(&self, bucket: &str) -> Result<(), StoreError> {
        let mut index = self.lock();
        match index.get(bucket) {
            None => return Err(StoreError::NoSuchBucket),
            Some(b) if !b.objects.is_empty() => return Err(StoreError::BucketNotEmpty),
            Some(_) => {}
        }
        std::fs::remove_dir_all(self.bucket_dir(bucket))?;
        index.remove(bucket);
        Ok(())
    }

    /// Whether the bucket exists.
    pub fn has_bucket(&self, bucket: &str) -> bool {
        self.lock().contains_key(bucket)
    }

    /// Every bucket with its creation time.
    pub fn buckets(&self) -> Vec<(String, SystemTime)> {
        self.lock().iter().map(|(n, b)| (n.clone(), UNIX_EPOCH + Duration::from_millis(b.created_ms))).collect()
    }

    /// An object's metadata.
    pub fn head(&self, bucket: &str, key: &str) -> Result<Meta, StoreError> {
        let index = self.lock();
        let b = index.get(bucket).ok_or(StoreError::NoSuchBucket)?;
        b.objects.get(key).cloned().ok_or(StoreError::NoSuchKey)
    }

    /// Opens an object's bytes with its metadata (the file stays readable if it is replaced).
    pub fn open_object(&self, bucket: &str, key: &str) -> Result<(Meta, std::fs::File), StoreError> {
        // A concurrent overwrite may remove the byte file between the lookup and the open: look again.
        for _ in 0..3 {
            let meta = self.head(bucket, key)?;
            match std::fs::File::open(self.bucket_dir(bucket).join(&meta.data)) {
                Ok(f) => return Ok((meta, f)),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Err(StoreError::NoSuchKey)
    }

    /// Lists a bucket.
    pub fn list(&self, bucket: &str, q: &list::Query<'_>) -> Result<list::Listing, StoreError> {
        let index = self.lock();
        let b = index.get(bucket).ok_or(StoreError::NoSuchBucket)?;
        Ok(list::list(&b.objects, q))
    }

    /// Makes the synced file `tmp` the object `key` (the commit of a put, copy or multipart
    /// completion); returns the metadata stored.
    pub fn commit(&self, bucket: &str, key: &str, tmp: &Path, mut meta: Meta) -> Result<Meta, StoreError> {
        if key.len() > MAX_KEY_BYTES {
            let _ = std::fs::remove_file(tmp);
            return Err(StoreError::KeyTooLong);
        }
        let dir = self.bucket_dir(bucket);
        let stem = key_file(key);
        meta.key = key.to_string();
        meta.data = format!("{stem}.{}", uuid::Uuid::new_v4().simple());
        meta.modified_ms = now_ms();
        let record = serde_json::to_vec(&meta).map_err(std::io::Error::other)?;
        // The record is written and synced before the index lock is taken: only the two renames
        // and the index update are serialized, not every put's fsync.
        let record_tmp = self.tmp_path();
        if let Err(e) = std::fs::File::create(&record_tmp).and_then(|mut f| f.write_all(&record).and_then(|_| f.sync_all())) {
            let _ = std::fs::remove_file(tmp);
            let _ = std::fs::remove_file(&record_tmp);
            return Err(e.into());
        }
        let data = dir.join(&meta.data);
        let replaced = {
            let mut index = self.lock();
            let Some(b) = index.get_mut(bucket) else {
                let _ = std::fs::remove_file(tmp);
                let _ = std::fs::remove_file(&record_tmp);
                return Err(StoreError::NoSuchBucket);
            };
            std::fs::rename(tmp, &data)?;
            if let Err(e) = std::fs::rename(&record_tmp, dir.join(format!("{stem}.json"))) {
                let _ = std::fs::remove_file(&data);
                let _ = std::fs::remove_file(&record_tmp);
                return Err(e.into());
            }
            b.objects.insert(key.to_string(), meta.clone())
        };
        sync_dir(&dir);
        if let Some(old) = replaced {
            let _ = std::fs::remove_file(dir.join(old.data));
        }
        Ok(meta)
    }

    /// Links an existing object's bytes to a temp file (bytes are never rewritten in place, so a
    /// copy needs no second copy of them).
    pub fn link_to_tmp(&self, bucket: &str, key: &str) -> Result<(Meta, PathBuf), StoreError> {
        for _ in 0..3 {
            let meta = self.head(bucket, key)?;
            let tmp = self.tmp_path();
            match std::fs::hard_link(self.bucket_dir(bucket).join(&meta.data), &tmp) {
                Ok(()) => return Ok((meta, tmp)),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Err(StoreError::NoSuchKey)
    }

    /// Deletes an object; `Ok(false)` when there was none.
    pub fn delete(&self, bucket: &str, key: &str) -> Result<bool, StoreError> {
        let mut index = self.lock();
        let b = index.get_mut(bucket).ok_or(StoreError::NoSuchBucket)?;
        let Some(old) = b.objects.remove(key) else { return Ok(false) };
        let dir = self.bucket_dir(bucket);
        if let Err(e) = std::fs::remove_file(dir.join(format!("{}.json", key_file(key)))) {
            if e.kind() != std::io::ErrorKind::NotFound {
                b.objects.insert(key.to_string(), old);
                return Err(e.into());
            }
        }
        let _ = std::fs::remove_file(dir.join(&old.data));
        Ok(true)
    }
}

/// The hex MD5 of `bytes` (S3's ETag of a single-part object).
pub(crate) fn md5_hex(bytes: &[u8]) -> String {
    use s3s::crypto::Checksum as _;
    let mut h = s3s::crypto::Md5::new();
    h.update(bytes);
    hex::encode(h.finalize())
}

#[cfg(test)]
mod tests;
