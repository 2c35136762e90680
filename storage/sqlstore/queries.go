package sqlstore

// queries holds every statement the store runs, in one dialect. They are
// built once, from the constants below, when the package is initialised;
// values only ever travel as parameters.
type queries struct {
	createKey, key, keysFirst, keysAfter, revokeKey                        string
	rotateKey, touchKey, keyExists, replaceKeyJWKS                         string
	useOnce, addFailure, sweepUsed, sweepFailures                          string
	addSigningKey, signingKeys, retireSigningKey, deleteSigningKey         string
	replaceSigningKeyPrivate, signingKeyExists                             string
	initSetting, setting                                                   string
	addRevocation, revocationsSince                                        string
	addOpaqueToken, opaqueToken                                            string
	sweepOpaqueTokens, sweepRevocations, sweepSigningKeys                  string
	versionTableExists, createVersionTable, schemaVersion, recordMigration string
}

var dialectQueries = map[Dialect]*queries{
	SQLite:   buildQueries(SQLite),
	Postgres: buildQueries(Postgres),
}

const (
	keyCols = `id, name, owner, scope, secret_hash, token_lifetime, created_at, expires_at, revoked_at,
		previous_secret_hash, previous_expires_at, last_used_at,
		auth_method, jwks, resources, dpop_bound`
	signingCols = `id, algorithm, private, public, created_at, not_before, not_after, expires_at`

	// earlierNotAfter and earlierExpiresAt set a nullable time column to the
	// earlier of its value and a new one, where NULL (the zero time) counts
	// as later than any other: a NULL new value leaves the column as it is,
	// and a NULL column takes the new value. The new value is bound three
	// times; CAST gives PostgreSQL its type.
	earlierNotAfter = `CASE WHEN CAST(? AS BIGINT) IS NULL THEN not_after
		WHEN not_after IS NULL OR CAST(? AS BIGINT) < not_after THEN CAST(? AS BIGINT)
		ELSE not_after END`
	earlierExpiresAt = `CASE WHEN CAST(? AS BIGINT) IS NULL THEN expires_at
		WHEN expires_at IS NULL OR CAST(? AS BIGINT) < expires_at THEN CAST(? AS BIGINT)
		ELSE expires_at END`
)

