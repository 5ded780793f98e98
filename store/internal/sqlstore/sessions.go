package sqlstore

import (
	"context"
	"fmt"
	"time"

	"github.com/sealine/sealine/store"
)

// SessionByTokenHash returns the session unless it expired before now.
func (s *Store) SessionByTokenHash(ctx context.Context, tokenHash []byte, now time.Time) (store.Session, error) {
	q, err := s.reader()
	if err != nil {
		return store.Session{}, err
	}
	var ses store.Session
	var created, expires int64
	err = q.QueryRow(ctx, `SELECT token_hash, user_id, device_id, created_ns, expires_ns
		FROM sessions WHERE token_hash = $1 AND expires_ns >= $2`, blob(tokenHash), unixNano(now)).Scan(
		&ses.TokenHash, &ses.UserID, &ses.DeviceID, &created, &expires)
	if err != nil {
		return store.Session{}, fmt.Errorf("session: %w", err)
	}
	ses.CreatedAt, ses.ExpiresAt = fromUnixNano(created), fromUnixNano(expires)
	return ses, nil
}
