//! Who may log in to the embedded broker, under which client id, and which topics each login
//! reaches (`docs/design/broker-auth.md`). `embedded.rs` runs the broker (`latchkey-broker`)
//! with these rules as its hooks.

use std::net::SocketAddr;
use std::time::Duration;

use latchkey_broker::topic::filter_within;
use latchkey_broker::{Login, Refusal};
use latchkey_protocol::{broker, topics};

use super::DomainSlot;
use crate::store::{self, Store};

/// How long a login waits for the database when a lock logs in.
const LOGIN_LOOKUP: Duration = Duration::from_secs(5);

/// The prefix of the server's own client ids (`latchkey-server-{8 hex digits}`).
pub const SERVER_CLIENT_PREFIX: &str = "latchkey-server-";

/// The client id of the lock with this serial (`lk-{serial}`, as locks send it).
pub fn lock_client_id(serial: &str) -> String {
    format!("lk-{serial}")
}

/// Who a connection to the embedded broker logged in as.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Principal {
    /// The server's own client (any instance holding the broker secret): every topic.
    Server,
    /// An unpaired lock (the public `pairing` login): the pairing topics only.
    Pairing,
    /// A paired lock: its own `down` topic to read and its own `up` topic to write.
    Lock { down: String, up: String },
}

impl Principal {
    /// Whether this login may subscribe to `filter` (as the client sent it, `$share/...`
    /// included, which no login but the server's is allowed).
    pub fn may_subscribe(&self, filter: &str) -> bool {
        match self {
            Principal::Server => true,
            Principal::Pairing => filter_within(filter, PAIRING_DOWN_FILTER),
            Principal::Lock { down, .. } => filter_within(filter, down),
        }
    }

    /// Whether this login may publish on `topic` (and name it as its will).
    pub fn may_publish(&self, topic: &str) -> bool {
        match self {
            Principal::Server => true,
            Principal::Pairing => filter_within(topic, topics::PAIRING_UP_FILTER),
            Principal::Lock { up, .. } => topic == up,
        }
    }
}

/// What unpaired locks read: `latchkey/v1/pair/{ddd}/down`.
const PAIRING_DOWN_FILTER: &str = "latchkey/v1/pair/+/down";

/// Decides each CONNECT of the embedded broker: the server's own client, unpaired locks as
/// `pairing`, and each paired lock under its id with the password derived from its root secret
/// and its own client id.
pub struct LockLogins {
    pub server: broker::BrokerPassword,
    pub domain: DomainSlot,
    /// For the client id a `pairing` login may not take (that of a paired lock).
    pub store: Store,
}

impl LockLogins {
    /// The principal of a CONNECT, or why it is refused. Wrong credentials, and client ids that
    /// belong to another login, are refused as "not authorized" or "bad user name or password"
    /// (both count against the address's failed-login limit); a database that does not answer
    /// is "server unavailable".
    pub async fn authenticate(&self, login: &Login<'_>) -> Result<Principal, Refusal> {
        let result = self.check(login).await;
        if let Err(refusal) = result {
            tracing::info!(
                "the MQTT broker refused a login: client {:?}, user {:?}, from {}: {refusal:?}",
                login.client_id,
                login.username,
                login.addr
            );
        }
        result
    }

    async fn check(&self, login: &Login<'_>) -> Result<Principal, Refusal> {
        let password = login.password;
        let client_id = login.client_id;
        // Sessions belong to a user name and a client id (`latchkey-broker`), so no login can
        // take over another's session whatever client id it sends; a paired lock's client id
        // is refused to the public `pairing` login all the same, and a lock's login must use
        // its own, so that no lock can pass for another.
        match login.username {
            broker::SERVER_USERNAME => {
                if !self.server.matches(password) {
                    return Err(Refusal::BadUsernameOrPassword);
                }
                Ok(Principal::Server)
            }
            broker::PAIRING_USERNAME => {
                if password != broker::PAIRING_PASSWORD.as_bytes() {
                    return Err(Refusal::BadUsernameOrPassword);
                }
                if self.paired_serial_id(client_id, login.addr).await? {
                    return Err(Refusal::NotAuthorized);
                }
                Ok(Principal::Pairing)
            }
            lock_id if topics::valid_lock_id(lock_id) => self.check_lock(lock_id, password, client_id).await,
            _ => Err(Refusal::BadUsernameOrPassword),
        }
    }

