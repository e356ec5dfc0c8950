//! Authentication: the login endpoint, bearer tokens, API keys.
//!
//! Owns: `POST /user/auth/v1` (API key, then username + password, then Cognito's
//! `AuthenticationResult`), checking API keys in constant time, bounding a login's body and fields
//! before anything is parsed or hashed, hashing on a small blocking pool (never on the request
//! threads, so logins cannot slow other routes), failed-login backoff per user and client address
//! ([`throttle`]), and turning a route's authorizer into a verified caller. Every refusal is API Gateway's shape: a
//! missing or wrong API key is 403 `Forbidden`, a missing or invalid token 401 `Unauthorized`, a wrong
//! password 401 `NotAuthorizedException`. Must not: route or invoke.

pub mod throttle;
pub mod tokens;
pub mod users;

use crate::event::Caller;
use serde_json::{json, Value};
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use subtle::ConstantTimeEq;

pub use tokens::{TokenError, Tokens};
pub use users::{User, Users};

/// The largest login body read (Cognito's fields are small; a 2 MB username once held 280 MB).
pub const MAX_LOGIN_BODY: usize = 16 * 1024;
/// Cognito's longest username.
pub const MAX_USERNAME: usize = 128;
/// Cognito's longest password.
pub const MAX_PASSWORD: usize = 256;
/// How long a login waits for the hashing pool before it is told to come back.
pub const HASH_QUEUE_WAIT: Duration = Duration::from_secs(5);

/// Password checks at once: one core's worth less than the machine has (at least one), so other
/// routes always keep a core.
fn hash_slots() -> usize {
    std::thread::available_parallelism().map(|n| n.get().saturating_sub(1)).unwrap_or(1).max(1)
}

/// The API keys callers may present in `x-api-key`.
#[derive(Debug, Default)]
pub struct ApiKeys {
    digests: Vec<[u8; 32]>,
}

fn sha256(b: &[u8]) -> [u8; 32] {
    let mut out = [0u8; 32];
    out.copy_from_slice(ring::digest::digest(&ring::digest::SHA256, b).as_ref());
    out
}

impl ApiKeys {
    /// A set of keys.
    pub fn new<S: AsRef<str>>(keys: &[S]) -> Self {
        ApiKeys { digests: keys.iter().map(|k| sha256(k.as_ref().as_bytes())).collect() }
    }

    /// True when `candidate` is one of the keys. Compares fixed-length digests in constant time and
    /// looks at every key, so neither the key's length nor which key matched shows in the timing.
    pub fn check(&self, candidate: Option<&str>) -> bool {
        let Some(candidate) = candidate else { return false };
        let d = sha256(candidate.as_bytes());
        self.digests.iter().fold(subtle::Choice::from(0u8), |acc, k| acc | k.ct_eq(&d)).into()
    }
}

/// A login's answer: status and Cognito-shaped JSON.
#[derive(Debug, PartialEq)]
pub struct LoginAnswer {
    /// HTTP status.
    pub status: u16,
    /// Body.
    pub body: Value,
}

fn cognito_error(status: u16, kind: &str, message: &str) -> LoginAnswer {
    LoginAnswer { status, body: json!({ "__type": kind, "message": message }) }
}

/// Users, tokens and keys together.
#[derive(Debug)]
pub struct Auth {
    /// Token issuer/verifier.
    pub tokens: Tokens,
    /// Users.
    pub users: Users,
    /// API keys.
    pub api_keys: ApiKeys,
    throttle: Mutex<throttle::Throttle>,
    hashing: Arc<tokio::sync::Semaphore>,
}

impl Auth {
    /// Bundles the parts.
    pub fn new(tokens: Tokens, users: Users, api_keys: ApiKeys) -> Self {
        Auth {
            tokens,
            users,
            api_keys,
            throttle: Mutex::new(throttle::Throttle::default()),
            hashing: Arc::new(tokio::sync::Semaphore::new(hash_slots())),
        }
    }

