package client

import (
	"context"
	"errors"
	"fmt"
	"io"
	"runtime"
	"sync"
	"time"

	sealinev1 "github.com/sealine/sealine/api/sealine/v1"
	"github.com/sealine/sealine/client/localstore"
)

// The outbox sends text and attachment messages. Concurrent Send calls
// are taken together: one local transaction saves the MLS generations,
// send counters and history of all of them before they leave, and they
// go out pipelined on one MessageService.SendStream, each acknowledged
// by the server once durably stored. So a device sending many messages
// at once pays one fsync and one round trip for the lot, while a single
// Send still costs what it did.

// maxOutboxBatch bounds the messages one outbox round takes.
const maxOutboxBatch = 256

// streamIdle is how long the outbox keeps its stream open with nothing
// to send.
const streamIdle = 30 * time.Second

// outbox is a Messenger's queue of messages to send and the stream they
// leave on. Its loop starts with the first Send.
type outbox struct {
	mu     sync.Mutex // guards the fields up to done
	closed bool
	queue  chan *outgoing
	ctx    context.Context // ends on Messenger.Close
	stop   context.CancelFunc
	done   chan struct{} // closed when the loop has returned

	stream *StreamSender // the loop's: nil until needed, and after it failed
}

// outgoing is one message in the outbox.
type outgoing struct {
	ctx  context.Context
	conv string
	c    *Content
	cmid []byte
	keep bool
	res  chan error // buffered: finishing never blocks

	// set by a round
	req   *sealinev1.SendRequest
	cv    *conversation
	epoch uint64
}

func (o *outgoing) finish(err error) { o.res <- err }

// errClosed: the Messenger was closed before the message was sent.
var errClosed = errors.New("messenger closed")

// enqueue hands c to the outbox and waits for its outcome.
func (m *Messenger) enqueue(ctx context.Context, convID string, c *Content, keep bool) error {
	o := &outgoing{ctx: ctx, conv: convID, c: c, keep: keep, res: make(chan error, 1)}
	c.SentAt = m.now()
	var err error
	if c.ID, err = m.newMessageID(c.SentAt); err != nil {
		return err
	}
	// The client message id has the same layout as a message id (time
	// first, then randomness) but is drawn apart, so the server does not
	// learn the message id. Time first keeps the server's idempotency
	// index appending instead of writing random pages.
	cmid, err := m.newMessageID(c.SentAt)
	if err != nil {
		return err
	}
	o.cmid = cmid[:]
	queue, life, ok := m.startOutbox()
	if !ok {
		return fmt.Errorf("send: %w", errClosed)
	}
	select {
	case queue <- o:
	case <-ctx.Done():
		return ctx.Err()
	case <-life.Done():
		return fmt.Errorf("send: %w", errClosed)
	}
	select {
	case err := <-o.res:
		return err
	case <-ctx.Done(): // it may still be sent
		return ctx.Err()
	}
}

// startOutbox starts the outbox loop if it is not running and returns
// its queue and lifetime; ok is false once the Messenger is closed.
func (m *Messenger) startOutbox() (chan<- *outgoing, context.Context, bool) {
	m.out.mu.Lock()
	defer m.out.mu.Unlock()
	if m.out.closed {
		return nil, nil, false
	}
	if m.out.queue == nil {
		m.out.queue = make(chan *outgoing, maxOutboxBatch)
		m.out.ctx, m.out.stop = context.WithCancel(context.Background())
		m.out.done = make(chan struct{})
		go m.outboxLoop()
	}
	return m.out.queue, m.out.ctx, true
}

// closeOutbox stops the outbox loop and waits for it; messages still
// queued fail with errClosed.
func (m *Messenger) closeOutbox() {
	m.out.mu.Lock()
	m.out.closed = true
	stop, done := m.out.stop, m.out.done
	m.out.mu.Unlock()
	if stop != nil {
		stop()
		<-done
	}
}

func (m *Messenger) outboxLoop() {
	defer close(m.out.done)
	idle := time.NewTimer(streamIdle)
	defer idle.Stop()
	defer func() {
		if m.out.stream != nil {
			m.out.stream.Close()
		}
	}()
	for {
		var batch []*outgoing
		select {
		case o := <-m.out.queue:
			batch = append(batch, o)
		case <-idle.C:
			if m.out.stream != nil {
				m.out.stream.Close()
				m.out.stream = nil
			}
			continue
		case <-m.out.ctx.Done():
			for {
				select {
				case o := <-m.out.queue:
					o.finish(fmt.Errorf("send: %w", errClosed))
				default:
					return
				}
			}
		}
		// Let the senders the last round woke hand over their next
		// messages first: without this yield a busy outbox alternates a
		// round of all but one with a round of one, and each round costs
		// a local transaction (fsync) and a server commit.
		runtime.Gosched()
	more:
		for len(batch) < maxOutboxBatch {
			select {
			case o := <-m.out.queue:
				batch = append(batch, o)
			default:
				break more
			}
		}
		m.op.Lock()
		m.sendRounds(batch)
		m.op.Unlock()
		idle.Reset(streamIdle)
	}
}

