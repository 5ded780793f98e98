package server

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
)

// BlobStore keeps attachment ciphertext by key. Keys, not paths, are what
// the database stores, so another implementation (object storage shared
// by several nodes) can replace the filesystem one.
type BlobStore interface {
	// Put stores everything r yields under key. If r fails, nothing is
	// stored. A key already present is replaced.
	Put(ctx context.Context, key string, r io.Reader) error
	// Get opens the blob; ErrBlobNotFound when there is none.
	Get(ctx context.Context, key string) (io.ReadCloser, error)
	// Delete removes the blob; deleting a missing key is not an error.
	Delete(ctx context.Context, key string) error
}

// ErrBlobNotFound: the blob store has nothing under the key.
var ErrBlobNotFound = errors.New("server: blob not found")

// errBadBlobKey: a key that is not a plain name.
var errBadBlobKey = errors.New("server: bad blob key")

var blobKey = regexp.MustCompile(`^[a-z0-9]{1,64}$`)

// FileBlobStore is a BlobStore in a directory: one 0600 file per key in
// 0700 directories, written to a temporary file, fsynced and renamed into
// place, so a failed or truncated upload leaves nothing behind.
type FileBlobStore struct{ dir string }

// NewFileBlobStore uses (creating) dir.
func NewFileBlobStore(dir string) (*FileBlobStore, error) {
	if err := os.MkdirAll(filepath.Join(dir, "tmp"), 0o700); err != nil {
		return nil, fmt.Errorf("blob store: %w", err)
	}
	return &FileBlobStore{dir: dir}, nil
}

// path is where key lives: a 0700 directory per two-character prefix.
func (f *FileBlobStore) path(key string) (string, error) {
	if !blobKey.MatchString(key) {
		return "", errBadBlobKey
	}
	prefix := key[len(key)-min(len(key), 2):]
	return filepath.Join(f.dir, prefix, key), nil
}

// Put implements BlobStore.
func (f *FileBlobStore) Put(ctx context.Context, key string, r io.Reader) (err error) {
	dst, err := f.path(key)
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Join(f.dir, "tmp"), "put-*")
	if err != nil {
		return fmt.Errorf("blob store: %w", err)
	}
	defer func() {
		if err != nil {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	if err := tmp.Chmod(0o600); err != nil {
		return fmt.Errorf("blob store: %w", err)
	}
	if _, err := io.Copy(tmp, r); err != nil {
		return fmt.Errorf("blob store: write: %w", err)
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := tmp.Sync(); err != nil {
		return fmt.Errorf("blob store: sync: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("blob store: %w", err)
	}
	return f.rename(tmp.Name(), dst)
}

// rename moves a finished file into place and syncs its directory.
func (f *FileBlobStore) rename(tmp, dst string) error {
	dir := filepath.Dir(dst)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("blob store: %w", err)
	}
	if err := os.Rename(tmp, dst); err != nil {
		return fmt.Errorf("blob store: %w", err)
	}
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("blob store: %w", err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("blob store: sync dir: %w", err)
	}
	return nil
}

// Get implements BlobStore.
func (f *FileBlobStore) Get(_ context.Context, key string) (io.ReadCloser, error) {
	p, err := f.path(key)
	if err != nil {
		return nil, err
	}
	r, err := os.Open(p)
	if errors.Is(err, os.ErrNotExist) {
		return nil, ErrBlobNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("blob store: %w", err)
	}
	return r, nil
}

// Delete implements BlobStore.
func (f *FileBlobStore) Delete(_ context.Context, key string) error {
	p, err := f.path(key)
	if err != nil {
		return err
	}
	if err := os.Remove(p); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("blob store: %w", err)
	}
	return nil
}
