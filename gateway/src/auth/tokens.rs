//! Cognito-shaped tokens: issuing IdToken/AccessToken and verifying bearer tokens strictly.
//!
//! Owns: the ES256 signing key (from secrets), the issuer (`https://localhost/esb/<project>`) and
//! client id (`esb-<project>`), the claims Cognito puts in its tokens (`sub`, `cognito:username`,
//! `cognito:groups`, `email`, `token_use`, `auth_time`, `aud`/`client_id`), the JWKS document, and
//! verification: the algorithm is pinned to ES256 (an `alg=none` or HS256 token is refused before its
//! signature is looked at), `exp` and `nbf` are required and checked with 5 s leeway, `iss` must be
//! esb's, and an IdToken's `aud` (an AccessToken's `client_id`) must be esb's client id.
//! Must not: know users' passwords.

use crate::GatewayError;
use base64::Engine;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde_json::{json, Map, Value};
use std::time::{Duration, SystemTime};

/// Token lifetime (Cognito's default for id and access tokens).
pub const EXPIRES_IN: Duration = Duration::from_secs(3600);

/// Why a bearer token was refused (all of them answer 401; the reason is logged, not returned).
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum TokenError {
    /// No `Authorization: Bearer` header.
    #[error("no bearer token")]
    Missing,
    /// Signature, algorithm, expiry, issuer or audience check failed.
    #[error("invalid token: {0}")]
    Invalid(String),
}

/// A signing key retired by `esb auth rotate-key`: its tokens verify until `until`.
struct Retired {
    decoding: DecodingKey,
    kid: String,
    until: SystemTime,
}

/// Issues and verifies tokens.
pub struct Tokens {
    encoding: EncodingKey,
    decoding: DecodingKey,
    kid: String,
    jwks: Value,
    previous: Option<Retired>,
    /// `iss` of every token.
    pub issuer: String,
    /// `aud` of IdTokens, `client_id` of AccessTokens.
    pub client_id: String,
}

impl std::fmt::Debug for Tokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tokens").field("issuer", &self.issuer).field("kid", &self.kid).finish_non_exhaustive()
    }
}

/// The verifying half of a PKCS#8 PEM P-256 key: the key, its `kid`, its JWK.
fn public(pem: &str) -> Result<(DecodingKey, String, Value), GatewayError> {
    let bad = |e: &dyn std::fmt::Display| GatewayError::Auth(format!("the token signing key is not a P-256 key: {e}"));
    let pair = rcgen::KeyPair::from_pem(pem).map_err(|e| bad(&e))?;
    let decoding = DecodingKey::from_ec_pem(pair.public_key_pem().as_bytes()).map_err(|e| bad(&e))?;
    let raw = pair.public_key_raw();
    if raw.len() != 65 || raw[0] != 4 {
        return Err(bad(&"unexpected public key encoding"));
    }
    let b64 = |b: &[u8]| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b);
    let kid = b64(&ring::digest::digest(&ring::digest::SHA256, raw).as_ref()[..12]);
    let jwk = json!({ "kty": "EC", "crv": "P-256", "alg": "ES256", "use": "sig", "kid": kid, "x": b64(&raw[1..33]), "y": b64(&raw[33..]) });
    Ok((decoding, kid, jwk))
}

fn now_secs() -> u64 {
    SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
}

/// A stable `sub` for a username (UUID-shaped, like Cognito's).
fn subject(issuer: &str, username: &str) -> String {
    let d = ring::digest::digest(&ring::digest::SHA256, format!("{issuer}\0{username}").as_bytes());
    let h = hex_lower(&d.as_ref()[..16]);
    format!("{}-{}-{}-{}-{}", &h[..8], &h[8..12], &h[12..16], &h[16..20], &h[20..32])
}

