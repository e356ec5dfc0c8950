//! Authentication: the login endpoint, bearer tokens, API keys.
//!
//! Owns: `POST /user/auth/v1` (API key, then username + password, then Cognito's
//! `AuthenticationResult`), checking API keys in constant time, the per-user failed-login limit, and
//! turning a route's authorizer into a verified caller. Every refusal is API Gateway's shape: a
//! missing or wrong API key is 403 `Forbidden`, a missing or invalid token 401 `Unauthorized`, a wrong
//! password 401 `NotAuthorizedException`. Must not: route or invoke.

pub mod tokens;
pub mod users;

use crate::event::Caller;
use serde_json::{json, Value};
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};
use subtle::ConstantTimeEq;

pub use tokens::{TokenError, Tokens};
pub use users::{User, Users};

/// Failed logins per user before further attempts are refused for [`LOCKOUT_WINDOW`].
pub const MAX_FAILED_LOGINS: u32 = 10;
/// The window failed logins are counted in.
pub const LOCKOUT_WINDOW: Duration = Duration::from_secs(300);

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
    failures: Mutex<HashMap<String, (u32, Instant)>>,
}

impl Auth {
    /// Bundles the parts.
    pub fn new(tokens: Tokens, users: Users, api_keys: ApiKeys) -> Self {
        Auth { tokens, users, api_keys, failures: Mutex::new(HashMap::new()) }
    }

    fn locked_out(&self, username: &str) -> bool {
        let mut f = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        match f.get(username) {
            Some((_, since)) if since.elapsed() > LOCKOUT_WINDOW => {
                f.remove(username);
                false
            }
            Some((n, _)) => *n >= MAX_FAILED_LOGINS,
            None => false,
        }
    }

    fn record(&self, username: &str, ok: bool) {
        let mut f = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        if ok {
            f.remove(username);
        } else {
            // Bounded: a flood of made-up usernames cannot grow the map without limit.
            if f.len() > 10_000 {
                f.retain(|_, (_, since)| since.elapsed() <= LOCKOUT_WINDOW);
            }
            f.entry(username.to_string()).or_insert((0, Instant::now())).0 += 1;
        }
    }

    /// `POST /user/auth/v1`.
    pub fn login(&self, api_key: Option<&str>, body: &[u8]) -> LoginAnswer {
        if !self.api_keys.check(api_key) {
            return LoginAnswer { status: 403, body: json!({ "message": "Forbidden" }) };
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
        if self.locked_out(username) {
            return cognito_error(429, "NotAuthorizedException", "Password attempts exceeded");
        }
        match self.users.authenticate(username, password) {
            Some(user) => {
                self.record(username, true);
                match self.tokens.issue(&user.username, &user.groups, user.email.as_deref()) {
                    Ok(body) => LoginAnswer { status: 200, body },
                    Err(e) => {
                        tracing::error!(error = %e, "issuing tokens failed");
                        cognito_error(500, "InternalErrorException", "could not issue tokens")
                    }
                }
            }
            None => {
                self.record(username, false);
                tracing::info!(user = %username, "failed login");
                cognito_error(401, "NotAuthorizedException", "Incorrect username or password.")
            }
        }
    }

    /// The caller of a route that requires a token.
    pub fn bearer(&self, authorization: Option<&str>) -> Result<Caller, TokenError> {
        let claims = self.tokens.verify_header(authorization)?;
        let scopes = claims.get("scope").and_then(Value::as_str).map(|s| s.split(' ').map(str::to_string).collect()).unwrap_or_default();
        Ok(Caller { claims: Some(claims), scopes, api_key: None })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn auth() -> Auth {
        let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
        let users =
            Users::new(vec![User { username: "alice".into(), hash: users::hash_password("pw").unwrap(), groups: vec![], email: None }])
                .unwrap();
        Auth::new(Tokens::new(&key.serialize_pem(), "demo").unwrap(), users, ApiKeys::new(&["k1", "k2"]))
    }

    fn login(a: &Auth, key: Option<&str>, user: &str, pw: &str) -> LoginAnswer {
        a.login(key, json!({ "AuthParameters": { "USERNAME": user, "PASSWORD": pw } }).to_string().as_bytes())
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
        let caller = a.bearer(Some(&format!("Bearer {token}"))).unwrap();
        assert_eq!(caller.claims.unwrap()["cognito:username"], "alice");
        assert_eq!(a.login(Some("k1"), b"{}").status, 400);
    }

    #[test]
    fn repeated_failures_lock_the_user_out() {
        let a = auth();
        for _ in 0..MAX_FAILED_LOGINS {
            assert_eq!(login(&a, Some("k1"), "alice", "wrong").status, 401);
        }
        assert_eq!(login(&a, Some("k1"), "alice", "pw").status, 429, "even the right password waits out the window");
    }
}
