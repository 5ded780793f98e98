package mls

import (
	"encoding/binary"
	"fmt"
)

// Message structures of RFC 9420: proposals (Section 12.1), Commit
// (Section 12.4), Welcome and GroupInfo (Section
// 12.4.3) and the MLSMessage wrapper (Section 6). Each type has an
// encode method writing its TLS presentation and a decodeX function;
// decoders reject unknown enum values, so nothing is silently dropped.

// ProtocolVersion is the MLS protocol version (RFC 9420, Section 6).
type ProtocolVersion uint16

// ProtocolVersionMLS10 is mls10, the only version defined.
const ProtocolVersionMLS10 ProtocolVersion = 1

// ProposalType identifies a proposal (RFC 9420, Section 12.1).
type ProposalType uint16

// Proposal types defined by RFC 9420.
const (
	ProposalAdd                    ProposalType = 1
	ProposalUpdate                 ProposalType = 2
	ProposalRemove                 ProposalType = 3
	ProposalPreSharedKey           ProposalType = 4
	ProposalReInit                 ProposalType = 5
	ProposalExternalInit           ProposalType = 6
	ProposalGroupContextExtensions ProposalType = 7
)

// WireFormat says which structure an MLSMessage carries.
type WireFormat uint16

// Wire formats (RFC 9420, Section 17.2).
const (
	WireFormatPublicMessage  WireFormat = 1
	WireFormatPrivateMessage WireFormat = 2
	WireFormatWelcome        WireFormat = 3
	WireFormatGroupInfo      WireFormat = 4
	WireFormatKeyPackage     WireFormat = 5
)

// Proposal is one proposed change to the group. Type selects which of
// the other fields is meaningful.
type Proposal struct {
	Type       ProposalType
	KeyPackage *KeyPackage     // ProposalAdd
	LeafNode   *LeafNode       // ProposalUpdate
	Removed    LeafIndex       // ProposalRemove
	PSK        *PreSharedKeyID // ProposalPreSharedKey
	ReInit     *ReInit         // ProposalReInit
	KEMOutput  []byte          // ProposalExternalInit
	Extensions []Extension     // ProposalGroupContextExtensions
}

// ReInit proposes to restart the group with new parameters.
type ReInit struct {
	GroupID     []byte
	Version     ProtocolVersion
	CipherSuite CipherSuite
	Extensions  []Extension
}

func (p *Proposal) encode(w *writer) {
	w.Uint16(uint16(p.Type))
	switch {
	case p.Type == ProposalAdd && p.KeyPackage != nil:
		p.KeyPackage.encode(w)
	case p.Type == ProposalUpdate && p.LeafNode != nil:
		p.LeafNode.encode(w)
	case p.Type == ProposalRemove:
		w.Uint32(uint32(p.Removed))
	case p.Type == ProposalPreSharedKey && p.PSK != nil:
		p.PSK.encode(w)
	case p.Type == ProposalReInit && p.ReInit != nil:
		w.Opaque(p.ReInit.GroupID)
		w.Uint16(uint16(p.ReInit.Version))
		w.Uint16(uint16(p.ReInit.CipherSuite))
		writeExtensions(w, p.ReInit.Extensions)
	case p.Type == ProposalExternalInit:
		w.Opaque(p.KEMOutput)
	case p.Type == ProposalGroupContextExtensions:
		writeExtensions(w, p.Extensions)
	default:
		w.fail(fmt.Errorf("%w: proposal type %d", ErrMalformed, p.Type))
	}
}

func decodeProposal(r *reader) Proposal {
	p := Proposal{Type: ProposalType(r.Uint16())}
	switch p.Type {
	case ProposalAdd:
		kp := decodeKeyPackage(r)
		p.KeyPackage = &kp
	case ProposalUpdate:
		ln := decodeLeafNode(r)
		p.LeafNode = &ln
	case ProposalRemove:
		p.Removed = LeafIndex(r.Uint32())
	case ProposalPreSharedKey:
		id := decodePreSharedKeyID(r)
		p.PSK = &id
	case ProposalReInit:
		p.ReInit = &ReInit{
			GroupID: r.Opaque(), Version: ProtocolVersion(r.Uint16()),
			CipherSuite: CipherSuite(r.Uint16()), Extensions: readExtensions(r),
		}
	case ProposalExternalInit:
		p.KEMOutput = r.Opaque()
	case ProposalGroupContextExtensions:
		p.Extensions = readExtensions(r)
	default:
		r.fail(fmt.Errorf("%w: proposal type %d", ErrMalformed, p.Type))
	}
	return p
}

// ProposalRef names a proposal by the hash of the AuthenticatedContent
// that carried it.
type ProposalRef []byte