fn hex_lower(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

impl Tokens {
    /// Tokens signed with the PKCS#8 PEM P-256 key `signing_key_pem`, for `project`.
    pub fn new(signing_key_pem: &str, project: &str) -> Result<Self, GatewayError> {
        let (decoding, kid, jwk) = public(signing_key_pem)?;
        let encoding = EncodingKey::from_ec_pem(signing_key_pem.as_bytes())
            .map_err(|e| GatewayError::Auth(format!("the token signing key is not a P-256 key: {e}")))?;
        Ok(Tokens {
            encoding,
            decoding,
            kid,
            jwks: json!({ "keys": [jwk] }),
            previous: None,
            issuer: format!("https://localhost/esb/{project}"),
            client_id: format!("esb-{project}"),
        })
    }

    /// Also accepts tokens signed with `previous_pem` (the key before a rotation) until `until`;
    /// both keys are in the JWKS meanwhile. Past `until` they are rejected.
    pub fn with_previous(mut self, previous_pem: &str, until: SystemTime) -> Result<Self, GatewayError> {
        let (decoding, kid, jwk) = public(previous_pem)?;
        if let Some(keys) = self.jwks["keys"].as_array_mut() {
            keys.push(jwk);
        }
        self.previous = Some(Retired { decoding, kid, until });
        Ok(self)
    }

    /// The JWKS document (`/.well-known/jwks.json`).
    pub fn jwks(&self) -> &Value {
        &self.jwks
    }

    fn sign(&self, claims: &Value) -> Result<String, GatewayError> {
        let mut header = Header::new(Algorithm::ES256);
        header.kid = Some(self.kid.clone());
        jsonwebtoken::encode(&header, claims, &self.encoding).map_err(|e| GatewayError::Auth(format!("signing a token: {e}")))
    }

    /// Cognito's `AuthenticationResult` for `username`.
    pub fn issue(&self, username: &str, groups: &[String], email: Option<&str>) -> Result<Value, GatewayError> {
        let now = now_secs();
        let exp = now + EXPIRES_IN.as_secs();
        let sub = subject(&self.issuer, username);
        let (id_jti, access_jti) = (crate::secrets::random_token(16)?, crate::secrets::random_token(16)?);
        let mut id = json!({
            "sub": sub, "cognito:username": username, "iss": self.issuer, "aud": self.client_id, "token_use": "id",
            "auth_time": now, "iat": now, "nbf": now, "exp": exp, "jti": id_jti,
        });
        if !groups.is_empty() {
            id["cognito:groups"] = json!(groups);
        }
        if let Some(email) = email {
            id["email"] = json!(email);
            id["email_verified"] = json!(true);
        }
        let access = json!({
            "sub": sub, "username": username, "iss": self.issuer, "client_id": self.client_id, "token_use": "access",
            "scope": "aws.cognito.signin.user.admin", "auth_time": now, "iat": now, "nbf": now, "exp": exp,
            "jti": access_jti,
        });
        Ok(json!({
            "AuthenticationResult": {
                "AccessToken": self.sign(&access)?,
                "IdToken": self.sign(&id)?,
                "ExpiresIn": EXPIRES_IN.as_secs(),
                "TokenType": "Bearer",
            },
            "ChallengeParameters": {},
        }))
    }

    /// Verifies a bearer token (IdToken or AccessToken) and returns its claims.
    pub fn verify(&self, token: &str) -> Result<Map<String, Value>, TokenError> {
        let mut v = Validation::new(Algorithm::ES256);
        v.leeway = 5;
        v.validate_nbf = true;
        v.validate_aud = false;
        v.set_issuer(&[&self.issuer]);
        v.set_required_spec_claims(&["exp", "nbf", "iss"]);
        // The key is chosen by `kid`; the algorithm stays pinned to ES256 by `v` whatever the header says.
        let kid = jsonwebtoken::decode_header(token).map_err(|e| TokenError::Invalid(e.to_string()))?.kid;
        let key = match &self.previous {
            Some(p) if kid.as_deref() == Some(p.kid.as_str()) => {
                if SystemTime::now() >= p.until {
                    return Err(TokenError::Invalid("signed with a rotated key whose grace period is over".into()));
                }
                &p.decoding
            }
            _ => &self.decoding,
        };
        let data = jsonwebtoken::decode::<Map<String, Value>>(token, key, &v).map_err(|e| TokenError::Invalid(e.to_string()))?;
        let claims = data.claims;
        let audience_ok = match claims.get("token_use").and_then(Value::as_str) {
            Some("id") => claims.get("aud").and_then(Value::as_str) == Some(&self.client_id),
            Some("access") => claims.get("client_id").and_then(Value::as_str) == Some(&self.client_id),
            _ => false,
        };
        if !audience_ok {
            return Err(TokenError::Invalid("audience/client_id or token_use does not match".into()));
        }
        Ok(claims)
    }

    /// `Authorization` header value -> claims.
    pub fn verify_header(&self, header: Option<&str>) -> Result<Map<String, Value>, TokenError> {
        let value = header.ok_or(TokenError::Missing)?.trim();
        // Cognito authorizers accept the bare token as well as `Bearer <token>`.
        let token = value.strip_prefix("Bearer ").or_else(|| value.strip_prefix("bearer ")).unwrap_or(value).trim();
        if token.is_empty() {
            return Err(TokenError::Missing);
        }
        self.verify(token)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tokens() -> Tokens {
        let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
        Tokens::new(&key.serialize_pem(), "demo").unwrap()
    }

    #[test]
    fn after_a_rotation_old_tokens_verify_only_during_the_grace_period() {
        let old_key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap().serialize_pem();
        let new_key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap().serialize_pem();
        let old_token = id_token(&Tokens::new(&old_key, "demo").unwrap());
        let in_grace = Tokens::new(&new_key, "demo").unwrap().with_previous(&old_key, SystemTime::now() + Duration::from_secs(60)).unwrap();
        assert!(in_grace.verify(&old_token).is_ok(), "old tokens work during the grace period");
        assert!(in_grace.verify(&id_token(&in_grace)).is_ok(), "new tokens are signed with the new key");
        assert_eq!(in_grace.jwks()["keys"].as_array().unwrap().len(), 2, "both keys are published meanwhile");
        let over = Tokens::new(&new_key, "demo").unwrap().with_previous(&old_key, SystemTime::now() - Duration::from_secs(1)).unwrap();
        let e = over.verify(&old_token).unwrap_err().to_string();
        assert!(e.contains("grace period is over"), "{e}");
        let without = Tokens::new(&new_key, "demo").unwrap();
        assert!(without.verify(&old_token).is_err(), "without the old key, old tokens are rejected");
    }

    fn id_token(t: &Tokens) -> String {
        t.issue("alice", &["admins".into()], Some("a@example.com")).unwrap()["AuthenticationResult"]["IdToken"]
            .as_str()
            .unwrap()
            .to_string()
    }

    #[test]
    fn issued_tokens_verify_with_cognito_claims() {
        let t = tokens();
        let result = t.issue("alice", &["admins".into()], None).unwrap();
        let r = &result["AuthenticationResult"];
        assert_eq!((r["TokenType"].as_str(), r["ExpiresIn"].as_u64()), (Some("Bearer"), Some(3600)));
        let claims = t.verify_header(Some(&format!("Bearer {}", r["IdToken"].as_str().unwrap()))).unwrap();
        assert_eq!(claims["cognito:username"], "alice");
        assert_eq!(claims["cognito:groups"], json!(["admins"]));
        assert_eq!(claims["token_use"], "id");
        let access = t.verify(r["AccessToken"].as_str().unwrap()).unwrap();
        assert_eq!(access["token_use"], "access");
        assert_eq!(access["sub"], claims["sub"], "one subject per user");
        assert_eq!(t.jwks()["keys"][0]["kid"].as_str().unwrap().len(), 16);
    }

    #[test]
    fn tampered_foreign_none_and_expired_tokens_are_refused() {
        let t = tokens();
        let good = id_token(&t);
        let b64 = |v: &Value| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string());
        let parts: Vec<&str> = good.split('.').collect();

        // Payload changed, signature kept.
        let mut claims: Value =
            serde_json::from_slice(&base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(parts[1]).unwrap()).unwrap();
        claims["cognito:username"] = json!("mallory");
        assert!(t.verify(&format!("{}.{}.{}", parts[0], b64(&claims), parts[2])).is_err());

        // alg=none with no signature.
        let none = format!("{}.{}.", b64(&json!({"alg": "none", "typ": "JWT"})), parts[1]);
        assert!(t.verify(&none).is_err());

        // HS256 signed with the public key (the classic algorithm-confusion attack).
        let jwk = t.jwks()["keys"][0].to_string();
        let hs = jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &EncodingKey::from_secret(jwk.as_bytes())).unwrap();
        assert!(t.verify(&hs).is_err());

        // Another key with the same issuer.
        assert!(t.verify(&id_token(&tokens())).is_err());

        // Expired.
        let mut old = claims.clone();
        old["cognito:username"] = json!("alice");
        old["exp"] = json!(now_secs() - 120);
        assert!(matches!(t.verify(&t.sign(&old).unwrap()), Err(TokenError::Invalid(_))));

        // Not yet valid, wrong issuer, wrong audience.
        for (k, v) in [("nbf", json!(now_secs() + 600)), ("iss", json!("https://elsewhere")), ("aud", json!("other-client"))] {
            let mut c = claims.clone();
            c["cognito:username"] = json!("alice");
            c[k] = v;
            assert!(t.verify(&t.sign(&c).unwrap()).is_err(), "{k}");
        }
        assert_eq!(t.verify_header(None), Err(TokenError::Missing));
        assert!(t.verify(&good).is_ok());
    }
}
