-- Schema version 5: what the web app's second round needs (issue 20).

-- Idempotency keys: a creating request sent twice (a reload, a double tap, a retry over a bad
-- network, the API's `Idempotency-Key` header) answers with what the first one made. One row
-- per caller and key, written in the transaction that made the thing, so either both exist or
-- neither. `scope` says what was made where (`guest_key:LOCK`), `fingerprint` what was asked
-- (the same key with another request is refused), `result_id` the id of what was made.
CREATE TABLE idempotency_keys (
    account_id TEXT NOT NULL,
    idem_key TEXT NOT NULL,
    scope TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    result_id TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (account_id, idem_key)
);
CREATE INDEX idempotency_keys_created ON idempotency_keys (created_at);

-- An invitation may carry the invitee's name as the inviter knows it.
ALTER TABLE invitations ADD COLUMN name TEXT
