package server

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sealine/sealine/store"
)

// Group commit. One writer goroutine takes every pending post (send,
// commit, proposal) and ack, stores as many as are waiting (up to max) in
// one transaction through store.Queues.Write, and only then answers each
// caller. With SQLite that turns one fsync per message into one per batch;
// each post still succeeds or fails on its own (see store.Queues.Post).
// Callers hand their post over an unbuffered channel, so a batch is
// exactly the posts whose callers were waiting while the previous batch
// was being written.
// A SendStream hands over every message it has read so far as one slice
// (submitAll), so that a pipelining client fills batches on its own; a
// batch then holds at most 2*max-1 posts.
//
// After each batch the writer sends a hint for every recipient device
// through the Notifier; the streams then re-read the store.

// errShuttingDown: the writer stopped before taking the post.
var errShuttingDown = errors.New("server: shutting down")

// batchTimeout bounds one batch transaction.
const batchTimeout = 30 * time.Second

type committer struct {
	store  store.Queues
	notify Notifier
	max    int
	log    *slog.Logger
	in     chan *pending
	many   chan []*pending
	stop   chan struct{}
	done   chan struct{}

	// Owned by run, reused from batch to batch (emptied after each).
	batch   []*pending
	posts   []store.Post
	postsOf []*pending
	acks    []store.AckRequest
	acksOf  []*pending
	hinted  map[string]struct{}

	pendings sync.Pool // of *pending
}

// pending is one caller's post or ack and, once it is decided, its
// result. A caller of submit or submitAck waits for the one value done
// gets; a SendStream's posts (submitAll) share the stream's wake
// instead: each is marked decided, then wake gets a value. Pendings are
// pooled (get, put), each with its done channel.
type pending struct {
	post    store.Post
	res     store.PostResult
	ack     store.AckRequest // an ack's, when isAck; post and res are then unused
	isAck   bool
	ackRes  store.AckResult
	done    chan struct{} // cap 1
	wake    chan struct{} // cap 1; set instead of done
	decided atomic.Bool   // set with wake
}

// finish tells p's caller that p is decided; the writer does not touch
// p afterwards.
func (p *pending) finish() {
	wake := p.wake // p may be reused once decided is set
	if wake == nil {
		p.done <- struct{}{} // its only value: never blocks
		return
	}
	p.decided.Store(true)
	select {
	case wake <- struct{}{}:
	default: // a wake is pending already
	}
}

func newCommitter(st store.Queues, n Notifier, max int, log *slog.Logger) *committer {
	c := &committer{
		store: st, notify: n, max: max, log: log,
		in: make(chan *pending), many: make(chan []*pending), stop: make(chan struct{}), done: make(chan struct{}),
		hinted: map[string]struct{}{},
	}
	go c.run()
	return c
}

// submit hands p to the writer and waits until its batch committed (or
// failed). It does not give up when ctx ends: once taken, the post may be
// durable, and the caller must learn which.
func (c *committer) submit(ctx context.Context, p store.Post) (store.PostResult, error) {
	pd := c.get()
	defer c.put(pd)
	pd.post = p
	if err := c.wait(ctx, pd); err != nil {
		return store.PostResult{}, err
	}
	return pd.res, pd.res.Err
}

// submitAck hands an ack to the writer and waits until its batch
// committed (or failed), as submit does.
func (c *committer) submitAck(ctx context.Context, a store.AckRequest) (store.AckResult, error) {
	pd := c.get()
	defer c.put(pd)
	pd.ack, pd.isAck = a, true
	if err := c.wait(ctx, pd); err != nil {
		return store.AckResult{}, err
	}
	return pd.ackRes, pd.ackRes.Err
}

// wait hands pd to the writer and waits until it is decided; an error
// means the writer never took it.
func (c *committer) wait(ctx context.Context, pd *pending) error {
	select {
	case c.in <- pd:
	case <-c.stop:
		return errShuttingDown
	case <-ctx.Done():
		return ctx.Err()
	}
	<-pd.done
	return nil
}

// get returns an empty pending from the pool.
func (c *committer) get() *pending {
	if pd, ok := c.pendings.Get().(*pending); ok {
		return pd
	}
	return &pending{done: make(chan struct{}, 1)}
}

// put empties pd, whose result has been read or which the writer never
// took, and returns it to the pool.
func (c *committer) put(pd *pending) {
	done := pd.done
	*pd = pending{done: done}
	c.pendings.Put(pd)
}

// streamPending returns a pending for a SendStream's post; wake is the
// stream's. Once its result is read, the stream puts it back.
func (c *committer) streamPending(p store.Post, wake chan struct{}) *pending {
	pd := c.get()
	pd.post, pd.wake = p, wake
	return pd
}

