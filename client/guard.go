package client

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"errors"
	"fmt"
	"maps"
	"sort"
	"time"

	sealinev1 "github.com/sealine/sealine/api/sealine/v1"
	"github.com/sealine/sealine/client/localstore"
	"github.com/sealine/sealine/mls"
)

// What a hostile server can do to delivery, and how it shows (each as a
// SecurityWarning, never silently):
//
//   - replay: MLS refuses a generation used before (mls.ErrReplay), and a
//     (sender, epoch, seq) already seen is refused here;
//   - drop: a gap in a sender's seq within an epoch, not filled within
//     ReorderWindow later messages or ReorderWait, or fewer messages in a
//     sender's previous epoch than its next message's prev_count says;
//   - reorder: a message arriving after it was declared dropped;
//   - fork: an epoch-check content whose authenticator differs from ours,
//     or a message of our epoch number that does not decrypt while its
//     authenticated data carries another epoch tag;
//   - a third user's device in a direct conversation (receive.go).
//
// Every application message carries, as MLS authenticated data,
// 0x01 | SHA-256("sealine/v1/epoch-tag" | epoch_authenticator)[:16], which
// names the sender's view of the epoch without revealing its secrets.

const epochTagLabel = "sealine/v1/epoch-tag"

func epochTag(g *mls.Group) []byte {
	h := sha256.Sum256(append([]byte(epochTagLabel), g.EpochAuthenticator()...))
	return append([]byte{1}, h[:16]...)
}

// epochTag returns epochTag(cv.g), worked out once per group state and
// epoch rather than for every message sent and received (a group's epoch
// only moves forward, and a reloaded state is a new *mls.Group). The
// caller must not modify it. m.mu is held.
func (cv *conversation) epochTag() []byte {
	if cv.tag.g != cv.g || cv.tag.epoch != cv.g.Epoch() {
		cv.tag.g, cv.tag.epoch, cv.tag.b = cv.g, cv.g.Epoch(), epochTag(cv.g)
	}
	return cv.tag.b
}

// maxMissing bounds the missing sequence numbers tracked per sender.
const maxMissing = 4096

// onApplication decrypts an application message and delivers its
// content after the replay, gap and fork checks. m.mu is held.
func (m *Messenger) onApplication(env *sealinev1.Envelope, out *outcome) {
	conv := env.GetConversationId()
	cv, ok := m.groups[conv]
	if !ok {
		out.warn(conv, WarnUndecryptable, Member{}, "message for a conversation this device is not in")
		return
	}
	if cv.g == nil {
		return
	}
	am, err := cv.g.Decrypt(env.GetPayload())
	if err != nil {
		m.decryptFailed(cv, env, err, out)
		return
	}
	out.save(cv) // the key is consumed
	from, _ := memberAt(cv.g, am.Sender)
	c, err := parseContent(am.Data)
	if err != nil {
		out.warn(conv, WarnUndecryptable, from, "message content does not decode")
		return
	}
	if from == m.me {
		out.warn(conv, WarnReplay, from, "this device's own message delivered back to it")
		return
	}
	if !m.sequence(cv, from, c, out) {
		return
	}
	m.deliver(cv, from, c, out)
}

// decryptFailed explains an application message that did not decrypt.
func (m *Messenger) decryptFailed(cv *conversation, env *sealinev1.Envelope, err error, out *outcome) {
	conv := cv.rec.ConvID
	msg, perr := mls.ParseMLSMessage(env.GetPayload())
	var pm *mls.PrivateMessage
	if perr == nil {
		pm = msg.PrivateMessage
	}
	switch {
	case errors.Is(err, mls.ErrReplay):
		out.warn(conv, WarnReplay, Member{}, "message replayed (its MLS generation was already used)")
	case pm != nil && pm.Epoch < cv.g.Epoch():
		out.warn(conv, WarnReplay, Member{}, fmt.Sprintf("message from past epoch %d replayed or held back", pm.Epoch))
	case pm != nil && pm.Epoch > cv.g.Epoch():
		out.warn(conv, WarnDropped, Member{}, fmt.Sprintf("message from future epoch %d: a commit was withheld", pm.Epoch))
	case pm != nil && len(pm.AuthenticatedData) == 17 && !hmac.Equal(pm.AuthenticatedData, cv.epochTag()):
		out.warn(conv, WarnFork, Member{}, fmt.Sprintf("sender's epoch %d differs from ours: the group was forked", pm.Epoch))
	default:
		out.warn(conv, WarnUndecryptable, Member{}, "message does not decrypt: "+err.Error())
	}
}

