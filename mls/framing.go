package mls

import (
	"bytes"
	"crypto/hmac"
	"crypto/subtle"
	"fmt"
	"io"
)

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

// signerKey returns the signature key that must have signed c, or an
// error wrapping ErrUnknownSender. The group supplies it from the
// ratchet tree, the external_senders extension or the content itself.
type signerKey func(c *FramedContent) (SignaturePublicKey, error)

// framer protects and unprotects messages in one epoch.
type framer struct {
	s                *suite
	gc               *GroupContext
	membershipKey    secret
	senderDataSecret secret
	tree             *secretTree
	rand             io.Reader
	paddingBlock     int // PrivateMessageContent is padded to a multiple of this; 0 = none
}

// sign frames content for wire format wf and signs it with k.
func (f *framer) sign(content FramedContent, wf WireFormat, k *SignaturePrivateKey) (*AuthenticatedContent, error) {
	ac := &AuthenticatedContent{WireFormat: wf, Content: content}
	if err := f.s.signContent(ac, f.gc, k); err != nil {
		return nil, fmt.Errorf("sign content: %w", err)
	}
	return ac, nil
}

// membershipTag is MAC(membership_key, AuthenticatedContentTBM).
func (f *framer) membershipTag(ac *AuthenticatedContent) ([]byte, error) {
	tbs, err := ac.tbs(f.gc)
	if err != nil {
		return nil, err
	}
	w := writer{b: tbs}
	ac.Auth.encode(&w, ac.Content.ContentType)
	return f.s.mac(f.membershipKey, w.b), nil
}

// protectPublic turns signed content into a PublicMessage. Application
// data is refused: it must be encrypted (RFC 9420, Section 6).
func (f *framer) protectPublic(ac *AuthenticatedContent) (*PublicMessage, error) {
	if ac.WireFormat != WireFormatPublicMessage || ac.Content.ContentType == ContentApplication {
		return nil, fmt.Errorf("%w: %d content as public message", ErrInvalidContent, ac.Content.ContentType)
	}
	pm := &PublicMessage{Content: ac.Content, Auth: ac.Auth}
	if ac.Content.Sender.Type == SenderMember {
		tag, err := f.membershipTag(ac)
		if err != nil {
			return nil, err
		}
		pm.MembershipTag = tag
	}
	return pm, nil
}

// checkEpoch rejects content for another group or epoch.
func (f *framer) checkEpoch(groupID []byte, epoch uint64) error {
	if !bytes.Equal(groupID, f.gc.GroupID) {
		return ErrWrongGroup
	}
	if epoch != f.gc.Epoch {
		return fmt.Errorf("%w: message epoch %d, group epoch %d", ErrWrongEpoch, epoch, f.gc.Epoch)
	}
	return nil
}

// unprotectPublic checks a PublicMessage's group, epoch, membership tag
// and signature and returns its content.
func (f *framer) unprotectPublic(pm *PublicMessage, key signerKey) (*AuthenticatedContent, error) {
	if err := f.checkEpoch(pm.Content.GroupID, pm.Content.Epoch); err != nil {
		return nil, err
	}
	if pm.Content.ContentType == ContentApplication {
		return nil, fmt.Errorf("%w: application data in a public message", ErrInvalidContent)
	}
	ac := &AuthenticatedContent{WireFormat: WireFormatPublicMessage, Content: pm.Content, Auth: pm.Auth}
	if pm.Content.Sender.Type == SenderMember {
		tag, err := f.membershipTag(ac)
		if err != nil {
			return nil, err
		}
		if !hmac.Equal(tag, pm.MembershipTag) {
			return nil, ErrBadMembershipTag
		}
	}
	if err := f.verify(ac, key); err != nil {
		return nil, err
	}
	return ac, nil
}

// verify checks ac's signature under the key its sender must use.
func (f *framer) verify(ac *AuthenticatedContent, key signerKey) error {
	pub, err := key(&ac.Content)
	if err != nil {
		return err
	}
	if err := f.s.verifyContent(ac, f.gc, pub); err != nil {
		return fmt.Errorf("content from sender %d/%d: %w", ac.Content.Sender.Type, ac.Content.Sender.Index, err)
	}
	return nil
}

