package sqlstore

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"

	"github.com/sealine/sealine/store"
)

// Post applies the posts in one transaction, each one undone alone if it
// fails: inside its own savepoint, or, for an application message, by
// finding every refusal before it writes (batch.go). The queue
// rows of the posts that succeed are inserted together at the end, a few
// multi-row INSERTs per batch rather than one per post: their cursors
// were already taken from the counter rows, and nothing in a post reads
// the queue table, so only the statement count changes.
func (s *Store) Post(ctx context.Context, posts []store.Post) ([]store.PostResult, error) {
	results, _, err := s.write(ctx, posts, nil)
	if err != nil {
		return nil, fmt.Errorf("post: %w", err)
	}
	return results, nil
}

// Write applies posts as Post does and then acks, in one transaction. An
// ack's only own error, an unknown cursor, is found before it writes, so
// acks need no savepoints.
func (s *Store) Write(ctx context.Context, posts []store.Post, acks []store.AckRequest) ([]store.PostResult, []store.AckResult, error) {
	results, ackResults, err := s.write(ctx, posts, acks)
	if err != nil {
		return nil, nil, fmt.Errorf("write: %w", err)
	}
	return results, ackResults, nil
}

func (s *Store) write(ctx context.Context, posts []store.Post, acks []store.AckRequest) ([]store.PostResult, []store.AckResult, error) {
	results := make([]store.PostResult, len(posts))
	ackResults := make([]store.AckResult, len(acks))
	err := s.tx(ctx, func(q Querier) error {
		if err := s.postAll(ctx, q, posts, acks, results); err != nil {
			return err
		}
		if s.postgres() && len(acks) > 0 {
			return ackAllUnnest(ctx, q, acks, ackResults)
		}
		return ackAll(ctx, q, acks, ackResults)
	})
	if err != nil {
		return nil, nil, err
	}
	return results, ackResults, nil
}

// postAll applies posts in q, setting results: an application post
// through the batch (see batch.go; on PostgreSQL each run of them first
// takes its locks, pgbatch.go, with the counters of the devices of acks,
// which the transaction lowers after the posts), every other post in its
// own savepoint. An error is for the whole transaction.
func (s *Store) postAll(ctx context.Context, q Querier, posts []store.Post, acks []store.AckRequest, results []store.PostResult) error {
	var queued []queueRow
	b := newBatch(s)
	for _, a := range acks {
		b.acked = append(b.acked, a.DeviceID)
	}
	for i := 0; i < len(posts); i++ {
		p := posts[i]
		switch {
		case batched(p):
			n := len(run(posts[i:]))
			postRun := b.postChunked // SQLite: chunk.go
			if s.postgres() {
				postRun = b.postRun
			}
			if err := postRun(ctx, q, posts[i:i+n], results[i:i+n], &queued); err != nil {
				return err
			}
			i += n - 1
			continue
		}
		if err := b.other(ctx, q); err != nil {
			return err
		}
		if err := s.postSaved(ctx, q, p, &results[i], &queued); err != nil {
			return err
		}
	}
	if err := b.flush(ctx, q); err != nil {
		return err
	}
	if s.postgres() && len(queued) > 0 {
		return insertQueueUnnest(ctx, q, queued)
	}
	return insertQueue(ctx, q, queued)
}

// batched reports whether p goes through the batch: an application
// message that does not leave.
func batched(p store.Post) bool { return p.Kind == store.EnvelopeApplication && !p.Leave }

// run returns the posts at the head of posts that go through the batch.
func run(posts []store.Post) []store.Post {
	for i, p := range posts {
		if !batched(p) {
			return posts[:i]
		}
	}
	return posts
}

// postSaved applies one post inside a savepoint, undone if it fails.
func (s *Store) postSaved(ctx context.Context, q Querier, p store.Post, res *store.PostResult, queued *[]queueRow) error {
	if _, err := q.Exec(ctx, `SAVEPOINT post`); err != nil {
		return err
	}
	mark := len(*queued)
	*res = s.post(ctx, q, p, queued)
	undo := `RELEASE SAVEPOINT post`
	if res.Err != nil {
		undo = `ROLLBACK TO SAVEPOINT post`
	}
	if _, err := q.Exec(ctx, undo); err != nil {
		return err
	}
	if res.Err == nil {
		return nil
	}
	*queued = (*queued)[:mark]
	_, err := q.Exec(ctx, `RELEASE SAVEPOINT post`)
	return err
}

