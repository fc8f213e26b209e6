-- Latchkey schema, version 1. Portable between SQLite and PostgreSQL: TEXT and BIGINT only
-- (booleans are 0/1, instants are Unix milliseconds), statements separated by semicolons.

CREATE TABLE accounts (
    id TEXT PRIMARY KEY,
    phone TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    created_at BIGINT NOT NULL
);

-- One live sign-in code per phone number; a new request replaces it.
CREATE TABLE sign_in_codes (
    phone TEXT PRIMARY KEY,
    salt TEXT NOT NULL,
    code_hash TEXT NOT NULL,
    expires_at BIGINT NOT NULL,
    failures BIGINT NOT NULL,
    created_at BIGINT NOT NULL
);

CREATE TABLE sessions (
    token_hash TEXT PRIMARY KEY,
    account_id TEXT NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE INDEX sessions_account ON sessions (account_id);

-- Fixed-window counters for rate limits, shared by every server instance.
CREATE TABLE rate_limits (
    bucket TEXT PRIMARY KEY,
    window_start BIGINT NOT NULL,
    hits BIGINT NOT NULL
);

CREATE TABLE locks (
    id TEXT PRIMARY KEY,
    serial TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    time_zone TEXT NOT NULL,
    wrong_code_limit BIGINT NOT NULL,
    lockout_seconds BIGINT NOT NULL,
    -- The lock's Ed25519 public key (hex); the lock signs what it sends with it.
    device_key TEXT NOT NULL,
    -- The lock's guest-code root secret (hex). See docs/operations.md on protecting it.
    root_secret TEXT NOT NULL,
    -- Epoch of the server's own guest-code issuer (slot 0).
    server_epoch BIGINT NOT NULL,
    -- Version of what the lock should hold; bumped, first thing, by every change of who may
    -- enter, which also serialises such changes per lock on both databases.
    version BIGINT NOT NULL,
    -- The version the lock has acknowledged holding.
    acked_version BIGINT NOT NULL,
    -- Highest event sequence number stored from the lock's journal.
    event_seq BIGINT NOT NULL,
    -- Highest command sequence number the server has used towards the lock.
    command_seq BIGINT NOT NULL,
    online BIGINT NOT NULL,
    bolt TEXT,
    last_seen_at BIGINT,
    next_user_id BIGINT NOT NULL,
    created_at BIGINT NOT NULL
);

CREATE TABLE members (
    lock_id TEXT NOT NULL REFERENCES locks (id) ON DELETE CASCADE,
    account_id TEXT NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    -- The number the lock knows this member by.
    user_id BIGINT NOT NULL,
    access_level TEXT NOT NULL CHECK (access_level IN ('admin', 'family', 'recurring_guest')),
    schedule TEXT,
    pin TEXT,
    -- The lock version at which this member's rights last changed.
    changed_version BIGINT NOT NULL,
    added_at BIGINT NOT NULL,
    added_by TEXT,
    PRIMARY KEY (lock_id, account_id),
    CONSTRAINT members_user_id UNIQUE (lock_id, user_id),
    CONSTRAINT members_pin UNIQUE (lock_id, pin)
);

-- Users the lock must forget, for delta syncs.
CREATE TABLE removed_users (
    lock_id TEXT NOT NULL REFERENCES locks (id) ON DELETE CASCADE,
    user_id BIGINT NOT NULL,
    removed_version BIGINT NOT NULL,
    PRIMARY KEY (lock_id, user_id)
);

CREATE TABLE invitations (
    id TEXT PRIMARY KEY,
    lock_id TEXT NOT NULL REFERENCES locks (id) ON DELETE CASCADE,
    phone TEXT NOT NULL,
    access_level TEXT NOT NULL CHECK (access_level IN ('admin', 'family', 'recurring_guest')),
    schedule TEXT,
    status TEXT NOT NULL CHECK (status IN ('pending', 'accepted', 'declined', 'revoked', 'expired')),
    invited_by TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    responded_at BIGINT
);
CREATE UNIQUE INDEX invitations_one_pending ON invitations (lock_id, phone) WHERE status = 'pending';
CREATE INDEX invitations_phone ON invitations (phone, status);

CREATE TABLE guest_keys (
    id TEXT PRIMARY KEY,
    lock_id TEXT NOT NULL REFERENCES locks (id) ON DELETE CASCADE,
    -- The number the lock knows this key by in its log.
    key_no BIGINT NOT NULL,
    name TEXT NOT NULL,
    phone TEXT,
    code TEXT NOT NULL,
    slot BIGINT NOT NULL,
    epoch BIGINT NOT NULL,
    starts_at BIGINT NOT NULL,
    ends_at BIGINT NOT NULL,
    -- The end of the code's own window (whole hours), after which a deny entry can go.
    code_ends_at BIGINT NOT NULL,
    one_time BIGINT NOT NULL,
    revoked_at BIGINT,
    used_at BIGINT,
    changed_version BIGINT NOT NULL,
    sms_id TEXT,
    created_by TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    CONSTRAINT guest_keys_key_no UNIQUE (lock_id, key_no)
);
CREATE UNIQUE INDEX guest_keys_live_code ON guest_keys (lock_id, code) WHERE revoked_at IS NULL;
CREATE INDEX guest_keys_lock ON guest_keys (lock_id, created_at);

-- Guest-code issuers: slot 0 is the server (its epoch lives on the lock row), slots 1..7 are
-- Admin devices.
CREATE TABLE issuers (
    id TEXT PRIMARY KEY,
    lock_id TEXT NOT NULL REFERENCES locks (id) ON DELETE CASCADE,
    slot BIGINT NOT NULL,
    epoch BIGINT NOT NULL,
    account_id TEXT NOT NULL,
    label TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    revoked_at BIGINT,
    changed_version BIGINT NOT NULL
);
CREATE UNIQUE INDEX issuers_live_slot ON issuers (lock_id, slot) WHERE revoked_at IS NULL;
CREATE UNIQUE INDEX issuers_slot_epoch ON issuers (lock_id, slot, epoch);

-- The activity log. Ids sort by time: 13 digits of milliseconds then 12 random hex digits.
CREATE TABLE events (
    id TEXT PRIMARY KEY,
    lock_id TEXT NOT NULL REFERENCES locks (id) ON DELETE CASCADE,
    -- The lock's journal sequence number for events the lock reported; NULL for changes made
    -- through the server.
    seq BIGINT,
    at BIGINT NOT NULL,
    kind TEXT NOT NULL,
    outcome TEXT,
    method TEXT,
    actor_kind TEXT,
    actor_id TEXT,
    actor_name TEXT,
    reason TEXT,
    by_account TEXT,
    by_name TEXT,
    detail TEXT NOT NULL
);
CREATE UNIQUE INDEX events_lock_seq ON events (lock_id, seq);
CREATE INDEX events_lock_id ON events (lock_id, id);

-- SMS waiting for delivery, written in the transaction of the change that causes them.
CREATE TABLE sms_outbox (
    id TEXT PRIMARY KEY,
    to_phone TEXT NOT NULL,
    body TEXT NOT NULL,
    purpose TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    attempts BIGINT NOT NULL,
    next_attempt_at BIGINT NOT NULL,
    claimed_until BIGINT,
    sent_at BIGINT,
    last_error TEXT
);
CREATE INDEX sms_outbox_due ON sms_outbox (sent_at, next_attempt_at)
