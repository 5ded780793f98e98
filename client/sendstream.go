package client

import (
	"context"
	"errors"
	"io"
	"sync"
	"sync/atomic"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	sealinev1 "github.com/sealine/sealine/api/sealine/v1"
	"github.com/sealine/sealine/api/sealine/v1/sealinev1connect"
)

// StreamSender pipelines already-encrypted MLS application messages on
// one MessageService.SendStream: Send does not wait for the previous
// message's commit, and every message gets exactly one StreamAck, sent by
// the server once the message is durably stored (or refused). The stream
// asks for batched answers (SendStreamRequest.batch_responses), so acks
// that are decided together arrive in one response. It is the
// low-level path for load generators and bulk senders; Messenger.Send
// encrypts, keeps history and uses unary Send.
//
// Send and SendAll may be called from one goroutine at a time; Acks may
// be read concurrently. The server holds at most 1,024 messages of a stream in
// flight and then stops reading, so Send blocks until acks are read.
type StreamSender struct {
	stream *connect.BidiStreamForClient[sealinev1.SendStreamRequest, sealinev1.SendStreamResponse]
	cancel context.CancelFunc
	acks   chan StreamAck

	mu      sync.Mutex // guards seq, the requests and sends on stream
	seq     uint64
	reqs    []*streamRequest               // reused: connect-go has encoded a request once Send returns
	ptrs    []*sealinev1.SendStreamRequest // &reqs[i].req, a batch's entries
	used    int                            // reqs filled since the last clear
	outer   sealinev1.SendStreamRequest    // a batch
	batches atomic.Bool                    // the server takes batched requests
	err     error                          // set before acks is closed
}

// streamRequest is one message's request, with its SendRequest.
type streamRequest struct {
	req  sealinev1.SendStreamRequest
	send sealinev1.SendRequest
}

// StreamMessage is one pre-encrypted message for a SendStream (see
// sealinev1.SendRequest for the fields).
type StreamMessage struct {
	ConversationID  string
	ClientMessageID []byte // 16 bytes, unique per sending device
	Epoch           uint64
	Message         []byte // an MLSMessage PrivateMessage, <= 192 KiB
}

// StreamAck answers one StreamMessage, by the sequence Send returned.
// Err is nil when the message is stored (Duplicate: it already was, by
// its ClientMessageID), else an *Error as for a unary Send.
type StreamAck struct {
	Sequence  uint64
	Duplicate bool
	Err       error
}

// SendStream opens a StreamSender for the logged-in device. The stream
// lives until ctx ends, Close, or, after CloseSend, the last ack.
func (c *Client) SendStream(ctx context.Context) (*StreamSender, error) {
	s, err := c.Session()
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(ctx)
	msgs := sealinev1connect.NewMessageServiceClient(c.hc, c.server, streamOptions()...)
	stream := msgs.SendStream(ctx)
	stream.RequestHeader().Set("Authorization", "Bearer "+s.Token)
	ss := &StreamSender{stream: stream, cancel: cancel, acks: make(chan StreamAck, 1024)}
	go ss.receive()
	return ss, nil
}

// Send queues m and returns its sequence, the StreamAck's Sequence. An
// error means the stream failed (see Err): open a new one and resend the
// unacknowledged messages with the same ClientMessageIDs.
func (s *StreamSender) Send(m StreamMessage) (uint64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	req := s.request(0, m)
	seq := req.GetSequence()
	err := s.stream.Send(req)
	s.clearRequests()
	if err != nil {
		return 0, mapError(err)
	}
	return seq, nil
}

// Bounds of a batched request: the server takes 256 KiB per request.
const (
	maxRequestBatch      = 256
	maxRequestBatchBytes = 200 << 10
)

// SendAll queues ms in order and returns their sequences. Once the server
// has said it takes them (in its first response), several messages go in
// one request, at most maxRequestBatch and maxRequestBatchBytes; before
// that, one request each. On an error (see Send) it returns the
// sequences of the messages queued before it.
func (s *StreamSender) SendAll(ms []StreamMessage) ([]uint64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	seqs := make([]uint64, 0, len(ms))
	for len(ms) > 0 {
		req, n := s.nextRequest(ms)
		err := s.stream.Send(req)
		s.clearRequests()
		if err != nil {
			return seqs, mapError(err)
		}
		for i := range n {
			seqs = append(seqs, s.seq-uint64(n-1-i))
		}
		ms = ms[n:]
	}
	return seqs, nil
}

