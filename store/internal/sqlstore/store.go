package sqlstore

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/sealine/sealine/store"
)

// Store implements store.Store over a backend's DB.
type Store struct {
	kind   string
	db     DB
	sets   []MigrationSet
	closed atomic.Bool
}

var _ store.Store = (*Store)(nil)

// New returns a Store over db, already migrated with sets. kind names the
// backend ("sqlite", "postgres").
func New(kind string, db DB, sets ...MigrationSet) *Store {
	return &Store{kind: kind, db: db, sets: sets}
}

// Kind names the backend.
func (s *Store) Kind() string { return s.kind }

// Keys returns the key store, which lives in its own keys_* tables.
func (s *Store) Keys() store.KeyStore { return keyStore{s} }

// Close releases the backend's connections. Later calls return nil; every
// other method returns store.ErrClosed after Close.
func (s *Store) Close() error {
	if s.closed.Swap(true) {
		return nil
	}
	return s.db.Close()
}

// Ping checks that the database answers and is at the schema version this
// binary knows; a newer version (another node upgraded) wraps
// store.ErrSchemaTooNew.
func (s *Store) Ping(ctx context.Context) error {
	if err := s.check(); err != nil {
		return err
	}
	for _, set := range s.sets {
		have, err := readVersion(ctx, s.db.Reader(), set.Table)
		if err != nil {
			return fmt.Errorf("ping: %w", err)
		}
		if err := set.compare(have); err != nil {
			return err
		}
		if have != set.Latest() {
			return fmt.Errorf("ping: %s is at version %d, want %d", set.Table, have, set.Latest())
		}
	}
	return nil
}

// check returns store.ErrClosed once Close was called.
func (s *Store) check() error {
	if s.closed.Load() {
		return store.ErrClosed
	}
	return nil
}

// tx runs fn in a write transaction after the closed check.
func (s *Store) tx(ctx context.Context, fn func(q Querier) error) error {
	if err := s.check(); err != nil {
		return err
	}
	return s.db.Tx(ctx, fn)
}

// reader returns the read querier, or store.ErrClosed.
func (s *Store) reader() (Querier, error) {
	if err := s.check(); err != nil {
		return nil, err
	}
	return s.db.Reader(), nil
}

// writer returns the single-statement write querier, or store.ErrClosed.
func (s *Store) writer() (Querier, error) {
	if err := s.check(); err != nil {
		return nil, err
	}
	return s.db.Writer(), nil
}

// errMismatch reports records that do not belong together.
var errMismatch = errors.New("store: records do not belong together")

// mustChange turns "no row changed" into store.ErrNotFound.
func mustChange(n int64, err error) error {
	if err != nil {
		return err
	}
	if n == 0 {
		return store.ErrNotFound
	}
	return nil
}

// unixNano stores t as UTC unix nanoseconds, the zero time as 0.
func unixNano(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixNano()
}

// fromUnixNano is the inverse of unixNano.
func fromUnixNano(ns int64) time.Time {
	if ns == 0 {
		return time.Time{}
	}
	return time.Unix(0, ns).UTC()
}

// blob keeps a nil slice from becoming NULL in a NOT NULL column.
func blob(b []byte) []byte {
	if b == nil {
		return []byte{}
	}
	return b
}
