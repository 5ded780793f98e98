package sqlite

import (
	"context"
	"fmt"

	"github.com/sealine/sealine/store"
)

// Keys returns the key store. On SQLite a deleted key is also purged from
// the write-ahead log: secure_delete zeroes the row in its page, and a
// TRUNCATE checkpoint then copies that page into the main file and empties
// the log, so the wrapped key's bytes are left in neither file.
func (s *Store) Keys() store.KeyStore {
	ks, p := s.keyStore()
	return shreddingKeys{KeyStore: ks, pools: p}
}

type shreddingKeys struct {
	store.KeyStore
	pools *pools
}

// DeleteKey deletes the key, then checkpoints and truncates the WAL. The
// checkpoint is best effort: a reader holding an old snapshot can make it
// stop early, and the next checkpoint finishes the job.
func (k shreddingKeys) DeleteKey(ctx context.Context, userID string) error {
	if err := k.KeyStore.DeleteKey(ctx, userID); err != nil {
		return err
	}
	if _, err := k.pools.writer.ExecContext(ctx, "PRAGMA wal_checkpoint(TRUNCATE)"); err != nil {
		return fmt.Errorf("delete key: checkpoint: %w", err)
	}
	return nil
}
