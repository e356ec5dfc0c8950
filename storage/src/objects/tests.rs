//! The store's guarantees: a key never names a path, esb's own files are outside every bucket,
//! writes are atomic across restarts, and the old layout is migrated. The HTTP tests run the real
//! server with signed requests, traversal keys in every encoding.

use super::*;
use crate::provision::{signed, Signer};
use bytes::Bytes;

const TRAVERSAL: &[&str] = &[
    "../other/secret.txt",
    "../x",
    "../../../tmp/x",
    "..\\other\\secret.txt",
    "/etc/passwd",
    "a/../../other/secret.txt",
    "..%2Fother%2Fsecret.txt",
    "../.esb-notifications.jsonl",
    "./.bucket",
    "nul\0key",
    ".tmp/x",
];

fn put(store: &Store, bucket: &str, key: &str, bytes: &[u8]) -> Result<Meta, StoreError> {
    let tmp = store.tmp_path();
    std::fs::write(&tmp, bytes).unwrap();
    let meta = Meta {
        key: String::new(),
        size: bytes.len() as u64,
        etag: md5_hex(bytes),
        modified_ms: 0,
        data: String::new(),
        attrs: Attrs::default(),
        checksums: Checksums::default(),
    };
    store.commit(bucket, key, &tmp, meta)
}

fn read(store: &Store, bucket: &str, key: &str) -> Vec<u8> {
    use std::io::Read;
    let (_, mut f) = store.open_object(bucket, key).unwrap();
    let mut out = vec![];
    f.read_to_end(&mut out).unwrap();
    out
}

fn files_outside_store(data: &Path) -> Vec<String> {
    let mut out: Vec<String> = std::fs::read_dir(data)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n != STORE_DIR)
        .collect();
    out.sort();
    out
}

#[test]
fn traversal_keys_are_plain_keys_of_their_own_bucket() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join(".esb-notifications.jsonl"), "log\n").unwrap();
    let store = Store::open(dir.path()).unwrap();
    store.add_bucket("a").unwrap();
    store.add_bucket("other").unwrap();
    put(&store, "other", "secret.txt", b"secret").unwrap();
    for key in TRAVERSAL {
        put(&store, "a", key, key.as_bytes()).unwrap();
        assert_eq!(read(&store, "a", key), key.as_bytes(), "{key:?} reads back what was written");
    }
    assert_eq!(read(&store, "other", "secret.txt"), b"secret", "the other bucket is untouched");
    assert_eq!(store.list("other", &list::Query { max: 10, ..Default::default() }).unwrap().objects.len(), 1);
    assert_eq!(std::fs::read_to_string(dir.path().join(".esb-notifications.jsonl")).unwrap(), "log\n");
    assert_eq!(files_outside_store(dir.path()), [".esb-notifications.jsonl"], "nothing was written outside the store");
    let listed = store.list("a", &list::Query { prefix: "../", max: 1000, ..Default::default() }).unwrap();
    let mut want: Vec<&str> = TRAVERSAL.iter().copied().filter(|k| k.starts_with("../")).collect();
    want.sort();
    assert_eq!(listed.objects.iter().map(|m| m.key.as_str()).collect::<Vec<_>>(), want, "prefix ../ lists only keys of a");
    assert!(matches!(store.head("a", "secret.txt"), Err(StoreError::NoSuchKey)));
}

#[test]
fn long_keys_and_missing_buckets_are_s3s_errors_not_io_failures() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    assert!(matches!(put(&store, "nope", "k", b"x"), Err(StoreError::NoSuchBucket)), "a put never creates a bucket");
    assert!(!dir.path().join(STORE_DIR).join("nope").exists());
    store.add_bucket("b").unwrap();
    let longest = "k".repeat(MAX_KEY_BYTES);
    put(&store, "b", &longest, b"1").unwrap();
    assert_eq!(read(&store, "b", &longest), b"1");
    assert!(matches!(put(&store, "b", &format!("{longest}k"), b"1"), Err(StoreError::KeyTooLong)));
    assert!(matches!(store.remove_bucket("b"), Err(StoreError::BucketNotEmpty)));
    assert!(store.delete("b", &longest).unwrap());
    store.remove_bucket("b").unwrap();
    assert!(matches!(store.add_bucket("b"), Ok(())));
    assert!(matches!(store.add_bucket("b"), Err(StoreError::BucketExists)));
}

