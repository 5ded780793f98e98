-- Accounts, devices and sessions. Times are UTC unix nanoseconds, 0 = unset.
-- Personal fields (*_enc) are ciphertext sealed by the server.
CREATE TABLE users (
	id               TEXT    PRIMARY KEY,
	username_index   BYTEA   NOT NULL UNIQUE,
	username_enc     BYTEA   NOT NULL,
	display_name_enc BYTEA   NOT NULL,
	password_hash    TEXT    NOT NULL,
	created_ns       BIGINT  NOT NULL,
	failed_logins    BIGINT  NOT NULL DEFAULT 0,
	locked_until_ns  BIGINT  NOT NULL DEFAULT 0
);

CREATE TABLE devices (
	id            TEXT    PRIMARY KEY,
	user_id       TEXT    NOT NULL REFERENCES users (id) ON DELETE CASCADE,
	name_enc      BYTEA   NOT NULL,
	signature_key BYTEA   NOT NULL,
	created_ns    BIGINT  NOT NULL,
	last_seen_ns  BIGINT  NOT NULL
);

CREATE INDEX devices_by_user ON devices (user_id, created_ns);

CREATE TABLE sessions (
	token_hash BYTEA   PRIMARY KEY,
	user_id    TEXT    NOT NULL REFERENCES users (id) ON DELETE CASCADE,
	device_id  TEXT    NOT NULL REFERENCES devices (id) ON DELETE CASCADE,
	created_ns BIGINT  NOT NULL,
	expires_ns BIGINT  NOT NULL
);

CREATE INDEX sessions_by_device ON sessions (device_id);
CREATE INDEX sessions_by_user ON sessions (user_id);
