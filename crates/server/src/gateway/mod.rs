//! The gateway: how the server reaches locks. The domain sees only its `Gateway` trait
//! (`domain::device`); the MQTT implementation lives in `mqtt`.

pub mod mqtt;

pub use crate::domain::device::{Gateway, PairedDevice, PairingError, PairingGrant, UnlockError, UnlockOutcome};

/// Starts the gateway the configuration asks for: the MQTT link (embedded broker or external).
pub async fn start(
    config: &crate::config::Config,
    store: crate::store::Store,
    clock: std::sync::Arc<dyn crate::env::Clock>,
    entropy: std::sync::Arc<dyn crate::env::Entropy>,
    metrics: std::sync::Arc<crate::metrics::Metrics>,
    shutdown: tokio::sync::watch::Receiver<bool>,
    tasks: &mut Vec<tokio::task::JoinHandle<()>>,
) -> anyhow::Result<std::sync::Arc<dyn Gateway>> {
    mqtt::start(
        config,
        store,
        clock,
        entropy,
        metrics.lock_messages.clone(),
        shutdown,
        tasks,
    )
    .await
}

/// Gives the gateway the domain it reports lock messages to. The MQTT gateway writes what locks
/// report through the store directly, so there is nothing to attach.
pub fn attach_domain(_domain: &crate::domain::Domain) {}
