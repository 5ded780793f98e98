package client_test

import (
	"context"
	"testing"
	"time"

	"github.com/sealine/sealine/client"
	"github.com/sealine/sealine/internal/testenv"
)

// TestE2EWithdrawnMemberRemovedByServer: carol withdraws from a group
// alice created; the server's Remove proposal (as the group's external
// sender) is committed by a remaining member on its own, and alice and
// bob end up in the same two-member group and still talk.
func TestE2EWithdrawnMemberRemovedByServer(t *testing.T) {
	env := testenv.New(t)
	ctx := context.Background()
	names := []string{"wdalice", "wdbob", "wdcarol"}
	cs := make([]*client.Client, len(names))
	ms := make([]*client.Messenger, len(names))
	for i, n := range names {
		cs[i] = env.SDKUser(t, n, nil)
		ms[i] = env.Messenger(t, cs[i], true, client.MessengerConfig{KeyPackages: 2})
	}
	conv, err := ms[0].CreateGroup(ctx, "", names[1], names[2])
	if err != nil {
		t.Fatalf("CreateGroup: %v", err)
	}
	everyoneJoins(t, ms[1:], conv)
	if _, err := cs[2].DeleteAccount(ctx, testenv.UserPassword(names[2])); err != nil {
		t.Fatalf("DeleteAccount: %v", err)
	}
	for _, m := range ms[:2] {
		waitMembers(t, m, conv, 2)
	}
	if _, err := ms[1].Send(ctx, conv, "after carol"); err != nil {
		t.Fatalf("Send: %v", err)
	}
	waitText(t, ms[0], conv, "after carol")
	if _, err := ms[0].Send(ctx, conv, "still here"); err != nil {
		t.Fatalf("Send: %v", err)
	}
	waitText(t, ms[1], conv, "still here")
}

// waitMembers waits until m's roster of conv has n devices.
func waitMembers(t testing.TB, m *client.Messenger, conv string, n int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		got, err := m.Members(conv)
		if err == nil && len(got) == n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("members = %v, %v; want %d", got, err, n)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
