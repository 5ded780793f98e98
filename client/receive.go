package client

import (
	"bytes"
	"context"
	"errors"
	"io"
	"math/rand/v2"
	"time"

	"connectrpc.com/connect"

	sealinev1 "github.com/sealine/sealine/api/sealine/v1"
	"github.com/sealine/sealine/api/sealine/v1/sealinev1connect"
	"github.com/sealine/sealine/client/localstore"
	"github.com/sealine/sealine/mls"
)

// ackEvery is how many envelopes the backlog may run ahead of the last Ack.
const ackEvery = 64

// Run receives until ctx ends: it tops up KeyPackages, reads the delivery
// queue from the stored cursor, processes each envelope in order
// (Welcome: join; commit: apply; application: decrypt), commits the local
// state, then acknowledges. It reconnects with jittered exponential
// back-off and returns only when ctx ends (nil) or the session is gone
// (ErrSessionInvalid).
func (m *Messenger) Run(ctx context.Context) error {
	m.mu.Lock()
	m.running++
	m.mu.Unlock()
	defer func() {
		m.mu.Lock()
		m.running--
		m.mu.Unlock()
	}()
	go m.watchGaps(ctx)
	acks := make(chan struct{}, 1)
	go m.acker(ctx, acks)
	if _, err := m.TopUpKeyPackages(ctx); errors.Is(err, ErrSessionInvalid) {
		return err
	}
	delay := m.cfg.MinBackoff
	for {
		live, progressed := false, false
		err := m.subscribe(ctx, func(caughtUp bool) bool {
			progressed = true
			if caughtUp {
				live = true
				m.caughtUp(ctx)
			}
			if live {
				select { // the acker batches live acknowledgements
				case acks <- struct{}{}:
				default:
				}
			} else {
				m.ack(ctx, false)
			}
			return false
		})
		switch {
		case ctx.Err() != nil:
			return nil
		case errors.Is(err, ErrSessionInvalid):
			return err
		case progressed:
			delay = m.cfg.MinBackoff
		}
		if !sleep(ctx, delay/2+rand.N(delay/2+1)) {
			return nil
		}
		delay = min(2*delay, m.cfg.MaxBackoff)
	}
}

func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// Sync processes everything queued for this device and returns once the
// server says it is caught up. Use it when no Run loop is running.
func (m *Messenger) Sync(ctx context.Context) error {
	err := m.subscribe(ctx, func(caughtUp bool) bool {
		if caughtUp {
			m.caughtUp(ctx)
		}
		return caughtUp
	})
	if err != nil {
		return err
	}
	m.ack(ctx, true)
	return nil
}

// subscribe streams the queue from the stored cursor, handling the
// envelopes in batches, and calls after following each batch (caughtUp:
// the batch ended with the server's caught-up mark) until it returns
// true. It returns nil then, or why the stream ended.
func (m *Messenger) subscribe(ctx context.Context, after func(caughtUp bool) bool) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	m.mu.Lock()
	from := m.cursor
	m.mu.Unlock()
	req := connect.NewRequest(&sealinev1.SubscribeRequest{AfterCursor: from, MaxBatch: maxBatch})
	if err := authorize(m.c, req); err != nil {
		return err
	}
	msgs := sealinev1connect.NewMessageServiceClient(m.c.hc, m.c.server, streamOptions()...)
	stream, err := msgs.Subscribe(ctx, req)
	if err != nil {
		return m.c.refused(mapError(err))
	}
	// A reader goroutine receives ahead, so that what has arrived while
	// a batch was processed forms the next batch.
	in := make(chan *sealinev1.SubscribeResponse, inBuffer)
	go func() {
		defer close(in)
		for stream.Receive() {
			select {
			case in <- stream.Msg():
			case <-ctx.Done():
				return
			}
		}
	}()
	defer func() {
		cancel()
		for range in { // wait for the reader before closing the stream
		}
		stream.Close()
	}()
	f := &feed{in: in}
	for {
		batch, caughtUp, ok := f.next()
		if !ok {
			break
		}
		if err := m.handleBatch(ctx, batch); err != nil {
			return err
		}
		if after(caughtUp) {
			return nil
		}
	}
	if err := stream.Err(); err != nil {
		return m.c.refused(mapError(err))
	}
	return io.EOF
}