func ratchetFor(ct ContentType) ratchetKind {
	if ct == ContentApplication {
		return applicationRatchet
	}
	return handshakeRatchet
}

// senderData is SenderData: who sent a PrivateMessage and with which key.
type senderData struct {
	leaf       LeafIndex
	generation uint32
	reuseGuard [4]byte
}

// privateAAD encodes PrivateContentAAD, or SenderDataAAD when
// withAuthData is false.
func privateAAD(m *PrivateMessage, withAuthData bool) []byte {
	var w writer
	w.Opaque(m.GroupID)
	w.Uint64(m.Epoch)
	w.Uint8(uint8(m.ContentType))
	if withAuthData {
		w.Opaque(m.AuthenticatedData)
	}
	return w.b
}

// protectPrivate encrypts signed member content into a PrivateMessage,
// consuming the next generation of the sender's ratchet.
func (f *framer) protectPrivate(ac *AuthenticatedContent) (*PrivateMessage, error) {
	c := &ac.Content
	if ac.WireFormat != WireFormatPrivateMessage || c.Sender.Type != SenderMember {
		return nil, fmt.Errorf("%w: private message from sender type %d", ErrInvalidContent, c.Sender.Type)
	}
	plaintext, err := f.privateContent(ac)
	if err != nil {
		return nil, err
	}
	sd := senderData{leaf: LeafIndex(c.Sender.Index)}
	if _, err := io.ReadFull(f.rand, sd.reuseGuard[:]); err != nil {
		return nil, fmt.Errorf("reuse guard: %w", err)
	}
	kn, err := f.tree.nextSendKey(sd.leaf, ratchetFor(c.ContentType))
	if err != nil {
		return nil, err
	}
	sd.generation = kn.generation
	m := &PrivateMessage{GroupID: c.GroupID, Epoch: c.Epoch, ContentType: c.ContentType, AuthenticatedData: c.AuthenticatedData}
	if m.Ciphertext, err = f.sealInPlace(kn.key, guardNonce(kn.nonce, sd.reuseGuard), privateAAD(m, true), plaintext); err != nil {
		return nil, err
	}
	if m.EncryptedSenderData, err = f.sealSenderData(m, &sd); err != nil {
		return nil, err
	}
	return m, nil
}

// privateContent encodes PrivateMessageContent with zero padding.
func (f *framer) privateContent(ac *AuthenticatedContent) ([]byte, error) {
	w := writer{b: make([]byte, 0, ac.Content.sizeHint()+len(ac.Auth.Signature)+f.paddingBlock+80)}
	ac.Content.encodeBody(&w)
	ac.Auth.encode(&w, ac.Content.ContentType)
	if f.paddingBlock > 0 {
		w.Raw(make([]byte, (f.paddingBlock-len(w.b)%f.paddingBlock)%f.paddingBlock))
	}
	return w.Bytes()
}

// guardNonce XORs the reuse guard into the first four nonce bytes.
func guardNonce(nonce []byte, guard [4]byte) []byte {
	out := bytes.Clone(nonce)
	subtle.XORBytes(out[:4], out[:4], guard[:])
	return out
}

func (f *framer) seal(key, nonce, aad, plaintext []byte) ([]byte, error) {
	aead, err := f.s.aead(key)
	if err != nil {
		return nil, err
	}
	return aead.Seal(nil, nonce, plaintext, aad), nil
}

// sealInPlace encrypts plaintext over itself; it must have room for the
// tag in its capacity to avoid a copy.
func (f *framer) sealInPlace(key, nonce, aad, plaintext []byte) ([]byte, error) {
	aead, err := f.s.aead(key)
	if err != nil {
		return nil, err
	}
	return aead.Seal(plaintext[:0], nonce, plaintext, aad), nil
}

