package sqlite

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/sealine/sealine/store"
	"github.com/sealine/sealine/store/internal/sqlstore"
	"github.com/sealine/sealine/store/storetest"
)

func TestConformance(t *testing.T) { storetest.Run(t, openTest) }

func TestNodes(t *testing.T) { storetest.RunNodes(t, openNodes) }

// openNodes opens n stores on one file, as n processes would.
func openNodes(t *testing.T, n int) []store.Store {
	path := filepath.Join(t.TempDir(), "sealine.db")
	nodes := make([]store.Store, n)
	for i := range nodes {
		s, err := Open(t.Context(), path, Options{})
		if err != nil {
			t.Fatalf("Open #%d: %v", i+1, err)
		}
		t.Cleanup(func() { s.Close() })
		nodes[i] = s
	}
	return nodes
}

func BenchmarkStore(b *testing.B) { storetest.Bench(b, openTB(b)) }

func openTest(t *testing.T) store.Store { return openTB(t) }

func openTB(t testing.TB) *Store {
	t.Helper()
	s, err := Open(t.Context(), filepath.Join(t.TempDir(), "sealine.db"), Options{})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// TestMigrate: a fresh file migrates to the latest version, reopening is a
// no-op, and a file from a newer binary is refused naming both versions.
func TestMigrate(t *testing.T) {
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "sealine.db")
	sets, err := migrationSets()
	if err != nil {
		t.Fatal(err)
	}
	for i := range 2 {
		s, err := Open(ctx, path, Options{})
		if err != nil {
			t.Fatalf("Open #%d: %v", i+1, err)
		}
		if err := s.Ping(ctx); err != nil {
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
			setVersion(t, path, set.Table, set.Latest()+1)
			defer setVersion(t, path, set.Table, set.Latest())
			_, err := Open(ctx, path, Options{})
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
	err := s.pools.reader.QueryRowContext(t.Context(), "SELECT version FROM "+table).Scan(&v)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// setVersion rewrites a version table as a newer (or older) binary would.
func setVersion(t *testing.T, path, table string, v int) {
	t.Helper()
	d, err := openDB(t.Context(), path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if _, err := d.writer.ExecContext(t.Context(), "UPDATE "+table+" SET version = $1", v); err != nil {
		t.Fatal(err)
	}
}

// TestBadFile: a file that is not SQLite gives ErrNotDatabase and is left
// as it was.
func TestBadFile(t *testing.T) {
	tests := []struct {
		name    string
		content string
	}{
		{"text", "this is not a database, just some notes\n"},
		{"truncated header", "SQLite format 3\x00\x10\x00"},
		{"garbage page", strings.Repeat("\xde\xad\xbe\xef", 1024)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "notes.db")
			if err := os.WriteFile(path, []byte(tc.content), 0o600); err != nil {
				t.Fatal(err)
			}
			s, err := Open(t.Context(), path, Options{})
			if err == nil {
				s.Close()
				t.Fatal("Open succeeded on a file that is not SQLite")
			}
			if !errors.Is(err, ErrNotDatabase) {
				t.Errorf("Open = %v, want ErrNotDatabase", err)
			}
			if !strings.Contains(err.Error(), path) {
				t.Errorf("error %q does not name the file", err)
			}
			got, _ := os.ReadFile(path)
			if string(got) != tc.content {
				t.Error("Open changed the file")
			}
		})
	}
}

// TestForeignDatabase: another program's SQLite file is refused and left
// without Sealine's tables.
func TestForeignDatabase(t *testing.T) {
	path := filepath.Join(t.TempDir(), "other.db")
	d, err := openDB(t.Context(), path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	_, err = d.writer.ExecContext(t.Context(), "CREATE TABLE recipes (name TEXT)")
	d.Close()
	if err != nil {
		t.Fatal(err)
	}
	_, err = Open(t.Context(), path, Options{})
	if !errors.Is(err, ErrNotDatabase) {
		t.Fatalf("Open = %v, want ErrNotDatabase", err)
	}
	d, err = openDB(t.Context(), path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	var n int
	if err := d.reader.QueryRowContext(t.Context(), "SELECT count(*) FROM sqlite_schema").Scan(&n); err != nil || n != 1 {
		t.Errorf("file now has %d schema entries (%v), want only the foreign table", n, err)
	}
}

// TestBadPath: a path that cannot be created gives a clear error naming it.
func TestBadPath(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "file")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		path string
		want error
	}{
		{"missing directory", filepath.Join(dir, "missing", "sealine.db"), os.ErrNotExist},
		{"parent is a file", filepath.Join(file, "sealine.db"), nil},
		{"path is a directory", dir, nil},
		{"empty path", "", nil},
	}
	if os.Geteuid() != 0 { // root writes anywhere
		ro := filepath.Join(dir, "readonly")
		if err := os.Mkdir(ro, 0o500); err != nil {
			t.Fatal(err)
		}
		tests = append(tests, struct {
			name string
			path string
			want error
		}{"unwritable directory", filepath.Join(ro, "sealine.db"), os.ErrPermission})
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, err := Open(t.Context(), tc.path, Options{})
			if err == nil {
				s.Close()
				t.Fatal("Open succeeded")
			}
			if tc.want != nil && !errors.Is(err, tc.want) {
				t.Errorf("Open = %v, want %v", err, tc.want)
			}
			if !strings.HasPrefix(err.Error(), "sqlite: open "+tc.path) {
				t.Errorf("error %q does not start with sqlite: open %s", err, tc.path)
			}
		})
	}
}

