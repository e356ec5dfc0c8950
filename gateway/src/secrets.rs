//! The gateway's secrets on disk: generated on first start, 0600, rewritten only by a rotation.
//!
//! Owns: `<output_dir>/secrets/` (mode 0700): the self-signed TLS certificate and key, the token
//! signing key (ES256), the API key, and the generated admin user (argon2 hash in `users.yml`, the
//! password itself in `admin-password` for the operator, both 0600). Each file is created atomically
//! (temp file with mode 0600, then rename) only when missing, so a restart keeps every token and key
//! valid. `esb auth rotate-key` replaces the signing key (the old one verifies for a grace period)
//! and the admin password. Must not: print secrets (the caller reports [`Secrets::created`] once) or serve anything.

use crate::GatewayError;
use base64::Engine;
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// Name of the generated admin user.
pub const ADMIN_USER: &str = "admin";

/// What was generated on this start (to be shown once).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Created {
    /// The self-signed certificate at this path.
    Certificate(PathBuf),
    /// The API key (its value, and where it is stored).
    ApiKey(String, PathBuf),
    /// The admin password (its value, and where it is stored).
    AdminPassword(String, PathBuf),
    /// The token signing key.
    SigningKey(PathBuf),
}

/// The loaded secrets.
#[derive(Debug, Clone)]
pub struct Secrets {
    /// The directory.
    pub dir: PathBuf,
    /// PEM certificate chain (self-signed unless the operator's were loaded instead).
    pub tls_cert_pem: String,
    /// PEM private key.
    pub tls_key_pem: String,
    /// PKCS#8 PEM of the ES256 signing key.
    pub signing_key_pem: String,
    /// The key before the last `esb auth rotate-key`, and until when its tokens stay valid
    /// (only while that time is in the future).
    pub previous_signing_key: Option<(String, std::time::SystemTime)>,
    /// The API key.
    pub api_key: String,
    /// The admin's argon2 hash.
    pub admin_hash: String,
    /// What this start generated.
    pub created: Vec<Created>,
}

/// `n` random bytes from the OS.
pub fn random_bytes(n: usize) -> Result<Vec<u8>, GatewayError> {
    use ring::rand::SecureRandom;
    let mut buf = vec![0u8; n];
    ring::rand::SystemRandom::new()
        .fill(&mut buf)
        .map_err(|_| GatewayError::Auth("the operating system's random number generator failed".into()))?;
    Ok(buf)
}

/// A random URL-safe token of `bytes` bytes of entropy.
pub fn random_token(bytes: usize) -> Result<String, GatewayError> {
    Ok(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(random_bytes(bytes)?))
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> GatewayError + '_ {
    move |source| GatewayError::Io { path: path.to_path_buf(), source }
}

/// Writes `content` to `path` with mode 0600, atomically.
pub fn write_private(path: &Path, content: &[u8]) -> Result<(), GatewayError> {
    let tmp = path.with_extension(format!("tmp{}", std::process::id()));
    let mut f = std::fs::OpenOptions::new().write(true).create(true).truncate(true).mode(0o600).open(&tmp).map_err(io(&tmp))?;
    f.write_all(content).and_then(|_| f.sync_all()).map_err(io(&tmp))?;
    std::fs::rename(&tmp, path).map_err(io(path))
}

/// Reads `path`, or creates it with `make` (0600) and records what was made.
fn read_or_create(path: &Path, make: impl FnOnce() -> Result<String, GatewayError>) -> Result<(String, bool), GatewayError> {
    match std::fs::read_to_string(path) {
        Ok(s) => {
            warn_if_readable(path);
            Ok((s, false))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let content = make()?;
            write_private(path, content.as_bytes())?;
            Ok((content, true))
        }
        Err(e) => Err(GatewayError::Io { path: path.to_path_buf(), source: e }),
    }
}

