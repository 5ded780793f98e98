package mls

import (
	"bytes"
	"crypto/hmac"
	"crypto/subtle"
	"encoding/binary"
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
//
// It owns scratch buffers that every message reuses, so that sending
// and receiving allocate little; like the Group that holds it, a framer
// is not safe for concurrent use. Nothing returned to a caller aliases
// them, and the ones that held content are zeroed after use.
type framer struct {
	s                *suite
	gc               *GroupContext
	membershipKey    secret
	senderDataSecret secret
	tree             *secretTree
	rand             io.Reader
	paddingBlock     int // PrivateMessageContent is padded to a multiple of this; 0 = none

	scratch writer   // the labelled FramedContentTBS, then the padded PrivateMessageContent
	aad     []byte   // SenderDataAAD or PrivateContentAAD of a message received
	nonce   [12]byte // the reuse-guarded content nonce (Nn is 12 in every suite)
	sd      [32]byte // SenderData in the clear (12 bytes), with room for the tag on open
}

// sign frames content for wire format wf and signs it with k.
func (f *framer) sign(content FramedContent, wf WireFormat, k *SignaturePrivateKey) (*AuthenticatedContent, error) {
	ac := &AuthenticatedContent{WireFormat: wf, Content: content}
	if err := f.s.signContentScratch(&f.scratch, ac, f.gc, k); err != nil {
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
	if err := f.s.verifyContentScratch(&f.scratch, ac, f.gc, pub); err != nil {
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

// senderDataLen is the length of SenderData: leaf_index, generation
// and reuse_guard.
const senderDataLen = 4 + 4 + 4

// appendPrivateAAD appends PrivateContentAAD, or SenderDataAAD when
// withAuthData is false.
func appendPrivateAAD(b []byte, m *PrivateMessage, withAuthData bool) []byte {
	w := writer{b: b}
	w.Opaque(m.GroupID)
	w.Uint64(m.Epoch)
	w.Uint8(uint8(m.ContentType))
	if withAuthData {
		w.Opaque(m.AuthenticatedData)
	}
	return w.b
}

// sealPrivate encrypts signed member content and returns the MLSMessage
// carrying it as a PrivateMessage, consuming the next generation of the
// sender's ratchet.
//
// It writes the message in one buffer of the exact size. The content is
// sealed straight into its place; the PrivateMessage's prefix up to
// authenticated_data is byte for byte PrivateContentAAD (and up to
// content_type SenderDataAAD), so both AADs are taken from it (copied
// once into f.aad: Seal's output and additional data must not overlap);
// and encrypted_sender_data, whose length is fixed, is sealed last into
// the room left for it, since its key depends on the ciphertext.
func (f *framer) sealPrivate(ac *AuthenticatedContent) ([]byte, error) {
	c := &ac.Content
	if ac.WireFormat != WireFormatPrivateMessage || c.Sender.Type != SenderMember {
		return nil, fmt.Errorf("%w: private message from sender type %d", ErrInvalidContent, c.Sender.Type)
	}
	defer f.scratch.wipe()
	plaintext, err := f.privateContent(ac)
	if err != nil {
		return nil, err
	}
	sd := senderData{leaf: LeafIndex(c.Sender.Index)}
	guard := f.sd[:len(sd.reuseGuard)] // read into the framer: a local would escape through io.Reader
	if _, err := io.ReadFull(f.rand, guard); err != nil {
		return nil, fmt.Errorf("reuse guard: %w", err)
	}
	copy(sd.reuseGuard[:], guard)
	kn, err := f.tree.nextSendKey(sd.leaf, ratchetFor(c.ContentType))
	if err != nil {
		return nil, err
	}
	sd.generation = kn.generation
	aead, err := f.s.aead(kn.key)
	if err != nil {
		return nil, err
	}
	sdLen, ctLen := senderDataLen+aead.Overhead(), len(plaintext)+aead.Overhead()
	w := writer{b: make([]byte, 0, 2+2+(4+len(c.GroupID))+8+1+(4+len(c.AuthenticatedData))+(1+sdLen)+(4+ctLen))}
	w.Uint16(uint16(ProtocolVersionMLS10))
	w.Uint16(uint16(WireFormatPrivateMessage))
	w.Opaque(c.GroupID)
	w.Uint64(c.Epoch)
	w.Uint8(uint8(c.ContentType))
	sdAADEnd := len(w.b)
	w.Opaque(c.AuthenticatedData)
	aadEnd := len(w.b)
	w.Varint(uint64(sdLen))
	sdAt := len(w.b)
	w.b = append(w.b, make([]byte, sdLen)...)
	w.Varint(uint64(ctLen))
	if w.err != nil {
		return nil, w.err
	}
	out, ctAt := w.b, len(w.b)
	// cipher.AEAD.Seal wants dst and the additional data apart, so the
	// AADs are read from a copy in f.aad, not from out's prefix.
	f.aad = append(f.aad[:0], out[4:aadEnd]...)
	out = aead.Seal(out, f.guardNonce(kn.nonce, sd.reuseGuard), plaintext, f.aad)
	ct := out[ctAt:]
	esd, err := f.sealSenderData(out[sdAt:sdAt], f.aad[:sdAADEnd-4], ct, &sd)
	if err != nil {
		return nil, err
	}
	if len(esd) != sdLen || len(ct) != ctLen {
		return nil, fmt.Errorf("mls: sealed %d and %d bytes, want %d and %d", len(esd), len(ct), sdLen, ctLen)
	}
	return out, nil
}

// privateContent encodes PrivateMessageContent with zero padding into
// f.scratch; the caller wipes it after use.
func (f *framer) privateContent(ac *AuthenticatedContent) ([]byte, error) {
	w := &f.scratch
	w.b, w.err = w.b[:0], nil
	ac.Content.encodeBody(w)
	ac.Auth.encode(w, ac.Content.ContentType)
	if f.paddingBlock > 0 {
		w.b = append(w.b, make([]byte, (f.paddingBlock-len(w.b)%f.paddingBlock)%f.paddingBlock)...)
	}
	return w.Bytes()
}

// guardNonce XORs the reuse guard into the first four nonce bytes, in
// f.nonce.
func (f *framer) guardNonce(nonce []byte, guard [4]byte) []byte {
	out := append(f.nonce[:0], nonce...)
	subtle.XORBytes(out[:4], out[:4], guard[:])
	return out
}

func (f *framer) open(key, nonce, aad, ciphertext []byte) ([]byte, error) {
	return f.openTo(nil, key, nonce, aad, ciphertext)
}

// openTo decrypts ciphertext, appending the plaintext to dst.
func (f *framer) openTo(dst, key, nonce, aad, ciphertext []byte) ([]byte, error) {
	aead, err := f.s.aead(key)
	if err != nil {
		return nil, err
	}
	pt, err := aead.Open(dst, nonce, ciphertext, aad)
	if err != nil {
		return nil, ErrDecrypt
	}
	return pt, nil
}

// sealSenderData encrypts sd under the key and nonce derived from the
// content's ciphertext, appending to dst.
func (f *framer) sealSenderData(dst, aad, ciphertext []byte, sd *senderData) ([]byte, error) {
	key, nonce, err := f.s.senderDataKeyNonce(f.senderDataSecret, ciphertext)
	if err != nil {
		return nil, err
	}
	aead, err := f.s.aead(key)
	if err != nil {
		return nil, err
	}
	pt := f.sd[:senderDataLen]
	binary.BigEndian.PutUint32(pt[0:], uint32(sd.leaf))
	binary.BigEndian.PutUint32(pt[4:], sd.generation)
	copy(pt[8:], sd.reuseGuard[:])
	out := aead.Seal(dst, nonce, pt, aad)
	clear(pt)
	return out, nil
}

func (f *framer) openSenderData(m *PrivateMessage) (senderData, error) {
	var sd senderData
	key, nonce, err := f.s.senderDataKeyNonce(f.senderDataSecret, m.Ciphertext)
	if err != nil {
		return sd, err
	}
	f.aad = appendPrivateAAD(f.aad[:0], m, false)
	pt, err := f.openTo(f.sd[:0], key, nonce, f.aad, m.EncryptedSenderData)
	if err != nil {
		return sd, fmt.Errorf("sender data: %w", err)
	}
	if len(pt) != senderDataLen {
		return sd, fmt.Errorf("sender data: %w: %d bytes", ErrMalformed, len(pt))
	}
	sd.leaf, sd.generation = LeafIndex(binary.BigEndian.Uint32(pt)), binary.BigEndian.Uint32(pt[4:])
	copy(sd.reuseGuard[:], pt[8:])
	clear(pt)
	return sd, nil
}

// unprotectPrivate decrypts and verifies a PrivateMessage. The sender's
// ratchet advances only if the content decrypts, parses and verifies, so
// a bad message changes no state.
func (f *framer) unprotectPrivate(m *PrivateMessage, key signerKey) (*AuthenticatedContent, error) {
	ac, u, err := f.openPrivate(m, key)
	if err != nil {
		return nil, err
	}
	return ac, f.tree.apply(&u)
}

// openPrivate decrypts and verifies a PrivateMessage without changing
// any state; applying the returned update to f.tree consumes its key.
func (f *framer) openPrivate(m *PrivateMessage, key signerKey) (*AuthenticatedContent, ratchetUpdate, error) {
	if err := f.checkEpoch(m.GroupID, m.Epoch); err != nil {
		return nil, ratchetUpdate{}, err
	}
	sd, err := f.openSenderData(m)
	if err != nil {
		return nil, ratchetUpdate{}, err
	}
	kn, update, err := f.tree.receiveKey(sd.leaf, ratchetFor(m.ContentType), sd.generation)
	if err != nil {
		return nil, ratchetUpdate{}, err
	}
	f.aad = appendPrivateAAD(f.aad[:0], m, true)
	pt, err := f.open(kn.key, f.guardNonce(kn.nonce, sd.reuseGuard), f.aad, m.Ciphertext)
	if err != nil {
		return nil, ratchetUpdate{}, fmt.Errorf("content: %w", err)
	}
	ac := &AuthenticatedContent{WireFormat: WireFormatPrivateMessage, Content: FramedContent{
		GroupID: m.GroupID, Epoch: m.Epoch, Sender: Sender{Type: SenderMember, Index: uint32(sd.leaf)},
		AuthenticatedData: m.AuthenticatedData, ContentType: m.ContentType,
	}}
	if err := decodePrivateContent(pt, ac); err != nil {
		return nil, ratchetUpdate{}, err
	}
	if err := f.verify(ac, key); err != nil {
		return nil, ratchetUpdate{}, err
	}
	return ac, update, nil
}

// decodePrivateContent parses PrivateMessageContent into ac; the padding
// must be all zero bytes (RFC 9420, Section 6.3.1).
func decodePrivateContent(pt []byte, ac *AuthenticatedContent) error {
	r := reader{b: pt, maxLen: DefaultMaxVectorLen, alias: true} // pt is a fresh buffer owned by the result
	if ac.Content.ContentType == ContentApplication {
		ac.Content.ApplicationData = r.Opaque() // not through decodeBody, which would move r to the heap
	} else {
		hr := r
		ac.Content.decodeBody(&hr)
		r = hr
	}
	ac.Auth = decodeAuthData(&r, ac.Content.ContentType)
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
