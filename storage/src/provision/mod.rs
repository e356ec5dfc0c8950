//! Provisioning: the template's buckets exist before the first request.
//!
//! Owns: creating each bucket of resources.yml with a SigV4-signed `CreateBucket` (the `aws-sigv4`
//! crate), treating "already yours" as unchanged, and reporting per resource (created / unchanged /
//! updated / failed with the service's reason, never stopping the others), plus warnings for
//! settings the service cannot apply (the built-in S3 server has no versioning or CORS); tables are
//! in [`tables`]. Must not: start services.

use aws_sigv4::http_request::{
    sign, PayloadChecksumKind, PercentEncodingMode, SignableBody, SignableRequest, SigningSettings, UriPathNormalizationMode,
};
use bytes::Bytes;
use esb_config::model::BucketSpec;
use http_body_util::{BodyExt, Full};
use std::collections::BTreeMap;
use std::time::{Duration, SystemTime};

mod tables;
pub use tables::{create_table_request, tables};
pub(crate) use tables::{error_parts, post_json};

/// What happened to one resource.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Made now.
    Created,
    /// Already there, as the template describes it.
    Unchanged,
    /// Already there; what was added to match the template (an index, TTL).
    Updated(String),
    /// The service refused it: why.
    Failed(String),
}

/// One resource's report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    /// `bucket` or `table`.
    pub kind: &'static str,
    /// Logical id.
    pub id: String,
    /// Physical name.
    pub name: String,
    /// What happened.
    pub outcome: Outcome,
    /// Settings that could not be applied.
    pub warnings: Vec<String>,
}

/// Credentials and region for signing.
#[derive(Debug, Clone)]
pub struct Signer {
    /// Access key id.
    pub access_key: String,
    /// Secret.
    pub secret_key: String,
    /// Region.
    pub region: String,
}

async fn send(signer: &Signer, method: &str, url: &str, body: Bytes) -> Result<(u16, String), String> {
    signed(signer, "s3", method, url, &[], body).await
}

pub(crate) async fn signed(
    signer: &Signer,
    service: &str,
    method: &str,
    url: &str,
    extra: &[(&str, &str)],
    body: Bytes,
) -> Result<(u16, String), String> {
    let identity = aws_credential_types::Credentials::new(&signer.access_key, &signer.secret_key, None, None, "esb").into();
    let mut settings = SigningSettings::default();
    settings.payload_checksum_kind = PayloadChecksumKind::XAmzSha256;
    if service == "s3" {
        // S3 signs the path as sent: keys may hold `..` and `%`, which other services normalize.
        settings.percent_encoding_mode = PercentEncodingMode::Single;
        settings.uri_path_normalization_mode = UriPathNormalizationMode::Disabled;
    }
    let params = aws_sigv4::sign::v4::SigningParams::builder()
        .identity(&identity)
        .region(&signer.region)
        .name(service)
        .time(SystemTime::now())
        .settings(settings)
        .build()
        .map_err(|e| e.to_string())?
        .into();
    let uri: http::Uri = url.parse().map_err(|e: http::uri::InvalidUri| e.to_string())?;
    let host = uri.authority().map(|a| a.to_string()).unwrap_or_default();
    let mut builder = http::Request::builder().method(method).uri(&uri).header("host", &host);
    for (k, v) in extra {
        builder = builder.header(*k, *v);
    }
    let mut req = builder.body(Full::new(body.clone())).map_err(|e| e.to_string())?;
    let mut headers = vec![("host", host.as_str())];
    headers.extend(extra.iter().copied());
    let signable = SignableRequest::new(method, url, headers.into_iter(), SignableBody::Bytes(&body)).map_err(|e| e.to_string())?;
    let (instructions, _) = sign(signable, &params).map_err(|e| e.to_string())?.into_parts();
    instructions.apply_to_request_http1x(&mut req);
    let client = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new()).build_http::<Full<Bytes>>();
    let resp = tokio::time::timeout(Duration::from_secs(10), client.request(req))
        .await
        .map_err(|_| "no answer in 10 s".to_string())?
        .map_err(|e| e.to_string())?;
    let status = resp.status().as_u16();
    let body = resp.into_body().collect().await.map(|b| b.to_bytes()).unwrap_or_default();
    Ok((status, String::from_utf8_lossy(&body).into_owned()))
}

