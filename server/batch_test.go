package server_test

import (
	"bytes"
	"context"
	"testing"
	"time"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/proto"

	sealinev1 "github.com/sealine/sealine/api/sealine/v1"
	"github.com/sealine/sealine/internal/testenv"
)

// Bounds of a Subscribe batch, from messaging.proto.
const (
	subscribeBatchMax   = 256
	subscribeBatchBytes = 256 << 10
)

// TestSubscribeBatches: a client that does not ask for batches gets one
// envelope per response, as before batches existed; one that does gets
// batches of at most max_batch (lowered to 256) envelopes and 256 KiB.
// Either way the envelopes come in cursor order, and a stream closed
// half-way resumes from the last cursor received with nothing lost or
// repeated.
func TestSubscribeBatches(t *testing.T) {
	tests := []struct {
		name        string
		maxBatch    uint32
		n, size     int // messages sent, plaintext bytes each
		stopAfter   int // envelopes read before the stream is closed
		wantLargest int // envelopes in the largest response
	}{
		{"old client", 0, 300, 100, 120, 1},
		{"batch of one", 1, 300, 100, 120, 1},
		{"batches of 16", 16, 300, 100, 120, 16},
		{"absurd max_batch lowered", 1<<32 - 1, 300, 100, 120, subscribeBatchMax},
		{"byte bound", 100, 7, 100 << 10, 3, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := testenv.New(t)
			tr := newTrio(t, e)
			tr.inB.close()
			start := queueCursors(t, e, tr.bob.DeviceID)[1] // bob has processed the welcome and a commit
			texts := sendMany(t, tr.alice, tt.n, tt.size)

			first, _ := subscribeRead(t, tr.bob, start, tt.maxBatch, tt.stopAfter)
			envs := checkResponses(t, first, tt.maxBatch)
			if len(envs) < tt.stopAfter {
				t.Fatalf("first stream: %d envelopes, want at least %d", len(envs), tt.stopAfter)
			}
			rest, caughtUp := subscribeRead(t, tr.bob, envs[len(envs)-1].GetCursor(), tt.maxBatch, 0)
			envs = append(envs, checkResponses(t, rest, tt.maxBatch)...)
			if len(envs) != tt.n {
				t.Fatalf("got %d envelopes, want %d", len(envs), tt.n)
			}
			if caughtUp != envs[len(envs)-1].GetCursor() {
				t.Errorf("caught_up %d, want the last cursor %d", caughtUp, envs[len(envs)-1].GetCursor())
			}
			largest := 0
			for _, r := range append(first, rest...) {
				largest = max(largest, len(r.GetBatch().GetEnvelopes()), min(1, len(r.GetEnvelope().GetPayload())))
			}
			if largest != tt.wantLargest {
				t.Errorf("largest response holds %d envelopes, want %d", largest, tt.wantLargest)
			}
			for i, env := range envs {
				if i > 0 && env.GetCursor() <= envs[i-1].GetCursor() {
					t.Fatalf("cursor %d after %d", env.GetCursor(), envs[i-1].GetCursor())
				}
				r, err := tr.bob.group.Process(env.GetPayload())
				if err != nil || r.Application == nil || !bytes.Equal(r.Application.Data, []byte(texts[i])) {
					t.Fatalf("envelope %d does not decrypt to message %d: %v", i, i, err)
				}
			}
		})
	}
}

// checkResponses checks the shape of each response for max_batch and
// returns the envelopes in the order received.
func checkResponses(t *testing.T, resps []*sealinev1.SubscribeResponse, maxBatch uint32) []*sealinev1.Envelope {
	t.Helper()
	var envs []*sealinev1.Envelope
	for _, r := range resps {
		switch ev := r.GetEvent().(type) {
		case *sealinev1.SubscribeResponse_Envelope:
			if maxBatch > 1 {
				t.Fatalf("max_batch %d: a bare envelope", maxBatch)
			}
			envs = append(envs, ev.Envelope)
		case *sealinev1.SubscribeResponse_Batch:
			b := ev.Batch.GetEnvelopes()
			if maxBatch <= 1 {
				t.Fatalf("max_batch %d: a batch", maxBatch)
			}
			if len(b) == 0 || len(b) > int(min(maxBatch, subscribeBatchMax)) {
				t.Fatalf("max_batch %d: a batch of %d", maxBatch, len(b))
			}
			if size := proto.Size(ev.Batch); len(b) > 1 && size > subscribeBatchBytes {
				t.Fatalf("a batch of %d envelopes encodes to %d bytes, over %d", len(b), size, subscribeBatchBytes)
			}
			envs = append(envs, b...)
		}
	}
	return envs
}