// maxBatch bounds how many envelopes one local transaction takes; it is
// also the Subscribe max_batch the client asks for.
const maxBatch = 128

// inBuffer is how many responses the reader receives ahead.
const inBuffer = maxBatch / 2

// feed cuts the responses of a Subscribe stream (single envelopes,
// batches and the caught-up mark) into the batches handleBatch takes.
type feed struct {
	in   <-chan *sealinev1.SubscribeResponse
	envs []*sealinev1.Envelope // received, not yet handed out
	mark bool                  // the caught-up mark follows envs
}

// next returns the next batch: a handshake envelope or Welcome alone, or
// the application envelopes that have arrived in a row (at most
// maxBatch); caughtUp says the caught-up mark came right after it. A
// mark with nothing before it comes as an empty batch. ok is false once
// the stream has ended.
func (f *feed) next() (batch []*sealinev1.Envelope, caughtUp, ok bool) {
	for len(f.envs) == 0 && !f.mark {
		if !f.receive(true) {
			return nil, false, false
		}
	}
	n := 0
	if len(f.envs) > 0 {
		n = 1
		for f.envs[0].GetKind() == sealinev1.Envelope_KIND_APPLICATION && n < maxBatch {
			if n == len(f.envs) {
				if f.mark || !f.receive(false) {
					break
				}
				continue
			}
			if f.envs[n].GetKind() != sealinev1.Envelope_KIND_APPLICATION {
				break
			}
			n++
		}
	}
	batch, f.envs = f.envs[:n:n], f.envs[n:]
	if len(f.envs) == 0 && f.mark {
		f.mark, caughtUp = false, true
	}
	return batch, caughtUp, true
}

// receive takes one response from the reader, waiting for it if wait;
// false when there is none (or the stream has ended).
func (f *feed) receive(wait bool) bool {
	var r *sealinev1.SubscribeResponse
	var ok bool
	if wait {
		r, ok = <-f.in
	} else {
		select {
		case r, ok = <-f.in:
		default:
		}
	}
	if !ok {
		return false
	}
	switch ev := r.GetEvent().(type) {
	case *sealinev1.SubscribeResponse_Envelope:
		f.envs = append(f.envs, ev.Envelope)
	case *sealinev1.SubscribeResponse_Batch:
		f.envs = append(f.envs, ev.Batch.GetEnvelopes()...)
	case *sealinev1.SubscribeResponse_CaughtUp:
		f.mark = true
	}
	return true
}

// caughtUp runs when the backlog has been delivered: missing messages
// are now overdue, and KeyPackages may need a top-up.
func (m *Messenger) caughtUp(ctx context.Context) {
	m.checkGaps(ctx, true)
	m.TopUpKeyPackages(ctx)
}

// ackDelay is how long the acker collects live envelopes before one Ack.
const ackDelay = 100 * time.Millisecond

// acker acknowledges live envelopes, at most one Ack per ackDelay.
func (m *Messenger) acker(ctx context.Context, wake <-chan struct{}) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-wake:
			if !sleep(ctx, ackDelay) {
				return
			}
			m.ack(ctx, true)
		}
	}
}

// ack acknowledges processed envelopes: always when live, otherwise
// every ackEvery envelopes. Failures are retried by the next ack.
func (m *Messenger) ack(ctx context.Context, force bool) {
	m.mu.Lock()
	cur, acked := m.cursor, m.acked
	m.mu.Unlock()
	if cur <= acked || (!force && cur-acked < ackEvery) {
		return
	}
	_, err := call(ctx, m.c, connect.NewRequest(&sealinev1.AckRequest{UpToCursor: cur}), m.msgs.Ack)
	if err == nil {
		m.mu.Lock()
		m.acked = max(m.acked, cur)
		m.mu.Unlock()
	}
}

// outcome collects what processing one envelope produced: local writes
// (committed with the cursor in one transaction), events (delivered
// after the commit) and follow-up work.
type outcome struct {
	cursor uint64
	b      *batch
	writes []func(*localstore.Tx) error
	events []Event
	after  []func(context.Context)
}

// batch is the state shared by the envelopes of one local transaction:
// the conversations and sender records to save once at its end, and the
// sender records as this batch has changed them.
type batch struct {
	groups  map[*conversation]bool
	senders map[senderKey]*localstore.SenderState
}

