package client

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"

	"connectrpc.com/connect"

	sealinev1 "github.com/sealine/sealine/api/sealine/v1"
	"github.com/sealine/sealine/client/attachment"
	"github.com/sealine/sealine/client/localstore"
)

// sendAttempts bounds the retries of one Send after transport failures
// (each with the same client_message_id and ciphertext, so the server
// stores it once).
const sendAttempts = 4

// Send encrypts text for a conversation and returns once the server has
// stored it for every other member device. The message is kept in the
// local history. Concurrent calls are sent together (see outbox.go), so
// a device with many messages to send calls Send from several goroutines.
func (m *Messenger) Send(ctx context.Context, convID, text string) (MessageID, error) {
	c := &Content{Kind: ContentText, Text: text}
	if len(text) > maxTextLen {
		return MessageID{}, fmt.Errorf("%w: text longer than %d bytes", ErrInvalidInput, maxTextLen)
	}
	err := m.enqueue(ctx, convID, c, true)
	return c.ID, err
}

// SendAttachment sends an uploaded attachment's metadata (see
// Client.UploadAttachment) to a conversation.
func (m *Messenger) SendAttachment(ctx context.Context, convID string, md attachment.Metadata) (MessageID, error) {
	c := &Content{Kind: ContentAttachment, Attachment: &md}
	err := m.enqueue(ctx, convID, c, true)
	return c.ID, err
}

// Rename sets a group conversation's name for every member (a name is
// advisory: any member may change it).
func (m *Messenger) Rename(ctx context.Context, convID, name string) error {
	if len(name) > maxNameLen {
		return fmt.Errorf("%w: name longer than %d bytes", ErrInvalidInput, maxNameLen)
	}
	if err := m.checkNotDirect(convID); err != nil {
		return err
	}
	m.op.Lock()
	defer m.op.Unlock()
	if err := m.sendLocked(ctx, convID, &Content{Kind: ContentGroupName, Name: name}, false); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	cv, err := m.liveLocked(convID)
	if err != nil {
		return err
	}
	cv.rec.Name = name
	return m.saveGroup(cv)
}

// MarkRead sends a read receipt for messages of a conversation.
func (m *Messenger) MarkRead(ctx context.Context, convID string, ids ...MessageID) error {
	return m.receipt(ctx, convID, ReceiptRead, ids)
}

// MarkDelivered sends a delivery receipt for messages of a conversation.
func (m *Messenger) MarkDelivered(ctx context.Context, convID string, ids ...MessageID) error {
	return m.receipt(ctx, convID, ReceiptDelivered, ids)
}

func (m *Messenger) receipt(ctx context.Context, convID string, kind ReceiptKind, ids []MessageID) error {
	if len(ids) == 0 || len(ids) > maxReceiptIDs {
		return fmt.Errorf("%w: 1..%d message ids", ErrInvalidInput, maxReceiptIDs)
	}
	m.op.Lock()
	defer m.op.Unlock()
	return m.sendLocked(ctx, convID, &Content{Kind: ContentReceipt, Receipt: kind, ReceiptIDs: ids}, false)
}

// SetTyping tells a conversation that this user started or stopped typing.
func (m *Messenger) SetTyping(ctx context.Context, convID string, typing bool) error {
	m.op.Lock()
	defer m.op.Unlock()
	return m.sendLocked(ctx, convID, &Content{Kind: ContentTyping, Typing: typing}, false)
}

