//! Webhooks (spec/api.md, second round): an Admin registers URLs per lock; every event of the
//! lock becomes one row per interested webhook in the outbox `webhook_deliveries`, written in
//! the transaction of the event itself, so an event is never lost nor sent for a change that
//! rolled back. `crate::webhooks` delivers them (Standard Webhooks signatures, retries, leases).

use base64::Engine;
use jiff::Timestamp;
use serde_json::{Map, Value, json};

use super::access::{self, Caller};
use super::{Domain, Error, Result, ms, ts};
use crate::store::{self, Conn, DeliveryRow, EventRow, WebhookRow};

/// Every event type a webhook may ask for.
pub const EVENT_TYPES: &[&str] = &[
    "lock.unlocked",
    "lock.access_denied",
    "lock.lockout",
    "lock.online",
    "lock.offline",
    "guest_key.created",
    "guest_key.first_used",
    "guest_key.revoked",
    "member.added",
    "member.removed",
    "member.synced",
    "webhook.test",
];

/// Webhooks one lock may have.
pub const MAX_WEBHOOKS_PER_LOCK: i64 = 10;

/// Deliveries `GET .../deliveries` shows.
pub const DELIVERY_PAGE: i64 = 50;

/// Longest URL accepted.
pub const MAX_URL_LEN: usize = 2000;

/// A new Standard Webhooks secret: `whsec_` + base64 of 32 random bytes.
fn new_secret(bytes: [u8; 32]) -> String {
    format!("whsec_{}", base64::engine::general_purpose::STANDARD.encode(bytes))
}

/// The webhook types an activity-log entry stands for (most have one; a guest key's first
/// use is both `lock.unlocked` and `guest_key.first_used`).
pub fn types_of(e: &EventRow, first_use: bool) -> Vec<&'static str> {
    let mut out = Vec::new();
    match (e.kind.as_str(), e.outcome.as_deref()) {
        ("access", Some("granted")) => {
            out.push("lock.unlocked");
            if first_use {
                out.push("guest_key.first_used");
            }
        }
        ("access", Some("denied")) => out.push("lock.access_denied"),
        ("lockout", _) => out.push("lock.lockout"),
        ("guest_key_created", _) => out.push("guest_key.created"),
        ("guest_key_revoked", _) => out.push("guest_key.revoked"),
        ("member_added", _) => out.push("member.added"),
        ("member_removed" | "member_left", _) => out.push("member.removed"),
        _ => {}
    }
    out
}

/// The `data` of an activity-log entry: `lock_id`, the event `id` and what the entry says.
pub fn event_data(e: &EventRow) -> Value {
    let mut d = Map::new();
    d.insert("lock_id".into(), json!(e.lock_id));
    d.insert("event_id".into(), json!(e.id));
    d.insert("at".into(), json!(ts(e.at).to_string()));
    if let Some(o) = &e.outcome {
        d.insert("outcome".into(), json!(o));
    }
    if let Some(m) = &e.method {
        d.insert("method".into(), json!(m));
    }
    if let Some(name) = &e.actor_name {
        d.insert(
            "actor".into(),
            json!({"kind": e.actor_kind.clone().unwrap_or_else(|| "unknown".into()), "id": e.actor_id, "name": name}),
        );
    }
    if let Some(r) = &e.reason {
        d.insert("reason".into(), json!(r));
    }
    if let (Some(id), Some(name)) = (&e.by_account, &e.by_name) {
        d.insert("by".into(), json!({"kind": "member", "id": id, "name": name}));
    }
    if !e.detail.is_empty() {
        d.insert("detail".into(), json!(e.detail));
    }
    Value::Object(d)
}

/// One event for webhooks: its type, the activity-log entry (if any), when it happened (the
/// body's `timestamp`) and its `data`.
#[derive(Debug, Clone, Copy)]
pub struct Outgoing<'a> {
    pub ty: &'a str,
    pub event_id: Option<&'a str>,
    pub at: Timestamp,
    pub data: &'a Value,
}

