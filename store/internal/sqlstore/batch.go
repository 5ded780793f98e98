package sqlstore

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"

	"github.com/sealine/sealine/store"
)

// Application posts on both backends (PostgreSQL's locking: pgbatch.go).
// A group-commit batch is mostly application
// messages, and SQLite runs one statement at a time on its one writer
// connection, each costing several µs through database/sql; so an
// application post there skips the savepoint that every other post gets,
// reads its conversation's group, epoch and members once per batch and
// sender, and its recipients' counters once per batch: the batch assigns
// cursors from them in memory and writes each changed counter back once,
// before any other post and at the end. A post's one statement is then
// its message INSERT (its queue rows are inserted with the batch's), and
// on SQLite up to 16 posts share one (chunk.go).
//
// Without a savepoint, a post must write nothing unless it succeeds, so
// every refusal is found before the INSERT: membership, group and epoch,
// then the queue bound. A post refused there is still a duplicate when
// its id or its (sender, client message id) is stored, as when the
// INSERT came first. The INSERT (ON CONFLICT DO NOTHING) writes nothing
// for a duplicate; only then does the post take its cursors.
//
// Any other error fails the whole transaction (Write's batch error: the
// committer retries each post alone), since after an unexpected error
// SQLite may have rolled the transaction back on its own, and PostgreSQL
// aborts a transaction after any error. On SQLite a post to more than
// recipientsMax other members goes through a savepoint; PostgreSQL has
// locked and read every member's counter already (pgbatch.go).

// batch is what one transaction learned about conversations and
// counters. Only application posts that do not leave use it. Every
// other post first has the counters written back and forgotten (it reads
// and bumps them itself), and clears the rest: a commit moves the epoch
// and changes the members, and a post that leaves changes them too.
type batch struct {
	s        *Store
	known    map[senderKey]*groupEpoch
	members  map[string]*memberList // SQLite: each conversation read, by id (nil: no members)
	counters map[string]*counter    // nil: the device has no counter row
	dirty    []*counter
	convs    map[string]*conversation // PostgreSQL: what the run locked (pgbatch.go); nil before
	// acked are the devices whose queue counts the transaction's acks
	// lower after the posts (PostgreSQL): the first run locks their
	// counters with its own, in one device order.
	acked []string
}

type senderKey struct{ conversation, device string }

// groupEpoch is a conversation's group and epoch, read for a sender found
// to be a member, and the other members (to) when there are at most
// recipientsMax of them (large when there are more).
type groupEpoch struct {
	groupID []byte
	epoch   uint64
	to      []string
	large   bool
}

// recipientsMax is the most recipients of an application post whose
// counters the batch keeps; a post to more goes through a savepoint.
const recipientsMax = 16

func newBatch(s *Store) *batch {
	return &batch{s: s, known: map[senderKey]*groupEpoch{}, members: map[string]*memberList{}, counters: map[string]*counter{}}
}

// postChecked applies one application post that passed check (its
// conversation ge, not large); the error is for the whole transaction.
// Every refusal is found before the post writes.
func (b *batch) postChecked(ctx context.Context, q Querier, p store.Post, ge *groupEpoch, queued *[]queueRow) (store.PostResult, error) {
	to, err := b.take(ctx, q, ge.to, p.MaxQueue)
	if err != nil {
		return b.refused(ctx, q, p, err)
	}
	fresh, err := insertMessage(ctx, q, p, p.ID, p.Payload, p.Kind)
	if err != nil || !fresh {
		return store.PostResult{Duplicate: err == nil}, err
	}
	return b.queue(p, to, queued), nil
}

// queue takes the next cursor of each counter in to for p, stored, and
// appends p's queue rows to queued.
func (b *batch) queue(p store.Post, to []*counter, queued *[]queueRow) store.PostResult {
	devices := make([]string, len(to))
	for i, c := range to {
		c.cursor++
		c.queued++
		if !c.changed {
			c.changed = true
			b.dirty = append(b.dirty, c)
		}
		devices[i] = c.device
		*queued = append(*queued, queueRow{device: c.device, message: p.ID, cursor: uint64(c.cursor)})
	}
	return store.PostResult{Recipients: devices, Epoch: p.Epoch}
}

