-- Schema version 3: indexes for the queries that run on every guest-key creation and every
-- sync (docs/design/server-performance.md).

-- `code_ever_issued` looks a code up among all of a lock's keys, revoked ones included: the
-- partial `guest_keys_live_code` index cannot serve it, so it scanned every key of the lock.
CREATE INDEX guest_keys_lock_code ON guest_keys (lock_id, code);

-- Key listings and the sync snapshot read a lock's keys newest first, ties by id. An index in
-- exactly that order lets the snapshot's LIMIT stop after the rows it needs instead of sorting
-- all of the lock's keys.
DROP INDEX guest_keys_lock;
CREATE INDEX guest_keys_lock ON guest_keys (lock_id, created_at DESC, id);

-- The snapshot's deny entries: the lock's revoked keys whose code is still valid. Without it
-- that query walked every key of the lock looking for revoked ones (there may be none).
CREATE INDEX guest_keys_revoked ON guest_keys (lock_id, code_ends_at) WHERE revoked_at IS NOT NULL
