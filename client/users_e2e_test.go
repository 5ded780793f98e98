package client_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/sealine/sealine/client"
	"github.com/sealine/sealine/internal/testenv"
	"github.com/sealine/sealine/server"
)

// waitUsername waits until m has learned userID's username.
func waitUsername(t testing.TB, m *client.Messenger, userID, want string) {
	t.Helper()
	deadline := time.Now().Add(eventTimeout)
	for m.Username(userID) != want {
		if time.Now().After(deadline) {
			t.Fatalf("Username(%s) = %q, want %q", userID, m.Username(userID), want)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestE2ELookupUsernames: a device that claimed nobody's KeyPackages
// learns the usernames of the users it hears from (a direct peer, a
// group's creator, an added member) in the background, and
// ResolveUsernames names them at once; a user it shares no conversation
// with stays unnamed.
func TestE2ELookupUsernames(t *testing.T) {
	env := testenv.New(t)
	ctx := context.Background()
	alice := env.Messenger(t, env.SDKUser(t, "alice", nil), true, client.MessengerConfig{})
	bobC := env.SDKUser(t, "bob", nil)
	bob := env.Messenger(t, bobC, true, client.MessengerConfig{})
	carol := env.Messenger(t, env.SDKUser(t, "carol", nil), true, client.MessengerConfig{})
	dave := env.Messenger(t, env.SDKUser(t, "dave", nil), false, client.MessengerConfig{})
	erin := env.Messenger(t, env.SDKUser(t, "erin", nil), false, client.MessengerConfig{})

	conv, err := alice.Direct(ctx, "bob")
	if err != nil {
		t.Fatalf("Direct: %v", err)
	}
	if _, err := alice.Send(ctx, conv, "hi bob"); err != nil {
		t.Fatalf("Send: %v", err)
	}
	waitText(t, bob, conv, "hi bob")
	waitUsername(t, bob, alice.Me().UserID, "alice")

	group, err := carol.CreateGroup(ctx, "g", "bob")
	if err != nil {
		t.Fatalf("CreateGroup: %v", err)
	}
	waitJoined(t, bob, group)
	waitUsername(t, bob, carol.Me().UserID, "carol")
	if err := carol.Add(ctx, group, "dave"); err != nil {
		t.Fatalf("Add: %v", err)
	}
	waitEvent(t, bob, "dave added", func(ev client.Event) bool {
		me, ok := ev.(*client.MemberEvent)
		return ok && me.ConvID == group && len(me.Added) > 0
	})
	if err := bob.ResolveUsernames(ctx); err != nil {
		t.Fatalf("ResolveUsernames: %v", err)
	}
	if got := bob.Username(dave.Me().UserID); got != "dave" {
		t.Errorf("after ResolveUsernames, Username(dave) = %q", got)
	}

	erinID := erin.Me().UserID
	if err := bob.ResolveUsernames(ctx, erinID, bob.Me().UserID, "no-such-user"); err != nil {
		t.Fatalf("ResolveUsernames(others): %v", err)
	}
	if got := bob.Username(erinID); got != "" {
		t.Errorf("Username(erin, no shared conversation) = %q, want none", got)
	}
	got, err := bobC.LookupUsers(ctx, erinID, alice.Me().UserID, bob.Me().UserID, alice.Me().UserID, "")
	if err != nil {
		t.Fatalf("LookupUsers: %v", err)
	}
	if len(got) != 2 || got[alice.Me().UserID].Username != "alice" || got[bob.Me().UserID].Username != "bob" {
		t.Errorf("LookupUsers = %+v, want alice and bob only", got)
	}
	many := []string{carol.Me().UserID}
	for i := range 150 { // two requests
		many = append(many, fmt.Sprintf("no-such-user-%d", i))
	}
	got, err = bobC.LookupUsers(ctx, many...)
	if err != nil || len(got) != 1 || got[carol.Me().UserID].Username != "carol" {
		t.Errorf("LookupUsers(151 ids) = %+v, %v; want carol only", got, err)
	}
}

// TestE2ELookupRateLimited: a refused lookup keeps its ids queued and
// holds further requests until the server's retry_after.
func TestE2ELookupRateLimited(t *testing.T) {
	env := testenv.New(t, func(c *server.Config) {
		c.Messaging.LookupBurst = 1
		c.Messaging.LookupInterval = time.Hour
	})
	ctx := context.Background()
	alice := env.Messenger(t, env.SDKUser(t, "alice", nil), true, client.MessengerConfig{})
	bobC := env.SDKUser(t, "bob", nil)
	bob := env.Messenger(t, bobC, true, client.MessengerConfig{})
	if _, err := bobC.LookupUsers(ctx, "no-such-user"); err != nil { // the one token
		t.Fatal(err)
	}
	conv, err := alice.Direct(ctx, "bob")
	if err != nil {
		t.Fatalf("Direct: %v", err)
	}
	if _, err := alice.Send(ctx, conv, "hi bob"); err != nil {
		t.Fatalf("Send: %v", err)
	}
	waitText(t, bob, conv, "hi bob")
	for range 2 {
		if err := bob.ResolveUsernames(ctx); !errors.Is(err, client.ErrRateLimited) {
			t.Fatalf("ResolveUsernames = %v, want ErrRateLimited", err)
		}
	}
	if got := bob.Username(alice.Me().UserID); got != "" {
		t.Errorf("Username(alice) = %q while rate limited", got)
	}
}
