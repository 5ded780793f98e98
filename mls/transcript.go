package mls

import "fmt"

// Framed content and transcript hashes (RFC 9420, Sections 6 and 8.2).
// Every handshake and application message is a FramedContent signed by
// its sender over FramedContentTBS, which binds the wire format and, for
// members, the whole GroupContext: a signature made for one group, epoch
// or wire format does not verify in another. Commits also carry a
// confirmation tag, a MAC under the new epoch's confirmation key over the
// new confirmed transcript hash, which proves the committer derived the
// same epoch as the receiver.

// ContentType says what a FramedContent carries.
type ContentType uint8

// Content types.
const (
	ContentApplication ContentType = 1
	ContentProposal    ContentType = 2
	ContentCommit      ContentType = 3
)

// SenderType says who sent a message.
type SenderType uint8

// Sender types.
const (
	SenderMember            SenderType = 1
	SenderExternal          SenderType = 2
	SenderNewMemberProposal SenderType = 3
	SenderNewMemberCommit   SenderType = 4
)

// Sender identifies a message's sender. Index is the leaf index for
// members and the external_senders index for external senders.
type Sender struct {
	Type  SenderType
	Index uint32
}

func (s Sender) encode(w *writer) {
	w.Uint8(uint8(s.Type))
	switch s.Type {
	case SenderMember, SenderExternal:
		w.Uint32(s.Index)
	case SenderNewMemberProposal, SenderNewMemberCommit:
	default:
		w.fail(fmt.Errorf("%w: sender type %d", ErrMalformed, s.Type))
	}
}

func decodeSender(r *reader) Sender {
	s := Sender{Type: SenderType(r.Uint8())}
	switch s.Type {
	case SenderMember, SenderExternal:
		s.Index = r.Uint32()
	case SenderNewMemberProposal, SenderNewMemberCommit:
	default:
		r.fail(fmt.Errorf("%w: sender type %d", ErrMalformed, s.Type))
	}
	return s
}

// FramedContent is a message's content and its framing. ContentType
// selects which of ApplicationData, Proposal and Commit is meaningful.
type FramedContent struct {
	GroupID           []byte
	Epoch             uint64
	Sender            Sender
	AuthenticatedData []byte
	ContentType       ContentType
	ApplicationData   []byte
	Proposal          *Proposal
	Commit            *Commit
}

func (c *FramedContent) encode(w *writer) {
	w.Opaque(c.GroupID)
	w.Uint64(c.Epoch)
	c.Sender.encode(w)
	w.Opaque(c.AuthenticatedData)
	w.Uint8(uint8(c.ContentType))
	c.encodeBody(w)
}

// sizeHint estimates the encoded size, to allocate buffers once.
func (c *FramedContent) sizeHint() int {
	return len(c.GroupID) + len(c.AuthenticatedData) + len(c.ApplicationData) + 64
}

// encodeBody writes the select on content_type, shared with
// PrivateMessageContent.
func (c *FramedContent) encodeBody(w *writer) {
	switch {
	case c.ContentType == ContentApplication:
		w.Opaque(c.ApplicationData)
	case c.ContentType == ContentProposal && c.Proposal != nil:
		c.Proposal.encode(w)
	case c.ContentType == ContentCommit && c.Commit != nil:
		c.Commit.encode(w)
	default:
		w.fail(fmt.Errorf("%w: content type %d without its body", ErrMalformed, c.ContentType))
	}
}

func decodeFramedContent(r *reader) FramedContent {
	c := FramedContent{GroupID: r.Opaque(), Epoch: r.Uint64(), Sender: decodeSender(r), AuthenticatedData: r.Opaque()}
	c.ContentType = ContentType(r.Uint8())
	c.decodeBody(r)
	return c
}

func (c *FramedContent) decodeBody(r *reader) {
	switch c.ContentType {
	case ContentApplication:
		c.ApplicationData = r.Opaque()
	case ContentProposal:
		c.Proposal = ptr(decodeProposal(r))
	case ContentCommit:
		c.Commit = ptr(decodeCommit(r))
	default:
		r.fail(fmt.Errorf("%w: content type %d", ErrMalformed, c.ContentType))
	}
}

// FramedContentAuthData is a content's signature and, for commits, its
// confirmation tag.
type FramedContentAuthData struct {
	Signature       []byte
	ConfirmationTag []byte // ContentCommit only
}

func (a *FramedContentAuthData) encode(w *writer, ct ContentType) {
	w.Opaque(a.Signature)
	if ct == ContentCommit {
		w.Opaque(a.ConfirmationTag)
	}
}

func decodeAuthData(r *reader, ct ContentType) FramedContentAuthData {
	a := FramedContentAuthData{Signature: r.Opaque()}
	if ct == ContentCommit {
		a.ConfirmationTag = r.Opaque()
	}
	return a
}

// AuthenticatedContent is a FramedContent with its authentication and
// the wire format it travelled in.
type AuthenticatedContent struct {
	WireFormat WireFormat
	Content    FramedContent
	Auth       FramedContentAuthData
}

