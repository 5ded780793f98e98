package sqlstore

import (
	"context"
	"maps"
	"math"
	"slices"

	"github.com/sealine/sealine/store"
)

// ackAllUnnest is ackAll on PostgreSQL, in four statements however many
// acks: it reads the acked devices' last cursors (an ack past its
// device's last cursor is refused with store.ErrUnknownCursor; a last
// cursor only grows, so the check stays true without a lock), deletes
// every acknowledged envelope at once, lowers the queue counts in device
// order (the one lock order of every node) and deletes the messages no
// queue refers to any more. The envelopes deleted are counted to each
// ack in order, as if the acks ran one by one.
func ackAllUnnest(ctx context.Context, q Querier, acks []store.AckRequest, results []store.AckResult) error {
	last, err := lastCursors(ctx, q, acks)
	if err != nil {
		return err
	}
	var devices []string
	var cursors []int64
	for i, a := range acks {
		if a.Cursor == 0 || a.Cursor > math.MaxInt64 || a.Cursor > uint64(last[a.DeviceID]) {
			results[i] = store.AckResult{Err: store.ErrUnknownCursor}
			continue
		}
		devices, cursors = append(devices, a.DeviceID), append(cursors, int64(a.Cursor))
	}
	if len(devices) == 0 {
		return nil
	}
	gone, ids, err := unqueueAll(ctx, q, devices, cursors)
	if err != nil {
		return err
	}
	removed := map[string]int64{}
	for i, a := range acks {
		if results[i].Err != nil {
			continue
		}
		c := gone[a.DeviceID]
		n := 0
		for n < len(c) && c[n] <= int64(a.Cursor) {
			n++
		}
		gone[a.DeviceID] = c[n:]
		results[i].Removed = int64(n)
		removed[a.DeviceID] += int64(n)
	}
	if err := lowerQueuedBy(ctx, q, removed); err != nil {
		return err
	}
	return dropAll(ctx, q, ids)
}

// lastCursors reads the last cursor of each acked device (0 without a
// counter row).
func lastCursors(ctx context.Context, q Querier, acks []store.AckRequest) (map[string]int64, error) {
	devices := make([]string, len(acks))
	for i, a := range acks {
		devices[i] = a.DeviceID
	}
	rows, err := q.Query(ctx, `SELECT device_id, last_cursor FROM device_counters WHERE device_id = ANY($1)`, devices)
	if err != nil {
		return nil, err
	}
	got, err := collect(rows, scanLast)
	if err != nil {
		return nil, err
	}
	last := make(map[string]int64, len(got))
	for _, c := range got {
		last[c.device] = c.cursor
	}
	return last, nil
}

func scanLast(r Row) (counter, error) {
	var c counter
	return c, r.Scan(&c.device, &c.cursor)
}

// unqueueAll deletes each device's envelopes up to its cursor, in one
// statement, and returns the cursors it deleted per device, sorted, and
// their message ids.
func unqueueAll(ctx context.Context, q Querier, devices []string, cursors []int64) (map[string][]int64, []string, error) {
	rows, err := q.Query(ctx, `DELETE FROM queue q USING unnest($1::text[], $2::bigint[]) AS v(d, c)
		WHERE q.device_id = v.d AND q.cursor <= v.c RETURNING q.device_id, q.cursor, q.message_id`,
		devices, cursors)
	if err != nil {
		return nil, nil, err
	}
	type entry struct {
		c  counter
		id string
	}
	got, err := collect(rows, func(r Row) (entry, error) {
		var e entry
		return e, r.Scan(&e.c.device, &e.c.cursor, &e.id)
	})
	if err != nil {
		return nil, nil, err
	}
	gone := map[string][]int64{}
	ids := make([]string, len(got))
	for i, e := range got {
		gone[e.c.device] = append(gone[e.c.device], e.c.cursor)
		ids[i] = e.id
	}
	for _, c := range gone {
		slices.Sort(c)
	}
	return gone, ids, nil
}

// lowerQueuedBy lowers each device's queue count by removed[device], in
// one statement that locks the counter rows in device order first.
func lowerQueuedBy(ctx context.Context, q Querier, removed map[string]int64) error {
	devices := slices.Sorted(maps.Keys(removed))
	by := make([]int64, 0, len(devices))
	for _, d := range devices {
		if removed[d] == 0 {
			continue
		}
		devices[len(by)] = d
		by = append(by, removed[d])
	}
	devices = devices[:len(by)]
	if len(devices) == 0 {
		return nil
	}
	_, err := q.Exec(ctx, `WITH locked AS (SELECT device_id FROM device_counters WHERE device_id = ANY($1)
			ORDER BY device_id FOR UPDATE)
		UPDATE device_counters k SET queued = k.queued - v.n
		FROM unnest($1::text[], $2::bigint[]) AS v(d, n), locked
		WHERE k.device_id = v.d AND locked.device_id = v.d`, devices, by)
	return err
}

// dropAll deletes the messages of ids that no queue refers to any more,
// in one statement.
func dropAll(ctx context.Context, q Querier, ids []string) error {
	if len(ids) == 0 {
		return nil
	}
	slices.Sort(ids)
	ids = slices.Compact(ids)
	_, err := q.Exec(ctx, `DELETE FROM messages WHERE id = ANY($1)
		AND NOT EXISTS (SELECT 1 FROM queue WHERE message_id = messages.id)`, ids)
	return err
}