// post applies one post. An application message is inserted first, so
// its (sender, client message id) decides a retry; then membership and
// epoch (a commit moves it with a conditional UPDATE), then the fan-out.
// Whatever fails is undone by the caller's savepoint; the post's queue
// rows are appended to queued for the caller to insert.
func (s *Store) post(ctx context.Context, q Querier, p store.Post, queued *[]queueRow) store.PostResult {
	if p.Kind == store.EnvelopeApplication {
		fresh, err := insertMessage(ctx, q, p, p.ID, p.Payload, p.Kind)
		if err != nil || !fresh {
			return store.PostResult{Duplicate: err == nil, Err: notMember(err)}
		}
	}
	epoch, err := s.orderPost(ctx, q, p)
	if err != nil {
		return store.PostResult{Err: err}
	}
	res, err := s.deliver(ctx, q, p, queued)
	res.Epoch, res.Err = epoch, err
	return res
}

// notMember maps a post into a missing conversation (a foreign key
// violation) onto store.ErrNotMember.
func notMember(err error) error {
	if errors.Is(err, store.ErrNotFound) {
		return store.ErrNotMember
	}
	return err
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

// membersExcept selects the member devices of $1 other than $2.
const membersExcept = `SELECT device_id FROM conversation_members WHERE conversation_id = $1 AND device_id <> $2`

// deliver queues the post for its recipients: every other member (a
// commit: every member, the committer too). A commit then changes the
// member list and queues its Welcomes; a leave removes the sender. The
// queue rows go to queued.
func (s *Store) deliver(ctx context.Context, q Querier, p store.Post, queued *[]queueRow) (store.PostResult, error) {
	except := p.SenderDeviceID
	if p.Kind == store.EnvelopeCommit {
		except = ""
	}
	if p.Kind != store.EnvelopeApplication {
		if _, err := insertMessage(ctx, q, p, p.ID, p.Payload, p.Kind); err != nil {
			return store.PostResult{}, err
		}
	}
	to, cursors, err := s.assign(ctx, q, queued, p.ID, p.MaxQueue, membersExcept, p.ConversationID, except)
	if err != nil {
		return store.PostResult{}, err
	}
	res := store.PostResult{Recipients: to}
	if i := slices.Index(to, p.SenderDeviceID); i >= 0 {
		res.Cursor = cursors[i]
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
	welcomed, err := s.applyMembership(ctx, q, p, queued)
	res.Recipients = append(res.Recipients, welcomed...)
	return res, err
}

// applyMembership removes and adds members, then queues each Welcome for
// its devices (rows to queued); it returns the welcomed devices.
func (s *Store) applyMembership(ctx context.Context, q Querier, p store.Post, queued *[]queueRow) ([]string, error) {
	for _, id := range p.Removed {
		_, err := q.Exec(ctx, `DELETE FROM conversation_members WHERE conversation_id = $1 AND device_id = $2`,
			p.ConversationID, id)
		if err != nil {
			return nil, err
		}
	}
	for _, id := range p.Added {
		if err := addMember(ctx, q, p.ConversationID, id); err != nil {
			return nil, err
		}
	}
	var welcomed []string
	for _, w := range p.Welcomes {
		if len(w.DeviceIDs) == 0 {
			continue
		}
		if _, err := insertMessage(ctx, q, p, w.ID, w.Payload, store.EnvelopeWelcome); err != nil {
			return nil, err
		}
		list, args := placeholders(w.DeviceIDs)
		to, _, err := s.assign(ctx, q, queued, w.ID, p.MaxQueue, `SELECT id FROM devices WHERE id IN (`+list+`)`, args...)
		if err != nil {
			return nil, err
		}
		if len(to) != len(w.DeviceIDs) {
			return nil, store.ErrNoDevice
		}
		welcomed = append(welcomed, to...)
	}
	return welcomed, nil
}

// addMember makes an existing device a member, with its counter row (every
// member has one, so a fan-out is one UPDATE).
func addMember(ctx context.Context, q Querier, conversationID, deviceID string) error {
	n, err := q.Exec(ctx, `INSERT INTO device_counters (device_id) SELECT id FROM devices WHERE id = $1
		ON CONFLICT DO NOTHING`, deviceID)
	if err != nil {
		return err
	}
	if n == 0 && !exists(ctx, q, deviceID) {
		return fmt.Errorf("%w: %s", store.ErrNoDevice, deviceID)
	}
	_, err = q.Exec(ctx, `INSERT INTO conversation_members (conversation_id, device_id) VALUES ($1, $2)
		ON CONFLICT DO NOTHING`, conversationID, deviceID)
	return err
}

// insertMessage stores one message row; false when the application
// message's (sender, client message id) is already stored.
func insertMessage(ctx context.Context, q Querier, p store.Post, id string, payload []byte, kind store.EnvelopeKind) (bool, error) {
	var clientID any
	if kind == store.EnvelopeApplication && p.ClientMessageID != nil {
		clientID = p.ClientMessageID
	}
	n, err := q.Exec(ctx, `INSERT INTO messages (id, conversation_id, sender_device_id, client_message_id,
			kind, epoch, payload, created_ns) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT DO NOTHING`,
		id, p.ConversationID, p.SenderDeviceID, clientID, int64(kind), int64(p.Epoch), blob(payload), unixNano(p.At))
	if err != nil {
		return false, fmt.Errorf("message: %w", err)
	}
	return n == 1, nil
}

// fanOut assigns cursors as assign does and queues messageID for the
// devices at once, in one INSERT per 500 devices.
func (s *Store) fanOut(ctx context.Context, q Querier, messageID string, max int, sub string, args ...any) ([]string, []uint64, error) {
	var queued []queueRow
	devices, cursors, err := s.assign(ctx, q, &queued, messageID, max, sub, args...)
	if err != nil {
		return nil, nil, err
	}
	return devices, cursors, insertQueue(ctx, q, queued)
}

// queueRow is one queue entry not yet inserted.
type queueRow struct {
	device, message string
	cursor          uint64
}

// assign takes the next cursor of every device that the sub-select picks
// in one UPDATE … RETURNING, refuses the post if any queue would pass max,
// and appends a row queueing messageID for each to queued. It returns the
// devices, sorted, with their cursors. On PostgreSQL the counter rows are
// locked in device order first, in the same statement (a CTE with FOR
// UPDATE, which PostgreSQL never inlines; the UPDATE only reaches rows the
// CTE has locked), so concurrent fan-outs to overlapping groups do not
// deadlock.
func (s *Store) assign(ctx context.Context, q Querier, queued *[]queueRow, messageID string, max int, sub string, args ...any) ([]string, []uint64, error) {
	update := `UPDATE device_counters SET last_cursor = last_cursor + 1, queued = queued + 1
		WHERE device_id IN (` + sub + `) RETURNING device_id, last_cursor, queued`
	if s.postgres() {
		update = `WITH locked AS (SELECT device_id FROM device_counters WHERE device_id IN (` + sub + `)
			ORDER BY device_id FOR UPDATE)
		UPDATE device_counters c SET last_cursor = c.last_cursor + 1, queued = c.queued + 1
		FROM locked WHERE c.device_id = locked.device_id RETURNING c.device_id, c.last_cursor, c.queued`
	}
	rows, err := q.Query(ctx, update, args...)
	if err != nil {
		return nil, nil, err
	}
	got, err := collect(rows, scanCounter)
	if err != nil {
		return nil, nil, err
	}
	slices.SortFunc(got, func(a, b counter) int { return strings.Compare(a.device, b.device) })
	devices, cursors := make([]string, len(got)), make([]uint64, len(got))
	for i, c := range got {
		if max > 0 && c.queued > int64(max) {
			return nil, nil, fmt.Errorf("%w: %s", store.ErrQueueFull, c.device)
		}
		devices[i], cursors[i] = c.device, uint64(c.cursor)
	}
	for i, d := range devices {
		*queued = append(*queued, queueRow{device: d, message: messageID, cursor: cursors[i]})
	}
	return devices, cursors, nil
}

type counter struct {
	device         string
	cursor, queued int64
	changed        bool // the batch holds a value not yet written back
}

func scanCounter(r Row) (counter, error) {
	var c counter
	err := r.Scan(&c.device, &c.cursor, &c.queued)
	return c, err
}

// queueChunk is the rows of one multi-row queue INSERT (3 parameters each).
const queueChunk = 16

// insertQueue inserts rows, queueChunk in one INSERT and the rest in
// INSERTs of 8, 4, 2 and 1 rows, so that the statements are five texts,
// prepared once, however many rows each post queues, and the rows of a
// small batch (a server under moderate load commits a few dozen posts at
// a time) do not go one statement each. (Long VALUES lists cost SQLite
// more to prepare and bind per row than short ones.)
func insertQueue(ctx context.Context, q Querier, rows []queueRow) error {
	for start := 0; start < len(rows); {
		n := queueChunk
		for n > len(rows)-start {
			n /= 2
		}
		end, values := start+n, queueValues[n]
		args := make([]any, 0, 3*(end-start))
		for _, r := range rows[start:end] {
			args = append(args, r.device, int64(r.cursor), r.message)
		}
		if _, err := q.Exec(ctx, `INSERT INTO queue (device_id, cursor, message_id) VALUES `+values, args...); err != nil {
			return err
		}
		start = end
	}
	return nil
}

// queueValues[n] is n rows of three placeholders, for n a power of two up
// to queueChunk.
var queueValues = func() map[int]string {
	v := map[int]string{}
	for n := 1; n <= queueChunk; n *= 2 {
		v[n] = valuesList(n, 3)
	}
	return v
}()

// valuesList returns rows rows of "($1, $2, …)" with cols placeholders
// each.
func valuesList(rows, cols int) string {
	var b strings.Builder
	for r := range rows {
		if r > 0 {
			b.WriteString(", ")
		}
		b.WriteString("(")
		for c := range cols {
			if c > 0 {
				b.WriteString(", ")
			}
			fmt.Fprintf(&b, "$%d", r*cols+c+1)
		}
		b.WriteString(")")
	}
	return b.String()
}

// placeholders returns "$1, $2, …" for ids and ids as arguments.
func placeholders(ids []string) (string, []any) {
	list := make([]string, len(ids))
	args := make([]any, len(ids))
	for i, id := range ids {
		list[i], args[i] = fmt.Sprintf("$%d", i+1), id
	}
	return strings.Join(list, ", "), args
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
		var err error
		removed, err = ack(ctx, q, deviceID, cursor)
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("ack: %w", err)
	}
	return removed, nil
}

// ack is Ack inside q. It returns store.ErrUnknownCursor before writing
// anything. The common case is three statements: the DELETE checks the
// cursor against the device's counter itself, and only an ack that
// removes nothing reads the counter to tell an unknown cursor from one
// already acknowledged.
func ack(ctx context.Context, q Querier, deviceID string, cursor uint64) (int64, error) {
	ids, err := unqueue(ctx, q, deviceID, cursor)
	if err != nil || len(ids) == 0 {
		return 0, err
	}
	removed := int64(len(ids))
	_, err = q.Exec(ctx, `UPDATE device_counters SET queued = queued - $2 WHERE device_id = $1`, deviceID, removed)
	if err != nil {
		return 0, err
	}
	return removed, dropChunked(ctx, q, ids)
}

// unqueue deletes the device's envelopes up to cursor and returns their
// message ids; store.ErrUnknownCursor, having deleted nothing, when the
// cursor is past the device's last one.
func unqueue(ctx context.Context, q Querier, deviceID string, cursor uint64) ([]string, error) {
	if cursor == 0 || cursor > math.MaxInt64 {
		return nil, store.ErrUnknownCursor
	}
	ids, err := dequeue(ctx, q, deviceID, cursor)
	if err != nil || len(ids) > 0 {
		return ids, err
	}
	return nil, knownCursor(ctx, q, deviceID, cursor)
}

// knownCursor tells, after an ack up to cursor removed nothing, a cursor
// already acknowledged (nil) from one past the device's last
// (store.ErrUnknownCursor).
func knownCursor(ctx context.Context, q Querier, deviceID string, cursor uint64) error {
	var last int64
	err := q.QueryRow(ctx, `SELECT last_cursor FROM device_counters WHERE device_id = $1`, deviceID).Scan(&last)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return err
	}
	if cursor > uint64(last) {
		return store.ErrUnknownCursor
	}
	return nil
}

// dequeue deletes the entries up to cursor, unless cursor is past the
// device's last one, and returns their message ids.
func dequeue(ctx context.Context, q Querier, deviceID string, cursor uint64) ([]string, error) {
	rows, err := q.Query(ctx, `DELETE FROM queue WHERE device_id = $1 AND cursor <= $2
		AND $2 <= (SELECT last_cursor FROM device_counters WHERE device_id = $1) RETURNING message_id`,
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
