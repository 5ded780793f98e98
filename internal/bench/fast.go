package bench

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/proto"

	sealinev1 "github.com/sealine/sealine/api/sealine/v1"
	"github.com/sealine/sealine/api/sealine/v1/sealinev1connect"
)

// fastNote is printed with every fast-clients report.
const fastNote = "fast clients: senders replay a pool of real MLS ciphertexts made by the SDK beforehand " +
	"(fresh client message ids), receivers count envelopes without decrypting; latency is from the bench's own send time"

// captureTransport, when on, keeps the messages the SDK sends (by
// MessageService.Send or SendStream) instead of sending them, and answers
// as the server would. The SDK then encrypts a pool of real MLS messages
// for the fast clients to replay.
type captureTransport struct {
	base http.RoundTripper
	on   atomic.Bool
	mu   sync.Mutex
	got  []*sealinev1.SendRequest
	fake []*io.PipeWriter // open captured SendStreams, ended by stop
}

func (t *captureTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if !t.on.Load() {
		return t.base.RoundTrip(req)
	}
	switch req.URL.Path {
	case sealinev1connect.MessageServiceSendProcedure:
		return t.captureUnary(req)
	case sealinev1connect.MessageServiceSendStreamProcedure:
		return t.captureStream(req), nil
	}
	return t.base.RoundTrip(req)
}

func (t *captureTransport) keep(sr *sealinev1.SendRequest) {
	t.mu.Lock()
	t.got = append(t.got, sr)
	t.mu.Unlock()
}

// stop ends capturing; captured streams end with an error, so the SDK
// opens a real one for its next send.
func (t *captureTransport) stop() {
	t.on.Store(false)
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, pw := range t.fake {
		pw.CloseWithError(errCaptureOver)
	}
	t.fake = nil
}

var errCaptureOver = errors.New("bench: pre-encryption over")

func (t *captureTransport) captureUnary(req *http.Request) (*http.Response, error) {
	body, err := io.ReadAll(req.Body)
	req.Body.Close()
	if err != nil {
		return nil, err
	}
	var sr sealinev1.SendRequest
	if err := proto.Unmarshal(body, &sr); err != nil {
		return nil, fmt.Errorf("bench: capture: %w", err)
	}
	t.keep(&sr)
	h := http.Header{"Content-Type": {"application/proto"}}
	return &http.Response{StatusCode: http.StatusOK, Proto: "HTTP/2.0", ProtoMajor: 2, Header: h,
		Body: io.NopCloser(bytes.NewReader(nil)), ContentLength: 0, Request: req}, nil
}

// captureStream answers a SendStream (Connect protocol: each message is
// a flags byte, a big-endian uint32 length and the protobuf) by keeping
// each request and acknowledging it as stored.
func (t *captureTransport) captureStream(req *http.Request) *http.Response {
	pr, pw := io.Pipe()
	t.mu.Lock()
	t.fake = append(t.fake, pw)
	t.mu.Unlock()
	go func() {
		defer req.Body.Close()
		err := t.ackAll(req.Body, pw)
		if err == nil {
			_, err = pw.Write(connectFrame(connectEndStream, []byte("{}")))
		}
		pw.CloseWithError(err)
	}()
	h := http.Header{"Content-Type": {"application/connect+proto"}}
	return &http.Response{StatusCode: http.StatusOK, Proto: "HTTP/2.0", ProtoMajor: 2, Header: h,
		Body: pr, ContentLength: -1, Request: req}
}

// Connect streaming frame flags.
const (
	connectCompressed = 1
	connectEndStream  = 2
)

func connectFrame(flags byte, msg []byte) []byte {
	return append(binary.BigEndian.AppendUint32([]byte{flags}, uint32(len(msg))), msg...)
}

