package bench

import (
	"context"
	"net/url"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/sealine/sealine/internal/testenv"
)

// TestFreshSchemaDropsKeySchema: the in-process server on PostgreSQL
// keeps its keys in "<data schema>_keys"; the bench drops that schema
// too, not only the data schema.
func TestFreshSchemaDropsKeySchema(t *testing.T) {
	base := testenv.PostgresDSN(t)
	ctx := context.Background()
	dsn, drop, err := freshSchema(ctx, base)
	if err != nil {
		t.Fatal(err)
	}
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatal(err)
	}
	schema := u.Query().Get("search_path")
	if schema == "" {
		t.Fatalf("no search_path in %q", dsn)
	}
	if err := pgExec(ctx, base, "CREATE SCHEMA "+schema+"_keys"); err != nil { // as the server does
		t.Fatal(err)
	}
	drop()
	c, err := pgx.Connect(ctx, base)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(ctx)
	var left int
	err = c.QueryRow(ctx, `SELECT count(*) FROM information_schema.schemata WHERE schema_name IN ($1, $2)`,
		schema, schema+"_keys").Scan(&left)
	if err != nil || left != 0 {
		t.Fatalf("%d of the bench's schemas left after drop (%v)", left, err)
	}
}
