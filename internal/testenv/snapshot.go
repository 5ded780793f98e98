package testenv

import (
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"fmt"
	"path/filepath"
	"sort"
	"testing"

	_ "modernc.org/sqlite" // the "sqlite" database/sql driver
)

// DBPath is the SQLite file of the default store.
func (e *Env) DBPath() string { return filepath.Join(e.DataDir, "sealine.db") }

// DBDigest summarises every row of every table of the SQLite store, so a
// test can prove that a refused request changed nothing: compare the digest
// before and after. It reads through a separate read-only connection.
func (e *Env) DBDigest(t testing.TB) string {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+e.DBPath()+"?mode=ro")
	if err != nil {
		t.Fatalf("testenv: open db: %v", err)
	}
	defer db.Close()
	tables, err := tableNames(db)
	if err != nil {
		t.Fatalf("testenv: list tables: %v", err)
	}
	h := sha256.New()
	for _, table := range tables {
		rows, err := dumpTable(db, table)
		if err != nil {
			t.Fatalf("testenv: dump %s: %v", table, err)
		}
		fmt.Fprintf(h, "%s:%d\n", table, len(rows))
		for _, r := range rows {
			fmt.Fprintln(h, r)
		}
	}
	return hex.EncodeToString(h.Sum(nil))
}

func tableNames(db *sql.DB) ([]string, error) {
	rows, err := db.Query(`SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var names []string
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			return nil, err
		}
		names = append(names, n)
	}
	return names, rows.Err()
}

// dumpTable renders each row of table as text, sorted.
func dumpTable(db *sql.DB, table string) ([]string, error) {
	rows, err := db.Query(`SELECT * FROM "` + table + `"`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	cols, err := rows.Columns()
	if err != nil {
		return nil, err
	}
	var out []string
	for rows.Next() {
		vals := make([]any, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			return nil, err
		}
		out = append(out, fmt.Sprintf("%q", vals))
	}
	sort.Strings(out)
	return out, rows.Err()
}
