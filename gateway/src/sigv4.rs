//! SigV4 verification for the Lambda Invoke API, so only holders of esb's credentials may invoke.
//!
//! Owns: parsing `Authorization: AWS4-HMAC-SHA256 Credential=..., SignedHeaders=..., Signature=...`,
//! the clock-skew window (15 minutes, as AWS), the credential scope (its date is the request's
//! date, its region esb's, its service the endpoint's: a request signed for `s3` or another region
//! is refused, as AWS refuses it), and recomputing the signature with the `aws-sigv4`
//! crate over exactly the headers the client signed, compared in constant time. Must not: know about
//! functions.

use aws_sigv4::http_request::{sign, SignableBody, SignableRequest, SigningSettings};
use std::time::{Duration, SystemTime};
use subtle::ConstantTimeEq;

/// Largest accepted difference between the client's clock and ours.
pub const MAX_SKEW: Duration = Duration::from_secs(15 * 60);

/// The access key pair the Invoke API accepts, and the scope a signature must be made for.
#[derive(Clone)]
pub struct Credentials {
    /// Access key id.
    pub access_key_id: String,
    /// Secret access key.
    pub secret_access_key: String,
    /// esb's region: the only one a credential scope may name.
    pub region: String,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials").field("access_key_id", &self.access_key_id).finish_non_exhaustive()
    }
}

/// Why a request's signature was refused.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum SigV4Error {
    /// No SigV4 `Authorization` header.
    #[error("Missing Authentication Token")]
    Missing,
    /// The header or `X-Amz-Date` cannot be parsed.
    #[error("malformed SigV4 authorization: {0}")]
    Malformed(String),
    /// The access key id is not esb's.
    #[error("The security token included in the request is invalid.")]
    UnknownKey,
    /// `X-Amz-Date` too far from now.
    #[error("Signature expired: the request time is more than 15 minutes from the server's time")]
    Skewed,
    /// The signature does not match.
    #[error("The request signature we calculated does not match the signature you provided.")]
    Mismatch,
    /// The credential scope names another date, region or service.
    #[error("Credential should be scoped to {expected}, not `{got}`")]
    Scope {
        /// What it must be (`a valid region` / `correct service` / `the request date`).
        expected: String,
        /// What the request said.
        got: String,
    },
}

impl SigV4Error {
    /// The `__type` AWS answers with.
    pub fn error_type(&self) -> &'static str {
        match self {
            SigV4Error::Missing => "MissingAuthenticationTokenException",
            SigV4Error::Malformed(_) => "IncompleteSignatureException",
            SigV4Error::UnknownKey => "UnrecognizedClientException",
            SigV4Error::Skewed => "InvalidSignatureException",
            SigV4Error::Mismatch => "InvalidSignatureException",
            SigV4Error::Scope { .. } => "InvalidSignatureException",
        }
    }
}

/// `20150830T123600Z` -> time.
fn parse_amz_date(s: &str) -> Option<SystemTime> {
    if s.len() != 16 || &s[8..9] != "T" || !s.ends_with('Z') {
        return None;
    }
    let n = |r: std::ops::Range<usize>| s.get(r).and_then(|v| v.parse::<i64>().ok());
    let (y, m, d, hh, mm, ss) = (n(0..4)?, n(4..6)?, n(6..8)?, n(9..11)?, n(11..13)?, n(13..15)?);
    if !(1..=12).contains(&m) || !(1..=31).contains(&d) || hh > 23 || mm > 59 || ss > 60 {
        return None;
    }
    // Howard Hinnant's days_from_civil.
    let y2 = if m <= 2 { y - 1 } else { y };
    let era = y2.div_euclid(400);
    let yoe = y2 - era * 400;
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    let secs = days * 86_400 + hh * 3600 + mm * 60 + ss;
    Some(SystemTime::UNIX_EPOCH + Duration::from_secs(u64::try_from(secs).ok()?))
}

struct Authorization<'a> {
    access_key: &'a str,
    date: &'a str,
    region: &'a str,
    service: &'a str,
    signed_headers: Vec<&'a str>,
    signature: &'a str,
}

