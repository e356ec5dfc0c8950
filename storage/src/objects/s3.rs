//! The S3 API over [`Store`]: buckets, objects (ranges, conditions, checksums, copies), listing
//! (v1 and v2, `encoding-type=url`) and multipart uploads.
//!
//! Owns: turning s3s's typed requests into store calls and store errors into S3's error codes.
//! Must not: lay out files (the store does). The request handling follows s3s-fs (Apache-2.0),
//! whose key-as-path layout this replaces.

use super::{list, Attrs, Checksums, Meta, Store, StoreError, MAX_KEY_BYTES};
use futures_util::StreamExt;
use s3s::dto::*;
use s3s::{s3_error, S3Error, S3Request, S3Response, S3Result, S3};
use std::path::{Path, PathBuf};
use tokio::io::{AsyncReadExt, AsyncSeekExt, AsyncWriteExt};

/// S3's smallest part but the last.
const MIN_PART: u64 = 5 * 1024 * 1024;

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

fn io(e: std::io::Error) -> S3Error {
    StoreError::Io(e).into()
}

fn check_key(key: &str) -> S3Result<()> {
    if key.is_empty() {
        return Err(s3_error!(InvalidArgument, "an object key must not be empty"));
    }
    if key.len() > MAX_KEY_BYTES {
        return Err(s3_error!(KeyTooLongError));
    }
    Ok(())
}

/// Removes a temp file unless disarmed.
struct TmpGuard(Option<PathBuf>);