func (o *outcome) write(f func(*localstore.Tx) error) { o.writes = append(o.writes, f) }
func (o *outcome) emit(ev Event)                      { o.events = append(o.events, ev) }

// save marks cv's state to be saved when the batch commits.
func (o *outcome) save(cv *conversation) { o.b.groups[cv] = true }

func (o *outcome) warn(conv string, kind WarningKind, sender Member, detail string) {
	o.emit(&SecurityWarning{ConvID: conv, Kind: kind, Sender: sender, Cursor: o.cursor, Detail: detail})
}

// handleBatch processes envelopes exactly once each (de-duplicated by
// cursor) and commits their effects with the last cursor in one local
// transaction; then it delivers their events in order. On a failed
// commit nothing is kept: the conversations go back to their saved state
// and the envelopes are processed again when the stream resumes.
func (m *Messenger) handleBatch(ctx context.Context, envs []*sealinev1.Envelope) error {
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return nil
	}
	b := &batch{groups: map[*conversation]bool{}, senders: map[senderKey]*localstore.SenderState{}}
	outs := make([]*outcome, 0, len(envs))
	last := m.cursor
	for _, env := range envs {
		if env.GetCursor() <= last {
			continue
		}
		out := &outcome{cursor: env.GetCursor(), b: b}
		switch env.GetKind() {
		case sealinev1.Envelope_KIND_WELCOME:
			m.onWelcome(env, out)
		case sealinev1.Envelope_KIND_COMMIT:
			m.onCommit(env, out)
		case sealinev1.Envelope_KIND_PROPOSAL:
			m.onProposal(env, out)
		case sealinev1.Envelope_KIND_APPLICATION:
			m.onApplication(env, out)
		}
		outs = append(outs, out)
		last = env.GetCursor()
	}
	if len(outs) == 0 {
		m.mu.Unlock()
		return nil
	}
	err := m.store.Update(func(tx *localstore.Tx) error {
		for _, out := range outs {
			for _, w := range out.writes {
				if err := w(tx); err != nil {
					return err
				}
			}
		}
		for cv := range b.groups {
			if m.groups[cv.rec.ConvID] == cv { // not left or replaced since
				if err := m.putGroup(tx, cv); err != nil {
					return err
				}
			}
		}
		for k, st := range b.senders {
			if err := tx.PutSender(k.conv, k.sender, *st); err != nil {
				return err
			}
		}
		return tx.SetCursor(last)
	})
	if err == nil {
		for k, st := range b.senders {
			m.senders[k] = *st
		}
		m.cursor = last
		close(m.progress)
		m.progress = make(chan struct{})
	} else {
		// Nothing was committed: go back to the saved groups, so that
		// the envelopes are processed again from the same state.
		err = errors.Join(err, m.reloadLocked())
	}
	m.mu.Unlock()
	if err != nil {
		return err
	}
	for _, out := range outs {
		for _, ev := range out.events {
			m.emit(ctx, ev)
		}
	}
	for _, out := range outs {
		for _, f := range out.after {
			f(ctx)
		}
	}
	return nil
}

// onWelcome joins a group from a Welcome addressed to one of this
// device's KeyPackages. m.mu is held.
func (m *Messenger) onWelcome(env *sealinev1.Envelope, out *outcome) {
	conv := env.GetConversationId()
	msg, err := mls.ParseMLSMessage(env.GetPayload())
	if err != nil || msg.Welcome == nil {
		out.warn(conv, WarnUndecryptable, Member{}, "malformed welcome")
		return
	}
	if _, ok := m.groups[conv]; ok {
		out.warn(conv, WarnReplay, Member{}, "welcome for a conversation this device is already in")
		return
	}
	rec, err := m.findKeyPackage(msg.Welcome)
	if err != nil {
		out.warn(conv, WarnUndecryptable, Member{}, "welcome names no key package of this device")
		return
	}
	kp, priv, err := parseKeyPackagePrivate(rec.Private)
	if err != nil {
		out.warn(conv, WarnUndecryptable, Member{}, err.Error())
		return
	}
	g, err := mls.Join(m.mlsConfig(), mls.JoinParams{Welcome: msg.Welcome, KeyPackage: kp, Private: priv, SignatureKey: m.sig, Now: m.now()})
	if err != nil {
		out.warn(conv, WarnUndecryptable, Member{}, "welcome rejected: "+err.Error())
		return
	}
	m.joined(conv, env.GetSenderDeviceId(), g, rec, out)
}

