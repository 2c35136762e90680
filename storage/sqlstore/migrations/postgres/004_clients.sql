-- keyturn schema version 4, PostgreSQL: more kinds of clients, and limits
-- across processes. A key records how its client authenticates (a secret or
-- private_key_jwt with a public JWK set), the resources it may ask for and
-- whether it must use DPoP (storage.Key.AuthMethod, JWKS, Resources,
-- DPoPBound). keyturn_used remembers one-time values (storage.ReplayStore)
-- and keyturn_failures counts failed authentications per limit key and
-- window (storage.FailureStore); both are swept at expires_at.

ALTER TABLE keyturn_keys
	ADD COLUMN auth_method TEXT    NOT NULL DEFAULT '',
	ADD COLUMN jwks        BYTEA,          -- public keys only
	ADD COLUMN resources   TEXT,           -- JSON array of URIs, NULL for none
	ADD COLUMN dpop_bound  BOOLEAN NOT NULL DEFAULT FALSE;

CREATE TABLE keyturn_used (
	kind       TEXT COLLATE "C" NOT NULL,
	id         TEXT COLLATE "C" NOT NULL,
	expires_at BIGINT NOT NULL,
	PRIMARY KEY (kind, id)
);

CREATE INDEX keyturn_used_expires_at ON keyturn_used (expires_at);

CREATE TABLE keyturn_failures (
	key        TEXT COLLATE "C" NOT NULL,
	window_at  BIGINT NOT NULL,
	count      BIGINT NOT NULL,
	expires_at BIGINT NOT NULL,
	PRIMARY KEY (key, window_at)
);

CREATE INDEX keyturn_failures_expires_at ON keyturn_failures (expires_at);
