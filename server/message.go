package server

import (
	"context"
	"time"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	sealinev1 "github.com/sealine/sealine/api/sealine/v1"
	"github.com/sealine/sealine/store"
)

// messageService implements sealinev1connect.MessageServiceHandler.
type messageService struct{ s *Server }

// Send stores an application message for every other member device and
// answers once its group-commit batch is durable.
func (ms messageService) Send(ctx context.Context, req *connect.Request[sealinev1.SendRequest]) (*connect.Response[sealinev1.SendResponse], error) {
	s := ms.s
	p, err := s.sendPost(ctx, callerOf(ctx), req.Msg)
	if err != nil {
		return nil, err
	}
	res, err := s.msg.committer.submit(ctx, p)
	if err != nil {
		return nil, s.storeError(ctx, "send", err)
	}
	return connect.NewResponse(&sealinev1.SendResponse{Duplicate: res.Duplicate}), nil
}

// sendPost checks a SendRequest (Send and SendStream) and returns its post.
func (s *Server) sendPost(ctx context.Context, c caller, m *sealinev1.SendRequest) (store.Post, error) {
	if err := checkConversationID(m.GetConversationId()); err != nil {
		return store.Post{}, err
	}
	if len(m.GetClientMessageId()) != clientMessageIDBytes {
		return store.Post{}, errField(ReasonFieldInvalid, "client_message_id")
	}
	if len(m.GetMessage()) > maxSendMessage {
		return store.Post{}, msgError(connect.CodeResourceExhausted, ReasonTooLarge, "message")
	}
	groupID, err := checkApplication(m.GetMessage(), m.GetEpoch())
	if err != nil {
		return store.Post{}, err
	}
	p, err := s.newPost(c, store.EnvelopeApplication, m.GetConversationId(), groupID, m.GetEpoch(), m.GetMessage())
	if err != nil {
		return store.Post{}, s.errInternal(ctx, "new id", err)
	}
	p.ClientMessageID = m.GetClientMessageId()
	return p, nil
}

// checkConversationID bounds a conversation id.
func checkConversationID(id string) error {
	if id == "" || len(id) > maxDeviceIDBytes {
		return errField(ReasonFieldInvalid, "conversation_id")
	}
	return nil
}

// checkApplication parses an MLSMessage that must be a PrivateMessage of
// application content for epoch, and returns its group id. The server
// reads only the plaintext header; it cannot decrypt, and it does not
// verify signatures of application messages.
func checkApplication(raw []byte, epoch uint64) ([]byte, error) {
	groupID, e, ok := applicationGroupID(raw)
	if !ok || e != epoch {
		return nil, errField(ReasonMessageInvalid, "message")
	}
	return groupID, nil
}

// Subscribe streams the caller's queue after a cursor, then what arrives.
// Each round re-reads the store from the last cursor sent; a Notifier
// hint for the device (or WatchPoll) starts the next round. The session is
// re-checked at the start, on every hint for the user (a device change)
// and every WatchPoll, so a revoked device's stream ends with
// session_revoked at once, or within WatchPoll if the hint is lost.
func (ms messageService) Subscribe(ctx context.Context, req *connect.Request[sealinev1.SubscribeRequest], stream *connect.ServerStream[sealinev1.SubscribeResponse]) error {
	s, c := ms.s, callerOf(ctx)
	wake, cancelDevice := s.cfg.Notifier.Subscribe(deviceKey(c.deviceID))
	defer cancelDevice()
	revoked, cancelUser := s.cfg.Notifier.Subscribe(c.userID)
	defer cancelUser()
	tick := time.NewTicker(s.cfg.WatchPoll)
	defer tick.Stop()
	cursor, caughtUp, recheck := req.Msg.GetAfterCursor(), false, true
	batch := int(min(req.Msg.GetMaxBatch(), maxSubscribeBatch))
	for {
		if recheck {
			if err := s.sessionAlive(ctx, c); err != nil {
				return err
			}
		}
		var err error
		if cursor, err = s.streamQueue(ctx, c, cursor, batch, stream); err != nil {
			return err
		}
		if !caughtUp {
			caughtUp = true
			err := stream.Send(&sealinev1.SubscribeResponse{Event: &sealinev1.SubscribeResponse_CaughtUp{CaughtUp: cursor}})
			if err != nil {
				return err
			}
		}
		if recheck, err = s.waitQueue(ctx, wake, revoked, tick.C); err != nil {
			return err
		}
	}
}

// waitQueue waits for the next round of Subscribe and says whether the
// session must be re-checked first.
func (s *Server) waitQueue(ctx context.Context, wake, revoked <-chan struct{}, tick <-chan time.Time) (recheck bool, err error) {
	select {
	case <-ctx.Done():
		return false, ctx.Err()
	case <-s.stopping:
		return false, errReason(connect.CodeUnavailable, ReasonShuttingDown)
	case <-wake:
		return false, nil
	case <-revoked:
	case <-tick:
	}
	return true, nil
}

// Subscribe batches (SubscribeRequest.max_batch): a client's max_batch
// is lowered to maxSubscribeBatch, and the envelopes of one batch encode
// to at most maxSubscribeBatchBytes, far below any client's read limit
// (the SDK's is 4 MiB). A larger envelope goes alone, as it would
// without batches.
const (
	maxSubscribeBatch      = 256
	maxSubscribeBatchBytes = 256 << 10
)