// sendLocked sends c, re-encrypting after stale_epoch. keep stores it in
// the history. m.op must be held.
func (m *Messenger) sendLocked(ctx context.Context, convID string, c *Content, keep bool) error {
	c.SentAt = m.now()
	var err error
	if c.ID, err = m.newMessageID(c.SentAt); err != nil {
		return err
	}
	cmid := make([]byte, 16)
	if _, err := io.ReadFull(m.c.rand, cmid); err != nil {
		return fmt.Errorf("send: %w", err)
	}
	for range m.cfg.CommitRetries {
		req, undo, err := m.encrypt(convID, c, cmid, keep)
		if err != nil {
			return err
		}
		err = m.deliverSend(ctx, req)
		var refusal *Error
		if err == nil || !errors.As(err, &refusal) {
			// Sent, or perhaps sent: its sequence number stays used and
			// it stays in the history either way.
			return err
		}
		if uerr := undo(); uerr != nil {
			return fmt.Errorf("send: %w", errors.Join(err, uerr))
		}
		if !errors.Is(err, ErrStaleEpoch) {
			return fmt.Errorf("send: %w", err)
		}
		if err := m.waitEpoch(ctx, convID, req.GetEpoch()); err != nil {
			return err
		}
	}
	return ErrTooManyRetries
}

// newMessageID returns a new message id: at in Unix milliseconds (6
// bytes, big-endian), then 10 random bytes. Ids that grow with time are
// added at the end of each conversation's id index in the local store,
// where random ones would each dirty a page of their own (twice the
// store's CPU per message, and growing with the history); 80 random bits
// keep the messages of one millisecond apart. Only the conversation's
// members see the id, inside the encrypted content, next to the same
// time in SentAt.
func (m *Messenger) newMessageID(at time.Time) (MessageID, error) {
	var id MessageID
	var ms [8]byte
	binary.BigEndian.PutUint64(ms[:], uint64(at.UnixMilli()))
	copy(id[:6], ms[2:])
	if _, err := io.ReadFull(m.c.rand, id[6:]); err != nil {
		return id, fmt.Errorf("send: %w", err)
	}
	return id, nil
}

// encrypt numbers c in the current epoch, encrypts it and, before it
// leaves, saves in one local transaction the consumed MLS generation, the
// send counters and (if keep) the message. undo takes the counters and
// the message back after the server refused it, so that receivers see no
// gap in this device's sequence.
func (m *Messenger) encrypt(convID string, c *Content, cmid []byte, keep bool) (*sealinev1.SendRequest, func() error, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	cv, err := m.liveLocked(convID)
	if err != nil {
		return nil, nil, err
	}
	prev := countersOf(&cv.rec)
	req, err := m.seal(cv, c, cmid)
	if err != nil {
		return nil, nil, err
	}
	err = m.store.Update(func(tx *localstore.Tx) error {
		if keep {
			if err := m.storeMessage(tx, outgoingMessage(m.me, convID, c)); err != nil {
				return err
			}
		}
		return m.putGroup(tx, cv)
	})
	if err != nil { // the generation stays consumed in memory: never reused
		prev.set(&cv.rec)
		return nil, nil, err
	}
	undo := func() error {
		m.mu.Lock()
		defer m.mu.Unlock()
		if m.groups[convID] != cv {
			return nil // gone meanwhile
		}
		prev.set(&cv.rec)
		return m.store.Update(func(tx *localstore.Tx) error {
			if keep {
				if err := tx.DeleteMessage(convID, c.ID[:]); err != nil {
					return err
				}
			}
			return m.putGroup(tx, cv)
		})
	}
	return req, undo, nil
}

// seal numbers c as cv's next message in its current epoch (advancing
// the send counters in memory) and encrypts it; on error the counters are
// as before. m.mu must be held.
func (m *Messenger) seal(cv *conversation, c *Content, cmid []byte) (*sealinev1.SendRequest, error) {
	prev, epoch := countersOf(&cv.rec), cv.g.Epoch()
	rec := &cv.rec
	if rec.SendEpoch != epoch {
		if rec.SendSeq > 0 {
			rec.PrevEpoch, rec.PrevCount = rec.SendEpoch, rec.SendSeq
		}
		rec.SendEpoch, rec.SendSeq = epoch, 0
	}
	rec.SendSeq++
	c.Seq, c.PrevEpoch, c.PrevCount = rec.SendSeq, rec.PrevEpoch, rec.PrevCount
	if c.Kind == ContentEpochCheck { // the epoch it is encrypted in
		c.Epoch, c.Auth = epoch, cv.g.EpochAuthenticator()
	}
	plain, err := marshalContent(c)
	if err != nil {
		prev.set(rec)
		return nil, err
	}
	wire, err := cv.g.Encrypt(plain, cv.epochTag())
	if err != nil {
		prev.set(rec)
		return nil, fmt.Errorf("send: %w", err)
	}
	return &sealinev1.SendRequest{ConversationId: cv.rec.ConvID, ClientMessageId: cmid, Epoch: epoch, Message: wire}, nil
}

