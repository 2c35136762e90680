-- keyturn schema version 1, PostgreSQL.
--
-- Times are UTC Unix microseconds (BIGINT). A nullable time column holds NULL
-- for "not set" (the zero time.Time); a NOT NULL one holds the zero time as its
-- own Unix microsecond value, -62135596800000000, so that it sorts first.
-- Identifiers use COLLATE "C": compared and ordered byte-wise, as Go compares
-- strings, whatever the database's default collation.
-- Statements are separated by a semicolon at the end of a line.

CREATE TABLE keyturn_keys (
	id             TEXT COLLATE "C" NOT NULL PRIMARY KEY,
	name           TEXT   NOT NULL,
	owner          TEXT   NOT NULL,
	scope          TEXT   NOT NULL, -- JSON array of scope tokens
	secret_hash    BYTEA,           -- keyed hash of the secret, never the secret
	token_lifetime BIGINT NOT NULL, -- nanoseconds
	created_at     BIGINT NOT NULL,
	expires_at     BIGINT,
	revoked_at     BIGINT
);

CREATE TABLE keyturn_signing_keys (
	id         TEXT COLLATE "C" NOT NULL PRIMARY KEY,
	algorithm  TEXT   NOT NULL,
	private    BYTEA,           -- as handed over: PKCS #8, possibly sealed
	public     BYTEA,           -- PKIX
	created_at BIGINT NOT NULL,
	not_before BIGINT NOT NULL,
	not_after  BIGINT,
	expires_at BIGINT
);

CREATE INDEX keyturn_signing_keys_expires_at ON keyturn_signing_keys (expires_at);

CREATE TABLE keyturn_revocations (
	kind       SMALLINT NOT NULL, -- 1 token (jti), 2 client
	id         TEXT COLLATE "C" NOT NULL,
	revoked_at BIGINT   NOT NULL,
	expires_at BIGINT,
	PRIMARY KEY (kind, id)
);

CREATE INDEX keyturn_revocations_revoked_at ON keyturn_revocations (revoked_at, kind, id);

CREATE INDEX keyturn_revocations_expires_at ON keyturn_revocations (expires_at);

CREATE TABLE keyturn_opaque_tokens (
	hash       BYTEA  NOT NULL PRIMARY KEY, -- hash of the token, never the token
	client_id  TEXT   NOT NULL,
	claims     BYTEA,
	expires_at BIGINT
);

CREATE INDEX keyturn_opaque_tokens_expires_at ON keyturn_opaque_tokens (expires_at);
