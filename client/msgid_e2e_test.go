package client_test

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/binary"
	"testing"
	"time"

	"github.com/sealine/sealine/internal/testenv"
	"github.com/sealine/sealine/store"
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

// TestE2EClientMessageIDsFollowTime: the client message id a send carries
// (the server's de-duplication key) also starts with the send time in
// milliseconds, so the server's idempotency index appends instead of
// writing a random page per message; it is drawn apart from the message
// id, which only the recipients see.
func TestE2EClientMessageIDsFollowTime(t *testing.T) {
	env := testenv.New(t)
	alice, _, conv := directToOffline(t, env)
	ctx := context.Background()
	for range 4 {
		if _, err := alice.Send(ctx, conv, "tick"); err != nil {
			t.Fatal(err)
		}
		env.Clock.Advance(time.Second)
	}
	sent, err := alice.History(conv, 10)
	if err != nil || len(sent) != 4 {
		t.Fatalf("alice's history: %d, %v", len(sent), err)
	}
	db, err := sql.Open("sqlite", "file:"+env.DBPath()+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	rows, err := db.Query(`SELECT client_message_id FROM messages WHERE kind = ? ORDER BY id`, int(store.EnvelopeApplication))
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var cmids [][]byte
	for rows.Next() {
		var b []byte
		if err := rows.Scan(&b); err != nil {
			t.Fatal(err)
		}
		cmids = append(cmids, b)
	}
	if err := rows.Err(); err != nil || len(cmids) < len(sent) {
		t.Fatalf("%d client message ids stored for %d sends (%v)", len(cmids), len(sent), err)
	}
	cmids = cmids[len(cmids)-len(sent):] // after what setting up the conversation sent
	for i, cmid := range cmids {
		var ms [8]byte
		copy(ms[2:], cmid[:6])
		if at := int64(binary.BigEndian.Uint64(ms[:])); len(cmid) != 16 || at != sent[i].SentAt.UnixMilli() {
			t.Errorf("send %d: client message id %x does not start with its send time %d", i, cmid, sent[i].SentAt.UnixMilli())
		}
		if bytes.Equal(cmid, sent[i].ID[:]) {
			t.Errorf("send %d: client message id is the message id", i)
		}
		if i > 0 && bytes.Compare(cmid, cmids[i-1]) <= 0 {
			t.Errorf("send %d: client message id %x not after %x", i, cmid, cmids[i-1])
		}
	}
}
