//! The embedded broker: `latchkey-broker` (`crates/broker`) on the server's runtime, with the
//! logins and topic rules of `broker.rs` as its hooks (`docs/design/embedded-broker.md`,
//! `docs/design/broker-auth.md`). It belongs to the server that started it and stops with it.
//! Beside its plain listener (`mqtt`, where the server itself connects) it may have a TLS
//! listener for locks (`embedded_mqtt_tls_*`); both apply the same logins and rules.

use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context;
use latchkey_broker::{Broker, Config, Hooks, Login, Refusal};
use latchkey_protocol::MAX_MESSAGE_LEN;
use tokio::sync::watch;

use super::broker::{LockLogins, Principal};
use crate::config::EmbeddedTls;

/// The embedded broker's hooks: the logins and topic rules of `broker.rs`.
pub struct Rules(pub LockLogins);

impl Hooks for Rules {
    type Principal = Principal;

    async fn authenticate(&self, login: &Login<'_>) -> Result<Principal, Refusal> {
        self.0.authenticate(login).await
    }

    fn may_subscribe(&self, principal: &Principal, filter: &str) -> bool {
        let ok = principal.may_subscribe(filter);
        if !ok {
            tracing::info!("the MQTT broker refused a subscription to {filter:?} by {principal:?}");
        }
        ok
    }

    fn may_publish(&self, principal: &Principal, topic: &str) -> bool {
        let ok = principal.may_publish(topic);
        if !ok {
            tracing::info!("the MQTT broker refused a publish on {topic:?} by {principal:?} (disconnected)");
        }
        ok
    }
}

/// The broker's limits: the defaults (10,000 locks and a few server instances), with packets as
/// large as the protocol's largest message.
fn config() -> Config {
    Config {
        max_packet_size: MAX_MESSAGE_LEN + 1024,
        ..Config::default()
    }
}

/// The rustls configuration of the TLS listener, from its PEM files.
fn tls_config(tls: &EmbeddedTls) -> anyhow::Result<Arc<latchkey_broker::rustls::ServerConfig>> {
    let read = |path: &std::path::Path, key: &str| {
        std::fs::read(path).with_context(|| format!("{key}: reading {}", path.display()))
    };
    let cert = read(&tls.cert, "embedded_mqtt_tls_cert")?;
    let key = read(&tls.key, "embedded_mqtt_tls_key")?;
    latchkey_broker::server_config_from_pem(&cert, &key).map_err(|e| {
        anyhow::anyhow!(
            "embedded_mqtt_tls_cert/_key ({}, {}): {e}",
            tls.cert.display(),
            tls.key.display()
        )
    })
}

/// Starts the embedded broker on `addr` (port 0: a free port), and on `tls.addr` with TLS when
/// asked, and returns the address of the plain listener. It stops (listeners and every
/// connection closed) when `shutdown` turns true; the task that stops it is pushed to `tasks`,
/// so that `Server::stop` returns with the ports free.
pub async fn start(
    addr: SocketAddr,
    tls: Option<&EmbeddedTls>,
    logins: LockLogins,
    mut shutdown: watch::Receiver<bool>,
    tasks: &mut Vec<tokio::task::JoinHandle<()>>,
) -> anyhow::Result<SocketAddr> {
    // A bad certificate or key stops the server before anything listens.
    let tls = tls.map(|t| tls_config(t).map(|c| (t.addr, c))).transpose()?;
    let broker = Broker::new(config(), Rules(logins));
    let actual = match broker.listen(addr).await {
        Ok(a) => a,
        Err(e) => {
            broker.stop().await;
            return Err(e).with_context(|| format!("the embedded MQTT broker cannot listen on {addr}"));
        }
    };
    if let Some((tls_addr, config)) = tls {
        match broker.listen_tls(tls_addr, config).await {
            Ok(a) => tracing::info!("the embedded MQTT broker listens on {actual} and, with TLS, on {a}"),
            Err(e) => {
                broker.stop().await;
                return Err(e)
                    .with_context(|| format!("the embedded MQTT broker cannot listen with TLS on {tls_addr}"));
            }
        }
        if !actual.ip().is_loopback() {
            tracing::warn!(
                "the embedded MQTT broker's plain listener {actual} is not on loopback: logins cross the \
                 network in the clear there (messages are encrypted end to end); keep `mqtt` on loopback \
                 and let locks use the TLS listener"
            );
        }
    }
    tasks.push(tokio::spawn(async move {
        let _ = shutdown.wait_for(|s| *s).await;
        broker.stop().await;
    }));
    Ok(actual)
}