// sendRounds sends a batch, encrypting again in the new epoch what the
// server refused as stale, at most CommitRetries times. m.op is held.
func (m *Messenger) sendRounds(batch []*outgoing) {
	for range m.cfg.CommitRetries {
		var ready []*outgoing
		for _, o := range batch {
			if err := o.ctx.Err(); err != nil {
				o.finish(err)
				continue
			}
			ready = append(ready, o)
		}
		if len(ready) == 0 {
			return
		}
		r, err := m.encryptAll(ready)
		if err != nil {
			for _, o := range r.sent {
				o.finish(err)
			}
			return
		}
		stale := m.settle(r, m.deliverAll(r.sent))
		batch = nil
		waited := map[string]error{}
		for _, o := range stale {
			err, ok := waited[o.conv]
			if !ok { // one wait for all of a conversation's stale messages
				err = m.waitEpoch(m.out.ctx, o.conv, o.epoch)
				waited[o.conv] = err
			}
			if err != nil {
				o.finish(err)
				continue
			}
			batch = append(batch, o)
		}
		if len(batch) == 0 {
			return
		}
	}
	for _, o := range batch {
		o.finish(ErrTooManyRetries)
	}
}

// counters are a conversation's send counters (see localstore.Group).
type counters struct{ sendEpoch, sendSeq, prevEpoch, prevCount uint64 }

func countersOf(r *localstore.Group) counters {
	return counters{r.SendEpoch, r.SendSeq, r.PrevEpoch, r.PrevCount}
}

func (c counters) set(r *localstore.Group) {
	r.SendEpoch, r.SendSeq, r.PrevEpoch, r.PrevCount = c.sendEpoch, c.sendSeq, c.prevEpoch, c.prevCount
}

// round is one outbox round: the messages encrypted and saved, in order,
// and each conversation's counters before it.
type round struct {
	sent   []*outgoing
	before map[*conversation]counters
}