func (a *AuthenticatedContent) encode(w *writer) {
	w.Uint16(uint16(a.WireFormat))
	a.Content.encode(w)
	a.Auth.encode(w, a.Content.ContentType)
}

func decodeAuthenticatedContent(r *reader) AuthenticatedContent {
	a := AuthenticatedContent{WireFormat: WireFormat(r.Uint16())}
	if a.WireFormat != WireFormatPublicMessage && a.WireFormat != WireFormatPrivateMessage && r.Err() == nil {
		r.fail(fmt.Errorf("%w: content wire format %d", ErrMalformed, a.WireFormat))
	}
	a.Content = decodeFramedContent(r)
	a.Auth = decodeAuthData(r, a.Content.ContentType)
	return a
}

// ParseAuthenticatedContent decodes an AuthenticatedContent strictly.
func ParseAuthenticatedContent(data []byte) (*AuthenticatedContent, error) {
	var a AuthenticatedContent
	if err := unmarshal(data, func(r *reader) { a = decodeAuthenticatedContent(r) }); err != nil {
		return nil, fmt.Errorf("authenticated content: %w", err)
	}
	return &a, nil
}

// Marshal returns the wire form of the AuthenticatedContent.
func (a *AuthenticatedContent) Marshal() ([]byte, error) { return marshal(a) }

// tbs encodes FramedContentTBS. gc is required for member and
// new-member-commit senders and ignored otherwise.
func (a *AuthenticatedContent) tbs(gc *GroupContext) ([]byte, error) {
	w := writer{b: make([]byte, 0, a.Content.sizeHint()+256)}
	a.encodeTBS(&w, gc)
	return w.Bytes()
}

func (a *AuthenticatedContent) encodeTBS(w *writer, gc *GroupContext) {
	w.Uint16(uint16(ProtocolVersionMLS10))
	w.Uint16(uint16(a.WireFormat))
	a.Content.encode(w)
	switch a.Content.Sender.Type {
	case SenderMember, SenderNewMemberCommit:
		if gc == nil {
			w.fail(fmt.Errorf("%w: member content needs a group context", ErrMalformed))
			return
		}
		gc.encode(w)
	}
}

// signContent sets the signature: SignWithLabel(., "FramedContentTBS", tbs).
func (s *suite) signContent(a *AuthenticatedContent, gc *GroupContext, k *SignaturePrivateKey) error {
	return s.signContentScratch(nil, a, gc, k)
}

// signContentScratch is signContent encoding the TBS in scratch's
// buffer (see labeledMessage), which it wipes afterwards; nil allocates.
func (s *suite) signContentScratch(scratch *writer, a *AuthenticatedContent, gc *GroupContext, k *SignaturePrivateKey) error {
	msg, err := labeledMessage(scratch, "FramedContentTBS", a.Content.sizeHint()+256, func(w *writer) { a.encodeTBS(w, gc) })
	if err == nil {
		a.Auth.Signature, err = s.sign(k, msg)
	}
	if scratch != nil {
		scratch.wipe()
	}
	return err
}

// verifyContent checks the content's signature under pub.
func (s *suite) verifyContent(a *AuthenticatedContent, gc *GroupContext, pub []byte) error {
	return s.verifyContentScratch(nil, a, gc, pub)
}

// verifyContentScratch is verifyContent encoding the TBS in scratch's
// buffer (see labeledMessage), which it wipes afterwards; nil allocates.
func (s *suite) verifyContentScratch(scratch *writer, a *AuthenticatedContent, gc *GroupContext, pub []byte) error {
	msg, err := labeledMessage(scratch, "FramedContentTBS", a.Content.sizeHint()+256, func(w *writer) { a.encodeTBS(w, gc) })
	if err == nil {
		err = s.verify(pub, msg, a.Auth.Signature)
	}
	if scratch != nil {
		scratch.wipe()
	}
	return err
}

// proposalRef is MakeProposalRef over the AuthenticatedContent carrying
// a proposal.
func (s *suite) proposalRef(a *AuthenticatedContent) (ProposalRef, error) {
	b, err := a.Marshal()
	if err != nil {
		return nil, err
	}
	return s.refHash("MLS 1.0 Proposal Reference", b), nil
}

// confirmedTranscriptHash returns Hash(interim || ConfirmedTranscriptHashInput)
// for a commit.
func (s *suite) confirmedTranscriptHash(interim []byte, a *AuthenticatedContent) ([]byte, error) {
	if a.Content.ContentType != ContentCommit {
		return nil, fmt.Errorf("%w: transcript input is not a commit", ErrInvalidContent)
	}
	w := writer{b: append([]byte(nil), interim...)}
	w.Uint16(uint16(a.WireFormat))
	a.Content.encode(&w)
	w.Opaque(a.Auth.Signature)
	input, err := w.Bytes()
	if err != nil {
		return nil, err
	}
	return s.hash(input), nil
}

// interimTranscriptHash returns Hash(confirmed || InterimTranscriptHashInput).
func (s *suite) interimTranscriptHash(confirmed, confirmationTag []byte) []byte {
	w := writer{b: append([]byte(nil), confirmed...)}
	w.Opaque(confirmationTag)
	return s.hash(w.b)
}
