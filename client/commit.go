package client

import (
	"context"
	"errors"
	"fmt"
	"time"

	"connectrpc.com/connect"

	sealinev1 "github.com/sealine/sealine/api/sealine/v1"
	"github.com/sealine/sealine/mls"
)

// change is what one Commit does: the proposals by value, the devices it
// adds (for the Welcome), and whether to commit with nothing new (to
// apply cached proposals).
type change struct {
	params mls.CommitParams
	added  []Member
	force  bool
}

func (ch *change) empty() bool {
	return len(ch.params.Add) == 0 && len(ch.params.Remove) == 0 && !ch.force
}

// errNotMerged: the server accepted a commit but its echo did not arrive.
var errNotMerged = errors.New("commit accepted but not yet confirmed by the delivery queue")

// commit builds a Commit with build, sends it and waits until its echo
// is processed (the receive path merges it). On stale_epoch, or when the
// outcome is unknown and another commit took the epoch, it processes the
// commit that won and rebuilds, at most CommitRetries times. m.op must be
// held.
func (m *Messenger) commit(ctx context.Context, convID string, build func(*mls.Group) (change, error)) error {
	for range m.cfg.CommitRetries {
		req, pc, err := m.prepareCommit(convID, build)
		if err != nil || pc == nil {
			return err
		}
		// The reply's cursor is not trusted: the echo itself must arrive.
		_, err = call(ctx, m.c, connect.NewRequest(req), m.convs.Commit)
		err = rpcErr(err)
		var refusal *Error
		if err != nil && errors.As(err, &refusal) && !errors.Is(err, ErrStaleEpoch) {
			m.dropPending(convID)
			return fmt.Errorf("commit: %w", err)
		}
		// Accepted, lost to another commit, or unknown: the queue says which.
		werr := m.waitFor(ctx, func() bool {
			return m.mergedLocked(convID, pc) || m.epochLocked(convID) > req.GetEpoch()
		})
		m.mu.Lock()
		merged, moved := m.mergedLocked(convID, pc), m.epochLocked(convID) > req.GetEpoch()
		m.mu.Unlock()
		m.dropPending(convID)
		switch {
		case merged:
			return m.sendEpochCheck(ctx, convID)
		case err == nil:
			return fmt.Errorf("commit: %w", errors.Join(errNotMerged, werr))
		case !moved:
			return fmt.Errorf("commit: %w", err)
		}
	}
	return ErrTooManyRetries
}

// mergedLocked reports whether pc was merged. m.mu must be held.
func (m *Messenger) mergedLocked(convID string, pc *mls.PendingCommit) bool {
	cv, ok := m.groups[convID]
	return ok && cv.merged == pc
}

// prepareCommit runs build and creates the pending Commit and its
// request; a nil PendingCommit means there is nothing to commit.
func (m *Messenger) prepareCommit(convID string, build func(*mls.Group) (change, error)) (*sealinev1.CommitRequest, *mls.PendingCommit, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	cv, err := m.liveLocked(convID)
	if err != nil {
		return nil, nil, err
	}
	ch, err := build(cv.g)
	if err != nil || ch.empty() {
		return nil, nil, err
	}
	pc, err := cv.g.Commit(ch.params)
	if err != nil {
		return nil, nil, fmt.Errorf("commit: %w", err)
	}
	req := &sealinev1.CommitRequest{ConversationId: convID, Epoch: cv.g.Epoch(), Commit: pc.Commit}
	for _, leaf := range pc.Info.Removed {
		if who, ok := memberAt(cv.g, leaf); ok {
			req.RemovedDeviceIds = append(req.RemovedDeviceIds, who.DeviceID)
		}
	}
	for _, who := range ch.added {
		req.AddedDeviceIds = append(req.AddedDeviceIds, who.DeviceID)
	}
	req.AddedLeaves = addedLeaves(cv.g, pc, req.AddedDeviceIds)
	if pc.Welcome != nil {
		req.Welcomes = []*sealinev1.Welcome{{Welcome: pc.Welcome, DeviceIds: req.AddedDeviceIds}}
	}
	cv.pending = pc
	return req, pc, nil
}

func (m *Messenger) dropPending(convID string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if cv, ok := m.groups[convID]; ok {
		cv.pending = nil
	}
}

// epochLocked returns a conversation's epoch (0 if unknown). m.mu must
// be held.
func (m *Messenger) epochLocked(convID string) uint64 {
	cv, ok := m.groups[convID]
	if !ok || cv.g == nil {
		return 1<<64 - 1 // gone: nothing to wait for
	}
	return cv.g.Epoch()
}

// waitEpoch waits until a conversation has moved past epoch.
func (m *Messenger) waitEpoch(ctx context.Context, convID string, epoch uint64) error {
	return m.waitFor(ctx, func() bool { return m.epochLocked(convID) > epoch })
}

// errStalled: the server has nothing more queued, yet the awaited state
// was not reached.
var errStalled = errors.New("delivery queue has nothing more for this device")

// waitFor waits until cond (called with m.mu held) holds. A running
// receive loop gets a moment to get there; otherwise (or if it is
// reconnecting) this reads the queue itself, which always suffices: what
// is awaited (the commit that won an epoch, the echo of an accepted
// commit) was queued before the server replied. Both give up only after
// the client's timeout passes with no envelope processed: a long backlog
// (a commit echo queued behind hundreds of messages of a large group) is
// progress, not a stall.
func (m *Messenger) waitFor(ctx context.Context, cond func() bool) error {
	m.mu.Lock()
	ok, running, progress := cond(), m.running > 0, m.progress
	m.mu.Unlock()
	idle := time.NewTimer(m.c.timeout)
	defer idle.Stop()
	for running && !ok {
		select {
		case <-progress:
			idle.Reset(m.c.timeout)
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(loopGrace):
			running = false
		case <-idle.C:
			running = false
		}
		m.mu.Lock()
		ok, progress = cond(), m.progress
		m.mu.Unlock()
	}
	if ok {
		return nil
	}
	return m.pull(ctx, cond)
}

// loopGrace is how long waitFor lets a running receive loop make
// progress before reading the queue itself.
const loopGrace = 250 * time.Millisecond

// pull reads the queue from the stored cursor until cond holds. It gives
// up when the client's timeout passes without an envelope arriving.
func (m *Messenger) pull(ctx context.Context, cond func() bool) error {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	idle := time.AfterFunc(m.c.timeout, func() { cancel(errIdle) })
	defer idle.Stop()
	done := func() bool {
		m.mu.Lock()
		defer m.mu.Unlock()
		return cond()
	}
	var reached bool
	err := m.subscribe(ctx, func(caughtUp bool) bool {
		idle.Reset(m.c.timeout)
		reached = done()
		return reached || caughtUp
	})
	if reached {
		return nil
	}
	if cause := context.Cause(ctx); errors.Is(cause, errIdle) {
		err = cause
	}
	if err == nil {
		err = errStalled
	}
	return fmt.Errorf("sync: %w", err)
}

// errIdle: the delivery stream sent nothing for the client's timeout.
var errIdle = errors.New("no envelope from the server within the client timeout")

// sendEpochCheck tells the group this device's epoch authenticator, so
// that members shown a different commit notice (WarnFork).
func (m *Messenger) sendEpochCheck(ctx context.Context, convID string) error {
	err := m.sendLocked(ctx, convID, &Content{Kind: ContentEpochCheck}, false)
	if errors.Is(err, ErrNoConversation) {
		return nil // removed by the commit, or left
	}
	return err
}