impl TmpGuard {
    fn path(&self) -> &Path {
        self.0.as_deref().unwrap_or(Path::new(""))
    }
    fn disarm(mut self) -> PathBuf {
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
struct Received {
    tmp: TmpGuard,
    size: u64,
    md5: String,
    checksums: Checksum,
}

fn hasher_for(
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

async fn receive(store: &Store, body: StreamingBlob, mut hasher: s3s::checksum::ChecksumHasher) -> S3Result<Received> {
    use s3s::crypto::Checksum as _;
    let tmp = TmpGuard(Some(store.tmp_path()));
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
fn trailer(req_trailers: &Option<s3s::TrailingHeaders>, name: &str) -> S3Result<Option<String>> {
    let Some(t) = req_trailers else { return Ok(None) };
    t.read(|map| map.get(name).map(|v| v.to_str().map(str::to_owned).map_err(|_| s3_error!(InvalidArgument))).transpose())
        .transpose()
        .map(Option::flatten)
}

/// Compares what the client said the digests are with what was received.
fn verify(got: &Checksum, want: &Checksum, content_md5: Option<&str>, md5: &str) -> S3Result<()> {
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

fn stored_checksums(c: &Checksum) -> Checksums {
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
            metadata: meta_map($i.metadata),
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
            e_tag: Some(etag(m)),
            metadata: user_meta(a),
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

fn meta_map(m: Option<Metadata>) -> std::collections::BTreeMap<String, String> {
    m.map(|m| m.into_iter().collect()).unwrap_or_default()
}

fn user_meta(a: &Attrs) -> Option<Metadata> {
    (!a.metadata.is_empty()).then(|| a.metadata.clone().into_iter().collect())
}

fn etag(m: &Meta) -> ETag {
    ETag::Strong(m.etag.clone())
}

/// If-Match / If-None-Match against the current object (`None`: there is none).
fn preconditions(current: Option<&Meta>, if_match: Option<&ETagCondition>, if_none_match: Option<&ETagCondition>) -> S3Result<()> {
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

fn existing(store: &Store, bucket: &str, key: &str) -> S3Result<Option<Meta>> {
    match store.head(bucket, key) {
        Ok(m) => Ok(Some(m)),
        Err(StoreError::NoSuchKey) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

fn url_encode(s: &str) -> String {
    urlencoding::encode(s).replace("%2F", "/")
}

#[derive(serde::Serialize, serde::Deserialize)]
struct Upload {
    bucket: String,
    key: String,
    access_key: Option<String>,
    attrs: Attrs,
}

#[derive(serde::Serialize, serde::Deserialize)]
struct PartRecord {
    size: u64,
    etag: String,
    modified_ms: u64,
}

impl Store {
    fn upload(&self, id: &str, access_key: Option<&str>) -> S3Result<(uuid::Uuid, PathBuf, Upload)> {
        let id = uuid::Uuid::parse_str(id).map_err(|_| s3_error!(NoSuchUpload))?;
        let dir = self.upload_dir(&id);
        let up: Upload = std::fs::read(dir.join("upload.json"))
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .ok_or_else(|| s3_error!(NoSuchUpload))?;
        if up.access_key.as_deref() != access_key {
            return Err(s3_error!(AccessDenied));
        }
        Ok((id, dir, up))
    }
}

fn access_key<T>(req: &S3Request<T>) -> Option<&str> {
    req.credentials.as_ref().map(|c| c.access_key.as_str())
}

#[async_trait::async_trait]
impl S3 for Store {
    async fn create_bucket(&self, req: S3Request<CreateBucketInput>) -> S3Result<S3Response<CreateBucketOutput>> {
        self.add_bucket(&req.input.bucket)?;
        Ok(S3Response::new(CreateBucketOutput { location: Some(format!("/{}", req.input.bucket)) }))
    }

    async fn delete_bucket(&self, req: S3Request<DeleteBucketInput>) -> S3Result<S3Response<DeleteBucketOutput>> {
        self.remove_bucket(&req.input.bucket)?;
        Ok(S3Response::new(DeleteBucketOutput {}))
    }

    async fn head_bucket(&self, req: S3Request<HeadBucketInput>) -> S3Result<S3Response<HeadBucketOutput>> {
        if !self.has_bucket(&req.input.bucket) {
            return Err(s3_error!(NoSuchBucket));
        }
        Ok(S3Response::new(HeadBucketOutput::default()))
    }

    async fn get_bucket_location(&self, req: S3Request<GetBucketLocationInput>) -> S3Result<S3Response<GetBucketLocationOutput>> {
        if !self.has_bucket(&req.input.bucket) {
            return Err(s3_error!(NoSuchBucket));
        }
        Ok(S3Response::new(GetBucketLocationOutput::default()))
    }

    async fn list_buckets(&self, _: S3Request<ListBucketsInput>) -> S3Result<S3Response<ListBucketsOutput>> {
        let buckets = self
            .buckets()
            .into_iter()
            .map(|(name, created)| Bucket { name: Some(name), creation_date: Some(Timestamp::from(created)), bucket_region: None })
            .collect();
        Ok(S3Response::new(ListBucketsOutput { buckets: Some(buckets), ..Default::default() }))
    }

    async fn put_object(&self, req: S3Request<PutObjectInput>) -> S3Result<S3Response<PutObjectOutput>> {
        let trailers = req.trailing_headers.clone();
        let i = req.input;
        check_key(&i.key)?;
        if !self.has_bucket(&i.bucket) {
            // S3 never creates a bucket on a put (s3s-fs did).
            return Err(s3_error!(NoSuchBucket));
        }
        if let Some(sc) = &i.storage_class {
            if !["STANDARD", "REDUCED_REDUNDANCY"].contains(&sc.as_str()) {
                return Err(s3_error!(InvalidStorageClass));
            }
        }
        preconditions(existing(self, &i.bucket, &i.key)?.as_ref(), i.if_match.as_ref(), i.if_none_match.as_ref())?;
        let body = i.body.ok_or_else(|| s3_error!(IncompleteBody))?;
        let hasher = hasher_for(
            i.checksum_crc32.is_some(),
            i.checksum_crc32c.is_some(),
            i.checksum_sha1.is_some(),
            i.checksum_sha256.is_some(),
            i.checksum_crc64nvme.is_some(),
            i.checksum_algorithm.as_ref(),
        )?;
        let got = receive(self, body, hasher).await?;
        let want = Checksum {
            checksum_crc32: i.checksum_crc32.or(trailer(&trailers, "x-amz-checksum-crc32")?),
            checksum_crc32c: i.checksum_crc32c.or(trailer(&trailers, "x-amz-checksum-crc32c")?),
            checksum_sha1: i.checksum_sha1.or(trailer(&trailers, "x-amz-checksum-sha1")?),
            checksum_sha256: i.checksum_sha256.or(trailer(&trailers, "x-amz-checksum-sha256")?),
            checksum_crc64nvme: i.checksum_crc64nvme.or(trailer(&trailers, "x-amz-checksum-crc64nvme")?),
            ..Default::default()
        };
        verify(&got.checksums, &want, i.content_md5.as_deref(), &got.md5)?;
        let attrs = attrs_of!(i);
        let meta = Meta {
            key: String::new(),
            size: got.size,
            etag: got.md5.clone(),
            modified_ms: 0,
            data: String::new(),
            attrs,
            checksums: stored_checksums(&got.checksums),
        };
        let meta = self.commit(&i.bucket, &i.key, &got.tmp.disarm(), meta)?;
        let c = &got.checksums;
        Ok(S3Response::new(PutObjectOutput {
            e_tag: Some(etag(&meta)),
            checksum_crc32: c.checksum_crc32.clone(),
            checksum_crc32c: c.checksum_crc32c.clone(),
            checksum_sha1: c.checksum_sha1.clone(),
            checksum_sha256: c.checksum_sha256.clone(),
            checksum_crc64nvme: c.checksum_crc64nvme.clone(),
            ..Default::default()
        }))
    }

    async fn get_object(&self, req: S3Request<GetObjectInput>) -> S3Result<S3Response<GetObjectOutput>> {
        let i = req.input;
        check_key(&i.key)?;
        let (m, file) = self.open_object(&i.bucket, &i.key)?;
        if let Some(c) = &i.if_match {
            if c.as_etag().is_some_and(|e| !etag(&m).strong_cmp(e)) {
                return Err(s3_error!(PreconditionFailed));
            }
        }
        if let Some(c) = &i.if_none_match {
            if c.is_any() || c.as_etag().is_some_and(|e| etag(&m).weak_cmp(e)) {
                return Err(s3_error!(NotModified));
            }
        }
        let (start, len, content_range) = match &i.range {
            None => (0, m.size, None),
            Some(r) => {
                let r = r.check(m.size)?;
                (r.start, r.end - r.start, Some(format!("bytes {}-{}/{}", r.start, r.end.saturating_sub(1), m.size)))
            }
        };
        let mut file = tokio::fs::File::from_std(file);
        if start > 0 {
            file.seek(std::io::SeekFrom::Start(start)).await.map_err(io)?;
        }
        let body = tokio_util::io::ReaderStream::with_capacity(file.take(len), 64 * 1024);
        let whole = len == m.size;
        Ok(S3Response::new(object_output!(GetObjectOutput, &m, whole, {
            body: Some(StreamingBlob::wrap(body)),
            content_length: Some(len as i64),
            content_range: content_range,
        })))
    }

    async fn head_object(&self, req: S3Request<HeadObjectInput>) -> S3Result<S3Response<HeadObjectOutput>> {
        let i = req.input;
        check_key(&i.key)?;
        let m = self.head(&i.bucket, &i.key)?;
        if let Some(c) = &i.if_none_match {
            if c.is_any() || c.as_etag().is_some_and(|e| etag(&m).weak_cmp(e)) {
                return Err(s3_error!(NotModified));
            }
        }
        Ok(S3Response::new(object_output!(HeadObjectOutput, &m, true, { content_length: Some(m.size as i64) })))
    }

    async fn delete_object(&self, req: S3Request<DeleteObjectInput>) -> S3Result<S3Response<DeleteObjectOutput>> {
        check_key(&req.input.key)?;
        self.delete(&req.input.bucket, &req.input.key)?;
        Ok(S3Response::new(DeleteObjectOutput::default()))
    }

    async fn delete_objects(&self, req: S3Request<DeleteObjectsInput>) -> S3Result<S3Response<DeleteObjectsOutput>> {
        let i = req.input;
        if !self.has_bucket(&i.bucket) {
            return Err(s3_error!(NoSuchBucket));
        }
        let (mut deleted, mut errors) = (Vec::new(), Vec::new());
        for o in i.delete.objects {
            match check_key(&o.key).map_err(|_| StoreError::KeyTooLong).and_then(|_| self.delete(&i.bucket, &o.key)) {
                Ok(_) => deleted.push(DeletedObject { key: Some(o.key), version_id: o.version_id, ..Default::default() }),
                Err(e) => {
                    let e = S3Error::from(e);
                    errors.push(Error {
                        key: Some(o.key),
                        code: Some(e.code().as_str().to_string()),
                        message: e.message().map(str::to_string),
                        version_id: o.version_id,
                    })
                }
            }
        }
        Ok(S3Response::new(DeleteObjectsOutput {
            deleted: Some(deleted),
            errors: (!errors.is_empty()).then_some(errors),
            ..Default::default()
        }))
    }

    async fn copy_object(&self, req: S3Request<CopyObjectInput>) -> S3Result<S3Response<CopyObjectOutput>> {
        let i = req.input;
        check_key(&i.key)?;
        let CopySource::Bucket { bucket: src_bucket, key: src_key, .. } = &i.copy_source else {
            return Err(s3_error!(NotImplemented, "only bucket/key copy sources are supported"));
        };
        if !self.has_bucket(&i.bucket) {
            return Err(s3_error!(NoSuchBucket));
        }
        let (src, tmp) = self.link_to_tmp(src_bucket, src_key)?;
        let tmp = TmpGuard(Some(tmp));
        if let Some(c) = &i.copy_source_if_match {
            if c.as_etag().is_some_and(|e| !etag(&src).strong_cmp(e)) {
                return Err(s3_error!(PreconditionFailed));
            }
        }
        if let Some(c) = &i.copy_source_if_none_match {
            if c.is_any() || c.as_etag().is_some_and(|e| etag(&src).weak_cmp(e)) {
                return Err(s3_error!(PreconditionFailed));
            }
        }
        let replace = i.metadata_directive.as_ref().is_some_and(|d| d.as_str() == MetadataDirective::REPLACE);
        if !replace && src_bucket.as_ref() == i.bucket && src_key.as_ref() == i.key {
            return Err(s3_error!(
                InvalidRequest,
                "This copy request is illegal because it is trying to copy an object to itself without changing the object's metadata"
            ));
        }
        let attrs = if replace { attrs_of!(i) } else { src.attrs.clone() };
        let meta = Meta { attrs, ..src };
        let meta = self.commit(&i.bucket, &i.key, &tmp.disarm(), meta)?;
        Ok(S3Response::new(CopyObjectOutput {
            copy_object_result: Some(CopyObjectResult {
                e_tag: Some(etag(&meta)),
                last_modified: Some(Timestamp::from(meta.modified())),
                ..Default::default()
            }),
            ..Default::default()
        }))
    }

    async fn list_objects(&self, req: S3Request<ListObjectsInput>) -> S3Result<S3Response<ListObjectsOutput>> {
        let i = req.input;
        let q = list::Query {
            prefix: i.prefix.as_deref().unwrap_or(""),
            delimiter: i.delimiter.as_deref(),
            after: i.marker.as_deref().filter(|m| !m.is_empty()),
            max: i.max_keys.map_or(list::MAX_KEYS, |m| m.max(0) as usize),
        };
        let l = self.list(&i.bucket, &q)?;
        let url = i.encoding_type.as_ref().is_some_and(|e| e.as_str() == EncodingType::URL);
        let enc = |s: &str| if url { url_encode(s) } else { s.to_string() };
        let (contents, prefixes) = page(&l, &enc);
        Ok(S3Response::new(ListObjectsOutput {
            name: Some(i.bucket),
            prefix: i.prefix.as_deref().map(enc),
            delimiter: i.delimiter.as_deref().map(enc),
            marker: i.marker.as_deref().map(enc),
            max_keys: Some(q.max.min(list::MAX_KEYS) as i32),
            is_truncated: Some(l.truncated),
            next_marker: l.next.as_deref().filter(|_| i.delimiter.is_some()).map(enc),
            encoding_type: i.encoding_type,
            contents,
            common_prefixes: prefixes,
            ..Default::default()
        }))
    }

    async fn list_objects_v2(&self, req: S3Request<ListObjectsV2Input>) -> S3Result<S3Response<ListObjectsV2Output>> {
        use base64::Engine as _;
        let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        let i = req.input;
        let token = match &i.continuation_token {
            Some(t) => Some(
                b64.decode(t)
                    .ok()
                    .and_then(|b| String::from_utf8(b).ok())
                    .ok_or_else(|| s3_error!(InvalidArgument, "The continuation token provided is incorrect"))?,
            ),
            None => None,
        };
        let after = token.as_deref().or(i.start_after.as_deref()).filter(|a| !a.is_empty());
        let q = list::Query {
            prefix: i.prefix.as_deref().unwrap_or(""),
            delimiter: i.delimiter.as_deref(),
            after,
            max: i.max_keys.map_or(list::MAX_KEYS, |m| m.max(0) as usize),
        };
        let l = self.list(&i.bucket, &q)?;
        let url = i.encoding_type.as_ref().is_some_and(|e| e.as_str() == EncodingType::URL);
        let enc = |s: &str| if url { url_encode(s) } else { s.to_string() };
        let (contents, prefixes) = page(&l, &enc);
        let key_count = (l.objects.len() + l.prefixes.len()) as i32;
        Ok(S3Response::new(ListObjectsV2Output {
            name: Some(i.bucket),
            prefix: i.prefix.as_deref().map(enc),
            delimiter: i.delimiter.as_deref().map(enc),
            start_after: i.start_after.as_deref().map(enc),
            max_keys: Some(q.max.min(list::MAX_KEYS) as i32),
            key_count: Some(key_count),
            is_truncated: Some(l.truncated),
            continuation_token: i.continuation_token,
            next_continuation_token: l.next.as_deref().map(|n| b64.encode(n)),
            encoding_type: i.encoding_type,
            contents,
            common_prefixes: prefixes,
            ..Default::default()
        }))
    }

    async fn create_multipart_upload(
        &self,
        req: S3Request<CreateMultipartUploadInput>,
    ) -> S3Result<S3Response<CreateMultipartUploadOutput>> {
        let ak = access_key(&req).map(str::to_string);
        let i = req.input;
        check_key(&i.key)?;
        if !self.has_bucket(&i.bucket) {
            return Err(s3_error!(NoSuchBucket));
        }
        let id = uuid::Uuid::new_v4();
        let dir = self.upload_dir(&id);
        std::fs::create_dir_all(&dir).map_err(io)?;
        let up = Upload { bucket: i.bucket.clone(), key: i.key.clone(), access_key: ak, attrs: attrs_of!(i) };
        let bytes = serde_json::to_vec(&up).map_err(|e| io(std::io::Error::other(e)))?;
        super::write_atomic(&self.tmp_path(), &dir.join("upload.json"), &bytes).map_err(io)?;
        Ok(S3Response::new(CreateMultipartUploadOutput {
            bucket: Some(i.bucket),
            key: Some(i.key),
            upload_id: Some(id.to_string()),
            ..Default::default()
        }))
    }

    async fn upload_part(&self, req: S3Request<UploadPartInput>) -> S3Result<S3Response<UploadPartOutput>> {
        let (_, dir, _) = self.upload(&req.input.upload_id, access_key(&req))?;
        let i = req.input;
        if !(1..=10_000).contains(&i.part_number) {
            return Err(s3_error!(InvalidArgument, "Part number must be an integer between 1 and 10000, inclusive"));
        }
        let body = i.body.ok_or_else(|| s3_error!(IncompleteBody))?;
        let got = receive(self, body, Default::default()).await?;
        verify(&got.checksums, &Checksum::default(), i.content_md5.as_deref(), &got.md5)?;
        let rec = PartRecord { size: got.size, etag: got.md5.clone(), modified_ms: super::now_ms() };
        let rec = serde_json::to_vec(&rec).map_err(|e| io(std::io::Error::other(e)))?;
        std::fs::rename(got.tmp.disarm(), dir.join(format!("part-{}", i.part_number))).map_err(io)?;
        super::write_atomic(&self.tmp_path(), &dir.join(format!("part-{}.json", i.part_number)), &rec).map_err(io)?;
        Ok(S3Response::new(UploadPartOutput { e_tag: Some(ETag::Strong(got.md5)), ..Default::default() }))
    }

    async fn list_parts(&self, req: S3Request<ListPartsInput>) -> S3Result<S3Response<ListPartsOutput>> {
        let (_, dir, up) = self.upload(&req.input.upload_id, access_key(&req))?;
        let mut parts = Vec::new();
        for n in 1..=10_000 {
            let Ok(b) = std::fs::read(dir.join(format!("part-{n}.json"))) else { continue };
            let Ok(r) = serde_json::from_slice::<PartRecord>(&b) else { continue };
            parts.push(Part {
                part_number: Some(n),
                size: Some(r.size as i64),
                e_tag: Some(ETag::Strong(r.etag)),
                last_modified: Some(Timestamp::from(std::time::UNIX_EPOCH + std::time::Duration::from_millis(r.modified_ms))),
                ..Default::default()
            });
        }
        Ok(S3Response::new(ListPartsOutput {
            bucket: Some(up.bucket),
            key: Some(up.key),
            upload_id: Some(req.input.upload_id),
            parts: Some(parts),
            is_truncated: Some(false),
            ..Default::default()
        }))
    }

    async fn abort_multipart_upload(&self, req: S3Request<AbortMultipartUploadInput>) -> S3Result<S3Response<AbortMultipartUploadOutput>> {
        let (_, dir, _) = self.upload(&req.input.upload_id, access_key(&req))?;
        std::fs::remove_dir_all(dir).map_err(io)?;
        Ok(S3Response::new(AbortMultipartUploadOutput::default()))
    }

    async fn complete_multipart_upload(
        &self,
        req: S3Request<CompleteMultipartUploadInput>,
    ) -> S3Result<S3Response<CompleteMultipartUploadOutput>> {
        use s3s::crypto::Checksum as _;
        let (_, dir, up) = self.upload(&req.input.upload_id, access_key(&req))?;
        let i = req.input;
        if up.bucket != i.bucket || up.key != i.key {
            return Err(s3_error!(NoSuchUpload));
        }
        preconditions(existing(self, &i.bucket, &i.key)?.as_ref(), i.if_match.as_ref(), i.if_none_match.as_ref())?;
        let parts = i.multipart_upload.and_then(|m| m.parts).unwrap_or_default();
        if parts.is_empty() {
            return Err(s3_error!(MalformedXML, "You must specify at least one part"));
        }
        let tmp = TmpGuard(Some(self.tmp_path()));
        let mut out = tokio::fs::File::create(tmp.path()).await.map_err(io)?;
        let mut etags = s3s::crypto::Md5::new();
        let (mut size, mut prev) = (0u64, 0);
        for (n, part) in parts.iter().enumerate() {
            let number = part.part_number.ok_or_else(|| s3_error!(InvalidPart))?;
            if number <= prev {
                return Err(s3_error!(InvalidPartOrder));
            }
            prev = number;
            let rec: PartRecord = std::fs::read(dir.join(format!("part-{number}.json")))
                .ok()
                .and_then(|b| serde_json::from_slice(&b).ok())
                .ok_or_else(|| s3_error!(InvalidPart))?;
            if part.e_tag.as_ref().is_some_and(|e| e.value() != rec.etag) {
                return Err(s3_error!(InvalidPart));
            }
            if n + 1 < parts.len() && rec.size < MIN_PART {
                return Err(s3_error!(EntityTooSmall));
            }
            let mut f = tokio::fs::File::open(dir.join(format!("part-{number}"))).await.map_err(|_| s3_error!(InvalidPart))?;
            size += tokio::io::copy(&mut f, &mut out).await.map_err(io)?;
            etags.update(&hex::decode(&rec.etag).map_err(|_| s3_error!(InvalidPart))?);
        }
        out.sync_all().await.map_err(io)?;
        let etag_value = format!("{}-{}", hex::encode(etags.finalize()), parts.len());
        let meta = Meta {
            key: String::new(),
            size,
            etag: etag_value.clone(),
            modified_ms: 0,
            data: String::new(),
            attrs: up.attrs,
            checksums: Checksums::default(),
        };
        self.commit(&i.bucket, &i.key, &tmp.disarm(), meta)?;
        let _ = std::fs::remove_dir_all(dir);
        let (bucket, key) = (i.bucket, i.key);
        Ok(S3Response::new(CompleteMultipartUploadOutput {
            bucket: Some(bucket),
            key: Some(key),
            e_tag: Some(ETag::Strong(etag_value)),
            ..Default::default()
        }))
    }
}

type Page = (Option<Vec<Object>>, Option<Vec<CommonPrefix>>);

fn page(l: &list::Listing, enc: &dyn Fn(&str) -> String) -> Page {
    let contents: Vec<Object> = l
        .objects
        .iter()
        .map(|m| Object {
            key: Some(enc(&m.key)),
            size: Some(m.size as i64),
            e_tag: Some(etag(m)),
            last_modified: Some(Timestamp::from(m.modified())),
            storage_class: Some(ObjectStorageClass::from_static(ObjectStorageClass::STANDARD)),
            ..Default::default()
        })
        .collect();
    let prefixes: Vec<CommonPrefix> = l.prefixes.iter().map(|p| CommonPrefix { prefix: Some(enc(p)) }).collect();
    ((!contents.is_empty()).then_some(contents), (!prefixes.is_empty()).then_some(prefixes))
}