// joined checks a group just joined and records it. A direct conversation
// must hold exactly this user and one other, the one its id names.
func (m *Messenger) joined(conv, senderDevice string, g *mls.Group, kp localstore.KeyPackage, out *outcome) {
	gid := g.GroupID()
	cv := &conversation{g: g, rec: localstore.Group{ConvID: conv, GroupID: gid}}
	by := Member{DeviceID: senderDevice}
	users := map[string]bool{}
	for _, who := range members(g) {
		if who.UserID != m.me.UserID {
			users[who.UserID] = true
		}
		if who.DeviceID == senderDevice {
			by = who
		}
	}
	if len(gid) > 0 && gid[0] == directPrefix {
		for u := range users {
			cv.rec.Peer = u
		}
		if len(users) != 1 || !m.isDirectWith(gid, cv.rec.Peer) {
			out.warn(conv, WarnUnexpectedDevice, by, "welcome into a direct conversation with other users' devices; not joined")
			return
		}
		cv.rec.Direct = true
	}
	m.groups[conv] = cv
	if !kp.LastResort {
		out.write(func(tx *localstore.Tx) error { return tx.DeleteKeyPackage(kp.Ref) })
	}
	out.save(cv)
	out.emit(&JoinedEvent{ConvID: conv, Direct: cv.rec.Direct, Peer: cv.rec.Peer, By: by, Epoch: g.Epoch()})
}

// findKeyPackage returns the stored KeyPackage a Welcome is encrypted to.
func (m *Messenger) findKeyPackage(w *mls.Welcome) (localstore.KeyPackage, error) {
	var rec localstore.KeyPackage
	err := m.store.View(func(tx *localstore.Tx) error {
		for _, s := range w.Secrets {
			r, err := tx.KeyPackage(s.NewMember)
			if err == nil {
				rec = r
				return nil
			}
			if !errors.Is(err, localstore.ErrNotFound) {
				return err
			}
		}
		return localstore.ErrNotFound
	})
	return rec, err
}

// onCommit applies a commit: this device's own (merging the pending
// commit whose echo this is) or another member's. m.mu is held.
func (m *Messenger) onCommit(env *sealinev1.Envelope, out *outcome) {
	conv := env.GetConversationId()
	cv, ok := m.groups[conv]
	if !ok {
		out.warn(conv, WarnUndecryptable, Member{}, "commit for a conversation this device is not in")
		return
	}
	if cv.g == nil {
		return
	}
	before := leafMembers(cv.g)
	var info *mls.CommitInfo
	var by Member
	if cv.pending != nil && bytes.Equal(env.GetPayload(), cv.pending.Commit) {
		if err := cv.g.MergeCommit(cv.pending); err != nil {
			out.warn(conv, WarnUndecryptable, m.me, "own commit did not merge: "+err.Error())
			return
		}
		info, by, cv.merged, cv.pending = cv.pending.Info, m.me, cv.pending, nil
	} else {
		rcv, err := cv.g.Process(env.GetPayload())
		if err != nil {
			m.handshakeFailed(cv, env, err, out)
			return
		}
		if rcv.Commit == nil {
			out.warn(conv, WarnUndecryptable, before[mls.LeafIndex(rcv.Sender.Index)], "commit envelope without a commit")
			return
		}
		info, by = rcv.Commit, before[mls.LeafIndex(rcv.Sender.Index)]
	}
	m.applied(cv, info, by, before, out)
}

// leafMembers maps each occupied leaf to its device.
func leafMembers(g *mls.Group) map[mls.LeafIndex]Member {
	out := map[mls.LeafIndex]Member{}
	for i := range g.Tree().NumLeaves() {
		if who, ok := memberAt(g, mls.LeafIndex(i)); ok {
			out[mls.LeafIndex(i)] = who
		}
	}
	return out
}

