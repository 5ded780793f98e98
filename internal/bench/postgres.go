package bench

import (
	"context"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
)

// freshSchema creates a new schema in the PostgreSQL database dsn names,
// for the in-process server's data (its key-encryption key is new each
// run), and returns a DSN using it and a func that drops it and the key
// schema the server makes beside it ("<schema>_keys").
func freshSchema(ctx context.Context, dsn string) (string, func(), error) {
	if !strings.HasPrefix(dsn, "postgres://") && !strings.HasPrefix(dsn, "postgresql://") {
		return dsn, func() {}, nil
	}
	u, err := url.Parse(dsn)
	if err != nil {
		return "", nil, fmt.Errorf("%w: --db is not a URL", ErrBadConfig)
	}
	schema := "sealine_bench_" + randHex(8)
	if err := pgExec(ctx, dsn, "CREATE SCHEMA "+schema); err != nil {
		return "", nil, err
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	drop := func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		pgExec(ctx, dsn, "DROP SCHEMA IF EXISTS "+schema+", "+schema+"_keys CASCADE")
	}
	return u.String(), drop, nil
}

func pgExec(ctx context.Context, dsn, sql string) error {
	c, err := pgx.Connect(ctx, dsn)
	if err != nil {
		return fmt.Errorf("bench: connect to PostgreSQL: %w", err)
	}
	defer c.Close(ctx)
	if _, err := c.Exec(ctx, sql); err != nil {
		return fmt.Errorf("bench: PostgreSQL: %w", err)
	}
	return nil
}
