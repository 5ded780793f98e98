package bench

import (
	"context"
	"math"
	"sync"
	"sync/atomic"
	"time"

	sealinev1 "github.com/sealine/sealine/api/sealine/v1"
)

// flow is one sender's stream of messages into one conversation.
type flow struct {
	u      *user
	conv   string
	fanout int                      // recipient devices per message
	pool   []*sealinev1.SendRequest // fast clients: pre-encrypted messages
	next   atomic.Int64
}

// fastWorkers is how many sends a fast flow keeps in flight.
const fastWorkers = 32

// sendTimeout bounds one send; the measured phase ending does not cancel
// sends already made. (drive gives every send of a run one deadline,
// sendTimeout after the run's end, rather than a timer per send: with
// thousands of sends in flight a timer each cost ~2% of the CPU.)
const sendTimeout = 30 * time.Second

// drive sends on every flow until Duration ends or MaxMessages are sent,
// and returns when the last send has returned.
func (e *env) drive(ctx context.Context, flows []*flow, rec *recorder, tr *tracker) {
	sends, cancelSends := context.WithTimeout(context.Background(), e.cfg.Duration+sendTimeout)
	defer cancelSends()
	ctx, cancel := context.WithTimeout(ctx, e.cfg.Duration)
	defer cancel()
	var budget atomic.Int64
	budget.Store(math.MaxInt64)
	if e.cfg.MaxMessages > 0 {
		budget.Store(e.cfg.MaxMessages)
	}
	workers := 1 // one Send at a time per device
	if e.cfg.FastClients {
		workers = fastWorkers
	}
	if e.cfg.InFlight > 0 {
		workers = e.cfg.InFlight
	}
	var wg sync.WaitGroup
	for _, f := range flows {
		due := make(chan time.Time, max(16, int(e.cfg.Rate/float64(len(flows)))))
		if e.cfg.MaxRate {
			close(due)
		} else {
			wg.Go(func() { e.generate(ctx, e.cfg.Rate/float64(len(flows)), due, &budget, rec) })
		}
		for range workers {
			wg.Go(func() { e.sendLoop(ctx, sends, f, due, &budget, rec, tr) })
		}
	}
	wg.Wait()
}

// generate puts the due times of an open-loop schedule at rate msgs/s on
// due; a sender more than a second behind loses the message (sender_behind).
func (e *env) generate(ctx context.Context, rate float64, due chan<- time.Time, budget *atomic.Int64, rec *recorder) {
	defer close(due)
	interval := time.Duration(float64(time.Second) / rate)
	next := time.Now()
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		for now := time.Now(); !next.After(now); next = next.Add(interval) {
			if budget.Add(-1) < 0 {
				return
			}
			select {
			case due <- next:
			default:
				rec.fail(errBehind)
			}
		}
		timer.Reset(time.Until(next))
		select {
		case <-ctx.Done():
			return
		case <-timer.C:
		}
	}
}

// sendLoop sends what due schedules or, when due is closed at the start
// (max rate), as fast as it can, until ctx ends; each send runs under
// sends.
func (e *env) sendLoop(ctx, sends context.Context, f *flow, due <-chan time.Time, budget *atomic.Int64, rec *recorder, tr *tracker) {
	for ctx.Err() == nil {
		t, ok := <-due
		if !ok {
			if !e.cfg.MaxRate || budget.Add(-1) < 0 {
				return
			}
			t = time.Now()
		}
		e.sendOne(sends, f, t, rec, tr)
	}
}

func (e *env) sendOne(ctx context.Context, f *flow, due time.Time, rec *recorder, tr *tracker) {
	var err error
	if f.pool != nil {
		tmpl := f.pool[int(f.next.Add(1)-1)%len(f.pool)]
		err = fastSend(ctx, f.u.raw, tmpl, tr, due)
	} else {
		_, err = f.u.m.Send(ctx, f.conv, stamp(due, e.cfg.Size))
	}
	if err != nil {
		rec.fail(err)
		return
	}
	rec.accept(f.fanout)
}

// drain waits up to Drain for the deliveries due, then counts the rest
// as not delivered.
func (e *env) drain(rec *recorder) {
	deadline := time.Now().Add(e.cfg.Drain)
	for time.Now().Before(deadline) {
		if _, d, x, _ := rec.counts(); d >= x {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	_, d, x, _ := rec.counts()
	rec.mu.Lock()
	rec.errs[reasonOf(errLost)] += x - d
	rec.mu.Unlock()
}

// poolSize is how many messages each fast flow pre-encrypts.
func (e *env) poolSize(flows int) int {
	flows = max(flows, 1)
	n := 2048 / flows
	if !e.cfg.MaxRate {
		n = min(n, int(e.cfg.Rate*e.cfg.Duration.Seconds())/flows+1)
	}
	if e.cfg.MaxMessages > 0 {
		n = min(n, int(e.cfg.MaxMessages)/flows+1)
	}
	return max(n, 16)
}
