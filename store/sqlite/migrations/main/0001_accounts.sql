-- Accounts, devices and sessions. Times are UTC unix nanoseconds, 0 = unset.
-- Personal fields (*_enc) are ciphertext sealed by the server.
CREATE TABLE users (
	id               TEXT    PRIMARY KEY,
	username_index   BLOB    NOT NULL UNIQUE,
	username_enc     BLOB    NOT NULL,
	display_name_enc BLOB    NOT NULL,
	password_hash    TEXT    NOT NULL,
	created_ns       INTEGER NOT NULL,
	failed_logins    INTEGER NOT NULL DEFAULT 0,
	locked_until_ns  INTEGER NOT NULL DEFAULT 0
) STRICT;

CREATE TABLE devices (
	id            TEXT    PRIMARY KEY,
	user_id       TEXT    NOT NULL REFERENCES users (id) ON DELETE CASCADE,
	name_enc      BLOB    NOT NULL,
	signature_key BLOB    NOT NULL,
	created_ns    INTEGER NOT NULL,
	last_seen_ns  INTEGER NOT NULL
) STRICT;

CREATE INDEX devices_by_user ON devices (user_id, created_ns);

CREATE TABLE sessions (
	token_hash BLOB    PRIMARY KEY,
	user_id    TEXT    NOT NULL REFERENCES users (id) ON DELETE CASCADE,
	device_id  TEXT    NOT NULL REFERENCES devices (id) ON DELETE CASCADE,
	created_ns INTEGER NOT NULL,
	expires_ns INTEGER NOT NULL
) STRICT;

CREATE INDEX sessions_by_device ON sessions (device_id);
CREATE INDEX sessions_by_user ON sessions (user_id);
