package sqlstore

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"time"

	"github.com/sealine/sealine/store"
)

// Purge deletes up to limit rows of kind older than cutoff in one
// transaction. Each row is deleted by a statement that re-checks it, so
// nodes purging at once delete every row once and count it once.
func (s *Store) Purge(ctx context.Context, kind store.PurgeKind, cutoff time.Time, limit int) (int64, error) {
	if limit <= 0 {
		return 0, nil
	}
	purge := purgeOf(kind)
	if purge == nil {
		return 0, fmt.Errorf("purge: unknown kind %q", kind)
	}
	if kind == store.PurgeQueued && !s.postgres() {
		found, err := s.oldMessages(ctx, unixNano(cutoff), int64(limit))
		if err != nil || len(found) == 0 {
			return 0, err
		}
		purge = func(ctx context.Context, q Querier, cutoff, _ int64) (int64, error) {
			return purgeFound(ctx, q, found, cutoff)
		}
	}
	var n int64
	err := s.tx(ctx, func(q Querier) error {
		var err error
		n, err = purge(ctx, q, unixNano(cutoff), int64(limit))
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("purge %s: %w", kind, err)
	}
	return n, nil
}

type purgeFunc func(ctx context.Context, q Querier, cutoff, limit int64) (int64, error)

// purgeOf returns the purge of kind, or nil.
func purgeOf(kind store.PurgeKind) purgeFunc {
	switch kind {
	case store.PurgeQueued:
		return purgeQueued
	case store.PurgeBlobs:
		return purgeBlobs
	case store.PurgeSessions:
		return purgeSessions
	case store.PurgeQuarantine:
		return purgeQuarantine
	}
	return nil
}

// purgeQueued deletes old messages with their queue entries, lowering each
// recipient's queued counter by the entries this transaction removed: the
// DELETE … RETURNING says which, so a purge racing another (or an Ack)
// never lowers a counter twice.
func purgeQueued(ctx context.Context, q Querier, cutoff, limit int64) (int64, error) {
	ids, err := collectQuery(ctx, q, `SELECT id FROM messages WHERE created_ns < $1
		ORDER BY created_ns, id LIMIT $2`, cutoff, limit)
	if err != nil || len(ids) == 0 {
		return 0, err
	}
	return purgeMessages(ctx, q, ids, cutoff)
}

// oldMessages finds up to limit messages older than cutoff on SQLite, on a
// reader, outside the write transaction: with no index on created_ns
// (migration 0005) it scans the table in rowid order, which is insertion
// order, so the old rows come first and only a purge's last batch reads
// the whole table, without holding up the writer.
func (s *Store) oldMessages(ctx context.Context, cutoff, limit int64) ([]string, error) {
	r, err := s.reader()
	if err != nil {
		return nil, err
	}
	return collectQuery(ctx, r, `SELECT id FROM messages WHERE created_ns < $1 LIMIT $2`, cutoff, limit)
}

// purgeFound purges the messages of found (oldMessages) still stored and
// older than cutoff.
func purgeFound(ctx context.Context, q Querier, found []string, cutoff int64) (int64, error) {
	in, args := placeholders(found)
	ids, err := collectQuery(ctx, q, `SELECT id FROM messages WHERE id IN (`+in+`)
		AND created_ns < $`+strconv.Itoa(len(found)+1), append(args, cutoff)...)
	if err != nil || len(ids) == 0 {
		return 0, err
	}
	return purgeMessages(ctx, q, ids, cutoff)
}

// purgeMessages deletes the messages ids, all older than cutoff, and their
// queue entries.
func purgeMessages(ctx context.Context, q Querier, ids []string, cutoff int64) (int64, error) {
	in, args := placeholders(ids)
	devices, err := collectQuery(ctx, q, `DELETE FROM queue WHERE message_id IN (`+in+`) RETURNING device_id`, args...)
	if err != nil {
		return 0, err
	}
	if err := lowerQueued(ctx, q, devices); err != nil {
		return 0, err
	}
	return q.Exec(ctx, `DELETE FROM messages WHERE id IN (`+in+`) AND created_ns < $`+strconv.Itoa(len(ids)+1),
		append(args, cutoff)...)
}

// lowerQueued lowers each device's queued counter by the times it occurs.
func lowerQueued(ctx context.Context, q Querier, devices []string) error {
	removed := map[string]int64{}
	for _, d := range devices {
		removed[d]++
	}
	for _, d := range slices.Sorted(maps.Keys(removed)) { // one lock order for every node
		if _, err := q.Exec(ctx, `UPDATE device_counters SET queued = queued - $2 WHERE device_id = $1`, d, removed[d]); err != nil {
			return err
		}
	}
	return nil
}

// purgeBlobs deletes old blob records and lowers their uploaders' usage.
func purgeBlobs(ctx context.Context, q Querier, cutoff, limit int64) (int64, error) {
	ids, err := collectQuery(ctx, q, `SELECT id FROM blobs WHERE created_ns < $1
		ORDER BY created_ns, id LIMIT $2`, cutoff, limit)
	if err != nil {
		return 0, err
	}
	var n int64
	for _, id := range ids {
		rows, err := q.Query(ctx, `DELETE FROM blobs WHERE id = $1 AND created_ns < $2 RETURNING user_id, size`, id, cutoff)
		if err != nil {
			return 0, err
		}
		type owner struct {
			user string
			size int64
		}
		gone, err := collect(rows, func(r Row) (owner, error) {
			var o owner
			return o, r.Scan(&o.user, &o.size)
		})
		if err != nil {
			return 0, err
		}
		for _, o := range gone {
			if _, err := q.Exec(ctx, `UPDATE blob_usage SET bytes = bytes - $2 WHERE user_id = $1`, o.user, o.size); err != nil {
				return 0, err
			}
			n++
		}
	}
	return n, nil
}

// purgeSessions deletes devices not seen since cutoff; their sessions,
// queue entries and key packages go with them.
func purgeSessions(ctx context.Context, q Querier, cutoff, limit int64) (int64, error) {
	return q.Exec(ctx, `DELETE FROM devices WHERE id IN (SELECT id FROM devices
		WHERE last_seen_ns < $1 ORDER BY last_seen_ns, id LIMIT $2) AND last_seen_ns < $1`, cutoff, limit)
}

// purgeQuarantine ends the quarantine of usernames withdrawn before cutoff.
func purgeQuarantine(ctx context.Context, q Querier, cutoff, limit int64) (int64, error) {
	return q.Exec(ctx, `DELETE FROM withdrawn_usernames WHERE username_index IN (SELECT username_index
		FROM withdrawn_usernames WHERE withdrawn_ns < $1 ORDER BY withdrawn_ns LIMIT $2) AND withdrawn_ns < $1`,
		cutoff, limit)
}
