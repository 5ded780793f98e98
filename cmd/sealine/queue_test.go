package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sealine/sealine/client"
	"github.com/sealine/sealine/internal/testenv"
)

// TestSyncMoreEventsThanTheChannelHolds: a device with more queued
// messages than the SDK's events channel holds (1,024) still syncs, because
// the CLI prints events while Sync runs. Alice fills Bob's queue through the
// SDK; Bob's side is the CLI's own code path (withMessenger), in process.
func TestSyncMoreEventsThanTheChannelHolds(t *testing.T) {
	const n = 1100
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	env := testenv.New(t)
	alice, bob := env.SDKUser(t, "alice", nil), env.SDKUser(t, "bob", nil)
	bm, err := bob.Messenger(client.MessengerConfig{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := bm.TopUpKeyPackages(ctx); err != nil {
		t.Fatal(err)
	}
	bm.Close()
	am := env.Messenger(t, alice, false, client.MessengerConfig{})
	conv, err := am.Direct(ctx, "bob")
	if err != nil {
		t.Fatal(err)
	}
	for i := range n {
		if _, err := am.Send(ctx, conv, fmt.Sprintf("queued-%04d", i)); err != nil {
			t.Fatalf("send %d: %v", i, err)
		}
	}

	ca := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(ca, env.Server.CertPEM(), 0o600); err != nil {
		t.Fatal(err)
	}
	var stdout, stderr bytes.Buffer
	a := newApp(strings.NewReader(""), &stdout, &stderr, func(string) string { return "" })
	a.server, a.ca, a.home = env.URL, ca, bob.Home()
	start := time.Now()
	if err := a.withMessenger(ctx, nil); err != nil {
		t.Fatalf("sync of %d queued messages: %v (stderr %q)", n, err, stderr.String())
	}
	t.Logf("synced %d messages in %v", n, time.Since(start))
	if got := strings.Count(stdout.String(), ": queued-"); got != n {
		t.Errorf("printed %d messages, want %d", got, n)
	}
	for _, want := range []string{"queued-0000\n", fmt.Sprintf("queued-%04d\n", n-1)} {
		if !strings.Contains(stdout.String(), want) {
			t.Errorf("output lacks %q", want)
		}
	}
}
