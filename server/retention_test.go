package server_test

import (
	"context"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/sealine/sealine/internal/testenv"
	"github.com/sealine/sealine/server"
	"github.com/sealine/sealine/store"
)

// manualClock stands still until a test moves it.
type manualClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *manualClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *manualClock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = t
}

// TestRetention: with an injected clock, each kind of data is purged the
// first nanosecond after its period ends, and not a nanosecond before:
// queued messages, then blobs (record and bytes), then inactive devices,
// then the withdrawn-username quarantine.
func TestRetention(t *testing.T) {
	ctx := context.Background()
	t0 := time.Now().UTC().Truncate(time.Second)
	clock := &manualClock{t: t0}
	e := testenv.New(t, func(c *server.Config) {
		c.Now = clock.Now
		c.Lifecycle = server.LifecycleConfig{PurgeEvery: -1, PurgeBatch: 2, Retention: server.Retention{
			QueuedMessages: time.Hour, Blobs: 2 * time.Hour, InactiveSessions: 3 * time.Hour, WithdrawnUsernames: 4 * time.Hour,
		}}
	})
	g, _, _ := newGroup(t, e, "carol")
	if _, err := g.carol.send(t, "kept for an hour"); err != nil {
		t.Fatal(err)
	}
	blobID, err := uploadBlob(e, g.carol, g.carol.conv, []byte("kept for two hours"), 0)
	if err != nil {
		t.Fatal(err)
	}
	quit := e.RegisterDevice(t, "quitter", withdrawPassword, "laptop")
	qu, err := e.Server.Store().UserByID(ctx, quit.UserID)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := lifecycleAs(e, quit.Token).DeleteAccount(ctx, deleteReq(withdrawPassword)); err != nil {
		t.Fatal(err)
	}
	st := e.Server.Store()
	steps := []struct {
		kind   store.PurgeKind
		period time.Duration
		gone   func() bool
	}{
		{store.PurgeQueued, time.Hour, func() bool {
			n, _ := st.QueueLength(ctx, g.dave.DeviceID)
			return n == 0
		}},
		{store.PurgeBlobs, 2 * time.Hour, func() bool {
			_, err := st.Blob(ctx, blobID)
			return err != nil && !blobOnDisk(e, blobID)
		}},
		{store.PurgeSessions, 3 * time.Hour, func() bool {
			_, err := st.Device(ctx, g.bob.UserID, g.bob.DeviceID)
			return err != nil
		}},
		{store.PurgeQuarantine, 4 * time.Hour, func() bool {
			_, err := st.WithdrawnAt(ctx, qu.UsernameIndex)
			return err != nil
		}},
	}
	for _, s := range steps {
		clock.Set(t0.Add(s.period))
		rep, err := e.Server.PurgeNow(ctx, nil)
		if err != nil || rep[s.kind] != 0 {
			t.Fatalf("%s at exactly its period: %v, %v; want nothing purged", s.kind, rep, err)
		}
		clock.Set(t0.Add(s.period + time.Nanosecond))
		rep, err = e.Server.PurgeNow(ctx, nil)
		if err != nil || rep[s.kind] == 0 || !s.gone() {
			t.Fatalf("%s one nanosecond after its period: %v, %v; want it purged", s.kind, rep, err)
		}
		for k, n := range rep {
			if k != s.kind && n != 0 {
				t.Fatalf("%s step also purged %d %s", s.kind, n, k)
			}
		}
	}
}

func blobOnDisk(e *testenv.Env, id string) bool {
	found := false
	filepath.WalkDir(filepath.Join(e.DataDir, "blobs"), func(p string, _ os.DirEntry, err error) error {
		found = found || (err == nil && filepath.Base(p) == id)
		return nil
	})
	return found
}
