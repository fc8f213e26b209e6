//! The webhook delivery worker: drains `webhook_deliveries` (the outbox the domain writes in
//! the transaction of each event) to the receivers, signed per Standard Webhooks.
//!
//! - Each due row is claimed with a lease (`claimed_until`) in one `UPDATE ... RETURNING`, so
//!   several instances never send one delivery at once; a worker that dies leaves its claims
//!   to expire, and another (or the restarted one) sends them: nothing is lost.
//! - Deliveries run concurrently, at most `concurrency` at a time, in tasks of their own: a
//!   receiver that is slow or never answers holds one slot for at most the 15 s timeout and
//!   nothing else (requests and the lock link never wait for a webhook).
//! - A 2xx is a delivery; anything else (another status, a redirect, no answer) is retried on
//!   the schedule (`--webhook-retry`), with the same `webhook-id`, then `failed`.
//! - Requests go through `outbound::Outbound` (http(s) only, public addresses only unless
//!   `--allow-private-targets`, no redirects for POST).

use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
use hmac::{KeyInit, Mac};
use tokio::sync::{Notify, Semaphore, watch};

use crate::domain::{Domain, ms};
use crate::env::Clock;
use crate::store::{self, Attempt, DeliveryRow};

/// The default retry schedule (spec/api.md): the delays after the first, second ... failed
/// attempt; when they run out the delivery is `failed`.
pub const DEFAULT_RETRY: &str = "5s,5m,30m,2h,5h,10h,10h";

/// Parses a retry schedule such as `1s,1s,2s` or `5s,5m,30m,2h` (units `ms`, `s`, `m`, `h`).
pub fn parse_retry(text: &str) -> Result<Vec<Duration>, String> {
    let mut out = Vec::new();
    for part in text.split(',').map(str::trim) {
        let (num, unit) = match part.find(|c: char| !c.is_ascii_digit()) {
            Some(i) => part.split_at(i),
            None => (part, ""),
        };
        let n: u64 = num
            .parse()
            .map_err(|_| format!("webhook_retry: '{part}' is not a delay such as 5s, 5m or 2h"))?;
        let d = match unit {
            "ms" => Duration::from_millis(n),
            "s" => Duration::from_secs(n),
            "m" => Duration::from_secs(n * 60),
            "h" => Duration::from_secs(n * 3600),
            _ => return Err(format!("webhook_retry: '{part}' needs a unit: ms, s, m or h")),
        };
        if d > Duration::from_secs(7 * 86_400) {
            return Err(format!("webhook_retry: '{part}' is longer than a week"));
        }
        out.push(d);
    }
    if out.is_empty() || out.len() > 20 {
        return Err("webhook_retry: give 1 to 20 delays, such as 5s,5m,30m".into());
    }
    Ok(out)
}

/// The `webhook-signature` header value: `v1,` + base64 HMAC-SHA256 over `id.timestamp.body`
/// keyed by the secret's decoded bytes. `None` for a secret that is not `whsec_` + base64.
pub fn sign(secret: &str, id: &str, timestamp: i64, body: &[u8]) -> Option<String> {
    let b64 = base64::engine::general_purpose::STANDARD;
    let key = b64.decode(secret.strip_prefix("whsec_")?).ok()?;
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(&key).ok()?;
    mac.update(id.as_bytes());
    mac.update(b".");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    Some(format!("v1,{}", b64.encode(mac.finalize().into_bytes())))
}

/// Settings of the worker.
#[derive(Debug, Clone)]
pub struct WorkerConfig {
    pub retry: Vec<Duration>,
    /// Deliveries in flight at once.
    pub concurrency: usize,
    /// How long a claim lasts; longer than the request timeout (15 s), short enough that a
    /// restarted instance soon takes over what a killed one held.
    pub lease: Duration,
}

impl Default for WorkerConfig {
    fn default() -> Self {
        WorkerConfig {
            retry: parse_retry(DEFAULT_RETRY).unwrap_or_default(),
            concurrency: 32,
            lease: Duration::from_secs(30),
        }
    }
}

/// What happened to one attempt, and what is next.
fn settle(retry: &[Duration], attempts_before: i64, now_ms: i64, ok: bool) -> (&'static str, Option<i64>) {
    if ok {
        return ("delivered", None);
    }
    match usize::try_from(attempts_before).ok().and_then(|i| retry.get(i)) {
        Some(d) => ("retrying", Some(now_ms + d.as_millis() as i64)),
        None => ("failed", None),
    }
}

/// Runs until `shutdown`: claims due deliveries and sends them, at most `concurrency` at once;
/// also looks for locks offline too long (notifications) every half minute.
pub async fn run_worker(
    domain: Domain,
    clock: Arc<dyn Clock>,
    config: WorkerConfig,
    wake: Arc<Notify>,
    mut shutdown: watch::Receiver<bool>,
) {
    let slots = Arc::new(Semaphore::new(config.concurrency.max(1)));
    let done = Arc::new(Notify::new());
    let config = Arc::new(config);
    let mut next_offline_check = clock.now();
    loop {
        if *shutdown.borrow() {
            return;
        }
        let now = clock.now();
        if now >= next_offline_check {
            next_offline_check = now + jiff::SignedDuration::from_secs(30);
            if let Err(e) = domain.notify_offline_locks(now).await {
                tracing::warn!(error = %e, "could not check for offline locks");
            }
        }
        let free = slots.available_permits();
        let mut claimed = 0;
        if free > 0 {
            match claim(&domain, ms(now), &config, free).await {
                Ok(batch) => {
                    claimed = batch.len();
                    for row in batch {
                        let Ok(permit) = slots.clone().acquire_owned().await else {
                            return;
                        };
                        let (domain, clock, config, done) =
                            (domain.clone(), clock.clone(), config.clone(), done.clone());
                        tokio::spawn(async move {
                            deliver(&domain, clock.as_ref(), &config, row).await;
                            drop(permit);
                            done.notify_one();
                        });
                    }
                }
                Err(e) => tracing::warn!(error = %e, "webhook worker could not read the outbox"),
            }
        }
        if claimed > 0 && claimed == free {
            // There may be more due: go again once a slot frees.
            tokio::select! {
                _ = done.notified() => {}
                _ = shutdown.changed() => return,
            }
            continue;
        }
        if claimed > 0 {
            continue;
        }
        // Poll now and then as well: another instance may have queued deliveries, and retries
        // come due by time.
        let wait = next_due_in(&domain, ms(now)).await;
        tokio::select! {
            _ = wake.notified() => {}
            _ = done.notified() => {}
            _ = tokio::time::sleep(wait) => {}
            _ = shutdown.changed() => return,
        }
    }
}

