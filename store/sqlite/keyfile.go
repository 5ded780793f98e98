package sqlite

import (
	"context"
	"errors"
	"fmt"

	"github.com/sealine/sealine/store"
	"github.com/sealine/sealine/store/internal/sqlstore"
)

// keyFile is the key store in its own SQLite file (Options.KeysPath), so
// that a backup of the data file holds no data key, and deleting a key
// from this file crypto-shreds the user in every backup of the data file.
type keyFile struct {
	*sqlstore.Store
	pools *pools
}

// openKeyFile opens and migrates the key file with the keys set only.
func openKeyFile(ctx context.Context, path string, opts Options, set sqlstore.MigrationSet) (*keyFile, error) {
	db, err := openDB(ctx, path, opts)
	if err != nil {
		return nil, fmt.Errorf("open key store %s: %w", path, err)
	}
	err = db.Tx(ctx, func(q sqlstore.Querier) error {
		if err := refuseForeign(ctx, q); err != nil {
			return err
		}
		return sqlstore.Migrate(ctx, q, set)
	})
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("open key store %s: %w", path, err)
	}
	return &keyFile{Store: sqlstore.New("sqlite", db, set), pools: db}, nil
}

// attachKeyFile opens the key file and moves into it any wrapped key left
// in the data file by a binary that kept both in one file: copy first,
// then delete from the data file, so a crash in between loses nothing.
func (s *Store) attachKeyFile(ctx context.Context, path string, opts Options, set sqlstore.MigrationSet) error {
	kf, err := openKeyFile(ctx, path, opts, set)
	if err != nil {
		return err
	}
	if err := moveKeys(ctx, s.pools, kf.pools); err != nil {
		return errors.Join(fmt.Errorf("move keys to %s: %w", path, err), kf.Close())
	}
	s.keys = kf
	return nil
}

func moveKeys(ctx context.Context, from, to *pools) error {
	rows, err := from.reader.QueryContext(ctx, `SELECT user_id, kek_id, ciphertext, created_ns FROM keys_wrapped`)
	if err != nil {
		return classify(err)
	}
	defer rows.Close()
	moved := 0
	for rows.Next() {
		var user, kek string
		var ct []byte
		var created int64
		if err := rows.Scan(&user, &kek, &ct, &created); err != nil {
			return classify(err)
		}
		if _, err := to.writer.ExecContext(ctx, `INSERT INTO keys_wrapped (user_id, kek_id, ciphertext, created_ns)
			VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING`, user, kek, ct, created); err != nil {
			return classify(err)
		}
		moved++
	}
	if err := rows.Err(); err != nil || moved == 0 {
		return classify(err)
	}
	if _, err := from.writer.ExecContext(ctx, `DELETE FROM keys_wrapped`); err != nil {
		return classify(err)
	}
	_, err = from.writer.ExecContext(ctx, "PRAGMA wal_checkpoint(TRUNCATE)")
	return classify(err)
}

// Close closes the data file and the key file.
func (s *Store) Close() error {
	err := s.Store.Close()
	if s.keys != nil {
		err = errors.Join(err, s.keys.Close())
	}
	return err
}

// Ping checks the data file and the key file.
func (s *Store) Ping(ctx context.Context) error {
	if err := s.Store.Ping(ctx); err != nil {
		return err
	}
	if s.keys != nil {
		return s.keys.Ping(ctx)
	}
	return nil
}

// keyStore returns the key file's store and pools, or the data file's.
func (s *Store) keyStore() (store.KeyStore, *pools) {
	if s.keys != nil {
		return s.keys.Store.Keys(), s.keys.pools
	}
	return s.Store.Keys(), s.pools
}
