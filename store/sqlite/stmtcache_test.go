package sqlite

import (
	"context"
	"fmt"
	"testing"

	"github.com/sealine/sealine/store/internal/sqlstore"
)

// TestTxEndsWithContext: statements inside a transaction run without the
// driver's per-statement interrupt, but a transaction whose context ends
// still never commits.
func TestTxEndsWithContext(t *testing.T) {
	s := openTB(t)
	mustTx := func(ctx context.Context, fn func(q sqlstore.Querier) error) error {
		return s.pools.Tx(ctx, fn)
	}
	if err := mustTx(t.Context(), func(q sqlstore.Querier) error {
		_, err := q.Exec(t.Context(), `CREATE TABLE tx_cancel (x INTEGER) STRICT`)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	err := mustTx(ctx, func(q sqlstore.Querier) error {
		if _, err := q.Exec(ctx, `INSERT INTO tx_cancel (x) VALUES (1)`); err != nil {
			return fmt.Errorf("first insert: %w", err)
		}
		cancel()
		// database/sql rolls back from its own goroutine; this insert may
		// or may not run first, but the commit cannot.
		_, err := q.Exec(ctx, `INSERT INTO tx_cancel (x) VALUES (2)`)
		return err
	})
	if err == nil {
		t.Fatal("transaction committed after its context ended")
	}
	var n int64
	if err := s.pools.Reader().QueryRow(t.Context(), `SELECT count(*) FROM tx_cancel`).Scan(&n); err != nil || n != 0 {
		t.Errorf("rows after the cancelled transaction: %d, %v; want 0", n, err)
	}
}

// TestStmtCacheBound: past maxCachedStmts distinct statements, the rest
// run unprepared and still work, inside and outside transactions.
func TestStmtCacheBound(t *testing.T) {
	s := openTB(t)
	ctx := t.Context()
	for i := range maxCachedStmts + 10 {
		var got int64
		q := fmt.Sprintf(`SELECT %d`, i)
		if err := s.pools.Reader().QueryRow(ctx, q).Scan(&got); err != nil || got != int64(i) {
			t.Fatalf("%s = %d, %v", q, got, err)
		}
		if err := s.pools.Tx(ctx, func(tq sqlstore.Querier) error {
			return tq.QueryRow(ctx, q).Scan(&got)
		}); err != nil || got != int64(i) {
			t.Fatalf("in a transaction, %s = %d, %v", q, got, err)
		}
	}
	for _, c := range []*stmtCache{s.pools.rstmts, s.pools.wstmts} {
		c.mu.Lock()
		n := len(c.stmts)
		c.mu.Unlock()
		if n > maxCachedStmts {
			t.Errorf("cache holds %d statements, bound %d", n, maxCachedStmts)
		}
	}
}
