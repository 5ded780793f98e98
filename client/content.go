package client

import (
	"encoding/binary"
	"errors"
	"time"

	"golang.org/x/crypto/cryptobyte"

	"github.com/sealine/sealine/client/attachment"
)

// Content is what travels inside an MLS application message (the
// PrivateMessage's application_data). Its wire form, version 1:
//
//	version uint8 (1) | kind uint8 | id [16] | seq uint64 |
//	prev_epoch uint64 | prev_count uint64 | sent_at int64 (Unix ms) | body
//	  text         text<uint24> (UTF-8)
//	  receipt      receipt uint8 (1 delivered, 2 read) | ids<uint16> ([16] each)
//	  typing       typing uint8 (0 stopped, 1 typing)
//	  attachment   metadata<uint16> (attachment.Metadata's encoding)
//	  epoch-check  epoch uint64 | authenticator<uint8>
//	  group-name   name<uint16> (UTF-8, <= 256 bytes)
//
// seq counts every content a device sends in one epoch of a
// conversation, starting at 1; prev_count says how many it sent in
// prev_epoch, the last earlier epoch it sent in (0, 0 if none). Every
// member of an epoch must see every message of that epoch, so receivers
// detect replayed, dropped and reordered messages, including a dropped
// first or last message of an epoch, although MLS hides its generations.
type Content struct {
	Kind   ContentKind
	ID     MessageID
	Seq    uint64
	SentAt time.Time
	// PrevEpoch and PrevCount describe the sender's previous epoch.
	PrevEpoch, PrevCount uint64

	Text       string               // ContentText
	Receipt    ReceiptKind          // ContentReceipt
	ReceiptIDs []MessageID          // ContentReceipt
	Typing     bool                 // ContentTyping
	Attachment *attachment.Metadata // ContentAttachment
	Epoch      uint64               // ContentEpochCheck
	Auth       []byte               // ContentEpochCheck: the sender's epoch authenticator
	Name       string               // ContentGroupName
}

// MessageID is a message's 16-byte id, chosen by its sender: its send time
// in milliseconds (6 bytes), then 10 random bytes (newMessageID).
type MessageID [16]byte

// ContentKind says what a Content carries.
type ContentKind uint8

// Content kinds.
const (
	ContentText       ContentKind = 1
	ContentReceipt    ContentKind = 2
	ContentTyping     ContentKind = 3
	ContentAttachment ContentKind = 4
	ContentEpochCheck ContentKind = 5
	ContentGroupName  ContentKind = 6
)

// ReceiptKind says whether a receipt reports delivery or reading.
type ReceiptKind uint8

// Receipt kinds.
const (
	ReceiptDelivered ReceiptKind = 1
	ReceiptRead      ReceiptKind = 2
)

const contentVersion = 1

// Limits on decoded content.
const (
	maxTextLen    = 64 << 10
	maxReceiptIDs = 1024
	maxAuthLen    = 64
	maxNameLen    = 256
)

// ErrBadContent reports a content that does not decode.
var ErrBadContent = errors.New("malformed message content")

// marshalContent encodes c.
func marshalContent(c *Content) ([]byte, error) {
	if c.Kind == ContentText {
		return marshalText(c)
	}
	var b cryptobyte.Builder
	b.AddUint8(contentVersion)
	b.AddUint8(uint8(c.Kind))
	b.AddBytes(c.ID[:])
	b.AddUint64(c.Seq)
	b.AddUint64(c.PrevEpoch)
	b.AddUint64(c.PrevCount)
	b.AddUint64(uint64(c.SentAt.UnixMilli()))
	switch c.Kind {
	case ContentReceipt:
		b.AddUint8(uint8(c.Receipt))
		b.AddUint16LengthPrefixed(func(b *cryptobyte.Builder) {
			for _, id := range c.ReceiptIDs {
				b.AddBytes(id[:])
			}
		})
	case ContentTyping:
		b.AddUint8(boolByte(c.Typing))
	case ContentAttachment:
		addAttachment(&b, c.Attachment)
	case ContentEpochCheck:
		b.AddUint64(c.Epoch)
		b.AddUint8LengthPrefixed(func(b *cryptobyte.Builder) { b.AddBytes(c.Auth) })
	case ContentGroupName:
		b.AddUint16LengthPrefixed(func(b *cryptobyte.Builder) { b.AddBytes([]byte(c.Name)) })
	default:
		return nil, ErrBadContent
	}
	return b.Bytes()
}

