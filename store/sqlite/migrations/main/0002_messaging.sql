-- Messaging: key packages, conversations, per-device queues, blobs.
-- Times are UTC unix nanoseconds. Flags are 0/1 integers.

-- One row per device: last_cursor is the last cursor assigned to its
-- queue (cursors are per device, never global), queued how many envelopes
-- it holds, key_packages how many one-time key packages it has.
CREATE TABLE device_counters (
	device_id    TEXT    PRIMARY KEY REFERENCES devices (id) ON DELETE CASCADE,
	last_cursor  INTEGER NOT NULL DEFAULT 0,
	queued       INTEGER NOT NULL DEFAULT 0,
	key_packages INTEGER NOT NULL DEFAULT 0
) STRICT;

CREATE TABLE key_packages (
	ref         BLOB    PRIMARY KEY,
	user_id     TEXT    NOT NULL REFERENCES users (id) ON DELETE CASCADE,
	device_id   TEXT    NOT NULL REFERENCES devices (id) ON DELETE CASCADE,
	data        BLOB    NOT NULL,
	last_resort INTEGER NOT NULL,
	created_ns  INTEGER NOT NULL
) STRICT;

CREATE INDEX key_packages_by_device ON key_packages (device_id, last_resort, created_ns);
CREATE UNIQUE INDEX key_packages_one_last_resort ON key_packages (device_id) WHERE last_resort = 1;

CREATE TABLE conversations (
	id         TEXT    PRIMARY KEY,
	group_id   BLOB    NOT NULL UNIQUE,
	kind       INTEGER NOT NULL,
	epoch      INTEGER NOT NULL,
	created_ns INTEGER NOT NULL
) STRICT;

CREATE TABLE conversation_members (
	conversation_id TEXT NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
	device_id       TEXT NOT NULL REFERENCES devices (id) ON DELETE CASCADE,
	PRIMARY KEY (conversation_id, device_id)
) STRICT;

CREATE INDEX conversation_members_by_device ON conversation_members (device_id);

-- A message is stored once and queued for each recipient device.
CREATE TABLE messages (
	id                TEXT    PRIMARY KEY,
	conversation_id   TEXT    NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
	sender_device_id  TEXT    NOT NULL,
	client_message_id BLOB,
	kind              INTEGER NOT NULL,
	epoch             INTEGER NOT NULL,
	payload           BLOB    NOT NULL,
	created_ns        INTEGER NOT NULL
) STRICT;

CREATE UNIQUE INDEX messages_idempotency ON messages (sender_device_id, client_message_id);
CREATE INDEX messages_by_conversation ON messages (conversation_id);

CREATE TABLE queue (
	device_id  TEXT    NOT NULL REFERENCES devices (id) ON DELETE CASCADE,
	cursor     INTEGER NOT NULL,
	message_id TEXT    NOT NULL REFERENCES messages (id) ON DELETE CASCADE,
	PRIMARY KEY (device_id, cursor)
) STRICT;

CREATE INDEX queue_by_message ON queue (message_id);

CREATE TABLE blobs (
	id              TEXT    PRIMARY KEY,
	conversation_id TEXT    NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
	user_id         TEXT    NOT NULL REFERENCES users (id) ON DELETE CASCADE,
	size            INTEGER NOT NULL,
	created_ns      INTEGER NOT NULL
) STRICT;

CREATE INDEX blobs_by_user ON blobs (user_id);

CREATE TABLE blob_usage (
	user_id TEXT    PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
	bytes   INTEGER NOT NULL
) STRICT;