// ProposalOrRef is a proposal carried in a Commit by value or by
// reference; exactly one of Proposal and Ref is set.
type ProposalOrRef struct {
	Proposal *Proposal
	Ref      ProposalRef
}

func (p *ProposalOrRef) encode(w *writer) {
	if p.Proposal != nil {
		w.Uint8(1)
		p.Proposal.encode(w)
		return
	}
	w.Uint8(2)
	w.Opaque(p.Ref)
}

func decodeProposalOrRef(r *reader) ProposalOrRef {
	switch t := r.Uint8(); t {
	case 1:
		p := decodeProposal(r)
		return ProposalOrRef{Proposal: &p}
	case 2:
		return ProposalOrRef{Ref: r.Opaque()}
	default:
		r.fail(fmt.Errorf("%w: proposal-or-ref type %d", ErrMalformed, t))
		return ProposalOrRef{}
	}
}

// HPKECiphertext is the output of EncryptWithLabel.
type HPKECiphertext struct {
	KEMOutput  []byte
	Ciphertext []byte
}

func (c *HPKECiphertext) encode(w *writer) {
	w.Opaque(c.KEMOutput)
	w.Opaque(c.Ciphertext)
}

func decodeHPKECiphertext(r *reader) HPKECiphertext {
	return HPKECiphertext{KEMOutput: r.Opaque(), Ciphertext: r.Opaque()}
}

// UpdatePathNode is a new public key on the committer's filtered direct
// path and its path secret encrypted to each node of the copath child's
// resolution.
type UpdatePathNode struct {
	EncryptionKey       HPKEPublicKey
	EncryptedPathSecret []HPKECiphertext
}

func (n *UpdatePathNode) encode(w *writer) {
	w.Opaque(n.EncryptionKey)
	writeVector(w, n.EncryptedPathSecret, func(w *writer, c HPKECiphertext) { c.encode(w) })
}

func decodeUpdatePathNode(r *reader) UpdatePathNode {
	return UpdatePathNode{EncryptionKey: r.Opaque(), EncryptedPathSecret: readVector(r, decodeHPKECiphertext)}
}

// UpdatePath is the committer's new leaf and filtered direct path
// (RFC 9420, Section 7.6).
type UpdatePath struct {
	LeafNode LeafNode
	Nodes    []UpdatePathNode
}

func (p *UpdatePath) encode(w *writer) {
	p.LeafNode.encode(w)
	writeVector(w, p.Nodes, func(w *writer, n UpdatePathNode) { n.encode(w) })
}

func decodeUpdatePath(r *reader) UpdatePath {
	return UpdatePath{LeafNode: decodeLeafNode(r), Nodes: readVector(r, decodeUpdatePathNode)}
}

// Marshal returns the wire form of the UpdatePath.
func (p *UpdatePath) Marshal() ([]byte, error) { return marshal(p) }

// ParseUpdatePath decodes an UpdatePath, rejecting trailing bytes.
func ParseUpdatePath(data []byte) (*UpdatePath, error) {
	var p UpdatePath
	if err := unmarshal(data, func(r *reader) { p = decodeUpdatePath(r) }); err != nil {
		return nil, fmt.Errorf("update path: %w", err)
	}
	return &p, nil
}

// Commit applies proposals and optionally refreshes the committer's path.
type Commit struct {
	Proposals []ProposalOrRef
	Path      *UpdatePath
}

func (c *Commit) encode(w *writer) {
	writeVector(w, c.Proposals, func(w *writer, p ProposalOrRef) { p.encode(w) })
	writeOptional(w, c.Path, func(w *writer, u *UpdatePath) { u.encode(w) })
}

func decodeCommit(r *reader) Commit {
	return Commit{Proposals: readVector(r, decodeProposalOrRef), Path: readOptional(r, decodeUpdatePath)}
}

// GroupInfo describes a group to joiners; it is signed by the member at
// leaf Signer.
type GroupInfo struct {
	GroupContext    GroupContext
	Extensions      []Extension
	ConfirmationTag []byte
	Signer          LeafIndex
	Signature       []byte
}

func (g *GroupInfo) encodeTBS(w *writer) {
	g.GroupContext.encode(w)
	writeExtensions(w, g.Extensions)
	w.Opaque(g.ConfirmationTag)
	w.Uint32(uint32(g.Signer))
}

func (g *GroupInfo) encode(w *writer) {
	g.encodeTBS(w)
	w.Opaque(g.Signature)
}

func decodeGroupInfo(r *reader) GroupInfo {
	return GroupInfo{
		GroupContext: decodeGroupContext(r), Extensions: readExtensions(r),
		ConfirmationTag: r.Opaque(), Signer: LeafIndex(r.Uint32()), Signature: r.Opaque(),
	}
}