impl Domain {
    /// Queues `ev` for every webhook of `lock_id` that wants its type, in the caller's
    /// transaction. Returns how many.
    pub async fn queue_webhooks(&self, c: &mut Conn, lock_id: &str, ev: Outgoing<'_>, now: Timestamp) -> Result<usize> {
        let hooks = store::webhooks_of_lock(c, lock_id).await?;
        let mut n = 0;
        for h in hooks.iter().filter(|h| h.wants(ev.ty)) {
            self.queue_delivery(c, h, ev, now).await?;
            n += 1;
        }
        Ok(n)
    }

    async fn queue_delivery(
        &self,
        c: &mut Conn,
        hook: &WebhookRow,
        ev: Outgoing<'_>,
        now: Timestamp,
    ) -> Result<DeliveryRow> {
        let Outgoing { ty, event_id, at, data } = ev;
        let payload = json!({"type": ty, "timestamp": at.to_string(), "data": data}).to_string();
        let row = DeliveryRow {
            id: format!("msg_{}", hex::encode(self.random::<12>())),
            webhook_id: hook.id.clone(),
            lock_id: hook.lock_id.clone(),
            event_id: event_id.map(str::to_string),
            type_: ty.to_string(),
            payload,
            created_at: ms(now),
            status: "retrying".into(),
            attempts: 0,
            last_status_code: None,
            last_error: None,
            next_attempt_at: Some(ms(now)),
        };
        store::enqueue_delivery(c, &row).await?;
        Ok(row)
    }

    /// Queues the webhooks an activity-log entry stands for (in its transaction).
    pub async fn queue_event_webhooks(
        &self,
        c: &mut Conn,
        e: &EventRow,
        first_use: bool,
        now: Timestamp,
    ) -> Result<()> {
        let types = types_of(e, first_use);
        if types.is_empty() {
            return Ok(());
        }
        let data = event_data(e);
        for ty in types {
            let ev = Outgoing {
                ty,
                event_id: Some(&e.id),
                at: ts(e.at),
                data: &data,
            };
            self.queue_webhooks(c, &e.lock_id, ev, now).await?;
        }
        Ok(())
    }

    /// Wakes the delivery worker (after a commit that queued deliveries).
    pub fn wake_webhooks(&self) {
        self.webhook_wake.notify_one();
    }

    /// `POST /locks/{id}/webhooks` (Admins): the secret is in the answer, and only there.
    pub async fn create_webhook(
        &self,
        caller: &Caller,
        lock_id: &str,
        url: &str,
        events: Option<&[String]>,
        now: Timestamp,
    ) -> Result<WebhookRow> {
        let mut errors = super::FieldErrors::default();
        let url = url.trim();
        if url.len() > MAX_URL_LEN {
            errors.add("url", format!("at most {MAX_URL_LEN} characters"));
        } else if let Err(e) = self.outbound.check_url(url) {
            errors.add("url", e.to_string());
        }
        let events = match events {
            None => "*".to_string(),
            Some(list) => {
                if list.is_empty() {
                    errors.add("events", "name at least one event type, or leave it out for all");
                }
                for (i, t) in list.iter().enumerate() {
                    if !EVENT_TYPES.contains(&t.as_str()) {
                        errors.add(
                            format!("events[{i}]"),
                            format!("unknown event type; one of {}", EVENT_TYPES.join(", ")),
                        );
                    }
                }
                let mut uniq: Vec<&str> = Vec::new();
                for t in list {
                    if !uniq.contains(&t.as_str()) {
                        uniq.push(t);
                    }
                }
                uniq.join(",")
            }
        };
        errors.check()?;
        let mut tx = self.store.begin().await?;
        access::admin_of(&mut tx, caller, lock_id).await?;
        if store::count_webhooks(&mut tx, lock_id).await? >= MAX_WEBHOOKS_PER_LOCK {
            return Err(Error::Conflict(format!(
                "this lock already has {MAX_WEBHOOKS_PER_LOCK} webhooks; delete one first"
            )));
        }
        let row = WebhookRow {
            id: self.new_id("wh"),
            lock_id: lock_id.to_string(),
            url: url.to_string(),
            events,
            secret: new_secret(self.random::<32>()),
            created_by: caller.id().to_string(),
            created_at: ms(now),
        };
        store::insert_webhook(&mut tx, &row).await?;
        tx.commit().await?;
        Ok(row)
    }

