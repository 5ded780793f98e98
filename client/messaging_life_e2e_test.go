package client_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/sealine/sealine/client"
	"github.com/sealine/sealine/internal/testenv"
	"github.com/sealine/sealine/server"
)

// quiet fails if m delivers a message or warning within d.
func quiet(t testing.TB, m *client.Messenger, d time.Duration) {
	t.Helper()
	deadline := time.After(d)
	for {
		select {
		case ev := <-m.Events():
			switch ev := ev.(type) {
			case *client.MessageEvent:
				t.Fatalf("unexpected message %q", ev.Message.Text)
			case *client.SecurityWarning:
				t.Fatalf("unexpected %v", ev)
			}
		case <-deadline:
			return
		}
	}
}

func group3(t *testing.T, env *testenv.Env) ([]*client.Messenger, []string, string) {
	t.Helper()
	ms, names := newMessengers(t, env, "user", 3)
	conv, err := ms[0].CreateGroup(context.Background(), "three", names[1], names[2])
	if err != nil {
		t.Fatalf("CreateGroup: %v", err)
	}
	everyoneJoins(t, ms[1:], conv)
	return ms, names, conv
}

func TestE2ERemovedMemberCannotRead(t *testing.T) {
	env := testenv.New(t)
	ctx := context.Background()
	ms, names, conv := group3(t, env)
	if err := ms[0].Remove(ctx, conv, names[2]); err != nil {
		t.Fatalf("Remove: %v", err)
	}
	waitEvent(t, ms[2], "removed", func(ev client.Event) bool {
		l, ok := ev.(*client.LeftEvent)
		return ok && l.ConvID == conv && l.By == ms[0].Me()
	})
	if _, err := ms[0].Send(ctx, conv, "not for the removed"); err != nil {
		t.Fatalf("Send: %v", err)
	}
	waitText(t, ms[1], conv, "not for the removed")
	quiet(t, ms[2], 300*time.Millisecond)
	if _, err := ms[2].Send(ctx, conv, "still here?"); !errors.Is(err, client.ErrNoConversation) {
		t.Errorf("removed member's Send = %v, want ErrNoConversation", err)
	}
}

func TestE2ELeave(t *testing.T) {
	env := testenv.New(t)
	ctx := context.Background()
	ms, _, conv := group3(t, env)
	if err := ms[1].Leave(ctx, conv); err != nil {
		t.Fatalf("Leave: %v", err)
	}
	waitEvent(t, ms[2], "leave committed", func(ev client.Event) bool {
		e, ok := ev.(*client.MemberEvent)
		return ok && slices.Contains(e.Removed, ms[1].Me())
	})
	if _, err := ms[2].Send(ctx, conv, "after the leave"); err != nil {
		t.Fatalf("Send: %v", err)
	}
	waitText(t, ms[0], conv, "after the leave")
	members, _ := ms[0].Members(conv)
	if slices.Contains(members, ms[1].Me()) || len(members) != 2 {
		t.Errorf("members after leave = %v", members)
	}
}

func TestE2EOfflineForDaysCatchesUp(t *testing.T) {
	env := testenv.New(t)
	ctx := context.Background()
	alice := env.Messenger(t, env.SDKUser(t, "alice", nil), true, client.MessengerConfig{})
	bob := env.Messenger(t, env.SDKUser(t, "bob", nil), false, client.MessengerConfig{})
	env.Messenger(t, env.SDKUser(t, "carol", nil), true, client.MessengerConfig{})
	conv, err := alice.CreateGroup(ctx, "g", "bob")
	if err != nil {
		t.Fatal(err)
	}
	var texts []string
	for day := range 3 {
		for i := range 3 {
			text := "day " + string(rune('1'+day)) + " message " + string(rune('a'+i))
			if _, err := alice.Send(ctx, conv, text); err != nil {
				t.Fatal(err)
			}
			texts = append(texts, text)
		}
		if day == 1 {
			if err := alice.Add(ctx, conv, "carol"); err != nil {
				t.Fatal(err)
			}
		}
		env.Clock.Advance(24 * time.Hour)
	}
	if err := bob.Sync(ctx); err != nil {
		t.Fatalf("Sync after three days: %v", err)
	}
	for _, text := range texts {
		waitText(t, bob, conv, text)
	}
	hist, err := bob.History(conv, 100)
	if err != nil || len(hist) != len(texts) {
		t.Fatalf("History = %d messages, %v", len(hist), err)
	}
}

