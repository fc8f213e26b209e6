//! The gateway: how the server reaches locks. The domain sees only the `Gateway` trait; the
//! MQTT implementation lives in `mqtt`.

pub mod mqtt;

use async_trait::async_trait;

use crate::store::LockRow;

/// What the server hands a lock when it pairs.
#[derive(Clone)]
pub struct PairingGrant {
    pub lock_id: String,
    pub root_secret: [u8; 32],
}

/// What the lock proves and tells about itself when it pairs.
#[derive(Debug, Clone)]
pub struct PairedDevice {
    pub serial: String,
    /// The lock's Ed25519 public key.
    pub device_key: [u8; 32],
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PairingError {
    /// No unpaired lock completed the exchange with this setup code.
    NoAnswer,
    /// The lock refuses further attempts for a while.
    TooManyAttempts { retry_after: u64 },
    /// The broker is down.
    Unavailable(String),
}

/// The lock's answer to a remote unlock.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UnlockOutcome {
    Unlocked,
    /// The lock refused, with its reason (e.g. `outside_schedule`).
    Denied(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UnlockError {
    /// The lock did not answer in time.
    Timeout,
    /// The broker is down.
    Unavailable(String),
}

#[async_trait]
pub trait Gateway: Send + Sync {
    /// Runs the pairing exchange with the unpaired lock showing `setup_code`.
    async fn pair(&self, setup_code: &str, grant: &PairingGrant) -> Result<PairedDevice, PairingError>;

    /// Something the lock must hold changed: send it the new state if it is connected (and
    /// keep trying until it acknowledges).
    fn lock_changed(&self, lock_id: &str);

    /// Sends a signed, short-lived unlock command for lock-local user `user_id` and waits
    /// for the lock's answer.
    async fn unlock(&self, lock: &LockRow, user_id: u32, command_seq: u64) -> Result<UnlockOutcome, UnlockError>;

    /// Tells a lock that it was unpaired.
    async fn unpaired(&self, lock: &LockRow);

    /// Whether the broker link is up (for `/readyz`).
    fn ready(&self) -> bool;
}

/// Starts the gateway the configuration asks for: the MQTT link (embedded broker or external).
pub async fn start(
    config: &crate::config::Config,
    store: crate::store::Store,
    clock: std::sync::Arc<dyn crate::domain::Clock>,
    metrics: std::sync::Arc<crate::metrics::Metrics>,
    shutdown: tokio::sync::watch::Receiver<bool>,
    tasks: &mut Vec<tokio::task::JoinHandle<()>>,
) -> anyhow::Result<std::sync::Arc<dyn Gateway>> {
    mqtt::start(config, store, clock, metrics.lock_messages.clone(), shutdown, tasks).await
}

/// Gives the gateway the domain it reports lock messages to. The MQTT gateway writes what locks
/// report through the store directly, so there is nothing to attach.
pub fn attach_domain(_domain: &crate::domain::Domain) {}
