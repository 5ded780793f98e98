package testenv

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/sealine/sealine/server"
)

// PostgresDSN returns a DSN for a fresh schema in the PostgreSQL database
// named by $SEALINE_TEST_POSTGRES (a postgres:// URL), dropped when t ends.
// It skips t when the variable is unset.
func PostgresDSN(t testing.TB) string {
	t.Helper()
	base := os.Getenv("SEALINE_TEST_POSTGRES")
	if base == "" {
		t.Skip("PostgreSQL tests skipped: set SEALINE_TEST_POSTGRES=postgres://...")
	}
	if !strings.HasPrefix(base, "postgres://") && !strings.HasPrefix(base, "postgresql://") {
		t.Fatal("testenv: SEALINE_TEST_POSTGRES must be a postgres:// URL")
	}
	b := make([]byte, 8)
	rand.Read(b)
	schema := "sealine_testenv_" + hex.EncodeToString(b)
	pgExec(t, base, "CREATE SCHEMA "+schema)
	t.Cleanup(func() {
		pgExec(t, base, "DROP SCHEMA "+schema+" CASCADE")
		pgExec(t, base, "DROP SCHEMA IF EXISTS "+schema+"_keys CASCADE") // the server's key store
	})
	u, err := url.Parse(base)
	if err != nil {
		t.Fatalf("testenv: SEALINE_TEST_POSTGRES: %v", err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String()
}

// WithPostgres makes New use a fresh PostgreSQL schema (see PostgresDSN).
func WithPostgres(t testing.TB) func(*server.Config) {
	dsn := PostgresDSN(t)
	return func(c *server.Config) { c.DB = dsn }
}

func pgExec(t testing.TB, dsn, sql string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatalf("testenv: connect to SEALINE_TEST_POSTGRES: %v", err)
	}
	defer c.Close(ctx)
	if _, err := c.Exec(ctx, sql); err != nil {
		t.Fatalf("testenv: %s: %v", sql, err)
	}
}
