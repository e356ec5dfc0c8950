//! Users who may log in: username -> argon2 hash, groups, email.
//!
//! Owns: hashing (argon2id, default parameters, random salt) and verifying passwords, and the user
//! table (generated admin + generator.yml `gateway.users`). A login for an unknown user still runs
//! one argon2 verification, so response time does not reveal which usernames exist.
//! Must not: issue tokens.

use crate::GatewayError;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use std::collections::BTreeMap;
use std::sync::OnceLock;

/// One user.
#[derive(Debug, Clone)]
pub struct User {
    /// Login name.
    pub username: String,
    /// argon2 PHC string.
    pub hash: String,
    /// `cognito:groups`.
    pub groups: Vec<String>,
    /// `email`.
    pub email: Option<String>,
}

/// Hashes a password with argon2id and a random salt.
pub fn hash_password(password: &str) -> Result<String, GatewayError> {
    let salt = SaltString::encode_b64(&crate::secrets::random_bytes(16)?).map_err(|e| GatewayError::Auth(format!("salt: {e}")))?;
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| GatewayError::Auth(format!("hashing a password: {e}")))
}

/// True when `password` matches the PHC string `hash`.
pub fn verify_hash(hash: &str, password: &str) -> bool {
    PasswordHash::new(hash).map(|h| Argon2::default().verify_password(password.as_bytes(), &h).is_ok()).unwrap_or(false)
}

/// The user table.
#[derive(Debug, Clone, Default)]
pub struct Users {
    by_name: BTreeMap<String, User>,
}

impl Users {
    /// A table of `users`. A configured hash that is not an argon2 PHC string is an error naming the user.
    pub fn new(users: Vec<User>) -> Result<Self, GatewayError> {
        let mut by_name = BTreeMap::new();
        for u in users {
            if PasswordHash::new(&u.hash).is_err() || !u.hash.starts_with("$argon2") {
                return Err(GatewayError::Auth(format!(
                    "user `{}`: password_hash is not an argon2 hash; create one with `esb auth hash-password`",
                    u.username
                )));
            }
            by_name.insert(u.username.clone(), u);
        }
        Ok(Users { by_name })
    }

    /// Number of users.
    pub fn len(&self) -> usize {
        self.by_name.len()
    }

    /// True when there are none.
    pub fn is_empty(&self) -> bool {
        self.by_name.is_empty()
    }

    /// True when `username` is configured.
    pub fn contains(&self, username: &str) -> bool {
        self.by_name.contains_key(username)
    }

    /// The user, when `password` is theirs.
    pub fn authenticate(&self, username: &str, password: &str) -> Option<&User> {
        match self.by_name.get(username) {
            Some(u) => verify_hash(&u.hash, password).then_some(u),
            None => {
                // Same work as a wrong password, so timing does not reveal unknown usernames.
                static DUMMY: OnceLock<String> = OnceLock::new();
                let dummy = DUMMY.get_or_init(|| hash_password("esb-dummy-password").unwrap_or_default());
                let _ = verify_hash(dummy, password);
                None
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_verify_only_against_their_hash() {
        let hash = hash_password("s3cret").unwrap();
        assert!(hash.starts_with("$argon2id$"));
        let users = Users::new(vec![User { username: "alice".into(), hash, groups: vec![], email: None }]).unwrap();
        assert!(users.authenticate("alice", "s3cret").is_some());
        assert!(users.authenticate("alice", "wrong").is_none());
        assert!(users.authenticate("bob", "s3cret").is_none());
    }

    #[test]
    fn a_plain_text_password_in_config_is_refused() {
        let err = Users::new(vec![User { username: "bob".into(), hash: "hunter2".into(), groups: vec![], email: None }]).unwrap_err();
        assert!(err.to_string().contains("user `bob`"), "{err}");
    }
}