    fn throttle(&self) -> std::sync::MutexGuard<'_, throttle::Throttle> {
        self.throttle.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// `POST /user/auth/v1` from `client` (the body already read within [`MAX_LOGIN_BODY`]).
    pub async fn login(self: Arc<Self>, api_key: Option<&str>, body: &[u8], client: IpAddr) -> LoginAnswer {
        if !self.api_keys.check(api_key) {
            return LoginAnswer { status: 403, body: json!({ "message": "Forbidden" }) };
        }
        if body.len() > MAX_LOGIN_BODY {
            return cognito_error(400, "InvalidParameterException", &format!("the login body is limited to {MAX_LOGIN_BODY} bytes"));
        }
        let Ok(req) = serde_json::from_slice::<Value>(body) else {
            return cognito_error(400, "InvalidParameterException", "the request body is not JSON");
        };
        if let Some(flow) = req.get("AuthFlow").and_then(Value::as_str) {
            if !matches!(flow, "USER_PASSWORD_AUTH" | "ADMIN_USER_PASSWORD_AUTH" | "ADMIN_NO_SRP_AUTH") {
                return cognito_error(
                    400,
                    "InvalidParameterException",
                    &format!("AuthFlow {flow} is not supported; use USER_PASSWORD_AUTH"),
                );
            }
        }
        let param = |k: &str| req.get("AuthParameters").and_then(|p| p.get(k)).and_then(Value::as_str);
        let (Some(username), Some(password)) = (param("USERNAME"), param("PASSWORD")) else {
            return cognito_error(400, "InvalidParameterException", "AuthParameters must contain USERNAME and PASSWORD");
        };
        if username.is_empty() || username.len() > MAX_USERNAME || password.len() > MAX_PASSWORD {
            return cognito_error(
                400,
                "InvalidParameterException",
                &format!("USERNAME must have 1 to {MAX_USERNAME} characters and PASSWORD at most {MAX_PASSWORD}"),
            );
        }
        if let Some(wait) = self.throttle().wait(username, client, Instant::now()) {
            let mut a = cognito_error(429, "TooManyRequestsException", "Password attempts exceeded; try again later");
            a.body["retryAfterSeconds"] = wait.as_secs().max(1).into();
            return a;
        }
        // Argon2 is deliberately slow: on the blocking pool, a bounded number at a time.
        let Ok(Ok(permit)) = tokio::time::timeout(HASH_QUEUE_WAIT, self.hashing.clone().acquire_owned()).await else {
            return cognito_error(429, "TooManyRequestsException", "too many logins at once; try again");
        };
        let (auth, user, pw) = (self.clone(), username.to_string(), password.to_string());
        let found = tokio::task::spawn_blocking(move || {
            let _permit = permit;
            auth.users.authenticate(&user, &pw).cloned()
        })
        .await
        .ok()
        .flatten();
        self.throttle().record(username, client, found.is_some(), Instant::now());
        match found {
            Some(user) => match self.tokens.issue(&user.username, &user.groups, user.email.as_deref()) {
                Ok(body) => LoginAnswer { status: 200, body },
                Err(e) => {
                    tracing::error!(error = %e, "issuing tokens failed");
                    cognito_error(500, "InternalErrorException", "could not issue tokens")
                }
            },
            None => {
                tracing::info!(user = %username, %client, "failed login");
                cognito_error(401, "NotAuthorizedException", "Incorrect username or password.")
            }
        }
    }

