package server

import (
	"context"
	"errors"
	"io"
	"sync/atomic"
	"time"

	"connectrpc.com/connect"

	sealinev1 "github.com/sealine/sealine/api/sealine/v1"
)

// SendStream: Send pipelined on one bidirectional stream. Three goroutines
// share a stream:
//
//   - read (a goroutine) receives each request, checks it (or each
//     message of its batch) as Send does (sendPost) and queues an item
//     for acks; a post it also queues for
//     forward. acks holds at most maxStreamInFlight items, so a client that
//     runs ahead of the commits is held back by HTTP/2 flow control.
//   - forward (a goroutine) hands every post queued so far to the
//     group-commit writer as one slice, without waiting for its commit.
//   - the handler itself answers each item, in the order read, once the
//     item's post is committed (or at once for a refused request): one
//     response per item, or, once the client has set batch_responses, one
//     response for the item and those queued after it that are decided
//     too (at most maxAnswerBatch); and it re-checks the session on every hint for the user and
//     every WatchPoll, so a revoked device's stream ends with
//     session_revoked.
//
// Acknowledging in the order read costs nothing: the single writer
// commits one stream's posts in the order they were handed over.

// maxStreamInFlight bounds the messages one SendStream has read but not
// yet acknowledged.
const maxStreamInFlight = 1024

// maxAnswerBatch bounds the answers in one batched SendStreamResponse.
const maxAnswerBatch = 256

// streamItem is one request of a SendStream: its post, or why it was
// refused.
type streamItem struct {
	seq uint64
	pd  *pending // nil when refused
	err error
}

type sendStream struct {
	s         *Server
	c         caller
	stream    *connect.BidiStream[sealinev1.SendStreamRequest, sealinev1.SendStreamResponse]
	acks      chan streamItem // closed by read when the client is done
	forward   chan *pending   // closed by read
	wake      chan struct{}   // cap 1: a value after a post is decided
	readErr   error           // set by read before it closes acks
	batch     atomic.Bool     // the client accepts batched answers
	announced bool            // takes_batches sent (answer only)

	// answer's, reused from one response to the next: connect-go has
	// encoded a message once Send returns.
	answers []*sealinev1.SendStreamResponse
	spare   []*sealinev1.SendStreamResponse
	outer   sealinev1.SendStreamResponse
}

// SendStream implements sealinev1connect.MessageServiceHandler.
func (ms messageService) SendStream(ctx context.Context, stream *connect.BidiStream[sealinev1.SendStreamRequest, sealinev1.SendStreamResponse]) error {
	s, c := ms.s, callerOf(ctx)
	revoked, cancelUser := s.cfg.Notifier.Subscribe(c.userID)
	defer cancelUser()
	if err := s.sessionAlive(ctx, c); err != nil {
		return err
	}
	ctx, stop := context.WithCancel(ctx)
	defer stop()
	ss := &sendStream{
		s: s, c: c, stream: stream,
		acks:    make(chan streamItem, maxStreamInFlight),
		forward: make(chan *pending, maxStreamInFlight),
		wake:    make(chan struct{}, 1),
	}
	go ss.read(ctx)
	go ss.forwardPosts(ctx)
	return ss.answer(ctx, revoked)
}

// read receives requests until the client closes its side (or the stream
// fails) and queues them.
func (ss *sendStream) read(ctx context.Context) {
	defer close(ss.acks)
	defer close(ss.forward)
	conn := ss.stream.Conn()
	req := new(sealinev1.SendStreamRequest) // reused: what is queued holds only its fields
	for {
		req.Reset()
		err := conn.Receive(req)
		if err != nil {
			if !errors.Is(err, io.EOF) {
				ss.readErr = err
			}
			return
		}
		if req.GetBatchResponses() {
			ss.batch.Store(true)
		}
		if len(req.GetBatch()) == 0 {
			if !ss.take(ctx, req, false) {
				return
			}
			continue
		}
		if (req.GetSequence() != 0 || req.GetSend() != nil) && !ss.take(ctx, req, true) {
			return
		}
		for _, r := range req.GetBatch() {
			if !ss.take(ctx, r, len(r.GetBatch()) > 0) {
				return
			}
		}
	}
}

// take checks one message (a request or an entry of a request's batch)
// and queues it; a request with both a message and a batch, or an entry
// with a batch of its own, is refused (badBatch). It returns false when
// the stream is over.
func (ss *sendStream) take(ctx context.Context, req *sealinev1.SendStreamRequest, badBatch bool) bool {
	it := streamItem{seq: req.GetSequence()}
	if badBatch {
		it.err = errField(ReasonFieldInvalid, "batch")
	} else if p, err := ss.s.sendPost(ctx, ss.c, req.GetSend()); err != nil {
		it.err = err
	} else {
		it.pd = ss.s.msg.committer.streamPending(p, ss.wake)
	}
	return ss.queue(ctx, it)
}

// queue hands it to the handler, and its post to forwardPosts; false when
// the stream is over.
func (ss *sendStream) queue(ctx context.Context, it streamItem) bool {
	select {
	case ss.acks <- it:
	case <-ctx.Done():
		return false
	}
	if it.pd == nil {
		return true
	}
	select {
	case ss.forward <- it.pd:
		return true
	case <-ctx.Done():
		return false
	}
}