// streamQueue sends every stored envelope after cursor, a page at a
// time, in batches of at most batch envelopes (one per response when
// batch <= 1); it returns the last cursor sent.
func (s *Server) streamQueue(ctx context.Context, c caller, cursor uint64, batch int, stream *connect.ServerStream[sealinev1.SubscribeResponse]) (uint64, error) {
	buf := s.msg.getEnvelopeBuf()
	defer s.msg.putEnvelopeBuf(buf)
	for {
		page, err := s.store.Envelopes(ctx, c.deviceID, cursor, envelopePage)
		if err != nil {
			return cursor, s.errInternal(ctx, "read queue", err)
		}
		if err := sendPage(stream, buf.protos(page), batch); err != nil {
			return cursor, err
		}
		if len(page) > 0 {
			cursor = page[len(page)-1].Cursor
		}
		if len(page) < envelopePage {
			return cursor, nil
		}
	}
}

// sendPage sends envs in order: one per response when max <= 1, else in
// batches (nextBatch).
func sendPage(stream *connect.ServerStream[sealinev1.SubscribeResponse], envs []*sealinev1.Envelope, max int) error {
	for len(envs) > 0 {
		resp := &sealinev1.SubscribeResponse{}
		if max <= 1 {
			resp.Event = &sealinev1.SubscribeResponse_Envelope{Envelope: envs[0]}
			envs = envs[1:]
		} else {
			n := nextBatch(envs, max)
			resp.Event = &sealinev1.SubscribeResponse_Batch{Batch: &sealinev1.EnvelopeBatch{Envelopes: envs[:n]}}
			envs = envs[n:]
		}
		if err := stream.Send(resp); err != nil {
			return err
		}
	}
	return nil
}

// nextBatch says how many of envs (at least one) the next batch takes: at
// most max, encoding to at most maxSubscribeBatchBytes unless the first
// alone is larger.
func nextBatch(envs []*sealinev1.Envelope, max int) int {
	n, size := 1, batchEntrySize(envs[0])
	for n < len(envs) && n < max {
		size += batchEntrySize(envs[n])
		if size > maxSubscribeBatchBytes {
			break
		}
		n++
	}
	return n
}

// batchEntrySize is the encoded size of e in an EnvelopeBatch: its tag,
// length and bytes.
func batchEntrySize(e *sealinev1.Envelope) int {
	n := proto.Size(e)
	return 1 + protowire.SizeVarint(uint64(n)) + n
}

// envelopeBuf holds the protobuf envelopes of a page: three slices for
// a page rather than two allocations per envelope. A Subscribe round
// takes one from the pool and reuses it from page to page (connect-go has
// encoded a response once Send returns), so idle streams hold none.
type envelopeBuf struct {
	envs  []sealinev1.Envelope
	times []timestamppb.Timestamp
	out   []*sealinev1.Envelope
	used  int // entries filled since the buffer left the pool
}

func (m *messaging) getEnvelopeBuf() *envelopeBuf {
	if b, ok := m.envelopeBufs.Get().(*envelopeBuf); ok {
		return b
	}
	return new(envelopeBuf)
}

// putEnvelopeBuf empties b, so that the pool keeps no payload, and
// returns it to the pool.
func (m *messaging) putEnvelopeBuf(b *envelopeBuf) {
	clear(b.envs[:b.used])
	clear(b.out[:b.used])
	b.used = 0
	m.envelopeBufs.Put(b)
}

// protos converts a page of envelopes; the result is valid until the
// next call.
func (b *envelopeBuf) protos(page []store.Envelope) []*sealinev1.Envelope {
	if n := len(page); n > cap(b.envs) {
		n = max(n, min(2*cap(b.envs), envelopePage))
		b.envs, b.times, b.out = make([]sealinev1.Envelope, n), make([]timestamppb.Timestamp, n), make([]*sealinev1.Envelope, n)
	}
	envs, times, out := b.envs[:len(page)], b.times[:len(page)], b.out[:len(page)]
	b.used = max(b.used, len(page))
	clear(envs)
	clear(times)
	for i, e := range page {
		times[i].Seconds, times[i].Nanos = e.ServerTime.Unix(), int32(e.ServerTime.Nanosecond())
		env := &envs[i]
		env.Cursor, env.ConversationId, env.Kind = e.Cursor, e.ConversationID, sealinev1.Envelope_Kind(e.Kind)
		env.Epoch, env.Payload, env.SenderDeviceId, env.ServerTime = e.Epoch, e.Payload, e.SenderDeviceID, &times[i]
		out[i] = env
	}
	return out
}

// Ack removes the caller's envelopes up to a cursor. It rides the
// group-commit writer with the posts, and answers once its batch is
// committed.
func (ms messageService) Ack(ctx context.Context, req *connect.Request[sealinev1.AckRequest]) (*connect.Response[sealinev1.AckResponse], error) {
	s, c := ms.s, callerOf(ctx)
	res, err := s.msg.committer.submitAck(ctx, store.AckRequest{DeviceID: c.deviceID, Cursor: req.Msg.GetUpToCursor()})
	if err != nil {
		return nil, s.storeError(ctx, "ack", err)
	}
	return connect.NewResponse(&sealinev1.AckResponse{Removed: res.Removed}), nil
}
