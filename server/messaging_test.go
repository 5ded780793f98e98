package server_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"connectrpc.com/connect"

	sealinev1 "github.com/sealine/sealine/api/sealine/v1"
	"github.com/sealine/sealine/internal/testenv"
	"github.com/sealine/sealine/mls"
	"github.com/sealine/sealine/server"
)

// TestMessagingEndToEnd: three devices of two users form an MLS group
// through the server; a message reaches every other device, not the
// sender, decrypts, and an ack empties the queue.
func TestMessagingEndToEnd(t *testing.T) {
	messagingEndToEnd(t, testenv.New(t))
}

// TestMessagingEndToEndPostgres runs the same on PostgreSQL.
func TestMessagingEndToEndPostgres(t *testing.T) {
	messagingEndToEnd(t, testenv.New(t, testenv.WithPostgres(t)))
}

func messagingEndToEnd(t *testing.T, e *testenv.Env) {
	ctx := context.Background()
	tr := newTrio(t, e)
	if _, err := tr.alice.send(t, "hello, both"); err != nil {
		t.Fatal(err)
	}
	for _, r := range []struct {
		m  *member
		in *inbox
	}{{tr.bob, tr.inB}, {tr.alice2, tr.inA2}} {
		env, text := r.m.receive(t, r.in)
		if text != "hello, both" || env.GetSenderDeviceId() != tr.alice.DeviceID || env.GetKind() != sealinev1.Envelope_KIND_APPLICATION {
			t.Fatalf("got %q from %s (%v)", text, env.GetSenderDeviceId(), env.GetKind())
		}
		resp, err := e.Messages(r.m.Token).Ack(ctx, connect.NewRequest(&sealinev1.AckRequest{UpToCursor: env.GetCursor()}))
		if err != nil {
			t.Fatal(err)
		}
		if n, _ := e.Server.Store().QueueLength(ctx, r.m.DeviceID); n != 0 || resp.Msg.GetRemoved() == 0 {
			t.Errorf("after ack: %d left, %d removed", n, resp.Msg.GetRemoved())
		}
	}
	env, err := e.Server.Store().Envelopes(ctx, tr.alice.DeviceID, 0, 100)
	if err != nil {
		t.Fatal(err)
	}
	for _, x := range env {
		if x.Kind == 1 {
			t.Errorf("the sender got its own message back")
		}
	}
	list, err := e.Conversations(tr.bob.Token).ListConversations(ctx, connect.NewRequest(&sealinev1.ListConversationsRequest{}))
	if err != nil || len(list.Msg.GetConversations()) != 1 || list.Msg.GetConversations()[0].GetEpoch() != 2 {
		t.Fatalf("ListConversations = %v, %v", list, err)
	}
}

// TestConcurrentCommitsOneWins: two members commit for the same epoch at
// once, many times over; each time exactly one wins and the other gets
// failed_precondition/stale_epoch.
func TestConcurrentCommitsOneWins(t *testing.T) { concurrentCommits(t, testenv.New(t)) }

// TestConcurrentCommitsOneWinsPostgres runs the same on PostgreSQL.
func TestConcurrentCommitsOneWinsPostgres(t *testing.T) {
	concurrentCommits(t, testenv.New(t, testenv.WithPostgres(t)))
}

func concurrentCommits(t *testing.T, e *testenv.Env) {
	tr := newTrio(t, e)
	for round := range 5 {
		var wg sync.WaitGroup
		errs := make([]error, 2)
		for i, m := range []*member{tr.alice, tr.bob} {
			pc, err := m.group.Commit(mls.CommitParams{ForcePath: true})
			if err != nil {
				t.Fatal(err)
			}
			wg.Go(func() { _, errs[i] = m.commit(pc, nil, nil) })
		}
		wg.Wait()
		wins := 0
		var loser *member
		for i, err := range errs {
			if err == nil {
				wins++
				continue
			}
			wantErr(t, err, connect.CodeFailedPrecondition, "stale_epoch")
			loser = []*member{tr.alice, tr.bob}[i]
		}
		if wins != 1 {
			t.Fatalf("round %d: %d commits won: %v", round, wins, errs)
		}
		// The loser processes the winner's commit and catches up.
		in := loser.subscribe(t, lastCursor(t, e, loser.DeviceID)-1)
		if env, _ := loser.receive(t, in); env.GetKind() != sealinev1.Envelope_KIND_COMMIT {
			t.Fatalf("loser got %v", env.GetKind())
		}
		in.close()
		ack(t, e, tr.alice)
		ack(t, e, tr.bob)
	}
	if tr.alice.group.Epoch() != tr.bob.group.Epoch() || tr.alice.group.Epoch() != 7 {
		t.Fatalf("epochs %d and %d, want 7", tr.alice.group.Epoch(), tr.bob.group.Epoch())
	}
}

