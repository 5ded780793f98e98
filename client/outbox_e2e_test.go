package client_test

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"sync"
	"testing"

	"github.com/sealine/sealine/client"
	"github.com/sealine/sealine/internal/testenv"
	"github.com/sealine/sealine/server"
)

// sendConcurrently sends n messages "prefix i" from workers goroutines
// and returns the texts accepted and the errors.
func sendConcurrently(m *client.Messenger, conv, prefix string, n, workers int) ([]string, []error) {
	var mu sync.Mutex
	var sent []string
	var errs []error
	next := make(chan int)
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for i := range next {
				text := fmt.Sprint(prefix, i)
				_, err := m.Send(context.Background(), conv, text)
				mu.Lock()
				if err != nil {
					errs = append(errs, err)
				} else {
					sent = append(sent, text)
				}
				mu.Unlock()
			}
		})
	}
	for i := range n {
		next <- i
	}
	close(next)
	wg.Wait()
	return sent, errs
}

// receivedTexts syncs m and returns the texts of conv it received,
// failing on any SecurityWarning (a gap, replay or reorder).
func receivedTexts(t *testing.T, m *client.Messenger, conv string) []string {
	t.Helper()
	if err := m.Sync(context.Background()); err != nil {
		t.Fatalf("Sync: %v", err)
	}
	var out []string
	for _, ev := range drainEvents(t, m) {
		if me, ok := ev.(*client.MessageEvent); ok && me.Message.ConvID == conv {
			out = append(out, me.Message.Text)
		}
	}
	return out
}

func sameSet(a, b []string) bool {
	a, b = append([]string(nil), a...), append([]string(nil), b...)
	sort.Strings(a)
	sort.Strings(b)
	return fmt.Sprint(a) == fmt.Sprint(b)
}

// directToOffline registers alice (receiving) and bob (not receiving:
// he Syncs when the test says) and returns their direct conversation.
func directToOffline(t *testing.T, env *testenv.Env) (alice, bob *client.Messenger, conv string) {
	t.Helper()
	alice = env.Messenger(t, env.SDKUser(t, "alice", nil), true, client.MessengerConfig{})
	bob = env.Messenger(t, env.SDKUser(t, "bob", nil), false, client.MessengerConfig{EventBuffer: 1000})
	conv, err := alice.Direct(context.Background(), "bob")
	if err != nil {
		t.Fatal(err)
	}
	return alice, bob, conv
}

// TestE2EConcurrentSends: Sends from many goroutines go out together
// (one local transaction and one stream round per batch); every message
// arrives once, the sender's sequence has no gap, and the history holds
// each.
func TestE2EConcurrentSends(t *testing.T) {
	alice, bob, conv := directToOffline(t, testenv.New(t))
	sent, errs := sendConcurrently(alice, conv, "concurrent ", 300, 24)
	if len(errs) > 0 {
		t.Fatalf("%d sends failed, first: %v", len(errs), errs[0])
	}
	got := receivedTexts(t, bob, conv)
	if len(got) != 300 || !sameSet(got, sent) {
		t.Fatalf("bob got %d messages, want the 300 sent", len(got))
	}
	hist, err := alice.History(conv, 1000)
	if err != nil || len(hist) != 300 {
		t.Fatalf("alice's history = %d, %v; want 300", len(hist), err)
	}
}

// TestE2EConcurrentSendsRefused: when the recipient's queue fills up in
// the middle of concurrent sends, the refused messages fail with
// ErrQueueFull and leave no trace: not in the history, and no gap in the
// sequence once later messages get through.
func TestE2EConcurrentSendsRefused(t *testing.T) {
	env := testenv.New(t, func(c *server.Config) { c.Messaging.MaxQueue = 40 })
	ctx := context.Background()
	alice, bob, conv := directToOffline(t, env)
	sent, errs := sendConcurrently(alice, conv, "m", 100, 16)
	if len(sent) == 0 || len(errs) == 0 {
		t.Fatalf("%d accepted, %d refused; want the queue bound to refuse some", len(sent), len(errs))
	}
	for _, err := range errs {
		if !errors.Is(err, client.ErrQueueFull) {
			t.Fatalf("refusal %v, want ErrQueueFull", err)
		}
	}
	hist, err := alice.History(conv, 1000)
	if err != nil || len(hist) != len(sent) {
		t.Fatalf("alice's history = %d, %v; want the %d accepted", len(hist), err, len(sent))
	}
	got := receivedTexts(t, bob, conv) // acknowledges: the queue empties
	if !sameSet(got, sent) {
		t.Fatalf("bob got %d messages, want the %d accepted", len(got), len(sent))
	}
	if _, err := alice.Send(ctx, conv, "later"); err != nil {
		t.Fatal(err)
	}
	if got := receivedTexts(t, bob, conv); fmt.Sprint(got) != "[later]" {
		t.Fatalf("bob got %q, want [later] and no warning", got)
	}
}

