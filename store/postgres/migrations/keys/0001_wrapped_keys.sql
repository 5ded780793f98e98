-- Wrapped per-user data keys. No other table references these, and they
-- reference none, so the key store can move to its own database file.
CREATE TABLE keys_wrapped (
	user_id    TEXT    PRIMARY KEY,
	kek_id     TEXT    NOT NULL,
	ciphertext BYTEA   NOT NULL,
	created_ns BIGINT  NOT NULL
);
