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

// TestE2ERevokedDeviceRemovedByServer: alice revokes her phone; the
// server proposes its removal from the group and a remaining member
// commits it, so the roster no longer lists it and the others talk on.
func TestE2ERevokedDeviceRemovedByServer(t *testing.T) {
	env := testenv.New(t)
	ctx := context.Background()
	laptop := env.SDKUser(t, "rvalice", nil)
	phone := env.SDKLogin(t, "rvalice", nil)
	bob := env.SDKUser(t, "rvbob", nil)
	ms := []*client.Messenger{}
	for _, c := range []*client.Client{laptop, bob, phone} {
		ms = append(ms, env.Messenger(t, c, true, client.MessengerConfig{KeyPackages: 2}))
	}
	conv, err := ms[0].CreateGroup(ctx, "", "rvbob")
	if err != nil {
		t.Fatalf("CreateGroup: %v", err)
	}
	everyoneJoins(t, ms[1:], conv)
	waitMembers(t, ms[0], conv, 3)
	devices, err := laptop.Devices(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range devices {
		if !d.Current {
			if err := laptop.RevokeDevice(ctx, d.ID); err != nil {
				t.Fatalf("RevokeDevice: %v", err)
			}
		}
	}
	for _, m := range ms[:2] {
		waitMembers(t, m, conv, 2)
	}
	if _, err := ms[1].Send(ctx, conv, "after the phone"); err != nil {
		t.Fatalf("Send: %v", err)
	}
	waitText(t, ms[0], conv, "after the phone")
}
