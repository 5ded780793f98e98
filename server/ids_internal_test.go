package server

import (
	"crypto/rand"
	"slices"
	"strings"
	"testing"
	"time"
)

// TestMessageIDsFollowTime: message ids sort in the order of the server
// clock (so the messages table's primary key appends), stay unique within
// one nanosecond, and keep the shape of every other id (prefix and 32 hex
// digits).
func TestMessageIDsFollowTime(t *testing.T) {
	t0 := time.Unix(1_800_000_000, 0)
	now := t0
	s := &Server{cfg: Config{Rand: rand.Reader, Now: func() time.Time { return now }}}
	var ids []string
	for i := range 200 {
		now = t0.Add(time.Duration(i/2) * time.Microsecond) // two ids per tick
		id, err := s.newMessageID("m")
		if err != nil {
			t.Fatal(err)
		}
		if len(id) != 33 || !strings.HasPrefix(id, "m") || strings.Trim(id[1:], "0123456789abcdef") != "" {
			t.Fatalf("id %q: want m and 32 hex digits", id)
		}
		ids = append(ids, id)
	}
	for i := 2; i < len(ids); i += 2 {
		if ids[i-1] >= ids[i] || ids[i-2] >= ids[i] {
			t.Fatalf("id %d (%s) does not sort after ids of earlier ticks (%s, %s)", i, ids[i], ids[i-2], ids[i-1])
		}
	}
	if len(slices.Compact(slices.Sorted(slices.Values(ids)))) != len(ids) {
		t.Fatal("duplicate ids")
	}
}
