//! S3 event notifications from esb's built-in S3 server.
//!
//! Owns: [`Log`], the server's durable record of object changes (a JSON-lines file in the data
//! volume, next to the objects, synced before the S3 request is answered, numbered by a sequence
//! that survives restarts, the newest [`KEEP`] kept); [`Notifying`], the S3 implementation that
//! wraps the object store and records every successful PutObject, CopyObject, CompleteMultipartUpload,
//! DeleteObject and DeleteObjects; the endpoint `GET /.esb/notifications?after=N&wait=S` (a long
//! poll, keyed by the S3 secret; `.esb` is no valid bucket name, so it never shadows a bucket);
//! and [`poll`], the manager's client for it.
//! Must not: know which functions listen (the manager matches notifications to S3 events).

use crate::StorageError;
use s3s::dto::*;
use s3s::{S3Request, S3Response, S3Result, S3};
use serde::{Deserialize, Serialize};
use std::collections::VecDeque;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Notifications kept (older ones are dropped from the file and memory).
pub const KEEP: usize = 10_000;
/// The largest sequence number a log line may carry (far beyond any real log, and exact in JSON).
pub const MAX_SEQ: u64 = 1 << 53;
/// The endpoint's path.
pub const PATH: &str = "/.esb/notifications";
/// The header carrying the S3 secret key.
pub const KEY_HEADER: &str = "x-esb-key";

/// One object change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Notification {
    /// Position in the server's log (increasing, never reused).
    pub seq: u64,
    /// When (RFC 3339, milliseconds).
    pub time: String,
    /// S3's event name without `s3:` (`ObjectCreated:Put`, `ObjectRemoved:Delete`).
    pub event: String,
    /// Bucket.
    pub bucket: String,
    /// Object key.
    pub key: String,
    /// Bytes (created objects).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size: Option<u64>,
    /// The object's ETag without quotes (created objects).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub etag: Option<String>,
}

/// The server's notification log.
pub struct Log {
    path: PathBuf,
    inner: Mutex<Inner>,
    changed: tokio::sync::Notify,
    closing: std::sync::atomic::AtomicBool,
}

struct Inner {
    file: std::fs::File,
    recent: VecDeque<Notification>,
    next: u64,
    lines: usize,
}

impl Log {
    /// Opens (creating) the log at `path`, continuing its sequence.
    ///
    /// The log is checked as it is read: sequence numbers must be consecutive and at most
    /// [`MAX_SEQ`]. The longest consecutive run is kept (the newest on a tie); every other line,
    /// and a torn last line, is moved to `<path>.rejected` and reported, so a damaged or forged line
    /// can neither fire a function nor push the sequence where it wraps.
    pub fn open(path: &Path) -> std::io::Result<Arc<Log>> {
        let text = std::fs::read_to_string(path).unwrap_or_default();
        let raw: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
        let parsed: Vec<Option<Notification>> =
            raw.iter().map(|l| serde_json::from_str::<Notification>(l).ok().filter(|n| (1..=MAX_SEQ).contains(&n.seq))).collect();
        let (start, len) = longest_run(&parsed);
        let rejected: Vec<&str> = raw.iter().enumerate().filter(|(i, _)| *i < start || *i >= start + len).map(|(_, l)| *l).collect();
        let mut recent: VecDeque<Notification> = parsed[start..start + len].iter().flatten().cloned().collect();
        let lines = recent.len();
        while recent.len() > KEEP {
            recent.pop_front();
        }
        let next = recent.back().map_or(1, |n| n.seq + 1);
        if !rejected.is_empty() {
            let mut side = std::fs::OpenOptions::new().create(true).append(true).open(path.with_extension("rejected"))?;
            for l in &rejected {
                writeln!(side, "{l}")?;
            }
            side.sync_all()?;
            tracing::warn!(
                path = %path.display(),
                rejected = rejected.len(),
                kept = lines,
                "S3 notification log lines that were torn, unreadable or out of sequence were set aside"
            );
        }
        if !rejected.is_empty() || (!text.is_empty() && !text.ends_with('\n')) {
            Self::rewrite(path, &recent)?;
        }
        let file = std::fs::OpenOptions::new().create(true).append(true).open(path)?;
        Ok(Arc::new(Log {
            path: path.to_path_buf(),
            inner: Mutex::new(Inner { file, recent, next, lines }),
            changed: Default::default(),
            closing: Default::default(),
        }))
    }