// contentHeaderSize is the size of a content before its body.
const contentHeaderSize = 2 + len(MessageID{}) + 4*8

// marshalText is marshalContent for a text, the content of nearly every
// message, in one allocation.
func marshalText(c *Content) ([]byte, error) {
	n := len(c.Text)
	if n >= 1<<24 {
		return nil, ErrBadContent
	}
	b := make([]byte, 0, contentHeaderSize+3+n)
	b = append(b, contentVersion, uint8(c.Kind))
	b = append(b, c.ID[:]...)
	for _, v := range [...]uint64{c.Seq, c.PrevEpoch, c.PrevCount, uint64(c.SentAt.UnixMilli())} {
		b = binary.BigEndian.AppendUint64(b, v)
	}
	b = append(b, byte(n>>16), byte(n>>8), byte(n))
	return append(b, c.Text...), nil
}

func boolByte(v bool) uint8 {
	if v {
		return 1
	}
	return 0
}

func addAttachment(b *cryptobyte.Builder, md *attachment.Metadata) {
	if md == nil {
		b.SetError(ErrBadContent)
		return
	}
	raw, err := md.MarshalBinary()
	if err != nil {
		b.SetError(err)
		return
	}
	b.AddUint16LengthPrefixed(func(b *cryptobyte.Builder) { b.AddBytes(raw) })
}

// parseContent decodes a Content strictly: known version and kind, bounded
// lengths, no trailing bytes.
func parseContent(data []byte) (*Content, error) {
	s := cryptobyte.String(data)
	var version, kind uint8
	var sent uint64
	c := new(Content)
	if !s.ReadUint8(&version) || version != contentVersion || !s.ReadUint8(&kind) ||
		!s.CopyBytes(c.ID[:]) || !s.ReadUint64(&c.Seq) || !s.ReadUint64(&c.PrevEpoch) ||
		!s.ReadUint64(&c.PrevCount) || !s.ReadUint64(&sent) {
		return nil, ErrBadContent
	}
	c.Kind, c.SentAt = ContentKind(kind), time.UnixMilli(int64(sent))
	if !parseBody(&s, c) || !s.Empty() || c.Seq == 0 {
		return nil, ErrBadContent
	}
	return c, nil
}

func parseBody(s *cryptobyte.String, c *Content) bool {
	switch c.Kind {
	case ContentText:
		var text cryptobyte.String
		if !s.ReadUint24LengthPrefixed(&text) || len(text) > maxTextLen {
			return false
		}
		c.Text = string(text)
		return true
	case ContentReceipt:
		return parseReceipt(s, c)
	case ContentTyping:
		var v uint8
		if !s.ReadUint8(&v) || v > 1 {
			return false
		}
		c.Typing = v == 1
		return true
	case ContentAttachment:
		return parseAttachment(s, c)
	case ContentEpochCheck:
		var auth cryptobyte.String
		if !s.ReadUint64(&c.Epoch) || !s.ReadUint8LengthPrefixed(&auth) || len(auth) == 0 || len(auth) > maxAuthLen {
			return false
		}
		c.Auth = []byte(auth)
		return true
	case ContentGroupName:
		var name cryptobyte.String
		if !s.ReadUint16LengthPrefixed(&name) || len(name) > maxNameLen {
			return false
		}
		c.Name = string(name)
		return true
	}
	return false
}

func parseReceipt(s *cryptobyte.String, c *Content) bool {
	var kind uint8
	var ids cryptobyte.String
	if !s.ReadUint8(&kind) || (kind != uint8(ReceiptDelivered) && kind != uint8(ReceiptRead)) ||
		!s.ReadUint16LengthPrefixed(&ids) || len(ids)%16 != 0 || len(ids) == 0 || len(ids)/16 > maxReceiptIDs {
		return false
	}
	c.Receipt = ReceiptKind(kind)
	for !ids.Empty() {
		var id MessageID
		ids.CopyBytes(id[:])
		c.ReceiptIDs = append(c.ReceiptIDs, id)
	}
	return true
}

func parseAttachment(s *cryptobyte.String, c *Content) bool {
	var raw cryptobyte.String
	if !s.ReadUint16LengthPrefixed(&raw) {
		return false
	}
	md, err := attachment.ParseMetadata(raw)
	if err != nil {
		return false
	}
	c.Attachment = &md
	return true
}
