//! The gateway: how the server reaches locks. The domain sees only its `Gateway` trait
//! (`domain::device`); the MQTT implementation lives in `mqtt`.

pub mod mqtt;

use std::sync::Arc;

use tokio::sync::watch;

pub use crate::domain::device::{
    Devices, Gateway, PairedDevice, PairingError, PairingGrant, UnlockError, UnlockOutcome,
};
use crate::env::{Clock, Entropy};

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

/// Starts the gateway the configuration asks for: the MQTT link (embedded broker or external).
/// It reports what locks send to the domain in `wiring.domain` once `attach_domain` put it
/// there.
pub async fn start(
    config: &crate::config::Config,
    wiring: Wiring,
    shutdown: watch::Receiver<bool>,
    tasks: &mut Vec<tokio::task::JoinHandle<()>>,
) -> anyhow::Result<Arc<dyn Gateway>> {
    mqtt::start(config, wiring, shutdown, tasks).await
}

/// Gives the gateway the domain it reports lock messages to.
pub fn attach_domain(slot: &DomainSlot, domain: Arc<dyn Devices>) {
    slot.0.send_replace(Some(domain));
}
