-- keyturn schema version 4, SQLite: more kinds of clients, and limits
-- across processes. A key records how its client authenticates (a secret or
-- private_key_jwt with a public JWK set), the resources it may ask for and
-- whether it must use DPoP (storage.Key.AuthMethod, JWKS, Resources,
-- DPoPBound). keyturn_used remembers one-time values (storage.ReplayStore)
-- and keyturn_failures counts failed authentications per limit key and
-- window (storage.FailureStore); both are swept at expires_at.

ALTER TABLE keyturn_keys ADD COLUMN auth_method TEXT NOT NULL DEFAULT '';

ALTER TABLE keyturn_keys ADD COLUMN jwks BLOB;

ALTER TABLE keyturn_keys ADD COLUMN resources TEXT;

ALTER TABLE keyturn_keys ADD COLUMN dpop_bound INTEGER NOT NULL DEFAULT 0;

CREATE TABLE keyturn_used (
	kind       TEXT NOT NULL,
	id         TEXT NOT NULL,
	expires_at INTEGER NOT NULL,
	PRIMARY KEY (kind, id)
) STRICT, WITHOUT ROWID;

CREATE INDEX keyturn_used_expires_at ON keyturn_used (expires_at);

CREATE TABLE keyturn_failures (
	key        TEXT NOT NULL,
	window_at  INTEGER NOT NULL,
	count      INTEGER NOT NULL,
	expires_at INTEGER NOT NULL,
	PRIMARY KEY (key, window_at)
) STRICT, WITHOUT ROWID;

CREATE INDEX keyturn_failures_expires_at ON keyturn_failures (expires_at);
