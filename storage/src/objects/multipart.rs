//! Multipart uploads over [`Store`]: each upload a directory under `.uploads/` (its target and
//! attributes in `upload.json`, each part a file with its ETag beside it), completed by
//! concatenating the parts into one synced temp file that the store commits like a put.
//!
//! Owns: the upload records and S3's part rules (numbers 1 to 10,000, ascending, every part but
//! the last at least 5 MiB, the multipart ETag). Must not: lay out objects (the store does).

use super::request::{access_key, attrs_of, check_key, existing, io, preconditions, receive, verify, TmpGuard};
use super::{Attrs, Checksums, Meta, Store};
use s3s::dto::*;
use s3s::{s3_error, S3Request, S3Response, S3Result};
use std::path::PathBuf;

/// S3's smallest part but the last.
const MIN_PART: u64 = 5 * 1024 * 1024;

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

pub(super) async fn create_multipart_upload(
    store: &Store,
    req: S3Request<CreateMultipartUploadInput>,
) -> S3Result<S3Response<CreateMultipartUploadOutput>> {
    let ak = access_key(&req).map(str::to_string);
    let i = req.input;
    check_key(&i.key)?;
    if !store.has_bucket(&i.bucket) {
        return Err(s3_error!(NoSuchBucket));
    }
    let id = uuid::Uuid::new_v4();
    let dir = store.upload_dir(&id);
    std::fs::create_dir_all(&dir).map_err(io)?;
    let up = Upload { bucket: i.bucket.clone(), key: i.key.clone(), access_key: ak, attrs: attrs_of!(i) };
    let bytes = serde_json::to_vec(&up).map_err(|e| io(std::io::Error::other(e)))?;
    super::write_atomic(&store.tmp_path(), &dir.join("upload.json"), &bytes).map_err(io)?;
    Ok(S3Response::new(CreateMultipartUploadOutput {
        bucket: Some(i.bucket),
        key: Some(i.key),
        upload_id: Some(id.to_string()),
        ..Default::default()
    }))
}
pub(super) async fn upload_part(store: &Store, req: S3Request<UploadPartInput>) -> S3Result<S3Response<UploadPartOutput>> {
    let (_, dir, _) = store.upload(&req.input.upload_id, access_key(&req))?;
    let i = req.input;
    if !(1..=10_000).contains(&i.part_number) {
        return Err(s3_error!(InvalidArgument, "Part number must be an integer between 1 and 10000, inclusive"));
    }
    let body = i.body.ok_or_else(|| s3_error!(IncompleteBody))?;
    let got = receive(store, body, Default::default()).await?;
    verify(&got.checksums, &Checksum::default(), i.content_md5.as_deref(), &got.md5)?;
    let rec = PartRecord { size: got.size, etag: got.md5.clone(), modified_ms: super::now_ms() };
    let rec = serde_json::to_vec(&rec).map_err(|e| io(std::io::Error::other(e)))?;
    std::fs::rename(got.tmp.disarm(), dir.join(format!("part-{}", i.part_number))).map_err(io)?;
    super::write_atomic(&store.tmp_path(), &dir.join(format!("part-{}.json", i.part_number)), &rec).map_err(io)?;
    Ok(S3Response::new(UploadPartOutput { e_tag: Some(ETag::Strong(got.md5)), ..Default::default() }))
}
pub(super) async fn list_parts(store: &Store, req: S3Request<ListPartsInput>) -> S3Result<S3Response<ListPartsOutput>> {
    let (_, dir, up) = store.upload(&req.input.upload_id, access_key(&req))?;
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
pub(super) async fn abort_multipart_upload(
    store: &Store,
    req: S3Request<AbortMultipartUploadInput>,
) -> S3Result<S3Response<AbortMultipartUploadOutput>> {
    let (_, dir, _) = store.upload(&req.input.upload_id, access_key(&req))?;
    std::fs::remove_dir_all(dir).map_err(io)?;
    Ok(S3Response::new(AbortMultipartUploadOutput::default()))
}
pub(super) async fn complete_multipart_upload(
    store: &Store,
    req: S3Request<CompleteMultipartUploadInput>,
) -> S3Result<S3Response<CompleteMultipartUploadOutput>> {
    use s3s::crypto::Checksum as _;
    let (_, dir, up) = store.upload(&req.input.upload_id, access_key(&req))?;
    let i = req.input;
    if up.bucket != i.bucket || up.key != i.key {
        return Err(s3_error!(NoSuchUpload));
    }
    preconditions(existing(store, &i.bucket, &i.key)?.as_ref(), i.if_match.as_ref(), i.if_none_match.as_ref())?;
    let parts = i.multipart_upload.and_then(|m| m.parts).unwrap_or_default();
    if parts.is_empty() {
        return Err(s3_error!(MalformedXML, "You must specify at least one part"));
    }
    let tmp = TmpGuard::new(store.tmp_path());
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
    store.commit(&i.bucket, &i.key, &tmp.disarm(), meta)?;
    let _ = std::fs::remove_dir_all(dir);
    let (bucket, key) = (i.bucket, i.key);
    Ok(S3Response::new(CompleteMultipartUploadOutput {
        bucket: Some(bucket),
        key: Some(key),
        e_tag: Some(ETag::Strong(etag_value)),
        ..Default::default()
    }))
}
