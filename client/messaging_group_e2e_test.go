package client_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/sealine/sealine/client"
	"github.com/sealine/sealine/internal/testenv"
	"github.com/sealine/sealine/server"
)

// newMessengers registers n users named prefix0..prefix(n-1), each with a
// running messenger.
func newMessengers(t testing.TB, env *testenv.Env, prefix string, n int) ([]*client.Messenger, []string) {
	t.Helper()
	ms := make([]*client.Messenger, n)
	names := make([]string, n)
	var wg sync.WaitGroup
	sem := make(chan struct{}, 8)
	for i := range n {
		names[i] = fmt.Sprintf("%s%d", prefix, i)
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			ms[i] = env.Messenger(t, env.SDKUser(t, names[i], nil), true, client.MessengerConfig{KeyPackages: 2})
		})
	}
	wg.Wait()
	return ms, names
}

// everyoneGets waits until each of ms has received text in conv.
func everyoneGets(t testing.TB, ms []*client.Messenger, conv, text string) {
	t.Helper()
	var wg sync.WaitGroup
	for _, m := range ms {
		wg.Go(func() { waitText(t, m, conv, text) })
	}
	wg.Wait()
}

func everyoneJoins(t testing.TB, ms []*client.Messenger, conv string) {
	t.Helper()
	var wg sync.WaitGroup
	for _, m := range ms {
		wg.Go(func() { waitJoined(t, m, conv) })
	}
	wg.Wait()
}

// growGroup creates a group of 3 and grows it to n members in commits of
// batch users, checking after each that everyone reads a message.
func growGroup(t testing.TB, n, batch int) {
	// One user claims every member's KeyPackages here: lift the server's
	// per-user claim rate limit (100 at once) for the test.
	env := testenv.New(t, func(c *server.Config) { c.Messaging.ClaimBurst = 10 * n })
	if n > 100 {
		// Every member verifies each added KeyPackage and, on joining,
		// every leaf: with all n devices on two cores (and other test
		// binaries beside them in CI), one operation may wait minutes
		// for CPU. Only the waits grow; no step is skipped.
		env.ClientTimeout = 5 * time.Minute
		defer func(d time.Duration) { eventTimeout = d }(eventTimeout)
		eventTimeout = 5 * time.Minute
	}
	ctx := context.Background()
	start := time.Now()
	ms, names := newMessengers(t, env, "member", n)
	t.Logf("%d users registered in %v", n, time.Since(start))
	start = time.Now()
	conv, err := ms[0].CreateGroup(ctx, "crew", names[1], names[2])
	if err != nil {
		t.Fatalf("CreateGroup: %v", err)
	}
	everyoneJoins(t, ms[1:3], conv)
	waitEvent(t, ms[2], "group name", func(ev client.Event) bool {
		r, ok := ev.(*client.RenamedEvent)
		return ok && r.Name == "crew"
	})
	for have := 3; have < n; {
		next := min(have+batch, n)
		if err := ms[0].Add(ctx, conv, names[have:next]...); err != nil {
			t.Fatalf("Add %d..%d: %v", have, next, err)
		}
		everyoneJoins(t, ms[have:next], conv)
		have = next
	}
	t.Logf("grown to %d in %v", n, time.Since(start))
	start = time.Now()
	if _, err := ms[n-1].Send(ctx, conv, "hello from the newest"); err != nil {
		t.Fatalf("Send: %v", err)
	}
	everyoneGets(t, ms[:n-1], conv, "hello from the newest")
	if _, err := ms[0].Send(ctx, conv, "hello from the creator"); err != nil {
		t.Fatalf("Send: %v", err)
	}
	everyoneGets(t, ms[1:], conv, "hello from the creator")
	t.Logf("two messages to %d members in %v", n, time.Since(start))
	members, err := ms[7%n].Members(conv)
	if err != nil || len(members) != n {
		t.Errorf("Members = %d, %v; want %d", len(members), err, n)
	}
}

func TestE2EGroupGrowsTo50(t *testing.T) { growGroup(t, 50, 12) }

// TestE2EGroupGrowsTo500 takes about 30 s on two quiet cores (46 s of
// CPU, half of it Ed25519 verification of KeyPackages and leaves, as RFC
// 9420 requires of every member). The race detector makes that four
// minutes of both cores, so under -race it is skipped and .ci/run runs it
// on its own without -race; -short skips it too.
func TestE2EGroupGrowsTo500(t *testing.T) {
	if testing.Short() {
		t.Skip("500 members: skipped with -short")
	}
	if raceEnabled {
		t.Skip("500 members: skipped under -race (about 4 min of both cores); run it without -race: go test -run 'TestE2EGroupGrowsTo500$' ./client (.ci/run does)")
	}
	growGroup(t, 500, 100)
}
