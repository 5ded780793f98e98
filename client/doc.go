// Package client is Sealine's Go SDK: it registers accounts, logs devices in
// and out, and manages an account's devices over the v1 API
// (api/sealine/v1) using Connect over HTTP/2 and TLS 1.3 only.
//
// # Transport
//
// Every request goes to an https:// server URL; plain http:// is refused
// before any connection is made. The TLS configuration pins MinVersion to
// TLS 1.3 and trusts Config.CAPEM when it is set (for example the
// self-signed certificate that `sealine serve` writes to
// <data-dir>/tls/cert.pem), otherwise the system roots.
//
// # Local state
//
// A client keeps one device session in its home directory (mode 0700):
//
//	<home>/session.json   mode 0600: server URL, user id, device id,
//	                      username, bearer token, expiry (JSON, version 1)
//	<home>/device.key     mode 0600: the device's Ed25519 private key,
//	                      PKCS #8 in a PEM "PRIVATE KEY" block
//
// Register and Login generate a fresh Ed25519 key pair for the new device,
// send only its public half to the server, and write both files after the
// server accepts. Logout, and any call the server refuses because the
// session was revoked or expired, delete both files: a revoked device's key
// has no further use. State files readable by other users are refused, and
// so is a home directory others can enter (checked before Register or Login
// sends anything).
//
// # Messaging
//
// Client.Messenger opens this device's end-to-end encrypted messaging.
// Every conversation, direct or group, is one MLS group (RFC 9420, package
// mls) whose members are devices. A device's MLS credential is a
// BasicCredential "<user_id>/<device_id>" and its MLS signature key is
// its registered Ed25519 device key; suite 1 is the default, 0x004D
// (X-Wing) is available through MessengerConfig.Suite. Messenger keeps
// one-time and last-resort KeyPackages topped up on the server.
//
// Local state lives in <home>/messages.db (package client/localstore):
// each conversation's MLS state, the KeyPackage private keys, the message
// history and the per-sender sequence tracking, every secret and body
// sealed with XChaCha20-Poly1305 under the storage key (<home>/storage.key,
// or Argon2id of MessengerConfig.Passphrase).
//
// Inside each MLS application message travels a versioned Content
// (content.go): text, receipt, typing, attachment metadata or an epoch
// check, with a time-ordered message id, the sender's clock and a per-epoch
// sequence number. The receive loop (Run, or Sync) reads the device's
// queue in cursor order, joins from Welcomes, applies commits, decrypts
// application messages, commits the local state with the cursor and only
// then acknowledges. What an honest server never does, a dishonest one
// is caught doing (guard.go): a replayed, dropped or reordered message, a
// forked group (members shown different commits) and a third user's
// device in a direct conversation each raise a SecurityWarning event.
// SyncOwnDevices adds the account's new devices to every conversation and
// removes revoked ones, so remote logout also ends access to new messages.
//
// # Errors
//
// Server refusals carry a stable reason (sealinev1.ErrorDetail). They come
// back as *Error, which matches the sentinel errors below with errors.Is
// (ErrBadCredentials, ErrLockedOut, ErrSessionInvalid, ...) and carries
// RetryAfter for lockouts and rate limits. The package never logs and never
// imports the server or store packages.
package client
