-- Personal-data lifecycle: optional contact attributes, the username
-- quarantine after a withdrawal, and anonymous aggregate counters.

-- A phone number or email address of a user, sealed under the user's data
-- key. blind_index is the keyed blind index of the normalised value under
-- the blind-index key named index_key, for later contact matching.
CREATE TABLE contacts (
	user_id     TEXT    NOT NULL REFERENCES users (id) ON DELETE CASCADE,
	kind        TEXT    NOT NULL CHECK (kind IN ('phone', 'email')),
	value_enc   BLOB    NOT NULL,
	blind_index BLOB    NOT NULL,
	index_key   TEXT    NOT NULL,
	set_ns      INTEGER NOT NULL,
	PRIMARY KEY (user_id, kind)
) STRICT;

CREATE INDEX contacts_by_index ON contacts (kind, blind_index);

-- The blind index of a withdrawn username and when it was withdrawn; the
-- name itself is never stored. Rows older than the quarantine are purged.
CREATE TABLE withdrawn_usernames (
	username_index BLOB    PRIMARY KEY,
	withdrawn_ns   INTEGER NOT NULL
) STRICT;

-- Anonymous aggregate counters (e.g. withdrawals): a name and a number.
CREATE TABLE lifecycle_counters (
	name  TEXT    PRIMARY KEY,
	value INTEGER NOT NULL
) STRICT;

CREATE INDEX messages_by_created ON messages (created_ns);
CREATE INDEX blobs_by_created ON blobs (created_ns);
CREATE INDEX devices_by_last_seen ON devices (last_seen_ns);
CREATE INDEX sessions_by_expiry ON sessions (expires_ns);
