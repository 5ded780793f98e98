package mls

import (
	"bytes"
	"fmt"
)

// External senders (RFC 9420, Sections 6.1, 6.2 and 12.1.8.1): a party
// that is not a member, listed in the group's external_senders extension,
// may send proposals. It holds no group state: its proposal is a
// PublicMessage whose FramedContent names sender type external(2) and its
// index in the extension's list. Its FramedContentTBS is
//
//	version (uint16) | wire_format (uint16) | FramedContent
//
// with no GroupContext (the context is appended only for member and
// new_member_commit senders), and the PublicMessage carries no
// membership tag (only member senders have one). Members verify the
// signature with the listed key (Group.Process) and cache the proposal;
// any member commits it by reference.

// ExternalProposalParams are the inputs of NewExternalProposal.
type ExternalProposalParams struct {
	CipherSuite CipherSuite // the group's suite
	GroupID     []byte
	Epoch       uint64 // the group's current epoch
	// SenderIndex is the sender's position in the external_senders list.
	SenderIndex uint32
	// SignatureKey is the key listed at SenderIndex. A key of another
	// suite with the same signature scheme (for example Ed25519 of suite
	// 1 for suite 0x004D) is accepted.
	SignatureKey      *SignaturePrivateKey
	AuthenticatedData []byte
}

// NewExternalProposal signs p as an external sender and returns the
// MLSMessage (PublicMessage) to deliver to the group's members. Only the
// proposal types RFC 9420, Section 12.1.8.1 allows from external senders
// are accepted.
func NewExternalProposal(params ExternalProposalParams, p *Proposal) ([]byte, error) {
	if p == nil {
		return nil, fmt.Errorf("external proposal: %w: no proposal", ErrInvalidProposal)
	}
	if err := checkProposalSender(proposalEntry{p: p, sender: Sender{Type: SenderExternal}}); err != nil {
		return nil, fmt.Errorf("external proposal: %w", err)
	}
	s, key, err := externalSigner(params)
	if err != nil {
		return nil, fmt.Errorf("external proposal: %w", err)
	}
	ac := &AuthenticatedContent{WireFormat: WireFormatPublicMessage, Content: FramedContent{
		GroupID: bytes.Clone(params.GroupID), Epoch: params.Epoch,
		Sender:            Sender{Type: SenderExternal, Index: params.SenderIndex},
		AuthenticatedData: bytes.Clone(params.AuthenticatedData),
		ContentType:       ContentProposal, Proposal: p,
	}}
	if err := s.signContent(ac, nil, key); err != nil {
		return nil, fmt.Errorf("external proposal: %w", err)
	}
	return marshal(&MLSMessage{WireFormat: WireFormatPublicMessage, PublicMessage: &PublicMessage{Content: ac.Content, Auth: ac.Auth}})
}

// NewExternalRemove is NewExternalProposal of a Remove of leaf removed.
func NewExternalRemove(params ExternalProposalParams, removed LeafIndex) ([]byte, error) {
	return NewExternalProposal(params, &Proposal{Type: ProposalRemove, Removed: removed})
}

// externalSigner returns the group suite and the signing key in it.
func externalSigner(p ExternalProposalParams) (*suite, *SignaturePrivateKey, error) {
	s, err := p.CipherSuite.suite()
	if err != nil {
		return nil, nil, err
	}
	if len(p.GroupID) == 0 || p.SignatureKey == nil {
		return nil, nil, fmt.Errorf("%w: missing group id or signature key", ErrBadKey)
	}
	key := p.SignatureKey
	if key.CipherSuite() == p.CipherSuite {
		return s, key, nil
	}
	key, err = p.CipherSuite.NewSignaturePrivateKey(p.SignatureKey.Bytes())
	if err != nil || !bytes.Equal(key.PublicKey(), p.SignatureKey.PublicKey()) {
		return nil, nil, fmt.Errorf("%w: signature key of suite %v does not sign for suite %v", ErrBadKey, p.SignatureKey.CipherSuite(), p.CipherSuite)
	}
	return s, key, nil
}

// ExternalSendersExtension returns the group context extension listing
// senders (RFC 9420, Section 12.1.8.1), for NewGroup.
func ExternalSendersExtension(senders []ExternalSender) (Extension, error) {
	data, err := MarshalExternalSenders(senders)
	if err != nil {
		return Extension{}, err
	}
	return Extension{Type: ExtensionExternalSenders, Data: data}, nil
}