func (f *framer) open(key, nonce, aad, ciphertext []byte) ([]byte, error) {
	aead, err := f.s.aead(key)
	if err != nil {
		return nil, err
	}
	pt, err := aead.Open(nil, nonce, ciphertext, aad)
	if err != nil {
		return nil, ErrDecrypt
	}
	return pt, nil
}

func (f *framer) sealSenderData(m *PrivateMessage, sd *senderData) ([]byte, error) {
	key, nonce, err := f.s.senderDataKeyNonce(f.senderDataSecret, m.Ciphertext)
	if err != nil {
		return nil, err
	}
	var w writer
	w.Uint32(uint32(sd.leaf))
	w.Uint32(sd.generation)
	w.Raw(sd.reuseGuard[:])
	return f.seal(key, nonce, privateAAD(m, false), w.b)
}

func (f *framer) openSenderData(m *PrivateMessage) (senderData, error) {
	var sd senderData
	key, nonce, err := f.s.senderDataKeyNonce(f.senderDataSecret, m.Ciphertext)
	if err != nil {
		return sd, err
	}
	pt, err := f.open(key, nonce, privateAAD(m, false), m.EncryptedSenderData)
	if err != nil {
		return sd, fmt.Errorf("sender data: %w", err)
	}
	err = unmarshal(pt, func(r *reader) {
		sd.leaf, sd.generation = LeafIndex(r.Uint32()), r.Uint32()
		copy(sd.reuseGuard[:], r.take(4))
	})
	return sd, err
}

// unprotectPrivate decrypts and verifies a PrivateMessage. The sender's
// ratchet advances only if the content decrypts, parses and verifies, so
// a bad message changes no state.
func (f *framer) unprotectPrivate(m *PrivateMessage, key signerKey) (*AuthenticatedContent, error) {
	ac, u, err := f.openPrivate(m, key)
	if err != nil {
		return nil, err
	}
	return ac, f.tree.apply(u)
}

// openPrivate decrypts and verifies a PrivateMessage without changing
// any state; applying the returned update to f.tree consumes its key.
func (f *framer) openPrivate(m *PrivateMessage, key signerKey) (*AuthenticatedContent, *ratchetUpdate, error) {
	if err := f.checkEpoch(m.GroupID, m.Epoch); err != nil {
		return nil, nil, err
	}
	sd, err := f.openSenderData(m)
	if err != nil {
		return nil, nil, err
	}
	kn, update, err := f.tree.receiveKey(sd.leaf, ratchetFor(m.ContentType), sd.generation)
	if err != nil {
		return nil, nil, err
	}
	pt, err := f.open(kn.key, guardNonce(kn.nonce, sd.reuseGuard), privateAAD(m, true), m.Ciphertext)
	if err != nil {
		return nil, nil, fmt.Errorf("content: %w", err)
	}
	ac := &AuthenticatedContent{WireFormat: WireFormatPrivateMessage, Content: FramedContent{
		GroupID: m.GroupID, Epoch: m.Epoch, Sender: Sender{Type: SenderMember, Index: uint32(sd.leaf)},
		AuthenticatedData: m.AuthenticatedData, ContentType: m.ContentType,
	}}
	if err := decodePrivateContent(pt, ac); err != nil {
		return nil, nil, err
	}
	if err := f.verify(ac, key); err != nil {
		return nil, nil, err
	}
	return ac, update, nil
}

// decodePrivateContent parses PrivateMessageContent into ac; the padding
// must be all zero bytes (RFC 9420, Section 6.3.1).
func decodePrivateContent(pt []byte, ac *AuthenticatedContent) error {
	r := newReader(pt)
	r.alias = true // pt is a fresh buffer owned by the result
	ac.Content.decodeBody(r)
	ac.Auth = decodeAuthData(r, ac.Content.ContentType)
	if err := r.Err(); err != nil {
		return fmt.Errorf("private content: %w", err)
	}
	for _, b := range r.b {
		if b != 0 {
			return fmt.Errorf("%w: non-zero padding", ErrMalformed)
		}
	}
	return nil
}
