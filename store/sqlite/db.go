package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/sealine/sealine/store"
	"github.com/sealine/sealine/store/internal/sqlstore"

	sqlite "modernc.org/sqlite"
)

// SQLite result codes mapped onto store errors.
const (
	codeBusy              = 5    // SQLITE_BUSY
	codeNotADB            = 26   // SQLITE_NOTADB
	codeConstraintFK      = 787  // SQLITE_CONSTRAINT_FOREIGNKEY
	codeConstraintPK      = 1555 // SQLITE_CONSTRAINT_PRIMARYKEY
	codeConstraintUnique  = 2067 // SQLITE_CONSTRAINT_UNIQUE
	primaryResultCodeMask = 0xff
)

// pools adapts database/sql to sqlstore.DB: one writer connection, a read
// pool, each with its cache of prepared statements.
type pools struct {
	writer, reader *sql.DB
	wstmts, rstmts *stmtCache
}

func newPools(writer, reader *sql.DB) *pools {
	return &pools{writer: writer, reader: reader, wstmts: newStmtCache(writer), rstmts: newStmtCache(reader)}
}

func (d *pools) Reader() sqlstore.Querier { return cachedQuerier{d.rstmts} }
func (d *pools) Writer() sqlstore.Querier { return cachedQuerier{d.wstmts} }

// Tx runs fn in a BEGIN IMMEDIATE transaction on the writer, then caches
// the statements it ran that were not cached yet.
func (d *pools) Tx(ctx context.Context, fn func(q sqlstore.Querier) error) error {
	defer d.wstmts.prepareWanted(ctx)
	tx, err := d.writer.BeginTx(ctx, nil)
	if err != nil {
		return classify(err)
	}
	if err := fn(newTxQuerier(tx, d.wstmts)); err != nil {
		tx.Rollback()
		return err
	}
	return classify(tx.Commit())
}

func (d *pools) Close() error {
	d.wstmts.close()
	d.rstmts.close()
	return errors.Join(d.reader.Close(), d.writer.Close())
}

// conn is what *sql.DB and *sql.Tx share.
type conn interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

type querier struct{ c conn }

func (q querier) Exec(ctx context.Context, query string, args ...any) (int64, error) {
	res, err := q.c.ExecContext(ctx, query, args...)
	if err != nil {
		return 0, classify(err)
	}
	return res.RowsAffected()
}

func (q querier) QueryRow(ctx context.Context, query string, args ...any) sqlstore.Row {
	return row{q.c.QueryRowContext(ctx, query, args...)}
}

func (q querier) Query(ctx context.Context, query string, args ...any) (sqlstore.Rows, error) {
	r, err := q.c.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, classify(err)
	}
	return rows{r}, nil
}

type row struct{ r *sql.Row }

func (r row) Scan(dest ...any) error { return classify(r.r.Scan(dest...)) }

type rows struct{ r *sql.Rows }

func (r rows) Next() bool             { return r.r.Next() }
func (r rows) Scan(dest ...any) error { return classify(r.r.Scan(dest...)) }
func (r rows) Err() error             { return classify(r.r.Err()) }
func (r rows) Close()                 { r.r.Close() }

// classify maps driver errors onto store's sentinels, keeping the driver's
// message.
// isBusy reports whether err is SQLite's SQLITE_BUSY (any extended code).
func isBusy(err error) bool {
	var se *sqlite.Error
	return errors.As(err, &se) && se.Code()&primaryResultCodeMask == codeBusy
}

func classify(err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, sql.ErrNoRows) {
		return store.ErrNotFound
	}
	var se *sqlite.Error
	if !errors.As(err, &se) {
		return err
	}
	switch {
	case se.Code() == codeConstraintUnique || se.Code() == codeConstraintPK:
		return fmt.Errorf("%w (%v)", store.ErrConflict, err)
	case se.Code() == codeConstraintFK:
		return fmt.Errorf("%w (%v)", store.ErrNotFound, err)
	case se.Code()&primaryResultCodeMask == codeNotADB:
		return fmt.Errorf("%w (%v)", ErrNotDatabase, err)
	}
	return err
}
