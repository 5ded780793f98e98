package server_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"io"
	"testing"
	"time"

	"connectrpc.com/connect"

	sealinev1 "github.com/sealine/sealine/api/sealine/v1"
	"github.com/sealine/sealine/internal/testenv"
)

type sendStreamClient = connect.BidiStreamForClient[sealinev1.SendStreamRequest, sealinev1.SendStreamResponse]

// openSendStream opens a SendStream for m, closed at the end of the test.
func (m *member) openSendStream(t testing.TB) *sendStreamClient {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	s := m.e.Messages(m.Token).SendStream(ctx)
	t.Cleanup(func() {
		cancel()
		s.CloseResponse()
	})
	return s
}

// streamSend is a SendStream request of wire to m's conversation.
func (m *member) streamSend(seq uint64, cmid, wire []byte) *sealinev1.SendStreamRequest {
	return &sealinev1.SendStreamRequest{Sequence: seq, Send: &sealinev1.SendRequest{
		ConversationId: m.conv, ClientMessageId: cmid, Epoch: m.group.Epoch(), Message: wire,
	}}
}

func newCMID() []byte {
	b := make([]byte, 16)
	rand.Read(b)
	return b
}

// acksBySeq reads n responses and returns them by sequence.
func acksBySeq(t *testing.T, s *sendStreamClient, n int) map[uint64]*sealinev1.SendStreamResponse {
	t.Helper()
	got := map[uint64]*sealinev1.SendStreamResponse{}
	for range n {
		r, err := s.Receive()
		if err != nil {
			t.Fatalf("after %d acks: %v", len(got), err)
		}
		if _, dup := got[r.GetSequence()]; dup {
			t.Fatalf("sequence %d acknowledged twice", r.GetSequence())
		}
		got[r.GetSequence()] = r
	}
	return got
}

// TestSendStreamRoundTrip: messages pipelined on one stream are each
// acknowledged once, stored and delivered in order; a resent
// client_message_id is acknowledged as a duplicate and stored once.
func TestSendStreamRoundTrip(t *testing.T) {
	e := testenv.New(t)
	tr := newTrio(t, e)
	s := tr.alice.openSendStream(t)
	const n = 50
	texts, cmids := make([]string, n), make([][]byte, n)
	for i := range n {
		texts[i], cmids[i] = string(rune('a'+i%26))+"-msg", newCMID()
		wire, err := tr.alice.group.Encrypt([]byte(texts[i]), nil)
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Send(tr.alice.streamSend(uint64(100+i), cmids[i], wire)); err != nil {
			t.Fatal(err)
		}
		if i == n-1 { // the same message again
			if err := s.Send(tr.alice.streamSend(7, cmids[i], wire)); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := s.CloseRequest(); err != nil {
		t.Fatal(err)
	}
	got := acksBySeq(t, s, n+1)
	for seq, r := range got {
		if r.GetCode() != "" {
			t.Fatalf("seq %d refused: %s/%s", seq, r.GetCode(), r.GetError().GetReason())
		}
		if r.GetDuplicate() != (seq == 7) {
			t.Errorf("seq %d duplicate=%v", seq, r.GetDuplicate())
		}
	}
	if _, err := s.Receive(); !errors.Is(err, io.EOF) {
		t.Fatalf("stream did not end cleanly: %v", err)
	}
	for i := range n {
		if _, text := tr.bob.receive(t, tr.inB); text != texts[i] {
			t.Fatalf("bob got %q, want %q", text, texts[i])
		}
	}
	noEnvelope(t, tr.inB)
}

// noEnvelope fails if in yields another envelope within 300 ms.
func noEnvelope(t *testing.T, in *inbox) {
	t.Helper()
	ch := make(chan *sealinev1.Envelope, 1)
	go func() {
		for in.stream.Receive() {
			if env := in.stream.Msg().GetEnvelope(); env != nil {
				ch <- env
				return
			}
		}
	}()
	select {
	case env := <-ch:
		t.Fatalf("unexpected envelope %v", env.GetKind())
	case <-time.After(300 * time.Millisecond):
	}
}

// TestSendStreamBadInput: a refused message gets its own error response,
// the stream goes on, and nothing of it is stored.
func TestSendStreamBadInput(t *testing.T) {
	e := testenv.New(t)
	tr := newTrio(t, e)
	good, err := tr.alice.group.Encrypt([]byte("good"), nil)
	if err != nil {
		t.Fatal(err)
	}
	s := tr.alice.openSendStream(t)
	notMember := tr.alice.streamSend(3, newCMID(), good)
	notMember.Send.ConversationId = "c-not-a-member"
	stale := tr.alice.streamSend(5, newCMID(), good)
	stale.Send.Epoch++
	reqs := []*sealinev1.SendStreamRequest{
		tr.alice.streamSend(1, newCMID(), bytes.Repeat([]byte{1}, 192<<10+1)),
		tr.alice.streamSend(2, newCMID(), []byte{0, 1, 2, 3}),
		notMember,
		tr.alice.streamSend(4, []byte("short"), good),
		stale,
		tr.alice.streamSend(6, newCMID(), good),
	}
	for _, r := range reqs {
		if err := s.Send(r); err != nil {
			t.Fatal(err)
		}
	}
	got := acksBySeq(t, s, len(reqs))
	want := map[uint64][2]string{
		1: {"resource_exhausted", "too_large"},
		2: {"invalid_argument", "message_invalid"},
		3: {"permission_denied", "not_member"},
		4: {"invalid_argument", "field_invalid"},
		5: {"invalid_argument", "message_invalid"},
		6: {"", ""},
	}
	for seq, w := range want {
		if r := got[seq]; r.GetCode() != w[0] || r.GetError().GetReason() != w[1] {
			t.Errorf("seq %d: got %s/%s, want %s/%s", seq, r.GetCode(), r.GetError().GetReason(), w[0], w[1])
		}
	}
	if _, text := tr.bob.receive(t, tr.inB); text != "good" {
		t.Fatalf("bob got %q, want good", text)
	}
	noEnvelope(t, tr.inB)
}

// TestSendStreamEndsOnRevoke: revoking the device ends its open
// SendStream with unauthenticated/session_revoked.
func TestSendStreamEndsOnRevoke(t *testing.T) {
	e := testenv.New(t)
	tr := newTrio(t, e)
	s := tr.alice.openSendStream(t)
	wire, err := tr.alice.group.Encrypt([]byte("before"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Send(tr.alice.streamSend(1, newCMID(), wire)); err != nil {
		t.Fatal(err)
	}
	if r, err := s.Receive(); err != nil || r.GetCode() != "" {
		t.Fatalf("first send: %v %v", r, err)
	}
	start := time.Now()
	_, err = e.Devices(tr.alice2.Token).RevokeDevice(context.Background(), connect.NewRequest(
		&sealinev1.RevokeDeviceRequest{DeviceId: tr.alice.DeviceID}))
	if err != nil {
		t.Fatal(err)
	}
	_, err = s.Receive()
	wantErr(t, err, connect.CodeUnauthenticated, "session_revoked")
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("stream ended after %v, want at once", d)
	}
}