/// Warns when a secret file can be read by others (like ssh does).
pub fn warn_if_readable(path: &Path) {
    if let Ok(meta) = std::fs::metadata(path) {
        if meta.permissions().mode() & 0o077 != 0 {
            tracing::warn!(path = %path.display(), mode = format!("{:o}", meta.permissions().mode() & 0o777), "secret file is readable by other users; run chmod 600 on it");
        }
    }
}

/// The retired signing key and the end of its grace period, while that is in the future.
fn previous_key(dir: &Path) -> Option<(String, std::time::SystemTime)> {
    let pem = std::fs::read_to_string(dir.join(PREVIOUS_KEY)).ok()?;
    let secs: u64 = std::fs::read_to_string(dir.join(PREVIOUS_UNTIL)).ok()?.trim().parse().ok()?;
    let until = std::time::UNIX_EPOCH + std::time::Duration::from_secs(secs);
    (until > std::time::SystemTime::now()).then_some((pem, until))
}

/// The retired signing key's file, and the file with the end of its grace period (unix seconds).
const PREVIOUS_KEY: &str = "token-signing-key.previous.pem";
const PREVIOUS_UNTIL: &str = "token-signing-key.previous-until";

/// `esb auth rotate-key`: a new token signing key in `dir`; tokens signed with the old one stay
/// valid for `grace` (a running gateway learns of it on SIGHUP or its next start). Each file is
/// replaced atomically, the retired key first, so a crash never leaves the gateway without a key.
pub fn rotate_signing_key(dir: &Path, grace: std::time::Duration) -> Result<std::time::SystemTime, GatewayError> {
    let current_path = dir.join("token-signing-key.pem");
    let current = std::fs::read_to_string(&current_path).map_err(io(&current_path))?;
    let until = std::time::SystemTime::now() + grace;
    let secs = until.duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
    write_private(&dir.join(PREVIOUS_KEY), current.as_bytes())?;
    write_private(&dir.join(PREVIOUS_UNTIL), secs.to_string().as_bytes())?;
    let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256)
        .map_err(|e| GatewayError::Tls(format!("generating the token signing key: {e}")))?;
    write_private(&current_path, key.serialize_pem().as_bytes())?;
    Ok(until)
}

/// `esb auth rotate-key --admin-password`: a new password for the generated `admin` user, returned
/// once; the old one stops working at the gateway's next SIGHUP or start.
pub fn rotate_admin_password(dir: &Path) -> Result<String, GatewayError> {
    let password = random_token(18)?;
    let hash = crate::auth::users::hash_password(&password)?;
    write_private(&dir.join("admin-password"), password.as_bytes())?;
    write_private(&dir.join("admin.argon2"), hash.as_bytes())?;
    Ok(password)
}