// outgoingMessage is the history entry of c sent by me.
func outgoingMessage(me Member, convID string, c *Content) Message {
	return Message{ConvID: convID, ID: c.ID, From: me, Outgoing: true, Seq: c.Seq, SentAt: c.SentAt,
		ReceivedAt: c.SentAt, Text: c.Text, Attachment: c.Attachment}
}

// deliverSend sends req, retrying transport failures with the same bytes.
func (m *Messenger) deliverSend(ctx context.Context, req *sealinev1.SendRequest) error {
	var err error
	for attempt := range sendAttempts {
		if attempt > 0 && !sleep(ctx, m.cfg.MinBackoff<<attempt) {
			return ctx.Err()
		}
		_, err = call(ctx, m.c, connect.NewRequest(req), m.msgs.Send)
		var refusal *Error
		if err == nil || errors.As(err, &refusal) || ctx.Err() != nil {
			return rpcErr(err)
		}
	}
	return err
}

// storedBody is the sealed JSON body of a stored message.
type storedBody struct {
	Text       string `json:"text,omitempty"`
	Attachment []byte `json:"attachment,omitempty"` // attachment.Metadata's encoding
	Outgoing   bool   `json:"outgoing,omitempty"`
}

func (m *Messenger) storeMessage(tx *localstore.Tx, msg Message) error {
	b := storedBody{Text: msg.Text, Outgoing: msg.Outgoing}
	if msg.Attachment != nil {
		var err error
		if b.Attachment, err = msg.Attachment.MarshalBinary(); err != nil {
			return err
		}
	}
	body, err := json.Marshal(b)
	if err != nil {
		return err
	}
	kind := ContentText
	if msg.Attachment != nil {
		kind = ContentAttachment
	}
	// Written with the transaction's other messages; the same id twice
	// in a conversation keeps the first.
	return tx.QueueMessage(localstore.Message{ConvID: msg.ConvID, ID: msg.ID[:], Sender: msg.From.String(), Seq: msg.Seq,
		Kind: int(kind), SentAt: msg.SentAt, ReceivedAt: msg.ReceivedAt, Body: body})
}

// History returns the last limit messages of a conversation, oldest first.
func (m *Messenger) History(convID string, limit int) ([]Message, error) {
	var out []Message
	err := m.store.View(func(tx *localstore.Tx) error {
		rows, err := tx.Messages(convID, limit)
		if err != nil {
			return err
		}
		for _, r := range rows {
			var b storedBody
			if err := json.Unmarshal(r.Body, &b); err != nil {
				return fmt.Errorf("history: %w", err)
			}
			from, _ := parseIdentity(credentialOf(r.Sender))
			msg := Message{ConvID: convID, From: from, Outgoing: b.Outgoing, Seq: r.Seq, SentAt: r.SentAt,
				ReceivedAt: r.ReceivedAt, Text: b.Text}
			if b.Attachment != nil {
				md, err := attachment.ParseMetadata(b.Attachment)
				if err != nil {
					return fmt.Errorf("history: %w", err)
				}
				msg.Attachment = &md
			}
			copy(msg.ID[:], r.ID)
			out = append(out, msg)
		}
		return nil
	})
	return out, err
}