    /// The caller of a route that requires a token. `id_only`: an identity token is required, as
    /// API Gateway's Cognito authorizer requires one on a method without authorization scopes (an
    /// AccessToken is refused there). A token of a user no longer configured (removed, then a
    /// reload) is refused although it has not expired.
    pub fn bearer(&self, authorization: Option<&str>, id_only: bool) -> Result<Caller, TokenError> {
        let claims = self.tokens.verify_header(authorization)?;
        let token_use = claims.get("token_use").and_then(Value::as_str).unwrap_or_default();
        if id_only && token_use != "id" {
            return Err(TokenError::Invalid("this authorizer takes an IdToken, not an AccessToken".into()));
        }
        let user = claims.get("cognito:username").or_else(|| claims.get("username")).and_then(Value::as_str).unwrap_or_default();
        if !self.users.contains(user) {
            return Err(TokenError::Invalid(format!("user `{user}` no longer exists")));
        }
        let scopes = claims.get("scope").and_then(Value::as_str).map(|s| s.split(' ').map(str::to_string).collect()).unwrap_or_default();
        Ok(Caller { claims: Some(claims), scopes, ..Caller::default() })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn auth() -> Arc<Auth> {
        let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
        let users =
            Users::new(vec![User { username: "alice".into(), hash: users::hash_password("pw").unwrap(), groups: vec![], email: None }])
                .unwrap();
        Arc::new(Auth::new(Tokens::new(&key.serialize_pem(), "demo").unwrap(), users, ApiKeys::new(&["k1", "k2"])))
    }

    fn login(a: &Arc<Auth>, key: Option<&str>, user: &str, pw: &str) -> LoginAnswer {
        login_from(a, key, user, pw, "10.0.0.1")
    }

    fn login_from(a: &Arc<Auth>, key: Option<&str>, user: &str, pw: &str, client: &str) -> LoginAnswer {
        let body = json!({ "AuthParameters": { "USERNAME": user, "PASSWORD": pw } }).to_string();
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        rt.block_on(a.clone().login(key, body.as_bytes(), client.parse().unwrap()))
    }

    #[test]
    fn api_keys_match_exactly() {
        let keys = ApiKeys::new(&["k1", "k2"]);
        assert!(keys.check(Some("k2")));
        assert!(!keys.check(Some("k3")) && !keys.check(Some("k")) && !keys.check(Some("")) && !keys.check(None));
    }

    #[test]
    fn login_checks_key_then_password() {
        let a = auth();
        assert_eq!(login(&a, None, "alice", "pw").status, 403);
        assert_eq!(login(&a, Some("nope"), "alice", "pw").status, 403);
        let bad = login(&a, Some("k1"), "alice", "wrong");
        assert_eq!((bad.status, bad.body["__type"].as_str()), (401, Some("NotAuthorizedException")));
        let ok = login(&a, Some("k1"), "alice", "pw");
        assert_eq!(ok.status, 200);
        let token = ok.body["AuthenticationResult"]["IdToken"].as_str().unwrap();
        let caller = a.bearer(Some(&format!("Bearer {token}")), true).unwrap();
        assert_eq!(caller.claims.unwrap()["cognito:username"], "alice");
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        assert_eq!(rt.block_on(a.clone().login(Some("k1"), b"{}", "10.0.0.1".parse().unwrap())).status, 400);
    }

    #[test]
    fn repeated_failures_slow_their_source_but_never_lock_the_real_user_out() {
        let a = auth();
        for _ in 0..throttle::FREE_FAILURES + 1 {
            assert_eq!(login_from(&a, Some("k1"), "alice", "wrong", "10.0.0.9").status, 401);
        }
        let slowed = login_from(&a, Some("k1"), "alice", "pw", "10.0.0.9");
        assert_eq!(
            (slowed.status, slowed.body["__type"].as_str()),
            (429, Some("TooManyRequestsException")),
            "the attacker's address waits"
        );
        assert_eq!(login_from(&a, Some("k1"), "alice", "pw", "10.0.0.1").status, 200, "alice from her own address logs in");
    }

    #[test]
    fn a_cognito_authorizer_takes_id_tokens_only_and_removed_users_lose_theirs() {
        let a = auth();
        let ok = login(&a, Some("k1"), "alice", "pw");
        let result = &ok.body["AuthenticationResult"];
        let (id, access) = (result["IdToken"].as_str().unwrap(), result["AccessToken"].as_str().unwrap());
        assert!(a.bearer(Some(id), true).is_ok());
        assert!(a.bearer(Some(access), true).is_err(), "an AccessToken where an IdToken is expected");
        assert!(a.bearer(Some(access), false).is_ok(), "a JWT authorizer takes either");
        // The same key, alice removed from the users: her unexpired tokens stop working.
        let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
        let b = Auth::new(Tokens::new(&key.serialize_pem(), "demo").unwrap(), Users::default(), ApiKeys::new(&["k1"]));
        let token = b.tokens.issue("alice", &[], None).unwrap()["AuthenticationResult"]["IdToken"].as_str().unwrap().to_string();
        assert!(matches!(b.bearer(Some(&token), true), Err(TokenError::Invalid(m)) if m.contains("no longer exists")));
    }

    #[test]
    fn oversized_fields_are_refused_before_anything_is_hashed() {
        let a = auth();
        let started = Instant::now();
        let huge = "u".repeat(2 * 1024 * 1024);
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let body = json!({ "AuthParameters": { "USERNAME": huge, "PASSWORD": "x" } }).to_string();
        assert_eq!(rt.block_on(a.clone().login(Some("k1"), body.as_bytes(), "10.0.0.1".parse().unwrap())).status, 400);
        assert_eq!(login(&a, Some("k1"), &"u".repeat(MAX_USERNAME + 1), "pw").status, 400);
        assert_eq!(login(&a, Some("k1"), "alice", &"p".repeat(MAX_PASSWORD + 1)).status, 400);
        assert!(a.throttle().is_empty(), "nothing about them is kept");
        assert!(started.elapsed() < Duration::from_secs(5));
    }
}
