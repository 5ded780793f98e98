package server_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sealine/sealine/internal/testenv"
	"github.com/sealine/sealine/internal/testnet"
	"github.com/sealine/sealine/server"
)

// TestBadPostgresChangesNothing: a PostgreSQL URL that does not parse, or
// names a database that cannot be reached, makes New fail with a clear
// error before anything is written: no data dir, no certificate, no KEK.
func TestBadPostgresChangesNothing(t *testing.T) {
	tests := []struct {
		name    string
		db      string
		message string
	}{
		{"port not a number", "postgres://sealine:hunter2@127.0.0.1:notaport/sealine", "bad PostgreSQL URL: postgres: parse dsn: invalid port"},
		{"bad sslmode", "postgresql://sealine:hunter2@127.0.0.1/sealine?sslmode=maybe", "bad PostgreSQL URL"},
		{"closed port", "postgres://sealine:hunter2@127.0.0.1:1/sealine", "open PostgreSQL: postgres: connect to 127.0.0.1:1/sealine"},
		{"silent server", "postgres://sealine:hunter2@" + testnet.SilentListener(t) + "/sealine?connect_timeout=1", "open PostgreSQL: postgres: connect to 127.0.0.1:"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "data")
			cfg := server.Config{Addr: "127.0.0.1:0", DataDir: dir, DB: tt.db, PasswordParams: testenv.CheapPassword()}
			s, err := server.New(context.Background(), cfg)
			if err == nil {
				s.Close()
				t.Fatal("New succeeded")
			}
			if !strings.Contains(err.Error(), tt.message) || strings.Contains(err.Error(), "hunter2") {
				t.Fatalf("error %q: want it to mention %q and hold no password", err, tt.message)
			}
			if _, err := os.Stat(filepath.Join(dir, "tls")); !os.IsNotExist(err) {
				t.Errorf("tls dir: %v, want it not to exist", err)
			}
			if _, err := os.Stat(dir); !os.IsNotExist(err) {
				t.Errorf("data dir: %v, want it not to exist", err)
			}
		})
	}
}