/// How long to sleep before looking again: until the next retry is due, at most 1 s.
async fn next_due_in(domain: &Domain, now: i64) -> Duration {
    let most = Duration::from_secs(1);
    let Ok(mut c) = domain.store.read().await else {
        return most;
    };
    match store::next_delivery_due(&mut c).await {
        Ok(Some(at)) if at > now => Duration::from_millis((at - now) as u64).min(most),
        Ok(Some(_)) => Duration::from_millis(50),
        _ => most,
    }
}

async fn claim(
    domain: &Domain,
    now: i64,
    config: &WorkerConfig,
    limit: usize,
) -> Result<Vec<DeliveryRow>, store::StoreError> {
    let mut tx = domain.store.begin().await?;
    let lease = config.lease.as_millis() as i64;
    let batch = store::claim_deliveries(&mut tx, now, lease, limit as i64).await?;
    tx.commit().await?;
    Ok(batch)
}

/// One attempt of one delivery, and its outcome recorded.
async fn deliver(domain: &Domain, clock: &dyn Clock, config: &WorkerConfig, row: DeliveryRow) {
    let hook = match domain.store.read().await {
        Ok(mut c) => store::webhook(&mut c, &row.lock_id, &row.webhook_id).await,
        Err(e) => Err(e),
    };
    let hook = match hook {
        Ok(Some(h)) => h,
        // Deleted meanwhile: its deliveries went with it.
        Ok(None) => return,
        Err(e) => {
            tracing::warn!(error = %e, delivery = %row.id, "webhook: could not read the webhook; the claim will lapse");
            return;
        }
    };
    let timestamp = clock.now().as_second();
    let body = row.payload.clone().into_bytes();
    let (code, error) = match sign(&hook.secret, &row.id, timestamp, &body) {
        None => (None, Some("the webhook's secret cannot be read".to_string())),
        Some(signature) => {
            let ts = timestamp.to_string();
            let headers = [
                ("webhook-id", row.id.as_str()),
                ("webhook-timestamp", ts.as_str()),
                ("webhook-signature", signature.as_str()),
            ];
            match domain.outbound.post_json(&hook.url, &headers, body).await {
                Ok(status) if status.is_success() => (Some(i64::from(status.as_u16())), None),
                Ok(status) => (Some(i64::from(status.as_u16())), Some(format!("answered {status}"))),
                Err(e) => (None, Some(e.to_string())),
            }
        }
    };
    let now = ms(clock.now());
    let (status, next) = settle(&config.retry, row.attempts, now, error.is_none());
    if let Some(e) = &error {
        tracing::info!(delivery = %row.id, webhook = %hook.id, attempts = row.attempts + 1, status, error = %e, "webhook delivery did not succeed");
    }
    let attempt = Attempt {
        status,
        status_code: code,
        error: error.as_deref(),
        next_attempt_at: next,
    };
    let result = async {
        let mut tx = domain.store.begin().await?;
        store::record_attempt(&mut tx, &row.id, &attempt).await?;
        tx.commit().await?;
        Ok::<_, store::StoreError>(())
    }
    .await;
    if let Err(e) = result {
        // The claim lapses and the delivery is sent again: at least once.
        tracing::warn!(error = %e, delivery = %row.id, "webhook: could not record the attempt");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_schedules_parse() {
        let d = parse_retry(DEFAULT_RETRY).unwrap();
        assert_eq!(d.len(), 7);
        assert_eq!(d[0], Duration::from_secs(5));
        assert_eq!(d[6], Duration::from_secs(36_000));
        assert_eq!(parse_retry("1s, 1s,2s").unwrap(), [1, 1, 2].map(Duration::from_secs));
        assert_eq!(parse_retry("250ms").unwrap(), [Duration::from_millis(250)]);
        for bad in ["", "5", "5x", "s", "1s,,2s", "9999h"] {
            assert!(parse_retry(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn retries_run_out_into_failed() {
        let r = parse_retry("1s,2s").unwrap();
        assert_eq!(settle(&r, 0, 1000, false), ("retrying", Some(2000)));
        assert_eq!(settle(&r, 1, 1000, false), ("retrying", Some(3000)));
        assert_eq!(settle(&r, 2, 1000, false), ("failed", None));
        assert_eq!(settle(&r, 5, 1000, true), ("delivered", None));
    }

    #[test]
    fn signature_matches_the_standard_webhooks_example() {
        // The example of the Standard Webhooks specification.
        let secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
        let id = "msg_p5jXN8AQM9LWM0D4loKWxJek";
        let body = br#"{"test": 2432232314}"#;
        assert_eq!(
            sign(secret, id, 1614265330, body).unwrap(),
            "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
        );
        assert!(sign("nope", id, 1, body).is_none());
    }
}
