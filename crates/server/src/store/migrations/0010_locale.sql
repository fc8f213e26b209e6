-- Schema version 10: the language an account reads the web app in ('en', 'ko'), or NULL for
-- the browser's (Accept-Language). docs/design/i18n.md.
ALTER TABLE accounts ADD COLUMN locale TEXT