// nextRequest returns the request that carries the first n messages of
// ms: one alone, or once the server takes batches, as many as fit the
// bounds. s.mu is held.
func (s *StreamSender) nextRequest(ms []StreamMessage) (req *sealinev1.SendStreamRequest, n int) {
	first := s.request(0, ms[0])
	n, size := 1, batchEntrySize(first)
	for s.batches.Load() && n < min(len(ms), maxRequestBatch) {
		r := s.request(n, ms[n])
		if size += batchEntrySize(r); size > maxRequestBatchBytes {
			s.seq--
			break
		}
		n++
	}
	if n == 1 {
		return first, 1
	}
	s.outer.Batch = s.ptrs[:n]
	return &s.outer, n
}

// request fills the i-th reused request with m and the next sequence;
// the first asks for batched answers. s.mu is held.
func (s *StreamSender) request(i int, m StreamMessage) *sealinev1.SendStreamRequest {
	if i == len(s.reqs) {
		r := new(streamRequest)
		s.reqs, s.ptrs = append(s.reqs, r), append(s.ptrs, &r.req)
	}
	s.used = max(s.used, i+1)
	s.seq++
	r := s.reqs[i]
	r.send.ConversationId, r.send.ClientMessageId, r.send.Epoch, r.send.Message = m.ConversationID, m.ClientMessageID, m.Epoch, m.Message
	r.req.Sequence, r.req.BatchResponses, r.req.Send = s.seq, s.seq == 1, &r.send
	return &r.req
}

// clearRequests empties the requests filled since the last clear, so
// that they keep no caller's bytes. s.mu is held.
func (s *StreamSender) clearRequests() {
	for _, r := range s.reqs[:s.used] {
		r.req.Reset()
		r.send.Reset()
	}
	s.used = 0
	s.outer.Reset()
}

// batchEntrySize is the encoded size of r in a request's batch.
func batchEntrySize(r *sealinev1.SendStreamRequest) int {
	n := proto.Size(r)
	return 1 + protowire.SizeVarint(uint64(n)) + n
}

// CloseSend says no more messages follow; Acks then delivers the rest and
// is closed.
func (s *StreamSender) CloseSend() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return mapError(s.stream.CloseRequest())
}

// Acks delivers one StreamAck per message, in any order. It is closed when
// the stream ends; Err then says why.
func (s *StreamSender) Acks() <-chan StreamAck { return s.acks }

// Err is nil while the stream is open and after a clean end (CloseSend and
// every ack delivered); else the stream's error, e.g. ErrSessionInvalid.
// Call it after Acks is closed.
func (s *StreamSender) Err() error { return s.err }

// Close aborts the stream. Messages not yet acknowledged may or may not
// be stored.
func (s *StreamSender) Close() { s.cancel() }

// receive turns responses into acks until the stream ends.
func (s *StreamSender) receive() {
	defer close(s.acks)
	defer s.cancel()
	for {
		r, err := s.stream.Receive()
		if err != nil {
			if !errors.Is(err, io.EOF) {
				s.err = mapError(err)
			}
			s.stream.CloseResponse()
			return
		}
		if r.GetTakesBatches() {
			s.batches.Store(true)
		}
		if len(r.GetBatch()) == 0 {
			s.acks <- StreamAck{Sequence: r.GetSequence(), Duplicate: r.GetDuplicate(), Err: ackError(r)}
		}
		for _, a := range r.GetBatch() {
			s.acks <- StreamAck{Sequence: a.GetSequence(), Duplicate: a.GetDuplicate(), Err: ackError(a)}
		}
	}
}

// streamOptions are the client options of the streams that carry many
// small messages (SendStream and Subscribe): they take no gzip, since a
// batch of ciphertexts or answers does not compress and gzip would cost
// more CPU than the transport.
func streamOptions() []connect.ClientOption {
	return []connect.ClientOption{connect.WithReadMaxBytes(maxResponseBytes), connect.WithAcceptCompression("gzip", nil, nil)}
}

// ackError returns the refusal a response carries, as an *Error.
func ackError(r *sealinev1.SendStreamResponse) error {
	if r.GetCode() == "" {
		return nil
	}
	var code connect.Code
	if err := code.UnmarshalText([]byte(r.GetCode())); err != nil {
		code = connect.CodeUnknown
	}
	d := r.GetError()
	e := &Error{Code: code, Reason: d.GetReason(), Field: d.GetField(), kind: reasons[d.GetReason()],
		cause: connect.NewError(code, errors.New(r.GetCode()+"/"+d.GetReason()))}
	if d.GetRetryAfter() != nil {
		e.RetryAfter = d.GetRetryAfter().AsTime()
	}
	return e
}
