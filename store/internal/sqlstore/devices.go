package sqlstore

import (
	"context"
	"fmt"
	"time"

	"github.com/sealine/sealine/store"
)

const deviceColumns = `id, user_id, name_enc, signature_key, created_ns, last_seen_ns`

// CreateDevice inserts d and its session in one transaction. A user that
// does not exist gives store.ErrNotFound, a taken device id or token hash
// store.ErrConflict.
func (s *Store) CreateDevice(ctx context.Context, d store.Device, ses store.Session) error {
	err := s.tx(ctx, func(q Querier) error { return insertDevice(ctx, q, d, ses) })
	if err != nil {
		return fmt.Errorf("create device: %w", err)
	}
	return nil
}

// insertDevice inserts a device and its first session.
func insertDevice(ctx context.Context, q Querier, d store.Device, ses store.Session) error {
	if ses.DeviceID != d.ID || ses.UserID != d.UserID {
		return fmt.Errorf("session: %w", errMismatch)
	}
	n, err := q.Exec(ctx, `INSERT INTO devices (`+deviceColumns+`)
		VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING`,
		d.ID, d.UserID, blob(d.NameEnc), blob(d.SignatureKey), unixNano(d.CreatedAt), unixNano(d.LastSeenAt))
	if err := conflictIfNone(n, err); err != nil {
		return fmt.Errorf("device: %w", err)
	}
	n, err = q.Exec(ctx, `INSERT INTO sessions (token_hash, user_id, device_id, created_ns, expires_ns)
		VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING`,
		blob(ses.TokenHash), ses.UserID, ses.DeviceID, unixNano(ses.CreatedAt), unixNano(ses.ExpiresAt))
	if err := conflictIfNone(n, err); err != nil {
		return fmt.Errorf("session: %w", err)
	}
	return nil
}

// ListDevices returns the user's devices, oldest first.
func (s *Store) ListDevices(ctx context.Context, userID string) ([]store.Device, error) {
	q, err := s.reader()
	if err != nil {
		return nil, err
	}
	rows, err := q.Query(ctx, `SELECT `+deviceColumns+` FROM devices
		WHERE user_id = $1 ORDER BY created_ns, id`, userID)
	if err != nil {
		return nil, fmt.Errorf("list devices: %w", err)
	}
	defer rows.Close()
	var out []store.Device
	for rows.Next() {
		d, err := scanDevice(rows)
		if err != nil {
			return nil, fmt.Errorf("list devices: %w", err)
		}
		out = append(out, d)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list devices: %w", err)
	}
	return out, nil
}

// Device returns one device of the user, or store.ErrNotFound.
func (s *Store) Device(ctx context.Context, userID, deviceID string) (store.Device, error) {
	q, err := s.reader()
	if err != nil {
		return store.Device{}, err
	}
	d, err := scanDevice(q.QueryRow(ctx, `SELECT `+deviceColumns+` FROM devices
		WHERE id = $1 AND user_id = $2`, deviceID, userID))
	if err != nil {
		return store.Device{}, fmt.Errorf("device: %w", err)
	}
	return d, nil
}

func scanDevice(r Row) (store.Device, error) {
	var d store.Device
	var created, seen int64
	if err := r.Scan(&d.ID, &d.UserID, &d.NameEnc, &d.SignatureKey, &created, &seen); err != nil {
		return store.Device{}, err
	}
	d.CreatedAt, d.LastSeenAt = fromUnixNano(created), fromUnixNano(seen)
	return d, nil
}

// RevokeDevice deletes the device and its sessions in one transaction.
func (s *Store) RevokeDevice(ctx context.Context, userID, deviceID string) error {
	err := s.tx(ctx, func(q Querier) error {
		_, err := q.Exec(ctx, `DELETE FROM sessions WHERE device_id = $1 AND user_id = $2`, deviceID, userID)
		if err != nil {
			return err
		}
		return mustChange(q.Exec(ctx, `DELETE FROM devices WHERE id = $1 AND user_id = $2`, deviceID, userID))
	})
	if err != nil {
		return fmt.Errorf("revoke device: %w", err)
	}
	return nil
}

// TouchDevice moves LastSeenAt forward to at, never back, in one UPDATE.
func (s *Store) TouchDevice(ctx context.Context, deviceID string, at time.Time) error {
	q, err := s.writer()
	if err != nil {
		return err
	}
	err = mustChange(q.Exec(ctx, `UPDATE devices SET
			last_seen_ns = CASE WHEN last_seen_ns < $2 THEN $2 ELSE last_seen_ns END
		WHERE id = $1`, deviceID, unixNano(at)))
	if err != nil {
		return fmt.Errorf("touch device: %w", err)
	}
	return nil
}

// ChangePassword sets the hash and revokes every other device of the user,
// with their sessions, in one transaction. An empty or foreign keepDeviceID
// revokes every device.
func (s *Store) ChangePassword(ctx context.Context, userID, hash, keepDeviceID string) (int, error) {
	var revoked int64
	err := s.tx(ctx, func(q Querier) error {
		err := mustChange(q.Exec(ctx, `UPDATE users SET password_hash = $2 WHERE id = $1`, userID, hash))
		if err != nil {
			return err
		}
		_, err = q.Exec(ctx, `DELETE FROM sessions WHERE user_id = $1 AND device_id <> $2`, userID, keepDeviceID)
		if err != nil {
			return err
		}
		revoked, err = q.Exec(ctx, `DELETE FROM devices WHERE user_id = $1 AND id <> $2`, userID, keepDeviceID)
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("change password: %w", err)
	}
	return int(revoked), nil
}