    fn rewrite(path: &Path, recent: &VecDeque<Notification>) -> std::io::Result<()> {
        let tmp = path.with_extension("tmp");
        let mut f = std::fs::File::create(&tmp)?;
        for n in recent {
            writeln!(f, "{}", serde_json::to_string(n).map_err(std::io::Error::other)?)?;
        }
        f.sync_all()?;
        std::fs::rename(&tmp, path)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Records a change, durably, and wakes the pollers.
    pub fn record(&self, event: &str, bucket: &str, key: &str, size: Option<u64>, etag: Option<String>) {
        let mut inner = self.lock();
        let n = Notification {
            seq: inner.next,
            time: chrono::Utc::now().format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string(),
            event: event.into(),
            bucket: bucket.into(),
            key: key.into(),
            size,
            etag: etag.map(|e| e.trim_matches('"').to_string()),
        };
        let written = serde_json::to_string(&n).map_err(std::io::Error::other).and_then(|line| {
            inner.file.write_all(format!("{line}\n").as_bytes())?;
            inner.file.sync_data()
        });
        if let Err(e) = written {
            tracing::error!(path = %self.path.display(), error = %e, "an S3 notification could not be written");
        }
        inner.next = (inner.next + 1).min(MAX_SEQ);
        inner.lines += 1;
        inner.recent.push_back(n);
        if inner.recent.len() > KEEP {
            inner.recent.pop_front();
        }
        if inner.lines > 2 * KEEP {
            let recent = inner.recent.clone();
            match Self::rewrite(&self.path, &recent).and_then(|_| std::fs::OpenOptions::new().append(true).open(&self.path)) {
                Ok(f) => {
                    inner.file = f;
                    inner.lines = recent.len();
                }
                Err(e) => tracing::warn!(error = %e, "trimming the S3 notification log failed"),
            }
        }
        drop(inner);
        self.changed.notify_waiters();
    }

    /// Notifications after `after`, at most `max`.
    pub fn since(&self, after: u64, max: usize) -> Vec<Notification> {
        self.lock().recent.iter().filter(|n| n.seq > after).take(max).cloned().collect()
    }

    /// Ends every long poll now and answers new ones at once: the server is stopping, and a
    /// poll held open for 20 s would hold its shutdown (and `esb down`) up for as long.
    pub fn close(&self) {
        self.closing.store(true, std::sync::atomic::Ordering::SeqCst);
        self.changed.notify_waiters();
    }

    /// [`Log::since`], waiting up to `wait` for one when there is none.
    pub async fn wait_since(&self, after: u64, max: usize, wait: Duration) -> Vec<Notification> {
        let changed = self.changed.notified();
        let now = self.since(after, max);
        if !now.is_empty() || self.closing.load(std::sync::atomic::Ordering::SeqCst) {
            return now;
        }
        let _ = tokio::time::timeout(wait, changed).await;
        self.since(after, max)
    }
}

/// Where the longest run of consecutive sequence numbers starts and how long it is (the last
/// one on a tie: the newest lines win).
fn longest_run(parsed: &[Option<Notification>]) -> (usize, usize) {
    let (mut best, mut start, mut len) = ((0, 0), 0, 0);
    for (i, n) in parsed.iter().enumerate() {
        let continues = len > 0 && matches!((&parsed[i - 1], n), (Some(p), Some(n)) if n.seq == p.seq + 1);
        match (n, continues) {
            (Some(_), true) => len += 1,
            (Some(_), false) => (start, len) = (i, 1),
            (None, _) => len = 0,
        }
        if len > 0 && len >= best.1 {
            best = (start, len);
        }
    }
    best
}

/// The object store, recording object changes in a [`Log`].
pub struct Notifying {
    inner: Arc<crate::objects::Store>,
    log: Arc<Log>,
}

impl Notifying {
    /// Wraps `inner`.
    pub fn new(inner: Arc<crate::objects::Store>, log: Arc<Log>) -> Self {
        Notifying { inner, log }
    }

    /// The object's size; `None` when there is none.
    fn size(&self, bucket: &str, key: &str) -> Option<u64> {
        self.inner.head(bucket, key).ok().map(|m| m.size)
    }

