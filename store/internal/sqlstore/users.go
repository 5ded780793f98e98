package sqlstore

import (
	"context"
	"fmt"
	"time"

	"github.com/sealine/sealine/store"
)

const userColumns = `id, username_index, username_enc, display_name_enc, password_hash,
	created_ns, failed_logins, locked_until_ns`

// CreateUser inserts the user, its first device and session in one
// transaction. ON CONFLICT DO NOTHING decides a race for the username index
// (or any other unique value) without an error inside the transaction; the
// loser sees no row inserted and rolls everything back.
func (s *Store) CreateUser(ctx context.Context, u store.User, d store.Device, ses store.Session) error {
	if d.UserID != u.ID {
		return fmt.Errorf("create user: device: %w", errMismatch)
	}
	err := s.tx(ctx, func(q Querier) error {
		n, err := q.Exec(ctx, `INSERT INTO users (`+userColumns+`)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT DO NOTHING`,
			u.ID, blob(u.UsernameIndex), blob(u.UsernameEnc), blob(u.DisplayNameEnc), u.PasswordHash,
			unixNano(u.CreatedAt), int64(u.FailedLogins), unixNano(u.LockedUntil))
		if err := conflictIfNone(n, err); err != nil {
			return err
		}
		return insertDevice(ctx, q, d, ses)
	})
	if err != nil {
		return fmt.Errorf("create user: %w", err)
	}
	return nil
}

// UserByID returns the user or store.ErrNotFound.
func (s *Store) UserByID(ctx context.Context, id string) (store.User, error) {
	return s.user(ctx, "id = $1", id)
}

// UserByUsernameIndex returns the user or store.ErrNotFound.
func (s *Store) UserByUsernameIndex(ctx context.Context, index []byte) (store.User, error) {
	return s.user(ctx, "username_index = $1", blob(index))
}

func (s *Store) user(ctx context.Context, where string, arg any) (store.User, error) {
	q, err := s.reader()
	if err != nil {
		return store.User{}, err
	}
	var u store.User
	var created, locked, failed int64
	err = q.QueryRow(ctx, `SELECT `+userColumns+` FROM users WHERE `+where, arg).Scan(
		&u.ID, &u.UsernameIndex, &u.UsernameEnc, &u.DisplayNameEnc, &u.PasswordHash,
		&created, &failed, &locked)
	if err != nil {
		return store.User{}, fmt.Errorf("user: %w", err)
	}
	u.CreatedAt, u.LockedUntil, u.FailedLogins = fromUnixNano(created), fromUnixNano(locked), int(failed)
	return u, nil
}

// SetPasswordHash replaces the stored hash.
func (s *Store) SetPasswordHash(ctx context.Context, userID, hash string) error {
	q, err := s.writer()
	if err != nil {
		return err
	}
	err = mustChange(q.Exec(ctx, `UPDATE users SET password_hash = $2 WHERE id = $1`, userID, hash))
	if err != nil {
		return fmt.Errorf("set password hash: %w", err)
	}
	return nil
}

// RecordLoginFailure counts one failure in a single UPDATE … RETURNING, so
// concurrent failures on any number of nodes each see a distinct count.
// The failure that reaches max (and every later one) sets the lockout end
// to lockUntil; max <= 0 never locks.
func (s *Store) RecordLoginFailure(ctx context.Context, userID string, max int, lockUntil time.Time) (int, time.Time, error) {
	q, err := s.writer()
	if err != nil {
		return 0, time.Time{}, err
	}
	var failures, locked int64
	err = q.QueryRow(ctx, `UPDATE users SET
			failed_logins = failed_logins + 1,
			locked_until_ns = CASE WHEN $2 > 0 AND failed_logins + 1 >= $2 THEN $3 ELSE locked_until_ns END
		WHERE id = $1
		RETURNING failed_logins, locked_until_ns`,
		userID, int64(max), unixNano(lockUntil)).Scan(&failures, &locked)
	if err != nil {
		return 0, time.Time{}, fmt.Errorf("record login failure: %w", err)
	}
	return int(failures), fromUnixNano(locked), nil
}

// ResetLoginFailures clears the count and any lockout.
func (s *Store) ResetLoginFailures(ctx context.Context, userID string) error {
	q, err := s.writer()
	if err != nil {
		return err
	}
	err = mustChange(q.Exec(ctx, `UPDATE users SET failed_logins = 0, locked_until_ns = 0 WHERE id = $1`, userID))
	if err != nil {
		return fmt.Errorf("reset login failures: %w", err)
	}
	return nil
}

// conflictIfNone turns "ON CONFLICT DO NOTHING inserted nothing" into
// store.ErrConflict.
func conflictIfNone(n int64, err error) error {
	if err != nil {
		return err
	}
	if n == 0 {
		return store.ErrConflict
	}
	return nil
}
