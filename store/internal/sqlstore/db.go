// Package sqlstore is the one implementation of store.Store shared by the
// SQLite and PostgreSQL backends.
//
// Every statement here is written once, with $N placeholders, and runs
// unchanged on both databases, so a race is decided by the same SQL
// everywhere: a conditional UPDATE, INSERT … ON CONFLICT DO NOTHING, or
// UPDATE … RETURNING, inside one transaction when several rows change
// together. A backend supplies only a DB: its driver, its connection
// discipline (SQLite's single writer, PostgreSQL's pool) and the mapping of
// its driver errors onto store.ErrNotFound and store.ErrConflict.
//
// Times are stored as BIGINT UTC unix nanoseconds, with 0 meaning the zero
// time, so both backends round-trip a time.Time exactly. The package never
// logs: records hold personal fields only as ciphertext, and the store has
// nothing to say about them.
package sqlstore

import "context"

// Querier runs statements with $N placeholders. Errors it returns are
// already mapped by the backend: a missing row or a foreign key violation
// wraps store.ErrNotFound, a unique violation wraps store.ErrConflict.
type Querier interface {
	// Exec runs a statement and returns the number of rows it changed.
	Exec(ctx context.Context, query string, args ...any) (int64, error)
	// QueryRow runs a query expected to return at most one row.
	QueryRow(ctx context.Context, query string, args ...any) Row
	// Query runs a query returning any number of rows.
	Query(ctx context.Context, query string, args ...any) (Rows, error)
}

// Row is one result row; Scan wraps store.ErrNotFound when there is none.
type Row interface {
	Scan(dest ...any) error
}

// Rows iterates over a result set.
type Rows interface {
	Next() bool
	Scan(dest ...any) error
	Err() error
	Close()
}

// DB is what a backend provides.
type DB interface {
	// Reader runs read-only statements.
	Reader() Querier
	// Writer runs single-statement writes outside a transaction.
	Writer() Querier
	// Tx runs fn in a write transaction, committed when fn returns nil and
	// rolled back otherwise.
	Tx(ctx context.Context, fn func(q Querier) error) error
	// Close releases every connection.
	Close() error
}
