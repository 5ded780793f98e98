package pii

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"testing"
	"time"

	"github.com/sealine/sealine/store"
)

// The rotation methods of the in-memory key store of pii_test.go.

func (m *memKeys) KeysNotWrappedBy(_ context.Context, kekID string, limit int) ([]store.WrappedKey, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []store.WrappedKey
	for _, k := range m.keys {
		if k.KEKID != kekID {
			out = append(out, k)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].UserID < out[j].UserID })
	return out[:min(limit, len(out))], nil
}

func (m *memKeys) Rewrap(_ context.Context, batch []store.Rewrap) (int64, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var n int64
	for _, r := range batch {
		if cur, ok := m.keys[r.Key.UserID]; ok && cur.KEKID == r.OldKEKID {
			m.keys[r.Key.UserID] = r.Key
			n++
		}
	}
	return n, nil
}

func (m *memKeys) CountKeys(_ context.Context, kekID string) (int64, int64, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var by int64
	for _, k := range m.keys {
		if k.KEKID == kekID {
			by++
		}
	}
	return int64(len(m.keys)), by, nil
}

// TestIndexKeySurvivesRotation: the blind-index key kept in the key store
// is the one derived from the first KEK, and a ring of another KEK that
// loads it computes the same indexes.
func TestIndexKeySurvivesRotation(t *testing.T) {
	ctx := context.Background()
	ks := &memKeys{keys: map[string]store.WrappedKey{}}
	first := NewRing(testKeyring(t))
	before := first.BlindIndex("alice")
	if err := first.LoadIndexKey(ctx, ks, time.Now(), rand.Reader); err != nil {
		t.Fatal(err)
	}
	if !hmac.Equal(before, first.BlindIndex("alice")) {
		t.Fatal("keeping the index key changed the indexes")
	}
	next, err := NewKeyring(make([]byte, 32))
	if err != nil {
		t.Fatal(err)
	}
	g := NewRing(next, first.Primary())
	if err := g.LoadIndexKey(ctx, ks, time.Now(), rand.Reader); err != nil {
		t.Fatal(err)
	}
	if !hmac.Equal(before, g.BlindIndex("alice")) || g.IndexKeyID() != first.IndexKeyID() {
		t.Fatal("a ring with a new KEK computes other indexes")
	}
}

// TestLoadRing: the next KEK, when present, is the primary; a missing KEK
// file is created only when asked; a rotation never starts without one.
func TestLoadRing(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "kek.key")
	if _, err := LoadRing(path, false, rand.Reader); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("LoadRing without a KEK file: %v", err)
	}
	if _, err := CreateNextKEK(path, rand.Reader); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("CreateNextKEK without a KEK file: %v", err)
	}
	if _, err := os.Stat(path + NextSuffix); !errors.Is(err, fs.ErrNotExist) {
		t.Fatal("a refused rotation left a next KEK")
	}
	g, err := LoadRing(path, true, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	cur := g.Primary().KEKID()
	g2, err := CreateNextKEK(path, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	if g2.Primary().KEKID() == cur || !g2.Knows(cur) {
		t.Fatal("the next KEK is not the primary, or the current one is forgotten")
	}
	retired, err := RetireKEK(path)
	if err != nil {
		t.Fatal(err)
	}
	g3, err := LoadRing(path, false, rand.Reader)
	if err != nil || g3.Primary().KEKID() != g2.Primary().KEKID() || g3.Knows(cur) {
		t.Fatalf("after retiring: %v", err)
	}
	if old, err := LoadKEK(retired); err != nil || old.KEKID() != cur {
		t.Fatalf("retired file: %v", err)
	}
}
