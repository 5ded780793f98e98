-- Fewer B-trees for a post and its ack to write (SQLite only; PostgreSQL
-- keeps its schema):
--
-- messages_by_created goes: the purge finds old messages by scanning the
-- table in rowid order, which is insertion order, so old rows come first.
--
-- queue becomes WITHOUT ROWID, keyed by (device_id, cursor): one B-tree
-- instead of a rowid table plus its primary-key index, and an ack reads
-- the message ids of a device's range from that one index. Its message_id
-- no longer references messages: the ack deletes a message once no queue
-- row names it, in the same transaction (sqlstore ackAll), and deleting a
-- conversation deletes its messages' queue rows first (dropEmpty), which
-- is what the cascade did; each message delete no longer searches
-- queue_by_message twice for the cascade, nor each queue insert messages.
--
-- The rebuild renames the old table away, copies its rows and drops it;
-- no table references queue, so the drop cascades nowhere.
DROP INDEX messages_by_created;

ALTER TABLE queue RENAME TO queue_old;

CREATE TABLE queue (
	device_id  TEXT    NOT NULL REFERENCES devices (id) ON DELETE CASCADE,
	cursor     INTEGER NOT NULL,
	message_id TEXT    NOT NULL,
	PRIMARY KEY (device_id, cursor)
) STRICT, WITHOUT ROWID;

INSERT INTO queue (device_id, cursor, message_id) SELECT device_id, cursor, message_id FROM queue_old;

DROP TABLE queue_old;

CREATE INDEX queue_by_message ON queue (message_id);
