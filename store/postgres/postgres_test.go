package postgres

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/sealine/sealine/internal/testnet"
	"github.com/sealine/sealine/store"
	"github.com/sealine/sealine/store/internal/sqlstore"
	"github.com/sealine/sealine/store/storetest"
)

func TestConformance(t *testing.T) { storetest.Run(t, openTest) }

func TestNodes(t *testing.T) { storetest.RunNodes(t, openNodes) }

// openNodes opens n stores (n nodes' pools) on one fresh schema.
func openNodes(t *testing.T, n int) []store.Store {
	dsn := testDSN(t)
	nodes := make([]store.Store, n)
	for i := range nodes {
		nodes[i] = openAt(t, dsn)
	}
	return nodes
}

func BenchmarkStore(b *testing.B) { storetest.Bench(b, openAt(b, testDSN(b))) }

func openTest(t *testing.T) store.Store {
	t.Helper()
	return openAt(t, testDSN(t))
}

func openAt(t testing.TB, dsn string) *Store {
	t.Helper()
	s, err := Open(t.Context(), dsn, Options{})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// testDSN creates a schema with a random name, dropped at cleanup, and
// returns a DSN whose search_path puts the test's tables there.
func testDSN(t testing.TB) string {
	t.Helper()
	base := os.Getenv("SEALINE_TEST_POSTGRES")
	if base == "" {
		t.Skip("PostgreSQL tests skipped: set SEALINE_TEST_POSTGRES=postgres://... (bash .ci/run does this)")
	}
	b := make([]byte, 8)
	rand.Read(b)
	schema := "sealine_test_" + hex.EncodeToString(b)
	admin(t, base, "CREATE SCHEMA "+schema)
	t.Cleanup(func() { admin(t, base, "DROP SCHEMA "+schema+" CASCADE") })
	return withSearchPath(t, base, schema)
}

// admin runs one statement on its own connection; it also runs in
// cleanups, after t.Context is done.
func admin(t testing.TB, dsn, sql string, args ...any) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatalf("connect to SEALINE_TEST_POSTGRES: %v", err)
	}
	defer c.Close(ctx)
	if _, err := c.Exec(ctx, sql, args...); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
}

func withSearchPath(t testing.TB, dsn, schema string) string {
	if !strings.HasPrefix(dsn, "postgres://") && !strings.HasPrefix(dsn, "postgresql://") {
		return dsn + " search_path=" + schema
	}
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatalf("SEALINE_TEST_POSTGRES: %v", err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String()
}

// TestMigrate: a fresh schema migrates, reopening is a no-op, and a schema
// from a newer binary is refused naming both versions.
func TestMigrate(t *testing.T) {
	dsn := testDSN(t)
	sets, err := migrationSets()
	if err != nil {
		t.Fatal(err)
	}
	for i := range 2 {
		s := openAt(t, dsn)
		if err := s.Ping(t.Context()); err != nil {
			t.Fatalf("Ping #%d: %v", i+1, err)
		}
		for _, set := range sets {
			if v := version(t, s, set.Table); v != set.Latest() {
				t.Errorf("Open #%d: %s = %d, want %d", i+1, set.Table, v, set.Latest())
			}
		}
		s.Close()
	}
	for _, set := range sets {
		t.Run("too new "+set.Table, func(t *testing.T) {
			s := openAt(t, dsn)
			setVersion(t, s, set.Table, set.Latest()+1)
			defer setVersion(t, s, set.Table, set.Latest())
			if err := s.Ping(t.Context()); !errors.Is(err, store.ErrSchemaTooNew) {
				t.Errorf("Ping = %v, want ErrSchemaTooNew", err)
			}
			_, err := Open(t.Context(), dsn, Options{})
			if !errors.Is(err, store.ErrSchemaTooNew) {
				t.Fatalf("Open = %v, want ErrSchemaTooNew", err)
			}
			for _, v := range []string{fmt.Sprint("version ", set.Latest()+1), fmt.Sprint("version ", set.Latest())} {
				if !strings.Contains(err.Error(), v) {
					t.Errorf("error %q does not name %q", err, v)
				}
			}
		})
	}
}

func version(t *testing.T, s *Store, table string) int {
	t.Helper()
	var v int
	if err := s.pool.QueryRow(t.Context(), "SELECT version FROM "+table).Scan(&v); err != nil {
		t.Fatal(err)
	}
	return v
}

func setVersion(t *testing.T, s *Store, table string, v int) {
	t.Helper()
	if _, err := s.pool.Exec(context.Background(), "UPDATE "+table+" SET version = $1", v); err != nil {
		t.Fatal(err)
	}
}

// TestConcurrentOpen: nodes starting together on an empty database all
// come up, migrating once under the advisory lock.
func TestConcurrentOpen(t *testing.T) {
	dsn := testDSN(t)
	const nodes = 6
	var wg sync.WaitGroup
	errs := make([]error, nodes)
	for i := range nodes {
		wg.Go(func() {
			s, err := Open(t.Context(), dsn, Options{MaxConns: 2})
			if err == nil {
				err = s.Ping(t.Context())
				s.Close()
			}
			errs[i] = err
		})
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("node %d: %v", i, err)
		}
	}
}

