-- Schema version 2: several server instances against one database and one broker
-- (docs/design/device-link.md, "Several instances"). What one instance used to keep in memory
-- moves here, so that any instance can handle any lock's message.

-- The replay window of the lock's up messages (hex of the 16-byte ReplayWindow; empty before
-- the first message). Changed only by compare-and-set, so a message is accepted once across
-- all instances.
ALTER TABLE locks ADD COLUMN up_replay TEXT NOT NULL DEFAULT '';

-- The up sequence number of the message (SyncAck or Hello) acked_version was last set from.
-- The lock reports what it holds in the order it applies syncs, so the report with the
-- highest number is the truth, even when an older snapshot overtook a newer one.
ALTER TABLE locks ADD COLUMN acked_up_seq BIGINT NOT NULL DEFAULT 0;

-- Until when (Unix ms) one instance owns re-sending the snapshot to a lock that has not
-- acknowledged its version, so that instances do not all resend at once.
ALTER TABLE locks ADD COLUMN sync_claimed_until BIGINT;

-- Remote unlock results, for the instance whose HTTP request waits for them when another
-- instance received the lock's answer.
CREATE TABLE unlock_results (
    lock_id TEXT NOT NULL REFERENCES locks (id) ON DELETE CASCADE,
    command BIGINT NOT NULL,
    -- 'unlocked', 'denied' (with reason) or 'failed'.
    outcome TEXT NOT NULL,
    reason TEXT,
    at BIGINT NOT NULL,
    PRIMARY KEY (lock_id, command)
);

-- The public key (hex) of the server's Ed25519 key: every instance must sign with the key the
-- locks were paired with. One row, id 1.
CREATE TABLE server_identity (
    id BIGINT PRIMARY KEY,
    public_key TEXT NOT NULL,
    created_at BIGINT NOT NULL
)
