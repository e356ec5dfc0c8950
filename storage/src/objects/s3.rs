//! The S3 API over [`Store`]: buckets, objects (ranges, conditions, checksums, copies), listing
//! (v1 and v2, `encoding-type=url`) and multipart uploads.
//!
//! Owns: turning s3s's typed requests into store calls and store errors into S3's error codes.
//! Must not: lay out files (the store does). The request handling follows s3s-fs (Apache-2.0),
//! whose key-as-path layout this replaces.

use super::request::{
    attrs_of, check_key, etag, existing, hasher_for, io, object_output, preconditions, receive, stored_checksums, trailer, url_encode,
    verify, TmpGuard,
};
use super::{list, Attrs, Meta, Store, StoreError};
use s3s::dto::*;
use s3s::{s3_error, S3Error, S3Request, S3Response, S3Result, S3};
use tokio::io::{AsyncReadExt, AsyncSeekExt};

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
        let tmp = TmpGuard::new(tmp);
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
        super::multipart::create_multipart_upload(self, req).await
    }
    async fn upload_part(&self, req: S3Request<UploadPartInput>) -> S3Result<S3Response<UploadPartOutput>> {
        super::multipart::upload_part(self, req).await
    }
    async fn list_parts(&self, req: S3Request<ListPartsInput>) -> S3Result<S3Response<ListPartsOutput>> {
        super::multipart::list_parts(self, req).await
    }
    async fn abort_multipart_upload(&self, req: S3Request<AbortMultipartUploadInput>) -> S3Result<S3Response<AbortMultipartUploadOutput>> {
        super::multipart::abort_multipart_upload(self, req).await
    }
    async fn complete_multipart_upload(
        &self,
        req: S3Request<CompleteMultipartUploadInput>,
    ) -> S3Result<S3Response<CompleteMultipartUploadOutput>> {
        super::multipart::complete_multipart_upload(self, req).await
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