// TestUnreachable: a server that does not answer gives a clear error that
// names it and never the password.
func TestUnreachable(t *testing.T) {
	tests := []struct {
		name string
		dsn  string
		want string
	}{
		{"closed port", "postgres://sealine:hunter2@127.0.0.1:1/sealine?connect_timeout=5", "postgres: connect to 127.0.0.1:1/sealine"},
		{"bad dsn", "postgres://sealine:hunter2@127.0.0.1:notaport/x", "postgres: parse dsn: invalid port"},
		{"silent server", "postgres://sealine:hunter2@" + testnet.SilentListener(t) + "/sealine?connect_timeout=1", "postgres: connect to 127.0.0.1:"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Open(t.Context(), tc.dsn, Options{})
			if err == nil {
				t.Fatal("Open succeeded")
			}
			if !strings.HasPrefix(err.Error(), tc.want) {
				t.Errorf("error %q does not start with %q", err, tc.want)
			}
			if strings.Contains(err.Error(), "hunter2") {
				t.Errorf("error %q reveals the password", err)
			}
		})
	}
}

// TestConnectTimeout: without connect_timeout in the DSN, each connection
// attempt is bounded by DefaultConnectTimeout; the DSN's value wins.
func TestConnectTimeout(t *testing.T) {
	tests := []struct {
		dsn  string
		want time.Duration
	}{
		{"postgres://sealine@127.0.0.1:1/sealine", DefaultConnectTimeout},
		{"postgres://sealine@127.0.0.1:1/sealine?connect_timeout=3", 3 * time.Second},
		{"host=127.0.0.1 port=1 user=sealine", DefaultConnectTimeout},
	}
	for _, tc := range tests {
		cfg, err := parseConfig(tc.dsn)
		if err != nil {
			t.Fatalf("parseConfig(%q): %v", tc.dsn, err)
		}
		if got := cfg.ConnConfig.ConnectTimeout; got != tc.want {
			t.Errorf("parseConfig(%q): connect timeout %v, want %v", tc.dsn, got, tc.want)
		}
	}
}

// TestCheckDSN: a DSN that does not parse is refused without connecting,
// and the error holds neither the password nor the DSN.
func TestCheckDSN(t *testing.T) {
	tests := []struct {
		dsn  string
		want string // "" = valid
	}{
		{"postgres://sealine:hunter2@127.0.0.1:1/sealine", ""},
		{"postgresql://sealine@db.internal/sealine?sslmode=verify-full", ""},
		{"postgres://sealine:hunter2@127.0.0.1:notaport/x", "invalid port"},
		{"postgres://sealine:hunter2@[::1/x", "failed to parse as URL"},
		{"postgres://sealine:hunter2@h/x?sslmode=bogus", "sslmode is invalid"},
		{"postgres://sealine:hunter2@h/x?connect_timeout=soon", "invalid connect_timeout"},
	}
	for _, tc := range tests {
		err := CheckDSN(tc.dsn)
		if tc.want == "" {
			if err != nil {
				t.Errorf("CheckDSN(valid) = %v", err)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("CheckDSN = %v, want an error mentioning %q", err, tc.want)
			continue
		}
		if strings.Contains(err.Error(), "hunter2") || strings.Contains(err.Error(), "sealine:") {
			t.Errorf("CheckDSN error %q repeats the DSN", err)
		}
	}
}

func ExampleOpen() {
	s, err := Open(context.Background(), "postgres://sealine@db.internal:5432/sealine?sslmode=verify-full", Options{})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer s.Close()
}

// TestMigrateAtomic: a migration that fails leaves nothing behind, not even
// the earlier migrations of the same Open.
func TestMigrateAtomic(t *testing.T) {
	s := openAt(t, testDSN(t))
	set := sqlstore.MigrationSet{Table: "test_version", Migrations: []sqlstore.Migration{
		{Version: 1, Name: "good", SQL: "CREATE TABLE good (x INTEGER)"},
		{Version: 2, Name: "bad", SQL: "CREATE TABLE later (x INTEGER); NOT SQL AT ALL"},
	}}
	db := &pgDB{pool: s.pool}
	err := db.Tx(t.Context(), func(q sqlstore.Querier) error { return migrate(t.Context(), q, []sqlstore.MigrationSet{set}) })
	if err == nil || !strings.Contains(err.Error(), "version 2 (bad)") {
		t.Fatalf("Migrate = %v, want an error naming version 2 (bad)", err)
	}
	var n int
	err = s.pool.QueryRow(t.Context(), `SELECT count(*) FROM pg_tables
		WHERE tablename IN ('good', 'later', 'test_version')`).Scan(&n)
	if err != nil || n != 0 {
		t.Errorf("after a failed migration %d of its tables exist (%v), want 0", n, err)
	}
}
