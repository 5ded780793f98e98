// Package store defines Sealine's storage interfaces, records and errors.
//
// Every backend (store/sqlite, store/postgres) implements Store and passes the
// one conformance suite in store/storetest. Records hold personal fields only
// as ciphertext produced by the server (see server's pii envelope): a backend
// never sees a username, display name or device name in plaintext. Lookups by
// username go through a keyed blind index computed by the server.
//
// Races are decided inside one SQL statement that reads the same on SQLite and
// PostgreSQL (conditional UPDATE, INSERT … ON CONFLICT, UPDATE … RETURNING),
// so several server nodes can share one PostgreSQL database.
//
// Wrapped per-user data keys live behind their own interface, KeyStore, in
// their own tables, which the backends keep apart from the data (SQLite: a
// separate file; PostgreSQL: a separate schema), so that deleting a key
// crypto-shreds a user's data in every backup of the data.
package store

import (
	"context"
	"errors"
	"time"
)

// Sentinel errors that callers branch on.
var (
	// ErrNotFound: no such record (or it was revoked/deleted).
	ErrNotFound = errors.New("store: not found")
	// ErrConflict: a unique value is already taken (username index, device id).
	ErrConflict = errors.New("store: conflict")
	// ErrSchemaTooNew: the database was migrated by a newer binary.
	ErrSchemaTooNew = errors.New("store: database schema is newer than this binary understands")
	// ErrClosed: the store was closed.
	ErrClosed = errors.New("store: closed")
)

// Store is a storage backend. It is safe for concurrent use.
type Store interface {
	Users
	Devices
	Sessions
	Messaging
	Lifecycle
	// Keys returns the key store holding wrapped per-user data keys.
	Keys() KeyStore
	// Ping reports whether the backend is reachable and migrated.
	Ping(ctx context.Context) error
	// Kind names the backend for logs and the start line: "sqlite" or "postgres".
	Kind() string
	Close() error
}

// User is an account. Personal fields are ciphertext under the user's data key.
type User struct {
	ID string // random, opaque; never reused
	// UsernameIndex is the keyed blind index of the normalised username.
	UsernameIndex []byte
	// UsernameEnc and DisplayNameEnc are sealed by the server's pii package.
	UsernameEnc    []byte
	DisplayNameEnc []byte
	// PasswordHash is the encoded Argon2id hash, parameters included.
	PasswordHash string
	CreatedAt    time.Time
	// FailedLogins counts consecutive failed logins since the last success.
	FailedLogins int
	// LockedUntil is the end of the current lockout (zero when not locked).
	LockedUntil time.Time
}

// Device is one logged-in device of a user.
type Device struct {
	ID           string
	UserID       string
	NameEnc      []byte // sealed device name
	SignatureKey []byte // Ed25519 public key, 32 bytes
	CreatedAt    time.Time
	LastSeenAt   time.Time
}

// Session is a device's bearer session. Only the token's hash is stored.
type Session struct {
	TokenHash []byte // SHA-256 of the token
	UserID    string
	DeviceID  string
	CreatedAt time.Time
	ExpiresAt time.Time
}

// Users stores accounts.
type Users interface {
	// CreateUser inserts u with its first device d and session s in one
	// transaction; ErrConflict if u.UsernameIndex is taken (nothing written).
	CreateUser(ctx context.Context, u User, d Device, s Session) error
	// UserByID returns the user or ErrNotFound.
	UserByID(ctx context.Context, id string) (User, error)
	// UserByUsernameIndex returns the user or ErrNotFound.
	UserByUsernameIndex(ctx context.Context, index []byte) (User, error)
	// SetPasswordHash replaces the stored hash (re-hash on login).
	SetPasswordHash(ctx context.Context, userID, hash string) error
	// RecordLoginFailure adds one failed login in a single statement. When the
	// count reaches max, LockedUntil becomes lockUntil. It returns the new
	// count and lockout end.
	RecordLoginFailure(ctx context.Context, userID string, max int, lockUntil time.Time) (failures int, lockedUntil time.Time, err error)
	// ResetLoginFailures clears the count and any lockout after a success.
	ResetLoginFailures(ctx context.Context, userID string) error
}

// Devices stores devices; a device and its first session are created together.
type Devices interface {
	// CreateDevice inserts d and its session s in one transaction.
	CreateDevice(ctx context.Context, d Device, s Session) error
	// ListDevices returns the user's devices, oldest first.
	ListDevices(ctx context.Context, userID string) ([]Device, error)
	// Device returns one device of the user, or ErrNotFound.
	Device(ctx context.Context, userID, deviceID string) (Device, error)
	// RevokeDevice deletes the device and all its sessions in one
	// transaction; ErrNotFound if the user has no such device.
	RevokeDevice(ctx context.Context, userID, deviceID string) error
	// TouchDevice sets LastSeenAt to at if at is later than the stored value.
	TouchDevice(ctx context.Context, deviceID string, at time.Time) error
	// ChangePassword sets the new hash and revokes every device of the user
	// except keepDeviceID, in one transaction. It returns how many devices
	// were revoked.
	ChangePassword(ctx context.Context, userID, hash, keepDeviceID string) (revoked int, err error)
}

// Sessions looks up bearer sessions.
type Sessions interface {
	// SessionByTokenHash returns the session, or ErrNotFound when there is
	// none or it expired before now.
	SessionByTokenHash(ctx context.Context, tokenHash []byte, now time.Time) (Session, error)
}

// WrappedKey is a per-user data key encrypted under a server key-encryption key.
type WrappedKey struct {
	UserID     string
	KEKID      string // which KEK wrapped it
	Ciphertext []byte
	CreatedAt  time.Time
}

// Rewrap is one key of a KEK rotation: the key wrapped anew, and the KEK
// that wrapped it before.
type Rewrap struct {
	Key      WrappedKey
	OldKEKID string
}

// KeyStore holds wrapped per-user data keys, apart from the data they protect.
type KeyStore interface {
	// PutKey stores k; ErrConflict if the user already has a key.
	PutKey(ctx context.Context, k WrappedKey) error
	// Key returns the user's wrapped key, or ErrNotFound (e.g. destroyed).
	Key(ctx context.Context, userID string) (WrappedKey, error)
	// DeleteKey destroys the user's key; ErrNotFound if there is none.
	DeleteKey(ctx context.Context, userID string) error
	// KeysNotWrappedBy returns up to limit keys wrapped by another KEK
	// than kekID, ordered by user id, for a key rotation.
	KeysNotWrappedBy(ctx context.Context, kekID string, limit int) ([]WrappedKey, error)
	// Rewrap replaces each key of the batch, in one transaction, with one
	// conditional UPDATE each: only if it is still wrapped by its OldKEKID.
	// A key deleted meanwhile or already rewrapped (another node) is
	// skipped. It returns how many keys it replaced.
	Rewrap(ctx context.Context, batch []Rewrap) (int64, error)
	// CountKeys counts all keys and those wrapped by kekID.
	CountKeys(ctx context.Context, kekID string) (total, wrappedBy int64, err error)
}
