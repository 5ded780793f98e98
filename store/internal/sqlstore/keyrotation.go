package sqlstore

import (
	"context"
	"fmt"

	"github.com/sealine/sealine/store"
)

// KeysNotWrappedBy lists keys wrapped by another KEK than kekID.
func (k keyStore) KeysNotWrappedBy(ctx context.Context, kekID string, limit int) ([]store.WrappedKey, error) {
	q, err := k.s.reader()
	if err != nil {
		return nil, err
	}
	rows, err := q.Query(ctx, `SELECT user_id, kek_id, ciphertext, created_ns FROM keys_wrapped
		WHERE kek_id <> $1 ORDER BY user_id LIMIT $2`, kekID, int64(limit))
	if err != nil {
		return nil, fmt.Errorf("keys not wrapped by: %w", err)
	}
	out, err := collect(rows, func(r Row) (store.WrappedKey, error) {
		var w store.WrappedKey
		var created int64
		err := r.Scan(&w.UserID, &w.KEKID, &w.Ciphertext, &created)
		w.CreatedAt = fromUnixNano(created)
		return w, err
	})
	if err != nil {
		return nil, fmt.Errorf("keys not wrapped by: %w", err)
	}
	return out, nil
}

// Rewrap replaces the keys still wrapped by their old KEK, in one
// transaction (one fsync for the batch on SQLite).
func (k keyStore) Rewrap(ctx context.Context, batch []store.Rewrap) (int64, error) {
	var n int64
	err := k.s.tx(ctx, func(q Querier) error {
		n = 0
		for _, r := range batch {
			m, err := q.Exec(ctx, `UPDATE keys_wrapped SET kek_id = $2, ciphertext = $3
				WHERE user_id = $1 AND kek_id = $4`, r.Key.UserID, r.Key.KEKID, blob(r.Key.Ciphertext), r.OldKEKID)
			if err != nil {
				return err
			}
			n += m
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("rewrap: %w", err)
	}
	return n, nil
}

// CountKeys counts all keys and those wrapped by kekID.
func (k keyStore) CountKeys(ctx context.Context, kekID string) (int64, int64, error) {
	q, err := k.s.reader()
	if err != nil {
		return 0, 0, err
	}
	var total, by int64
	err = q.QueryRow(ctx, `SELECT count(*), count(*) FILTER (WHERE kek_id = $1) FROM keys_wrapped`, kekID).Scan(&total, &by)
	if err != nil {
		return 0, 0, fmt.Errorf("count keys: %w", err)
	}
	return total, by, nil
}
