//! The embedded broker: `latchkey-broker` (`crates/broker`) on the server's runtime, with the
//! logins and topic rules of `broker.rs` as its hooks (`docs/design/embedded-broker.md`,
//! `docs/design/broker-auth.md`). It belongs to the server that started it and stops with it.

use std::net::SocketAddr;

use anyhow::Context;
use latchkey_broker::{Broker, Config, Hooks, Login, Refusal};
use latchkey_protocol::MAX_MESSAGE_LEN;
use tokio::sync::watch;

use super::broker::{LockLogins, Principal};

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

/// Starts the embedded broker on `addr` (port 0: a free port) and returns the address it
/// listens on. It stops (listener and every connection closed) when `shutdown` turns true; the
/// task that stops it is pushed to `tasks`, so that `Server::stop` returns with the port free.
pub async fn start(
    addr: SocketAddr,
    logins: LockLogins,
    mut shutdown: watch::Receiver<bool>,
    tasks: &mut Vec<tokio::task::JoinHandle<()>>,
) -> anyhow::Result<SocketAddr> {
    let broker = Broker::new(config(), Rules(logins));
    let actual = match broker.listen(addr).await {
        Ok(a) => a,
        Err(e) => {
            broker.stop().await;
            return Err(e).with_context(|| format!("the embedded MQTT broker cannot listen on {addr}"));
        }
    };
    tasks.push(tokio::spawn(async move {
        let _ = shutdown.wait_for(|s| *s).await;
        broker.stop().await;
    }));
    Ok(actual)
}