// GroupSecrets are the secrets a Welcome gives a new member.
type GroupSecrets struct {
	JoinerSecret []byte
	PathSecret   []byte // nil when absent
	PSKs         []PreSharedKeyID
}

func (g *GroupSecrets) encode(w *writer) {
	w.Opaque(g.JoinerSecret)
	w.Optional(g.PathSecret != nil, func(w *writer) { w.Opaque(g.PathSecret) })
	writeVector(w, g.PSKs, func(w *writer, p PreSharedKeyID) { p.encode(w) })
}

func decodeGroupSecrets(r *reader) GroupSecrets {
	g := GroupSecrets{JoinerSecret: r.Opaque()}
	if r.Optional() {
		g.PathSecret = r.Opaque()
		if g.PathSecret == nil && r.Err() == nil {
			g.PathSecret = []byte{}
		}
	}
	g.PSKs = readVector(r, decodePreSharedKeyID)
	return g
}

// EncryptedGroupSecrets are GroupSecrets encrypted to one new member's
// KeyPackage init key.
type EncryptedGroupSecrets struct {
	NewMember             KeyPackageRef
	EncryptedGroupSecrets HPKECiphertext
}

// Welcome brings new members into a group.
type Welcome struct {
	CipherSuite        CipherSuite
	Secrets            []EncryptedGroupSecrets
	EncryptedGroupInfo []byte
}

func (wl *Welcome) encode(w *writer) {
	w.Uint16(uint16(wl.CipherSuite))
	writeVector(w, wl.Secrets, func(w *writer, s EncryptedGroupSecrets) {
		w.Opaque(s.NewMember)
		s.EncryptedGroupSecrets.encode(w)
	})
	w.Opaque(wl.EncryptedGroupInfo)
}

func decodeWelcome(r *reader) Welcome {
	return Welcome{
		CipherSuite: CipherSuite(r.Uint16()),
		Secrets: readVector(r, func(r *reader) EncryptedGroupSecrets {
			return EncryptedGroupSecrets{NewMember: r.Opaque(), EncryptedGroupSecrets: decodeHPKECiphertext(r)}
		}),
		EncryptedGroupInfo: r.Opaque(),
	}
}

// MLSMessage is the top-level wire object. WireFormat selects which
// pointer is set.
type MLSMessage struct {
	WireFormat     WireFormat
	PublicMessage  *PublicMessage
	PrivateMessage *PrivateMessage
	Welcome        *Welcome
	GroupInfo      *GroupInfo
	KeyPackage     *KeyPackage
}

func (m *MLSMessage) encode(w *writer) {
	w.Uint16(uint16(ProtocolVersionMLS10))
	w.Uint16(uint16(m.WireFormat))
	switch {
	case m.WireFormat == WireFormatPublicMessage && m.PublicMessage != nil:
		m.PublicMessage.encode(w)
	case m.WireFormat == WireFormatPrivateMessage && m.PrivateMessage != nil:
		m.PrivateMessage.encode(w)
	case m.WireFormat == WireFormatWelcome && m.Welcome != nil:
		m.Welcome.encode(w)
	case m.WireFormat == WireFormatGroupInfo && m.GroupInfo != nil:
		m.GroupInfo.encode(w)
	case m.WireFormat == WireFormatKeyPackage && m.KeyPackage != nil:
		m.KeyPackage.encode(w)
	default:
		w.fail(fmt.Errorf("%w: wire format %d without its body", ErrMalformed, m.WireFormat))
	}
}

func decodeMLSMessage(r *reader) MLSMessage {
	if v := ProtocolVersion(r.Uint16()); v != ProtocolVersionMLS10 && r.Err() == nil {
		r.fail(fmt.Errorf("%w: protocol version %d", ErrMalformed, v))
	}
	m := MLSMessage{WireFormat: WireFormat(r.Uint16())}
	switch m.WireFormat {
	case WireFormatPublicMessage:
		m.PublicMessage = ptr(decodePublicMessage(r))
	case WireFormatPrivateMessage:
		m.PrivateMessage = ptr(decodePrivateMessage(r))
	case WireFormatWelcome:
		m.Welcome = ptr(decodeWelcome(r))
	case WireFormatGroupInfo:
		m.GroupInfo = ptr(decodeGroupInfo(r))
	case WireFormatKeyPackage:
		m.KeyPackage = ptr(decodeKeyPackage(r))
	default:
		r.fail(fmt.Errorf("%w: wire format %d", ErrMalformed, m.WireFormat))
	}
	return m
}

