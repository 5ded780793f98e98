package sqlstore

import (
	"context"
	"fmt"

	"github.com/sealine/sealine/store"
)

// keyStore keeps wrapped data keys in the keys_* tables, which no other
// table references, so they can move to their own database.
type keyStore struct{ s *Store }

// PutKey stores k; store.ErrConflict if the user already has a key.
func (k keyStore) PutKey(ctx context.Context, w store.WrappedKey) error {
	q, err := k.s.writer()
	if err != nil {
		return err
	}
	n, err := q.Exec(ctx, `INSERT INTO keys_wrapped (user_id, kek_id, ciphertext, created_ns)
		VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING`,
		w.UserID, w.KEKID, blob(w.Ciphertext), unixNano(w.CreatedAt))
	if err := conflictIfNone(n, err); err != nil {
		return fmt.Errorf("put key: %w", err)
	}
	return nil
}

// Key returns the user's wrapped key or store.ErrNotFound.
func (k keyStore) Key(ctx context.Context, userID string) (store.WrappedKey, error) {
	q, err := k.s.reader()
	if err != nil {
		return store.WrappedKey{}, err
	}
	var w store.WrappedKey
	var created int64
	err = q.QueryRow(ctx, `SELECT user_id, kek_id, ciphertext, created_ns
		FROM keys_wrapped WHERE user_id = $1`, userID).Scan(&w.UserID, &w.KEKID, &w.Ciphertext, &created)
	if err != nil {
		return store.WrappedKey{}, fmt.Errorf("key: %w", err)
	}
	w.CreatedAt = fromUnixNano(created)
	return w, nil
}

// DeleteKey destroys the user's key; store.ErrNotFound if there is none.
func (k keyStore) DeleteKey(ctx context.Context, userID string) error {
	q, err := k.s.writer()
	if err != nil {
		return err
	}
	if err := mustChange(q.Exec(ctx, `DELETE FROM keys_wrapped WHERE user_id = $1`, userID)); err != nil {
		return fmt.Errorf("delete key: %w", err)
	}
	return nil
}