// sequence checks c's place in its sender's sequence, records it and
// reports whether to deliver it.
func (m *Messenger) sequence(cv *conversation, from Member, c *Content, out *outcome) bool {
	conv, epoch, now := cv.rec.ConvID, cv.g.Epoch(), m.now()
	k := senderKey{conv, from.String()}
	st := out.b.senders[k] // as an earlier message of this batch left it
	if st == nil {
		var err error
		if st, err = m.senderState(k); err != nil {
			out.warn(conv, WarnUndecryptable, from, err.Error())
			return false
		}
		out.b.senders[k] = st // saved when the batch commits
	}
	v := checkSeq(st, epoch, c, now, m.cfg.ReorderWindow, m.cfg.ReorderWait)
	for _, w := range v.warnings {
		out.warn(conv, w.kind, from, w.detail)
	}
	m.gaps[k] = pendingMissing(st)
	return v.deliver
}

// senderState returns a copy of a sender's committed record, read from
// the local store the first time. m.mu is held.
func (m *Messenger) senderState(k senderKey) (*localstore.SenderState, error) {
	st, ok := m.senders[k]
	if !ok {
		err := m.store.View(func(tx *localstore.Tx) error {
			var err error
			st, err = tx.Sender(k.conv, k.sender)
			return err
		})
		if err != nil {
			return nil, err
		}
		m.senders[k] = st
	}
	cp := st
	cp.Missing = maps.Clone(st.Missing)
	if cp.Missing == nil {
		cp.Missing = map[uint64]time.Time{}
	}
	return &cp, nil
}

type seqWarning struct {
	kind   WarningKind
	detail string
}

type seqVerdict struct {
	deliver  bool
	warnings []seqWarning
}

// declared marks a missing sequence number already reported as dropped.
var declared = time.UnixMilli(1)

func isDeclared(t time.Time) bool { return t.UnixMilli() == 1 }

// checkSeq updates a sender's state with content c received in epoch.
func checkSeq(st *localstore.SenderState, epoch uint64, c *Content, now time.Time, window uint64, wait time.Duration) seqVerdict {
	var v seqVerdict
	if epoch != st.Epoch {
		v.warnings = append(v.warnings, newEpoch(st, epoch, c)...)
	}
	seq := c.Seq
	switch at, missing := st.Missing[seq]; {
	case seq > st.Highest:
		if seq-st.Highest-1 > maxMissing {
			v.warnings = append(v.warnings, seqWarning{WarnDropped, fmt.Sprintf("%d messages missing", seq-st.Highest-1)})
		} else {
			for s := st.Highest + 1; s < seq; s++ {
				st.Missing[s] = now
			}
		}
		st.Highest, v.deliver = seq, true
	case missing && isDeclared(at):
		delete(st.Missing, seq)
		v.warnings = append(v.warnings, seqWarning{WarnReordered, fmt.Sprintf("message %d arrived after it was reported dropped", seq)})
		v.deliver = true
	case missing:
		delete(st.Missing, seq)
		v.deliver = true
	default:
		v.warnings = append(v.warnings, seqWarning{WarnReplay, fmt.Sprintf("message %d of epoch %d delivered twice", seq, epoch)})
	}
	v.warnings = append(v.warnings, expire(st, now, window, wait, false)...)
	return v
}

// newEpoch moves a sender's state to epoch: what was missing in the old
// one is now dropped, and so is any tail the sender's prev_count claims.
func newEpoch(st *localstore.SenderState, epoch uint64, c *Content) []seqWarning {
	var w []seqWarning
	if st.Epoch != 0 || st.Highest != 0 {
		w = expire(st, time.Time{}, 0, 0, true)
		switch {
		case c.PrevEpoch == st.Epoch && c.PrevCount > st.Highest:
			w = append(w, seqWarning{WarnDropped, fmt.Sprintf("last %d messages of epoch %d missing", c.PrevCount-st.Highest, st.Epoch)})
		case c.PrevEpoch > st.Epoch && c.PrevCount > 0:
			w = append(w, seqWarning{WarnDropped, fmt.Sprintf("all %d messages of epoch %d missing", c.PrevCount, c.PrevEpoch)})
		}
	}
	st.Epoch, st.Highest, st.Missing = epoch, 0, map[uint64]time.Time{}
	return w
}