// decodePrivateMLSMessage decodes into m an MLSMessage carrying a
// PrivateMessage, as decodeMLSMessage does but with no allocation. It
// reads nothing and returns false if data is of another wire format.
func decodePrivateMLSMessage(r *reader, m *PrivateMessage) bool {
	if len(r.b) < 4 || WireFormat(binary.BigEndian.Uint16(r.b[2:])) != WireFormatPrivateMessage {
		return false
	}
	if v := ProtocolVersion(r.Uint16()); v != ProtocolVersionMLS10 {
		r.fail(fmt.Errorf("%w: protocol version %d", ErrMalformed, v))
	}
	r.Uint16()
	*m = decodePrivateMessage(r)
	return true
}

func ptr[T any](v T) *T { return &v }

// Marshal returns the wire form of the message.
func (m *MLSMessage) Marshal() ([]byte, error) { return marshal(m) }

// ParseMLSMessage decodes an MLSMessage strictly: unknown versions, wire
// formats and enum values, oversize vectors and trailing bytes are
// errors wrapping ErrMalformed or ErrTooLarge.
func ParseMLSMessage(data []byte) (*MLSMessage, error) {
	var m MLSMessage
	if err := unmarshal(data, func(r *reader) { m = decodeMLSMessage(r) }); err != nil {
		return nil, fmt.Errorf("mls message: %w", err)
	}
	return &m, nil
}

// ExternalSender is an entry of the external_senders GroupContext
// extension: a non-member allowed to send proposals (RFC 9420, Section
// 12.1.8.1).
type ExternalSender struct {
	SignatureKey SignaturePublicKey
	Credential   Credential
}

// ParseExternalSenders decodes the data of an external_senders extension.
func ParseExternalSenders(data []byte) ([]ExternalSender, error) {
	var out []ExternalSender
	err := unmarshal(data, func(r *reader) {
		out = readVector(r, func(r *reader) ExternalSender {
			return ExternalSender{SignatureKey: r.Opaque(), Credential: decodeCredential(r)}
		})
	})
	if err != nil {
		return nil, fmt.Errorf("external senders: %w", err)
	}
	return out, nil
}

// MarshalExternalSenders encodes the data of an external_senders
// extension.
func MarshalExternalSenders(senders []ExternalSender) ([]byte, error) {
	var w writer
	writeVector(&w, senders, func(w *writer, e ExternalSender) {
		w.Opaque(e.SignatureKey)
		e.Credential.encode(w)
	})
	return w.Bytes()
}

// parseExternalPub decodes the data of an external_pub extension.
func parseExternalPub(data []byte) (HPKEPublicKey, error) {
	var pub []byte
	if err := unmarshal(data, func(r *reader) { pub = r.Opaque() }); err != nil {
		return nil, fmt.Errorf("external pub: %w", err)
	}
	return pub, nil
}

// marshalExternalPub encodes the data of an external_pub extension.
func marshalExternalPub(pub HPKEPublicKey) []byte {
	var w writer
	w.Opaque(pub)
	return w.b
}

// MessageInfo is what anyone, the Delivery Service included, can read
// from an MLSMessage without group secrets.
type MessageInfo struct {
	WireFormat  WireFormat
	GroupID     []byte      // PublicMessage, PrivateMessage, GroupInfo
	Epoch       uint64      // PublicMessage, PrivateMessage, GroupInfo
	ContentType ContentType // PublicMessage, PrivateMessage
	Sender      *Sender     // PublicMessage only; PrivateMessage hides it
	CipherSuite CipherSuite // Welcome, GroupInfo, KeyPackage
}

// Inspect parses an MLSMessage strictly and returns its public
// metadata, for example so that a Delivery Service can order commits by
// group and epoch. It verifies nothing.
func Inspect(data []byte) (*MessageInfo, error) {
	m, err := ParseMLSMessage(data)
	if err != nil {
		return nil, err
	}
	info := &MessageInfo{WireFormat: m.WireFormat}
	switch {
	case m.PublicMessage != nil:
		c := &m.PublicMessage.Content
		info.GroupID, info.Epoch, info.ContentType, info.Sender = c.GroupID, c.Epoch, c.ContentType, &c.Sender
	case m.PrivateMessage != nil:
		p := m.PrivateMessage
		info.GroupID, info.Epoch, info.ContentType = p.GroupID, p.Epoch, p.ContentType
	case m.Welcome != nil:
		info.CipherSuite = m.Welcome.CipherSuite
	case m.GroupInfo != nil:
		gc := &m.GroupInfo.GroupContext
		info.GroupID, info.Epoch, info.CipherSuite = gc.GroupID, gc.Epoch, gc.CipherSuite
	case m.KeyPackage != nil:
		info.CipherSuite = m.KeyPackage.CipherSuite
	}
	return info, nil
}
