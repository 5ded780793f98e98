package sqlite

import (
	"bytes"
	"crypto/rand"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/sealine/sealine/store"
)

// TestDeleteKeyLeavesNoBytes: after DeleteKey the wrapped key's bytes are in
// neither the database file nor its WAL.
func TestDeleteKeyLeavesNoBytes(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sealine.db")
	s, err := Open(t.Context(), path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	secret := make([]byte, 48)
	rand.Read(secret)
	k := store.WrappedKey{UserID: "u-shred", KEKID: "kek-1", Ciphertext: secret, CreatedAt: time.Now()}
	if err := s.Keys().PutKey(t.Context(), k); err != nil {
		t.Fatal(err)
	}
	if !inFiles(t, path, secret) {
		t.Fatal("the key's bytes are not on disk after PutKey; the test cannot see them")
	}
	if err := s.Keys().DeleteKey(t.Context(), k.UserID); err != nil {
		t.Fatal(err)
	}
	if inFiles(t, path, secret) {
		t.Error("the deleted key's bytes are still on disk")
	}
}

// inFiles reports whether b occurs in the database file or its WAL.
func inFiles(t *testing.T, path string, b []byte) bool {
	t.Helper()
	for _, p := range []string{path, path + "-wal"} {
		data, err := os.ReadFile(p)
		if err != nil && !os.IsNotExist(err) {
			t.Fatal(err)
		}
		if bytes.Contains(data, b) {
			return true
		}
	}
	return false
}
