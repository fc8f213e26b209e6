//! SMS: the senders of `api.md` and the worker that drains the outbox.
//!
//! Messages are written to `sms_outbox` in the transaction of the change that causes them; the
//! worker claims due rows with a lease (so several server instances never send the same row at
//! once), sends them, and marks them sent, or schedules a retry with exponential backoff.
//! Delivery is at least once: a crash between the provider's answer and the commit of "sent"
//! sends that message again (see `docs/operations.md`).

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use tokio::io::AsyncWriteExt;

use crate::config::{SmsKind, TwilioConfig};
use crate::domain::ms;
use crate::env::Clock;
use crate::store::{self, Store};

/// One message to deliver.
#[derive(Debug, Clone)]
pub struct OutgoingSms {
    pub id: String,
    pub to: String,
    pub body: String,
    /// RFC 3339, when it is handed over.
    pub at: String,
}

#[async_trait]
pub trait SmsSender: Send + Sync {
    /// Delivers one message; `Err` carries a short reason and means "try again later".
    async fn send(&self, msg: &OutgoingSms) -> Result<(), String>;
}

/// Writes each message to the log.
pub struct ConsoleSender;

#[async_trait]
impl SmsSender for ConsoleSender {
    async fn send(&self, msg: &OutgoingSms) -> Result<(), String> {
        tracing::info!(to = %msg.to, body = %msg.body, "SMS");
        Ok(())
    }
}

/// Appends one JSON object a line.
pub struct FileSender {
    path: PathBuf,
    lock: tokio::sync::Mutex<()>,
}

impl FileSender {
    pub fn new(path: PathBuf) -> FileSender {
        FileSender {
            path,
            lock: tokio::sync::Mutex::new(()),
        }
    }
}

#[async_trait]
impl SmsSender for FileSender {
    async fn send(&self, msg: &OutgoingSms) -> Result<(), String> {
        let line = serde_json::json!({"id": msg.id, "to": msg.to, "body": msg.body, "at": msg.at}).to_string() + "\n";
        let _guard = self.lock.lock().await;
        if let Some(dir) = self.path.parent().filter(|d| !d.as_os_str().is_empty()) {
            tokio::fs::create_dir_all(dir)
                .await
                .map_err(|e| format!("creating {}: {e}", dir.display()))?;
        }
        let mut f = tokio::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.path)
            .await
            .map_err(|e| format!("opening {}: {e}", self.path.display()))?;
        f.write_all(line.as_bytes())
            .await
            .map_err(|e| format!("writing {}: {e}", self.path.display()))?;
        f.sync_data()
            .await
            .map_err(|e| format!("syncing {}: {e}", self.path.display()))?;
        Ok(())
    }
}

/// Twilio's Messages REST API.
pub struct TwilioSender {
    cfg: TwilioConfig,
    http: reqwest::Client,
}

impl TwilioSender {
    pub fn new(cfg: TwilioConfig) -> TwilioSender {
        latchkey_client::install_crypto_provider();
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(15))
            .build()
            .expect("a reqwest client with a timeout builds");
        TwilioSender { cfg, http }
    }
}

#[async_trait]
impl SmsSender for TwilioSender {
    async fn send(&self, msg: &OutgoingSms) -> Result<(), String> {
        let url = format!(
            "{}/2010-04-01/Accounts/{}/Messages.json",
            self.cfg.api_base.trim_end_matches('/'),
            self.cfg.account_sid
        );
        let resp = self
            .http
            .post(url)
            .basic_auth(&self.cfg.account_sid, Some(&self.cfg.auth_token))
            .form(&[
                ("To", msg.to.as_str()),
                ("From", self.cfg.from.as_str()),
                ("Body", msg.body.as_str()),
            ])
            .send()
            .await
            .map_err(|e| format!("twilio: {e}"))?;
        if resp.status().is_success() {
            Ok(())
        } else {
            let status = resp.status();
            let text: String = resp.text().await.unwrap_or_default().chars().take(200).collect();
            Err(format!("twilio answered {status}: {text}"))
        }
    }
}

/// An HTTP POST of the JSON line to the operator's URL.
pub struct WebhookSender {
    url: String,
    http: reqwest::Client,
}

