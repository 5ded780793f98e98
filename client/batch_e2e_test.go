package client_test

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/sealine/sealine/client"
	"github.com/sealine/sealine/internal/testenv"
	"github.com/sealine/sealine/server"
)

// drainEvents returns the events m has buffered, failing on any
// SecurityWarning.
func drainEvents(t *testing.T, m *client.Messenger) []client.Event {
	t.Helper()
	var out []client.Event
	for {
		select {
		case ev := <-m.Events():
			if w, ok := ev.(*client.SecurityWarning); ok {
				t.Fatalf("unexpected %v", w)
			}
			out = append(out, ev)
		default:
			return out
		}
	}
}

// TestE2EBacklogInBatches: a backlog is processed many envelopes per
// local transaction. Several messages of one sender share a batch, so
// each must be checked against the sender state the earlier ones left
// (else they would read as replays); all arrive once, in order, and a
// restart processes none of them again.
func TestE2EBacklogInBatches(t *testing.T) {
	env := testenv.New(t)
	ctx := context.Background()
	alice := env.Messenger(t, env.SDKUser(t, "alice", nil), true, client.MessengerConfig{})
	bobClient := env.SDKUser(t, "bob", nil)
	bob := env.Messenger(t, bobClient, false, client.MessengerConfig{EventBuffer: 1000})
	conv, err := alice.Direct(ctx, "bob")
	if err != nil {
		t.Fatal(err)
	}
	const n = 300
	for i := range n {
		if _, err := alice.Send(ctx, conv, fmt.Sprint("backlog ", i)); err != nil {
			t.Fatal(err)
		}
	}
	if err := bob.Sync(ctx); err != nil {
		t.Fatalf("Sync: %v", err)
	}
	var texts []string
	for _, ev := range drainEvents(t, bob) {
		if me, ok := ev.(*client.MessageEvent); ok {
			texts = append(texts, me.Message.Text)
		}
	}
	if len(texts) != n {
		t.Fatalf("got %d messages, want %d", len(texts), n)
	}
	for i, text := range texts {
		if want := fmt.Sprint("backlog ", i); text != want {
			t.Fatalf("message %d = %q, want %q", i, text, want)
		}
	}
	hist, err := bob.History(conv, 2*n)
	if err != nil || len(hist) != n {
		t.Fatalf("History = %d messages, %v; want %d", len(hist), err, n)
	}
	// Restart: the cursor was committed with the batches.
	if err := bob.Close(); err != nil {
		t.Fatal(err)
	}
	bob = env.Messenger(t, bobClient, false, client.MessengerConfig{})
	if _, err := alice.Send(ctx, conv, "after the restart"); err != nil {
		t.Fatal(err)
	}
	if err := bob.Sync(ctx); err != nil {
		t.Fatalf("Sync after restart: %v", err)
	}
	evs := drainEvents(t, bob)
	if len(evs) != 1 {
		t.Fatalf("after restart: %d events, want the one new message: %v", len(evs), evs)
	}
	if me, ok := evs[0].(*client.MessageEvent); !ok || me.Message.Text != "after the restart" {
		t.Fatalf("after restart: %v", evs[0])
	}
}

// TestE2ERefusedSendLeavesNoTrace: a message the server refuses after it
// was encrypted (the recipient's queue is full) is not in the history and
// does not use up a sequence number, so the recipient sees no gap.
func TestE2ERefusedSendLeavesNoTrace(t *testing.T) {
	env := testenv.New(t, func(c *server.Config) { c.Messaging.MaxQueue = 4 })
	ctx := context.Background()
	alice, bob, conv := directToOffline(t, env)
	var sent []string
	for i := range 10 {
		text := fmt.Sprint("message ", i)
		_, err := alice.Send(ctx, conv, text)
		if errors.Is(err, client.ErrQueueFull) {
			break
		}
		if err != nil {
			t.Fatalf("Send %d: %v", i, err)
		}
		sent = append(sent, text)
	}
	if len(sent) == 0 || len(sent) == 10 {
		t.Fatalf("%d sends accepted; want the queue bound to refuse one", len(sent))
	}
	hist, err := alice.History(conv, 20)
	if err != nil || len(hist) != len(sent) {
		t.Fatalf("alice's history = %d messages, %v; want the %d accepted", len(hist), err, len(sent))
	}
	if err := bob.Sync(ctx); err != nil { // and acknowledge: the queue empties
		t.Fatal(err)
	}
	if _, err := alice.Send(ctx, conv, "once there is room"); err != nil {
		t.Fatalf("Send after the queue drained: %v", err)
	}
	if err := bob.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, ev := range drainEvents(t, bob) { // no SecurityWarning (gap) among them
		if me, ok := ev.(*client.MessageEvent); ok {
			got = append(got, me.Message.Text)
		}
	}
	if want := append(sent, "once there is room"); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("bob got %q, want %q", got, want)
	}
}