    fn created(&self, event: &str, bucket: &str, key: &str, etag: Option<&ETag>) {
        let etag = etag.map(|e| e.value().to_string());
        self.log.record(event, bucket, key, self.size(bucket, key), etag);
    }
}

/// Methods passed to the store unchanged. Written in async_trait's expanded form: the attribute
/// rewrites `async fn`s before this macro expands.
macro_rules! delegate {
    ($($name:ident: $input:ty => $output:ty;)*) => {
        $(
            fn $name<'life0, 'async_trait>(
                &'life0 self,
                req: S3Request<$input>,
            ) -> std::pin::Pin<Box<dyn std::future::Future<Output = S3Result<S3Response<$output>>> + Send + 'async_trait>>
            where
                'life0: 'async_trait,
                Self: 'async_trait,
            {
                self.inner.$name(req)
            }
        )*
    };
}

#[async_trait::async_trait]
impl S3 for Notifying {
    delegate! {
        create_bucket: CreateBucketInput => CreateBucketOutput;
        delete_bucket: DeleteBucketInput => DeleteBucketOutput;
        get_bucket_location: GetBucketLocationInput => GetBucketLocationOutput;
        get_object: GetObjectInput => GetObjectOutput;
        head_bucket: HeadBucketInput => HeadBucketOutput;
        head_object: HeadObjectInput => HeadObjectOutput;
        list_buckets: ListBucketsInput => ListBucketsOutput;
        list_objects: ListObjectsInput => ListObjectsOutput;
        list_objects_v2: ListObjectsV2Input => ListObjectsV2Output;
        create_multipart_upload: CreateMultipartUploadInput => CreateMultipartUploadOutput;
        upload_part: UploadPartInput => UploadPartOutput;
        upload_part_copy: UploadPartCopyInput => UploadPartCopyOutput;
        list_parts: ListPartsInput => ListPartsOutput;
        abort_multipart_upload: AbortMultipartUploadInput => AbortMultipartUploadOutput;
    }

    async fn put_object(&self, req: S3Request<PutObjectInput>) -> S3Result<S3Response<PutObjectOutput>> {
        let (bucket, key) = (req.input.bucket.clone(), req.input.key.clone());
        let out = self.inner.put_object(req).await?;
        self.created("ObjectCreated:Put", &bucket, &key, out.output.e_tag.as_ref());
        Ok(out)
    }

    async fn copy_object(&self, req: S3Request<CopyObjectInput>) -> S3Result<S3Response<CopyObjectOutput>> {
        let (bucket, key) = (req.input.bucket.clone(), req.input.key.clone());
        let out = self.inner.copy_object(req).await?;
        let etag = out.output.copy_object_result.as_ref().and_then(|r| r.e_tag.as_ref());
        self.created("ObjectCreated:Copy", &bucket, &key, etag);
        Ok(out)
    }

    async fn complete_multipart_upload(
        &self,
        req: S3Request<CompleteMultipartUploadInput>,
    ) -> S3Result<S3Response<CompleteMultipartUploadOutput>> {
        let (bucket, key) = (req.input.bucket.clone(), req.input.key.clone());
        let out = self.inner.complete_multipart_upload(req).await?;
        self.created("ObjectCreated:CompleteMultipartUpload", &bucket, &key, out.output.e_tag.as_ref());
        Ok(out)
    }

    async fn delete_object(&self, req: S3Request<DeleteObjectInput>) -> S3Result<S3Response<DeleteObjectOutput>> {
        let (bucket, key) = (req.input.bucket.clone(), req.input.key.clone());
        let existed = self.size(&bucket, &key).is_some();
        let out = self.inner.delete_object(req).await?;
        if existed {
            self.log.record("ObjectRemoved:Delete", &bucket, &key, None, None);
        }
        Ok(out)
    }

