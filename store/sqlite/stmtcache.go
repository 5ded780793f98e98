package sqlite

import (
	"context"
	"database/sql"

	"github.com/sealine/sealine/store/internal/sqlstore"
)

// maxTxStmts bounds the statements one transaction keeps prepared;
// statements with generated text (multi-row INSERTs) beyond it are
// prepared for each use.
const maxTxStmts = 64

// txQuerier runs a transaction's statements, preparing each distinct
// statement once per transaction: a group-commit batch of hundreds of
// posts then parses each statement once rather than once per post, and
// SQLite's parser costs more than executing a small statement. The
// statements close with the transaction.
type txQuerier struct {
	tx    *sql.Tx
	stmts map[string]*sql.Stmt
}

func newTxQuerier(tx *sql.Tx) txQuerier {
	return txQuerier{tx: tx, stmts: map[string]*sql.Stmt{}}
}

// stmt returns the prepared statement for query, or nil when the cache is
// full or preparing fails (the query then runs unprepared and reports its
// own error).
func (q txQuerier) stmt(ctx context.Context, query string) *sql.Stmt {
	if st, ok := q.stmts[query]; ok {
		return st
	}
	if len(q.stmts) >= maxTxStmts {
		return nil
	}
	st, err := q.tx.PrepareContext(ctx, query)
	if err != nil {
		return nil
	}
	q.stmts[query] = st
	return st
}

func (q txQuerier) Exec(ctx context.Context, query string, args ...any) (int64, error) {
	st := q.stmt(ctx, query)
	if st == nil {
		return querier{q.tx}.Exec(ctx, query, args...)
	}
	res, err := st.ExecContext(ctx, args...)
	if err != nil {
		return 0, classify(err)
	}
	return res.RowsAffected()
}

func (q txQuerier) QueryRow(ctx context.Context, query string, args ...any) sqlstore.Row {
	st := q.stmt(ctx, query)
	if st == nil {
		return querier{q.tx}.QueryRow(ctx, query, args...)
	}
	return row{st.QueryRowContext(ctx, args...)}
}

func (q txQuerier) Query(ctx context.Context, query string, args ...any) (sqlstore.Rows, error) {
	st := q.stmt(ctx, query)
	if st == nil {
		return querier{q.tx}.Query(ctx, query, args...)
	}
	r, err := st.QueryContext(ctx, args...)
	if err != nil {
		return nil, classify(err)
	}
	return rows{r}, nil
}
