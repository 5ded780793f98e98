package sqlstore

import (
	"context"
	"slices"

	"github.com/sealine/sealine/store"
)

// Application posts on PostgreSQL. There the cost of a statement is a
// network round trip, and several nodes write at once; so before a run of
// application posts (the posts of a batch up to the next post of another
// kind) the batch locks, in two statements, everything the run reads:
//
//  1. the run's conversation rows FOR SHARE, in id order. A commit moves
//     the epoch and changes the members only after its UPDATE of the row,
//     which waits for the share lock: so no commit lands between this
//     check and the run's queue rows, on any node, and the epoch and
//     member list the run reads stay true until the transaction ends.
//  2. their epochs, groups and members (read after step 1 has waited for
//     any commit, in a statement of its own, so with a snapshot that sees
//     it), and the members' counter rows FOR UPDATE in device order, the
//     one order in which every node locks counters.
//
// Each post then checks membership, group, epoch and the queue bound in
// memory, is inserted (its one statement) and takes its cursors in memory,
// as on SQLite (batch.go); the counters are written back in one statement
// and the queue rows inserted in one.

// lockConversations takes the share locks of step 1.
const lockConversations = `SELECT id FROM conversations WHERE id = ANY($1) ORDER BY id FOR SHARE`

// readLocked is step 2: one row per member of each conversation, with its
// counter (-1 when it has none). The members are selected by conversation
// id as well, so that even without statistics (a fresh schema) the
// planner reads them through the primary key, not a scan of the table.
const readLocked = `WITH m AS (
		SELECT c.id, c.epoch, c.group_id, m.device_id FROM conversations c
		JOIN conversation_members m ON m.conversation_id = c.id
		WHERE c.id = ANY($1) AND m.conversation_id = ANY($1)),
	k AS (SELECT device_id, last_cursor, queued FROM device_counters
		WHERE device_id IN (SELECT device_id FROM m) ORDER BY device_id FOR UPDATE)
	SELECT m.id, m.epoch, m.group_id, m.device_id, coalesce(k.last_cursor, -1), coalesce(k.queued, 0)
	FROM m LEFT JOIN k ON k.device_id = m.device_id ORDER BY m.id, m.device_id`

// conversation is what a run knows of one conversation it locked.
type conversation struct {
	groupID []byte
	epoch   uint64
	members []string // sorted
}

// lock locks and reads what the run of application posts at the head of
// posts needs (steps 1 and 2 above); b.read answers from it afterwards.
func (b *batch) lock(ctx context.Context, q Querier, posts []store.Post) error {
	var ids []string
	for _, p := range posts {
		ids = append(ids, p.ConversationID)
	}
	slices.Sort(ids)
	ids = slices.Compact(ids)
	rows, err := q.Query(ctx, lockConversations, ids)
	if err != nil {
		return err
	}
	if _, err := collect(rows, func(r Row) (string, error) {
		var id string
		return id, r.Scan(&id)
	}); err != nil {
		return err
	}
	if rows, err = q.Query(ctx, readLocked, ids); err != nil {
		return err
	}
	type member struct {
		conversation string
		groupID      []byte
		epoch        int64
		c            counter
	}
	got, err := collect(rows, func(r Row) (member, error) {
		var m member
		return m, r.Scan(&m.conversation, &m.epoch, &m.groupID, &m.c.device, &m.c.cursor, &m.c.queued)
	})
	if err != nil {
		return err
	}
	b.convs = map[string]*conversation{}
	for _, m := range got {
		c := b.convs[m.conversation]
		if c == nil {
			c = &conversation{groupID: m.groupID, epoch: uint64(m.epoch)}
			b.convs[m.conversation] = c
		}
		c.members = append(c.members, m.c.device)
		if _, ok := b.counters[m.c.device]; !ok {
			b.counters[m.c.device] = nil
			if m.c.cursor >= 0 {
				b.counters[m.c.device] = &m.c
			}
		}
	}
	return nil
}

// locked answers b.read from what lock read.
func (b *batch) locked(conversationID, sender string) (*groupEpoch, error) {
	c := b.convs[conversationID]
	if c == nil || !slices.Contains(c.members, sender) {
		return nil, store.ErrNotMember
	}
	ge := &groupEpoch{groupID: c.groupID, epoch: c.epoch}
	for _, d := range c.members {
		if d != sender {
			ge.to = append(ge.to, d)
		}
	}
	return ge, nil
}

// flushUnnest writes the counters back in one statement (PostgreSQL).
func flushUnnest(ctx context.Context, q Querier, dirty []*counter) error {
	devices, cursors, queued := make([]string, len(dirty)), make([]int64, len(dirty)), make([]int64, len(dirty))
	for i, c := range dirty {
		devices[i], cursors[i], queued[i] = c.device, c.cursor, c.queued
	}
	_, err := q.Exec(ctx, `UPDATE device_counters k SET last_cursor = v.c, queued = v.q
		FROM unnest($1::text[], $2::bigint[], $3::bigint[]) AS v(d, c, q) WHERE k.device_id = v.d`,
		devices, cursors, queued)
	return err
}

// insertQueueUnnest inserts the queue rows in one statement (PostgreSQL).
func insertQueueUnnest(ctx context.Context, q Querier, rows []queueRow) error {
	devices, cursors, messages := make([]string, len(rows)), make([]int64, len(rows)), make([]string, len(rows))
	for i, r := range rows {
		devices[i], cursors[i], messages[i] = r.device, int64(r.cursor), r.message
	}
	_, err := q.Exec(ctx, `INSERT INTO queue (device_id, cursor, message_id)
		SELECT * FROM unnest($1::text[], $2::bigint[], $3::text[])`, devices, cursors, messages)
	return err
}