    async fn delete_objects(&self, req: S3Request<DeleteObjectsInput>) -> S3Result<S3Response<DeleteObjectsOutput>> {
        let bucket = req.input.bucket.clone();
        let out = self.inner.delete_objects(req).await?;
        for d in out.output.deleted.iter().flatten() {
            if let Some(key) = &d.key {
                self.log.record("ObjectRemoved:Delete", &bucket, key, None, None);
            }
        }
        Ok(out)
    }
}

/// The event a Lambda function receives for `n`, as S3 sends it (`configuration` is the template's
/// event name). Keys are URL-encoded the way S3 does (`+` for spaces, `/` kept).
pub fn lambda_event(region: &str, configuration: &str, n: &Notification) -> serde_json::Value {
    let key = urlencoding::encode(&n.key).replace("%2F", "/").replace("%20", "+");
    let mut object = serde_json::json!({ "key": key, "sequencer": format!("{:016X}", n.seq) });
    if let Some(size) = n.size {
        object["size"] = size.into();
    }
    if let Some(etag) = &n.etag {
        object["eTag"] = etag.clone().into();
    }
    serde_json::json!({ "Records": [{
        "eventVersion": "2.1",
        "eventSource": "aws:s3",
        "awsRegion": region,
        "eventTime": n.time,
        "eventName": n.event,
        "userIdentity": { "principalId": "esb" },
        "requestParameters": { "sourceIPAddress": "127.0.0.1" },
        "responseElements": { "x-amz-request-id": format!("{:016X}", n.seq), "x-amz-id-2": "esb" },
        "s3": {
            "s3SchemaVersion": "1.0",
            "configurationId": configuration,
            "bucket": { "name": n.bucket, "ownerIdentity": { "principalId": "esb" }, "arn": format!("arn:aws:s3:::{}", n.bucket) },
            "object": object,
        },
    }]})
}

/// Compares the presented key with the secret in constant time.
pub fn key_matches(presented: &[u8], secret: &[u8]) -> bool {
    presented.len() == secret.len() && presented.iter().zip(secret).fold(0u8, |acc, (a, b)| acc | (a ^ b)) == 0
}

/// The endpoint's answer: notifications after `after` as JSON.
pub async fn answer(log: &Log, query: Option<&str>) -> String {
    let param = |name: &str| {
        query
            .unwrap_or_default()
            .split('&')
            .find_map(|kv| kv.strip_prefix(name).and_then(|v| v.strip_prefix('=')))
            .and_then(|v| v.parse::<u64>().ok())
    };
    // `tail`: only the newest, so a first-time reader starts at the end, not with old history.
    if param("tail").is_some() {
        let newest: Vec<Notification> = log.lock().recent.back().cloned().into_iter().collect();
        return serde_json::to_string(&newest).unwrap_or_else(|_| "[]".into());
    }
    let after = param("after").unwrap_or(0);
    let wait = Duration::from_secs(param("wait").unwrap_or(0).min(30));
    let list = log.wait_since(after, 500, wait).await;
    serde_json::to_string(&list).unwrap_or_else(|_| "[]".into())
}

/// The manager's side: notifications after `after` from the S3 server at `endpoint`
/// (`http://ip:port`), waiting up to `wait` for one.
pub async fn poll(endpoint: &str, secret: &str, after: u64, wait: Duration) -> Result<Vec<Notification>, StorageError> {
    fetch(endpoint, secret, &format!("after={after}&wait={}", wait.as_secs()), wait).await
}

/// The newest notification's sequence number (0 when there is none).
pub async fn newest(endpoint: &str, secret: &str) -> Result<u64, StorageError> {
    Ok(fetch(endpoint, secret, "tail=1", Duration::ZERO).await?.last().map_or(0, |n| n.seq))
}

async fn fetch(endpoint: &str, secret: &str, query: &str, wait: Duration) -> Result<Vec<Notification>, StorageError> {
    use http_body_util::BodyExt;
    let err = |e: &dyn std::fmt::Display| StorageError::S3(format!("S3 notifications from {endpoint}: {e}"));
    let authority = endpoint.trim_start_matches("http://").trim_end_matches('/').to_string();
    let exchange = async {
        let stream = tokio::net::TcpStream::connect(&authority).await.map_err(|e| err(&e))?;
        let (mut send, conn) = hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream)).await.map_err(|e| err(&e))?;
        tokio::spawn(async move {
            let _ = conn.await;
        });
        let request = hyper::Request::builder()
            .uri(format!("{PATH}?{query}"))
            .header("host", &authority)
            .header(KEY_HEADER, secret)
            .body(http_body_util::Empty::<bytes::Bytes>::new())
            .map_err(|e| err(&e))?;
        let response = send.send_request(request).await.map_err(|e| err(&e))?;
        let status = response.status();
        let body = response.into_body().collect().await.map_err(|e| err(&e))?.to_bytes();
        if !status.is_success() {
            return Err(err(&format!("HTTP {status}: {}", String::from_utf8_lossy(&body))));
        }
        serde_json::from_slice(&body).map_err(|e| err(&e))
    };
    tokio::time::timeout(wait + Duration::from_secs(10), exchange).await.map_err(|_| err(&"no answer"))?
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forged_and_out_of_sequence_lines_are_set_aside_and_the_sequence_never_wraps() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(".esb-notifications.jsonl");
        let log = Log::open(&path).unwrap();
        for k in ["a", "b", "c"] {
            log.record("ObjectCreated:Put", "b", k, Some(1), None);
        }
        drop(log);
        // The attack of issue 19: a line at u64::MAX for an object that does not exist.
        let forged = Notification { seq: u64::MAX, key: "forged".into(), ..Log::open(&path).unwrap().since(0, 1)[0].clone() };
        let mut f = std::fs::OpenOptions::new().append(true).open(&path).unwrap();
        writeln!(f, "{}", serde_json::to_string(&forged).unwrap()).unwrap();
        writeln!(f, "not json").unwrap();
        drop(f);
        let log = Log::open(&path).unwrap();
        assert_eq!(log.since(0, 10).iter().map(|n| n.key.as_str()).collect::<Vec<_>>(), ["a", "b", "c"], "the forged line is not served");
        log.record("ObjectCreated:Put", "b", "d", Some(1), None);
        assert_eq!(log.since(3, 10).iter().map(|n| n.seq).collect::<Vec<_>>(), [4], "the sequence continues from the real lines");
        let rejected = std::fs::read_to_string(path.with_extension("rejected")).unwrap();
        assert!(rejected.contains("forged") && rejected.contains("not json"), "{rejected}");
        drop(log);
        // A forged line in the middle with a jump: the longest consecutive run wins.
        let text = std::fs::read_to_string(&path).unwrap();
        let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
        let jump = Notification { seq: 1000, ..forged.clone() };
        lines.insert(1, serde_json::to_string(&jump).unwrap());
        std::fs::write(&path, lines.join("\n") + "\n").unwrap();
        let log = Log::open(&path).unwrap();
        assert_eq!(log.since(0, 10).iter().map(|n| n.seq).collect::<Vec<_>>(), [2, 3, 4], "the run after the jump is the longest");
        assert!(log.since(0, 10).iter().all(|n| n.seq <= MAX_SEQ));
    }

    #[tokio::test]
    async fn closing_the_log_ends_long_polls_at_once() {
        let dir = tempfile::tempdir().unwrap();
        let log = Log::open(&dir.path().join("n.jsonl")).unwrap();
        let waiter = {
            let log = log.clone();
            tokio::spawn(async move { log.wait_since(0, 10, Duration::from_secs(30)).await })
        };
        tokio::time::sleep(Duration::from_millis(50)).await;
        let started = std::time::Instant::now();
        log.close();
        assert!(tokio::time::timeout(Duration::from_secs(2), waiter).await.unwrap().unwrap().is_empty());
        assert!(started.elapsed() < Duration::from_secs(1));
        assert!(log.wait_since(0, 10, Duration::from_secs(30)).await.is_empty(), "a new poll answers at once");
    }

    #[tokio::test]
    async fn the_log_numbers_changes_across_restarts_and_wakes_pollers() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(".esb-notifications.jsonl");
        let log = Log::open(&path).unwrap();
        log.record("ObjectCreated:Put", "b", "k1", Some(3), Some("\"abc\"".into()));
        let waiter = {
            let log = log.clone();
            tokio::spawn(async move { log.wait_since(1, 10, Duration::from_secs(5)).await })
        };
        tokio::time::sleep(Duration::from_millis(50)).await;
        log.record("ObjectRemoved:Delete", "b", "k1", None, None);
        let woke = waiter.await.unwrap();
        assert_eq!(woke.len(), 1);
        assert_eq!((woke[0].seq, woke[0].event.as_str()), (2, "ObjectRemoved:Delete"));
        drop(log);
        // A torn line from a crash, then a restart: the sequence continues after the last whole line.
        std::fs::OpenOptions::new().append(true).open(&path).unwrap().write_all(b"{\"seq\":3,\"ti").unwrap();
        let log = Log::open(&path).unwrap();
        log.record("ObjectCreated:Copy", "b", "k2", Some(1), None);
        let all = log.since(0, 10);
        assert_eq!(all.iter().map(|n| n.seq).collect::<Vec<_>>(), [1, 2, 3]);
        assert_eq!(all[0].etag.as_deref(), Some("abc"), "quotes trimmed");
        assert_eq!(answer(&log, Some("after=2&wait=0")).await, serde_json::to_string(&all[2..]).unwrap());
        assert_eq!(answer(&log, Some("tail=1")).await, serde_json::to_string(&all[2..]).unwrap());
        let n = Notification { key: "in/a b+c.csv".into(), ..all[0].clone() };
        let e = lambda_event("eu-west-1", "Uploaded", &n);
        let r = &e["Records"][0];
        assert_eq!((r["eventSource"].as_str(), r["eventName"].as_str()), (Some("aws:s3"), Some("ObjectCreated:Put")));
        assert_eq!(r["s3"]["object"]["key"], "in/a+b%2Bc.csv");
        assert_eq!((r["s3"]["object"]["size"].as_u64(), r["s3"]["object"]["eTag"].as_str()), (Some(3), Some("abc")));
        assert_eq!((r["s3"]["bucket"]["arn"].as_str(), r["s3"]["configurationId"].as_str()), (Some("arn:aws:s3:::b"), Some("Uploaded")));
        assert!(key_matches(b"secret", b"secret") && !key_matches(b"secreT", b"secret") && !key_matches(b"s", b"secret"));
    }
}
