//! TLS to an external broker (`mqtts://`): rustls with the ring provider, the broker's
//! certificate checked against its host name and the system's certificate authorities, or
//! those of `mqtt_ca_file`.

use std::path::Path;
use std::sync::Arc;

use anyhow::Context;
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;

/// The client configuration for the server's connection to an `mqtts://` broker.
pub fn client_config(ca_file: Option<&Path>) -> anyhow::Result<rustls::ClientConfig> {
    let mut roots = rustls::RootCertStore::empty();
    match ca_file {
        Some(path) => {
            let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(path)
                .with_context(|| format!("mqtt_ca_file: reading {}", path.display()))?
                .collect::<Result<_, _>>()
                .with_context(|| format!("mqtt_ca_file: {} is not a PEM certificate file", path.display()))?;
            anyhow::ensure!(!certs.is_empty(), "mqtt_ca_file: no certificate in {}", path.display());
            for cert in certs {
                roots
                    .add(cert)
                    .with_context(|| format!("mqtt_ca_file: a certificate in {}", path.display()))?;
            }
        }
        None => {
            let found = rustls_native_certs::load_native_certs();
            for e in &found.errors {
                tracing::warn!("loading the system's certificate authorities: {e}");
            }
            let (added, _) = roots.add_parsable_certificates(found.certs);
            anyhow::ensure!(
                added > 0,
                "mqtts://: no system certificate authority found (give mqtt_ca_file)"
            );
        }
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .context("TLS protocol versions")?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(config)
}