func TestE2EConcurrentCommitsConverge(t *testing.T) {
	env := testenv.New(t)
	ctx := context.Background()
	ms, names := newMessengers(t, env, "user", 5)
	// user2's Commit is held in its transport until user1's has won the
	// epoch, so that the race is certain; it must then lose and retry.
	h := newHostile(t, env)
	names[2] = "racer"
	ms[2] = env.Messenger(t, env.SDKUser(t, "racer", h.client()), true, client.MessengerConfig{})
	conv, err := ms[0].CreateGroup(ctx, "race", names[1], names[2])
	if err != nil {
		t.Fatal(err)
	}
	everyoneJoins(t, ms[1:3], conv)
	before := ms[0].Conversations()[0].Epoch
	var wg sync.WaitGroup
	errs := make([]error, 2)
	release := make(chan struct{})
	h.mu.Lock()
	h.holdCommit = release
	h.mu.Unlock()
	wg.Go(func() { errs[1] = ms[2].Add(ctx, conv, names[4]) })
	h.waitHeld(t)
	errs[0] = ms[1].Add(ctx, conv, names[3])
	close(release)
	wg.Wait()
	if h.stale() != 1 {
		t.Errorf("racer saw %d stale_epoch refusals, want 1", h.stale())
	}
	if errs[0] != nil || errs[1] != nil {
		t.Fatalf("concurrent Adds: %v, %v", errs[0], errs[1])
	}
	everyoneJoins(t, ms[3:], conv)
	for i, m := range ms {
		text := "from " + names[i]
		if _, err := m.Send(ctx, conv, text); err != nil {
			t.Fatalf("%s Send: %v", names[i], err)
		}
		others := slices.Delete(slices.Clone(ms), i, i+1)
		everyoneGets(t, others, conv, text)
	}
	want, _ := ms[0].Members(conv)
	for i, m := range ms {
		got, _ := m.Members(conv)
		if len(got) != 5 || !slices.Equal(got, want) {
			t.Errorf("%s sees members %v, want %v", names[i], got, want)
		}
		// One epoch per Add: one commit won the race, the other was
		// rebuilt on top of it rather than both (a fork) or neither.
		if e := m.Conversations()[0].Epoch; e != before+2 {
			t.Errorf("%s is at epoch %d, want %d", names[i], e, before+2)
		}
	}
}

func TestE2EReceiptsTypingAndOwnDevices(t *testing.T) {
	env := testenv.New(t)
	ctx := context.Background()
	laptop := env.Messenger(t, env.SDKUser(t, "alice", nil), true, client.MessengerConfig{})
	phone := env.Messenger(t, env.SDKLogin(t, "alice", nil), true, client.MessengerConfig{})
	bob := env.Messenger(t, env.SDKUser(t, "bob", nil), true, client.MessengerConfig{DeliveryReceipts: true})
	conv, err := laptop.Direct(ctx, "bob")
	if err != nil {
		t.Fatal(err)
	}
	everyoneJoins(t, []*client.Messenger{phone, bob}, conv)
	id, err := laptop.Send(ctx, conv, "seen on every device")
	if err != nil {
		t.Fatal(err)
	}
	everyoneGets(t, []*client.Messenger{phone, bob}, conv, "seen on every device")
	receipt := func(kind client.ReceiptKind) func(client.Event) bool {
		return func(ev client.Event) bool {
			r, ok := ev.(*client.ReceiptEvent)
			return ok && r.Kind == kind && r.From == bob.Me() && slices.Contains(r.IDs, id)
		}
	}
	waitEvent(t, laptop, "delivery receipt", receipt(client.ReceiptDelivered))
	if err := bob.MarkRead(ctx, conv, id); err != nil {
		t.Fatal(err)
	}
	waitEvent(t, laptop, "read receipt", receipt(client.ReceiptRead))
	if err := bob.SetTyping(ctx, conv, true); err != nil {
		t.Fatal(err)
	}
	waitEvent(t, phone, "typing", func(ev client.Event) bool {
		ty, ok := ev.(*client.TypingEvent)
		return ok && ty.Typing && ty.From == bob.Me()
	})
}

func TestE2ENoPlaintextAtRest(t *testing.T) {
	env := testenv.New(t)
	ctx := context.Background()
	ac, bc := env.SDKUser(t, "alice", nil), env.SDKUser(t, "bob", nil)
	alice := env.Messenger(t, ac, true, client.MessengerConfig{})
	bob := env.Messenger(t, bc, true, client.MessengerConfig{Passphrase: "bob's passphrase"})
	conv, err := alice.Direct(ctx, "bob")
	if err != nil {
		t.Fatal(err)
	}
	waitJoined(t, bob, conv)
	secrets := []string{"zebra-quokka-7731 launch code", "platypus-marmot-0412 meet at dawn"}
	if _, err := alice.Send(ctx, conv, secrets[0]); err != nil {
		t.Fatal(err)
	}
	waitText(t, bob, conv, secrets[0])
	if _, err := bob.Send(ctx, conv, secrets[1]); err != nil {
		t.Fatal(err)
	}
	waitText(t, alice, conv, secrets[1])
	for _, dir := range []string{ac.Home(), bc.Home(), env.DataDir} {
		scanForPlaintext(t, dir, secrets)
	}
}