// refused is the result of a post refused with err before it wrote: a
// duplicate when it is already stored, else err if err is the post's own
// outcome; any other error is the transaction's.
func (b *batch) refused(ctx context.Context, q Querier, p store.Post, err error) (store.PostResult, error) {
	if !store.IsRefusal(err) {
		return store.PostResult{}, err
	}
	dup, derr := stored(ctx, q, p)
	if derr != nil || dup {
		return store.PostResult{Duplicate: dup}, derr
	}
	return store.PostResult{Err: err}, nil
}

// postSaved applies p in a savepoint, after writing the counters back;
// it forgets them, since p changes them itself.
func (b *batch) postSaved(ctx context.Context, q Querier, p store.Post, queued *[]queueRow) (store.PostResult, error) {
	if err := b.flush(ctx, q); err != nil {
		return store.PostResult{}, err
	}
	clear(b.counters)
	var res store.PostResult
	err := b.s.postSaved(ctx, q, p, &res, queued)
	return res, err
}

// other prepares for a post that is not an application message: the
// counters are written back and everything forgotten.
func (b *batch) other(ctx context.Context, q Querier) error {
	clear(b.known)
	clear(b.members)
	b.convs = nil
	if err := b.flush(ctx, q); err != nil {
		return err
	}
	clear(b.counters)
	return nil
}

// check refuses a post whose sender is not a member, or that is for
// another group or epoch, as orderPost does, reading each conversation
// once per sender and batch.
func (b *batch) check(ctx context.Context, q Querier, p store.Post) (*groupEpoch, error) {
	k := senderKey{p.ConversationID, p.SenderDeviceID}
	ge, ok := b.known[k]
	if !ok {
		var err error
		if b.convs != nil {
			ge, err = b.locked(p.ConversationID, p.SenderDeviceID)
		} else {
			ge, err = b.read(ctx, q, p.ConversationID, p.SenderDeviceID)
		}
		if err != nil {
			return nil, err
		}
		b.known[k] = ge
	}
	switch {
	case string(ge.groupID) != string(p.GroupID):
		return nil, store.ErrGroupMismatch
	case ge.epoch != p.Epoch:
		return nil, store.ErrStaleEpoch
	}
	return ge, nil
}

// read returns the group and epoch of a conversation of which sender is
// a member (store.ErrNotMember if it is not) and its other members, from
// the conversation's members read once per batch (readMembers), so the
// two sides of a 1:1 conversation cost one query; when the conversation
// has more members than that query reads and sender is not among them,
// from a query for sender (readSender).
func (b *batch) read(ctx context.Context, q Querier, conversationID, sender string) (*groupEpoch, error) {
	m, ok := b.members[conversationID]
	if !ok {
		var err error
		if m, err = b.readMembers(ctx, q, conversationID); err != nil {
			return nil, err
		}
		b.members[conversationID] = m
	}
	if m == nil {
		return nil, store.ErrNotMember
	}
	i, found := slices.BinarySearch(m.devices, sender)
	switch {
	case !found && m.complete:
		return nil, store.ErrNotMember
	case !found:
		return b.readSender(ctx, q, conversationID, sender)
	case !m.complete:
		return &groupEpoch{groupID: m.groupID, epoch: m.epoch, large: true}, nil
	}
	to := make([]string, 0, len(m.devices)-1)
	to = append(append(to, m.devices[:i]...), m.devices[i+1:]...)
	return &groupEpoch{groupID: m.groupID, epoch: m.epoch, to: to}, nil
}

// memberList is a conversation as readMembers read it: its group, epoch and
// member devices, sorted; all of them when complete, else the first
// recipientsMax+2 (so any post to it is large).
type memberList struct {
	groupID  []byte
	epoch    uint64
	devices  []string
	complete bool
}

// memberRow is a row of readMembers' and readSender's queries: the
// conversation's epoch and group, and a member device with its counter.
type memberRow struct {
	epoch   int64
	groupID []byte
	c       counter
}

func scanMemberRow(r Row) (memberRow, error) {
	var m memberRow
	err := r.Scan(&m.epoch, &m.groupID, &m.c.device, &m.c.cursor, &m.c.queued)
	return m, err
}

