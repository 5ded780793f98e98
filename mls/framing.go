package mls

import "fmt"

// PublicMessage is a signed, unencrypted message. Member senders add a
// membership tag, a MAC under the epoch's membership key, so that only
// members can produce one even if a signature key leaks outside the
// group.
type PublicMessage struct {
	Content       FramedContent
	Auth          FramedContentAuthData
	MembershipTag []byte // SenderMember only
}

func (m *PublicMessage) encode(w *writer) {
	m.Content.encode(w)
	m.Auth.encode(w, m.Content.ContentType)
	if m.Content.Sender.Type == SenderMember {
		w.Opaque(m.MembershipTag)
	}
}

func decodePublicMessage(r *reader) PublicMessage {
	m := PublicMessage{Content: decodeFramedContent(r)}
	m.Auth = decodeAuthData(r, m.Content.ContentType)
	if m.Content.Sender.Type == SenderMember {
		m.MembershipTag = r.Opaque()
	}
	return m
}

// PrivateMessage is a signed and encrypted message; its sender and
// generation are encrypted too (RFC 9420, Section 6.3).
type PrivateMessage struct {
	GroupID             []byte
	Epoch               uint64
	ContentType         ContentType
	AuthenticatedData   []byte
	EncryptedSenderData []byte
	Ciphertext          []byte
}

func (m *PrivateMessage) encode(w *writer) {
	w.Opaque(m.GroupID)
	w.Uint64(m.Epoch)
	w.Uint8(uint8(m.ContentType))
	w.Opaque(m.AuthenticatedData)
	w.Opaque(m.EncryptedSenderData)
	w.Opaque(m.Ciphertext)
}

func decodePrivateMessage(r *reader) PrivateMessage {
	m := PrivateMessage{GroupID: r.Opaque(), Epoch: r.Uint64(), ContentType: ContentType(r.Uint8())}
	if (m.ContentType < ContentApplication || m.ContentType > ContentCommit) && r.Err() == nil {
		r.fail(fmt.Errorf("%w: content type %d", ErrMalformed, m.ContentType))
	}
	m.AuthenticatedData = r.Opaque()
	m.EncryptedSenderData = r.Opaque()
	m.Ciphertext = r.Opaque()
	return m
}
