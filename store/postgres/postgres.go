// Package postgres is Sealine's PostgreSQL storage backend, for deployments
// that outgrow one machine: several `sealine serve` nodes share one
// database through this package.
//
// It runs the same statements as the SQLite backend (store/internal/sqlstore)
// over a pgx connection pool. Every race is decided inside the database in
// one statement, so it stays correct with any number of nodes: INSERT … ON
// CONFLICT DO NOTHING for unique values, UPDATE … RETURNING for counters,
// conditional UPDATEs for monotonic values, and multi-row changes in one
// transaction.
//
// Migrations are embedded and applied at Open in one transaction holding
// pg_advisory_xact_lock, so nodes starting together migrate once, in turn.
// A database migrated by a newer binary is refused with an error wrapping
// store.ErrSchemaTooNew. The key store's tables carry the keys_ prefix and
// their own version table so they can later move to a separate database.
// Tables go into the first schema on the connection's search_path. The
// backend never logs, and errors never include the DSN's password.
package postgres

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/sealine/sealine/store/internal/sqlstore"
)

// migrationLockKey is the pg_advisory_xact_lock key that serialises
// migrations across nodes ("sealine" in ASCII, shifted into an int64).
const migrationLockKey = 0x7365616c696e65

// DefaultConnectTimeout bounds each connection attempt (TCP, TLS and the
// startup exchange) when the DSN sets no connect_timeout, so an unreachable
// database fails Open in bounded time instead of hanging.
const DefaultConnectTimeout = 10 * time.Second

// Options tune the backend; the zero value works.
type Options struct {
	// MaxConns bounds the connection pool; 0 means pgxpool's default
	// (the larger of 4 and the number of CPUs) or pool_max_conns in the DSN.
	MaxConns int32
	// KeysSchema, when set, keeps the key store (wrapped data keys) in
	// that schema, created if missing, apart from the data; keys found in
	// the data schema are moved there at Open. "" keeps them beside the
	// data, unless SeparateKeys asks for "<data schema>_keys".
	KeysSchema   string
	SeparateKeys bool
}

// Store is a PostgreSQL-backed store.Store.
type Store struct {
	*sqlstore.Store
	pool *pgxpool.Pool
	keys *keySchema // nil: the key store is in the data schema
}

//go:embed migrations
var migrations embed.FS

// Open connects to the database named by dsn (a postgres:// URL or
// key=value string) and migrates it.
func Open(ctx context.Context, dsn string, opts Options) (*Store, error) {
	sets, err := migrationSets()
	if err != nil {
		return nil, fmt.Errorf("postgres: %w", err)
	}
	cfg, err := parseConfig(dsn)
	if err != nil {
		return nil, err
	}
	if opts.MaxConns > 0 {
		cfg.MaxConns = opts.MaxConns
	}
	where := fmt.Sprintf("%s:%d/%s", cfg.ConnConfig.Host, cfg.ConnConfig.Port, cfg.ConnConfig.Database)
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("postgres: open %s: %w", where, err)
	}
	if err := pool.Ping(ctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("postgres: connect to %s: %w", where, err)
	}
	db := &pgDB{pool: pool}
	if err := db.Tx(ctx, func(q sqlstore.Querier) error { return migrate(ctx, q, sets) }); err != nil {
		pool.Close()
		return nil, fmt.Errorf("postgres: open %s: %w", where, err)
	}
	s := &Store{Store: sqlstore.New("postgres", db, sets...), pool: pool}
	if opts.KeysSchema != "" || opts.SeparateKeys {
		if err := s.attachKeySchema(ctx, cfg, opts.KeysSchema, sets[1]); err != nil {
			pool.Close()
			return nil, fmt.Errorf("postgres: %w", err)
		}
	}
	return s, nil
}

// CheckDSN reports whether dsn parses, without connecting. Its error says
// what is wrong but never repeats the DSN, which may hold a password.
func CheckDSN(dsn string) error {
	_, err := parseConfig(dsn)
	return err
}

// parseConfig parses dsn and bounds the connect time (DefaultConnectTimeout
// unless the DSN sets connect_timeout).
func parseConfig(dsn string) (*pgxpool.Config, error) {
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		return nil, fmt.Errorf("postgres: parse dsn: %s", parseProblem(err))
	}
	if cfg.ConnConfig.ConnectTimeout == 0 {
		cfg.ConnConfig.ConnectTimeout = DefaultConnectTimeout
	}
	return cfg, nil
}

// parseProblem is pgx's parse error without the (redacted, but only on a
// best-effort basis) connection string it quotes.
func parseProblem(err error) string {
	msg := err.Error()
	var pe *pgconn.ParseConfigError
	if errors.As(err, &pe) {
		if _, rest, ok := strings.Cut(msg, "`: "); ok {
			return rest
		}
		return "unparsable"
	}
	return msg
}

// migrate takes the cluster-wide migration lock, released at commit, and
// migrates.
func migrate(ctx context.Context, q sqlstore.Querier, sets []sqlstore.MigrationSet) error {
	if _, err := q.Exec(ctx, "SELECT pg_advisory_xact_lock($1)", int64(migrationLockKey)); err != nil {
		return fmt.Errorf("migration lock: %w", err)
	}
	return sqlstore.Migrate(ctx, q, sets...)
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
