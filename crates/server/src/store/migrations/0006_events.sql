-- Schema version 6: webhooks and notifications (issue 18; spec/api.md, second round).

-- A lock's webhook endpoints. `events` is a comma-separated list of event types, or `*` for
-- all. `secret` is the Standard Webhooks secret (`whsec_` + base64 of 32 bytes): the server
-- must keep it to sign, so it is stored as it is, like the locks' root secrets.
CREATE TABLE webhooks (
    id TEXT PRIMARY KEY,
    lock_id TEXT NOT NULL REFERENCES locks (id) ON DELETE CASCADE,
    url TEXT NOT NULL,
    events TEXT NOT NULL,
    secret TEXT NOT NULL,
    created_by TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX webhooks_lock ON webhooks (lock_id, created_at);

-- The webhook outbox: one row per (event, webhook), written in the transaction of the event.
-- `id` is the `webhook-id` header, the same on every attempt. `payload` holds the exact body
-- that is signed and sent. `status` is `retrying` (waiting for its next attempt, the first one
-- included), `delivered` or `failed`; `next_attempt_at` is NULL once it is settled. A worker
-- owns a row while `claimed_until` is in the future, so instances never send one at once.
CREATE TABLE webhook_deliveries (
    id TEXT PRIMARY KEY,
    webhook_id TEXT NOT NULL REFERENCES webhooks (id) ON DELETE CASCADE,
    lock_id TEXT NOT NULL,
    event_id TEXT,
    type TEXT NOT NULL,
    payload TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    status TEXT NOT NULL,
    attempts BIGINT NOT NULL,
    last_status_code BIGINT,
    last_error TEXT,
    next_attempt_at BIGINT,
    claimed_until BIGINT
);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (next_attempt_at) WHERE next_attempt_at IS NOT NULL;
CREATE INDEX webhook_deliveries_hook ON webhook_deliveries (webhook_id, created_at);

-- Each member's notification choices on a lock. No row: the defaults (an Admin gets
-- guest_arrived and lockout, others nothing).
CREATE TABLE notification_prefs (
    lock_id TEXT NOT NULL REFERENCES locks (id) ON DELETE CASCADE,
    account_id TEXT NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    guest_arrived BIGINT NOT NULL,
    lockout BIGINT NOT NULL,
    offline BIGINT NOT NULL,
    calendar_failing BIGINT NOT NULL,
    PRIMARY KEY (lock_id, account_id)
);

-- When a notification of each kind last went out for a lock: at most one a kind per lock per
-- 10 minutes, decided by one conditional upsert (safe across instances).
CREATE TABLE notifications_sent (
    lock_id TEXT NOT NULL REFERENCES locks (id) ON DELETE CASCADE,
    kind TEXT NOT NULL,
    last_at BIGINT NOT NULL,
    PRIMARY KEY (lock_id, kind)
);