#[test]
fn a_restart_keeps_committed_objects_and_drops_cut_off_writes() {
    let dir = tempfile::tempdir().unwrap();
    {
        let store = Store::open(dir.path()).unwrap();
        store.add_bucket("b").unwrap();
        put(&store, "b", "k", b"one").unwrap();
        put(&store, "b", "k", b"two").unwrap();
        put(&store, "b", "gone", b"x").unwrap();
        assert!(store.delete("b", "gone").unwrap());
        // A write cut off before its commit: bytes in the bucket no record names, a temp file.
        std::fs::write(dir.path().join(STORE_DIR).join("b").join("deadbeef.1"), b"half").unwrap();
        std::fs::write(store.tmp_path(), b"half").unwrap();
        // A record whose name does not match its key (a forged or moved file) is not believed.
        let forged = serde_json::to_vec(&store.head("b", "k").unwrap()).unwrap();
        std::fs::write(dir.path().join(STORE_DIR).join("b").join(format!("{}.json", key_file("other"))), forged).unwrap();
    }
    let store = Store::open(dir.path()).unwrap();
    assert_eq!(read(&store, "b", "k"), b"two");
    assert!(matches!(store.head("b", "gone"), Err(StoreError::NoSuchKey)));
    assert!(matches!(store.head("b", "other"), Err(StoreError::NoSuchKey)));
    let in_bucket = std::fs::read_dir(dir.path().join(STORE_DIR).join("b")).unwrap().count();
    assert_eq!(in_bucket, 4, "marker, the object's record and bytes, the forged record; the orphan bytes are gone");
    assert_eq!(std::fs::read_dir(dir.path().join(STORE_DIR).join(TMP_DIR)).unwrap().count(), 0);
}

#[test]
fn the_s3s_fs_layout_is_migrated_once_with_its_content_types() {
    use base64::Engine as _;
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("files/notes")).unwrap();
    std::fs::write(dir.path().join("files/notes/a.txt"), b"hello").unwrap();
    std::fs::write(dir.path().join("files/top"), b"t").unwrap();
    let enc = |s: &str| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(s);
    std::fs::write(
        dir.path().join(format!(".bucket-{}.object-{}.metadata.json", enc("files"), enc("notes/a.txt"))),
        r#"{"content_type":"text/plain","user_metadata":{"who":"me"}}"#,
    )
    .unwrap();
    std::fs::create_dir_all(dir.path().join("empty")).unwrap();
    let store = Store::open(dir.path()).unwrap();
    assert_eq!(read(&store, "files", "notes/a.txt"), b"hello");
    let m = store.head("files", "notes/a.txt").unwrap();
    assert_eq!((m.attrs.content_type.as_deref(), m.attrs.metadata.get("who").map(String::as_str)), (Some("text/plain"), Some("me")));
    assert_eq!(m.etag, "5d41402abc4b2a76b9719d911017c592", "md5 of hello");
    assert_eq!(read(&store, "files", "top"), b"t");
    assert!(store.has_bucket("empty"));
    assert_eq!(files_outside_store(dir.path()), Vec::<String>::new(), "the old layout is gone");
    drop(store);
    let store = Store::open(dir.path()).unwrap();
    assert_eq!(store.buckets().len(), 2, "a second open migrates nothing again");
}

// === the real server ===

struct Server {
    url: String,
    signer: Signer,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<Result<(), crate::StorageError>>,
}