func buildQueries(d Dialect) *queries {
	q := &queries{
		createKey: `INSERT INTO keyturn_keys (` + keyCols + `)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO NOTHING`,
		key:       `SELECT ` + keyCols + ` FROM keyturn_keys WHERE id = ?`,
		keysFirst: `SELECT ` + keyCols + ` FROM keyturn_keys ORDER BY id LIMIT ?`,
		keysAfter: `SELECT ` + keyCols + ` FROM keyturn_keys WHERE id > ? ORDER BY id LIMIT ?`,
		// COALESCE keeps the first revocation time.
		revokeKey: `UPDATE keyturn_keys SET revoked_at = COALESCE(revoked_at, ?) WHERE id = ?`,
		// A compare-and-swap on the current hash of a key not revoked; the
		// fifth parameter is an empty blob, so that a NULL hash compares as
		// empty, as the storage contract has nil and empty the same.
		rotateKey: `UPDATE keyturn_keys
			SET secret_hash = ?, previous_secret_hash = ?, previous_expires_at = ?
			WHERE id = ? AND revoked_at IS NULL AND COALESCE(secret_hash, ?) = ?`,
		// The third parameter is the time before which last_used_at is
		// stale: one write per interval, however many processes touch.
		touchKey: `UPDATE keyturn_keys SET last_used_at = ?
			WHERE id = ? AND (last_used_at IS NULL OR last_used_at < ?)`,
		keyExists: `SELECT COUNT(*) FROM keyturn_keys WHERE id = ?`,
		// A compare-and-swap on the JWK set of a key not revoked; the third
		// parameter is an empty blob, as for rotateKey.
		replaceKeyJWKS: `UPDATE keyturn_keys SET jwks = ?
			WHERE id = ? AND revoked_at IS NULL AND COALESCE(jwks, ?) = ?`,

		// Inserts the value, or takes over an expired record of it (the
		// fourth parameter is now); a live record is left alone, so one
		// row changes exactly when this is the first use.
		useOnce: `INSERT INTO keyturn_used (kind, id, expires_at) VALUES (?, ?, ?)
			ON CONFLICT (kind, id) DO UPDATE SET expires_at = excluded.expires_at
			WHERE keyturn_used.expires_at <= ?`,
		addFailure: `INSERT INTO keyturn_failures (key, window_at, count, expires_at) VALUES (?, ?, 1, ?)
			ON CONFLICT (key, window_at) DO UPDATE SET count = keyturn_failures.count + 1,
			expires_at = CASE WHEN excluded.expires_at > keyturn_failures.expires_at
				THEN excluded.expires_at ELSE keyturn_failures.expires_at END
			RETURNING count`,

		addSigningKey: `INSERT INTO keyturn_signing_keys (` + signingCols + `)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO NOTHING`,
		signingKeys: `SELECT ` + signingCols + ` FROM keyturn_signing_keys ORDER BY not_before, id`,
		retireSigningKey: `UPDATE keyturn_signing_keys
			SET not_after = ` + earlierNotAfter + `, expires_at = ` + earlierExpiresAt + `
			WHERE id = ?`,
		deleteSigningKey: `DELETE FROM keyturn_signing_keys WHERE id = ?`,
		// The second parameter is an empty blob: a NULL private key compares
		// as empty, as the storage contract has nil and empty the same.
		replaceSigningKeyPrivate: `UPDATE keyturn_signing_keys SET private = ?
			WHERE id = ? AND COALESCE(private, ?) = ?`,
		signingKeyExists: `SELECT COUNT(*) FROM keyturn_signing_keys WHERE id = ?`,

		initSetting: `INSERT INTO keyturn_settings (name, value) VALUES (?, ?) ON CONFLICT (name) DO NOTHING`,
		setting:     `SELECT value FROM keyturn_settings WHERE name = ?`,

		// Merge: the earlier revoked_at and the later expires_at, NULL (keep
		// forever) counting as latest.
		addRevocation: `INSERT INTO keyturn_revocations (kind, id, revoked_at, expires_at)
			VALUES (?, ?, ?, ?)
			ON CONFLICT (kind, id) DO UPDATE SET
			revoked_at = CASE WHEN excluded.revoked_at < keyturn_revocations.revoked_at
				THEN excluded.revoked_at ELSE keyturn_revocations.revoked_at END,
			expires_at = CASE WHEN excluded.expires_at IS NULL OR keyturn_revocations.expires_at IS NULL THEN NULL
				WHEN excluded.expires_at > keyturn_revocations.expires_at THEN excluded.expires_at
				ELSE keyturn_revocations.expires_at END`,
		revocationsSince: `SELECT kind, id, revoked_at, expires_at FROM keyturn_revocations
			WHERE revoked_at >= ? ORDER BY revoked_at, kind, id LIMIT ?`,

		addOpaqueToken: `INSERT INTO keyturn_opaque_tokens (hash, client_id, claims, expires_at)
			VALUES (?, ?, ?, ?) ON CONFLICT (hash) DO NOTHING`,
		opaqueToken: `SELECT client_id, claims, expires_at FROM keyturn_opaque_tokens WHERE hash = ?`,

		// Each sweep deletes at most a batch (the second parameter) of rows
		// whose expires_at is set (not NULL) and not after now (the first).
		sweepOpaqueTokens: `DELETE FROM keyturn_opaque_tokens WHERE hash IN
			(SELECT hash FROM keyturn_opaque_tokens WHERE expires_at <= ? LIMIT ?)`,
		sweepRevocations: `DELETE FROM keyturn_revocations WHERE (kind, id) IN
			(SELECT kind, id FROM keyturn_revocations WHERE expires_at <= ? LIMIT ?)`,
		sweepSigningKeys: `DELETE FROM keyturn_signing_keys WHERE id IN
			(SELECT id FROM keyturn_signing_keys WHERE expires_at <= ? LIMIT ?)`,
		sweepUsed: `DELETE FROM keyturn_used WHERE (kind, id) IN
			(SELECT kind, id FROM keyturn_used WHERE expires_at <= ? LIMIT ?)`,
		sweepFailures: `DELETE FROM keyturn_failures WHERE (key, window_at) IN
			(SELECT key, window_at FROM keyturn_failures WHERE expires_at <= ? LIMIT ?)`,

		createVersionTable: `CREATE TABLE IF NOT EXISTS keyturn_schema_version (
			version    INTEGER NOT NULL PRIMARY KEY,
			applied_at BIGINT  NOT NULL
		)`,
		schemaVersion:   `SELECT COALESCE(MAX(version), 0) FROM keyturn_schema_version`,
		recordMigration: `INSERT INTO keyturn_schema_version (version, applied_at) VALUES (?, ?)`,
	}
	switch d {
	case SQLite:
		q.versionTableExists = `SELECT EXISTS (SELECT 1 FROM sqlite_master
			WHERE type = 'table' AND name = 'keyturn_schema_version')`
	case Postgres:
		// to_regclass resolves the name through search_path, as the other
		// statements do.
		q.versionTableExists = `SELECT to_regclass('keyturn_schema_version') IS NOT NULL`
	}
	for _, p := range []*string{
		&q.createKey, &q.key, &q.keysFirst, &q.keysAfter, &q.revokeKey,
		&q.rotateKey, &q.touchKey, &q.keyExists, &q.replaceKeyJWKS,
		&q.useOnce, &q.addFailure, &q.sweepUsed, &q.sweepFailures,
		&q.addSigningKey, &q.signingKeys, &q.retireSigningKey, &q.deleteSigningKey,
		&q.replaceSigningKeyPrivate, &q.signingKeyExists, &q.initSetting, &q.setting,
		&q.addRevocation, &q.revocationsSince,
		&q.addOpaqueToken, &q.opaqueToken,
		&q.sweepOpaqueTokens, &q.sweepRevocations, &q.sweepSigningKeys,
		&q.versionTableExists, &q.createVersionTable, &q.schemaVersion, &q.recordMigration,
	} {
		*p = rebind(d, *p)
	}
	return q
}
