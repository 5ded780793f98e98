package server

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/sealine/sealine/internal/pii"
	"github.com/sealine/sealine/store"
	"github.com/sealine/sealine/store/sqlite"
)

// Operator tasks that run beside (or without) a serving node on the same
// data: the retention purge on demand, backups, restores and KEK rotation.
// They open the store the way New does, but listen on nothing.

// ErrKeyDestroyed: the user's data key was deleted (crypto-shredded).
var ErrKeyDestroyed = pii.ErrKeyDestroyed

// ErrNotSQLite: backup and restore are for the SQLite backend; PostgreSQL
// has pg_dump and point-in-time recovery (docs/OPERATIONS.md).
var ErrNotSQLite = errors.New("server: backup and restore work on the SQLite store; for PostgreSQL use pg_dump or PITR (see docs/OPERATIONS.md)")

// Admin holds a store opened for operator tasks.
type Admin struct {
	cfg   Config
	store store.Store
	blobs BlobStore
}

// OpenAdmin opens cfg's store for operator tasks.
func OpenAdmin(ctx context.Context, cfg Config) (*Admin, error) {
	if err := cfg.check(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	st, err := openStore(ctx, cfg)
	if err != nil {
		return nil, err
	}
	mc, err := cfg.Messaging.withDefaults(cfg.DataDir)
	if err != nil {
		return nil, errors.Join(fmt.Errorf("server: %w", err), st.Close())
	}
	return &Admin{cfg: cfg, store: st, blobs: mc.BlobStore}, nil
}

// Close releases the store.
func (a *Admin) Close() error { return a.store.Close() }

// Store is the opened store, for tests and tools.
func (a *Admin) Store() store.Store { return a.store }

// Purge runs the retention purge once and logs its counts.
func (a *Admin) Purge(ctx context.Context, progress PurgeProgress) (PurgeReport, error) {
	p := purger{store: a.store, blobs: a.blobs, cfg: a.cfg.Lifecycle.withDefaults()}
	report, err := p.run(ctx, a.cfg.Now(), progress)
	logPurge(a.cfg.Logger, report, err)
	return report, err
}

// Backup writes a consistent snapshot of the SQLite data file to out
// (which must not exist) while servers keep running. The key store is
// not in it; see BackupKeys.
func (a *Admin) Backup(ctx context.Context, out string, progress sqlite.Progress) error {
	st, ok := a.store.(*sqlite.Store)
	if !ok {
		return ErrNotSQLite
	}
	return st.Backup(ctx, out, progress)
}

// BackupKeys writes a snapshot of the SQLite key store to out. Keep these
// backups apart from the data backups, for a short time only: a key
// store backup can bring a withdrawn user's data back.
func (a *Admin) BackupKeys(ctx context.Context, out string, progress sqlite.Progress) error {
	st, ok := a.store.(*sqlite.Store)
	if !ok {
		return ErrNotSQLite
	}
	return st.BackupKeys(ctx, out, progress)
}

// Restore replaces cfg's SQLite data file with the backup at in. The
// server must be stopped; the key store is left as it is, so users
// withdrawn since the backup stay unreadable.
func Restore(ctx context.Context, cfg Config, in string) error {
	kind, err := dbKind(cfg.DB)
	if err != nil {
		return err
	}
	if kind != "sqlite" {
		return ErrNotSQLite
	}
	cfg = cfg.withDefaults()
	live := dataPath(cfg, "sealine.db")
	if p, ok := strings.CutPrefix(cfg.DB, "sqlite:"); ok {
		live = p
	}
	if err := sqlite.Restore(ctx, in, live); err != nil {
		return fmt.Errorf("server: %w", err)
	}
	return nil
}

// OpenUser opens the sealed username of a user with the current key
// store: ErrKeyDestroyed (internal/pii) once the user withdrew. It is how
// an operator (and the tests) check that a backup is unreadable for them.
func (a *Admin) OpenUser(ctx context.Context, userID string) (string, error) {
	keys, err := pii.LoadRing(a.cfg.KEKFile, false, a.cfg.Rand) // during a rotation too
	if err != nil {
		return "", err
	}
	u, err := a.store.UserByID(ctx, userID)
	if err != nil {
		return "", err
	}
	dk, err := keys.DataKey(ctx, a.store.Keys(), userID)
	if err != nil {
		return "", err
	}
	name, err := pii.Open(dk, userID, fieldUsername, u.UsernameEnc)
	return string(name), err
}

// SweepWithdrawn deletes every user whose data key is gone from the key
// store: after restoring a data backup, the users who withdrew since it
// was taken come back as rows nobody can open; this removes them (with a
// fresh quarantine entry), as their withdrawal did. It returns how many
// it removed.
func (a *Admin) SweepWithdrawn(ctx context.Context) (int, error) {
	removed, after := 0, ""
	for {
		ids, err := a.store.UserIDs(ctx, after, 500)
		if err != nil || len(ids) == 0 {
			return removed, err
		}
		for _, id := range ids {
			gone, err := a.sweep(ctx, id)
			if err != nil {
				return removed, err
			}
			if gone {
				removed++
			}
		}
		after = ids[len(ids)-1]
	}
}

// sweep withdraws userID again if its key is destroyed.
func (a *Admin) sweep(ctx context.Context, userID string) (bool, error) {
	_, err := a.store.Keys().Key(ctx, userID)
	if !errors.Is(err, store.ErrNotFound) {
		return false, err
	}
	u, err := a.store.UserByID(ctx, userID)
	if err != nil {
		return false, err
	}
	_, err = a.store.DeleteUser(ctx, store.Withdrawal{UserID: u.ID, UsernameIndex: u.UsernameIndex, At: a.cfg.Now()})
	return err == nil, err
}
