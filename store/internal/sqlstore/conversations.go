package sqlstore

import (
	"context"
	"errors"
	"fmt"

	"github.com/sealine/sealine/store"
)

const conversationColumns = `c.id, c.group_id, c.kind, c.epoch, c.created_ns`

// CreateConversation inserts the conversation and its creator as the only
// member in one transaction.
func (s *Store) CreateConversation(ctx context.Context, c store.Conversation, creatorUserID, creatorDeviceID string) error {
	err := s.tx(ctx, func(q Querier) error {
		var owner string
		err := q.QueryRow(ctx, `SELECT user_id FROM devices WHERE id = $1`, creatorDeviceID).Scan(&owner)
		if err != nil || owner != creatorUserID {
			return errors.Join(store.ErrNoDevice, err)
		}
		n, err := q.Exec(ctx, `INSERT INTO conversations (id, group_id, kind, epoch, created_ns)
			VALUES ($1, $2, $3, 0, $4) ON CONFLICT DO NOTHING`,
			c.ID, blob(c.GroupID), int64(c.Kind), unixNano(c.CreatedAt))
		if err := conflictIfNone(n, err); err != nil {
			return err
		}
		return addMember(ctx, q, c.ID, creatorDeviceID)
	})
	if err != nil {
		return fmt.Errorf("create conversation: %w", err)
	}
	return nil
}

// Conversation returns one conversation.
func (s *Store) Conversation(ctx context.Context, id string) (store.Conversation, error) {
	q, err := s.reader()
	if err != nil {
		return store.Conversation{}, err
	}
	c, err := scanConversation(q.QueryRow(ctx, `SELECT `+conversationColumns+` FROM conversations c WHERE c.id = $1`, id))
	if err != nil {
		return store.Conversation{}, fmt.Errorf("conversation: %w", err)
	}
	return c, nil
}

// ConversationsOf lists the device's conversations, oldest first.
func (s *Store) ConversationsOf(ctx context.Context, deviceID string) ([]store.Conversation, error) {
	q, err := s.reader()
	if err != nil {
		return nil, err
	}
	rows, err := q.Query(ctx, `SELECT `+conversationColumns+` FROM conversations c
		JOIN conversation_members m ON m.conversation_id = c.id
		WHERE m.device_id = $1 ORDER BY c.created_ns, c.id`, deviceID)
	if err != nil {
		return nil, fmt.Errorf("conversations of: %w", err)
	}
	out, err := collect(rows, scanConversation)
	if err != nil {
		return nil, fmt.Errorf("conversations of: %w", err)
	}
	return out, nil
}

func scanConversation(r Row) (store.Conversation, error) {
	var c store.Conversation
	var kind, epoch, created int64
	if err := r.Scan(&c.ID, &c.GroupID, &kind, &epoch, &created); err != nil {
		return store.Conversation{}, err
	}
	c.Kind, c.Epoch, c.CreatedAt = store.ConversationKind(kind), uint64(epoch), fromUnixNano(created)
	return c, nil
}

// Members lists the conversation's member devices, sorted.
func (s *Store) Members(ctx context.Context, conversationID string) ([]string, error) {
	q, err := s.reader()
	if err != nil {
		return nil, err
	}
	out, err := members(ctx, q, conversationID, "")
	if err != nil {
		return nil, fmt.Errorf("members: %w", err)
	}
	return out, nil
}

// members lists member devices other than except, sorted, so that row
// locks are always taken in the same order.
func members(ctx context.Context, q Querier, conversationID, except string) ([]string, error) {
	rows, err := q.Query(ctx, `SELECT device_id FROM conversation_members
		WHERE conversation_id = $1 AND device_id <> $2 ORDER BY device_id`, conversationID, except)
	if err != nil {
		return nil, err
	}
	return collect(rows, func(r Row) (string, error) {
		var id string
		err := r.Scan(&id)
		return id, err
	})
}

// IsMember reports whether the device is a member.
func (s *Store) IsMember(ctx context.Context, conversationID, deviceID string) (bool, error) {
	q, err := s.reader()
	if err != nil {
		return false, err
	}
	var one int64
	err = q.QueryRow(ctx, `SELECT 1 FROM conversation_members WHERE conversation_id = $1 AND device_id = $2`,
		conversationID, deviceID).Scan(&one)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return false, nil
	case err != nil:
		return false, fmt.Errorf("is member: %w", err)
	}
	return true, nil
}

// collect scans every row with scan and closes rows.
func collect[T any](rows Rows, scan func(Row) (T, error)) ([]T, error) {
	defer rows.Close()
	var out []T
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, rows.Err()
}