impl WebhookSender {
    pub fn new(url: String) -> WebhookSender {
        latchkey_client::install_crypto_provider();
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(15))
            .build()
            .expect("a reqwest client with a timeout builds");
        WebhookSender { url, http }
    }
}

#[async_trait]
impl SmsSender for WebhookSender {
    async fn send(&self, msg: &OutgoingSms) -> Result<(), String> {
        let body = serde_json::json!({"id": msg.id, "to": msg.to, "body": msg.body, "at": msg.at});
        let resp = self
            .http
            .post(&self.url)
            .json(&body)
            .send()
            .await
            .map_err(|e| format!("webhook: {e}"))?;
        if resp.status().is_success() {
            Ok(())
        } else {
            Err(format!("webhook answered {}", resp.status()))
        }
    }
}

/// Builds the configured senders.
pub fn senders(kinds: &[SmsKind], twilio: Option<&TwilioConfig>) -> Vec<Arc<dyn SmsSender>> {
    kinds
        .iter()
        .filter_map(|k| -> Option<Arc<dyn SmsSender>> {
            match k {
                SmsKind::Console => Some(Arc::new(ConsoleSender)),
                SmsKind::File(p) => Some(Arc::new(FileSender::new(p.clone()))),
                SmsKind::Twilio => twilio
                    .cloned()
                    .map(|c| Arc::new(TwilioSender::new(c)) as Arc<dyn SmsSender>),
                SmsKind::Webhook(u) => Some(Arc::new(WebhookSender::new(u.clone()))),
            }
        })
        .collect()
}

/// Attempts before a message is given up (its last error stays in the outbox).
pub const MAX_ATTEMPTS: i64 = 12;

/// Delay before retry number `attempts` (1, 2, 4 ... seconds, at most 5 minutes).
pub fn backoff_ms(attempts: i64) -> i64 {
    (1000i64 << attempts.clamp(0, 9)).min(300_000)
}

/// Drains the outbox until `shutdown` fires.
pub async fn run_worker(
    store: Store,
    senders: Vec<Arc<dyn SmsSender>>,
    clock: Arc<dyn Clock>,
    wake: Arc<tokio::sync::Notify>,
    mut shutdown: tokio::sync::watch::Receiver<bool>,
) {
    loop {
        let sent_any = match drain_once(&store, &senders, clock.as_ref()).await {
            Ok(n) => n > 0,
            Err(e) => {
                tracing::warn!(error = %e, "SMS worker could not read the outbox");
                false
            }
        };
        if sent_any {
            continue;
        }
        // Poll now and then as well: another instance may have queued messages, and retries
        // come due by time.
        tokio::select! {
            _ = wake.notified() => {}
            _ = tokio::time::sleep(Duration::from_millis(500)) => {}
            _ = shutdown.changed() => return,
        }
        if *shutdown.borrow() {
            return;
        }
    }
}

/// Sends what is due; returns how many messages it handled.
pub async fn drain_once(
    store: &Store,
    senders: &[Arc<dyn SmsSender>],
    clock: &dyn Clock,
) -> Result<usize, store::StoreError> {
    let now = clock.now();
    let mut tx = store.begin().await?;
    let claim = store::SmsClaim {
        now: ms(now),
        lease_ms: 60_000,
        limit: 20,
    };
    let batch = store::claim_sms(&mut tx, claim).await?;
    tx.commit().await?;
    for row in &batch {
        let msg = OutgoingSms {
            id: row.id.clone(),
            to: row.to_phone.clone(),
            body: row.body.clone(),
            at: now.to_string(),
        };
        let mut result = Ok(());
        for s in senders {
            if let Err(e) = s.send(&msg).await {
                result = Err(e);
            }
        }
        let mut tx = store.begin().await?;
        match result {
            Ok(()) => store::sms_sent(&mut tx, &row.id, ms(clock.now())).await?,
            Err(e) => {
                let attempts = row.attempts + 1;
                let next = if attempts >= MAX_ATTEMPTS {
                    i64::MAX / 2
                } else {
                    ms(clock.now()) + backoff_ms(attempts)
                };
                tracing::warn!(sms = %row.id, attempts, error = %e, "SMS delivery failed; will retry");
                store::sms_failed(&mut tx, &row.id, &e, next).await?;
            }
        }
        tx.commit().await?;
    }
    Ok(batch.len())
}
