package sqlite

import (
	"crypto/rand"
	"path/filepath"
	"testing"
	"time"

	"github.com/sealine/sealine/store"
	"github.com/sealine/sealine/store/storetest"
)

// TestConformanceKeyFile runs the suite with the key store in its own file.
func TestConformanceKeyFile(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store {
		dir := t.TempDir()
		s, err := Open(t.Context(), filepath.Join(dir, "sealine.db"), Options{KeysPath: filepath.Join(dir, "keys.db")})
		if err != nil {
			t.Fatalf("Open: %v", err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	})
}

// TestKeyFileHoldsKeys: a wrapped key is written to the key file only, and
// a key left in the data file by the one-file layout moves at Open.
func TestKeyFileHoldsKeys(t *testing.T) {
	ctx := t.Context()
	dir := t.TempDir()
	data, keys := filepath.Join(dir, "sealine.db"), filepath.Join(dir, "keys.db")
	old, err := Open(ctx, data, Options{})
	if err != nil {
		t.Fatal(err)
	}
	legacy := newSecretKey(t, "u-legacy")
	if err := old.Keys().PutKey(ctx, legacy); err != nil {
		t.Fatal(err)
	}
	old.Close()

	s, err := Open(ctx, data, Options{KeysPath: keys})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	fresh := newSecretKey(t, "u-fresh")
	if err := s.Keys().PutKey(ctx, fresh); err != nil {
		t.Fatal(err)
	}
	for _, k := range []store.WrappedKey{legacy, fresh} {
		if got, err := s.Keys().Key(ctx, k.UserID); err != nil || string(got.Ciphertext) != string(k.Ciphertext) {
			t.Fatalf("Key(%s) = %v, %v", k.UserID, got, err)
		}
		if inFiles(t, data, k.Ciphertext) {
			t.Errorf("key of %s is in the data file", k.UserID)
		}
		if !inFiles(t, keys, k.Ciphertext) {
			t.Errorf("key of %s is not in the key file", k.UserID)
		}
	}
	if err := s.Keys().DeleteKey(ctx, fresh.UserID); err != nil {
		t.Fatal(err)
	}
	if inFiles(t, keys, fresh.Ciphertext) {
		t.Error("deleted key's bytes remain in the key file")
	}
}

// TestKeyFileUnusablePath: a key path that cannot be created is refused.
func TestKeyFileUnusablePath(t *testing.T) {
	dir := t.TempDir()
	_, err := Open(t.Context(), filepath.Join(dir, "sealine.db"), Options{KeysPath: filepath.Join(dir, "missing", "keys.db")})
	if err == nil {
		t.Fatal("Open with an unusable key path succeeded")
	}
}

func newSecretKey(t *testing.T, user string) store.WrappedKey {
	secret := make([]byte, 48)
	rand.Read(secret)
	return store.WrappedKey{UserID: user, KEKID: "kek-1", Ciphertext: secret, CreatedAt: time.Now()}
}
