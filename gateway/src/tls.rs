//! TLS for the gateway: a rustls server config from PEM, HTTP/2 and HTTP/1.1 by ALPN.
//!
//! Owns: parsing certificate chains and private keys (with errors naming the file), the protocol
//! versions (rustls' safe defaults: TLS 1.2 and 1.3, ring provider), ALPN, and swapping the
//! certificate while serving ([`CertSlot`], for SIGHUP). Must not: generate or store keys
//! (`secrets` does).

use crate::GatewayError;
use std::path::Path;
use std::sync::Arc;

/// A certificate and key, parsed and checked to fit each other.
fn certified_key(cert_pem: &str, key_pem: &str, origin: &str) -> Result<rustls::sign::CertifiedKey, GatewayError> {
    let bad = |what: String| GatewayError::Tls(format!("{origin}: {what}"));
    let certs: Vec<_> = rustls_pemfile::certs(&mut cert_pem.as_bytes())
        .collect::<Result<_, _>>()
        .map_err(|e| bad(format!("reading the certificate: {e}")))?;
    if certs.is_empty() {
        return Err(bad("no CERTIFICATE block in the certificate file".into()));
    }
    let key = rustls_pemfile::private_key(&mut key_pem.as_bytes())
        .map_err(|e| bad(format!("reading the private key: {e}")))?
        .ok_or_else(|| bad("no PRIVATE KEY block in the key file".into()))?;
    let signer = rustls::crypto::ring::default_provider()
        .key_provider
        .load_private_key(key)
        .map_err(|e| bad(format!("the private key cannot sign: {e}")))?;
    let ck = rustls::sign::CertifiedKey::new(certs, signer);
    ck.keys_match().map_err(|e| bad(format!("the key does not fit the certificate: {e}")))?;
    Ok(ck)
}

/// The certificate the listener presents, replaceable while it serves (SIGHUP): connections
/// already open keep theirs, new handshakes get the new one.
#[derive(Debug)]
pub struct CertSlot(arc_swap::ArcSwap<rustls::sign::CertifiedKey>);

impl rustls::server::ResolvesServerCert for CertSlot {
    fn resolve(&self, _hello: rustls::server::ClientHello<'_>) -> Option<Arc<rustls::sign::CertifiedKey>> {
        Some(self.0.load_full())
    }
}

impl CertSlot {
    /// Presents `cert_pem` + `key_pem` from the next handshake on; on error the old pair stays.
    pub fn replace(&self, cert_pem: &str, key_pem: &str, origin: &str) -> Result<(), GatewayError> {
        self.0.store(Arc::new(certified_key(cert_pem, key_pem, origin)?));
        Ok(())
    }
}

/// A rustls server config for `cert_pem` + `key_pem` (`origin` names where they came from in
/// errors), and the slot to replace them in later.
pub fn reloadable(cert_pem: &str, key_pem: &str, origin: &str) -> Result<(Arc<rustls::ServerConfig>, Arc<CertSlot>), GatewayError> {
    let slot = Arc::new(CertSlot(arc_swap::ArcSwap::from_pointee(certified_key(cert_pem, key_pem, origin)?)));
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| GatewayError::Tls(e.to_string()))?
        .with_no_client_auth()
        .with_cert_resolver(slot.clone());
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok((Arc::new(config), slot))
}

/// [`reloadable`] without the slot.
pub fn server_config(cert_pem: &str, key_pem: &str, origin: &str) -> Result<Arc<rustls::ServerConfig>, GatewayError> {
    Ok(reloadable(cert_pem, key_pem, origin)?.0)
}

/// Reads an operator-provided certificate and key.
pub fn load_files(cert: &Path, key: &Path) -> Result<(String, String), GatewayError> {
    let read = |p: &Path| std::fs::read_to_string(p).map_err(|source| GatewayError::Io { path: p.to_path_buf(), source });
    crate::secrets::warn_if_readable(key);
    Ok((read(cert)?, read(key)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_pairs_load_and_mismatched_or_empty_files_are_named() {
        let a = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
        let b = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
        let config = server_config(&a.cert.pem(), &a.key_pair.serialize_pem(), "test").unwrap();
        assert_eq!(config.alpn_protocols[0], b"h2");
        let err = server_config(&a.cert.pem(), &b.key_pair.serialize_pem(), "cert.pem").unwrap_err().to_string();
        assert!(err.contains("cert.pem") && err.contains("does not fit"), "{err}");
        assert!(server_config("", &a.key_pair.serialize_pem(), "x").unwrap_err().to_string().contains("no CERTIFICATE"));
        // Replacing: a bad pair is refused and the old one stays; a good one is presented.
        let (_, slot) = reloadable(&a.cert.pem(), &a.key_pair.serialize_pem(), "a").unwrap();
        let first = slot.0.load_full();
        assert!(slot.replace(&b.cert.pem(), &a.key_pair.serialize_pem(), "new.pem").unwrap_err().to_string().contains("new.pem"));
        assert!(Arc::ptr_eq(&first, &slot.0.load_full()));
        slot.replace(&b.cert.pem(), &b.key_pair.serialize_pem(), "b").unwrap();
        assert_eq!(slot.0.load().cert[0].as_ref(), b.cert.der().as_ref());
    }
}
