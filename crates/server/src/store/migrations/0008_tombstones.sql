-- Schema version 8: lock ids the server does not keep (docs/design/pairing-convergence.md).
-- A row is written before the server sends a lock its PairFinish ('pending'), and removed in
-- the transaction that keeps the lock; it stays when the pairing is given up ('abandoned') and
-- is written again when an Admin unpairs a lock ('unpaired'). A lock that presents itself under
-- such an id is told Unpair, which needs what the row keeps: the lock's serial (its client id),
-- its public key (to check its Hello), its root secret (its broker password and the link keys)
-- and a counter for the Unpair messages' sequence numbers (2^63 + unpair_seq: above anything the
-- lock's command counter reached).
CREATE TABLE lock_tombstones (
    lock_id TEXT PRIMARY KEY,
    serial TEXT NOT NULL,
    device_key TEXT NOT NULL,
    root_secret TEXT NOT NULL,
    -- 'pending', 'abandoned' or 'unpaired'.
    state TEXT NOT NULL,
    unpair_seq BIGINT NOT NULL,
    created_at BIGINT NOT NULL
);

CREATE INDEX lock_tombstones_created ON lock_tombstones (created_at)