fn parse_authorization(value: &str) -> Result<Authorization<'_>, SigV4Error> {
    let rest = value.strip_prefix("AWS4-HMAC-SHA256 ").ok_or(SigV4Error::Missing)?;
    let (mut credential, mut signed, mut signature) = (None, None, None);
    for part in rest.split(',') {
        match part.trim().split_once('=') {
            Some(("Credential", v)) => credential = Some(v),
            Some(("SignedHeaders", v)) => signed = Some(v),
            Some(("Signature", v)) => signature = Some(v),
            _ => {}
        }
    }
    let missing = |what: &str| SigV4Error::Malformed(format!("{what} is missing"));
    let scope: Vec<&str> = credential.ok_or_else(|| missing("Credential"))?.split('/').collect();
    let [access_key, date, region, service, "aws4_request"] = scope[..] else {
        return Err(SigV4Error::Malformed("Credential must be <key>/<date>/<region>/<service>/aws4_request".into()));
    };
    Ok(Authorization {
        access_key,
        date,
        region,
        service,
        signed_headers: signed.ok_or_else(|| missing("SignedHeaders"))?.split(';').collect(),
        signature: signature.ok_or_else(|| missing("Signature"))?,
    })
}

/// Checks that `parts` + `body` carry a valid signature made with `creds` for `service`.
pub fn verify(parts: &http::request::Parts, body: &[u8], creds: &Credentials, service: &str, now: SystemTime) -> Result<(), SigV4Error> {
    let header = parts.headers.get(http::header::AUTHORIZATION).and_then(|v| v.to_str().ok()).ok_or(SigV4Error::Missing)?;
    let auth = parse_authorization(header)?;
    if auth.access_key != creds.access_key_id {
        return Err(SigV4Error::UnknownKey);
    }
    let date = parts
        .headers
        .get("x-amz-date")
        .and_then(|v| v.to_str().ok())
        .ok_or_else(|| SigV4Error::Malformed("X-Amz-Date is missing".into()))?;
    let time = parse_amz_date(date).ok_or_else(|| SigV4Error::Malformed(format!("X-Amz-Date `{date}` is not yyyyMMddTHHmmssZ")))?;
    let skew = now.duration_since(time).or_else(|_| time.duration_since(now)).unwrap_or_default();
    if skew > MAX_SKEW {
        return Err(SigV4Error::Skewed);
    }
    let scope = |expected: String, got: &str| SigV4Error::Scope { expected, got: got.to_string() };
    if auth.date != &date[..8] {
        return Err(scope(format!("the request date {}", &date[..8]), auth.date));
    }
    if auth.region != creds.region {
        return Err(scope(format!("region `{}`", creds.region), auth.region));
    }
    if auth.service != service {
        return Err(scope(format!("service `{service}`"), auth.service));
    }
    // HTTP/2 carries the host as :authority, not a header.
    let authority = parts.uri.authority().map(|a| a.to_string());
    let mut headers: Vec<(String, String)> = vec![];
    for name in &auth.signed_headers {
        let values: Vec<&str> = parts.headers.get_all(*name).iter().filter_map(|v| v.to_str().ok()).collect();
        match (values.is_empty(), *name, &authority) {
            (true, "host", Some(a)) => headers.push(("host".into(), a.clone())),
            (true, _, _) => return Err(SigV4Error::Malformed(format!("signed header `{name}` is not in the request"))),
            _ => headers.extend(values.into_iter().map(|v| (name.to_string(), v.to_string()))),
        }
    }
    let host = headers.iter().find(|(k, _)| k == "host").map(|(_, v)| v.clone()).unwrap_or_else(|| "localhost".into());
    let uri = format!("https://{host}{}", parts.uri.path_and_query().map(|p| p.as_str()).unwrap_or("/"));
    let identity = aws_credential_types::Credentials::new(&creds.access_key_id, &creds.secret_access_key, None, None, "esb").into();
    let params = aws_sigv4::sign::v4::SigningParams::builder()
        .identity(&identity)
        .region(auth.region)
        .name(auth.service)
        .time(time)
        .settings(SigningSettings::default())
        .build()
        .map_err(|e| SigV4Error::Malformed(e.to_string()))?
        .into();
    let request =
        SignableRequest::new(parts.method.as_str(), uri, headers.iter().map(|(k, v)| (k.as_str(), v.as_str())), SignableBody::Bytes(body))
            .map_err(|e| SigV4Error::Malformed(e.to_string()))?;
    let (_, expected) = sign(request, &params).map_err(|e| SigV4Error::Malformed(e.to_string()))?.into_parts();
    if bool::from(expected.as_bytes().ct_eq(auth.signature.as_bytes())) {
        Ok(())
    } else {
        Err(SigV4Error::Mismatch)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn creds() -> Credentials {
        Credentials { access_key_id: "esb-key".into(), secret_access_key: "secret".into(), region: "us-east-1".into() }
    }

    fn signed(body: &[u8], secret: &str, at: SystemTime) -> http::request::Parts {
        signed_for(body, secret, at, "us-east-1", "lambda")
    }

    /// Signs like an SDK would, with the same crate (the e2e test signs with botocore).
    fn signed_for(body: &[u8], secret: &str, at: SystemTime, region: &str, service: &str) -> http::request::Parts {
        let identity = aws_credential_types::Credentials::new("esb-key", secret, None, None, "t").into();
        let params = aws_sigv4::sign::v4::SigningParams::builder()
            .identity(&identity)
            .region(region)
            .name(service)
            .time(at)
            .settings(SigningSettings::default())
            .build()
            .unwrap()
            .into();
        let uri = "https://localhost:8443/2015-03-31/functions/Echo/invocations";
        let mut req = http::Request::builder().method("POST").uri(uri).header("host", "localhost:8443").body(()).unwrap();
        let signable = SignableRequest::new("POST", uri, [("host", "localhost:8443")].into_iter(), SignableBody::Bytes(body)).unwrap();
        let (instructions, _) = sign(signable, &params).unwrap().into_parts();
        instructions.apply_to_request_http1x(&mut req);
        req.into_parts().0
    }

    #[test]
    fn a_valid_signature_passes_and_every_kind_of_bad_one_is_named() {
        let now = SystemTime::now();
        assert_eq!(verify(&signed(b"{}", "secret", now), b"{}", &creds(), "lambda", now), Ok(()));
        assert_eq!(verify(&signed(b"{}", "wrong", now), b"{}", &creds(), "lambda", now), Err(SigV4Error::Mismatch));
        assert_eq!(
            verify(&signed(b"{}", "secret", now), b"{\"x\":1}", &creds(), "lambda", now),
            Err(SigV4Error::Mismatch),
            "body is signed"
        );
        let old = now - Duration::from_secs(3600);
        assert_eq!(verify(&signed(b"{}", "secret", old), b"{}", &creds(), "lambda", now), Err(SigV4Error::Skewed));
        let other = Credentials { access_key_id: "other".into(), ..creds() };
        assert_eq!(verify(&signed(b"{}", "secret", now), b"{}", &other, "lambda", now), Err(SigV4Error::UnknownKey));
        let unsigned = http::Request::builder().uri("/x").body(()).unwrap().into_parts().0;
        assert_eq!(verify(&unsigned, b"", &creds(), "lambda", now), Err(SigV4Error::Missing));
    }

    #[test]
    fn a_signature_for_another_service_region_or_day_is_refused() {
        let now = SystemTime::now();
        let scoped = |region, service| verify(&signed_for(b"{}", "secret", now, region, service), b"{}", &creds(), "lambda", now);
        assert!(matches!(scoped("us-east-1", "s3"), Err(SigV4Error::Scope { .. })), "service s3");
        assert!(matches!(scoped("eu-west-1", "lambda"), Err(SigV4Error::Scope { .. })), "another region");
        assert!(matches!(scoped("us-east-1", "lambda"), Ok(())));
        // The scope's date must be the request's: rewrite it to the day before, keeping the rest.
        let mut parts = signed(b"{}", "secret", now);
        let auth = parts.headers["authorization"].to_str().unwrap().to_string();
        let day = &parts.headers["x-amz-date"].to_str().unwrap()[..8].to_string();
        let other_day = if day.ends_with('1') { day.replace(&day[6..], "02") } else { day.replace(&day[6..], "01") };
        parts.headers.insert("authorization", auth.replace(day.as_str(), &other_day).parse().unwrap());
        assert!(matches!(verify(&parts, b"{}", &creds(), "lambda", now), Err(SigV4Error::Scope { .. })));
        assert_eq!(scoped("us-east-1", "s3").unwrap_err().error_type(), "InvalidSignatureException");
    }

    #[test]
    fn amz_dates_parse() {
        let t = parse_amz_date("20150830T123600Z").unwrap();
        assert_eq!(t.duration_since(SystemTime::UNIX_EPOCH).unwrap().as_secs(), 1_440_938_160);
        assert!(parse_amz_date("2015-08-30").is_none());
    }
}
