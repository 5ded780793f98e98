package bench

import (
	"context"
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"connectrpc.com/connect"

	sealinev1 "github.com/sealine/sealine/api/sealine/v1"
	"github.com/sealine/sealine/api/sealine/v1/sealinev1connect"
)

// idleDevices is how many devices the idle streams share (few, so that
// a remote server's registration rate limit is not hit).
func idleDevices(conns int) int { return min(max(conns, 1), 8) }

// idleDialers is how many streams are opened at once.
const idleDialers = 64

// idle holds Conns subscribed streams, each on its own TLS connection.
type idle struct {
	e       *env
	devices []*user
	cancel  context.CancelFunc
	wg      sync.WaitGroup
	open    atomic.Int64
	hcs     []*http.Client
}

func (s *idle) conns() int   { return int(s.open.Load()) }
func (s *idle) clients() int { return len(s.hcs) }

func (e *env) setupIdle(ctx context.Context, rec *recorder) (scenario, error) {
	devices, err := e.newUsers(ctx, 0, idleDevices(e.cfg.Conns), 0)
	if err != nil {
		return nil, err
	}
	// Memory per stream is measured from here.
	if b, err := scrape(ctx, e.metrics); err == nil {
		e.base = b
	}
	sctx, cancel := context.WithCancel(context.Background())
	s := &idle{e: e, devices: devices, cancel: cancel}
	sem := make(chan struct{}, idleDialers)
	errs := make(chan error, 1)
	var opening sync.WaitGroup
	for i := range e.cfg.Conns {
		if ctx.Err() != nil {
			break
		}
		sem <- struct{}{}
		hc := e.httpClient(i)
		s.hcs = append(s.hcs, hc)
		opening.Add(1)
		ready := sync.OnceFunc(func() { <-sem; opening.Done() })
		s.wg.Go(func() { s.hold(sctx, hc, devices[i%len(devices)].token, ready, errs, rec) })
	}
	opening.Wait()
	select {
	case err := <-errs:
		s.close()
		return nil, fmt.Errorf("bench: open stream %d of %d: %w", s.open.Load()+1, e.cfg.Conns, err)
	default:
	}
	if ctx.Err() != nil {
		s.close()
		return nil, fmt.Errorf("%w: %d of %d streams open", ErrSetupTimeout, s.open.Load(), e.cfg.Conns)
	}
	return s, nil
}

// hold opens one stream, calls ready once it is caught up (or failed),
// and keeps reading until ctx ends.
func (s *idle) hold(ctx context.Context, hc *http.Client, token string, ready func(), errs chan<- error, rec *recorder) {
	defer ready()
	raw := sealinev1connect.NewMessageServiceClient(hc, s.e.url, connect.WithInterceptors(bearer(token)))
	stream, err := raw.Subscribe(ctx, connect.NewRequest(&sealinev1.SubscribeRequest{}))
	if err != nil {
		s.failed(err, errs, rec)
		return
	}
	defer stream.Close()
	for stream.Receive() {
		if stream.Msg().GetEvent() != nil {
			if _, ok := stream.Msg().GetEvent().(*sealinev1.SubscribeResponse_CaughtUp); ok {
				s.open.Add(1)
				ready()
			}
		}
	}
	if ctx.Err() == nil {
		s.failed(stream.Err(), errs, rec)
		s.open.Add(-1)
	}
}

func (s *idle) failed(err error, errs chan<- error, rec *recorder) {
	if err == nil {
		err = fmt.Errorf("stream ended")
	}
	rec.fail(err)
	select {
	case errs <- err:
	default:
	}
}

func (s *idle) measure(ctx context.Context, rec *recorder) {
	t := time.NewTimer(s.e.cfg.Duration)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
	rec.mu.Lock()
	rec.streams = s.open.Load()
	rec.mu.Unlock()
	rec.endSend()
}

func (s *idle) close() {
	s.cancel()
	s.wg.Wait()
	for _, hc := range s.hcs {
		hc.CloseIdleConnections()
	}
	closeUsers(s.devices)
}