// ackAll reads SendStreamRequests from r until EOF and writes an ack
// for each to w.
func (t *captureTransport) ackAll(r io.Reader, w io.Writer) error {
	var head [5]byte
	for {
		if _, err := io.ReadFull(r, head[:]); err == io.EOF {
			return nil
		} else if err != nil {
			return err
		}
		n := binary.BigEndian.Uint32(head[1:])
		if head[0]&connectCompressed != 0 || n > 1<<24 {
			return fmt.Errorf("bench: capture: unexpected frame (flags %#x, %d bytes)", head[0], n)
		}
		msg := make([]byte, n)
		if _, err := io.ReadFull(r, msg); err != nil {
			return err
		}
		var sr sealinev1.SendStreamRequest
		if err := proto.Unmarshal(msg, &sr); err != nil {
			return fmt.Errorf("bench: capture: %w", err)
		}
		t.keep(sr.GetSend())
		ack, err := proto.Marshal(&sealinev1.SendStreamResponse{Sequence: sr.GetSequence()})
		if err != nil {
			return err
		}
		if _, err := w.Write(connectFrame(0, ack)); err != nil {
			return err
		}
	}
}

// encryptPool has u encrypt n messages for conv through the SDK without
// sending them, and returns them.
func (u *user) encryptPool(ctx context.Context, conv string, n, size int) ([]*sealinev1.SendRequest, error) {
	u.capture.on.Store(true)
	defer u.capture.stop()
	for range n {
		if _, err := u.m.Send(ctx, conv, stamp(time.Now(), size)); err != nil {
			return nil, fmt.Errorf("bench: pre-encrypt: %w", err)
		}
	}
	u.capture.mu.Lock()
	defer u.capture.mu.Unlock()
	pool := u.capture.got
	u.capture.got = nil
	return pool, nil
}

// tracker maps replayed payloads to the times they were due, for fast
// receivers that do not decrypt.
type tracker struct {
	mu   sync.Mutex
	sent map[string]*dueTimes
}

type dueTimes struct {
	times []time.Time
	got   int
}

func newTracker() *tracker { return &tracker{sent: map[string]*dueTimes{}} }

// key is a payload's AEAD tag, unique per pool entry.
func payloadKey(p []byte) string { return string(p[max(0, len(p)-16):]) }

func (t *tracker) send(payload []byte, due time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	k := payloadKey(payload)
	d := t.sent[k]
	if d == nil {
		d = &dueTimes{}
		t.sent[k] = d
	}
	d.times = append(d.times, due)
}

// received returns when the payload was due; fanout is how many copies
// each send produces. With overlapping sends of one payload it is
// approximate.
func (t *tracker) received(payload []byte, fanout int) (time.Time, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	d := t.sent[payloadKey(payload)]
	if d == nil {
		return time.Time{}, false
	}
	i := min(d.got/max(fanout, 1), len(d.times)-1)
	d.got++
	return d.times[i], true
}

// fastSend sends one pooled message with a fresh client message id.
func fastSend(ctx context.Context, raw sealinev1connect.MessageServiceClient, tmpl *sealinev1.SendRequest, tr *tracker, due time.Time) error {
	req := &sealinev1.SendRequest{ConversationId: tmpl.ConversationId, Epoch: tmpl.Epoch, Message: tmpl.Message,
		ClientMessageId: make([]byte, 16)}
	rand.Read(req.ClientMessageId)
	tr.send(req.Message, due)
	_, err := raw.Send(ctx, connect.NewRequest(req))
	return err
}

// fastReceive reads u's queue from the start without decrypting, in
// batches as the SDK does, counting application messages, and
// acknowledges as it goes.
func (u *user) fastReceive(ctx context.Context, rec *recorder, tr *tracker, fanout int) {
	stream, err := u.raw.Subscribe(ctx, connect.NewRequest(&sealinev1.SubscribeRequest{MaxBatch: 128}))
	if err != nil {
		return
	}
	defer stream.Close()
	var n int
	for stream.Receive() {
		envs := stream.Msg().GetBatch().GetEnvelopes()
		if env := stream.Msg().GetEnvelope(); env != nil {
			envs = []*sealinev1.Envelope{env}
		}
		for _, env := range envs {
			if env.GetKind() != sealinev1.Envelope_KIND_APPLICATION {
				continue
			}
			if due, ok := tr.received(env.GetPayload(), fanout); ok {
				rec.deliver(time.Since(due))
			}
			if n++; n%512 == 0 {
				u.raw.Ack(ctx, connect.NewRequest(&sealinev1.AckRequest{UpToCursor: env.GetCursor()}))
			}
		}
	}
	if err := stream.Err(); err != nil && ctx.Err() == nil {
		rec.fail(err)
	}
}