// keep records c, a device's counter as read (cursor -1: the device has
// none), unless the batch already holds that device's.
func (b *batch) keep(c *counter) {
	if _, ok := b.counters[c.device]; ok {
		return
	}
	b.counters[c.device] = nil
	if c.cursor >= 0 {
		b.counters[c.device] = c
	}
}

// readMembers reads, in one query, a conversation's group, epoch, member
// devices and their counters (nil when it has no members); a counter the
// batch already holds is kept.
func (b *batch) readMembers(ctx context.Context, q Querier, conversationID string) (*memberList, error) {
	rows, err := q.Query(ctx, `SELECT c.epoch, c.group_id, m.device_id, coalesce(k.last_cursor, -1), coalesce(k.queued, 0)
		FROM conversations c
		JOIN conversation_members m ON m.conversation_id = c.id
		LEFT JOIN device_counters k ON k.device_id = m.device_id
		WHERE c.id = $1 ORDER BY m.device_id LIMIT `+strconv.Itoa(recipientsMax+2), conversationID)
	if err != nil {
		return nil, err
	}
	got, err := collect(rows, scanMemberRow)
	if err != nil || len(got) == 0 {
		return nil, err
	}
	ms := &memberList{groupID: got[0].groupID, epoch: uint64(got[0].epoch), complete: len(got) <= recipientsMax+1}
	for _, m := range got {
		ms.devices = append(ms.devices, m.c.device)
		b.keep(&m.c)
	}
	return ms, nil
}

// readSender reads, in one query, the group and epoch of a conversation
// of which sender is a member (store.ErrNotMember if it is not), its
// other members and their counters; a counter the batch already holds is
// kept.
func (b *batch) readSender(ctx context.Context, q Querier, conversationID, sender string) (*groupEpoch, error) {
	rows, err := q.Query(ctx, `SELECT c.epoch, c.group_id, coalesce(o.device_id, ''),
			coalesce(k.last_cursor, -1), coalesce(k.queued, 0)
		FROM conversations c
		JOIN conversation_members m ON m.conversation_id = c.id AND m.device_id = $2
		LEFT JOIN conversation_members o ON o.conversation_id = c.id AND o.device_id <> $2
		LEFT JOIN device_counters k ON k.device_id = o.device_id
		WHERE c.id = $1 ORDER BY o.device_id LIMIT `+strconv.Itoa(recipientsMax+1),
		conversationID, sender)
	if err != nil {
		return nil, err
	}
	got, err := collect(rows, scanMemberRow)
	if err != nil {
		return nil, err
	}
	if len(got) == 0 {
		return nil, store.ErrNotMember
	}
	ge := &groupEpoch{groupID: got[0].groupID, epoch: uint64(got[0].epoch), large: len(got) > recipientsMax}
	for _, m := range got {
		if m.c.device == "" || ge.large {
			continue
		}
		ge.to = append(ge.to, m.c.device)
		b.keep(&m.c)
	}
	return ge, nil
}

// take returns the counters of the devices (sorted) that have one, or
// store.ErrQueueFull if a post would pass max in any of their queues.
func (b *batch) take(ctx context.Context, q Querier, devices []string, max int) ([]*counter, error) {
	to := make([]*counter, 0, len(devices))
	for _, d := range devices {
		c, ok := b.counters[d]
		if !ok {
			var err error
			if c, err = readCounter(ctx, q, d); err != nil {
				return nil, err
			}
			b.counters[d] = c
		}
		if c == nil {
			continue
		}
		if max > 0 && c.queued >= int64(max) {
			return nil, fmt.Errorf("%w: %s", store.ErrQueueFull, d)
		}
		to = append(to, c)
	}
	return to, nil
}

// readCounter reads a device's counter row; nil when it has none.
func readCounter(ctx context.Context, q Querier, deviceID string) (*counter, error) {
	c := counter{device: deviceID}
	err := q.QueryRow(ctx, `SELECT last_cursor, queued FROM device_counters WHERE device_id = $1`,
		deviceID).Scan(&c.cursor, &c.queued)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return nil, nil
	case err != nil:
		return nil, err
	}
	return &c, nil
}