// scanForPlaintext fails if any file under dir holds one of secrets.
func scanForPlaintext(t *testing.T, dir string, secrets []string) {
	t.Helper()
	err := filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		for _, s := range secrets {
			if bytes.Contains(b, []byte(s)) || bytes.Contains(b, []byte(s[:12])) {
				t.Errorf("%s holds %q in plaintext", path, s)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestE2ERestartResumesConversation(t *testing.T) {
	env := testenv.New(t)
	ctx := context.Background()
	alice := env.Messenger(t, env.SDKUser(t, "alice", nil), true, client.MessengerConfig{})
	bc := env.SDKUser(t, "bob", nil)
	cfg := client.MessengerConfig{Passphrase: "bob's secret", KDF: &testenv.CheapKDF, Now: env.Clock.Now}
	bob, err := bc.Messenger(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := bob.TopUpKeyPackages(ctx); err != nil {
		t.Fatal(err)
	}
	conv, err := alice.Direct(ctx, "bob")
	if err != nil {
		t.Fatal(err)
	}
	send(t, alice, conv, "before the restart")
	if err := bob.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	waitText(t, bob, conv, "before the restart")
	bob.Close()

	if _, err := bc.Messenger(client.MessengerConfig{Passphrase: "wrong", Now: env.Clock.Now}); err == nil {
		t.Fatal("reopened with a wrong passphrase")
	}
	send(t, alice, conv, "while bob was away")
	bob, err = bc.Messenger(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer bob.Close()
	if err := bob.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	waitText(t, bob, conv, "while bob was away")
	send(t, bob, conv, "back again")
	waitText(t, alice, conv, "back again")
	hist, err := bob.History(conv, 10)
	if err != nil || len(hist) != 3 {
		t.Errorf("History after restart = %d, %v", len(hist), err)
	}
}

func TestE2ESyncOwnDevices(t *testing.T) {
	env := testenv.New(t)
	ctx := context.Background()
	lc := env.SDKUser(t, "alice", nil)
	laptop := env.Messenger(t, lc, true, client.MessengerConfig{})
	bob := env.Messenger(t, env.SDKUser(t, "bob", nil), true, client.MessengerConfig{})
	conv, err := laptop.Direct(ctx, "bob")
	if err != nil {
		t.Fatal(err)
	}
	waitJoined(t, bob, conv)
	phone := env.Messenger(t, env.SDKLogin(t, "alice", nil), true, client.MessengerConfig{})
	if n, err := laptop.SyncOwnDevices(ctx); n != 1 || err != nil {
		t.Fatalf("SyncOwnDevices after a login = %d, %v; want 1", n, err)
	}
	waitJoined(t, phone, conv)
	send(t, bob, conv, "to both of alice's devices")
	everyoneGets(t, []*client.Messenger{laptop, phone}, conv, "to both of alice's devices")

	if err := lc.RevokeDevice(ctx, phone.Me().DeviceID); err != nil {
		t.Fatal(err)
	}
	// The server also proposes the revoked device's removal as MLS external
	// sender, and a running member may commit that first: either way the
	// phone must leave the group, which bob sees below.
	if n, err := laptop.SyncOwnDevices(ctx); n > 1 || err != nil {
		t.Fatalf("SyncOwnDevices after a revocation = %d, %v; want at most 1", n, err)
	}
	waitEvent(t, bob, "phone removed", func(ev client.Event) bool {
		e, ok := ev.(*client.MemberEvent)
		return ok && slices.Contains(e.Removed, phone.Me())
	})
	if n, err := laptop.SyncOwnDevices(ctx); n != 0 || err != nil {
		t.Errorf("SyncOwnDevices with nothing to do = %d, %v", n, err)
	}
}

func TestE2EClaimRateLimitIsWaitedOut(t *testing.T) {
	env := testenv.New(t, func(c *server.Config) { c.Messaging.ClaimBurst, c.Messaging.ClaimInterval = 2, 300*time.Millisecond })
	ctx := context.Background()
	ms, names := newMessengers(t, env, "user", 5)
	conv, err := ms[0].CreateGroup(ctx, "limited", names[1:]...)
	if err != nil {
		t.Fatalf("CreateGroup past the claim rate limit: %v", err)
	}
	everyoneJoins(t, ms[1:], conv)
}
