package pii

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/sealine/sealine/store"
)

// LoadOrCreateKEK reads the 32-byte KEK at path, creating it with mode 0600
// from rand when it does not exist. It refuses a file of another size or one
// readable by group or others.
func LoadOrCreateKEK(path string, rand io.Reader) (*Keyring, error) {
	kek, err := readKEK(path)
	if errors.Is(err, fs.ErrNotExist) {
		kek, err = createKEK(path, rand)
	}
	if err != nil {
		return nil, err
	}
	return NewKeyring(kek)
}

func readKEK(path string) ([]byte, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("pii: KEK file: %w", err)
	}
	if fi.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("pii: KEK file %s is accessible by others (mode %v); chmod 600 it", path, fi.Mode().Perm())
	}
	kek, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("pii: KEK file: %w", err)
	}
	if len(kek) != keySize {
		return nil, fmt.Errorf("pii: KEK file %s holds %d bytes, want %d", path, len(kek), keySize)
	}
	return kek, nil
}

func createKEK(path string, rand io.Reader) ([]byte, error) {
	kek := make([]byte, keySize)
	if _, err := io.ReadFull(rand, kek); err != nil {
		return nil, fmt.Errorf("pii: KEK: %w", err)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("pii: KEK dir: %w", err)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return nil, fmt.Errorf("pii: create KEK: %w", err)
	}
	_, err = f.Write(kek)
	if err = errors.Join(err, f.Sync(), f.Close()); err != nil {
		return nil, fmt.Errorf("pii: write KEK: %w", err)
	}
	return kek, nil
}

// CreateDataKey draws a data key for userID and stores it wrapped in ks.
func (r *Keyring) CreateDataKey(ctx context.Context, ks store.KeyStore, userID string, now time.Time, rand io.Reader) (DataKey, error) {
	dk, err := NewDataKey(rand)
	if err != nil {
		return DataKey{}, err
	}
	wrapped, err := r.Wrap(dk, userID, rand)
	if err != nil {
		return DataKey{}, err
	}
	k := store.WrappedKey{UserID: userID, KEKID: r.id, Ciphertext: wrapped, CreatedAt: now}
	if err := ks.PutKey(ctx, k); err != nil {
		return DataKey{}, fmt.Errorf("pii: store data key: %w", err)
	}
	return dk, nil
}

// DataKey loads and unwraps userID's data key from ks. It returns
// ErrKeyDestroyed when the key was deleted.
func (r *Keyring) DataKey(ctx context.Context, ks store.KeyStore, userID string) (DataKey, error) {
	k, err := ks.Key(ctx, userID)
	if errors.Is(err, store.ErrNotFound) {
		return DataKey{}, ErrKeyDestroyed
	}
	if err != nil {
		return DataKey{}, fmt.Errorf("pii: load data key: %w", err)
	}
	return r.Unwrap(k.Ciphertext, userID, k.KEKID)
}