// lastCursor is the last cursor in the device's queue.
func lastCursor(t *testing.T, e *testenv.Env, deviceID string) uint64 {
	t.Helper()
	env, err := e.Server.Store().Envelopes(context.Background(), deviceID, 0, 100000)
	if err != nil || len(env) == 0 {
		t.Fatalf("queue of %s: %v, %v", deviceID, env, err)
	}
	return env[len(env)-1].Cursor
}

// ack empties the device's queue.
func ack(t *testing.T, e *testenv.Env, m *member) {
	t.Helper()
	_, err := e.Messages(m.Token).Ack(context.Background(), connect.NewRequest(&sealinev1.AckRequest{UpToCursor: lastCursor(t, e, m.DeviceID)}))
	if err != nil {
		t.Fatal(err)
	}
}

// TestRestartKeepsMessages: messages acknowledged to the sender survive a
// restart of the server on the same data dir, and the conversation goes on.
func TestRestartKeepsMessages(t *testing.T) {
	e := testenv.New(t)
	tr := newTrio(t, e)
	tr.inB.close()
	for _, text := range []string{"one", "two", "three"} {
		if _, err := tr.alice.send(t, text); err != nil {
			t.Fatal(err)
		}
	}
	if err := e.Stop(); err != nil {
		t.Fatal(err)
	}
	e2 := testenv.New(t, func(c *server.Config) { c.DataDir = e.DataDir })
	for _, m := range []*member{tr.alice, tr.alice2, tr.bob} {
		m.e = e2
	}
	in := tr.bob.subscribe(t, lastCursorBefore(t, e2, tr.bob.DeviceID, 3))
	for _, want := range []string{"one", "two", "three"} {
		if _, got := tr.bob.receive(t, in); got != want {
			t.Fatalf("after restart bob got %q, want %q", got, want)
		}
	}
	if _, err := tr.bob.send(t, "still here"); err != nil {
		t.Fatal(err)
	}
	inA := tr.alice.subscribe(t, lastCursorBefore(t, e2, tr.alice.DeviceID, 1))
	if _, text := tr.alice.receive(t, inA); text != "still here" {
		t.Fatalf("alice got %q", text)
	}
}

// lastCursorBefore is the cursor n envelopes before the end of the queue.
func lastCursorBefore(t *testing.T, e *testenv.Env, deviceID string, n int) uint64 {
	t.Helper()
	env, err := e.Server.Store().Envelopes(context.Background(), deviceID, 0, 100000)
	if err != nil || len(env) < n {
		t.Fatalf("queue of %s: %d envelopes, %v", deviceID, len(env), err)
	}
	if len(env) == n {
		return 0
	}
	return env[len(env)-n-1].Cursor
}

// silent is a Notifier that never wakes anyone.
type silent struct{}

func (silent) Notify(string) {}
func (silent) Subscribe(string) (<-chan struct{}, func()) {
	return make(chan struct{}), func() {}
}

// TestDeliveryWithoutNotifier: with every hint lost, Subscribe still
// delivers by re-reading the store (polling only).
func TestDeliveryWithoutNotifier(t *testing.T) {
	e := testenv.New(t, func(c *server.Config) {
		c.Notifier = silent{}
		c.WatchPoll = 20 * time.Millisecond
	})
	tr := newTrio(t, e)
	for _, text := range []string{"polled", "again"} {
		if _, err := tr.alice.send(t, text); err != nil {
			t.Fatal(err)
		}
		if _, got := tr.bob.receive(t, tr.inB); got != text {
			t.Fatalf("got %q, want %q", got, text)
		}
	}
}

// TestSubscribeEndsOnRevoke: revoking a device ends its open Subscribe
// stream with unauthenticated/session_revoked.
func TestSubscribeEndsOnRevoke(t *testing.T) {
	e := testenv.New(t)
	tr := newTrio(t, e)
	in := tr.alice.subscribe(t, 0)
	for in.stream.Receive() && in.stream.Msg().GetEnvelope() != nil {
	}
	start := time.Now()
	_, err := e.Devices(tr.alice2.Token).RevokeDevice(context.Background(), connect.NewRequest(
		&sealinev1.RevokeDeviceRequest{DeviceId: tr.alice.DeviceID}))
	if err != nil {
		t.Fatal(err)
	}
	for in.stream.Receive() {
	}
	wantErr(t, in.stream.Err(), connect.CodeUnauthenticated, "session_revoked")
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("stream ended after %v, want at once", d)
	}
}