/// The `<Code>` or `<Message>` of an S3 error document.
fn s3_error(body: &str) -> String {
    let tag = |t: &str| body.split(&format!("<{t}>")).nth(1).and_then(|r| r.split(&format!("</{t}>")).next()).map(str::to_string);
    match (tag("Code"), tag("Message")) {
        (Some(c), Some(m)) => format!("{c}: {m}"),
        (Some(c), None) => c,
        _ => body.chars().take(200).collect(),
    }
}

/// Creates every bucket at the S3 endpoint `endpoint` (`http://host:port`).
/// `engine` names the S3 engine in warnings about settings that are not applied.
pub async fn buckets(endpoint: &str, signer: &Signer, engine: &str, buckets: &BTreeMap<String, BucketSpec>) -> Vec<Report> {
    // The built-in server lacks these features; another engine may have them, but esb does not set
    // them up there yet.
    let missing = |what: &str| match engine {
        "builtin" => format!("{what} is not supported by esb's built-in S3 service; not applied"),
        other => format!("{what} is not set up by esb on the {other} engine yet; not applied"),
    };
    let mut out = vec![];
    for (id, b) in buckets {
        let mut warnings = vec![];
        if b.versioning {
            warnings.push(missing("versioning"));
        }
        if !b.cors_rules.is_empty() {
            warnings.push(missing("CORS"));
        }
        let url = format!("{}/{}", endpoint.trim_end_matches('/'), b.bucket_name);
        let outcome = match send(signer, "PUT", &url, Bytes::new()).await {
            Ok((200, _)) => Outcome::Created,
            Ok((409, body)) if body.contains("BucketAlreadyOwnedByYou") || body.contains("BucketAlreadyExists") => Outcome::Unchanged,
            Ok((status, body)) => Outcome::Failed(format!("HTTP {status}: {}", s3_error(&body))),
            Err(e) => Outcome::Failed(e),
        };
        out.push(Report { kind: "bucket", id: id.clone(), name: b.bucket_name.clone(), outcome, warnings });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn s3_errors_are_read_from_their_xml() {
        assert_eq!(s3_error("<Error><Code>InvalidBucketName</Code><Message>bad</Message></Error>"), "InvalidBucketName: bad");
        assert_eq!(s3_error("plain"), "plain");
    }

    #[tokio::test]
    async fn buckets_are_created_once_against_the_real_server() {
        let dir = tempfile::tempdir().unwrap();
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        drop(listener);
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let server = tokio::spawn(crate::s3::serve(dir.path().to_path_buf(), addr, "ak", "sk", "us-east-1", async move {
            let _ = stopped.await;
        }));
        while tokio::net::TcpStream::connect(addr).await.is_err() {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let signer = Signer { access_key: "ak".into(), secret_key: "sk".into(), region: "us-east-1".into() };
        let spec = |name: &str, versioning: bool| BucketSpec { bucket_name: name.into(), versioning, cors_rules: vec![] };
        let wanted: BTreeMap<String, BucketSpec> =
            [("Files".to_string(), spec("files-dev", true)), ("Bad".to_string(), spec("x", false))].into();
        let url = format!("http://{addr}");
        let first = buckets(&url, &signer, "builtin", &wanted).await;
        let files = first.iter().find(|r| r.id == "Files").unwrap();
        assert_eq!(files.outcome, Outcome::Created);
        assert_eq!(files.warnings.len(), 1, "versioning is reported as not applied");
        assert!(
            matches!(&first.iter().find(|r| r.id == "Bad").unwrap().outcome, Outcome::Failed(m) if m.contains("HTTP 400")),
            "{first:?}"
        );
        let second = buckets(&url, &signer, "builtin", &wanted).await;
        assert_eq!(second.iter().find(|r| r.id == "Files").unwrap().outcome, Outcome::Unchanged);
        let wrong = Signer { secret_key: "nope".into(), ..signer };
        assert!(matches!(buckets(&url, &wrong, "builtin", &wanted).await[0].outcome, Outcome::Failed(_)));
        stop.send(()).unwrap();
        server.await.unwrap().unwrap();
    }
}
