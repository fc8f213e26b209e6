-- Schema version 12: a lock's guest keys by the version that last changed them, so that a sync
-- reads only the keys changed since the version it starts from (docs/design/delta-sync.md).
CREATE INDEX guest_keys_changed ON guest_keys (lock_id, changed_version)