// applied records a merged commit and reports its membership changes.
func (m *Messenger) applied(cv *conversation, info *mls.CommitInfo, by Member, before map[mls.LeafIndex]Member, out *outcome) {
	conv := cv.rec.ConvID
	if info.RemovedSelf {
		delete(m.groups, conv)
		delete(m.leaving, conv)
		out.write(func(tx *localstore.Tx) error { return tx.DeleteGroup(conv) })
		out.emit(&LeftEvent{ConvID: conv, By: by})
		return
	}
	ev := &MemberEvent{ConvID: conv, By: by, Epoch: info.Epoch}
	for _, leaf := range info.Added {
		who, _ := memberAt(cv.g, leaf)
		ev.Added = append(ev.Added, who)
		if cv.rec.Direct && who.UserID != m.me.UserID && who.UserID != cv.rec.Peer {
			out.warn(conv, WarnUnexpectedDevice, by, "device "+who.String()+" of a third user added to a direct conversation")
		}
	}
	for _, leaf := range info.Removed {
		ev.Removed = append(ev.Removed, before[leaf])
		delete(m.leaving[conv], before[leaf])
	}
	out.save(cv)
	if len(ev.Added)+len(ev.Removed) > 0 {
		out.emit(ev)
	}
	m.scheduleLeaves(cv, out)
}

// handshakeFailed turns a commit or proposal that did not apply into a
// warning saying what it most likely means.
func (m *Messenger) handshakeFailed(cv *conversation, env *sealinev1.Envelope, err error, out *outcome) {
	conv := cv.rec.ConvID
	switch {
	case errors.Is(err, mls.ErrWrongEpoch) && env.GetEpoch() < cv.g.Epoch():
		out.warn(conv, WarnReplay, Member{}, "handshake message from a past epoch replayed")
	case errors.Is(err, mls.ErrWrongEpoch):
		out.warn(conv, WarnDropped, Member{}, "handshake message from a future epoch: a commit was withheld")
	case errors.Is(err, mls.ErrReplay):
		out.warn(conv, WarnReplay, Member{}, "handshake message replayed")
	default:
		out.warn(conv, WarnFork, Member{}, "handshake message of this epoch does not apply ("+err.Error()+"): members may have been shown different commits")
	}
}

// onProposal caches a proposal (a member leaving) and, if this device
// is the designated committer, commits it. m.mu is held.
func (m *Messenger) onProposal(env *sealinev1.Envelope, out *outcome) {
	conv := env.GetConversationId()
	cv, ok := m.groups[conv]
	if !ok || cv.g == nil {
		return
	}
	rcv, err := cv.g.Process(env.GetPayload())
	if err != nil {
		m.handshakeFailed(cv, env, err, out)
		return
	}
	if rcv.Sender.Type == mls.SenderExternal {
		m.onExternalProposal(cv, rcv, out)
		return
	}
	who, ok := memberAt(cv.g, mls.LeafIndex(rcv.Sender.Index))
	if !ok || rcv.ProposalRef == nil {
		return
	}
	if m.leaving[conv] == nil {
		m.leaving[conv] = map[Member]bool{}
	}
	m.leaving[conv][who] = true
	m.scheduleLeaves(cv, out)
}

// scheduleLeaves commits the removal of members who proposed to leave,
// if this device is the remaining member with the lowest leaf index.
func (m *Messenger) scheduleLeaves(cv *conversation, out *outcome) {
	conv := cv.rec.ConvID
	leaving := m.leaving[conv]
	if len(leaving) == 0 {
		return
	}
	for i := range cv.g.Tree().NumLeaves() {
		who, ok := memberAt(cv.g, mls.LeafIndex(i))
		if !ok || leaving[who] {
			continue
		}
		if who != m.me {
			return
		}
		out.after = append(out.after, func(ctx context.Context) {
			go m.commitLeaves(context.WithoutCancel(ctx), conv)
		})
		return
	}
}

// commitLeaves removes the devices that asked to leave.
func (m *Messenger) commitLeaves(ctx context.Context, conv string) {
	ctx, cancel := context.WithTimeout(ctx, 4*m.c.timeout)
	defer cancel()
	m.op.Lock()
	defer m.op.Unlock()
	m.commitRemoves(ctx, conv, func(who Member) bool { return m.leaving[conv][who] })
}
