-- keyturn schema version 3, SQLite: key lifecycle. A rotated key keeps the
-- hash of its previous secret until its grace period ends, and a key
-- records when it was last used (storage.Key.PreviousSecretHash,
-- PreviousExpiresAt, LastUsedAt; Unix microseconds, NULL for none).

ALTER TABLE keyturn_keys ADD COLUMN previous_secret_hash BLOB;

ALTER TABLE keyturn_keys ADD COLUMN previous_expires_at INTEGER;

ALTER TABLE keyturn_keys ADD COLUMN last_used_at INTEGER;
