package client_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/sealine/sealine/client"
	"github.com/sealine/sealine/internal/testenv"
	"github.com/sealine/sealine/mls"
)

// eventTimeout bounds waitEvent. growGroup raises it: hundreds of
// messengers sharing two cores each wait long for CPU.
var eventTimeout = 30 * time.Second

// waitEvent reads m's events until match returns true. A SecurityWarning
// fails the test unless match accepts it.
func waitEvent(t testing.TB, m *client.Messenger, what string, match func(client.Event) bool) client.Event {
	t.Helper()
	timeout := time.NewTimer(eventTimeout)
	defer timeout.Stop()
	for {
		select {
		case ev := <-m.Events():
			if match(ev) {
				return ev
			}
			if w, ok := ev.(*client.SecurityWarning); ok {
				t.Fatalf("%s: unexpected %v", what, w)
			}
		case <-timeout.C:
			t.Fatalf("%s: timed out", what)
			return nil
		}
	}
}

func waitText(t testing.TB, m *client.Messenger, conv, text string) client.Message {
	t.Helper()
	ev := waitEvent(t, m, "message "+text, func(ev client.Event) bool {
		me, ok := ev.(*client.MessageEvent)
		return ok && me.Message.ConvID == conv && me.Message.Text == text
	})
	return ev.(*client.MessageEvent).Message
}

func waitJoined(t testing.TB, m *client.Messenger, conv string) {
	t.Helper()
	waitEvent(t, m, "join "+conv, func(ev client.Event) bool {
		j, ok := ev.(*client.JoinedEvent)
		return ok && j.ConvID == conv
	})
}

func TestE2EDirectBothWays(t *testing.T) {
	for _, suite := range []mls.CipherSuite{mls.DefaultCipherSuite, mls.MLS_256_XWING_CHACHA20POLY1305_SHA256_Ed25519} {
		t.Run(fmt.Sprintf("suite %#04x", uint16(suite)), func(t *testing.T) { directBothWays(t, suite) })
	}
}

func directBothWays(t *testing.T, suite mls.CipherSuite) {
	env := testenv.New(t)
	ctx := context.Background()
	alice := env.Messenger(t, env.SDKUser(t, "alice", nil), true, client.MessengerConfig{Suite: suite})
	bob := env.Messenger(t, env.SDKUser(t, "bob", nil), true, client.MessengerConfig{Suite: suite})
	conv, err := alice.Direct(ctx, "bob")
	if err != nil {
		t.Fatalf("Direct: %v", err)
	}
	waitJoined(t, bob, conv)
	if _, err := alice.Send(ctx, conv, "hi bob"); err != nil {
		t.Fatalf("Send: %v", err)
	}
	got := waitText(t, bob, conv, "hi bob")
	if got.From != alice.Me() {
		t.Errorf("From = %v, want %v", got.From, alice.Me())
	}
	if _, err := bob.Send(ctx, conv, "hi alice"); err != nil {
		t.Fatalf("bob Send: %v", err)
	}
	waitText(t, alice, conv, "hi alice")
	again, err := alice.Direct(ctx, "bob")
	if err != nil || again != conv {
		t.Errorf("second Direct = %q, %v; want %q", again, err, conv)
	}
	hist, err := bob.History(conv, 10)
	if err != nil || len(hist) != 2 || hist[0].Text != "hi bob" || !hist[1].Outgoing {
		t.Errorf("History = %+v, %v", hist, err)
	}
}
