package pii

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/sealine/sealine/store"
)

func testKeyring(t *testing.T) *Keyring {
	t.Helper()
	r, err := NewKeyring(bytes.Repeat([]byte{7}, 32))
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestSealOpen(t *testing.T) {
	dk, _ := NewDataKey(rand.Reader)
	other, _ := NewDataKey(rand.Reader)
	sealed, err := Seal(dk, "row1", "display_name", []byte("Zelda"), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tampered := bytes.Clone(sealed)
	tampered[len(tampered)-1] ^= 1
	badVersion := bytes.Clone(sealed)
	badVersion[0] = 2
	tests := []struct {
		name       string
		key        DataKey
		row, field string
		ct         []byte
		wantErr    bool
	}{
		{"ok", dk, "row1", "display_name", sealed, false},
		{"wrong row", dk, "row2", "display_name", sealed, true},
		{"wrong field", dk, "row1", "username", sealed, true},
		{"shifted boundary", dk, "row1d", "isplay_name", sealed, true},
		{"wrong key", other, "row1", "display_name", sealed, true},
		{"tampered", dk, "row1", "display_name", tampered, true},
		{"bad version", dk, "row1", "display_name", badVersion, true},
		{"truncated", dk, "row1", "display_name", sealed[:20], true},
		{"empty", dk, "row1", "display_name", nil, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pt, err := Open(tt.key, tt.row, tt.field, tt.ct)
			if tt.wantErr {
				if !errors.Is(err, ErrDecrypt) {
					t.Fatalf("Open = %q, %v; want ErrDecrypt", pt, err)
				}
				return
			}
			if err != nil || string(pt) != "Zelda" {
				t.Fatalf("Open = %q, %v", pt, err)
			}
		})
	}
}

func TestWrapUnwrap(t *testing.T) {
	r := testKeyring(t)
	other, _ := NewKeyring(bytes.Repeat([]byte{8}, 32))
	dk, _ := NewDataKey(rand.Reader)
	wrapped, err := r.Wrap(dk, "user1", rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	got, err := r.Unwrap(wrapped, "user1", r.KEKID())
	if err != nil || got != dk {
		t.Fatalf("Unwrap = %v", err)
	}
	if _, err := r.Unwrap(wrapped, "user2", r.KEKID()); !errors.Is(err, ErrDecrypt) {
		t.Fatalf("Unwrap for another user = %v", err)
	}
	if _, err := other.Unwrap(wrapped, "user1", r.KEKID()); !errors.Is(err, ErrUnknownKEK) {
		t.Fatalf("Unwrap under another KEK = %v", err)
	}
}

func TestBlindIndex(t *testing.T) {
	r := testKeyring(t)
	other, _ := NewKeyring(bytes.Repeat([]byte{8}, 32))
	a, b := r.BlindIndex("alice"), r.BlindIndex("alice")
	if !bytes.Equal(a, b) || len(a) != 32 {
		t.Fatal("blind index not deterministic")
	}
	if bytes.Equal(a, r.BlindIndex("alicf")) || bytes.Equal(a, other.BlindIndex("alice")) {
		t.Fatal("blind index collides")
	}
}

func TestKeysAreRedacted(t *testing.T) {
	r := testKeyring(t)
	dk, _ := NewDataKey(rand.Reader)
	var buf bytes.Buffer
	slog.New(slog.NewJSONHandler(&buf, nil)).Info("x", "dk", dk, "ring", r)
	out := buf.String() + fmt.Sprint(dk, r) + fmt.Sprintf("%v %+v %s", dk, r, dk)
	if bytes.Contains([]byte(out), dk.k[:8]) || bytes.Contains([]byte(out), r.wrap[:8]) {
		t.Fatal("key bytes printed")
	}
	if !bytes.Contains(buf.Bytes(), []byte("[redacted]")) {
		t.Fatalf("log = %s", buf.String())
	}
}

func TestLoadOrCreateKEK(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sub", "kek.key")
	r1, err := LoadOrCreateKEK(path, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil || fi.Mode().Perm() != 0o600 || fi.Size() != 32 {
		t.Fatalf("KEK file: %v %v", fi.Mode(), err)
	}
	r2, err := LoadOrCreateKEK(path, rand.Reader)
	if err != nil || r2.KEKID() != r1.KEKID() {
		t.Fatalf("reload: %v", err)
	}
	os.Chmod(path, 0o644)
	if _, err := LoadOrCreateKEK(path, rand.Reader); err == nil {
		t.Fatal("world-readable KEK accepted")
	}
	short := filepath.Join(t.TempDir(), "short.key")
	os.WriteFile(short, []byte("short"), 0o600)
	if _, err := LoadOrCreateKEK(short, rand.Reader); err == nil {
		t.Fatal("short KEK accepted")
	}
}

// memKeys is an in-memory store.KeyStore.
type memKeys struct {
	mu   sync.Mutex
	keys map[string]store.WrappedKey
}

func (m *memKeys) PutKey(_ context.Context, k store.WrappedKey) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.keys[k.UserID]; ok {
		return store.ErrConflict
	}
	m.keys[k.UserID] = k
	return nil
}

func (m *memKeys) Key(_ context.Context, id string) (store.WrappedKey, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	k, ok := m.keys[id]
	if !ok {
		return store.WrappedKey{}, store.ErrNotFound
	}
	return k, nil
}

func (m *memKeys) DeleteKey(_ context.Context, id string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.keys[id]; !ok {
		return store.ErrNotFound
	}
	delete(m.keys, id)
	return nil
}

func TestDataKeyLifecycle(t *testing.T) {
	ctx := context.Background()
	r := testKeyring(t)
	ks := &memKeys{keys: map[string]store.WrappedKey{}}
	dk, err := r.CreateDataKey(ctx, ks, "u1", time.Now(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	sealed, _ := Seal(dk, "u1", "display_name", []byte("Zelda"), rand.Reader)
	loaded, err := r.DataKey(ctx, ks, "u1")
	if err != nil || loaded != dk {
		t.Fatalf("DataKey = %v", err)
	}
	if _, err := r.CreateDataKey(ctx, ks, "u1", time.Now(), rand.Reader); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("second CreateDataKey = %v", err)
	}
	if err := ks.DeleteKey(ctx, "u1"); err != nil {
		t.Fatal(err)
	}
	if _, err := r.DataKey(ctx, ks, "u1"); !errors.Is(err, ErrKeyDestroyed) {
		t.Fatalf("DataKey after delete = %v, want ErrKeyDestroyed", err)
	}
	_ = sealed // unreadable now: the only copy of dk is gone with the key row
}

// FuzzOpen checks that Open never panics and rejects anything but a genuine
// ciphertext with ErrDecrypt.
func FuzzOpen(f *testing.F) {
	var dk DataKey
	// A fixed nonce keeps sealed identical in every fuzz worker process.
	sealed, _ := Seal(dk, "row", "field", []byte("value"), bytes.NewReader(make([]byte, 24)))
	f.Add(sealed)
	f.Add([]byte{1})
	f.Fuzz(func(t *testing.T, ct []byte) {
		pt, err := Open(dk, "row", "field", ct)
		if err == nil && !bytes.Equal(ct, sealed) {
			t.Fatalf("forged ciphertext opened to %q", pt)
		}
		if err != nil && !errors.Is(err, ErrDecrypt) {
			t.Fatalf("unexpected error %v", err)
		}
	})
}
