package sqlstore

import (
	"context"
	"fmt"

	"github.com/sealine/sealine/store"
)

// CounterWithdrawals counts withdrawals: the one thing that remains of a
// withdrawn account besides the username quarantine entry.
const CounterWithdrawals = "withdrawals"

// userDevices is the subquery of the devices of user $1.
const userDevices = `(SELECT id FROM devices WHERE user_id = $1)`

// DeleteUser withdraws a user in one transaction (see store.Lifecycle).
func (s *Store) DeleteUser(ctx context.Context, w store.Withdrawal) (store.WithdrawalResult, error) {
	var res store.WithdrawalResult
	err := s.tx(ctx, func(q Querier) error {
		var err error
		if res, err = countUserRows(ctx, q, w.UserID); err != nil {
			return err
		}
		convs, err := collectQuery(ctx, q, `SELECT DISTINCT conversation_id FROM conversation_members
			WHERE device_id IN `+userDevices, w.UserID)
		if err != nil {
			return err
		}
		if err := forgetUser(ctx, q, w); err != nil {
			return err
		}
		res.Conversations, err = dropEmpty(ctx, q, convs)
		return err
	})
	if err != nil {
		return store.WithdrawalResult{}, fmt.Errorf("delete user: %w", err)
	}
	return res, nil
}

// countUserRows counts what the withdrawal will remove; store.ErrNotFound
// when there is no such user.
func countUserRows(ctx context.Context, q Querier, userID string) (store.WithdrawalResult, error) {
	var r store.WithdrawalResult
	var users int64
	err := q.QueryRow(ctx, `SELECT
			(SELECT count(*) FROM users WHERE id = $1),
			(SELECT count(*) FROM devices WHERE user_id = $1),
			(SELECT count(*) FROM sessions WHERE user_id = $1),
			(SELECT count(*) FROM key_packages WHERE user_id = $1),
			(SELECT count(*) FROM queue WHERE device_id IN `+userDevices+`),
			(SELECT count(*) FROM blobs WHERE user_id = $1)`, userID).Scan(
		&users, &r.Devices, &r.Sessions, &r.KeyPackages, &r.Queued, &r.Blobs)
	if err != nil {
		return r, err
	}
	if users == 0 {
		return r, store.ErrNotFound
	}
	return r, nil
}

// forgetUser unlinks the user's sent messages, records the quarantine
// entry and the counter, and deletes the user row (cascading).
func forgetUser(ctx context.Context, q Querier, w store.Withdrawal) error {
	_, err := q.Exec(ctx, `UPDATE messages SET sender_device_id = '', client_message_id = NULL
		WHERE sender_device_id IN `+userDevices, w.UserID)
	if err != nil {
		return err
	}
	_, err = q.Exec(ctx, `INSERT INTO withdrawn_usernames (username_index, withdrawn_ns) VALUES ($1, $2)
		ON CONFLICT (username_index) DO UPDATE SET withdrawn_ns = excluded.withdrawn_ns`,
		blob(w.UsernameIndex), unixNano(w.At))
	if err != nil {
		return err
	}
	if err := addCounter(ctx, q, CounterWithdrawals, 1); err != nil {
		return err
	}
	return mustChange(q.Exec(ctx, `DELETE FROM users WHERE id = $1`, w.UserID))
}

// dropEmpty deletes messages no queue refers to any more in convs, and the
// conversations of convs left without members with their messages and
// those messages' queue rows (devices that left and have not acked them),
// lowering those devices' queue counts; it returns how many conversations
// it deleted. The queue rows are deleted here, not by a cascade: SQLite's
// queue does not reference messages, and a cascade would leave the
// counts as they were.
func dropEmpty(ctx context.Context, q Querier, convs []string) (int64, error) {
	var dropped int64
	for _, id := range convs {
		_, err := q.Exec(ctx, `DELETE FROM messages WHERE conversation_id = $1
			AND NOT EXISTS (SELECT 1 FROM queue WHERE queue.message_id = messages.id)`, id)
		if err != nil {
			return 0, err
		}
		devices, err := collectQuery(ctx, q, `DELETE FROM queue
			WHERE message_id IN (SELECT id FROM messages WHERE conversation_id = $1)
			AND NOT EXISTS (SELECT 1 FROM conversation_members WHERE conversation_id = $1)
			RETURNING device_id`, id)
		if err != nil {
			return 0, err
		}
		if err := lowerQueued(ctx, q, devices); err != nil {
			return 0, err
		}
		n, err := q.Exec(ctx, `DELETE FROM conversations WHERE id = $1
			AND NOT EXISTS (SELECT 1 FROM conversation_members WHERE conversation_id = $1)`, id)
		if err != nil {
			return 0, err
		}
		dropped += n
	}
	return dropped, nil
}

// collectQuery runs a one-text-column query on q.
func collectQuery(ctx context.Context, q Querier, query string, args ...any) ([]string, error) {
	rows, err := q.Query(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	return collect(rows, scanString)
}
