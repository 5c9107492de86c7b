//! HTTPS with rustls: HTTP/2 and HTTP/1.1 by ALPN, certificate and key re-read on SIGHUP without
//! dropping open connections (each new handshake picks up the current pair).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use parking_lot::RwLock;
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use rustls::ServerConfig;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use thiserror::Error;

/// Why the certificate and key cannot be served: stops the hub at startup; on SIGHUP the
/// previous pair stays.
#[derive(Debug, Error)]
pub enum TlsError {
    /// `tls_cert` cannot be read or parsed as PEM.
    #[error("cannot read the TLS certificate {path}: {reason}")]
    Certificate {
        /// The `tls_cert` file.
        path: PathBuf,
        /// What went wrong.
        reason: String,
    },
    /// `tls_key` cannot be read, parsed, or used with the certificate.
    #[error("cannot read the TLS private key {path}: {reason}")]
    Key {
        /// The `tls_key` file.
        path: PathBuf,
        /// What went wrong.
        reason: String,
    },
    /// `tls_cert` is valid PEM without a certificate in it.
    #[error("the TLS certificate file {0} holds no certificate")]
    NoCertificate(PathBuf),
    /// rustls refused the configuration.
    #[error("TLS configuration: {0}")]
    Config(String),
}

/// The current certificate and key, swapped in place on reload.
#[derive(Debug)]
pub struct CertificateStore {
    cert_path: PathBuf,
    key_path: PathBuf,
    current: RwLock<Arc<CertifiedKey>>,
}

impl CertificateStore {
    /// Reads the pair once at startup: a bad pair stops the hub before it listens.
    pub fn load(cert_path: &Path, key_path: &Path) -> Result<Arc<Self>, TlsError> {
        let current = certified_key(cert_path, key_path)?;
        Ok(Arc::new(Self {
            cert_path: cert_path.to_owned(),
            key_path: key_path.to_owned(),
            current: RwLock::new(Arc::new(current)),
        }))
    }

    /// Reads both files again; on error the previous pair stays in use.
    pub fn reload(&self) -> Result<(), TlsError> {
        let fresh = certified_key(&self.cert_path, &self.key_path)?;
        *self.current.write() = Arc::new(fresh);
        Ok(())
    }

    /// A rustls server configuration that always presents the current pair.
    pub fn server_config(self: &Arc<Self>) -> Result<ServerConfig, TlsError> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        Ok(ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| TlsError::Config(e.to_string()))?
            .with_no_client_auth()
            .with_cert_resolver(self.clone()))
    }
}

impl ResolvesServerCert for CertificateStore {
    fn resolve(&self, _client_hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.current.read().clone())
    }
}

fn certified_key(cert_path: &Path, key_path: &Path) -> Result<CertifiedKey, TlsError> {
    let certificate_error = |reason: String| TlsError::Certificate {
        path: cert_path.to_owned(),
        reason,
    };
    let chain = CertificateDer::pem_file_iter(cert_path)
        .map_err(|e| certificate_error(e.to_string()))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| certificate_error(e.to_string()))?;
    if chain.is_empty() {
        return Err(TlsError::NoCertificate(cert_path.to_owned()));
    }
    let key_error = |reason: String| TlsError::Key {
        path: key_path.to_owned(),
        reason,
    };
    let key = PrivateKeyDer::from_pem_file(key_path).map_err(|e| key_error(e.to_string()))?;
    let signing_key = rustls::crypto::ring::sign::any_supported_type(&key)
        .map_err(|e| key_error(e.to_string()))?;
    let certified = CertifiedKey::new(chain, signing_key);
    certified
        .keys_match()
        .map_err(|e| key_error(format!("it does not match the certificate ({e})")))?;
    Ok(certified)
}