// expire declares dropped the missing numbers that are too far behind or
// too old (all of them if all is set).
func expire(st *localstore.SenderState, now time.Time, window uint64, wait time.Duration, all bool) []seqWarning {
	var dropped []uint64
	for s, at := range st.Missing {
		if isDeclared(at) {
			if st.Highest-s > maxMissing {
				delete(st.Missing, s)
			}
			continue
		}
		if all || st.Highest-s > window || now.Sub(at) >= wait {
			st.Missing[s] = declared
			dropped = append(dropped, s)
		}
	}
	if len(dropped) == 0 {
		return nil
	}
	sort.Slice(dropped, func(i, j int) bool { return dropped[i] < dropped[j] })
	return []seqWarning{{WarnDropped, fmt.Sprintf("messages %v of epoch %d never arrived", dropped, st.Epoch)}}
}

// pendingMissing reports whether st has missing numbers not yet declared.
func pendingMissing(st *localstore.SenderState) bool {
	for _, at := range st.Missing {
		if !isDeclared(at) {
			return true
		}
	}
	return false
}

// watchGaps declares overdue missing messages dropped while Run runs.
func (m *Messenger) watchGaps(ctx context.Context) {
	t := time.NewTicker(max(m.cfg.ReorderWait/4, 50*time.Millisecond))
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			m.checkGaps(ctx, false)
		}
	}
}

// checkGaps expires the missing messages of every sender with a gap; all
// declares them dropped at once (the server said it is caught up).
func (m *Messenger) checkGaps(ctx context.Context, all bool) {
	m.mu.Lock()
	var events []Event
	now := m.now()
	written := map[senderKey]localstore.SenderState{}
	err := m.store.Update(func(tx *localstore.Tx) error {
		for k, pending := range m.gaps {
			if !pending {
				delete(m.gaps, k)
				continue
			}
			st, err := tx.Sender(k.conv, k.sender)
			if err != nil {
				return err
			}
			for _, w := range expire(&st, now, m.cfg.ReorderWindow, m.cfg.ReorderWait, all) {
				from, _ := parseIdentity(mls.Credential{Type: mls.CredentialBasic, Identity: []byte(k.sender)})
				events = append(events, &SecurityWarning{ConvID: k.conv, Kind: w.kind, Sender: from, Detail: w.detail})
			}
			m.gaps[k] = pendingMissing(&st)
			if err := tx.PutSender(k.conv, k.sender, st); err != nil {
				return err
			}
			written[k] = st
		}
		return nil
	})
	for k, st := range written { // what the cache holds must be what is committed
		if err == nil {
			m.senders[k] = st
		} else {
			delete(m.senders, k)
		}
	}
	m.mu.Unlock()
	if err != nil {
		return
	}
	for _, ev := range events {
		m.emit(ctx, ev)
	}
}

// deliver turns a checked content into events and stored history.
func (m *Messenger) deliver(cv *conversation, from Member, c *Content, out *outcome) {
	conv := cv.rec.ConvID
	switch c.Kind {
	case ContentText, ContentAttachment:
		ev := &MessageEvent{Message: Message{ConvID: conv, ID: c.ID, From: from, Seq: c.Seq, SentAt: c.SentAt,
			ReceivedAt: m.now(), Text: c.Text, Attachment: c.Attachment}}
		// The write runs before the event is delivered: one copy serves both.
		out.write(func(tx *localstore.Tx) error { return m.storeMessage(tx, ev.Message) })
		out.emit(ev)
		if m.cfg.DeliveryReceipts && cv.rec.Direct && c.Kind == ContentText {
			out.after = append(out.after, func(ctx context.Context) {
				go m.MarkDelivered(context.WithoutCancel(ctx), conv, c.ID)
			})
		}
	case ContentReceipt:
		out.emit(&ReceiptEvent{ConvID: conv, From: from, Kind: c.Receipt, IDs: c.ReceiptIDs})
	case ContentTyping:
		out.emit(&TypingEvent{ConvID: conv, From: from, Typing: c.Typing})
	case ContentGroupName:
		if !cv.rec.Direct {
			cv.rec.Name = c.Name
			out.save(cv)
			out.emit(&RenamedEvent{ConvID: conv, By: from, Name: c.Name})
		}
	case ContentEpochCheck:
		if c.Epoch != cv.g.Epoch() || !hmac.Equal(c.Auth, cv.g.EpochAuthenticator()) {
			out.warn(conv, WarnFork, from, fmt.Sprintf("epoch %d authenticator differs from ours: the group was forked", c.Epoch))
		}
	}
}
