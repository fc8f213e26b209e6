-- Schema version 7: rental calendars (issue 17, docs/design/rental-calendars.md).

-- A lock's calendar subscription: an iCalendar URL read every few minutes, whose reservations
-- become guest keys from check-in to check-out (lock-local "HH:MM").
CREATE TABLE calendars (
    id TEXT PRIMARY KEY,
    lock_id TEXT NOT NULL REFERENCES locks (id) ON DELETE CASCADE,
    url TEXT NOT NULL,
    name TEXT NOT NULL,
    check_in TEXT NOT NULL,
    check_out TEXT NOT NULL,
    created_by TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    -- The validators of the last answer with a body (conditional GET next time).
    etag TEXT,
    last_modified TEXT,
    -- The last read that worked (Unix ms), and the last read's error (NULL when it worked).
    last_synced_at BIGINT,
    last_error TEXT,
    last_error_at BIGINT,
    -- When the next read is due (Unix ms), for the background reader.
    next_sync_at BIGINT NOT NULL
);
CREATE INDEX calendars_lock ON calendars (lock_id);
CREATE INDEX calendars_due ON calendars (next_sync_at);

-- Which guest keys a calendar made: `source {calendar_id, uid}` of the API. No reference to
-- `calendars`: a deleted calendar's past keys keep their source. A reservation whose key the
-- calendar revoked and that comes back gets a second row (a new key).
CREATE TABLE calendar_keys (
    key_id TEXT PRIMARY KEY REFERENCES guest_keys (id) ON DELETE CASCADE,
    lock_id TEXT NOT NULL REFERENCES locks (id) ON DELETE CASCADE,
    calendar_id TEXT NOT NULL,
    uid TEXT NOT NULL,
    -- 'synced' (a held code: the lock holds the window, a moved stay keeps its code) or
    -- 'offline' (a window code: a moved stay gets a new code).
    code_kind TEXT NOT NULL,
    -- 1 when a sync of the calendar revoked the key (0: live, or revoked by a person).
    revoked_by_calendar BIGINT NOT NULL DEFAULT 0,
    created_at BIGINT NOT NULL
);
CREATE INDEX calendar_keys_calendar ON calendar_keys (calendar_id, uid);
CREATE INDEX calendar_keys_lock ON calendar_keys (lock_id);

-- Named leases: the background calendar reader runs on one instance at a time.
CREATE TABLE leases (
    name TEXT PRIMARY KEY,
    holder TEXT NOT NULL,
    until_ms BIGINT NOT NULL
)
