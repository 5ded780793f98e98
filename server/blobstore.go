package server

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"
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

// BlobSweeper is a BlobStore that can list what it holds, so the purge
// job can delete bytes that no record refers to. Such bytes are left by a
// crash between storing an upload and writing its record, or between
// deleting a withdrawn user's records and their bytes. A BlobStore
// without it is never swept.
type BlobSweeper interface {
	// Sweep deletes every blob written before cutoff for which orphan
	// says true, and every unfinished upload begun before cutoff, and
	// returns how many it deleted.
	Sweep(ctx context.Context, cutoff time.Time, orphan func(ctx context.Context, key string) (bool, error)) (int64, error)
}

// Sweep implements BlobSweeper. Only the blob directories (two-character
// key suffixes) and tmp are looked at; any other file is left alone.
func (f *FileBlobStore) Sweep(ctx context.Context, cutoff time.Time, orphan func(ctx context.Context, key string) (bool, error)) (int64, error) {
	var n int64
	dirs, err := os.ReadDir(f.dir)
	if err != nil {
		return 0, fmt.Errorf("blob store: sweep: %w", err)
	}
	for _, d := range dirs {
		if !d.IsDir() {
			continue
		}
		isTmp := d.Name() == "tmp"
		if !isTmp && !blobKey.MatchString(d.Name()) {
			continue
		}
		files, err := os.ReadDir(filepath.Join(f.dir, d.Name()))
		if err != nil {
			return n, fmt.Errorf("blob store: sweep: %w", err)
		}
		for _, file := range files {
			if err := ctx.Err(); err != nil {
				return n, err
			}
			gone, err := f.sweepOne(ctx, d.Name(), file, isTmp, cutoff, orphan)
			if err != nil {
				return n, err
			}
			if gone {
				n++
			}
		}
	}
	return n, nil
}

// sweepOne deletes one file of dir if Sweep should.
func (f *FileBlobStore) sweepOne(ctx context.Context, dir string, file os.DirEntry, isTmp bool, cutoff time.Time, orphan func(context.Context, string) (bool, error)) (bool, error) {
	name := file.Name()
	switch {
	case !file.Type().IsRegular():
		return false, nil
	case isTmp && !strings.HasPrefix(name, "put-"):
		return false, nil
	case !isTmp && (!blobKey.MatchString(name) || !strings.HasSuffix(name, dir)):
		return false, nil
	}
	info, err := file.Info()
	if errors.Is(err, os.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("blob store: sweep: %w", err)
	}
	if !info.ModTime().Before(cutoff) {
		return false, nil
	}
	if !isTmp {
		lost, err := orphan(ctx, name)
		if err != nil || !lost {
			return false, err
		}
	}
	if err := os.Remove(filepath.Join(f.dir, dir, name)); err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return false, nil
		}
		return false, fmt.Errorf("blob store: sweep: %w", err)
	}
	return true, nil
}