    /// Whether `client_id` is that of a paired lock (`lk-{serial}`), which only that lock's
    /// own login may use.
    async fn paired_serial_id(&self, client_id: &str, addr: SocketAddr) -> Result<bool, Refusal> {
        let Some(serial) = client_id.strip_prefix("lk-") else {
            return Ok(false);
        };
        let store = self.store.clone();
        let serial = serial.to_string();
        let lookup = async move {
            let mut c = store.read().await?;
            anyhow::Ok(store::lock_by_serial(&mut c, &serial).await?.is_some())
        };
        match tokio::time::timeout(LOGIN_LOOKUP, lookup).await {
            Ok(Ok(paired)) => Ok(paired),
            Ok(Err(e)) => {
                tracing::warn!("checking the client id {client_id:?} of a pairing login from {addr}: {e:#}");
                Err(Refusal::ServerUnavailable)
            }
            Err(_) => Err(Refusal::ServerUnavailable),
        }
    }

    async fn check_lock(&self, lock_id: &str, password: &[u8], client_id: &str) -> Result<Principal, Refusal> {
        let domain = self.domain.clone();
        let store = self.store.clone();
        let id = lock_id.to_string();
        // A paired lock, else a lock id the server does not keep but remembers (unpaired, or
        // offered in a pairing not kept): that lock may log in to its own topics all the same,
        // to be told Unpair (docs/design/pairing-convergence.md).
        let lookup = async move {
            if let Some(lock) = domain.get().await?.paired_lock(&id).await? {
                return anyhow::Ok(Some((lock.serial, lock.root_secret)));
            }
            let mut c = store.read().await?;
            Ok(store::tombstone(&mut c, &id).await?.map(|t| (t.serial, t.root_secret)))
        };
        let (serial, root_secret) = match tokio::time::timeout(LOGIN_LOOKUP, lookup).await {
            Ok(Ok(Some(lock))) => lock,
            Ok(Ok(None)) => return Err(Refusal::BadUsernameOrPassword),
            Ok(Err(e)) => {
                tracing::warn!("checking the broker login of lock {lock_id}: {e:#}");
                return Err(Refusal::ServerUnavailable);
            }
            Err(_) => {
                tracing::warn!("checking the broker login of lock {lock_id}: the database did not answer");
                return Err(Refusal::ServerUnavailable);
            }
        };
        if !broker::lock_password(&root_secret.0, lock_id).matches(password) {
            return Err(Refusal::BadUsernameOrPassword);
        }
        if client_id != lock_client_id(&serial) {
            return Err(Refusal::NotAuthorized);
        }
        let (Some(down), Some(up)) = (topics::lock_down(lock_id), topics::lock_up(lock_id)) else {
            return Err(Refusal::BadUsernameOrPassword);
        };
        Ok(Principal::Lock {
            down: down.as_str().to_string(),
            up: up.as_str().to_string(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_login_reaches_its_own_topics() {
        let lock = Principal::Lock {
            down: topics::lock_down("lk_a").unwrap().as_str().into(),
            up: topics::lock_up("lk_a").unwrap().as_str().into(),
        };
        assert!(lock.may_subscribe("latchkey/v1/locks/lk_a/down"));
        for f in [
            "#",
            "latchkey/#",
            "latchkey/v1/locks/+/down",
            "latchkey/v1/locks/lk_a/+",
            "latchkey/v1/locks/lk_a/up",
            "latchkey/v1/locks/lk_b/down",
            "$share/g/latchkey/v1/locks/+/up",
            "$share/g/latchkey/v1/locks/lk_a/down",
        ] {
            assert!(!lock.may_subscribe(f), "{f}");
        }
        assert!(lock.may_publish("latchkey/v1/locks/lk_a/up"));
        for t in [
            "latchkey/v1/locks/lk_b/up",
            "latchkey/v1/locks/lk_a/down",
            "latchkey/v1/pair/001/up",
        ] {
            assert!(!lock.may_publish(t), "{t}");
        }

        let pairing = Principal::Pairing;
        assert!(pairing.may_subscribe("latchkey/v1/pair/042/down"));
        assert!(pairing.may_subscribe("latchkey/v1/pair/+/down"));
        for f in [
            "#",
            "latchkey/#",
            "latchkey/v1/pair/#",
            "latchkey/v1/pair/042/up",
            "latchkey/v1/locks/+/up",
            "$share/g/latchkey/v1/pair/+/down",
        ] {
            assert!(!pairing.may_subscribe(f), "{f}");
        }
        assert!(pairing.may_publish("latchkey/v1/pair/042/up"));
        for t in [
            "latchkey/v1/pair/042/down",
            "latchkey/v1/locks/lk_a/up",
            "latchkey/v1/locks/lk_a/down",
        ] {
            assert!(!pairing.may_publish(t), "{t}");
        }

        assert!(Principal::Server.may_subscribe("$share/g/latchkey/v1/locks/+/up"));
        assert!(Principal::Server.may_publish("latchkey/v1/locks/lk_a/down"));
    }
}
