// Package sqlite is Sealine's embedded storage backend: one SQLite file,
// opened with modernc.org/sqlite (pure Go, no cgo).
//
// The file runs in WAL mode with synchronous=FULL, so a write that returned
// survives a power cut, and with foreign keys on. All writes go through one
// connection (SQLite allows one writer at a time; queueing in Go instead of
// retrying on SQLITE_BUSY keeps latency flat), and every write transaction
// begins IMMEDIATE so it holds the write lock from its first statement.
// Reads use a separate pool of query_only connections, which WAL lets run
// beside the writer. secure_delete is on, so a deleted row (a destroyed
// data key, above all) is overwritten in the file rather than left in a
// free page.
//
// The file and its -wal and -shm companions are created with mode 0600.
// Migrations are embedded and applied at Open in one transaction; the key
// store's keys_* tables have their own version table so they can later move
// to a separate file. The backend never logs.
package sqlite

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/sealine/sealine/store/internal/sqlstore"

	_ "modernc.org/sqlite" // registers the "sqlite" database/sql driver
)

// ErrNotDatabase: the file exists but is not a Sealine database: not
// SQLite at all, or another application's SQLite file.
var ErrNotDatabase = errors.New("sqlite: file is not a Sealine database")

// Options tune the backend; the zero value works.
type Options struct {
	// ReadConns is the size of the read pool; 0 means 4.
	ReadConns int
	// BusyTimeout is how long a statement waits for a lock held by another
	// process before failing; 0 means 5 seconds.
	BusyTimeout time.Duration
	// KeysPath, when set, keeps the key store (wrapped data keys) in its
	// own SQLite file there, apart from the data; keys found in the data
	// file are moved into it at Open. "" keeps them in the data file.
	KeysPath string
}

// Store is an SQLite-backed store.Store.
type Store struct {
	*sqlstore.Store
	pools *pools
	keys  *keyFile // nil: the key store is in the data file
}

//go:embed migrations
var migrations embed.FS

// Open opens (creating if needed) the database at path and migrates it. A
// database migrated by a newer binary gives an error wrapping
// store.ErrSchemaTooNew; a file that is not SQLite gives ErrNotDatabase.
func Open(ctx context.Context, path string, opts Options) (*Store, error) {
	sets, err := migrationSets()
	if err != nil {
		return nil, fmt.Errorf("sqlite: %w", err)
	}
	db, err := openMigrated(ctx, path, opts, sets)
	if err != nil {
		return nil, fmt.Errorf("sqlite: open %s: %w", path, err)
	}
	s := &Store{Store: sqlstore.New("sqlite", db, sets...), pools: db}
	if opts.KeysPath != "" {
		if err := s.attachKeyFile(ctx, opts.KeysPath, opts, sets[1]); err != nil {
			db.Close()
			return nil, fmt.Errorf("sqlite: %w", err)
		}
	}
	return s, nil
}

// openMigrated opens the pools and migrates. Several processes opening
// one new file at once can get SQLITE_BUSY without SQLite's busy handler
// waiting (switching the journal to WAL takes an exclusive lock), so a
// busy open is retried until the busy timeout has passed.
func openMigrated(ctx context.Context, path string, opts Options, sets []sqlstore.MigrationSet) (*pools, error) {
	deadline := time.Now().Add(busyTimeout(opts))
	for delay := 5 * time.Millisecond; ; delay = min(2*delay, 200*time.Millisecond) {
		db, err := openDB(ctx, path, opts)
		if err == nil {
			err = db.Tx(ctx, func(q sqlstore.Querier) error {
				if err := refuseForeign(ctx, q); err != nil {
					return err
				}
				return sqlstore.Migrate(ctx, q, sets...)
			})
			if err == nil {
				return db, nil
			}
			db.Close()
		}
		if !isBusy(err) || time.Now().Add(delay).After(deadline) {
			return nil, err
		}
		select {
		case <-time.After(delay):
		case <-ctx.Done():
			return nil, errors.Join(err, ctx.Err())
		}
	}
}

func busyTimeout(opts Options) time.Duration {
	if opts.BusyTimeout > 0 {
		return opts.BusyTimeout
	}
	return 5 * time.Second
}

// refuseForeign refuses an SQLite file that holds tables but no Sealine
// version table, so a mistyped path never migrates another program's data.
func refuseForeign(ctx context.Context, q sqlstore.Querier) error {
	var ours, others int64
	err := q.QueryRow(ctx, `SELECT
			count(*) FILTER (WHERE name IN ('schema_version', 'keys_schema_version')),
			count(*) FILTER (WHERE name NOT IN ('schema_version', 'keys_schema_version'))
		FROM sqlite_schema WHERE type = 'table' AND name NOT LIKE 'sqlite_%'`).Scan(&ours, &others)
	if err != nil {
		return fmt.Errorf("read schema: %w", err)
	}
	if ours == 0 && others > 0 {
		return fmt.Errorf("%w: it holds %d tables of another application", ErrNotDatabase, others)
	}
	return nil
}

func migrationSets() ([]sqlstore.MigrationSet, error) {
	var sets []sqlstore.MigrationSet
	for _, s := range []struct{ dir, table string }{
		{"migrations/main", "schema_version"},
		{"migrations/keys", "keys_schema_version"},
	} {
		sub, err := fs.Sub(migrations, s.dir)
		if err != nil {
			return nil, err
		}
		set, err := sqlstore.LoadMigrations(sub, s.table)
		if err != nil {
			return nil, err
		}
		sets = append(sets, set)
	}
	return sets, nil
}

// openDB creates the file with mode 0600 and opens the writer and the read
// pool.
func openDB(ctx context.Context, path string, opts Options) (*pools, error) {
	if path == "" {
		return nil, errors.New("empty path")
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, err
	}
	f, err := os.OpenFile(abs, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("create database file: %w", err)
	}
	f.Close()
	busy := busyTimeout(opts)
	readers := opts.ReadConns
	if readers <= 0 {
		readers = 4
	}
	w, err := openPool(ctx, dsn(abs, busy, true), 1)
	if err != nil {
		return nil, err
	}
	r, err := openPool(ctx, dsn(abs, busy, false), readers)
	if err != nil {
		w.Close()
		return nil, err
	}
	return newPools(w, r), nil
}

func openPool(ctx context.Context, dsn string, conns int) (*sql.DB, error) {
	p, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, err
	}
	p.SetMaxOpenConns(conns)
	p.SetMaxIdleConns(conns)
	if err := p.PingContext(ctx); err != nil {
		p.Close()
		return nil, classify(err)
	}
	return p, nil
}

// dsn builds a file: URI for the writer or for a reader.
func dsn(path string, busy time.Duration, writer bool) string {
	esc := strings.NewReplacer("%", "%25", "?", "%3f", "#", "%23").Replace(path)
	p := []string{
		"_pragma=busy_timeout(" + strconv.FormatInt(busy.Milliseconds(), 10) + ")",
		"_pragma=foreign_keys(1)",
		"_pragma=synchronous(FULL)",
	}
	if writer {
		// temp_store(MEMORY) keeps statement and savepoint journals (one
		// per post of a group-commit batch that is not an application
		// message) off temp files; it does not touch durability, which
		// the WAL and synchronous=FULL give.
		p = append(p, "_pragma=journal_mode(WAL)", "_pragma=secure_delete(1)", "_pragma=temp_store(MEMORY)",
			"_txlock=immediate")
	} else {
		p = append(p, "_pragma=query_only(1)")
	}
	return "file:" + esc + "?" + strings.Join(p, "&")
}
