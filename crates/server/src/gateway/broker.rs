//! The broker locks connect to, and who may log in to it (`docs/design/broker-auth.md`).
//!
//! The embedded broker sits behind one function, `start_embedded`, and one trait, `Logins`:
//! the gateway hands it the address to listen on and the check for each CONNECT, and gets back
//! the address it listens on. `rumqttd.rs` is the implementation today.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use latchkey_protocol::{broker, topics};

use super::DomainSlot;

/// How long the broker waits for the database when a lock logs in.
const LOGIN_LOOKUP: Duration = Duration::from_secs(5);

/// Decides each CONNECT of the embedded broker.
#[async_trait]
pub trait Logins: Send + Sync {
    /// Whether the client may connect with this user name and password. A refused login ends
    /// the connection.
    async fn allow(&self, client_id: &str, user: &str, password: &str) -> bool;
}

/// Starts the embedded broker on `addr` (port 0: a free port) with every CONNECT checked by
/// `logins`. Returns the address it listens on.
pub fn start_embedded(addr: SocketAddr, logins: Arc<dyn Logins>) -> anyhow::Result<SocketAddr> {
    super::rumqttd::start(addr, logins)
}

/// Who may log in to the embedded broker: the server's own client, unpaired locks as
/// `pairing`, and each paired lock under its id with the password derived from its root secret.
pub struct LockLogins {
    pub server: broker::BrokerPassword,
    pub domain: DomainSlot,
    /// The server's runtime: the database connections belong to it, while the broker runs the
    /// login check on its own threads.
    pub runtime: tokio::runtime::Handle,
}

#[async_trait]
impl Logins for LockLogins {
    async fn allow(&self, client_id: &str, user: &str, password: &str) -> bool {
        let ok = match user {
            broker::SERVER_USERNAME => self.server.matches(password.as_bytes()),
            broker::PAIRING_USERNAME => password == broker::PAIRING_PASSWORD,
            lock_id if topics::valid_lock_id(lock_id) => self.check_lock(lock_id, password).await,
            _ => false,
        };
        if !ok {
            tracing::info!("the MQTT broker refused a login: client {client_id:?}, user {user:?}");
        }
        ok
    }
}

impl LockLogins {
    async fn check_lock(&self, lock_id: &str, password: &str) -> bool {
        let domain = self.domain.clone();
        let id = lock_id.to_string();
        let lookup = self.runtime.spawn(async move {
            let lock = domain.get().await?.paired_lock(&id).await?;
            anyhow::Ok(lock.map(|l| l.root_secret))
        });
        match tokio::time::timeout(LOGIN_LOOKUP, lookup).await {
            Ok(Ok(Ok(Some(root)))) => broker::lock_password(&root.0, lock_id).matches(password.as_bytes()),
            Ok(Ok(Ok(None))) => false,
            Ok(Ok(Err(e))) => {
                tracing::warn!("checking the broker login of lock {lock_id}: {e:#}");
                false
            }
            Ok(Err(_)) | Err(_) => {
                tracing::warn!("checking the broker login of lock {lock_id}: the database did not answer");
                false
            }
        }
    }
}