impl Server {
    async fn start(dir: &Path) -> Server {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        drop(listener);
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(crate::s3::serve(dir.to_path_buf(), addr, "ak", "sk", "us-east-1", async move {
            let _ = stopped.await;
        }));
        while tokio::net::TcpStream::connect(addr).await.is_err() {
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        Server {
            url: format!("http://{addr}"),
            signer: Signer { access_key: "ak".into(), secret_key: "sk".into(), region: "us-east-1".into() },
            stop: Some(stop),
            task,
        }
    }

    async fn send(&self, method: &str, path: &str, body: &[u8]) -> (u16, String) {
        signed(&self.signer, "s3", method, &format!("{}{path}", self.url), &[], Bytes::copy_from_slice(body)).await.unwrap()
    }

    async fn stop(mut self) {
        let _ = self.stop.take().map(|s| s.send(()));
        self.task.await.unwrap().unwrap();
    }
}

#[tokio::test]
async fn over_http_no_encoding_of_a_traversal_key_leaves_its_bucket() {
    let dir = tempfile::tempdir().unwrap();
    let s = Server::start(dir.path()).await;
    assert_eq!(s.send("PUT", "/victim", b"").await.0, 200);
    assert_eq!(s.send("PUT", "/attacker", b"").await.0, 200);
    assert_eq!(s.send("PUT", "/victim/secret.txt", b"top secret").await.0, 200);
    let log = dir.path().join(".esb-notifications.jsonl");
    let log_before = std::fs::read(&log).unwrap();
    let reads = [
        "/attacker/../victim/secret.txt",
        "/attacker/..%2Fvictim%2Fsecret.txt",
        "/attacker/%2e%2e/victim/secret.txt",
        "/attacker/%2E%2E%2Fvictim%2Fsecret.txt",
        "/attacker/..%5Cvictim%5Csecret.txt",
        "/attacker/%2Fvictim%2Fsecret.txt",
        "/attacker/../.esb-notifications.jsonl",
        "/attacker/..%2F.esb-notifications.jsonl",
        "/attacker/..%00/victim/secret.txt",
    ];
    for path in reads {
        // However the path is encoded, it names a key of attacker (or fails the signature check).
        let (status, body) = s.send("GET", path, b"").await;
        assert!(!body.contains("top secret") && !body.contains("ObjectCreated"), "{path} leaked: {status} {body}");
        assert!([400, 403, 404].contains(&status), "{path}: {status} {body}");
    }
    // Keys as an SDK sends them (each byte but `/` and unreserved ones percent-encoded, as a function
    // passing a user's path to boto3 would): written, read back, all inside attacker.
    for key in TRAVERSAL.iter().filter(|k| !k.starts_with('/')) {
        let path = format!("/attacker/{}", urlencoding::encode(key).replace("%2F", "/"));
        let (status, body) = s.send("PUT", &path, key.as_bytes()).await;
        assert_eq!(status, 200, "{key:?} is a valid key of attacker: {body}");
        assert_eq!(s.send("GET", &path, b"").await, (200, key.to_string()), "{key:?}");
    }
    let (_, body) = s.send("GET", "/victim/secret.txt", b"").await;
    assert_eq!(body, "top secret", "the victim's object is unchanged");
    let log_after = std::fs::read(&log).unwrap();
    assert!(log_after.starts_with(&log_before), "the log is only appended to");
    let appended = String::from_utf8_lossy(&log_after[log_before.len()..]).into_owned();
    assert_eq!(appended.lines().count(), TRAVERSAL.len() - 1, "one line per attacker put, each naming attacker: {appended}");
    assert!(appended.lines().all(|l| l.contains(r#""bucket":"attacker""#)), "{appended}");
    let (status, listing) = s.send("GET", "/attacker?list-type=2&prefix=..%2F", b"").await;
    assert_eq!(status, 200);
    assert!(listing.contains("<Key>../other/secret.txt</Key>"), "the attacker's own ../ key is listed: {listing}");
    assert!(!listing.contains("<Key>secret.txt</Key>"), "nothing of victim is listed: {listing}");
    let (status, listing) = s.send("GET", "/victim?list-type=2", b"").await;
    assert_eq!((status, listing.matches("<Key>").count()), (200, 1), "victim holds its one object: {listing}");
    // Into a bucket that does not exist: NoSuchBucket, and no bucket appears.
    let (status, body) = s.send("PUT", "/ghost/x", b"x").await;
    assert_eq!(status, 404, "{body}");
    assert!(body.contains("NoSuchBucket"), "{body}");
    assert!(!s.send("GET", "/", b"").await.1.contains("<Name>ghost</Name>"));
    // S3's longest key works, one byte more is S3's error, not a 500.
    let long = "k".repeat(MAX_KEY_BYTES);
    assert_eq!(s.send("PUT", &format!("/victim/{long}"), b"1").await.0, 200);
    assert_eq!(s.send("GET", &format!("/victim/{long}"), b"").await, (200, "1".into()));
    let (status, body) = s.send("PUT", &format!("/victim/{long}k"), b"1").await;
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("KeyTooLongError"), "{body}");
    s.stop().await;
}

#[tokio::test]
async fn objects_survive_a_server_restart_with_their_metadata() {
    let dir = tempfile::tempdir().unwrap();
    let s = Server::start(dir.path()).await;
    assert_eq!(s.send("PUT", "/bkt", b"").await.0, 200);
    assert_eq!(s.send("PUT", "/bkt/dir/one", b"1").await.0, 200);
    assert_eq!(s.send("PUT", "/bkt/dir/two", b"22").await.0, 200);
    assert_eq!(s.send("PUT", "/bkt/top", b"333").await.0, 200);
    assert_eq!(s.send("DELETE", "/bkt", b"").await.0, 409, "BucketNotEmpty");
    s.stop().await;
    let s = Server::start(dir.path()).await;
    let (status, listing) = s.send("GET", "/bkt?list-type=2&delimiter=%2F", b"").await;
    assert_eq!(status, 200);
    assert!(listing.contains("<Prefix>dir/</Prefix>") && listing.contains("<Key>top</Key>"), "{listing}");
    assert_eq!(s.send("GET", "/bkt/dir/two", b"").await, (200, "22".into()));
    let (status, listing) = s.send("GET", "/bkt?list-type=2&max-keys=1", b"").await;
    assert!(
        status == 200 && listing.contains("<IsTruncated>true</IsTruncated>") && listing.contains("<NextContinuationToken>"),
        "{listing}"
    );
    s.stop().await;
}

#[tokio::test]
async fn a_signature_made_for_another_service_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let s = Server::start(dir.path()).await;
    assert_eq!(s.send("PUT", "/bkt", b"").await.0, 200);
    let url = format!("{}/bkt/k", s.url);
    let (status, body) = signed(&s.signer, "lambda", "PUT", &url, &[], Bytes::from_static(b"x")).await.unwrap();
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("AuthorizationHeaderMalformed") && body.contains("lambda"), "{body}");
    assert_eq!(s.send("GET", "/bkt/k", b"").await.0, 404, "nothing was written");
    s.stop().await;
}
