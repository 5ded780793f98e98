package mls

import (
	"bytes"
	"fmt"
	"io"
	"slices"
	"time"
)

// Leaf nodes (RFC 9420, Section 7.2): a member's HPKE key, signature key,
// credential and capabilities, signed by the member. The signature binds
// the group id and leaf index for leaves created inside a group (update
// and commit sources), so a leaf cannot be replayed into another group
// or another position.

// CredentialType identifies the credential format (RFC 9420, Section 5.3).
type CredentialType uint16

// Credential types defined by RFC 9420.
const (
	CredentialBasic CredentialType = 1
	CredentialX509  CredentialType = 2
)

// ExtensionType identifies an extension (RFC 9420, Section 13.3).
type ExtensionType uint16

// Extension types defined by RFC 9420; all five are "default" and are
// never listed in Capabilities.
const (
	ExtensionApplicationID        ExtensionType = 1
	ExtensionRatchetTree          ExtensionType = 2
	ExtensionRequiredCapabilities ExtensionType = 3
	ExtensionExternalPub          ExtensionType = 4
	ExtensionExternalSenders      ExtensionType = 5
)

// isDefault reports whether t is one of the extension types every client
// supports (RFC 9420, Section 7.2).
func (t ExtensionType) isDefault() bool { return t >= 1 && t <= 5 }

// LeafNodeSource says how a leaf node came to be in the tree.
type LeafNodeSource uint8

// Leaf node sources (RFC 9420, Section 7.2).
const (
	LeafNodeSourceKeyPackage LeafNodeSource = 1
	LeafNodeSourceUpdate     LeafNodeSource = 2
	LeafNodeSourceCommit     LeafNodeSource = 3
)

// Credential authenticates a member's identity and signature key. Basic
// credentials carry an application-defined identity; X.509 credentials
// carry a DER certificate chain, end-entity first, kept opaque here.
type Credential struct {
	Type         CredentialType
	Identity     []byte   // CredentialBasic
	Certificates [][]byte // CredentialX509
}

// Capabilities lists what a client supports (RFC 9420, Section 7.2).
type Capabilities struct {
	Versions     []ProtocolVersion
	CipherSuites []CipherSuite
	Extensions   []ExtensionType
	Proposals    []ProposalType
	Credentials  []CredentialType
}

// Lifetime bounds a key package leaf in seconds since the Unix epoch.
type Lifetime struct {
	NotBefore uint64
	NotAfter  uint64
}

// Extension is an extension_type and its opaque data.
type Extension struct {
	Type ExtensionType
	Data []byte
}

// LeafNode is the content of a member's leaf in the ratchet tree.
type LeafNode struct {
	EncryptionKey HPKEPublicKey
	SignatureKey  SignaturePublicKey
	Credential    Credential
	Capabilities  Capabilities
	Source        LeafNodeSource
	Lifetime      Lifetime // Source == LeafNodeSourceKeyPackage
	ParentHash    []byte   // Source == LeafNodeSourceCommit
	Extensions    []Extension
	Signature     []byte
}

func (c *Credential) encode(w *writer) {
	w.Uint16(uint16(c.Type))
	switch c.Type {
	case CredentialBasic:
		w.Opaque(c.Identity)
	case CredentialX509:
		writeVector(w, c.Certificates, func(w *writer, cert []byte) { w.Opaque(cert) })
	default:
		w.fail(fmt.Errorf("%w: credential type %d", ErrMalformed, c.Type))
	}
}

func decodeCredential(r *reader) Credential {
	c := Credential{Type: CredentialType(r.Uint16())}
	switch c.Type {
	case CredentialBasic:
		c.Identity = r.Opaque()
	case CredentialX509:
		c.Certificates = readVector(r, (*reader).Opaque)
	default:
		r.fail(fmt.Errorf("%w: credential type %d", ErrMalformed, c.Type))
	}
	return c
}

func writeUint16s[T ~uint16](w *writer, v []T) {
	writeVector(w, v, func(w *writer, x T) { w.Uint16(uint16(x)) })
}

func readUint16s[T ~uint16](r *reader) []T {
	return readVector(r, func(r *reader) T { return T(r.Uint16()) })
}

