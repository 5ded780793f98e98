package sqlstore

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"

	"github.com/sealine/sealine/store"
)

// Post applies the posts in one transaction, each inside its own
// savepoint, so a post that fails is undone alone.
func (s *Store) Post(ctx context.Context, posts []store.Post) ([]store.PostResult, error) {
	results := make([]store.PostResult, len(posts))
	err := s.tx(ctx, func(q Querier) error {
		for i, p := range posts {
			if _, err := q.Exec(ctx, `SAVEPOINT post`); err != nil {
				return err
			}
			results[i] = s.post(ctx, q, p)
			undo := `RELEASE SAVEPOINT post`
			if results[i].Err != nil {
				undo = `ROLLBACK TO SAVEPOINT post`
			}
			if _, err := q.Exec(ctx, undo); err != nil {
				return err
			}
			if results[i].Err != nil {
				if _, err := q.Exec(ctx, `RELEASE SAVEPOINT post`); err != nil {
					return err
				}
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("post: %w", err)
	}
	return results, nil
}

// post applies one post: idempotency, membership, epoch (a commit moves it
// with a conditional UPDATE), the message row, then the enqueues.
func (s *Store) post(ctx context.Context, q Querier, p store.Post) store.PostResult {
	if p.ClientMessageID != nil {
		dup, err := seen(ctx, q, p)
		if err != nil || dup {
			return store.PostResult{Duplicate: dup, Err: err}
		}
	}
	epoch, err := s.orderPost(ctx, q, p)
	if err != nil {
		return store.PostResult{Err: err}
	}
	res, err := s.deliver(ctx, q, p)
	res.Epoch, res.Err = epoch, err
	return res
}

// seen reports whether the sender already stored this client message id.
func seen(ctx context.Context, q Querier, p store.Post) (bool, error) {
	var one int64
	err := q.QueryRow(ctx, `SELECT 1 FROM messages WHERE sender_device_id = $1 AND client_message_id = $2`,
		p.SenderDeviceID, p.ClientMessageID).Scan(&one)
	if errors.Is(err, store.ErrNotFound) {
		return false, nil
	}
	return err == nil, err
}

// orderPost checks that the sender is a member and the post is for the
// conversation's group and current epoch, and returns the epoch after it.
// A commit first takes the epoch in one conditional UPDATE, which is what
// decides a race between commits; other posts read it under a share lock
// (PostgreSQL), so no message of epoch N is queued after commit N.
func (s *Store) orderPost(ctx context.Context, q Querier, p store.Post) (uint64, error) {
	moved := false
	if p.Kind == store.EnvelopeCommit {
		n, err := q.Exec(ctx, `UPDATE conversations SET epoch = epoch + 1 WHERE id = $1 AND epoch = $2`,
			p.ConversationID, int64(p.Epoch))
		if err != nil {
			return 0, err
		}
		moved = n == 1
	}
	lock := ""
	if s.postgres() && p.Kind != store.EnvelopeCommit {
		lock = " FOR SHARE OF c"
	}
	var epoch int64
	var groupID []byte
	err := q.QueryRow(ctx, `SELECT c.epoch, c.group_id FROM conversations c
		JOIN conversation_members m ON m.conversation_id = c.id
		WHERE c.id = $1 AND m.device_id = $2`+lock, p.ConversationID, p.SenderDeviceID).Scan(&epoch, &groupID)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return 0, store.ErrNotMember
	case err != nil:
		return 0, err
	case string(groupID) != string(p.GroupID):
		return 0, store.ErrGroupMismatch
	case p.Kind == store.EnvelopeCommit && !moved:
		return 0, store.ErrStaleEpoch
	case p.Kind != store.EnvelopeCommit && uint64(epoch) != p.Epoch:
		return 0, store.ErrStaleEpoch
	}
	return uint64(epoch), nil
}

// deliver stores the message and enqueues it for the recipients: every
// other member (a commit: every member, the committer too). A commit then
// changes the member list and enqueues its Welcomes; a leave removes the
// sender.
func (s *Store) deliver(ctx context.Context, q Querier, p store.Post) (store.PostResult, error) {
	except := p.SenderDeviceID
	if p.Kind == store.EnvelopeCommit {
		except = ""
	}
	to, err := members(ctx, q, p.ConversationID, except)
	if err != nil {
		return store.PostResult{}, err
	}
	res := store.PostResult{Recipients: to}
	if len(to) > 0 {
		cursors, err := storeAndEnqueue(ctx, q, p, p.ID, p.Payload, p.Kind, to)
		if err != nil {
			return store.PostResult{}, err
		}
		if i := slices.Index(to, p.SenderDeviceID); i >= 0 {
			res.Cursor = cursors[i]
		}
	}
	if p.Leave {
		if _, err := q.Exec(ctx, `DELETE FROM conversation_members WHERE conversation_id = $1 AND device_id = $2`,
			p.ConversationID, p.SenderDeviceID); err != nil {
			return store.PostResult{}, err
		}
	}
	if p.Kind != store.EnvelopeCommit {
		return res, nil
	}
	welcomed, err := applyMembership(ctx, q, p)
	res.Recipients = append(res.Recipients, welcomed...)
	return res, err
}

// applyMembership removes and adds members, then enqueues each Welcome
// for its devices; it returns the welcomed devices.
func applyMembership(ctx context.Context, q Querier, p store.Post) ([]string, error) {
	for _, id := range p.Removed {
		_, err := q.Exec(ctx, `DELETE FROM conversation_members WHERE conversation_id = $1 AND device_id = $2`,
			p.ConversationID, id)
		if err != nil {
			return nil, err
		}
	}
	for _, id := range p.Added {
		n, err := q.Exec(ctx, `INSERT INTO conversation_members (conversation_id, device_id)
			SELECT $1, id FROM devices WHERE id = $2 ON CONFLICT DO NOTHING`, p.ConversationID, id)
		if err != nil {
			return nil, err
		}
		if n == 0 && !isMember(ctx, q, p.ConversationID, id) {
			return nil, fmt.Errorf("%w: %s", store.ErrNoDevice, id)
		}
	}
	var welcomed []string
	for _, w := range p.Welcomes {
		to := slices.Sorted(slices.Values(w.DeviceIDs))
		if _, err := storeAndEnqueue(ctx, q, p, w.ID, w.Payload, store.EnvelopeWelcome, to); err != nil {
			return nil, err
		}
		welcomed = append(welcomed, to...)
	}
	return welcomed, nil
}

func isMember(ctx context.Context, q Querier, conversationID, deviceID string) bool {
	var one int64
	err := q.QueryRow(ctx, `SELECT 1 FROM conversation_members WHERE conversation_id = $1 AND device_id = $2`,
		conversationID, deviceID).Scan(&one)
	return err == nil
}

// storeAndEnqueue inserts one message row and a queue entry for each
// device, returning their cursors. Only application messages carry the
// client message id.
func storeAndEnqueue(ctx context.Context, q Querier, p store.Post, id string, payload []byte, kind store.EnvelopeKind, to []string) ([]uint64, error) {
	var clientID any
	if kind == store.EnvelopeApplication && p.ClientMessageID != nil {
		clientID = p.ClientMessageID
	}
	_, err := q.Exec(ctx, `INSERT INTO messages (id, conversation_id, sender_device_id, client_message_id,
			kind, epoch, payload, created_ns) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`,
		id, p.ConversationID, p.SenderDeviceID, clientID, int64(kind), int64(p.Epoch), blob(payload), unixNano(p.At))
	if err != nil {
		return nil, fmt.Errorf("message: %w", err)
	}
	cursors := make([]uint64, len(to))
	for i, dev := range to {
		if cursors[i], err = enqueue(ctx, q, dev, id, p.MaxQueue); err != nil {
			return nil, err
		}
	}
	return cursors, nil
}

// enqueue assigns the device's next cursor in one upsert that also
// enforces the queue bound, then inserts the queue entry.
func enqueue(ctx context.Context, q Querier, deviceID, messageID string, max int) (uint64, error) {
	limit := int64(max)
	if limit <= 0 {
		limit = math.MaxInt64
	}
	var cursor int64
	err := q.QueryRow(ctx, `INSERT INTO device_counters (device_id, last_cursor, queued) VALUES ($1, 1, 1)
		ON CONFLICT (device_id) DO UPDATE SET last_cursor = device_counters.last_cursor + 1,
			queued = device_counters.queued + 1
		WHERE device_counters.queued < $2
		RETURNING last_cursor`, deviceID, limit).Scan(&cursor)
	switch {
	case errors.Is(err, store.ErrNotFound) && exists(ctx, q, deviceID):
		return 0, fmt.Errorf("%w: %s", store.ErrQueueFull, deviceID)
	case errors.Is(err, store.ErrNotFound):
		return 0, fmt.Errorf("%w: %s", store.ErrNoDevice, deviceID)
	case err != nil:
		return 0, err
	}
	_, err = q.Exec(ctx, `INSERT INTO queue (device_id, cursor, message_id) VALUES ($1, $2, $3)`,
		deviceID, cursor, messageID)
	return uint64(cursor), err
}

func exists(ctx context.Context, q Querier, deviceID string) bool {
	var one int64
	return q.QueryRow(ctx, `SELECT 1 FROM devices WHERE id = $1`, deviceID).Scan(&one) == nil
}

// Envelopes reads the device's queue after a cursor.
func (s *Store) Envelopes(ctx context.Context, deviceID string, after uint64, limit int) ([]store.Envelope, error) {
	q, err := s.reader()
	if err != nil {
		return nil, err
	}
	rows, err := q.Query(ctx, `SELECT q.cursor, m.conversation_id, m.kind, m.epoch, m.payload,
			m.sender_device_id, m.created_ns
		FROM queue q JOIN messages m ON m.id = q.message_id
		WHERE q.device_id = $1 AND q.cursor > $2 ORDER BY q.cursor LIMIT $3`,
		deviceID, int64(after), int64(limit))
	if err != nil {
		return nil, fmt.Errorf("envelopes: %w", err)
	}
	out, err := collect(rows, scanEnvelope)
	if err != nil {
		return nil, fmt.Errorf("envelopes: %w", err)
	}
	return out, nil
}

func scanEnvelope(r Row) (store.Envelope, error) {
	var e store.Envelope
	var cursor, kind, epoch, at int64
	if err := r.Scan(&cursor, &e.ConversationID, &kind, &epoch, &e.Payload, &e.SenderDeviceID, &at); err != nil {
		return store.Envelope{}, err
	}
	e.Cursor, e.Kind, e.Epoch, e.ServerTime = uint64(cursor), store.EnvelopeKind(kind), uint64(epoch), fromUnixNano(at)
	return e, nil
}

// Ack removes the device's envelopes up to cursor, lowers its queue count
// and deletes messages no queue refers to any more.
func (s *Store) Ack(ctx context.Context, deviceID string, cursor uint64) (int64, error) {
	var removed int64
	err := s.tx(ctx, func(q Querier) error {
		var last int64
		err := q.QueryRow(ctx, `SELECT last_cursor FROM device_counters WHERE device_id = $1`, deviceID).Scan(&last)
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			return err
		}
		if cursor == 0 || cursor > uint64(last) {
			return store.ErrUnknownCursor
		}
		ids, err := dequeue(ctx, q, deviceID, cursor)
		if err != nil || len(ids) == 0 {
			return err
		}
		removed = int64(len(ids))
		_, err = q.Exec(ctx, `UPDATE device_counters SET queued = queued - $2 WHERE device_id = $1`, deviceID, removed)
		if err != nil {
			return err
		}
		return dropUnreferenced(ctx, q, ids)
	})
	if err != nil {
		return 0, fmt.Errorf("ack: %w", err)
	}
	return removed, nil
}

// dequeue deletes the entries up to cursor and returns their message ids.
func dequeue(ctx context.Context, q Querier, deviceID string, cursor uint64) ([]string, error) {
	rows, err := q.Query(ctx, `DELETE FROM queue WHERE device_id = $1 AND cursor <= $2 RETURNING message_id`,
		deviceID, int64(cursor))
	if err != nil {
		return nil, err
	}
	return collect(rows, func(r Row) (string, error) {
		var id string
		err := r.Scan(&id)
		return id, err
	})
}

func dropUnreferenced(ctx context.Context, q Querier, ids []string) error {
	slices.Sort(ids)
	for _, id := range slices.Compact(ids) {
		_, err := q.Exec(ctx, `DELETE FROM messages WHERE id = $1
			AND NOT EXISTS (SELECT 1 FROM queue WHERE message_id = $1)`, id)
		if err != nil {
			return err
		}
	}
	return nil
}

// QueueLength counts the device's queued envelopes.
func (s *Store) QueueLength(ctx context.Context, deviceID string) (int64, error) {
	q, err := s.reader()
	if err != nil {
		return 0, err
	}
	var n int64
	if err := q.QueryRow(ctx, `SELECT count(*) FROM queue WHERE device_id = $1`, deviceID).Scan(&n); err != nil {
		return 0, fmt.Errorf("queue length: %w", err)
	}
	return n, nil
}