// flush writes the changed counters back.
func (b *batch) flush(ctx context.Context, q Querier) error {
	if b.s.postgres() && len(b.dirty) > 0 {
		if err := flushUnnest(ctx, q, b.dirty); err != nil {
			return err
		}
	}
	for _, c := range b.dirty {
		if b.s.postgres() {
			c.changed = false
			continue
		}
		_, err := q.Exec(ctx, `UPDATE device_counters SET last_cursor = $2, queued = $3 WHERE device_id = $1`,
			c.device, c.cursor, c.queued)
		if err != nil {
			return err
		}
		c.changed = false
	}
	b.dirty = b.dirty[:0]
	return nil
}

// ackAll applies the acks of a batch on SQLite (PostgreSQL: ackAllUnnest,
// pgack.go), setting results. Each ack is two statements that read no
// rows back (ackRange); the queue counts are then lowered once per device,
// in device order.
func ackAll(ctx context.Context, q Querier, acks []store.AckRequest, results []store.AckResult) error {
	var devices []string
	for i, a := range acks {
		n, err := ackRange(ctx, q, a.DeviceID, a.Cursor)
		if err != nil && !errors.Is(err, store.ErrUnknownCursor) {
			return err
		}
		results[i] = store.AckResult{Removed: n, Err: err}
		for range n {
			devices = append(devices, a.DeviceID)
		}
	}
	return lowerQueued(ctx, q, devices)
}

// ackRange deletes the device's envelopes up to cursor, and before them
// the messages that no other envelope names; it returns how many
// envelopes it deleted, or store.ErrUnknownCursor, having deleted
// nothing, when the cursor is past the device's last one. The messages go
// first because the queue rows say which they are; SQLite's queue does
// not reference messages (migration 0005), so deleting them cascades to
// no queue row. Unlike ack, nothing is read back into Go.
func ackRange(ctx context.Context, q Querier, deviceID string, cursor uint64) (int64, error) {
	if cursor == 0 || cursor > math.MaxInt64 {
		return 0, store.ErrUnknownCursor
	}
	_, err := q.Exec(ctx, `DELETE FROM messages WHERE id IN (SELECT message_id FROM queue
			WHERE device_id = $1 AND cursor <= $2
			AND $2 <= (SELECT last_cursor FROM device_counters WHERE device_id = $1))
		AND NOT EXISTS (SELECT 1 FROM queue o WHERE o.message_id = messages.id
			AND (o.device_id <> $1 OR o.cursor > $2))`, deviceID, int64(cursor))
	if err != nil {
		return 0, err
	}
	n, err := q.Exec(ctx, `DELETE FROM queue WHERE device_id = $1 AND cursor <= $2
		AND $2 <= (SELECT last_cursor FROM device_counters WHERE device_id = $1)`, deviceID, int64(cursor))
	if err != nil || n > 0 {
		return n, err
	}
	return 0, knownCursor(ctx, q, deviceID, cursor)
}

// dropChunk is the message ids of one DELETE in dropChunked.
const dropChunk = 16

// dropList is dropChunk placeholders.
var dropList, _ = placeholders(make([]string, dropChunk))

// dropChunked deletes the messages of ids that no queue refers to any
// more, dropChunk ids per statement (the last one padded with repeats,
// so that one statement text serves every batch).
func dropChunked(ctx context.Context, q Querier, ids []string) error {
	slices.Sort(ids)
	ids = slices.Compact(ids)
	args := make([]any, dropChunk)
	for start := 0; start < len(ids); start += dropChunk {
		for i := range args {
			args[i] = ids[min(start+i, len(ids)-1)]
		}
		_, err := q.Exec(ctx, `DELETE FROM messages WHERE id IN (`+dropList+`)
			AND NOT EXISTS (SELECT 1 FROM queue WHERE message_id = messages.id)`, args...)
		if err != nil {
			return err
		}
	}
	return nil
}

// stored reports whether an application post is already stored: its id,
// or its sender's client message id.
func stored(ctx context.Context, q Querier, p store.Post) (bool, error) {
	var clientID any
	if p.ClientMessageID != nil {
		clientID = p.ClientMessageID
	}
	var n int64
	err := q.QueryRow(ctx, `SELECT count(*) FROM messages
		WHERE id = $1 OR (sender_device_id = $2 AND client_message_id = $3)`,
		p.ID, p.SenderDeviceID, clientID).Scan(&n)
	return n > 0, err
}
