//! What the S3 handlers share: store errors as S3's, key checks, a request body received into a
//! synced temp file with its digests and checked against what the client sent, conditions, and the
//! attribute and header mappings.
//!
//! Owns: those helpers. Must not: lay out files (the store does) or answer whole requests.

use super::{Attrs, Checksums, Meta, Store, StoreError, MAX_KEY_BYTES};
use futures_util::StreamExt;
use s3s::dto::*;
use s3s::{s3_error, S3Error, S3Request, S3Result};
use std::path::{Path, PathBuf};
use tokio::io::AsyncWriteExt;

impl From<StoreError> for S3Error {
    fn from(e: StoreError) -> S3Error {
        match e {
            StoreError::NoSuchBucket => s3_error!(NoSuchBucket),
            StoreError::NoSuchKey => s3_error!(NoSuchKey),
            StoreError::BucketExists => s3_error!(BucketAlreadyOwnedByYou),
            StoreError::BucketNotEmpty => s3_error!(BucketNotEmpty),
            StoreError::KeyTooLong => s3_error!(KeyTooLongError),
            StoreError::Io(e) => {
                tracing::error!(error = %e, "S3 store I/O failed");
                s3_error!(e, InternalError)
            }
        }
    }
}

pub(super) fn io(e: std::io::Error) -> S3Error {
    StoreError::Io(e).into()
}

pub(super) fn check_key(key: &str) -> S3Result<()> {
    if key.is_empty() {
        return Err(s3_error!(InvalidArgument, "an object key must not be empty"));
    }
    if key.len() > MAX_KEY_BYTES {
        return Err(s3_error!(KeyTooLongError));
    }
    Ok(())
}

/// Removes a temp file unless disarmed.
pub(super) struct TmpGuard(Option<PathBuf>);

impl TmpGuard {
    /// Guards `path`.
    pub fn new(path: PathBuf) -> TmpGuard {
        TmpGuard(Some(path))
    }
    /// The file.
    pub fn path(&self) -> &Path {
        self.0.as_deref().unwrap_or(Path::new(""))
    }
    /// Keeps the file (it was renamed into place): the path.
    pub fn disarm(mut self) -> PathBuf {
        self.0.take().unwrap_or_default()
    }
}

impl Drop for TmpGuard {
    fn drop(&mut self) {
        if let Some(p) = self.0.take() {
            let _ = std::fs::remove_file(p);
        }
    }
}

/// A body written to a synced temp file, with its digests.
pub(super) struct Received {
    pub tmp: TmpGuard,
    pub size: u64,
    pub md5: String,
    pub checksums: Checksum,
}

pub(super) fn hasher_for(
    crc32: bool,
    crc32c: bool,
    sha1: bool,
    sha256: bool,
    crc64nvme: bool,
    alg: Option<&ChecksumAlgorithm>,
) -> S3Result<s3s::checksum::ChecksumHasher> {
    let mut h = s3s::checksum::ChecksumHasher::default();
    let (mut a, mut b, mut c, mut d, mut e) = (crc32, crc32c, sha1, sha256, crc64nvme);
    if let Some(alg) = alg {
        match alg.as_str() {
            ChecksumAlgorithm::CRC32 => a = true,
            ChecksumAlgorithm::CRC32C => b = true,
            ChecksumAlgorithm::SHA1 => c = true,
            ChecksumAlgorithm::SHA256 => d = true,
            ChecksumAlgorithm::CRC64NVME => e = true,
            _ => return Err(s3_error!(NotImplemented, "unsupported checksum algorithm")),
        }
    }
    if a {
        h.crc32 = Some(Default::default());
    }
    if b {
        h.crc32c = Some(Default::default());
    }
    if c {
        h.sha1 = Some(Default::default());
    }
    if d {
        h.sha256 = Some(Default::default());
    }
    if e {
        h.crc64nvme = Some(Default::default());
    }
    Ok(h)
}

pub(super) async fn receive(store: &Store, body: StreamingBlob, mut hasher: s3s::checksum::ChecksumHasher) -> S3Result<Received> {
    use s3s::crypto::Checksum as _;
    let tmp = TmpGuard::new(store.tmp_path());
    let mut file = tokio::fs::File::create(tmp.path()).await.map_err(io)?;
    let mut md5 = s3s::crypto::Md5::new();
    let mut size = 0u64;
    let mut body = body;
    while let Some(chunk) = body.next().await {
        let chunk = chunk.map_err(|e| s3_error!(IncompleteBody, "the body could not be read: {e}"))?;
        md5.update(&chunk);
        hasher.update(&chunk);
        file.write_all(&chunk).await.map_err(io)?;
        size += chunk.len() as u64;
    }
    file.sync_all().await.map_err(io)?;
    Ok(Received { tmp, size, md5: hex::encode(md5.finalize()), checksums: hasher.finalize() })
}

/// A checksum sent in the body's trailer (an SDK's `aws-chunked` upload), read after the body.
pub(super) fn trailer(req_trailers: &Option<s3s::TrailingHeaders>, name: &str) -> S3Result<Option<String>> {
    let Some(t) = req_trailers else { return Ok(None) };
    t.read(|map| map.get(name).map(|v| v.to_str().map(str::to_owned).map_err(|_| s3_error!(InvalidArgument))).transpose())
        .transpose()
        .map(Option::flatten)
}

