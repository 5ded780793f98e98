package store

import (
	"context"
	"time"
)

// Personal-data lifecycle: optional contact attributes, withdrawal and
// retention.
//
// A withdrawal deletes the user row in one transaction; foreign keys with
// ON DELETE CASCADE take its devices, sessions, key packages, queue
// entries, conversation memberships, blob records and contact attributes
// with it. Messages the user sent that still wait in other devices' queues
// stay for their recipients (they are MLS ciphertext) but lose their
// sender device id and client message id. The username's blind index and
// the time are kept for the quarantine; the name itself never is.

// ContactKind names a contact attribute.
type ContactKind string

// Contact kinds.
const (
	ContactPhone ContactKind = "phone"
	ContactEmail ContactKind = "email"
)

// Contact is one optional contact attribute of a user, sealed by the
// server under the user's data key.
type Contact struct {
	UserID   string
	Kind     ContactKind
	ValueEnc []byte
	// BlindIndex is the keyed blind index of the normalised value, made
	// with the blind-index key named IndexKey.
	BlindIndex []byte
	IndexKey   string
	SetAt      time.Time
}

// Withdrawal describes an account to delete.
type Withdrawal struct {
	UserID string
	// UsernameIndex is kept with At for the username quarantine.
	UsernameIndex []byte
	At            time.Time
}

// WithdrawalResult counts what a withdrawal removed.
type WithdrawalResult struct {
	Devices, Sessions, KeyPackages, Queued, Blobs, Conversations int64
}

// PurgeKind names a kind of data with a retention period.
type PurgeKind string

// Purge kinds. Each deletes rows older than the cutoff given to Purge.
const (
	// PurgeQueued: undelivered queued messages created before the cutoff.
	PurgeQueued PurgeKind = "queued_messages"
	// PurgeBlobs: blob records created before the cutoff (the caller
	// deletes their bytes; see ExpiredBlobs).
	PurgeBlobs PurgeKind = "blobs"
	// PurgeSessions: devices not seen since the cutoff, with their
	// sessions, and sessions that expired before it.
	PurgeSessions PurgeKind = "inactive_sessions"
	// PurgeQuarantine: withdrawn-username entries older than the cutoff.
	PurgeQuarantine PurgeKind = "withdrawn_usernames"
)

// Lifecycle stores contact attributes, withdrawals and retention.
type Lifecycle interface {
	// SetContact inserts or replaces the user's contact of c.Kind;
	// ErrNotFound when the user does not exist.
	SetContact(ctx context.Context, c Contact) error
	// ClearContact deletes the user's contact of kind; ErrNotFound when
	// none is set.
	ClearContact(ctx context.Context, userID string, kind ContactKind) error
	// Contacts returns the user's contacts, phone before email.
	Contacts(ctx context.Context, userID string) ([]Contact, error)
	// UsersByContact returns the ids of users whose contact of kind has
	// the blind index, sorted.
	UsersByContact(ctx context.Context, kind ContactKind, index []byte) ([]string, error)
	// UserIDs lists up to limit user ids greater than after, in order.
	UserIDs(ctx context.Context, after string, limit int) ([]string, error)
	// BlobsOf lists the ids of the blobs the user uploaded.
	BlobsOf(ctx context.Context, userID string) ([]string, error)
	// DeleteUser withdraws w.UserID in one transaction: it records the
	// quarantine entry, counts the withdrawal, deletes the user with
	// everything that refers to it, and deletes conversations left without
	// members. ErrNotFound when there is no such user (nothing written).
	DeleteUser(ctx context.Context, w Withdrawal) (WithdrawalResult, error)
	// WithdrawnAt returns when the username with this blind index was
	// withdrawn, or ErrNotFound.
	WithdrawnAt(ctx context.Context, usernameIndex []byte) (time.Time, error)
	// Counter returns an anonymous aggregate counter (0 when unset).
	Counter(ctx context.Context, name string) (int64, error)
	// ExpiredBlobs lists up to limit blob ids created before cutoff,
	// oldest first, so the caller deletes their bytes before Purge.
	ExpiredBlobs(ctx context.Context, cutoff time.Time, limit int) ([]string, error)
	// Purge deletes up to limit rows of kind older than cutoff, in one
	// transaction, keeping queue and quota counters exact, and returns
	// how many it deleted. Several nodes may purge at once: each row is
	// deleted once, and a repeated purge deletes nothing more.
	Purge(ctx context.Context, kind PurgeKind, cutoff time.Time, limit int) (int64, error)
}