// TestE2EConcurrentSendsAcrossCommit: another member committed while
// this device did not look; its concurrent sends are refused as stale,
// encrypted again in the new epoch and every message arrives once,
// without a warning, also for the member the commit added.
func TestE2EConcurrentSendsAcrossCommit(t *testing.T) {
	env := testenv.New(t)
	ctx := context.Background()
	alice := env.Messenger(t, env.SDKUser(t, "alice", nil), false, client.MessengerConfig{})
	bob := env.Messenger(t, env.SDKUser(t, "bob", nil), true, client.MessengerConfig{EventBuffer: 2000})
	carol := env.Messenger(t, env.SDKUser(t, "carol", nil), false, client.MessengerConfig{EventBuffer: 2000})
	conv, err := alice.CreateGroup(ctx, "g", "bob")
	if err != nil {
		t.Fatal(err)
	}
	waitJoined(t, bob, conv)
	if err := bob.Add(ctx, conv, "carol"); err != nil { // alice has not seen it
		t.Fatalf("Add: %v", err)
	}
	sent, errs := sendConcurrently(alice, conv, "across ", 200, 16)
	if len(errs) > 0 {
		t.Fatalf("%d sends failed, first: %v", len(errs), errs[0])
	}
	var got []string
	for len(got) < len(sent) {
		ev := waitEvent(t, bob, "messages", func(ev client.Event) bool {
			_, ok := ev.(*client.MessageEvent)
			return ok
		})
		got = append(got, ev.(*client.MessageEvent).Message.Text)
	}
	if !sameSet(got, sent) {
		t.Fatalf("bob got %d messages, want the %d sent", len(got), len(sent))
	}
	if got := receivedTexts(t, carol, conv); !sameSet(got, sent) {
		t.Fatalf("carol got %d messages, want the %d sent", len(got), len(sent))
	}
}

// TestE2ESendAfterClose: a Send on a closed messenger fails cleanly.
func TestE2ESendAfterClose(t *testing.T) {
	env := testenv.New(t)
	ctx := context.Background()
	alice := env.Messenger(t, env.SDKUser(t, "alice", nil), false, client.MessengerConfig{})
	env.Messenger(t, env.SDKUser(t, "bob", nil), true, client.MessengerConfig{})
	conv, err := alice.Direct(ctx, "bob")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := alice.Send(ctx, conv, "before"); err != nil {
		t.Fatal(err)
	}
	if err := alice.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := alice.Send(ctx, conv, "after"); err == nil {
		t.Fatal("Send after Close succeeded")
	}
}

// TestE2ESendByRevokedDevice: a device revoked while its send stream is
// open gets ErrSessionInvalid from its next Send, and its session is
// forgotten.
func TestE2ESendByRevokedDevice(t *testing.T) {
	env := testenv.New(t)
	ctx := context.Background()
	laptop := env.SDKUser(t, "alice", nil)
	phoneClient := env.SDKLogin(t, "alice", nil)
	phone := env.Messenger(t, phoneClient, true, client.MessengerConfig{})
	env.Messenger(t, env.SDKUser(t, "bob", nil), true, client.MessengerConfig{})
	conv, err := phone.Direct(ctx, "bob")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := phone.Send(ctx, conv, "before"); err != nil { // opens the stream
		t.Fatal(err)
	}
	s, err := phoneClient.Session()
	if err != nil {
		t.Fatal(err)
	}
	if err := laptop.RevokeDevice(ctx, s.DeviceID); err != nil {
		t.Fatal(err)
	}
	_, err = phone.Send(ctx, conv, "after")
	if !errors.Is(err, client.ErrSessionInvalid) && !errors.Is(err, client.ErrNotLoggedIn) {
		t.Fatalf("Send after revocation = %v, want ErrSessionInvalid", err)
	}
	if _, err := phoneClient.Session(); !errors.Is(err, client.ErrNotLoggedIn) {
		t.Errorf("revoked client still holds a session: %v", err)
	}
}