/// Compares what the client said the digests are with what was received.
pub(super) fn verify(got: &Checksum, want: &Checksum, content_md5: Option<&str>, md5: &str) -> S3Result<()> {
    use base64::Engine as _;
    if let Some(c) = content_md5 {
        let raw = base64::engine::general_purpose::STANDARD.decode(c).map_err(|_| s3_error!(InvalidDigest))?;
        if hex::encode(raw) != md5 {
            return Err(s3_error!(BadDigest, "Content-MD5 does not match the body"));
        }
    }
    let pairs = [
        ("CRC32", &got.checksum_crc32, &want.checksum_crc32),
        ("CRC32C", &got.checksum_crc32c, &want.checksum_crc32c),
        ("SHA1", &got.checksum_sha1, &want.checksum_sha1),
        ("SHA256", &got.checksum_sha256, &want.checksum_sha256),
        ("CRC64NVME", &got.checksum_crc64nvme, &want.checksum_crc64nvme),
    ];
    for (name, g, w) in pairs {
        if let Some(w) = w {
            if g.as_deref() != Some(w.as_str()) {
                return Err(s3_error!(BadDigest, "the {name} checksum does not match the body"));
            }
        }
    }
    Ok(())
}

pub(super) fn stored_checksums(c: &Checksum) -> Checksums {
    Checksums {
        crc32: c.checksum_crc32.clone(),
        crc32c: c.checksum_crc32c.clone(),
        sha1: c.checksum_sha1.clone(),
        sha256: c.checksum_sha256.clone(),
        crc64nvme: c.checksum_crc64nvme.clone(),
    }
}

/// The stored attributes of a request that carries them (PutObject, CopyObject with REPLACE,
/// CreateMultipartUpload: the same field names on different types).
macro_rules! attrs_of {
    ($i:expr) => {
        Attrs {
            content_type: $i.content_type.map(|c| c.to_string()),
            content_encoding: $i.content_encoding,
            content_disposition: $i.content_disposition,
            content_language: $i.content_language,
            cache_control: $i.cache_control,
            website_redirect_location: $i.website_redirect_location,
            metadata: $crate::objects::request::meta_map($i.metadata),
        }
    };
}

/// A GetObject or HeadObject answer's object headers from `m` (checksums only when `whole`),
/// with the fields only one of them has.
macro_rules! object_output {
    ($ty:ident, $m:expr, $whole:expr, { $($field:ident: $value:expr),* $(,)? }) => {{
        let (m, whole) = ($m, $whole);
        let a = &m.attrs;
        $ty {
            accept_ranges: Some("bytes".into()),
            last_modified: Some(Timestamp::from(m.modified())),
            e_tag: Some($crate::objects::request::etag(m)),
            metadata: $crate::objects::request::user_meta(a),
            content_type: a.content_type.as_deref().and_then(|c| c.parse().ok()),
            content_encoding: a.content_encoding.clone(),
            content_disposition: a.content_disposition.clone(),
            content_language: a.content_language.clone(),
            cache_control: a.cache_control.clone(),
            website_redirect_location: a.website_redirect_location.clone(),
            checksum_crc32: m.checksums.crc32.clone().filter(|_| whole),
            checksum_crc32c: m.checksums.crc32c.clone().filter(|_| whole),
            checksum_sha1: m.checksums.sha1.clone().filter(|_| whole),
            checksum_sha256: m.checksums.sha256.clone().filter(|_| whole),
            checksum_crc64nvme: m.checksums.crc64nvme.clone().filter(|_| whole),
            $($field: $value,)*
            ..Default::default()
        }
    }};
}

pub(super) fn meta_map(m: Option<Metadata>) -> std::collections::BTreeMap<String, String> {
    m.map(|m| m.into_iter().collect()).unwrap_or_default()
}

pub(super) fn user_meta(a: &Attrs) -> Option<Metadata> {
    (!a.metadata.is_empty()).then(|| a.metadata.clone().into_iter().collect())
}

pub(super) fn etag(m: &Meta) -> ETag {
    ETag::Strong(m.etag.clone())
}

/// If-Match / If-None-Match against the current object (`None`: there is none).
pub(super) fn preconditions(
    current: Option<&Meta>,
    if_match: Option<&ETagCondition>,
    if_none_match: Option<&ETagCondition>,
) -> S3Result<()> {
    if let Some(c) = if_match {
        let ok = match (current, c.as_etag()) {
            (None, _) => false,
            (Some(_), None) => true,
            (Some(m), Some(e)) => etag(m).strong_cmp(e),
        };
        if !ok {
            return Err(s3_error!(PreconditionFailed));
        }
    }
    if let Some(c) = if_none_match {
        let hit = match (current, c.as_etag()) {
            (None, _) => false,
            (Some(_), None) => true,
            (Some(m), Some(e)) => etag(m).weak_cmp(e),
        };
        if hit {
            return Err(s3_error!(PreconditionFailed));
        }
    }
    Ok(())
}

pub(super) fn existing(store: &Store, bucket: &str, key: &str) -> S3Result<Option<Meta>> {
    match store.head(bucket, key) {
        Ok(m) => Ok(Some(m)),
        Err(StoreError::NoSuchKey) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

pub(super) fn url_encode(s: &str) -> String {
    urlencoding::encode(s).replace("%2F", "/")
}

pub(super) fn access_key<T>(req: &S3Request<T>) -> Option<&str> {
    req.credentials.as_ref().map(|c| c.access_key.as_str())
}

pub(super) use attrs_of;
pub(super) use object_output;
