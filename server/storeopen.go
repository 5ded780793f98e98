package server

import (
	"context"
	"fmt"
	"strings"

	"github.com/sealine/sealine/store"
	"github.com/sealine/sealine/store/postgres"
	"github.com/sealine/sealine/store/sqlite"
)

// openStore returns Config.Store, or opens and migrates the store Config.DB
// names.
func openStore(ctx context.Context, cfg Config) (store.Store, error) {
	if cfg.Store != nil {
		return cfg.Store, nil
	}
	kind, err := dbKind(cfg.DB)
	if err != nil {
		return nil, err
	}
	if kind == "postgres" {
		return openPostgres(ctx, cfg.DB)
	}
	path := dataPath(cfg, "sealine.db")
	if p, ok := strings.CutPrefix(cfg.DB, "sqlite:"); ok {
		path = p
	}
	// The key store lives apart from the data, so that deleting a user's
	// key also makes every backup of the data file unreadable for them.
	st, err := sqlite.Open(ctx, path, sqlite.Options{KeysPath: dataPath(cfg, "keys.db")})
	if err != nil {
		return nil, fmt.Errorf("server: open SQLite: %w", err)
	}
	return st, nil
}

// openPostgres opens and migrates PostgreSQL. pgx redacts the password
// from its errors.
func openPostgres(ctx context.Context, dsn string) (store.Store, error) {
	// The key store goes into its own schema (<data schema>_keys), which
	// gets its own backup policy (docs/OPERATIONS.md).
	st, err := postgres.Open(ctx, dsn, postgres.Options{SeparateKeys: true})
	if err != nil {
		return nil, fmt.Errorf("server: open PostgreSQL: %w", err)
	}
	return st, nil
}
