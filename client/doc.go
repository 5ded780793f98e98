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
// # Errors
//
// Server refusals carry a stable reason (sealinev1.ErrorDetail). They come
// back as *Error, which matches the sentinel errors below with errors.Is
// (ErrBadCredentials, ErrLockedOut, ErrSessionInvalid, ...) and carries
// RetryAfter for lockouts and rate limits. The package never logs and never
// imports the server or store packages.
package client