// TestLeaveStopsDelivery: a device that proposes its own removal with
// leave set gets nothing more at once, cannot send, and the others get
// the proposal and can commit it.
func TestLeaveStopsDelivery(t *testing.T) {
	e := testenv.New(t)
	tr := newTrio(t, e)
	ctx := context.Background()
	wire, err := tr.bob.group.Propose(&mls.Proposal{Type: mls.ProposalRemove, Removed: tr.bob.group.LeafIndex()})
	if err != nil {
		t.Fatal(err)
	}
	_, err = e.Conversations(tr.bob.Token).Propose(ctx, connect.NewRequest(&sealinev1.ProposeRequest{
		ConversationId: tr.bob.conv, Epoch: tr.bob.group.Epoch(), Proposal: wire, Leave: true}))
	if err != nil {
		t.Fatal(err)
	}
	before := lastCursor(t, e, tr.bob.DeviceID)
	if _, err := tr.bob.send(t, "still there?"); connect.CodeOf(err) != connect.CodePermissionDenied {
		t.Fatalf("send after leave: %v, want not_member", err)
	}
	inA := tr.alice.subscribe(t, lastCursor(t, e, tr.alice.DeviceID)-1)
	if env, _ := tr.alice.receive(t, inA); env.GetKind() != sealinev1.Envelope_KIND_PROPOSAL {
		t.Fatalf("alice got %v, want the proposal", env.GetKind())
	}
	if _, err := tr.alice.send(t, "bye bob"); err != nil {
		t.Fatal(err)
	}
	if _, got := tr.alice2.receive(t, tr.inA2); got != "" {
		// alice2 first sees the proposal, then the message.
		t.Fatalf("alice2 got %q first, want the proposal", got)
	}
	if _, got := tr.alice2.receive(t, tr.inA2); got != "bye bob" {
		t.Fatalf("alice2 got %q", got)
	}
	if after := lastCursor(t, e, tr.bob.DeviceID); after != before {
		t.Errorf("bob's queue grew after he left: %d -> %d", before, after)
	}
	pc, err := tr.alice.group.Commit(mls.CommitParams{})
	if err != nil {
		t.Fatal(err)
	}
	resp, err := tr.alice.commit(pc, nil, nil)
	if err != nil || resp.GetEpoch() != 3 {
		t.Fatalf("commit of the leave: %v, %v", resp, err)
	}
}

// TestLastResortKeyPackage: one-time KeyPackages are handed out once, then
// the last-resort one, which stays; KeyPackageStatus counts them.
func TestLastResortKeyPackage(t *testing.T) {
	e := testenv.New(t)
	ctx := context.Background()
	bob := newMember(t, e, e.RegisterDevice(t, "bob", "correct horse battery", "laptop"))
	alice := e.RegisterDevice(t, "alice", "correct horse battery", "laptop")
	one, _ := bob.KeyPackage(t, suite)
	last, _ := bob.KeyPackage(t, mls.MLS_256_XWING_CHACHA20POLY1305_SHA256_Ed25519)
	up, err := e.KeyPackages(bob.Token).UploadKeyPackages(ctx, connect.NewRequest(&sealinev1.UploadKeyPackagesRequest{
		KeyPackages: [][]byte{testenv.Wire(t, one)}, LastResort: testenv.Wire(t, last)}))
	if err != nil || up.Msg.GetAvailable() != 1 {
		t.Fatalf("upload: %v, %v", up, err)
	}
	for i, wantLast := range []bool{false, true, true} {
		resp, err := e.KeyPackages(alice.Token).ClaimKeyPackages(ctx, connect.NewRequest(&sealinev1.ClaimKeyPackagesRequest{Username: "bob"}))
		if err != nil {
			t.Fatal(err)
		}
		kps := resp.Msg.GetKeyPackages()
		if len(kps) != 1 || kps[0].GetLastResort() != wantLast || kps[0].GetDeviceId() != bob.DeviceID {
			t.Fatalf("claim %d: %v", i, kps)
		}
	}
	st, err := e.KeyPackages(bob.Token).KeyPackageStatus(ctx, connect.NewRequest(&sealinev1.KeyPackageStatusRequest{}))
	if err != nil || st.Msg.GetAvailable() != 0 || !st.Msg.GetHasLastResort() {
		t.Fatalf("status: %v, %v", st, err)
	}
}
