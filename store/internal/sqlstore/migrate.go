package sqlstore

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"regexp"
	"sort"
	"strconv"

	"github.com/sealine/sealine/store"
)

// Migration is one versioned schema change.
type Migration struct {
	Version int
	Name    string
	SQL     string
}

// MigrationSet is an ordered list of migrations whose applied version is
// kept in its own one-row table. The main tables and the key store tables
// are separate sets, so the key store can later move to its own database.
type MigrationSet struct {
	Table      string // version table, e.g. "schema_version"
	Migrations []Migration
}

var (
	migrationName = regexp.MustCompile(`^([0-9]{4})_([a-z0-9_]+)\.sql$`)
	tableName     = regexp.MustCompile(`^[a-z_]+$`)
)

// LoadMigrations reads the *.sql files at the root of fsys, named
// NNNN_name.sql and numbered 1, 2, 3 … without gaps.
func LoadMigrations(fsys fs.FS, table string) (MigrationSet, error) {
	if !tableName.MatchString(table) {
		return MigrationSet{}, fmt.Errorf("migrations: bad version table name %q", table)
	}
	names, err := fs.Glob(fsys, "*.sql")
	if err != nil {
		return MigrationSet{}, fmt.Errorf("migrations: %w", err)
	}
	sort.Strings(names)
	set := MigrationSet{Table: table}
	for i, name := range names {
		m, err := loadMigration(fsys, name)
		if err != nil {
			return MigrationSet{}, err
		}
		if m.Version != i+1 {
			return MigrationSet{}, fmt.Errorf("migrations: %s: want version %d", name, i+1)
		}
		set.Migrations = append(set.Migrations, m)
	}
	if len(set.Migrations) == 0 {
		return MigrationSet{}, errors.New("migrations: none found")
	}
	return set, nil
}

func loadMigration(fsys fs.FS, name string) (Migration, error) {
	match := migrationName.FindStringSubmatch(path.Base(name))
	if match == nil {
		return Migration{}, fmt.Errorf("migrations: bad file name %q", name)
	}
	version, _ := strconv.Atoi(match[1])
	text, err := fs.ReadFile(fsys, name)
	if err != nil {
		return Migration{}, fmt.Errorf("migrations: %w", err)
	}
	return Migration{Version: version, Name: match[2], SQL: string(text)}, nil
}

// Latest is the version the set migrates to.
func (m MigrationSet) Latest() int { return len(m.Migrations) }

// compare refuses a database migrated by a newer binary.
func (m MigrationSet) compare(have int) error {
	if have > m.Latest() {
		return fmt.Errorf("%w: %s is at version %d, this binary knows up to version %d",
			store.ErrSchemaTooNew, m.Table, have, m.Latest())
	}
	return nil
}

// Migrate brings every set up to its latest version. The caller runs it in
// one write transaction that it has already serialised against other
// nodes (SQLite: BEGIN IMMEDIATE; PostgreSQL: pg_advisory_xact_lock), so
// either every migration applies or none does.
func Migrate(ctx context.Context, q Querier, sets ...MigrationSet) error {
	for _, set := range sets {
		if err := set.apply(ctx, q); err != nil {
			return err
		}
	}
	return nil
}

func (m MigrationSet) apply(ctx context.Context, q Querier) error {
	if err := createVersionTable(ctx, q, m.Table); err != nil {
		return err
	}
	have, err := readVersion(ctx, q, m.Table)
	if err != nil {
		return err
	}
	if err := m.compare(have); err != nil {
		return err
	}
	for _, mig := range m.Migrations[have:] {
		if _, err := q.Exec(ctx, mig.SQL); err != nil {
			return fmt.Errorf("migrate %s to version %d (%s): %w", m.Table, mig.Version, mig.Name, err)
		}
	}
	if have == m.Latest() {
		return nil
	}
	_, err = q.Exec(ctx, "UPDATE "+m.Table+" SET version = $1 WHERE id = 1", int64(m.Latest()))
	if err != nil {
		return fmt.Errorf("migrate %s: record version: %w", m.Table, err)
	}
	return nil
}

func createVersionTable(ctx context.Context, q Querier, table string) error {
	_, err := q.Exec(ctx, "CREATE TABLE IF NOT EXISTS "+table+
		" (id INTEGER PRIMARY KEY CHECK (id = 1), version BIGINT NOT NULL)")
	if err != nil {
		return fmt.Errorf("migrate: create %s: %w", table, err)
	}
	_, err = q.Exec(ctx, "INSERT INTO "+table+" (id, version) VALUES (1, 0) ON CONFLICT DO NOTHING")
	if err != nil {
		return fmt.Errorf("migrate: init %s: %w", table, err)
	}
	return nil
}

// readVersion returns the applied version recorded in table.
func readVersion(ctx context.Context, q Querier, table string) (int, error) {
	var v int64
	if err := q.QueryRow(ctx, "SELECT version FROM "+table+" WHERE id = 1").Scan(&v); err != nil {
		return 0, fmt.Errorf("read %s: %w", table, err)
	}
	return int(v), nil
}
