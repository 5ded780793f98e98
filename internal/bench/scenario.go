package bench

import (
	"context"
	"errors"
	"fmt"
	"sync"
)

// scenario is a prepared run.
type scenario interface {
	// measure runs the measured phase (at most Duration plus draining).
	measure(ctx context.Context, rec *recorder)
	clients() int
	conns() int
	close()
}

// messaging is the 1to1 and group scenarios: flows of messages.
type messaging struct {
	e       *env
	users   []*user
	flows   []*flow
	tr      *tracker
	fanouts map[*user]int // fast receivers and their fanout
	cancel  context.CancelFunc
	wg      sync.WaitGroup
}

func (s *messaging) clients() int { return len(s.users) }
func (s *messaging) conns() int   { return len(s.users) }

func (s *messaging) close() {
	if s.cancel != nil {
		s.cancel()
		s.wg.Wait()
	}
	closeUsers(s.users)
}

func (s *messaging) measure(ctx context.Context, rec *recorder) {
	if s.e.cfg.FastClients {
		rctx, cancel := context.WithCancel(context.Background())
		s.cancel = cancel
		for u, fanout := range s.fanouts {
			s.wg.Go(func() { u.fastReceive(rctx, rec, s.tr, fanout) })
		}
	}
	s.e.drive(ctx, s.flows, rec, s.tr)
	rec.endSend()
	s.e.drain(rec)
}

// setupOneToOne registers Pairs pairs of users, each pair in a direct
// conversation, with a flow each way.
func (e *env) setupOneToOne(ctx context.Context, rec *recorder) (scenario, error) {
	users, err := e.newUsers(ctx, 0, 2*e.cfg.Pairs, 4)
	if err != nil {
		return nil, err
	}
	s := &messaging{e: e, users: users, tr: newTracker(), fanouts: map[*user]int{}}
	for _, u := range users {
		u.listen(rec)
	}
	for i := 0; i < len(users); i += 2 {
		a, b := users[i], users[i+1]
		conv, err := a.m.Direct(ctx, b.name)
		if err == nil {
			err = b.waitJoined(ctx, conv)
		}
		if err != nil {
			s.close()
			return nil, fmt.Errorf("bench: direct conversation: %w", err)
		}
		s.flows = append(s.flows, &flow{u: a, conv: conv, fanout: 1}, &flow{u: b, conv: conv, fanout: 1})
	}
	return s, e.prepareFast(ctx, s, 1)
}

// setupGroup registers Groups groups of GroupSize users; the first member
// of each group sends and the others receive.
func (e *env) setupGroup(ctx context.Context, rec *recorder) (scenario, error) {
	k := e.cfg.GroupSize
	users, err := e.newUsers(ctx, 0, e.cfg.Groups*k, 2)
	if err != nil {
		return nil, err
	}
	s := &messaging{e: e, users: users, tr: newTracker(), fanouts: map[*user]int{}}
	for _, u := range users {
		if !e.cfg.FastClients {
			u.listen(rec)
		}
	}
	for g := range e.cfg.Groups {
		members := users[g*k : (g+1)*k]
		conv, err := e.createGroup(ctx, members)
		if err != nil {
			s.close()
			return nil, err
		}
		s.flows = append(s.flows, &flow{u: members[0], conv: conv, fanout: k - 1})
		for _, u := range members[1:] {
			s.fanouts[u] = k - 1
		}
	}
	return s, e.prepareFast(ctx, s, k-1)
}

// createGroup has members[0] create a group of all members and, unless
// the clients are fast, waits until every member has joined.
func (e *env) createGroup(ctx context.Context, members []*user) (string, error) {
	names := make([]string, 0, len(members)-1)
	for _, u := range members[1:] {
		names = append(names, u.name)
	}
	conv, err := members[0].m.CreateGroup(ctx, "bench", names...)
	if err != nil {
		return "", fmt.Errorf("bench: create group: %w", err)
	}
	if e.cfg.FastClients {
		return conv, nil
	}
	var wg sync.WaitGroup
	errs := make([]error, len(members))
	for i, u := range members[1:] {
		wg.Go(func() { errs[i] = u.waitJoined(ctx, conv) })
	}
	wg.Wait()
	return conv, errors.Join(errs...)
}

// prepareFast stops the SDK receive loops and pre-encrypts each flow's
// pool; receivers then read their queues raw (see fastReceive).
func (e *env) prepareFast(ctx context.Context, s *messaging, fanout int) error {
	if !e.cfg.FastClients {
		return nil
	}
	for _, u := range s.users {
		u.stopListen()
	}
	n := e.poolSize(len(s.flows))
	for _, f := range s.flows {
		pool, err := f.u.encryptPool(ctx, f.conv, n, e.cfg.Size)
		if err != nil {
			s.close()
			return err
		}
		f.pool = pool
	}
	if fanout == 1 { // 1:1: every user receives too
		for _, u := range s.users {
			s.fanouts[u] = 1
		}
	}
	return nil
}

// waitSetup turns a setup context's expiry into ErrSetupTimeout.
func waitSetup(ctx context.Context, err error) error {
	if err != nil && ctx.Err() != nil {
		return fmt.Errorf("%w: %w", ErrSetupTimeout, err)
	}
	return err
}
