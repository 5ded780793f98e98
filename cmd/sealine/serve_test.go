package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestServeBadPostgres: `sealine serve` with a PostgreSQL URL that does not
// parse, or whose database cannot be reached, exits 1 with a clear message,
// never prints the URL's password, and creates nothing: no data dir, so no
// certificate and no KEK either.
func TestServeBadPostgres(t *testing.T) {
	c := newCLI(t)
	tests := []struct {
		name string
		db   string
		want string
	}{
		{"port not a number", "postgres://sealine:hunter2@127.0.0.1:notaport/sealine", "bad PostgreSQL URL: postgres: parse dsn: invalid port"},
		{"bad sslmode", "postgresql://sealine:hunter2@127.0.0.1/sealine?sslmode=maybe", "bad PostgreSQL URL"},
		{"closed port", "postgres://sealine:hunter2@127.0.0.1:1/sealine", "open PostgreSQL: postgres: connect to 127.0.0.1:1/sealine"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c.t = t
			dataDir := filepath.Join(t.TempDir(), "data")
			r := c.run("", nil, "serve", "--addr", "127.0.0.1:0", "--data-dir", dataDir, "--db", tt.db)
			if r.code != 1 || !strings.Contains(r.stderr, tt.want) {
				t.Errorf("exit %d, stderr %q; want exit 1 with %q", r.code, r.stderr, tt.want)
			}
			if strings.Contains(r.stdout+r.stderr, "hunter2") {
				t.Errorf("the URL's password appears in the output:\n%s%s", r.stdout, r.stderr)
			}
			if r.stdout != "" {
				t.Errorf("stdout %q, want empty", r.stdout)
			}
			if _, err := os.Stat(dataDir); !os.IsNotExist(err) {
				t.Errorf("data dir: %v, want it not created", err)
			}
		})
	}
}
