package mls

import (
	"bytes"
	"fmt"
	"io"
	"slices"
	"time"
)

// Key packages (RFC 9420, Section 10): a client's pre-published offer to
// join groups, one cipher suite each. The whole structure is signed with
// the leaf's signature key under the label "KeyPackageTBS":
//
//	struct {
//	    ProtocolVersion version;
//	    CipherSuite cipher_suite;
//	    HPKEPublicKey init_key;
//	    LeafNode leaf_node;          // leaf_node_source = key_package
//	    Extension extensions<V>;
//	    opaque signature<V>;         // SignWithLabel(., "KeyPackageTBS", TBS)
//	} KeyPackage;

// KeyPackage is a signed offer to join a group.
type KeyPackage struct {
	Version     ProtocolVersion
	CipherSuite CipherSuite
	InitKey     HPKEPublicKey
	LeafNode    LeafNode
	Extensions  []Extension
	Signature   []byte
}

// KeyPackageRef names a KeyPackage: RefHash("MLS 1.0 KeyPackage
// Reference", KeyPackage) under the key package's own suite.
type KeyPackageRef []byte

// KeyPackagePrivate holds the private keys matching a KeyPackage: the
// init key (for the Welcome) and the leaf's encryption key.
type KeyPackagePrivate struct {
	InitKey       *HPKEPrivateKey
	EncryptionKey *HPKEPrivateKey
}

func (kp *KeyPackage) encodeTBS(w *writer) {
	w.Uint16(uint16(kp.Version))
	w.Uint16(uint16(kp.CipherSuite))
	w.Opaque(kp.InitKey)
	kp.LeafNode.encode(w)
	writeExtensions(w, kp.Extensions)
}

func (kp *KeyPackage) encode(w *writer) {
	kp.encodeTBS(w)
	w.Opaque(kp.Signature)
}

func decodeKeyPackage(r *reader) KeyPackage {
	return KeyPackage{
		Version:     ProtocolVersion(r.Uint16()),
		CipherSuite: CipherSuite(r.Uint16()),
		InitKey:     r.Opaque(),
		LeafNode:    decodeLeafNode(r),
		Extensions:  readExtensions(r),
		Signature:   r.Opaque(),
	}
}

// ParseKeyPackage decodes a KeyPackage strictly (no trailing bytes). It
// does not verify it; call Validate.
func ParseKeyPackage(data []byte) (*KeyPackage, error) {
	var kp KeyPackage
	if err := unmarshal(data, func(r *reader) { kp = decodeKeyPackage(r) }); err != nil {
		return nil, fmt.Errorf("key package: %w", err)
	}
	return &kp, nil
}

// Marshal returns the wire form of the KeyPackage.
func (kp *KeyPackage) Marshal() ([]byte, error) { return marshal(kp) }

// Ref returns the KeyPackageRef of kp.
func (kp *KeyPackage) Ref() (KeyPackageRef, error) {
	s, err := kp.CipherSuite.suite()
	if err != nil {
		return nil, err
	}
	b, err := kp.Marshal()
	if err != nil {
		return nil, err
	}
	return s.refHash("MLS 1.0 KeyPackage Reference", b), nil
}

// Equal reports whether two references are the same.
func (r KeyPackageRef) Equal(o KeyPackageRef) bool { return bytes.Equal(r, o) }

func (kp *KeyPackage) sign(priv *SignaturePrivateKey) error {
	var w writer
	kp.encodeTBS(&w)
	tbs, err := w.Bytes()
	if err != nil {
		return fmt.Errorf("key package: %w", err)
	}
	sig, err := signWithLabel(kp.CipherSuite, *priv, "KeyPackageTBS", tbs)
	if err != nil {
		return fmt.Errorf("sign key package: %w", err)
	}
	kp.Signature = sig
	return nil
}

// VerifySignature checks the KeyPackage signature with the leaf's key.
func (kp *KeyPackage) VerifySignature() error {
	var w writer
	kp.encodeTBS(&w)
	tbs, err := w.Bytes()
	if err != nil {
		return fmt.Errorf("key package: %w", err)
	}
	if err := verifyWithLabel(kp.CipherSuite, kp.LeafNode.SignatureKey, "KeyPackageTBS", tbs, kp.Signature); err != nil {
		return fmt.Errorf("key package: %w", err)
	}
	return nil
}

