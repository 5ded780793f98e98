package bench

import (
	"context"
	"time"
)

// churnPool is how many extra users the churn scenario adds and removes.
// They publish KeyPackages but run no receive loop.
const churnPool = 8

// churn adds and removes pool users to a group, one commit at a time, with
// a message from the creator after each change.
type churn struct {
	e       *env
	members []*user
	pool    []*user
	conv    string
}

func (s *churn) clients() int { return len(s.members) + len(s.pool) }
func (s *churn) conns() int   { return len(s.members) + len(s.pool) }
func (s *churn) close()       { closeUsers(s.members); closeUsers(s.pool) }

func (e *env) setupChurn(ctx context.Context, rec *recorder) (scenario, error) {
	members, err := e.newUsers(ctx, 0, e.cfg.GroupSize, 2)
	if err != nil {
		return nil, err
	}
	pool, err := e.newUsers(ctx, len(members), churnPool, 100)
	if err != nil {
		closeUsers(members)
		return nil, err
	}
	s := &churn{e: e, members: members, pool: pool}
	for _, u := range members {
		u.listen(rec)
	}
	if s.conv, err = e.createGroup(ctx, members); err != nil {
		s.close()
		return nil, err
	}
	return s, nil
}

func (s *churn) measure(ctx context.Context, rec *recorder) {
	ctx, cancel := context.WithTimeout(ctx, s.e.cfg.Duration)
	defer cancel()
	creator := s.members[0]
	var sent int64
	for i := 0; ctx.Err() == nil; i++ {
		if s.e.cfg.MaxMessages > 0 && sent >= s.e.cfg.MaxMessages {
			break
		}
		u := s.pool[i%len(s.pool)]
		if !s.commit(rec, func(ctx context.Context) error { return creator.m.Add(ctx, s.conv, u.name) }) {
			continue
		}
		sctx, cancel := context.WithTimeout(context.Background(), sendTimeout)
		s.e.sendOne(sctx, &flow{u: creator, conv: s.conv, fanout: len(s.members) - 1}, time.Now(), rec, nil)
		cancel()
		sent++
		s.commit(rec, func(ctx context.Context) error { return creator.m.Remove(ctx, s.conv, u.name) })
	}
	rec.endSend()
	s.e.drain(rec)
}

// commit runs one membership change and records its latency.
func (s *churn) commit(rec *recorder, op func(context.Context) error) bool {
	ctx, cancel := context.WithTimeout(context.Background(), sendTimeout)
	defer cancel()
	t := time.Now()
	if err := op(ctx); err != nil {
		rec.fail(err)
		return false
	}
	rec.commit(time.Since(t))
	return true
}
