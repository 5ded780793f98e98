package postgres

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/sealine/sealine/store"
	"github.com/sealine/sealine/store/internal/sqlstore"
)

// SQLSTATE codes mapped onto store errors.
const (
	codeUniqueViolation     = "23505"
	codeForeignKeyViolation = "23503"
)

// pgDB adapts a pgx pool to sqlstore.DB. Reads and single-statement writes
// share the pool.
type pgDB struct{ pool *pgxpool.Pool }

func (d *pgDB) Reader() sqlstore.Querier { return querier{d.pool} }
func (d *pgDB) Writer() sqlstore.Querier { return querier{d.pool} }

// Tx runs fn in a READ COMMITTED transaction; the statements fn runs
// decide races themselves (row locks, ON CONFLICT).
func (d *pgDB) Tx(ctx context.Context, fn func(q sqlstore.Querier) error) error {
	err := pgx.BeginFunc(ctx, d.pool, func(tx pgx.Tx) error { return fn(querier{tx}) })
	return classify(err)
}

func (d *pgDB) Close() error {
	d.pool.Close()
	return nil
}

// conn is what *pgxpool.Pool and pgx.Tx share.
type conn interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

type querier struct{ c conn }

func (q querier) Exec(ctx context.Context, sql string, args ...any) (int64, error) {
	tag, err := q.c.Exec(ctx, sql, args...)
	if err != nil {
		return 0, classify(err)
	}
	return tag.RowsAffected(), nil
}

func (q querier) QueryRow(ctx context.Context, sql string, args ...any) sqlstore.Row {
	return row{q.c.QueryRow(ctx, sql, args...)}
}

func (q querier) Query(ctx context.Context, sql string, args ...any) (sqlstore.Rows, error) {
	r, err := q.c.Query(ctx, sql, args...)
	if err != nil {
		return nil, classify(err)
	}
	return rows{r}, nil
}

type row struct{ r pgx.Row }

func (r row) Scan(dest ...any) error { return classify(r.r.Scan(dest...)) }

type rows struct{ r pgx.Rows }

func (r rows) Next() bool             { return r.r.Next() }
func (r rows) Scan(dest ...any) error { return classify(r.r.Scan(dest...)) }
func (r rows) Err() error             { return classify(r.r.Err()) }
func (r rows) Close()                 { r.r.Close() }

// classify maps driver errors onto store's sentinels, keeping the server's
// message. Errors that already carry a sentinel pass through.
func classify(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, pgx.ErrNoRows):
		return store.ErrNotFound
	case errors.Is(err, store.ErrNotFound), errors.Is(err, store.ErrConflict):
		return err
	}
	var pe *pgconn.PgError
	if !errors.As(err, &pe) {
		return err
	}
	switch pe.Code {
	case codeUniqueViolation:
		return fmt.Errorf("%w (%v)", store.ErrConflict, err)
	case codeForeignKeyViolation:
		return fmt.Errorf("%w (%v)", store.ErrNotFound, err)
	}
	return err
}
