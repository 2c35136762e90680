-- keyturn schema version 2, SQLite: settings fixed once for the life of the
-- store (storage.SettingStore), such as the fingerprint of the pepper.

CREATE TABLE keyturn_settings (
	name  TEXT NOT NULL PRIMARY KEY,
	value BLOB NOT NULL
) STRICT, WITHOUT ROWID;
