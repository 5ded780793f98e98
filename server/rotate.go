package server

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"

	"github.com/sealine/sealine/internal/pii"
	"github.com/sealine/sealine/store"
)

// RotateReport counts what a KEK rotation did.
type RotateReport struct {
	// Rewrapped is how many keys this run rewrapped; Total how many keys
	// the key store holds (user data keys and the blind-index key).
	Rewrapped, Total int64
	// NewKEKID names the KEK now in the KEK file.
	NewKEKID string
	// RetiredFile holds the old KEK, decrypt-only, for restoring key-store
	// backups made before the rotation; "" when a run only finished an
	// interrupted rename.
	RetiredFile string
}

// RotateProgress is called after each batch with keys done and total.
type RotateProgress func(done, total int64)

// RotateKEK introduces a new KEK and rewraps every stored key under it,
// batch keys per round, while servers keep running: they pick up the new
// KEK file and unwrap with either KEK meanwhile. Each key is rewrapped by
// one conditional UPDATE, so a run cancelled at any point (a crash)
// leaves every key readable, and running RotateKEK again resumes with the
// same new KEK. When no key is left under the old KEK, the old KEK file is
// renamed <KEK file>.retired-<id> and the new one takes its place.
func (a *Admin) RotateKEK(ctx context.Context, batch int, progress RotateProgress) (RotateReport, error) {
	path := a.cfg.KEKFile
	if done, err := finishRename(path); done || err != nil {
		return RotateReport{}, err
	}
	ring, err := pii.CreateNextKEK(path, a.cfg.Rand)
	if err != nil {
		return RotateReport{}, fmt.Errorf("rotate KEK: %w", err)
	}
	rep := RotateReport{NewKEKID: ring.Primary().KEKID()}
	if err := a.rewrapAll(ctx, ring, max(batch, 1), progress, &rep); err != nil {
		return rep, fmt.Errorf("rotate KEK: %w (run it again to resume)", err)
	}
	if rep.RetiredFile, err = pii.RetireKEK(path); err != nil {
		return rep, fmt.Errorf("rotate KEK: %w", err)
	}
	a.cfg.Logger.Info("KEK rotated", "kek", rep.NewKEKID, "rewrapped", rep.Rewrapped, "keys", rep.Total)
	return rep, nil
}

// finishRename completes a rotation that stopped between its two renames.
func finishRename(path string) (bool, error) {
	_, errCur := os.Stat(path)
	_, errNext := os.Stat(path + pii.NextSuffix)
	if !errors.Is(errCur, fs.ErrNotExist) || errNext != nil {
		return false, nil
	}
	if err := os.Rename(path+pii.NextSuffix, path); err != nil {
		return false, fmt.Errorf("rotate KEK: finish: %w", err)
	}
	return true, nil
}

// rewrapAll rewraps batches until no key is left under another KEK.
func (a *Admin) rewrapAll(ctx context.Context, ring *pii.Ring, batch int, progress RotateProgress, rep *RotateReport) error {
	ks, next := a.store.Keys(), ring.Primary().KEKID()
	for {
		total, done, err := ks.CountKeys(ctx, next)
		if err != nil {
			return err
		}
		rep.Total = total
		if progress != nil {
			progress(done, total)
		}
		keys, err := ks.KeysNotWrappedBy(ctx, next, batch)
		if err != nil || len(keys) == 0 {
			return err
		}
		rw := make([]store.Rewrap, 0, len(keys))
		for _, k := range keys {
			r, err := a.rewrap(ctx, ring, k)
			if err != nil {
				return err
			}
			rw = append(rw, r)
		}
		n, err := ks.Rewrap(ctx, rw)
		rep.Rewrapped += n
		if err != nil {
			return err
		}
	}
}

// rewrap wraps one key anew under the primary KEK. The store skips a key
// deleted meanwhile (a withdrawal) or already moved (another run).
func (a *Admin) rewrap(ctx context.Context, ring *pii.Ring, k store.WrappedKey) (store.Rewrap, error) {
	if err := ctx.Err(); err != nil {
		return store.Rewrap{}, err
	}
	dk, err := ring.Unwrap(k)
	if err != nil {
		return store.Rewrap{}, fmt.Errorf("unwrap key of %s (KEK %s): %w", k.UserID, k.KEKID, err)
	}
	p := ring.Primary()
	wrapped, err := p.Wrap(dk, k.UserID, a.cfg.Rand)
	if err != nil {
		return store.Rewrap{}, err
	}
	nk := store.WrappedKey{UserID: k.UserID, KEKID: p.KEKID(), Ciphertext: wrapped, CreatedAt: k.CreatedAt}
	return store.Rewrap{Key: nk, OldKEKID: k.KEKID}, nil
}