// encryptAll numbers and encrypts each message in its conversation's
// current epoch and saves, in one local transaction, the consumed MLS
// generations, the counters and the messages to keep. A message that
// cannot be encrypted fails alone; a failed transaction fails the round.
func (m *Messenger) encryptAll(batch []*outgoing) (*round, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	r := &round{before: map[*conversation]counters{}}
	var msgs []Message
	for _, o := range batch {
		cv, err := m.liveLocked(o.conv)
		if err != nil {
			o.finish(err)
			continue
		}
		if _, ok := r.before[cv]; !ok {
			r.before[cv] = countersOf(&cv.rec)
		}
		if o.req, err = m.seal(cv, o.c, o.cmid); err != nil {
			o.finish(err)
			continue
		}
		o.cv, o.epoch = cv, o.req.GetEpoch()
		r.sent = append(r.sent, o)
		if o.keep {
			msgs = append(msgs, outgoingMessage(m.me, o.conv, o.c))
		}
	}
	err := m.store.Update(func(tx *localstore.Tx) error {
		for _, msg := range msgs {
			if err := m.storeMessage(tx, msg); err != nil {
				return err
			}
		}
		for cv := range r.before {
			if err := m.putGroup(tx, cv); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil { // the generations stay consumed in memory: never reused
		for cv, c := range r.before {
			c.set(&cv.rec)
		}
		return r, err
	}
	return r, nil
}

// sendResult is the server's answer to one message: err nil (stored),
// a refusal, or, with unknown, a failure after which it may be stored.
type sendResult struct {
	err     error
	unknown bool
}

// settle finishes each message by its result and returns those refused
// as stale, to be encrypted again. What the server refused leaves the
// history, and each conversation's counters go back to the last message
// that was (or may have been) stored, so recipients see no gap.
func (m *Messenger) settle(r *round, results []sendResult) (stale []*outgoing) {
	type verdict struct {
		o    *outgoing
		err  error
		kept bool
	}
	var vs []verdict
	keptMax := map[*conversation]uint64{}
	dropped := map[*conversation]bool{}
	for i, o := range r.sent {
		res := results[i]
		var refusal *Error
		switch {
		case res.err == nil || res.unknown || !errors.As(res.err, &refusal):
			vs = append(vs, verdict{o, res.err, true})
			keptMax[o.cv] = max(keptMax[o.cv], o.c.Seq)
		case errors.Is(res.err, ErrStaleEpoch):
			vs = append(vs, verdict{o, nil, false})
			stale = append(stale, o)
			dropped[o.cv] = true
		default:
			vs = append(vs, verdict{o, fmt.Errorf("send: %w", res.err), false})
			dropped[o.cv] = true
		}
	}
	var uerr error
	if len(dropped) > 0 {
		m.mu.Lock()
		uerr = m.store.Update(func(tx *localstore.Tx) error {
			for _, v := range vs {
				if !v.kept && v.o.keep {
					if err := tx.DeleteMessage(v.o.conv, v.o.c.ID[:]); err != nil {
						return err
					}
				}
			}
			for cv := range dropped {
				if m.groups[cv.rec.ConvID] != cv {
					continue // gone meanwhile
				}
				if seq, ok := keptMax[cv]; ok {
					cv.rec.SendSeq = seq
				} else {
					r.before[cv].set(&cv.rec)
				}
				if err := m.putGroup(tx, cv); err != nil {
					return err
				}
			}
			return nil
		})
		m.mu.Unlock()
	}
	if uerr != nil {
		uerr = fmt.Errorf("send: taking back refused messages: %w", uerr)
		stale = nil
	}
	for _, v := range vs {
		switch {
		case v.kept:
			v.o.finish(v.err)
		case v.err != nil:
			v.o.finish(errors.Join(v.err, uerr))
		case uerr != nil: // stale, but the local state could not be fixed
			v.o.finish(errors.Join(ErrStaleEpoch, uerr))
		}
	}
	return stale
}

// deliverAll sends the messages pipelined on the outbox's stream and
// waits for each one's ack. A broken stream is replaced and the messages
// it left unanswered are sent again with the same bytes (the server
// stores a client message id once), at most sendAttempts times.
func (m *Messenger) deliverAll(sent []*outgoing) []sendResult {
	results := make([]sendResult, len(sent))
	todo := make([]int, len(sent))
	for i := range sent {
		todo[i] = i
	}
	var lastErr error
	reused := false
	for attempt := 0; attempt < sendAttempts && len(todo) > 0; attempt++ {
		// A stream that failed after a quiet spell (the server or a
		// proxy ended it) is replaced at once; else back off.
		if attempt > 0 && !(attempt == 1 && reused) && !sleep(m.out.ctx, m.cfg.MinBackoff<<attempt) {
			break
		}
		reused = m.out.stream != nil
		todo, lastErr = m.deliverOnce(sent, todo, results)
		if errors.Is(lastErr, ErrSessionInvalid) || errors.Is(lastErr, ErrNotLoggedIn) {
			break // no new stream would fare better
		}
	}
	for _, i := range todo {
		if lastErr == nil {
			lastErr = errClosed
		}
		results[i] = sendResult{err: lastErr, unknown: true}
	}
	return results
}

// deliverOnce sends sent[i] for each i in todo on the stream and fills
// in their results; it returns those left unanswered when the stream
// failed, and why.
func (m *Messenger) deliverOnce(sent []*outgoing, todo []int, results []sendResult) ([]int, error) {
	if m.out.stream == nil {
		ss, err := m.c.SendStream(m.out.ctx)
		if err != nil {
			return todo, err
		}
		m.out.stream = ss
	}
	ss := m.out.stream
	ms := make([]StreamMessage, len(todo))
	for k, i := range todo {
		req := sent[i].req
		ms[k] = StreamMessage{ConversationID: req.GetConversationId(), ClientMessageID: req.GetClientMessageId(),
			Epoch: req.GetEpoch(), Message: req.GetMessage()}
	}
	seqs, err := ss.SendAll(ms)
	bySeq := make(map[uint64]int, len(seqs))
	for k, seq := range seqs {
		bySeq[seq] = todo[k]
	}
	todo = append([]int(nil), todo[len(seqs):]...)
	idle := time.NewTimer(m.c.timeout)
	defer idle.Stop()
	for len(bySeq) > 0 && err == nil {
		select {
		case a, ok := <-ss.Acks():
			if !ok {
				err = ss.Err()
				if err == nil {
					err = io.ErrUnexpectedEOF
				}
				break
			}
			if i, ok := bySeq[a.Sequence]; ok {
				delete(bySeq, a.Sequence)
				results[i] = sendResult{err: rpcErr(a.Err)}
			}
			idle.Reset(m.c.timeout)
		case <-idle.C:
			err = errors.New("no acknowledgement from the server within the client timeout")
		case <-m.out.ctx.Done():
			err = errClosed
		}
	}
	if err != nil {
		ss.Close()
		m.out.stream = nil
		for _, i := range bySeq {
			todo = append(todo, i)
		}
		return todo, m.c.refused(err)
	}
	return todo, nil
}
