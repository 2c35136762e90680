-- keyturn schema version 1, SQLite.
--
-- Times are UTC Unix microseconds (INTEGER). A nullable time column holds NULL
-- for "not set" (the zero time.Time); a NOT NULL one holds the zero time as its
-- own Unix microsecond value, -62135596800000000, so that it sorts first.
-- Identifiers use SQLite's default BINARY collation: compared byte-wise.
-- Statements are separated by a semicolon at the end of a line.

CREATE TABLE keyturn_keys (
	id             TEXT    NOT NULL PRIMARY KEY,
	name           TEXT    NOT NULL,
	owner          TEXT    NOT NULL,
	scope          TEXT    NOT NULL, -- JSON array of scope tokens
	secret_hash    BLOB,             -- keyed hash of the secret, never the secret
	token_lifetime INTEGER NOT NULL, -- nanoseconds
	created_at     INTEGER NOT NULL,
	expires_at     INTEGER,
	revoked_at     INTEGER
) STRICT, WITHOUT ROWID;

CREATE TABLE keyturn_signing_keys (
	id         TEXT    NOT NULL PRIMARY KEY,
	algorithm  TEXT    NOT NULL,
	private    BLOB,             -- as handed over: PKCS #8, possibly sealed
	public     BLOB,             -- PKIX
	created_at INTEGER NOT NULL,
	not_before INTEGER NOT NULL,
	not_after  INTEGER,
	expires_at INTEGER
) STRICT, WITHOUT ROWID;

CREATE INDEX keyturn_signing_keys_expires_at ON keyturn_signing_keys (expires_at);

CREATE TABLE keyturn_revocations (
	kind       INTEGER NOT NULL, -- 1 token (jti), 2 client
	id         TEXT    NOT NULL,
	revoked_at INTEGER NOT NULL,
	expires_at INTEGER,
	PRIMARY KEY (kind, id)
) STRICT, WITHOUT ROWID;

CREATE INDEX keyturn_revocations_revoked_at ON keyturn_revocations (revoked_at, kind, id);

CREATE INDEX keyturn_revocations_expires_at ON keyturn_revocations (expires_at);

CREATE TABLE keyturn_opaque_tokens (
	hash       BLOB    NOT NULL PRIMARY KEY, -- hash of the token, never the token
	client_id  TEXT    NOT NULL,
	claims     BLOB,
	expires_at INTEGER
) STRICT, WITHOUT ROWID;

CREATE INDEX keyturn_opaque_tokens_expires_at ON keyturn_opaque_tokens (expires_at);