func (c *Capabilities) encode(w *writer) {
	writeUint16s(w, c.Versions)
	writeUint16s(w, c.CipherSuites)
	writeUint16s(w, c.Extensions)
	writeUint16s(w, c.Proposals)
	writeUint16s(w, c.Credentials)
}

func decodeCapabilities(r *reader) Capabilities {
	return Capabilities{
		Versions:     readUint16s[ProtocolVersion](r),
		CipherSuites: readUint16s[CipherSuite](r),
		Extensions:   readUint16s[ExtensionType](r),
		Proposals:    readUint16s[ProposalType](r),
		Credentials:  readUint16s[CredentialType](r),
	}
}

func writeExtensions(w *writer, exts []Extension) {
	writeVector(w, exts, func(w *writer, e Extension) {
		w.Uint16(uint16(e.Type))
		w.Opaque(e.Data)
	})
}

// readExtensions reads Extension extensions<V>, rejecting a type that
// appears twice (RFC 9420, Section 13: extension lists are sets).
func readExtensions(r *reader) []Extension {
	exts := readVector(r, func(r *reader) Extension {
		return Extension{Type: ExtensionType(r.Uint16()), Data: r.Opaque()}
	})
	if err := checkExtensionsUnique(exts); err != nil {
		r.fail(err)
		return nil
	}
	return exts
}

func checkExtensionsUnique(exts []Extension) error {
	for i := range exts {
		for j := i + 1; j < len(exts); j++ {
			if exts[i].Type == exts[j].Type {
				return fmt.Errorf("%w: duplicate extension %d", ErrMalformed, exts[i].Type)
			}
		}
	}
	return nil
}

// findExtension returns the data of the extension of type t, if present.
func findExtension(exts []Extension, t ExtensionType) ([]byte, bool) {
	for _, e := range exts {
		if e.Type == t {
			return e.Data, true
		}
	}
	return nil, false
}

// encodeContent writes every field of the LeafNode before the signature.
func (ln *LeafNode) encodeContent(w *writer) {
	w.Opaque(ln.EncryptionKey)
	w.Opaque(ln.SignatureKey)
	ln.Credential.encode(w)
	ln.Capabilities.encode(w)
	w.Uint8(uint8(ln.Source))
	switch ln.Source {
	case LeafNodeSourceKeyPackage:
		w.Uint64(ln.Lifetime.NotBefore)
		w.Uint64(ln.Lifetime.NotAfter)
	case LeafNodeSourceUpdate:
	case LeafNodeSourceCommit:
		w.Opaque(ln.ParentHash)
	default:
		w.fail(fmt.Errorf("%w: leaf node source %d", ErrMalformed, ln.Source))
	}
	writeExtensions(w, ln.Extensions)
}

func (ln *LeafNode) encode(w *writer) {
	ln.encodeContent(w)
	w.Opaque(ln.Signature)
}

func decodeLeafNode(r *reader) LeafNode {
	ln := LeafNode{
		EncryptionKey: r.Opaque(),
		SignatureKey:  r.Opaque(),
		Credential:    decodeCredential(r),
		Capabilities:  decodeCapabilities(r),
		Source:        LeafNodeSource(r.Uint8()),
	}
	switch ln.Source {
	case LeafNodeSourceKeyPackage:
		ln.Lifetime = Lifetime{NotBefore: r.Uint64(), NotAfter: r.Uint64()}
	case LeafNodeSourceUpdate:
	case LeafNodeSourceCommit:
		ln.ParentHash = r.Opaque()
	default:
		r.fail(fmt.Errorf("%w: leaf node source %d", ErrMalformed, ln.Source))
	}
	ln.Extensions = readExtensions(r)
	ln.Signature = r.Opaque()
	return ln
}

// ParseLeafNode decodes a LeafNode, rejecting trailing bytes.
func ParseLeafNode(data []byte) (*LeafNode, error) {
	var ln LeafNode
	if err := unmarshal(data, func(r *reader) { ln = decodeLeafNode(r) }); err != nil {
		return nil, fmt.Errorf("leaf node: %w", err)
	}
	return &ln, nil
}