// forwardPosts hands the writer every queued post, as one slice of at
// most BatchMax. A post the writer never took fails with the reason.
func (ss *sendStream) forwardPosts(ctx context.Context) {
	max := ss.s.msg.cfg.BatchMax
	for first := range ss.forward {
		batch := []*pending{first}
	more:
		for len(batch) < max {
			select {
			case pd, ok := <-ss.forward:
				if !ok {
					break more
				}
				batch = append(batch, pd)
			default:
				break more
			}
		}
		if err := ss.s.msg.committer.submitAll(ctx, batch); err != nil {
			for _, pd := range batch {
				pd.res.Err = err
				pd.finish()
			}
		}
	}
}

// answer sends each item's response once it is decided; it returns when
// the client is done and everything is answered, or when the stream must
// end.
func (ss *sendStream) answer(ctx context.Context, revoked <-chan struct{}) error {
	s := ss.s
	tick := time.NewTicker(s.cfg.WatchPoll)
	defer tick.Stop()
	for {
		select {
		case it, ok := <-ss.acks:
			if !ok {
				return ss.readErr
			}
			if err := ss.answerFrom(ctx, it); err != nil {
				return err
			}
		case <-revoked:
			if err := s.sessionAlive(ctx, ss.c); err != nil {
				return err
			}
		case <-tick.C:
			if err := s.sessionAlive(ctx, ss.c); err != nil {
				return err
			}
		case <-s.stopping:
			return errReason(connect.CodeUnavailable, ReasonShuttingDown)
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// answerFrom sends its answer once it is decided. To a client that
// takes batches it sends, in the same response, the answers of the items
// queued after it that are decided by then; it goes on from the first
// queued item that is not.
func (ss *sendStream) answerFrom(ctx context.Context, it streamItem) error {
	for {
		first, err := ss.response(ctx, it)
		if err != nil {
			return err
		}
		ss.answers = append(ss.answers[:0], first)
		if !ss.batch.Load() {
			return ss.sendAnswers()
		}
		next, held := ss.decided(ctx)
		if err := ss.sendAnswers(); err != nil {
			return err
		}
		if !held {
			return nil
		}
		it = next
	}
}

// sendAnswers sends ss.answers, alone or as one batch, and keeps them
// for reuse.
func (ss *sendStream) sendAnswers() error {
	resp := ss.answers[0]
	if len(ss.answers) > 1 {
		resp = &ss.outer
		resp.Batch = ss.answers
	}
	err := ss.send(resp)
	ss.outer.Reset()
	for _, r := range ss.answers {
		r.Reset()
	}
	ss.spare = append(ss.spare, ss.answers...)
	clear(ss.answers)
	ss.answers = ss.answers[:0]
	return err
}

// send sends resp; the first response to a client that takes batched
// answers says that the server takes batched requests too.
func (ss *sendStream) send(resp *sealinev1.SendStreamResponse) error {
	if !ss.announced && ss.batch.Load() {
		resp.TakesBatches, ss.announced = true, true
	}
	return ss.stream.Send(resp)
}

// decided appends to ss.answers those of the items queued now that are
// decided, up to maxAnswerBatch answers; it returns the first queued item
// that is not yet decided, if any (held).
func (ss *sendStream) decided(ctx context.Context) (next streamItem, held bool) {
	for len(ss.answers) < maxAnswerBatch {
		var ok bool
		select {
		case next, ok = <-ss.acks:
		default:
		}
		if !ok {
			return streamItem{}, false
		}
		if next.pd != nil && !next.pd.decided.Load() {
			return next, true
		}
		r, err := ss.response(ctx, next)
		if err != nil { // ctx ended: answerFrom fails on next
			return next, true
		}
		ss.answers = append(ss.answers, r)
	}
	return streamItem{}, false
}

// response waits for it to be decided and returns its answer; it
// releases its pending.
func (ss *sendStream) response(ctx context.Context, it streamItem) (*sealinev1.SendStreamResponse, error) {
	err := it.err
	var duplicate bool
	if pd := it.pd; pd != nil {
		for !pd.decided.Load() {
			select {
			case <-ss.wake:
			case <-ctx.Done():
				return nil, ctx.Err()
			}
		}
		duplicate = pd.res.Duplicate
		if pd.res.Err != nil {
			err = ss.s.storeError(ctx, "send", pd.res.Err)
		}
		ss.s.msg.committer.put(pd)
	}
	resp := ss.newResponse()
	resp.Sequence, resp.Duplicate = it.seq, duplicate
	if err != nil {
		resp.Code, resp.Error = connect.CodeOf(err).String(), detailOf(err)
	}
	return resp, nil
}

// newResponse returns an empty response, a spare one if there is.
func (ss *sendStream) newResponse() *sealinev1.SendStreamResponse {
	if n := len(ss.spare); n > 0 {
		r := ss.spare[n-1]
		ss.spare[n-1], ss.spare = nil, ss.spare[:n-1]
		return r
	}
	return &sealinev1.SendStreamResponse{}
}

// detailOf returns the ErrorDetail of err, or one with no reason.
func detailOf(err error) *sealinev1.ErrorDetail {
	var ce *connect.Error
	if errors.As(err, &ce) {
		for _, d := range ce.Details() {
			v, err := d.Value()
			if ed, ok := v.(*sealinev1.ErrorDetail); ok && err == nil {
				return ed
			}
		}
	}
	return &sealinev1.ErrorDetail{}
}
