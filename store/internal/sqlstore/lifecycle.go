package sqlstore

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/sealine/sealine/store"
)

// SetContact upserts the user's contact of c.Kind; the foreign key turns a
// missing user into store.ErrNotFound.
func (s *Store) SetContact(ctx context.Context, c store.Contact) error {
	q, err := s.writer()
	if err != nil {
		return err
	}
	_, err = q.Exec(ctx, `INSERT INTO contacts (user_id, kind, value_enc, blind_index, index_key, set_ns)
		VALUES ($1, $2, $3, $4, $5, $6)
		ON CONFLICT (user_id, kind) DO UPDATE SET value_enc = excluded.value_enc,
			blind_index = excluded.blind_index, index_key = excluded.index_key, set_ns = excluded.set_ns`,
		c.UserID, string(c.Kind), blob(c.ValueEnc), blob(c.BlindIndex), c.IndexKey, unixNano(c.SetAt))
	if err != nil {
		return fmt.Errorf("set contact: %w", err)
	}
	return nil
}

// ClearContact deletes one contact; store.ErrNotFound when none is set.
func (s *Store) ClearContact(ctx context.Context, userID string, kind store.ContactKind) error {
	q, err := s.writer()
	if err != nil {
		return err
	}
	err = mustChange(q.Exec(ctx, `DELETE FROM contacts WHERE user_id = $1 AND kind = $2`, userID, string(kind)))
	if err != nil {
		return fmt.Errorf("clear contact: %w", err)
	}
	return nil
}

// Contacts returns the user's contacts, phone before email.
func (s *Store) Contacts(ctx context.Context, userID string) ([]store.Contact, error) {
	q, err := s.reader()
	if err != nil {
		return nil, err
	}
	rows, err := q.Query(ctx, `SELECT user_id, kind, value_enc, blind_index, index_key, set_ns
		FROM contacts WHERE user_id = $1 ORDER BY kind DESC`, userID)
	if err != nil {
		return nil, fmt.Errorf("contacts: %w", err)
	}
	out, err := collect(rows, func(r Row) (store.Contact, error) {
		var c store.Contact
		var kind string
		var set int64
		err := r.Scan(&c.UserID, &kind, &c.ValueEnc, &c.BlindIndex, &c.IndexKey, &set)
		c.Kind, c.SetAt = store.ContactKind(kind), fromUnixNano(set)
		return c, err
	})
	if err != nil {
		return nil, fmt.Errorf("contacts: %w", err)
	}
	return out, nil
}

// UsersByContact finds users by the blind index of a contact.
func (s *Store) UsersByContact(ctx context.Context, kind store.ContactKind, index []byte) ([]string, error) {
	return s.ids(ctx, "users by contact", `SELECT user_id FROM contacts
		WHERE kind = $1 AND blind_index = $2 ORDER BY user_id`, string(kind), blob(index))
}

// UserIDs lists user ids after after, in order.
func (s *Store) UserIDs(ctx context.Context, after string, limit int) ([]string, error) {
	return s.ids(ctx, "user ids", `SELECT id FROM users WHERE id > $1 ORDER BY id LIMIT $2`, after, int64(limit))
}

// BlobsOf lists the blobs the user uploaded.
func (s *Store) BlobsOf(ctx context.Context, userID string) ([]string, error) {
	return s.ids(ctx, "blobs of", `SELECT id FROM blobs WHERE user_id = $1 ORDER BY id`, userID)
}

// ExpiredBlobs lists blobs created before cutoff, oldest first.
func (s *Store) ExpiredBlobs(ctx context.Context, cutoff time.Time, limit int) ([]string, error) {
	return s.ids(ctx, "expired blobs", `SELECT id FROM blobs WHERE created_ns < $1
		ORDER BY created_ns, id LIMIT $2`, unixNano(cutoff), int64(limit))
}

// ids runs a query returning one text column.
func (s *Store) ids(ctx context.Context, op, query string, args ...any) ([]string, error) {
	q, err := s.reader()
	if err != nil {
		return nil, err
	}
	rows, err := q.Query(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", op, err)
	}
	out, err := collect(rows, scanString)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", op, err)
	}
	return out, nil
}

func scanString(r Row) (string, error) {
	var v string
	err := r.Scan(&v)
	return v, err
}

// WithdrawnAt returns when the username index was withdrawn.
func (s *Store) WithdrawnAt(ctx context.Context, usernameIndex []byte) (time.Time, error) {
	q, err := s.reader()
	if err != nil {
		return time.Time{}, err
	}
	var at int64
	err = q.QueryRow(ctx, `SELECT withdrawn_ns FROM withdrawn_usernames WHERE username_index = $1`,
		blob(usernameIndex)).Scan(&at)
	if err != nil {
		return time.Time{}, fmt.Errorf("withdrawn at: %w", err)
	}
	return fromUnixNano(at), nil
}

// Counter returns an anonymous aggregate counter.
func (s *Store) Counter(ctx context.Context, name string) (int64, error) {
	q, err := s.reader()
	if err != nil {
		return 0, err
	}
	var v int64
	err = q.QueryRow(ctx, `SELECT value FROM lifecycle_counters WHERE name = $1`, name).Scan(&v)
	if errors.Is(err, store.ErrNotFound) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("counter: %w", err)
	}
	return v, nil
}

// addCounter adds delta to a counter in one upsert.
func addCounter(ctx context.Context, q Querier, name string, delta int64) error {
	_, err := q.Exec(ctx, `INSERT INTO lifecycle_counters (name, value) VALUES ($1, $2)
		ON CONFLICT (name) DO UPDATE SET value = lifecycle_counters.value + excluded.value`, name, delta)
	return err
}