// Marshal returns the wire form of the LeafNode.
func (ln *LeafNode) Marshal() ([]byte, error) { return marshal(ln) }

// tbs returns LeafNodeTBS. groupID and leaf are bound only for the update
// and commit sources.
func (ln *LeafNode) tbs(groupID []byte, leaf LeafIndex) ([]byte, error) {
	w := writer{b: make([]byte, 0, 512)}
	ln.encodeContent(&w)
	if ln.Source == LeafNodeSourceUpdate || ln.Source == LeafNodeSourceCommit {
		w.Opaque(groupID)
		w.Uint32(uint32(leaf))
	}
	return w.Bytes()
}

// Sign sets the signature with SignWithLabel(., "LeafNodeTBS", tbs).
func (ln *LeafNode) Sign(cs CipherSuite, priv *SignaturePrivateKey, groupID []byte, leaf LeafIndex) error {
	tbs, err := ln.tbs(groupID, leaf)
	if err != nil {
		return fmt.Errorf("leaf node: %w", err)
	}
	sig, err := signWithLabel(cs, *priv, "LeafNodeTBS", tbs)
	if err != nil {
		return fmt.Errorf("sign leaf node: %w", err)
	}
	ln.Signature = sig
	return nil
}

// VerifySignature checks the leaf's signature under its own signature key.
func (ln *LeafNode) VerifySignature(cs CipherSuite, groupID []byte, leaf LeafIndex) error {
	tbs, err := ln.tbs(groupID, leaf)
	if err != nil {
		return fmt.Errorf("leaf node: %w", err)
	}
	if err := verifyWithLabel(cs, ln.SignatureKey, "LeafNodeTBS", tbs, ln.Signature); err != nil {
		return fmt.Errorf("leaf node %d: %w", leaf, err)
	}
	return nil
}

// clone returns a deep copy, so trees never share mutable leaves.
func (ln *LeafNode) clone() *LeafNode {
	c := *ln
	c.EncryptionKey = bytes.Clone(ln.EncryptionKey)
	c.SignatureKey = bytes.Clone(ln.SignatureKey)
	c.ParentHash = bytes.Clone(ln.ParentHash)
	c.Signature = bytes.Clone(ln.Signature)
	c.Extensions = slices.Clone(ln.Extensions)
	return &c
}

// LeafNodeCheck carries the context that leaf node validation needs
// (RFC 9420, Section 7.3). The zero Now skips the lifetime check.
type LeafNodeCheck struct {
	Source  LeafNodeSource
	GroupID []byte    // for the update and commit sources
	Leaf    LeafIndex // for the update and commit sources
	Now     time.Time
	// MaxLifetime, if not zero, bounds NotAfter-NotBefore of a
	// key_package leaf (RFC 9420, Section 7.2: applications MUST set
	// one).
	MaxLifetime time.Duration
	// GroupExtensions are the GroupContext extensions; a
	// required_capabilities extension among them is enforced.
	GroupExtensions []Extension
}

// Validate checks a leaf node for cipher suite cs: its source, that its
// capabilities cover its own credential and extensions and the group's
// required capabilities, its lifetime at Now, and its signature.
// Credential validation with the Authentication Service is the caller's.
func (ln *LeafNode) Validate(cs CipherSuite, c LeafNodeCheck) error {
	if ln.Source != c.Source {
		return fmt.Errorf("%w: leaf source %d, want %d", ErrInvalidLeafNode, ln.Source, c.Source)
	}
	if err := ln.checkCapabilities(); err != nil {
		return err
	}
	if err := ln.checkRequired(c.GroupExtensions); err != nil {
		return err
	}
	if ln.Source == LeafNodeSourceKeyPackage {
		if err := ln.Lifetime.checkAt(c.Now, c.MaxLifetime); err != nil {
			return err
		}
	}
	return ln.VerifySignature(cs, c.GroupID, c.Leaf)
}

// SupportsRequired checks the leaf against a required_capabilities
// extension among the group's GroupContext extensions, if any.
func (ln *LeafNode) SupportsRequired(groupExts []Extension) error {
	return ln.checkRequired(groupExts)
}

