package server

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
	"time"

	"github.com/sealine/sealine/internal/pii"
	"github.com/sealine/sealine/store"
)

// kekRing is the server's view of its KEK files. A rotation may start,
// or finish, while the server runs (`sealine admin rotate-kek`): before
// wrapping a new key, and when a stored key names a KEK it lacks, the
// server stats the KEK files and reloads them if they changed. The
// blind-index key, kept in the key store, does not change with them.
type kekRing struct {
	path string
	rand io.Reader

	mu    sync.Mutex
	ring  *pii.Ring
	stamp string
}

// newKEKRing loads (creating on first start) the KEK files and the
// blind-index key.
func newKEKRing(ctx context.Context, cfg Config, ks store.KeyStore) (*kekRing, error) {
	k := &kekRing{path: cfg.KEKFile, rand: cfg.Rand}
	ring, err := pii.LoadRing(k.path, true, cfg.Rand)
	if err != nil {
		return nil, fmt.Errorf("server: %w", err)
	}
	if err := ring.LoadIndexKey(ctx, ks, cfg.Now(), cfg.Rand); err != nil {
		return nil, fmt.Errorf("server: %w", err)
	}
	k.ring, k.stamp = ring, k.fileStamp()
	return k, nil
}

// fileStamp identifies the KEK files' current state.
func (k *kekRing) fileStamp() string {
	s := ""
	for _, p := range []string{k.path, k.path + pii.NextSuffix} {
		if fi, err := os.Stat(p); err == nil {
			s += fmt.Sprintf("%s:%d:%d;", p, fi.Size(), fi.ModTime().UnixNano())
		}
	}
	return s
}

// current returns the ring, reloaded first if the files changed. A reload
// that fails keeps the ring the server has.
func (k *kekRing) current() *pii.Ring {
	k.mu.Lock()
	defer k.mu.Unlock()
	if st := k.fileStamp(); st != k.stamp {
		if ring, err := pii.LoadRing(k.path, false, k.rand); err == nil {
			k.ring, k.stamp = ring.WithIndexOf(k.ring), st
		}
	}
	return k.ring
}

func (k *kekRing) BlindIndex(name string) []byte { return k.current().BlindIndex(name) }

func (k *kekRing) ContactIndex(kind, v string) []byte { return k.current().ContactIndex(kind, v) }

func (k *kekRing) IndexKeyID() string { return k.current().IndexKeyID() }

// CreateDataKey wraps a new data key with the newest KEK.
func (k *kekRing) CreateDataKey(ctx context.Context, ks store.KeyStore, userID string, now time.Time, rand io.Reader) (pii.DataKey, error) {
	return k.current().CreateDataKey(ctx, ks, userID, now, rand)
}

// DataKey unwraps userID's data key with the KEK that wrapped it.
func (k *kekRing) DataKey(ctx context.Context, ks store.KeyStore, userID string) (pii.DataKey, error) {
	dk, err := k.current().DataKey(ctx, ks, userID)
	if errors.Is(err, pii.ErrUnknownKEK) {
		// A rotation may have rewrapped the key between our read of the
		// files and of the key: read both again once.
		return k.current().DataKey(ctx, ks, userID)
	}
	return dk, err
}
