//! TLS to the broker (`--mqtt mqtts://HOST:PORT`): rustls with the ring provider, the broker's
//! certificate checked against the host name and the certificate authorities of
//! `--mqtt-ca-file` (a lock ships with its operator's CA), or the system's when none is given.

use std::path::Path;
use std::sync::Arc;

use anyhow::Context;
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;

/// How the lock reaches its broker.
#[derive(Clone, Default)]
pub enum Transport {
    /// Plain MQTT over TCP (`mqtt://`).
    #[default]
    Tcp,
    /// MQTT over TLS (`mqtts://`) with this client configuration ([`client_config`]).
    Tls(Arc<rustls::ClientConfig>),
}

impl std::fmt::Debug for Transport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Transport::Tcp => "Tcp",
            Transport::Tls(_) => "Tls",
        })
    }
}

impl Transport {
    /// TLS trusting the certificate authorities in the PEM file `ca_file`, or the system's.
    pub fn tls(ca_file: Option<&Path>) -> anyhow::Result<Transport> {
        Ok(Transport::Tls(Arc::new(client_config(ca_file)?)))
    }

    pub(crate) fn apply(&self, mo: &mut rumqttc::MqttOptions) {
        if let Transport::Tls(config) = self {
            mo.set_transport(rumqttc::Transport::tls_with_config(rumqttc::TlsConfiguration::Rustls(
                config.clone(),
            )));
        }
    }
}

/// The client configuration for an `mqtts://` broker: its certificate must chain to one in
/// `ca_file` (PEM), or to a system certificate authority when `ca_file` is `None`.
pub fn client_config(ca_file: Option<&Path>) -> anyhow::Result<rustls::ClientConfig> {
    let mut roots = rustls::RootCertStore::empty();
    match ca_file {
        Some(path) => {
            let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(path)
                .with_context(|| format!("--mqtt-ca-file: reading {}", path.display()))?
                .collect::<Result<_, _>>()
                .with_context(|| format!("--mqtt-ca-file: {} is not a PEM certificate file", path.display()))?;
            anyhow::ensure!(
                !certs.is_empty(),
                "--mqtt-ca-file: no certificate in {}",
                path.display()
            );
            for cert in certs {
                roots
                    .add(cert)
                    .with_context(|| format!("--mqtt-ca-file: a certificate in {}", path.display()))?;
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
                "mqtts://: no system certificate authority found (give --mqtt-ca-file)"
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_ca_file_must_hold_certificates() {
        let dir = std::env::temp_dir().join(format!("lk-vlock-tls-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let empty = dir.join("empty.pem");
        std::fs::write(&empty, "not a certificate\n").unwrap();
        let e = client_config(Some(&empty)).unwrap_err();
        assert!(format!("{e:#}").contains("no certificate"), "{e:#}");
        let missing = dir.join("missing.pem");
        let e = client_config(Some(&missing)).unwrap_err();
        assert!(format!("{e:#}").contains("reading"), "{e:#}");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
