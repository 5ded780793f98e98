package server

import (
	"bytes"
	"crypto/rand"
	"os"
	"path/filepath"
	"testing"
)

// TestExternalSenderKeyFile: the key is created once (mode 0600) and
// read back unchanged; a file of the wrong size is refused.
func TestExternalSenderKeyFile(t *testing.T) {
	cfg := Config{DataDir: t.TempDir(), Rand: rand.Reader}
	k1, err := loadExternalSender(cfg)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(cfg.DataDir, "external_sender.key")
	fi, err := os.Stat(path)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("key file: %v, %v; want mode 0600", fi, err)
	}
	k2, err := loadExternalSender(cfg)
	if err != nil || !bytes.Equal(k1.PublicKey(), k2.PublicKey()) {
		t.Fatalf("second load: %v; same key %v", err, err == nil && bytes.Equal(k1.PublicKey(), k2.PublicKey()))
	}
	if err := os.WriteFile(path, []byte("short"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := loadExternalSender(cfg); err == nil {
		t.Fatal("a truncated key file was accepted")
	}
}
