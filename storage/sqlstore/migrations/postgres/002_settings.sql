-- keyturn schema version 2, PostgreSQL: settings fixed once for the life of
-- the store (storage.SettingStore), such as the fingerprint of the pepper.

CREATE TABLE keyturn_settings (
	name  TEXT COLLATE "C" NOT NULL PRIMARY KEY,
	value BYTEA NOT NULL
);
