-- keyturn schema version 3, PostgreSQL: key lifecycle. A rotated key keeps
-- the hash of its previous secret until its grace period ends, and a key
-- records when it was last used (storage.Key.PreviousSecretHash,
-- PreviousExpiresAt, LastUsedAt; Unix microseconds, NULL for none).

ALTER TABLE keyturn_keys
	ADD COLUMN previous_secret_hash BYTEA,  -- keyed hash of the previous secret, never the secret
	ADD COLUMN previous_expires_at  BIGINT,
	ADD COLUMN last_used_at         BIGINT;
