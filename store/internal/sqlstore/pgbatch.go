package sqlstore

import (
	"context"
	"fmt"
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
// Then one query finds which posts of the run are stored already (by id
// or by sender and client message id: a duplicate, whatever else it would
// get), each other post is checked in memory as on SQLite (batch.go:
// membership, group, epoch, then the queue bound counting the posts of
// the run ahead of it), the run's messages are inserted in one statement,
// and the posts inserted take their cursors in memory. The counters are
// written back in one statement and the queue rows inserted in one. A run
// of any length is thus six statements, where a savepoint per post took
// five each.

// lockConversations takes the share locks of step 1.
const lockConversations = `SELECT id FROM conversations WHERE id = ANY($1) ORDER BY id FOR SHARE`

// readLocked is step 2: one row per member of each conversation, with its
// counter (-1 when it has none). It locks the counters of the devices in
// $2 as well: those the transaction's acks lower after its posts (see
// batch.acked), so that they are locked in the same device order. The members are selected by conversation
// id as well, so that even without statistics (a fresh schema) the
// planner reads them through the primary key, not a scan of the table.
const readLocked = `WITH m AS (
		SELECT c.id, c.epoch, c.group_id, m.device_id FROM conversations c
		JOIN conversation_members m ON m.conversation_id = c.id
		WHERE c.id = ANY($1) AND m.conversation_id = ANY($1)),
	k AS (SELECT device_id, last_cursor, queued FROM device_counters
		WHERE device_id IN (SELECT device_id FROM m UNION SELECT unnest($2::text[]))
		ORDER BY device_id FOR UPDATE)
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
	if rows, err = q.Query(ctx, readLocked, ids, b.acked); err != nil {
		return err
	}
	b.acked = nil // locked until the transaction ends
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

// postRun applies a run of application posts (PostgreSQL), setting
// results: it locks and reads what they need, finds which are stored
// already (a duplicate, whatever else it would get) and every other
// refusal, inserts the rest in one statement, and queues those it
// inserted. A post stored by another node since is a duplicate too; the
// queue bound then counted it, which can only refuse a later post early.
func (b *batch) postRun(ctx context.Context, q Querier, posts []store.Post, results []store.PostResult, queued *[]queueRow) error {
	if err := b.lock(ctx, q, posts); err != nil {
		return err
	}
	known, err := storedOf(ctx, q, posts)
	if err != nil {
		return err
	}
	ahead := map[string]int64{} // device: posts of the run queued for it
	tos := make([][]*counter, len(posts))
	var accepted []int
	for i, p := range posts {
		if known.has(p) {
			results[i] = store.PostResult{Duplicate: true}
			continue
		}
		ge, err := b.check(ctx, q, p)
		if err == nil {
			tos[i], err = b.takeAhead(ge.to, p.MaxQueue, ahead)
		}
		if err != nil {
			if !store.IsRefusal(err) {
				return err
			}
			results[i] = store.PostResult{Err: err}
			continue
		}
		known.add(p)
		accepted = append(accepted, i)
	}
	fresh, err := insertMessages(ctx, q, posts, accepted)
	if err != nil {
		return err
	}
	for _, i := range accepted {
		if !fresh[posts[i].ID] {
			results[i] = store.PostResult{Duplicate: true}
			continue
		}
		results[i] = b.queue(posts[i], tos[i], queued)
	}
	return nil
}

// takeAhead is take for a run: the counters of the devices that have
// one, or store.ErrQueueFull if a post would pass max in any of their
// queues, counting the posts of the run ahead of it; it counts this one.
func (b *batch) takeAhead(devices []string, max int, ahead map[string]int64) ([]*counter, error) {
	to := make([]*counter, 0, len(devices))
	for _, d := range devices {
		c := b.counters[d]
		if c == nil {
			continue
		}
		if max > 0 && c.queued+ahead[d] >= int64(max) {
			return nil, fmt.Errorf("%w: %s", store.ErrQueueFull, d)
		}
		to = append(to, c)
	}
	for _, c := range to {
		ahead[c.device]++
	}
	return to, nil
}

// storedSet is the ids and (sender, client message id) pairs of messages
// stored by the run's posts ahead.
type storedSet struct{ ids, clients map[string]bool }

func clientKey(sender string, clientID []byte) string { return sender + "\x00" + string(clientID) }

func (s storedSet) has(p store.Post) bool {
	return s.ids[p.ID] || (p.ClientMessageID != nil && s.clients[clientKey(p.SenderDeviceID, p.ClientMessageID)])
}

func (s storedSet) add(p store.Post) {
	s.ids[p.ID] = true
	if p.ClientMessageID != nil {
		s.clients[clientKey(p.SenderDeviceID, p.ClientMessageID)] = true
	}
}

// storedQuery returns the (1-based) positions of the posts whose id, or
// sender and client message id, is stored. Each is one probe of a unique
// index: a LIMIT in a LATERAL subquery keeps the planner from turning the
// probes into a scan of the table hashed against the list, which it
// prefers for long lists on a table without statistics.
const storedQuery = `SELECT v.i FROM unnest($1::text[], $2::text[], $3::bytea[]) WITH ORDINALITY AS v(id, s, c, i)
	LEFT JOIN LATERAL (SELECT 1 AS hit FROM messages m WHERE m.id = v.id LIMIT 1) a ON true
	LEFT JOIN LATERAL (SELECT 1 AS hit FROM messages m
		WHERE m.sender_device_id = v.s AND m.client_message_id = v.c LIMIT 1) b ON true
	WHERE a.hit IS NOT NULL OR b.hit IS NOT NULL`

// storedOf reads which of the posts are stored already, in one query; the
// set it returns holds them, for the run to add its own.
func storedOf(ctx context.Context, q Querier, posts []store.Post) (storedSet, error) {
	ids, senders, clients := make([]string, len(posts)), make([]string, len(posts)), make([][]byte, len(posts))
	for i, p := range posts {
		ids[i], senders[i], clients[i] = p.ID, p.SenderDeviceID, p.ClientMessageID
	}
	rows, err := q.Query(ctx, storedQuery, ids, senders, clients)
	if err != nil {
		return storedSet{}, err
	}
	got, err := collect(rows, func(r Row) (int64, error) {
		var i int64
		return i, r.Scan(&i)
	})
	if err != nil {
		return storedSet{}, err
	}
	set := storedSet{ids: map[string]bool{}, clients: map[string]bool{}}
	for _, i := range got {
		set.add(posts[i-1])
	}
	return set, nil
}

// insertMessages inserts the messages of posts[i] for i in which, in one
// statement, and returns the ids it inserted (ON CONFLICT DO NOTHING
// skips one stored meanwhile).
func insertMessages(ctx context.Context, q Querier, posts []store.Post, which []int) (map[string]bool, error) {
	if len(which) == 0 {
		return nil, nil
	}
	n := len(which)
	ids, convs, senders := make([]string, n), make([]string, n), make([]string, n)
	clients, payloads := make([][]byte, n), make([][]byte, n)
	kinds, epochs, ats := make([]int64, n), make([]int64, n), make([]int64, n)
	for j, i := range which {
		p := posts[i]
		ids[j], convs[j], senders[j] = p.ID, p.ConversationID, p.SenderDeviceID
		clients[j], payloads[j] = p.ClientMessageID, blob(p.Payload)
		kinds[j], epochs[j], ats[j] = int64(p.Kind), int64(p.Epoch), unixNano(p.At)
	}
	rows, err := q.Query(ctx, `INSERT INTO messages (id, conversation_id, sender_device_id, client_message_id,
			kind, epoch, payload, created_ns)
		SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::bytea[], $5::bigint[], $6::bigint[],
			$7::bytea[], $8::bigint[])
		ON CONFLICT DO NOTHING RETURNING id`, ids, convs, senders, clients, kinds, epochs, payloads, ats)
	if err != nil {
		return nil, fmt.Errorf("message: %w", err)
	}
	got, err := collect(rows, func(r Row) (string, error) {
		var id string
		return id, r.Scan(&id)
	})
	if err != nil {
		return nil, fmt.Errorf("message: %w", err)
	}
	fresh := make(map[string]bool, len(got))
	for _, id := range got {
		fresh[id] = true
	}
	return fresh, nil
}