impl Secrets {
    /// Loads the secrets in `dir`, generating the missing ones. `hostnames` go into a generated
    /// certificate's subject alternative names.
    pub fn load_or_create(dir: &Path, hostnames: &[String]) -> Result<Secrets, GatewayError> {
        std::fs::create_dir_all(dir).map_err(io(dir))?;
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700)).map_err(io(dir))?;
        let mut created = vec![];

        let key_path = dir.join("tls.key");
        let cert_path = dir.join("tls.crt");
        let (tls_key_pem, tls_cert_pem) = match (std::fs::read_to_string(&key_path), std::fs::read_to_string(&cert_path)) {
            (Ok(k), Ok(c)) => {
                warn_if_readable(&key_path);
                (k, c)
            }
            _ => {
                // `*.lambda-url.localhost`: function URLs are served at `<id>.lambda-url.localhost`.
                let mut names =
                    vec!["localhost".to_string(), "*.lambda-url.localhost".to_string(), "127.0.0.1".to_string(), "::1".to_string()];
                names.extend(hostnames.iter().cloned());
                names.dedup();
                let cert =
                    rcgen::generate_simple_self_signed(names).map_err(|e| GatewayError::Tls(format!("generating a certificate: {e}")))?;
                let (k, c) = (cert.key_pair.serialize_pem(), cert.cert.pem());
                write_private(&key_path, k.as_bytes())?;
                write_private(&cert_path, c.as_bytes())?;
                created.push(Created::Certificate(cert_path.clone()));
                (k, c)
            }
        };

        let signing_path = dir.join("token-signing-key.pem");
        let (signing_key_pem, made) = read_or_create(&signing_path, || {
            let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256)
                .map_err(|e| GatewayError::Tls(format!("generating the token signing key: {e}")))?;
            Ok(key.serialize_pem())
        })?;
        if made {
            created.push(Created::SigningKey(signing_path));
        }

        let previous_signing_key = previous_key(dir);

        let key_file = dir.join("api-key");
        let (api_key, made) = read_or_create(&key_file, || Ok(format!("esb_{}", random_token(32)?)))?;
        let api_key = api_key.trim().to_string();
        if made {
            created.push(Created::ApiKey(api_key.clone(), key_file));
        }

        let hash_path = dir.join("admin.argon2");
        let password_path = dir.join("admin-password");
        let (admin_hash, made) = read_or_create(&hash_path, || {
            let password = random_token(18)?;
            write_private(&password_path, password.as_bytes())?;
            created.push(Created::AdminPassword(password.clone(), password_path.clone()));
            crate::auth::users::hash_password(&password)
        })?;
        let _ = made;
        Ok(Secrets {
            dir: dir.to_path_buf(),
            tls_cert_pem,
            tls_key_pem,
            signing_key_pem,
            previous_signing_key,
            api_key,
            admin_hash: admin_hash.trim().to_string(),
            created,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_start_generates_private_files_and_later_starts_reuse_them() {
        let dir = tempfile::tempdir().unwrap();
        let secrets_dir = dir.path().join("secrets");
        let first = Secrets::load_or_create(&secrets_dir, &[]).unwrap();
        assert_eq!(first.created.len(), 4, "{:?}", first.created);
        for f in ["tls.key", "tls.crt", "token-signing-key.pem", "api-key", "admin.argon2", "admin-password"] {
            let mode = std::fs::metadata(secrets_dir.join(f)).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o600, "{f}");
        }
        assert_eq!(std::fs::metadata(&secrets_dir).unwrap().permissions().mode() & 0o777, 0o700);
        let password =
            first.created.iter().find_map(|c| if let Created::AdminPassword(p, _) = c { Some(p.clone()) } else { None }).unwrap();
        assert!(crate::auth::users::verify_hash(&first.admin_hash, &password));

        assert!(first.previous_signing_key.is_none());
        let until = rotate_signing_key(&secrets_dir, std::time::Duration::from_secs(3600)).unwrap();
        let rotated = Secrets::load_or_create(&secrets_dir, &[]).unwrap();
        assert_ne!(rotated.signing_key_pem, first.signing_key_pem);
        let (old, kept_until) = rotated.previous_signing_key.clone().unwrap();
        assert_eq!(old, first.signing_key_pem);
        assert_eq!(
            kept_until.duration_since(std::time::UNIX_EPOCH).unwrap().as_secs(),
            until.duration_since(std::time::UNIX_EPOCH).unwrap().as_secs()
        );
        for f in [PREVIOUS_KEY, PREVIOUS_UNTIL, "token-signing-key.pem"] {
            assert_eq!(std::fs::metadata(secrets_dir.join(f)).unwrap().permissions().mode() & 0o777, 0o600, "{f}");
        }
        // Past the grace period the old key is not loaded at all.
        rotate_signing_key(&secrets_dir, std::time::Duration::ZERO).unwrap();
        assert!(Secrets::load_or_create(&secrets_dir, &[]).unwrap().previous_signing_key.is_none());
        let password = rotate_admin_password(&secrets_dir).unwrap();
        assert!(crate::auth::users::verify_hash(&Secrets::load_or_create(&secrets_dir, &[]).unwrap().admin_hash, &password));

        let second = Secrets::load_or_create(&secrets_dir, &[]).unwrap();
        assert!(second.created.is_empty());
        assert_eq!((second.api_key, second.tls_cert_pem), (first.api_key, first.tls_cert_pem));
    }
}