    /// `GET /locks/{id}/webhooks` (Admins).
    pub async fn webhooks(&self, caller: &Caller, lock_id: &str) -> Result<Vec<WebhookRow>> {
        let mut c = self.store.read().await?;
        access::admin_of(&mut c, caller, lock_id).await?;
        Ok(store::webhooks_of_lock(&mut c, lock_id).await?)
    }

    /// `DELETE /locks/{id}/webhooks/{hook}` (Admins): its pending deliveries go with it.
    pub async fn delete_webhook(&self, caller: &Caller, lock_id: &str, id: &str) -> Result<()> {
        let mut tx = self.store.begin().await?;
        access::admin_of(&mut tx, caller, lock_id).await?;
        if !store::delete_webhook(&mut tx, lock_id, id).await? {
            return Err(Error::NotFound("webhook"));
        }
        tx.commit().await?;
        Ok(())
    }

    /// `GET /locks/{id}/webhooks/{hook}/deliveries` (Admins): newest first.
    pub async fn webhook_deliveries(&self, caller: &Caller, lock_id: &str, id: &str) -> Result<Vec<DeliveryRow>> {
        let mut c = self.store.read().await?;
        access::admin_of(&mut c, caller, lock_id).await?;
        store::webhook(&mut c, lock_id, id)
            .await?
            .ok_or(Error::NotFound("webhook"))?;
        Ok(store::deliveries(&mut c, id, DELIVERY_PAGE).await?)
    }

    /// `POST /locks/{id}/webhooks/{hook}/test` (Admins): queues a `webhook.test` event for
    /// this webhook only, due now.
    pub async fn test_webhook(&self, caller: &Caller, lock_id: &str, id: &str, now: Timestamp) -> Result<DeliveryRow> {
        let mut tx = self.store.begin().await?;
        access::admin_of(&mut tx, caller, lock_id).await?;
        let hook = store::webhook(&mut tx, lock_id, id)
            .await?
            .ok_or(Error::NotFound("webhook"))?;
        let data = json!({"lock_id": lock_id, "webhook_id": id, "by": {"kind": "member", "id": caller.id(), "name": caller.display_name()}});
        let row = self
            .queue_delivery(
                &mut tx,
                &hook,
                Outgoing {
                    ty: "webhook.test",
                    event_id: None,
                    at: now,
                    data: &data,
                },
                now,
            )
            .await?;
        tx.commit().await?;
        self.wake_webhooks();
        Ok(row)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_whsec_and_32_bytes_of_base64() {
        let s = new_secret([7; 32]);
        let b64 = s.strip_prefix("whsec_").unwrap();
        let bytes = base64::engine::general_purpose::STANDARD.decode(b64).unwrap();
        assert_eq!(bytes, [7; 32]);
    }

    #[test]
    fn a_first_guest_use_is_two_types() {
        let e = EventRow {
            kind: "access".into(),
            outcome: Some("granted".into()),
            ..Default::default()
        };
        assert_eq!(types_of(&e, true), ["lock.unlocked", "guest_key.first_used"]);
        assert_eq!(types_of(&e, false), ["lock.unlocked"]);
        let d = EventRow {
            kind: "access".into(),
            outcome: Some("denied".into()),
            ..Default::default()
        };
        assert_eq!(types_of(&d, false), ["lock.access_denied"]);
        for t in ["lock_changed", "pin_set", "invitation_sent"] {
            let e = EventRow {
                kind: t.into(),
                ..Default::default()
            };
            assert!(types_of(&e, false).is_empty(), "{t}");
        }
    }
}
