//! The gateway: the server's side of the MQTT link to locks (`docs/protocol.md`). It implements
//! the domain's `Gateway` trait and asks the domain through its `Devices` trait (both in
//! `domain::device`): it encodes, sends, receives and decodes, and decides nothing about what a
//! lock holds. Its own records (command and replay sequence numbers, resend claims, unlock
//! results handed between instances, the server key's identity) go through `store`. By job:
//! - `broker`: who may log in to the embedded broker, under which client id, and the topics
//!   each login reaches; `embedded`: the broker itself (`latchkey-broker`), with those rules;
//! - `link`: the client connection, receiving and checking lock messages, presence, sealing
//!   messages down, the server's key;
//! - `sync`: full snapshots down (coalesced, resent until acknowledged), acknowledgements and
//!   journals up;
//! - `pairing`: SPAKE2 pairing by setup code;
//! - `unlock`: remote unlock and its answer across instances.

mod broker;
mod dynsec;
mod embedded;
mod link;
mod pairing;
mod sync;
mod tls;
mod unlock;

pub use unlock::RECONNECT_GRACE;

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use latchkey_protocol::broker as protocol_broker;
use latchkey_protocol::{MAX_MESSAGE_LEN, SigningKey};
use rumqttc::{AsyncClient, MqttOptions};
use tokio::sync::watch;

use broker::LockLogins;
use link::Link;

pub use crate::domain::device::{
    Devices, Gateway, PairedDevice, PairingError, PairingGrant, UnlockError, UnlockOutcome,
};
pub use link::accept_up_seq;

use crate::config::{Config, MqttConfig};
use crate::env::{Clock, Entropy, random};
use crate::store::LockRow;

/// The domain the gateway reports to. The domain is made after the gateway (it holds the
/// gateway), so the gateway starts with an empty slot that `attach_domain` fills; a lock
/// message or login that arrives in between waits for it. The gateway empties it when it stops,
/// so that the two do not keep each other alive.
#[derive(Clone)]
pub struct DomainSlot(Arc<watch::Sender<Option<Arc<dyn Devices>>>>);

impl Default for DomainSlot {
    fn default() -> Self {
        DomainSlot(Arc::new(watch::channel(None).0))
    }
}

impl DomainSlot {
    /// The domain, once attached.
    pub async fn get(&self) -> anyhow::Result<Arc<dyn Devices>> {
        let mut rx = self.0.subscribe();
        let attached = rx
            .wait_for(Option::is_some)
            .await
            .map_err(|_| anyhow::anyhow!("the gateway stopped"))?;
        attached.clone().ok_or_else(|| anyhow::anyhow!("the gateway stopped"))
    }

    /// Empties the slot (the gateway stopped).
    pub fn clear(&self) {
        self.0.send_replace(None);
    }
}

/// What the gateway works with.
pub struct Wiring {
    /// The link's own records (command and replay numbers, resend claims, unlock results, the
    /// server key's identity).
    pub store: crate::store::Store,
    /// What a lock must hold and what it reported.
    pub domain: DomainSlot,
    pub clock: Arc<dyn Clock>,
    pub entropy: Arc<dyn Entropy>,
    pub metrics: Arc<crate::metrics::Metrics>,
}