// TestFileMode: the database and its WAL files are private to the owner.
func TestFileMode(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sealine.db")
	s, err := Open(t.Context(), path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.Keys().PutKey(t.Context(), store.WrappedKey{UserID: "u", KEKID: "k", Ciphertext: []byte{1}}); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{path, path + "-wal", path + "-shm"} {
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		if m := fi.Mode().Perm(); m != 0o600 {
			t.Errorf("%s has mode %o, want 600", filepath.Base(p), m)
		}
	}
}

// TestPragmas: the writer runs durable WAL with foreign keys and secure
// delete; readers cannot write.
func TestPragmas(t *testing.T) {
	s := openTest(t).(*Store)
	ctx := t.Context()
	tests := []struct {
		pragma string
		want   string
	}{
		{"journal_mode", "wal"},
		{"synchronous", "2"},
		{"foreign_keys", "1"},
		{"secure_delete", "1"},
		{"busy_timeout", "5000"},
	}
	for _, tc := range tests {
		var got string
		if err := s.pools.writer.QueryRowContext(ctx, "PRAGMA "+tc.pragma).Scan(&got); err != nil {
			t.Fatal(err)
		}
		if got != tc.want {
			t.Errorf("PRAGMA %s = %s, want %s", tc.pragma, got, tc.want)
		}
	}
	if _, err := s.pools.reader.ExecContext(ctx, "DELETE FROM users"); err == nil {
		t.Error("a reader connection could write")
	}
}

// TestConcurrentOpen: several stores opening one new file at once (as
// after a restart race) all come up and see one schema.
func TestConcurrentOpen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sealine.db")
	const n = 6
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			s, err := Open(t.Context(), path, Options{ReadConns: 1})
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
			t.Errorf("store %d: %v", i, err)
		}
	}
}

// TestMigrateAtomic: a migration that fails leaves nothing behind, not even
// the earlier migrations of the same Open.
func TestMigrateAtomic(t *testing.T) {
	d, err := openDB(t.Context(), filepath.Join(t.TempDir(), "sealine.db"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	set := sqlstore.MigrationSet{Table: "test_version", Migrations: []sqlstore.Migration{
		{Version: 1, Name: "good", SQL: "CREATE TABLE good (x INTEGER)"},
		{Version: 2, Name: "bad", SQL: "CREATE TABLE later (x INTEGER); NOT SQL AT ALL"},
	}}
	err = d.Tx(t.Context(), func(q sqlstore.Querier) error { return sqlstore.Migrate(t.Context(), q, set) })
	if err == nil || !strings.Contains(err.Error(), "version 2 (bad)") {
		t.Fatalf("Migrate = %v, want an error naming version 2 (bad)", err)
	}
	var n int
	if err := d.reader.QueryRowContext(t.Context(), "SELECT count(*) FROM sqlite_schema").Scan(&n); err != nil || n != 0 {
		t.Errorf("after a failed migration the file has %d schema entries (%v), want 0", n, err)
	}
}
