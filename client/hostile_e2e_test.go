package client_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	sealinev1 "github.com/sealine/sealine/api/sealine/v1"
	"github.com/sealine/sealine/client"
	"github.com/sealine/sealine/internal/testenv"
)

// hostile is an HTTP transport between one SDK client and the real server
// that plays a hostile Delivery Service: it rewrites the device's
// Subscribe stream (dropping, replaying, holding back and injecting
// envelopes) and can fake Commit replies. To make room for injected
// envelopes it doubles every server cursor on the way in and halves the
// client's cursors on the way out.
type hostile struct {
	t    testing.TB
	base http.RoundTripper

	mu              sync.Mutex
	attack          func(h *hostile, env *sealinev1.Envelope) []*sealinev1.Envelope
	onCommit        func(h *hostile, req *sealinev1.CommitRequest) *sealinev1.CommitResponse
	loseCommitReply bool          // forward Commits but fail the reply
	holdCommit      chan struct{} // forward the first Commit once closed
	held            chan struct{} // closed when a Commit is being held
	staleReplies    int           // Commit replies refusing with stale_epoch
	last            uint64        // last cursor delivered
	inject          chan []byte   // frames for the open stream
	cut             chan struct{}
}

func newHostile(t testing.TB, env *testenv.Env) *hostile {
	return &hostile{t: t, base: testenv.NewHTTPClient(t, env.Server.CertPEM()).Transport,
		inject: make(chan []byte, 16), held: make(chan struct{})}
}

// waitHeld waits until a Commit is being held.
func (h *hostile) waitHeld(t testing.TB) {
	select {
	case <-h.held:
	case <-time.After(30 * time.Second):
		t.Fatal("no commit was held")
	}
}

func (h *hostile) stale() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.staleReplies
}

func (h *hostile) client() *http.Client { return &http.Client{Transport: h} }

func (h *hostile) arm(attack func(h *hostile, env *sealinev1.Envelope) []*sealinev1.Envelope) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.attack = attack
}

func (h *hostile) RoundTrip(req *http.Request) (*http.Response, error) {
	req = req.Clone(req.Context())
	req.Header.Del("Connect-Accept-Encoding")
	req.Header.Del("Accept-Encoding")
	switch path := req.URL.Path; {
	case strings.HasSuffix(path, "/Subscribe"):
		return h.subscribe(req)
	case strings.HasSuffix(path, "/Ack"):
		return h.unary(req, &sealinev1.AckRequest{}, func(m proto.Message) { m.(*sealinev1.AckRequest).UpToCursor /= 2 })
	case strings.HasSuffix(path, "/Commit"):
		return h.commit(req)
	}
	return h.base.RoundTrip(req)
}

// unary rewrites a unary request's message.
func (h *hostile) unary(req *http.Request, msg proto.Message, edit func(proto.Message)) (*http.Response, error) {
	body, err := io.ReadAll(req.Body)
	if err != nil {
		return nil, err
	}
	if err := proto.Unmarshal(body, msg); err != nil {
		return nil, err
	}
	edit(msg)
	body, _ = proto.Marshal(msg)
	req.Body, req.ContentLength = io.NopCloser(bytes.NewReader(body)), int64(len(body))
	return h.base.RoundTrip(req)
}