/// Starts the gateway the configuration asks for: the embedded broker (or none, for an external
/// one) and the server's client. It reports what locks send to the domain in `wiring.domain`
/// once `attach_domain` put it there.
pub async fn start(
    config: &Config,
    wiring: Wiring,
    mut shutdown: watch::Receiver<bool>,
    tasks: &mut Vec<tokio::task::JoinHandle<()>>,
) -> anyhow::Result<Arc<dyn Gateway>> {
    let Wiring {
        store,
        domain,
        clock,
        entropy,
        metrics,
    } = wiring;
    let mut share_group = config.mqtt_share_group.clone();
    let (host, port, login) = match &config.mqtt {
        MqttConfig::Embedded(addr) => {
            let secret = link::load_or_create_secret(&config.data_dir.join("broker-secret"), entropy.as_ref())?;
            let logins = LockLogins {
                server: protocol_broker::server_password(&secret),
                domain: domain.clone(),
                store: store.clone(),
            };
            let login = logins.server.as_str().to_string();
            // Unguessable as well (only the server's login may subscribe to `$share/...` on
            // the embedded broker; the suffix stays so that the group is the same as before).
            let suffix = protocol_broker::share_group_suffix(&secret);
            share_group = format!("{share_group}-{}", String::from_utf8_lossy(&suffix));
            let addr = embedded::start(
                *addr,
                config.embedded_mqtt_tls.as_ref(),
                logins,
                shutdown.clone(),
                tasks,
            )
            .await?;
            (addr.ip().to_string(), addr.port(), Some(login))
        }
        MqttConfig::External { host, port } => (host.clone(), *port, None),
    };
    let external = matches!(config.mqtt, MqttConfig::External { .. });
    // The dynsec setup names the server's own login.
    let dynsec = match (&config.mqtt_login.credentials, external && config.mqtt_dynsec) {
        (Some((user, _)), true) => Some(user.clone()),
        (None, true) => anyhow::bail!("mqtt_dynsec needs the server's login in mqtt (USER:PASSWORD@)"),
        _ => None,
    };
    let key_path = config.data_dir.join("server-key");
    let server_key = SigningKey::from_bytes(&link::load_or_create_secret(&key_path, entropy.as_ref())?);
    link::check_identity(&store, &server_key, &key_path, clock.now()).await?;
    let client_id = format!(
        "{}{}",
        broker::SERVER_CLIENT_PREFIX,
        hex::encode(random::<4>(entropy.as_ref()))
    );
    let mut mo = MqttOptions::new(client_id.clone(), host, port);
    if let Some(password) = login {
        mo.set_credentials(protocol_broker::SERVER_USERNAME, password);
    }
    if external {
        if let Some((user, password)) = &config.mqtt_login.credentials {
            mo.set_credentials(user.clone(), password.clone());
        }
        if config.mqtt_login.tls {
            let tls = tls::client_config(config.mqtt_login.ca_file.as_deref())?;
            mo.set_transport(rumqttc::Transport::tls_with_config(rumqttc::TlsConfiguration::Rustls(
                Arc::new(tls),
            )));
        }
    }
    mo.set_keep_alive(Duration::from_secs(5));
    mo.set_clean_session(true);
    mo.set_max_packet_size(MAX_MESSAGE_LEN + 1024, MAX_MESSAGE_LEN + 1024);
    let (client, mut events) = AsyncClient::new(mo, 1024);
    let dynsec = dynsec.map(|user| {
        let (p, batches) = dynsec::Provisioner::new(
            user,
            client_id.clone(),
            dynsec::Retry::default(),
            metrics.broker_provisioning_failures.clone(),
        );
        let (worker, client, shutdown) = (p.clone(), client.clone(), shutdown.clone());
        tasks.push(tokio::spawn(async move {
            let send = |payload: Vec<u8>| {
                client
                    .try_publish(dynsec::CONTROL_TOPIC, rumqttc::QoS::AtLeastOnce, false, payload)
                    .map_err(|e| e.to_string())
            };
            worker.run(batches, send, shutdown).await;
        }));
        p
    });
    // Small messages must leave at once, not wait for the peer's delayed ACK (~40 ms each way).
    let mut net = rumqttc::NetworkOptions::new();
    net.set_tcp_nodelay(true);
    events.set_network_options(net);
    let link = Arc::new(Link {
        store,
        domain,
        clock,
        entropy,
        client,
        connected: AtomicBool::new(false),
        server_key,
        signed_only: config.signed_only_link,
        unlock_timeout: Duration::from_millis(config.unlock_timeout_ms),
        share_group,
        dynsec,
        lock_messages: metrics.lock_messages.clone(),
        syncs_sent: metrics.syncs_sent.clone(),
        pairings: Mutex::new(HashMap::new()),
        next_pairing: std::sync::atomic::AtomicU64::new(0),
        unlocks: Mutex::new(HashMap::new()),
        hellos: tokio::sync::broadcast::channel(64).0,
        syncs: Mutex::new(HashMap::new()),
    });
    tasks.push(tokio::spawn(link::event_loop(link.clone(), events, shutdown.clone())));
    let resync = link.clone();
    tasks.push(tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        let mut ticks = 0u64;
        loop {
            tokio::select! {
                _ = async { shutdown.wait_for(|s| *s).await.map(|_| ()) } => break,
                _ = tick.tick() => {
                    resync.resync_unacked().await;
                    ticks += 1;
                    if ticks.is_multiple_of(60) {
                        resync.purge_unlock_results().await;
                        resync.purge_tombstones().await;
                    }
                }
            }
        }
    }));
    Ok(Arc::new(MqttGateway(link)))
}

/// Gives the gateway the domain it reports lock messages to.
pub fn attach_domain(slot: &DomainSlot, domain: Arc<dyn Devices>) {
    slot.0.send_replace(Some(domain));
}

/// The gateway the domain holds.
pub struct MqttGateway(Arc<Link>);

#[async_trait]
impl Gateway for MqttGateway {
    async fn pair(&self, setup_code: &str, grant: &PairingGrant) -> Result<PairedDevice, PairingError> {
        self.0.pair(setup_code, grant).await
    }

    fn lock_changed(&self, lock_id: &str) {
        self.0.sync_soon(lock_id);
    }

    async fn unlock(&self, lock: &LockRow, user_id: u32, command_seq: u64) -> Result<UnlockOutcome, UnlockError> {
        self.0.command(lock, user_id, command_seq, false).await
    }

    async fn lock(&self, lock: &LockRow, user_id: u32, command_seq: u64) -> Result<UnlockOutcome, UnlockError> {
        self.0.command(lock, user_id, command_seq, true).await
    }

    async fn unpaired(&self, lock: &LockRow) {
        self.0.unpaired(lock).await;
        // A lock shown offline keeps its dynsec login, so that it can log in and be told Unpair
        // when it comes back (`pairing.rs`, `answer_unknown_lock`, which deletes it then).
        if lock.online {
            self.0.forget_dynsec_login_soon(&lock.id);
        }
    }

    fn ready(&self) -> bool {
        self.0.connected.load(Ordering::SeqCst)
    }
}
