// Package localstore keeps a Sealine client's messaging state in one SQLite
// file, <home>/messages.db (mode 0600), with every secret and every message
// body encrypted under the device's storage key.
//
// # Storage key
//
// The 32-byte storage key comes from one of two sources, fixed when the
// database is created and recorded in the meta table:
//
//	file       <home>/storage.key, 32 random bytes, mode 0600
//	argon2id   Argon2id(passphrase, salt, t, m, p) with the salt and
//	           parameters in the meta table; the key is never written
//
// Opening with the wrong passphrase, or without one when the database was
// created with one, fails with ErrWrongKey or ErrPassphraseRequired before
// anything is read: a check value sealed at creation must open.
//
// # Sealed columns
//
// A sealed column holds
//
//	version 0x01 | nonce [24] | XChaCha20-Poly1305(key, nonce, value, ad)
//	ad = "sealine/v1/localstore" 0x00 table 0x00 row id 0x00 column
//
// so a ciphertext moved to another row, column or table does not open
// (ErrCorrupt): someone who can write the file cannot swap one
// conversation's state or one message's body for another's.
//
// # Tables
//
//	meta          key -> value (schema version, key source, KDF salt and
//	              parameters, key check value, the delivery cursor)
//	groups        one row per conversation: MLS group id, kind, peer user,
//	              epoch, own send counters; sealed: name, MLS state
//	key_packages  KeyPackage reference -> sealed private keys
//	messages      (conversation, message id) -> sender, times, kind;
//	              sealed: body
//	senders       (conversation, sender device) -> epoch, highest sequence seen
//	              and the sequences still missing (for replay and gap
//	              detection)
//	user_names    user id -> sealed username, learned from key package
//	              claims and LookupUsers; found by name through a keyed
//	              index, HMAC-SHA256 under a key derived from the storage
//	              key (databases that kept usernames in plaintext, table
//	              users, are migrated on open)
//
// Deleted rows are overwritten (PRAGMA secure_delete), so a deleted key
// package or group state does not linger in free pages. The package never
// logs and takes its clock and randomness from Options.
//
// # One process
//
// A Store locks the file from Open to Close (SQLite's exclusive locking
// mode); a second Open, from any process, fails with ErrInUse. Two
// processes would each hold the MLS states in memory and save them in
// turn, rolling back the keys the other consumed, so that a key could
// encrypt twice. The lock also spares every transaction its file locks.
//
// # Writes
//
// Every transaction commits with a WAL fsync (synchronous=FULL): a
// committed send counter or consumed key survives a crash. The messages
// a transaction stores (Tx.QueueMessage) are written several rows per
// statement before its next statement or its commit: INSERT OR IGNORE
// (no statement journal), prepared on the driver connection the Store
// holds from Open to Close and run there (no per-argument copies by
// database/sql).
package localstore
