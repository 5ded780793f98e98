package client_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"testing"
	"time"

	"github.com/sealine/sealine/internal/testenv"
)

// TestE2EMessageIDsFollowTime: a message id starts with its send time in
// milliseconds, so that ids grow with time (the local store's id index
// then appends instead of writing a random page per message), and its
// random rest keeps the messages of one millisecond apart.
func TestE2EMessageIDsFollowTime(t *testing.T) {
	env := testenv.New(t)
	alice, bob, conv := directToOffline(t, env)
	ctx := context.Background()
	for i := range 6 {
		if _, err := alice.Send(ctx, conv, "tick"); err != nil {
			t.Fatal(err)
		}
		if i%2 == 1 {
			env.Clock.Advance(time.Second)
		}
	}
	if err := bob.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	sent, err := alice.History(conv, 10)
	if err != nil || len(sent) != 6 {
		t.Fatalf("alice's history: %d, %v", len(sent), err)
	}
	got, err := bob.History(conv, 10)
	if err != nil || len(got) != 6 {
		t.Fatalf("bob's history: %d, %v", len(got), err)
	}
	seen := map[[16]byte]bool{}
	for i, m := range sent {
		var ms [8]byte
		copy(ms[2:], m.ID[:6])
		if at := int64(binary.BigEndian.Uint64(ms[:])); at != m.SentAt.UnixMilli() {
			t.Errorf("message %d: id time %d, sent at %d", i, at, m.SentAt.UnixMilli())
		}
		if i > 0 && m.SentAt.After(sent[i-1].SentAt) && bytes.Compare(m.ID[:], sent[i-1].ID[:]) <= 0 {
			t.Errorf("message %d: id %x not after %x", i, m.ID, sent[i-1].ID)
		}
		if seen[m.ID] {
			t.Errorf("message %d: id %x repeated", i, m.ID)
		}
		seen[m.ID] = true
		if got[i].ID != m.ID {
			t.Errorf("message %d: bob has id %x, alice %x", i, got[i].ID, m.ID)
		}
	}
}