// NewUpdateLeaf returns a copy of old for an Update proposal by the member
// at leaf: a fresh encryption key drawn from rand, source update, signed
// over groupID and leaf. It also returns the new private key.
func NewUpdateLeaf(cs CipherSuite, old *LeafNode, sigKey *SignaturePrivateKey, groupID []byte, leaf LeafIndex, rand io.Reader) (*LeafNode, *HPKEPrivateKey, error) {
	s, err := cs.suite()
	if err != nil {
		return nil, nil, err
	}
	k, err := s.generateHPKEKey(rand)
	if err != nil {
		return nil, nil, err
	}
	ln := old.clone()
	ln.EncryptionKey = k.PublicKey()
	ln.SignatureKey = sigKey.PublicKey()
	ln.Source = LeafNodeSourceUpdate
	ln.Lifetime, ln.ParentHash = Lifetime{}, nil
	if err := ln.Sign(cs, sigKey, groupID, leaf); err != nil {
		return nil, nil, err
	}
	return ln, k, nil
}

// checkCapabilities verifies that the leaf lists its own credential type
// and every non-default extension it carries.
func (ln *LeafNode) checkCapabilities() error {
	if !slices.Contains(ln.Capabilities.Credentials, ln.Credential.Type) {
		return fmt.Errorf("%w: credential type %d not in capabilities", ErrInvalidLeafNode, ln.Credential.Type)
	}
	for _, e := range ln.Extensions {
		if !e.Type.isDefault() && !slices.Contains(ln.Capabilities.Extensions, e.Type) {
			return fmt.Errorf("%w: extension %d not in capabilities", ErrInvalidLeafNode, e.Type)
		}
	}
	return nil
}

// checkRequired enforces a required_capabilities group extension:
//
//	struct {
//	    ExtensionType extension_types<V>;
//	    ProposalType proposal_types<V>;
//	    CredentialType credential_types<V>;
//	} RequiredCapabilities;
func (ln *LeafNode) checkRequired(groupExts []Extension) error {
	data, ok := findExtension(groupExts, ExtensionRequiredCapabilities)
	if !ok {
		return nil
	}
	var exts []ExtensionType
	var props []ProposalType
	var creds []CredentialType
	err := unmarshal(data, func(r *reader) {
		exts, props, creds = readUint16s[ExtensionType](r), readUint16s[ProposalType](r), readUint16s[CredentialType](r)
	})
	if err != nil {
		return fmt.Errorf("required capabilities: %w", err)
	}
	caps := &ln.Capabilities
	for _, e := range exts {
		if !e.isDefault() && !slices.Contains(caps.Extensions, e) {
			return fmt.Errorf("%w: required extension %d unsupported", ErrInvalidLeafNode, e)
		}
	}
	for _, p := range props {
		if p > 7 && !slices.Contains(caps.Proposals, p) {
			return fmt.Errorf("%w: required proposal %d unsupported", ErrInvalidLeafNode, p)
		}
	}
	for _, c := range creds {
		if !slices.Contains(caps.Credentials, c) {
			return fmt.Errorf("%w: required credential %d unsupported", ErrInvalidLeafNode, c)
		}
	}
	return nil
}

// checkAt checks the lifetime against now (skipped when zero) and its
// total length against max (skipped when zero).
func (l Lifetime) checkAt(now time.Time, max time.Duration) error {
	if max > 0 && (l.NotAfter < l.NotBefore || l.NotAfter-l.NotBefore > uint64(max/time.Second)) {
		return fmt.Errorf("%w: lifetime [%d, %d] longer than %v", ErrInvalidLeafNode, l.NotBefore, l.NotAfter, max)
	}
	if now.IsZero() {
		return nil
	}
	return l.check(now)
}

// check reports ErrExpired unless now is within [NotBefore, NotAfter].
func (l Lifetime) check(now time.Time) error {
	s := now.Unix()
	if s < 0 || uint64(s) < l.NotBefore || uint64(s) > l.NotAfter {
		return fmt.Errorf("%w: lifetime [%d, %d] at %d", ErrExpired, l.NotBefore, l.NotAfter, s)
	}
	return nil
}
