package sqlstore

import (
	"context"
	"errors"
	"fmt"

	"github.com/sealine/sealine/store"
)

// AddBlob raises the uploader's usage in one upsert and inserts the record;
// usage past quota rolls both back with store.ErrQuota.
func (s *Store) AddBlob(ctx context.Context, b store.Blob, quota int64) error {
	err := s.tx(ctx, func(q Querier) error {
		var used int64
		err := q.QueryRow(ctx, `INSERT INTO blob_usage (user_id, bytes) VALUES ($1, $2)
			ON CONFLICT (user_id) DO UPDATE SET bytes = blob_usage.bytes + excluded.bytes
			RETURNING bytes`, b.UserID, b.Size).Scan(&used)
		if err != nil {
			return err
		}
		if used > quota {
			return store.ErrQuota
		}
		n, err := q.Exec(ctx, `INSERT INTO blobs (id, conversation_id, user_id, size, created_ns)
			VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING`,
			b.ID, b.ConversationID, b.UserID, b.Size, unixNano(b.CreatedAt))
		return conflictIfNone(n, err)
	})
	if err != nil {
		return fmt.Errorf("add blob: %w", err)
	}
	return nil
}

// Blob returns one blob record.
func (s *Store) Blob(ctx context.Context, id string) (store.Blob, error) {
	q, err := s.reader()
	if err != nil {
		return store.Blob{}, err
	}
	var b store.Blob
	var created int64
	err = q.QueryRow(ctx, `SELECT id, conversation_id, user_id, size, created_ns FROM blobs WHERE id = $1`, id).
		Scan(&b.ID, &b.ConversationID, &b.UserID, &b.Size, &created)
	if err != nil {
		return store.Blob{}, fmt.Errorf("blob: %w", err)
	}
	b.CreatedAt = fromUnixNano(created)
	return b, nil
}

// BlobUsage returns the user's stored blob bytes.
func (s *Store) BlobUsage(ctx context.Context, userID string) (int64, error) {
	q, err := s.reader()
	if err != nil {
		return 0, err
	}
	var used int64
	err = q.QueryRow(ctx, `SELECT bytes FROM blob_usage WHERE user_id = $1`, userID).Scan(&used)
	if errors.Is(err, store.ErrNotFound) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("blob usage: %w", err)
	}
	return used, nil
}