// commit fakes the reply to a Commit when onCommit says so.
func (h *hostile) commit(req *http.Request) (*http.Response, error) {
	h.mu.Lock()
	fake, lose, hold := h.onCommit, h.loseCommitReply, h.holdCommit
	h.holdCommit = nil
	if hold != nil {
		close(h.held)
	}
	h.mu.Unlock()
	if hold != nil {
		<-hold
	}
	if lose {
		if resp, err := h.base.RoundTrip(req); err == nil {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
		return nil, errors.New("hostile: connection reset after the commit was sent")
	}
	if fake == nil {
		resp, err := h.base.RoundTrip(req)
		if err != nil {
			return resp, err
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode == http.StatusOK { // the reply's cursor, doubled like the stream's
			var cr sealinev1.CommitResponse
			if err := proto.Unmarshal(body, &cr); err == nil {
				cr.Cursor *= 2
				body, _ = proto.Marshal(&cr)
				resp.ContentLength = int64(len(body))
				resp.Header.Del("Content-Length")
			}
		}
		if bytes.Contains(body, []byte("stale_epoch")) {
			h.mu.Lock()
			h.staleReplies++
			h.mu.Unlock()
		}
		resp.Body = io.NopCloser(bytes.NewReader(body))
		return resp, err
	}
	body, err := io.ReadAll(req.Body)
	if err != nil {
		return nil, err
	}
	var cr sealinev1.CommitRequest
	if err := proto.Unmarshal(body, &cr); err != nil {
		return nil, err
	}
	resp := fake(h, &cr)
	out, _ := proto.Marshal(resp)
	return &http.Response{StatusCode: 200, Header: http.Header{"Content-Type": {"application/proto"}},
		Body: io.NopCloser(bytes.NewReader(out)), ContentLength: int64(len(out)), Request: req}, nil
}

// subscribe halves the requested cursor and rewrites the stream.
func (h *hostile) subscribe(req *http.Request) (*http.Response, error) {
	body, err := io.ReadAll(req.Body)
	if err != nil || len(body) < 5 {
		return nil, fmt.Errorf("hostile: subscribe request: %v", err)
	}
	var sr sealinev1.SubscribeRequest
	if err := proto.Unmarshal(body[5:], &sr); err != nil {
		return nil, err
	}
	sr.AfterCursor /= 2
	msg, _ := proto.Marshal(&sr)
	body = frame(0, msg)
	req.Body, req.ContentLength = io.NopCloser(bytes.NewReader(body)), int64(len(body))
	resp, err := h.base.RoundTrip(req)
	if err != nil || resp.StatusCode != 200 {
		return resp, err
	}
	h.mu.Lock()
	if h.cut == nil {
		h.cut = make(chan struct{})
	}
	p := &pump{h: h, up: resp.Body, out: make(chan []byte, 64), cut: h.cut}
	h.mu.Unlock()
	go p.run()
	resp.Body = p
	return resp, nil
}

func frame(flags byte, msg []byte) []byte {
	return append(binary.BigEndian.AppendUint32([]byte{flags}, uint32(len(msg))), msg...)
}

// injectEnvelope delivers env on the open stream with the next cursor.
func (h *hostile) injectEnvelope(env *sealinev1.Envelope) uint64 {
	h.mu.Lock()
	h.last++
	env.Cursor = h.last
	h.mu.Unlock()
	msg, _ := proto.Marshal(&sealinev1.SubscribeResponse{Event: &sealinev1.SubscribeResponse_Envelope{Envelope: env}})
	h.inject <- frame(0, msg)
	return env.Cursor
}

// pump reads the server's frames and hands the rewritten ones to Read.
type pump struct {
	h   *hostile
	up  io.ReadCloser
	out chan []byte
	cut chan struct{} // closed to break the stream
	buf []byte
}

// cutStreams breaks every open Subscribe stream, as a network failure would.
func (h *hostile) cutStreams() {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.cut != nil {
		close(h.cut)
		h.cut = nil
	}
}

func (p *pump) run() {
	defer close(p.out)
	for {
		var hdr [5]byte
		if _, err := io.ReadFull(p.up, hdr[:]); err != nil {
			return
		}
		msg := make([]byte, binary.BigEndian.Uint32(hdr[1:]))
		if _, err := io.ReadFull(p.up, msg); err != nil {
			return
		}
		if hdr[0] != 0 {
			p.out <- frame(hdr[0], msg) // end of stream
			continue
		}
		for _, f := range p.h.rewrite(msg) {
			p.out <- f
		}
	}
}

// rewrite doubles cursors and applies the armed attack.
func (h *hostile) rewrite(msg []byte) [][]byte {
	var sr sealinev1.SubscribeResponse
	if err := proto.Unmarshal(msg, &sr); err != nil {
		h.t.Errorf("hostile: %v", err)
		return nil
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	in := sr.GetBatch().GetEnvelopes() // the SDK asks for batches
	if env := sr.GetEnvelope(); env != nil {
		in = []*sealinev1.Envelope{env}
	}
	if len(in) == 0 {
		sr.Event = &sealinev1.SubscribeResponse_CaughtUp{CaughtUp: sr.GetCaughtUp() * 2}
		out, _ := proto.Marshal(&sr)
		return [][]byte{frame(0, out)}
	}
	var envs []*sealinev1.Envelope
	for _, env := range in {
		env.Cursor *= 2
		if h.attack == nil {
			envs = append(envs, env)
		} else {
			envs = append(envs, h.attack(h, env)...)
		}
	}
	var frames [][]byte
	for _, e := range envs {
		if e.Cursor <= h.last {
			e.Cursor = h.last + 1
		}
		h.last = e.Cursor
		out, _ := proto.Marshal(&sealinev1.SubscribeResponse{Event: &sealinev1.SubscribeResponse_Envelope{Envelope: e}})
		frames = append(frames, frame(0, out))
	}
	return frames
}

func (p *pump) Read(b []byte) (int, error) {
	for len(p.buf) == 0 {
		select {
		case f, ok := <-p.out:
			if !ok {
				return 0, io.EOF
			}
			p.buf = f
		case f := <-p.h.inject:
			p.buf = f
		case <-p.cut:
			return 0, errors.New("hostile: stream cut")
		}
	}
	n := copy(b, p.buf)
	p.buf = p.buf[n:]
	return n, nil
}

func (p *pump) Close() error { return p.up.Close() }

// fromApp reports whether env is an application message from device.
func fromApp(env *sealinev1.Envelope, device string) bool {
	return env.GetKind() == sealinev1.Envelope_KIND_APPLICATION && env.GetSenderDeviceId() == device
}

// waitWarning waits for a SecurityWarning of kind on m.
func waitWarning(t testing.TB, m *client.Messenger, kind client.WarningKind) *client.SecurityWarning {
	t.Helper()
	ev := waitEvent(t, m, "warning "+kind.String(), func(ev client.Event) bool {
		w, ok := ev.(*client.SecurityWarning)
		return ok && w.Kind == kind
	})
	return ev.(*client.SecurityWarning)
}

// directUnderAttack sets up alice and bob in a direct conversation where
// bob's connection goes through h, and exchanges a first message.
func directUnderAttack(t *testing.T, cfg client.MessengerConfig) (*testenv.Env, *client.Messenger, *client.Messenger, *hostile, string) {
	env := testenv.New(t)
	h := newHostile(t, env)
	alice := env.Messenger(t, env.SDKUser(t, "alice", nil), true, client.MessengerConfig{})
	bob := env.Messenger(t, env.SDKUser(t, "bob", h.client()), true, cfg)
	conv, err := alice.Direct(context.Background(), "bob")
	if err != nil {
		t.Fatal(err)
	}
	waitJoined(t, bob, conv)
	send(t, alice, conv, "warm up")
	waitText(t, bob, conv, "warm up")
	return env, alice, bob, h, conv
}

func send(t testing.TB, m *client.Messenger, conv, text string) {
	t.Helper()
	if _, err := m.Send(context.Background(), conv, text); err != nil {
		t.Fatalf("Send %q: %v", text, err)
	}
}

func TestHostileReplayDetected(t *testing.T) {
	_, alice, bob, h, conv := directUnderAttack(t, client.MessengerConfig{})
	dev := alice.Me().DeviceID
	h.arm(func(h *hostile, env *sealinev1.Envelope) []*sealinev1.Envelope {
		if fromApp(env, dev) {
			return []*sealinev1.Envelope{env, proto.Clone(env).(*sealinev1.Envelope)}
		}
		return []*sealinev1.Envelope{env}
	})
	send(t, alice, conv, "say it once")
	waitText(t, bob, conv, "say it once")
	waitWarning(t, bob, client.WarnReplay)
}

func TestHostileReplayFromPastEpochDetected(t *testing.T) {
	env := testenv.New(t)
	ctx := context.Background()
	h := newHostile(t, env)
	alice := env.Messenger(t, env.SDKUser(t, "alice", nil), true, client.MessengerConfig{})
	bob := env.Messenger(t, env.SDKUser(t, "bob", h.client()), true, client.MessengerConfig{})
	env.Messenger(t, env.SDKUser(t, "carol", nil), true, client.MessengerConfig{})
	conv, err := alice.CreateGroup(ctx, "g", "bob", "carol")
	if err != nil {
		t.Fatal(err)
	}
	waitJoined(t, bob, conv)
	var captured *sealinev1.Envelope
	dev := alice.Me().DeviceID
	h.arm(func(h *hostile, env *sealinev1.Envelope) []*sealinev1.Envelope {
		if fromApp(env, dev) && captured == nil {
			captured = proto.Clone(env).(*sealinev1.Envelope)
		}
		return []*sealinev1.Envelope{env}
	})
	send(t, alice, conv, "from the old epoch")
	waitText(t, bob, conv, "from the old epoch")
	if err := alice.Remove(ctx, conv, "carol"); err != nil {
		t.Fatal(err)
	}
	waitEvent(t, bob, "carol removed", func(ev client.Event) bool {
		e, ok := ev.(*client.MemberEvent)
		return ok && len(e.Removed) == 1
	})
	h.mu.Lock()
	replay := proto.Clone(captured).(*sealinev1.Envelope)
	h.mu.Unlock()
	h.injectEnvelope(replay)
	waitWarning(t, bob, client.WarnReplay)
}

func TestHostileDropDetected(t *testing.T) {
	_, alice, bob, h, conv := directUnderAttack(t, client.MessengerConfig{ReorderWait: 200 * time.Millisecond})
	dev := alice.Me().DeviceID
	n := 0
	h.arm(func(h *hostile, env *sealinev1.Envelope) []*sealinev1.Envelope {
		if fromApp(env, dev) {
			if n++; n == 1 {
				return nil
			}
		}
		return []*sealinev1.Envelope{env}
	})
	send(t, alice, conv, "dropped")
	send(t, alice, conv, "delivered")
	waitText(t, bob, conv, "delivered")
	w := waitWarning(t, bob, client.WarnDropped)
	if w.Sender != alice.Me() {
		t.Errorf("warning names %v, want %v", w.Sender, alice.Me())
	}
}

func TestHostileReorderDetected(t *testing.T) {
	_, alice, bob, h, conv := directUnderAttack(t, client.MessengerConfig{ReorderWindow: 2})
	dev := alice.Me().DeviceID
	var held *sealinev1.Envelope
	n := 0
	h.arm(func(h *hostile, env *sealinev1.Envelope) []*sealinev1.Envelope {
		if !fromApp(env, dev) {
			return []*sealinev1.Envelope{env}
		}
		switch n++; n {
		case 1:
			held = env
			return nil
		case 5:
			return []*sealinev1.Envelope{env, held}
		}
		return []*sealinev1.Envelope{env}
	})
	for i := range 5 {
		send(t, alice, conv, fmt.Sprint("message ", i))
	}
	waitWarning(t, bob, client.WarnDropped)
	waitWarning(t, bob, client.WarnReordered)
}

func TestHostileForkDetected(t *testing.T) {
	env := testenv.New(t)
	ctx := context.Background()
	h := newHostile(t, env)
	alice := env.Messenger(t, env.SDKUser(t, "alice", nil), true, client.MessengerConfig{})
	bob := env.Messenger(t, env.SDKUser(t, "bob", h.client()), true, client.MessengerConfig{})
	carol := env.Messenger(t, env.SDKUser(t, "carol", nil), true, client.MessengerConfig{})
	env.Messenger(t, env.SDKUser(t, "dave", nil), true, client.MessengerConfig{})
	env.Messenger(t, env.SDKUser(t, "erin", nil), true, client.MessengerConfig{})
	conv, err := alice.CreateGroup(ctx, "forked", "bob", "carol")
	if err != nil {
		t.Fatal(err)
	}
	everyoneJoins(t, []*client.Messenger{bob, carol}, conv)
	// The server hides alice's commit of this epoch from bob, then tells
	// bob that his own commit of the same epoch won and feeds it to him.
	forkEpoch := bob.Conversations()[0].Epoch
	h.arm(func(h *hostile, env *sealinev1.Envelope) []*sealinev1.Envelope {
		if env.GetKind() == sealinev1.Envelope_KIND_COMMIT && env.GetEpoch() == forkEpoch {
			return nil
		}
		return []*sealinev1.Envelope{env}
	})
	if err := alice.Add(ctx, conv, "erin"); err != nil {
		t.Fatalf("alice's Add: %v", err)
	}
	waitWarning(t, bob, client.WarnDropped) // alice's epoch check, from an epoch bob never saw
	h.mu.Lock()
	h.onCommit = func(h *hostile, req *sealinev1.CommitRequest) *sealinev1.CommitResponse {
		echo := &sealinev1.Envelope{ConversationId: conv, Kind: sealinev1.Envelope_KIND_COMMIT, Epoch: req.GetEpoch(),
			Payload: req.GetCommit(), SenderDeviceId: bob.Me().DeviceID}
		return &sealinev1.CommitResponse{Epoch: req.GetEpoch() + 1, Cursor: h.injectEnvelope(echo)}
	}
	h.mu.Unlock()
	if err := bob.Add(ctx, conv, "dave"); err != nil {
		t.Fatalf("bob's Add (faked): %v", err)
	}
	waitWarning(t, carol, client.WarnFork) // bob's epoch check
	send(t, alice, conv, "on alice's branch")
	waitText(t, carol, conv, "on alice's branch")
	waitWarning(t, bob, client.WarnFork)
}

func TestReconnectsAfterStreamCut(t *testing.T) {
	_, alice, bob, h, conv := directUnderAttack(t, client.MessengerConfig{})
	for i := range 3 {
		h.cutStreams()
		text := fmt.Sprint("after cut ", i)
		send(t, alice, conv, text)
		waitText(t, bob, conv, text)
	}
}

func TestLostCommitReplyRecovered(t *testing.T) {
	env := testenv.New(t)
	ctx := context.Background()
	h := newHostile(t, env)
	alice := env.Messenger(t, env.SDKUser(t, "alice", h.client()), true, client.MessengerConfig{})
	bob := env.Messenger(t, env.SDKUser(t, "bob", nil), true, client.MessengerConfig{})
	carol := env.Messenger(t, env.SDKUser(t, "carol", nil), true, client.MessengerConfig{})
	conv, err := alice.CreateGroup(ctx, "g", "bob")
	if err != nil {
		t.Fatal(err)
	}
	waitJoined(t, bob, conv)
	h.mu.Lock()
	h.loseCommitReply = true
	h.mu.Unlock()
	if err := alice.Add(ctx, conv, "carol"); err != nil {
		t.Fatalf("Add with a lost reply: %v", err)
	}
	waitJoined(t, carol, conv)
	send(t, alice, conv, "after the lost reply")
	everyoneGets(t, []*client.Messenger{bob, carol}, conv, "after the lost reply")
}

func TestHostileThirdUserInDirect(t *testing.T) {
	env := testenv.New(t)
	ctx := context.Background()
	alice := env.Messenger(t, env.SDKUser(t, "alice", nil), true, client.MessengerConfig{})
	bob := env.Messenger(t, env.SDKUser(t, "bob", nil), true, client.MessengerConfig{})
	carol := env.Messenger(t, env.SDKUser(t, "carol", nil), true, client.MessengerConfig{})
	conv, err := alice.Direct(ctx, "bob")
	if err != nil {
		t.Fatal(err)
	}
	waitJoined(t, bob, conv)
	if err := alice.Add(ctx, conv, "carol"); !errors.Is(err, client.ErrDirectMembers) {
		t.Fatalf("Add to direct = %v, want ErrDirectMembers", err)
	}
	if err := alice.AddUnchecked(ctx, conv, "carol"); err != nil {
		t.Fatalf("AddUnchecked: %v", err)
	}
	waitWarning(t, bob, client.WarnUnexpectedDevice)
	waitWarning(t, carol, client.WarnUnexpectedDevice)
	if cs := carol.Conversations(); len(cs) != 0 {
		t.Errorf("carol joined %v", cs)
	}
}