// subscribeRead opens a Subscribe after cursor and reads until it has
// stopAfter envelopes (then closes it) or, with stopAfter 0, until
// caught_up; it returns the responses and the caught_up cursor.
func subscribeRead(t *testing.T, m *member, after uint64, maxBatch uint32, stopAfter int) ([]*sealinev1.SubscribeResponse, uint64) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s, err := m.e.Messages(m.Token).Subscribe(ctx, connect.NewRequest(&sealinev1.SubscribeRequest{AfterCursor: after, MaxBatch: maxBatch}))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var resps []*sealinev1.SubscribeResponse
	n := 0
	for s.Receive() {
		r := s.Msg()
		if c, ok := r.GetEvent().(*sealinev1.SubscribeResponse_CaughtUp); ok {
			if stopAfter == 0 {
				return resps, c.CaughtUp
			}
			continue
		}
		resps = append(resps, r)
		n += len(r.GetBatch().GetEnvelopes())
		if r.GetEnvelope() != nil {
			n++
		}
		if stopAfter > 0 && n >= stopAfter {
			return resps, 0
		}
	}
	t.Fatalf("stream ended after %d envelopes: %v", n, s.Err())
	return nil, 0
}

// sendMany has m send n messages of size bytes on a SendStream and
// waits for every ack; it returns their texts in order.
func sendMany(t *testing.T, m *member, n, size int) []string {
	t.Helper()
	s := m.openSendStream(t)
	texts := make([]string, n)
	for i := range n {
		texts[i] = string(bytes.Repeat([]byte{byte('a' + i%26)}, size))
		wire, err := m.group.Encrypt([]byte(texts[i]), nil)
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Send(m.streamSend(uint64(i+1), newCMID(), wire)); err != nil {
			t.Fatal(err)
		}
	}
	for seq, r := range acksBySeq(t, s, n) {
		if r.GetCode() != "" {
			t.Fatalf("message %d refused: %s", seq, r.GetCode())
		}
	}
	return texts
}

// queueCursors lists the cursors in a device's queue.
func queueCursors(t *testing.T, e *testenv.Env, deviceID string) []uint64 {
	t.Helper()
	envs, err := e.Server.Store().Envelopes(context.Background(), deviceID, 0, 100000)
	if err != nil {
		t.Fatal(err)
	}
	var out []uint64
	for _, env := range envs {
		out = append(out, env.Cursor)
	}
	return out
}

// TestSendStreamBatchedAnswers: a client that sets batch_responses may
// get several answers per response, one that does not gets one each;
// either way every message gets exactly one answer with its own outcome.
func TestSendStreamBatchedAnswers(t *testing.T) {
	for _, batch := range []bool{false, true} {
		t.Run(map[bool]string{false: "one per response", true: "batched"}[batch], func(t *testing.T) {
			e := testenv.New(t)
			tr := newTrio(t, e)
			s := tr.alice.openSendStream(t)
			const n = 300
			bad := map[uint64]bool{2: true, 150: true, n: true}
			var texts []string
			for seq := uint64(1); seq <= n; seq++ {
				text := "message " + string(rune('a'+seq%26))
				wire, err := tr.alice.group.Encrypt([]byte(text), nil)
				if err != nil {
					t.Fatal(err)
				}
				req := tr.alice.streamSend(seq, newCMID(), wire)
				if bad[seq] {
					req.Send.ClientMessageId = []byte("short")
				} else {
					texts = append(texts, text)
				}
				req.BatchResponses = batch && seq == 1
				if err := s.Send(req); err != nil {
					t.Fatal(err)
				}
			}
			got, responses := map[uint64]*sealinev1.SendStreamResponse{}, 0
			for ; len(got) < n; responses++ {
				r, err := s.Receive()
				if err != nil {
					t.Fatalf("after %d answers: %v", len(got), err)
				}
				answers := []*sealinev1.SendStreamResponse{r}
				if len(r.GetBatch()) > 0 {
					if !batch || r.GetSequence() != 0 || r.GetCode() != "" || len(r.GetBatch()) > 256 {
						t.Fatalf("batch_responses %v: a batch of %d with sequence %d", batch, len(r.GetBatch()), r.GetSequence())
					}
					answers = r.GetBatch()
				}
				if r.GetTakesBatches() != (batch && responses == 0) {
					t.Fatalf("response %d: takes_batches %v", responses, r.GetTakesBatches())
				}
				for _, a := range answers {
					if _, dup := got[a.GetSequence()]; dup || len(a.GetBatch()) > 0 {
						t.Fatalf("sequence %d answered twice or nested", a.GetSequence())
					}
					got[a.GetSequence()] = a
				}
			}
			t.Logf("%d answers in %d responses", n, responses)
			for seq := uint64(1); seq <= n; seq++ {
				r := got[seq]
				want := ""
				if bad[seq] {
					want = "invalid_argument/field_invalid"
				}
				if code := r.GetCode() + "/" + r.GetError().GetReason(); r.GetCode() != "" && code != want || r.GetCode() == "" && want != "" {
					t.Fatalf("sequence %d: got %q, want %q", seq, code, want)
				}
			}
			for i := range texts {
				if _, text := tr.bob.receive(t, tr.inB); text != texts[i] {
					t.Fatalf("bob got %q, want %q", text, texts[i])
				}
			}
		})
	}
}

