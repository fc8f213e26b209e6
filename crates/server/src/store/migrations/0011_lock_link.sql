-- Schema version 11: the device link's per-message records move off `locks` into a table of
-- their own (docs/design/server-performance.md, "Issue 19: the link's columns off the lock
-- row"). Every sync, acknowledgement, journal and presence message wrote the lock's row, and
-- on PostgreSQL a change of who may enter (its version bump, `store::bump_version`) queued
-- behind those writes' row locks. `locks` keeps what a change writes (`version`,
-- `next_user_id`, `server_epoch`, the profile); `lock_link` has what the link writes. One row
-- per lock, written in the transaction that pairs it and deleted with it.
CREATE TABLE lock_link (
    lock_id TEXT PRIMARY KEY REFERENCES locks (id) ON DELETE CASCADE,
    -- The version the lock has acknowledged holding.
    acked_version BIGINT NOT NULL,
    -- The up sequence number of the message (SyncAck or Hello) acked_version was last set from.
    acked_up_seq BIGINT NOT NULL,
    -- Highest event sequence number stored from the lock's journal.
    event_seq BIGINT NOT NULL,
    -- Highest command sequence number the server has used towards the lock.
    command_seq BIGINT NOT NULL,
    -- The replay window of the lock's up messages (hex; empty before the first message).
    up_replay TEXT NOT NULL,
    -- Until when (Unix ms) one instance owns re-sending the snapshot to the lock.
    sync_claimed_until BIGINT,
    online BIGINT NOT NULL,
    bolt TEXT,
    last_seen_at BIGINT
);

INSERT INTO lock_link (lock_id, acked_version, acked_up_seq, event_seq, command_seq, up_replay,
    sync_claimed_until, online, bolt, last_seen_at)
SELECT id, acked_version, acked_up_seq, event_seq, command_seq, up_replay, sync_claimed_until,
    online, bolt, last_seen_at FROM locks;

ALTER TABLE locks DROP COLUMN acked_version;
ALTER TABLE locks DROP COLUMN acked_up_seq;
ALTER TABLE locks DROP COLUMN event_seq;
ALTER TABLE locks DROP COLUMN command_seq;
ALTER TABLE locks DROP COLUMN up_replay;
ALTER TABLE locks DROP COLUMN sync_claimed_until;
ALTER TABLE locks DROP COLUMN online;
ALTER TABLE locks DROP COLUMN bolt;
ALTER TABLE locks DROP COLUMN last_seen_at