// submitAll hands ps (at most max, each with a wake) to the writer
// without waiting for their commit: each one is finished once its result
// is set. On an error none was taken. The writer copies ps, the slice,
// only after taking it: the caller must not reuse it.
func (c *committer) submitAll(ctx context.Context, ps []*pending) error {
	select {
	case c.many <- ps:
		return nil
	case <-c.stop:
		return errShuttingDown
	case <-ctx.Done():
		return ctx.Err()
	}
}

// close stops taking posts, writes those already taken and waits.
func (c *committer) close() {
	select {
	case <-c.stop:
	default:
		close(c.stop)
	}
	<-c.done
}

func (c *committer) run() {
	defer close(c.done)
	for {
		select {
		case p := <-c.in:
			c.flush(c.collect(append(c.batch[:0], p)))
		case ps := <-c.many:
			c.flush(c.collect(append(c.batch[:0], ps...)))
		case <-c.stop:
			c.drain()
			return
		}
	}
}

// collect adds every post already waiting, until batch holds max or more.
func (c *committer) collect(batch []*pending) []*pending {
	for len(batch) < c.max {
		select {
		case p := <-c.in:
			batch = append(batch, p)
		case ps := <-c.many:
			batch = append(batch, ps...)
		default:
			return batch
		}
	}
	return batch
}

// drain writes posts whose callers are still handing them over.
func (c *committer) drain() {
	for {
		select {
		case p := <-c.in:
			c.flush(c.collect(append(c.batch[:0], p)))
		case ps := <-c.many:
			c.flush(c.collect(append(c.batch[:0], ps...)))
		default:
			return
		}
	}
}

// flush stores a batch and answers its callers. If the batch transaction
// fails as a whole, or a post fails with an error that is not its own
// outcome (a PostgreSQL deadlock between nodes' batches, say), that post
// is retried alone; so is every ack of a batch that failed.
func (c *committer) flush(batch []*pending) {
	posts, postsOf, acks, acksOf := c.posts[:0], c.postsOf[:0], c.acks[:0], c.acksOf[:0]
	for _, p := range batch {
		if p.isAck {
			acks, acksOf = append(acks, p.ack), append(acksOf, p)
		} else {
			posts, postsOf = append(posts, p.post), append(postsOf, p)
		}
	}
	results, ackResults, err := c.write(posts, acks)
	for i, p := range postsOf {
		if err != nil || !outcome(results[i].Err) {
			alone, _, err := c.write(posts[i:i+1], nil)
			results = ensure(results, len(posts))
			results[i] = store.PostResult{Err: err}
			if err == nil {
				results[i] = alone[0]
			}
		}
		p.res = results[i]
	}
	for i, p := range acksOf {
		if err != nil {
			_, alone, err := c.write(nil, acks[i:i+1])
			p.ackRes = store.AckResult{Err: err}
			if err == nil {
				p.ackRes = alone[0]
			}
			continue
		}
		p.ackRes = ackResults[i]
	}
	for _, p := range batch {
		p.finish()
	}
	c.hint(results)
	// Keep the buffers, but not what they point to.
	clear(batch)
	clear(posts)
	clear(postsOf)
	clear(acks)
	clear(acksOf)
	c.batch, c.posts, c.postsOf, c.acks, c.acksOf = batch[:0], posts[:0], postsOf[:0], acks[:0], acksOf[:0]
}

func (c *committer) write(posts []store.Post, acks []store.AckRequest) ([]store.PostResult, []store.AckResult, error) {
	ctx, cancel := context.WithTimeout(context.Background(), batchTimeout)
	defer cancel()
	return c.store.Write(ctx, posts, acks)
}

// ensure returns results, or n empty results when it is nil.
func ensure(results []store.PostResult, n int) []store.PostResult {
	if results == nil {
		return make([]store.PostResult, n)
	}
	return results
}

// outcome reports whether err is nil or a post's own refusal.
func outcome(err error) bool { return err == nil || store.IsRefusal(err) }

// hint wakes the recipients of every stored post, each device once:
// hints coalesce, and a woken stream reads everything stored.
func (c *committer) hint(results []store.PostResult) {
	for _, r := range results {
		if r.Err != nil || r.Duplicate {
			continue
		}
		for _, d := range r.Recipients {
			if _, ok := c.hinted[d]; !ok {
				c.hinted[d] = struct{}{}
				c.notify.Notify(deviceKey(d))
			}
		}
	}
	clear(c.hinted)
}
