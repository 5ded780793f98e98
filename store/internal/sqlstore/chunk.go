package sqlstore

import (
	"context"
	"fmt"

	"github.com/sealine/sealine/store"
)

// A run of application posts on SQLite stores its messages up to
// insertChunk per INSERT: each statement costs SQLite and database/sql
// more than a row of it (a cursor opened on the table and each index,
// binding, resetting).
//
// The outcome of every post is the one of applying them one by one, in
// order (postChecked): a chunk only holds consecutive posts that passed
// check, so a refused post is settled (refused, which looks for it
// stored) after the posts before it and before the ones after it. The
// chunk's INSERT … ON CONFLICT DO NOTHING runs in a savepoint; when it
// stores every row (no post is a duplicate, the common case) each post
// then takes its cursors in order, and one the queue bound refuses has
// its row deleted again (being fresh, it was not stored before). When it
// stores fewer, the savepoint is rolled back and the chunk's posts are
// applied one by one.

// insertChunk is the most messages one INSERT stores.
const insertChunk = 16

// messageValues[n-1] is n rows of the message INSERT's placeholders.
var messageValues = func() (v [insertChunk]string) {
	for n := range v {
		v[n] = valuesList(n+1, 8)
	}
	return v
}()

// postChunked applies a run of application posts on SQLite, setting
// results; an error is for the whole transaction.
func (b *batch) postChunked(ctx context.Context, q Querier, posts []store.Post, results []store.PostResult, queued *[]queueRow) error {
	var c chunk
	for i, p := range posts {
		ge, err := b.check(ctx, q, p)
		if err == nil && !ge.large {
			c.add(i, ge)
			if len(c.at) < insertChunk {
				continue
			}
		}
		if ferr := b.storeChunk(ctx, q, posts, &c, results, queued); ferr != nil {
			return ferr
		}
		switch {
		case err != nil:
			results[i], err = b.refused(ctx, q, p, err)
		case ge.large:
			results[i], err = b.postSaved(ctx, q, p, queued)
		}
		if err != nil {
			return err
		}
	}
	return b.storeChunk(ctx, q, posts, &c, results, queued)
}

// chunk is the checked posts of a run not stored yet: their indexes in
// the run and their conversations.
type chunk struct {
	at []int
	ge []*groupEpoch
}

func (c *chunk) add(i int, ge *groupEpoch) {
	c.at, c.ge = append(c.at, i), append(c.ge, ge)
}

// storeChunk applies c's posts and empties c.
func (b *batch) storeChunk(ctx context.Context, q Querier, posts []store.Post, c *chunk, results []store.PostResult, queued *[]queueRow) error {
	defer func() { c.at, c.ge = c.at[:0], c.ge[:0] }()
	all := false
	if len(c.at) > 1 {
		var err error
		if all, err = insertAll(ctx, q, posts, c.at); err != nil {
			return err
		}
	}
	for k, i := range c.at {
		var err error
		if all {
			results[i], err = b.queueStored(ctx, q, posts[i], c.ge[k], queued)
		} else {
			results[i], err = b.postChecked(ctx, q, posts[i], c.ge[k], queued)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// insertAll stores the messages of posts[at] in one INSERT, or none of
// them, reporting false, if any is stored already (or twice among them).
func insertAll(ctx context.Context, q Querier, posts []store.Post, at []int) (bool, error) {
	args := make([]any, 0, 8*len(at))
	for _, i := range at {
		p := posts[i]
		var clientID any
		if p.ClientMessageID != nil {
			clientID = p.ClientMessageID
		}
		args = append(args, p.ID, p.ConversationID, p.SenderDeviceID, clientID, int64(p.Kind), int64(p.Epoch),
			blob(p.Payload), unixNano(p.At))
	}
	if _, err := q.Exec(ctx, `SAVEPOINT chunk`); err != nil {
		return false, err
	}
	n, err := q.Exec(ctx, `INSERT INTO messages (id, conversation_id, sender_device_id, client_message_id,
			kind, epoch, payload, created_ns) VALUES `+messageValues[len(at)-1]+` ON CONFLICT DO NOTHING`, args...)
	if err != nil {
		return false, fmt.Errorf("messages: %w", err)
	}
	all := n == int64(len(at))
	if !all {
		if _, err := q.Exec(ctx, `ROLLBACK TO SAVEPOINT chunk`); err != nil {
			return false, err
		}
	}
	_, err = q.Exec(ctx, `RELEASE SAVEPOINT chunk`)
	return all, err
}

// queueStored queues p, whose message this chunk stored, or, when the
// queue bound refuses it, deletes the message again.
func (b *batch) queueStored(ctx context.Context, q Querier, p store.Post, ge *groupEpoch, queued *[]queueRow) (store.PostResult, error) {
	to, err := b.take(ctx, q, ge.to, p.MaxQueue)
	if err == nil {
		return b.queue(p, to, queued), nil
	}
	if !store.IsRefusal(err) {
		return store.PostResult{}, err
	}
	_, derr := q.Exec(ctx, `DELETE FROM messages WHERE id = $1`, p.ID)
	return store.PostResult{Err: err}, derr
}
