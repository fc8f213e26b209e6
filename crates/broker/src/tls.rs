//! The TLS listener's configuration, from PEM files, on rustls with the ring provider.

use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::rustls::{self, ServerConfig};

/// Why a TLS configuration could not be built.
#[derive(Debug)]
pub enum TlsConfigError {
    /// The certificate chain holds no certificate, or one that is not valid PEM.
    Certificates(String),
    /// No private key, or one that is not valid PEM (PKCS#8, PKCS#1 or SEC1).
    Key(String),
    /// rustls refused the pair (a key that does not match the certificate, for example).
    Rustls(rustls::Error),
}

impl std::fmt::Display for TlsConfigError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Certificates(e) => write!(f, "the TLS certificate chain: {e}"),
            Self::Key(e) => write!(f, "the TLS private key: {e}"),
            Self::Rustls(e) => write!(f, "the TLS configuration: {e}"),
        }
    }
}

impl std::error::Error for TlsConfigError {}

/// A server configuration for [`crate::Broker::listen_tls`]: the certificate chain (the
/// server's certificate first) and its private key, both PEM, TLS 1.2 and 1.3 with the ring
/// provider, no client certificates.
pub fn server_config_from_pem(cert_chain: &[u8], key: &[u8]) -> Result<Arc<ServerConfig>, TlsConfigError> {
    let certs = CertificateDer::pem_slice_iter(cert_chain)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| TlsConfigError::Certificates(e.to_string()))?;
    if certs.is_empty() {
        return Err(TlsConfigError::Certificates("no certificate found".into()));
    }
    let key = PrivateKeyDer::from_pem_slice(key).map_err(|e| TlsConfigError::Key(e.to_string()))?;
    server_config(certs, key)
}

/// A server configuration from DER: the certificate chain and its private key.
pub(crate) fn server_config(
    certs: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
) -> Result<Arc<ServerConfig>, TlsConfigError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(TlsConfigError::Rustls)?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(TlsConfigError::Rustls)?;
    Ok(Arc::new(config))
}