// TestSendStreamBatchedRequests: the first response to a client that
// takes batched answers says the server takes batched requests; each message of a batch is handled as if it came
// alone, in order, with its own answer; a request with both a message
// and a batch, and a batch entry with a batch, are refused by sequence.
func TestSendStreamBatchedRequests(t *testing.T) {
	e := testenv.New(t)
	tr := newTrio(t, e)
	s := tr.alice.openSendStream(t)
	texts := map[uint64]string{}
	msg := func(seq uint64, cmid []byte) *sealinev1.SendStreamRequest {
		texts[seq] = "batched " + string(rune('a'+seq%26))
		wire, err := tr.alice.group.Encrypt([]byte(texts[seq]), nil)
		if err != nil {
			t.Fatal(err)
		}
		return tr.alice.streamSend(seq, cmid, wire)
	}
	first := msg(1, newCMID())
	first.BatchResponses = true
	if err := s.Send(first); err != nil {
		t.Fatal(err)
	}
	r, err := s.Receive()
	if err != nil || r.GetSequence() != 1 || r.GetCode() != "" || !r.GetTakesBatches() {
		t.Fatalf("first response %v, %v: want sequence 1 stored, takes_batches", r, err)
	}
	// Made in the order sent, so that bob decrypts them in order.
	plain := &sealinev1.SendStreamRequest{Batch: []*sealinev1.SendStreamRequest{msg(10, newCMID()), msg(11, []byte("short")), msg(12, newCMID())}}
	both := msg(20, newCMID())
	both.Batch = []*sealinev1.SendStreamRequest{msg(21, newCMID()), msg(22, newCMID())}
	withNested := &sealinev1.SendStreamRequest{Batch: []*sealinev1.SendStreamRequest{msg(30, newCMID()), msg(31, newCMID())}}
	nested := msg(32, newCMID())
	nested.Batch = []*sealinev1.SendStreamRequest{msg(99, newCMID())}
	withNested.Batch = append(withNested.Batch, nested, msg(33, newCMID()))
	for _, req := range []*sealinev1.SendStreamRequest{plain, both, withNested} {
		if err := s.Send(req); err != nil {
			t.Fatal(err)
		}
	}
	want := map[uint64]string{10: "", 11: "field_invalid client_message_id", 12: "", 20: "field_invalid batch", 21: "", 22: "",
		30: "", 31: "", 32: "field_invalid batch", 33: ""}
	got := answersBySeq(t, s, len(want))
	for seq, w := range want {
		a := got[seq]
		if g := a.GetError().GetReason() + " " + a.GetError().GetField(); a.GetCode() == "" && w != "" || a.GetCode() != "" && g != w || a.GetTakesBatches() {
			t.Errorf("sequence %d: got %q %q, want %q", seq, a.GetCode(), g, w)
		}
	}
	for _, seq := range []uint64{1, 10, 12, 21, 22, 30, 31, 33} {
		if _, text := tr.bob.receive(t, tr.inB); text != texts[seq] {
			t.Fatalf("bob got %q, want %q (sequence %d)", text, texts[seq], seq)
		}
	}
	noEnvelope(t, tr.inB)
}

// answersBySeq reads n answers, batched or not, and returns them by
// sequence.
func answersBySeq(t *testing.T, s *sendStreamClient, n int) map[uint64]*sealinev1.SendStreamResponse {
	t.Helper()
	got := map[uint64]*sealinev1.SendStreamResponse{}
	for len(got) < n {
		r, err := s.Receive()
		if err != nil {
			t.Fatalf("after %d answers: %v", len(got), err)
		}
		answers := r.GetBatch()
		if len(answers) == 0 {
			answers = []*sealinev1.SendStreamResponse{r}
		}
		for _, a := range answers {
			if _, dup := got[a.GetSequence()]; dup {
				t.Fatalf("sequence %d answered twice", a.GetSequence())
			}
			got[a.GetSequence()] = a
		}
	}
	return got
}