// Validate checks kp for a group using suite cs (RFC 9420, Section
// 10.1): version and suite, the leaf node as a key_package leaf at now
// (the zero time skips the lifetime check), the signature, distinct init
// and encryption keys, and that the capabilities cover the key package's
// extensions. groupExts are the group's GroupContext extensions.
func (kp *KeyPackage) Validate(cs CipherSuite, now time.Time, groupExts []Extension) error {
	if kp.Version != ProtocolVersionMLS10 {
		return fmt.Errorf("%w: version %d", ErrInvalidKeyPackage, kp.Version)
	}
	if kp.CipherSuite != cs {
		return fmt.Errorf("%w: suite %v, group uses %v", ErrInvalidKeyPackage, kp.CipherSuite, cs)
	}
	if !cs.Supported() {
		return fmt.Errorf("%w: %v", ErrUnsupportedSuite, cs)
	}
	check := LeafNodeCheck{Source: LeafNodeSourceKeyPackage, Now: now, GroupExtensions: groupExts}
	if err := kp.LeafNode.Validate(cs, check); err != nil {
		return fmt.Errorf("key package leaf: %w", err)
	}
	if err := kp.VerifySignature(); err != nil {
		return err
	}
	if bytes.Equal(kp.InitKey, kp.LeafNode.EncryptionKey) {
		return fmt.Errorf("%w: init key equals encryption key", ErrInvalidKeyPackage)
	}
	for _, e := range kp.Extensions {
		if !e.Type.isDefault() && !slices.Contains(kp.LeafNode.Capabilities.Extensions, e.Type) {
			return fmt.Errorf("%w: extension %d not in capabilities", ErrInvalidKeyPackage, e.Type)
		}
	}
	return nil
}

// KeyPackageParams describes a KeyPackage to create. Zero Capabilities
// means: mls10, this suite, and the credential's type.
type KeyPackageParams struct {
	CipherSuite    CipherSuite
	Credential     Credential
	SignatureKey   *SignaturePrivateKey
	Capabilities   Capabilities
	Lifetime       Lifetime
	LeafExtensions []Extension
	Extensions     []Extension
	Rand           io.Reader // randomness for the init and encryption keys
}

// NewKeyPackage creates and signs a KeyPackage, returning its private
// keys.
func NewKeyPackage(p KeyPackageParams) (*KeyPackage, *KeyPackagePrivate, error) {
	s, err := p.CipherSuite.suite()
	if err != nil {
		return nil, nil, err
	}
	if p.SignatureKey == nil || p.Rand == nil {
		return nil, nil, fmt.Errorf("%w: key package needs a signature key and randomness", ErrInvalidKeyPackage)
	}
	var priv KeyPackagePrivate
	if priv.InitKey, err = s.generateHPKEKey(p.Rand); err != nil {
		return nil, nil, err
	}
	if priv.EncryptionKey, err = s.generateHPKEKey(p.Rand); err != nil {
		return nil, nil, err
	}
	caps := p.Capabilities
	if caps.Versions == nil && caps.CipherSuites == nil && caps.Credentials == nil {
		caps = defaultCapabilities(p.CipherSuite, p.Credential.Type)
	}
	kp := &KeyPackage{
		Version:     ProtocolVersionMLS10,
		CipherSuite: p.CipherSuite,
		InitKey:     priv.InitKey.PublicKey(),
		LeafNode: LeafNode{
			EncryptionKey: priv.EncryptionKey.PublicKey(),
			SignatureKey:  p.SignatureKey.PublicKey(),
			Credential:    p.Credential,
			Capabilities:  caps,
			Source:        LeafNodeSourceKeyPackage,
			Lifetime:      p.Lifetime,
			Extensions:    p.LeafExtensions,
		},
		Extensions: p.Extensions,
	}
	if err := kp.LeafNode.Sign(p.CipherSuite, p.SignatureKey, nil, 0); err != nil {
		return nil, nil, err
	}
	if err := kp.sign(p.SignatureKey); err != nil {
		return nil, nil, err
	}
	return kp, &priv, nil
}

// defaultCapabilities advertises mls10, suite cs and credential type ct.
func defaultCapabilities(cs CipherSuite, ct CredentialType) Capabilities {
	return Capabilities{
		Versions:     []ProtocolVersion{ProtocolVersionMLS10},
		CipherSuites: []CipherSuite{cs},
		Credentials:  []CredentialType{ct},
	}
}

// LifetimeFrom returns a Lifetime from now-skew to now+d, the usual
// window for a new KeyPackage.
func LifetimeFrom(now time.Time, skew, d time.Duration) Lifetime {
	nb := now.Add(-skew).Unix()
	if nb < 0 {
		nb = 0
	}
	return Lifetime{NotBefore: uint64(nb), NotAfter: uint64(now.Add(d).Unix())}
}
