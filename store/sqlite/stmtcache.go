package sqlite

import (
	"context"
	"database/sql"
	"strings"
	"sync"

	"github.com/sealine/sealine/store/internal/sqlstore"
)

// maxCachedStmts bounds the statements each pool keeps prepared; a
// statement beyond it (generated text, such as a long IN list) is
// prepared for each use.
const maxCachedStmts = 256

// stmtCache keeps each distinct statement of a pool prepared for the life
// of the pool. database/sql prepares a cached statement once on each
// connection that runs it and reuses it there, so the hot statements
// (the session lookup on every call, the queue read on every wake-up,
// a batch's inserts) are parsed once per connection rather than once per
// call: SQLite's parser costs more than running a small statement. A
// statement is prepared with its parameters made positional when it can
// be (positional.go).
type stmtCache struct {
	db     *sql.DB
	mu     sync.Mutex
	stmts  map[string]*sql.Stmt
	wanted map[string]bool // seen in a transaction, not yet cached
	full   bool
}

func newStmtCache(db *sql.DB) *stmtCache {
	return &stmtCache{db: db, stmts: map[string]*sql.Stmt{}, wanted: map[string]bool{}}
}

// cacheable reports whether query may be cached: not a script.
func cacheable(query string) bool { return !strings.Contains(query, ";") }

// get returns the prepared statement for query, or nil when query is a
// script, the cache is full or preparing fails (the query then runs
// unprepared and reports its own error). It may take a connection of the
// pool, so it must not run inside a transaction of a one-connection pool.
func (c *stmtCache) get(ctx context.Context, query string) *sql.Stmt {
	c.mu.Lock()
	st, ok := c.stmts[query]
	full := c.full
	c.mu.Unlock()
	if ok || full || !cacheable(query) {
		return st
	}
	st, err := c.db.PrepareContext(ctx, positional(query))
	if err != nil {
		return nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.wanted, query)
	if have, ok := c.stmts[query]; ok { // prepared meanwhile by another caller
		st.Close()
		return have
	}
	if c.full || len(c.stmts) >= maxCachedStmts {
		c.full = true
		st.Close()
		return nil
	}
	c.stmts[query] = st
	return st
}

// lookup returns the cached statement for query without preparing it;
// when there is none it notes query for prepareWanted.
func (c *stmtCache) lookup(query string) *sql.Stmt {
	c.mu.Lock()
	defer c.mu.Unlock()
	st, ok := c.stmts[query]
	if !ok && !c.full && cacheable(query) && len(c.wanted) < maxCachedStmts {
		c.wanted[query] = true
	}
	return st
}

// prepareWanted caches the statements that lookup missed. The writer
// calls it after each transaction, when its one connection is free.
func (c *stmtCache) prepareWanted(ctx context.Context) {
	c.mu.Lock()
	if len(c.wanted) == 0 {
		c.mu.Unlock()
		return
	}
	queries := make([]string, 0, len(c.wanted))
	for q := range c.wanted {
		queries = append(queries, q)
	}
	clear(c.wanted)
	c.mu.Unlock()
	for _, q := range queries {
		c.get(ctx, q)
	}
}

// close closes every cached statement.
func (c *stmtCache) close() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for q, st := range c.stmts {
		st.Close()
		delete(c.stmts, q)
	}
	c.full = true
}

// cachedQuerier runs statements outside a transaction through the pool's
// cache.
type cachedQuerier struct{ c *stmtCache }

func (q cachedQuerier) Exec(ctx context.Context, query string, args ...any) (int64, error) {
	st := q.c.get(ctx, query)
	if st == nil {
		return querier{q.c.db}.Exec(ctx, query, args...)
	}
	res, err := st.ExecContext(ctx, args...)
	if err != nil {
		return 0, classify(err)
	}
	return res.RowsAffected()
}

func (q cachedQuerier) QueryRow(ctx context.Context, query string, args ...any) sqlstore.Row {
	st := q.c.get(ctx, query)
	if st == nil {
		return querier{q.c.db}.QueryRow(ctx, query, args...)
	}
	return row{st.QueryRowContext(ctx, args...)}
}

func (q cachedQuerier) Query(ctx context.Context, query string, args ...any) (sqlstore.Rows, error) {
	st := q.c.get(ctx, query)
	if st == nil {
		return querier{q.c.db}.Query(ctx, query, args...)
	}
	r, err := st.QueryContext(ctx, args...)
	if err != nil {
		return nil, classify(err)
	}
	return rows{r}, nil
}

// maxTxStmts bounds the statements one transaction keeps bound to it.
const maxTxStmts = 64

// txQuerier runs a transaction's statements through the writer's cache:
// each distinct statement is bound to the transaction once
// (Tx.StmtContext, which reuses the statement already prepared on the one
// writer connection), so a group-commit batch of hundreds of posts parses
// nothing. The bindings end with the transaction; the cached statements
// stay.
//
// Its statements run without cancellation: the driver would otherwise
// start a goroutine per statement to interrupt it when ctx ends, which
// costs a batch of hundreds of posts more than its commit. The
// transaction still ends with ctx: database/sql rolls it back then, so
// its next statement fails, and its commit fails in any case. (The writer holds the write lock from BEGIN
// IMMEDIATE, so no statement inside waits for a lock.)
type txQuerier struct {
	tx    *sql.Tx
	cache *stmtCache
	stmts map[string]*sql.Stmt
}

func newTxQuerier(tx *sql.Tx, cache *stmtCache) txQuerier {
	return txQuerier{tx: tx, cache: cache, stmts: map[string]*sql.Stmt{}}
}

// uncancelable keeps ctx's values but not its end (see txQuerier).
func uncancelable(ctx context.Context) context.Context { return context.WithoutCancel(ctx) }

// stmt returns query's statement bound to the transaction: the writer's
// cached statement when there is one, else one prepared for this
// transaction only (the writer caches it after the transaction). nil when
// the transaction holds maxTxStmts already or preparing fails (the query
// then runs unprepared and reports its own error).
func (q txQuerier) stmt(ctx context.Context, query string) *sql.Stmt {
	if st, ok := q.stmts[query]; ok {
		return st
	}
	if len(q.stmts) >= maxTxStmts {
		return nil
	}
	var st *sql.Stmt
	if cached := q.cache.lookup(query); cached != nil {
		st = q.tx.StmtContext(ctx, cached)
	} else {
		var err error
		if st, err = q.tx.PrepareContext(ctx, positional(query)); err != nil {
			return nil
		}
	}
	q.stmts[query] = st
	return st
}

func (q txQuerier) Exec(ctx context.Context, query string, args ...any) (int64, error) {
	ctx = uncancelable(ctx)
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
	ctx = uncancelable(ctx)
	st := q.stmt(ctx, query)
	if st == nil {
		return querier{q.tx}.QueryRow(ctx, query, args...)
	}
	return row{st.QueryRowContext(ctx, args...)}
}

func (q txQuerier) Query(ctx context.Context, query string, args ...any) (sqlstore.Rows, error) {
	ctx = uncancelable(ctx)
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
