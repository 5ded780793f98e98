package mls

import (
	"crypto"
	"crypto/aes"
	"crypto/cipher"
	"crypto/ecdh"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/hpke"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/binary"
	"fmt"
	"hash"
	"io"

	"golang.org/x/crypto/chacha20poly1305"
)

// CipherSuite is an MLS cipher suite identifier (RFC 9420, Section 17.1).
type CipherSuite uint16

// The cipher suites, named as in the IANA registry. Suites 4 and 6
// (X448/Ed448) exist only so that they can be recognised and refused.
const (
	MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519        CipherSuite = 0x0001
	MLS_128_DHKEMP256_AES128GCM_SHA256_P256             CipherSuite = 0x0002
	MLS_128_DHKEMX25519_CHACHA20POLY1305_SHA256_Ed25519 CipherSuite = 0x0003
	MLS_256_DHKEMX448_AES256GCM_SHA512_Ed448            CipherSuite = 0x0004
	MLS_256_DHKEMP521_AES256GCM_SHA512_P521             CipherSuite = 0x0005
	MLS_256_DHKEMX448_CHACHA20POLY1305_SHA512_Ed448     CipherSuite = 0x0006
	MLS_256_DHKEMP384_AES256GCM_SHA384_P384             CipherSuite = 0x0007
	// MLS_256_XWING_CHACHA20POLY1305_SHA256_Ed25519 is the hybrid
	// post-quantum suite used by OpenMLS and ts-mls. It is NOT registered
	// with IANA. Its KEM is X-Wing (HPKE KEM 0x647a).
	MLS_256_XWING_CHACHA20POLY1305_SHA256_Ed25519 CipherSuite = 0x004D
)

// DefaultCipherSuite is the suite used for new groups unless configured.
const DefaultCipherSuite = MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519

// HPKEPublicKey is an HPKE public key in its RFC 9180 serialization.
type HPKEPublicKey []byte

// SignaturePublicKey is a signature verification key: RFC 8032 bytes for
// Ed25519, an uncompressed point for ECDSA.
type SignaturePublicKey []byte

// labelPrefix is the version label bound into every labelled operation.
const labelPrefix = "MLS 1.0 "

// suite holds the primitives of one cipher suite. All cryptography in the
// package goes through its methods.
type suite struct {
	id       CipherSuite
	newHash  func() hash.Hash
	nh       int // KDF.Nh, cached: newHash allocates
	kem      hpke.KEM
	kdf      hpke.KDF
	hpkeAEAD hpke.AEAD
	keyLen   int
	chacha   bool
	curve    elliptic.Curve // nil for Ed25519
	sigHash  crypto.Hash
}

// Supported reports whether this package implements the suite.
func (cs CipherSuite) Supported() bool {
	_, err := cs.suite()
	return err == nil
}

// String returns the suite's number in hex, as the registry writes it.
func (cs CipherSuite) String() string { return fmt.Sprintf("0x%04x", uint16(cs)) }

// suite returns the primitives of cs, or ErrUnsupportedSuite.
func (cs CipherSuite) suite() (*suite, error) {
	s := &suite{id: cs}
	switch cs {
	case MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519:
		s.sha256().x25519().aesGCM(16)
	case MLS_128_DHKEMP256_AES128GCM_SHA256_P256:
		s.sha256().aesGCM(16)
		s.kem, s.curve, s.sigHash = hpke.DHKEM(ecdh.P256()), elliptic.P256(), crypto.SHA256
	case MLS_128_DHKEMX25519_CHACHA20POLY1305_SHA256_Ed25519:
		s.sha256().x25519().chacha20()
	case MLS_256_DHKEMP521_AES256GCM_SHA512_P521:
		s.newHash, s.kdf = sha512.New, hpke.HKDFSHA512()
		s.aesGCM(32)
		s.kem, s.curve, s.sigHash = hpke.DHKEM(ecdh.P521()), elliptic.P521(), crypto.SHA512
	case MLS_256_DHKEMP384_AES256GCM_SHA384_P384:
		s.newHash, s.kdf = sha512.New384, hpke.HKDFSHA384()
		s.aesGCM(32)
		s.kem, s.curve, s.sigHash = hpke.DHKEM(ecdh.P384()), elliptic.P384(), crypto.SHA384
	case MLS_256_XWING_CHACHA20POLY1305_SHA256_Ed25519:
		s.sha256().chacha20()
		s.kem = hpke.MLKEM768X25519()
	default:
		return nil, fmt.Errorf("%w: %v", ErrUnsupportedSuite, cs)
	}
	s.nh = s.newHash().Size()
	return s, nil
}

func (s *suite) sha256() *suite {
	s.newHash, s.kdf = sha256.New, hpke.HKDFSHA256()
	return s
}

func (s *suite) x25519() *suite {
	s.kem = hpke.DHKEM(ecdh.X25519())
	return s
}

func (s *suite) aesGCM(keyLen int) {
	s.keyLen = keyLen
	if keyLen == 16 {
		s.hpkeAEAD = hpke.AES128GCM()
	} else {
		s.hpkeAEAD = hpke.AES256GCM()
	}
}

func (s *suite) chacha20() {
	s.keyLen, s.chacha, s.hpkeAEAD = chacha20poly1305.KeySize, true, hpke.ChaCha20Poly1305()
}

// hashLen is KDF.Nh, the size of a hash and of every epoch secret.
func (s *suite) hashLen() int { return s.nh }

// nonceLen is AEAD.Nn (12 for every supported suite).
func (s *suite) nonceLen() int { return 12 }

// hash returns Hash(data).
func (s *suite) hash(data []byte) []byte {
	h := s.newHash()
	h.Write(data)
	return h.Sum(nil)
}

// refHash is RefHash(label, value) (RFC 9420, Section 5.2).
func (s *suite) refHash(label string, value []byte) []byte {
	w := writer{b: make([]byte, 0, len(label)+len(value)+8)}
	w.Opaque([]byte(label))
	w.Opaque(value)
	return s.hash(w.b)
}

// extract is KDF.Extract(salt, ikm).
func (s *suite) extract(salt, ikm []byte) ([]byte, error) {
	if salt == nil {
		salt = make([]byte, s.hashLen())
	}
	prk, err := hkdf.Extract(s.newHash, ikm, salt)
	if err != nil {
		return nil, fmt.Errorf("mls: extract: %w", err)
	}
	return prk, nil
}

// expandWithLabel is ExpandWithLabel(secret, label, context, length)
// (RFC 9420, Section 8).
func (s *suite) expandWithLabel(secret []byte, label string, context []byte, length uint16) ([]byte, error) {
	var buf [64]byte // a KDFLabel with a short context fits: no allocation
	info, err := appendKDFLabel(buf[:0], label, context, length)
	if err != nil {
		return nil, err
	}
	return s.expand(secret, label, string(info), length)
}

// expand is KDF.Expand(secret, info, length); label names it in errors.
func (s *suite) expand(secret []byte, label, info string, length uint16) ([]byte, error) {
	out, err := hkdf.Expand(s.newHash, secret, info, int(length))
	if err != nil {
		return nil, fmt.Errorf("mls: expand %q: %w", label, err)
	}
	return out, nil
}

// appendLabel appends opaque label<V> holding labelPrefix + label,
// without building the concatenation.
func appendLabel(b []byte, label string) ([]byte, error) {
	b, err := appendVarint(b, uint64(len(labelPrefix)+len(label)))
	if err != nil {
		return nil, err
	}
	return append(append(b, labelPrefix...), label...), nil
}

// appendKDFLabel appends struct { uint16 length; opaque label<V>;
// opaque context<V>; } with the label prefixed by labelPrefix.
func appendKDFLabel(b []byte, label string, context []byte, length uint16) ([]byte, error) {
	b, err := appendLabel(binary.BigEndian.AppendUint16(b, length), label)
	if err != nil {
		return nil, err
	}
	if b, err = appendVarint(b, uint64(len(context))); err != nil {
		return nil, err
	}
	return append(b, context...), nil
}

// deriveSecret is DeriveSecret(secret, label).
func (s *suite) deriveSecret(secret []byte, label string) ([]byte, error) {
	return s.expandWithLabel(secret, label, nil, uint16(s.hashLen()))
}

// deriveTreeSecret is DeriveTreeSecret(secret, label, generation, length)
// (RFC 9420, Section 9.1).
func (s *suite) deriveTreeSecret(secret []byte, label string, generation uint32, length int) ([]byte, error) {
	var ctx [4]byte
	ctx[0], ctx[1], ctx[2], ctx[3] = byte(generation>>24), byte(generation>>16), byte(generation>>8), byte(generation)
	return s.expandWithLabel(secret, label, ctx[:], uint16(length))
}

// mac is MAC(key, data): HMAC with the suite's hash.
func (s *suite) mac(key, data []byte) []byte {
	m := hmac.New(s.newHash, key)
	m.Write(data)
	return m.Sum(nil)
}

// verifyMAC checks tag in constant time.
func (s *suite) verifyMAC(key, data, tag []byte) bool {
	return hmac.Equal(s.mac(key, data), tag)
}

// aead returns the suite's AEAD keyed with key.
func (s *suite) aead(key []byte) (cipher.AEAD, error) {
	if len(key) != s.keyLen {
		return nil, fmt.Errorf("%w: aead key of %d bytes", ErrBadKey, len(key))
	}
	if s.chacha {
		return chacha20poly1305.New(key)
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(block)
}

// labeledMessage builds the same encoding as labeledContent for content
// that fill writes, in one buffer: fill writes after a reserved prefix
// and the label and length header are put right before it, so large
// contents are not copied again. The buffer is w's, reset first and
// kept in w (grown as needed) for reuse; the result aliases it. A nil w
// allocates one of about sizeHint bytes.
func labeledMessage(w *writer, label string, sizeHint int, fill func(w *writer)) ([]byte, error) {
	const reserve = 64
	if w == nil {
		w = &writer{b: make([]byte, 0, reserve+sizeHint)}
	}
	w.b, w.err = append(w.b[:0], make([]byte, reserve)...), nil
	fill(w)
	if w.err != nil {
		return nil, w.err
	}
	var head [reserve]byte
	h, err := appendLabel(head[:0], label)
	if err == nil {
		h, err = appendVarint(h, uint64(len(w.b)-reserve))
	}
	if err != nil {
		return nil, err
	}
	if len(h) > reserve {
		return labeledContent(label, w.b[reserve:]), nil
	}
	start := reserve - len(h)
	copy(w.b[start:], h)
	return w.b[start:], nil
}

// maxScratch bounds the buffer a scratch writer keeps between uses.
const maxScratch = 64 << 10

// wipe zeroes w's buffer and empties it for reuse, dropping it if it
// grew past maxScratch: a scratch writer keeps neither content nor a
// large buffer between messages.
func (w *writer) wipe() {
	clear(w.b)
	w.b, w.err = w.b[:0], nil
	if cap(w.b) > maxScratch {
		w.b = nil
	}
}

// labeledContent encodes struct { opaque label<V>; opaque content<V>; },
// the shape of SignContent and EncryptContext.
func labeledContent(label string, content []byte) []byte {
	w := writer{b: make([]byte, 0, len(labelPrefix)+len(label)+len(content)+8)}
	w.Opaque([]byte(labelPrefix + label))
	w.Opaque(content)
	return w.b
}

// SignaturePrivateKey is a member's signing key for one cipher suite.
// It never prints its contents.
type SignaturePrivateKey struct {
	suite  CipherSuite
	ed     ed25519.PrivateKey
	ec     *ecdsa.PrivateKey
	public SignaturePublicKey
}

// NewSignaturePrivateKey parses a private key in the test-vector format:
// the 32-byte RFC 8032 seed for Ed25519, the big-endian scalar for ECDSA
// (shorter scalars are zero-extended).
func (cs CipherSuite) NewSignaturePrivateKey(raw []byte) (*SignaturePrivateKey, error) {
	s, err := cs.suite()
	if err != nil {
		return nil, err
	}
	k := &SignaturePrivateKey{suite: cs}
	if s.curve == nil {
		if len(raw) != ed25519.SeedSize {
			return nil, fmt.Errorf("%w: ed25519 seed of %d bytes", ErrBadKey, len(raw))
		}
		k.ed = ed25519.NewKeyFromSeed(raw)
		k.public = SignaturePublicKey(k.ed.Public().(ed25519.PublicKey))
		return k, nil
	}
	// Some encoders drop leading zero bytes of the scalar; restore them.
	if size := (s.curve.Params().BitSize + 7) / 8; len(raw) < size {
		raw = append(make([]byte, size-len(raw)), raw...)
	}
	if k.ec, err = ecdsa.ParseRawPrivateKey(s.curve, raw); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadKey, err)
	}
	if k.public, err = k.ec.PublicKey.Bytes(); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadKey, err)
	}
	return k, nil
}

// GenerateSignatureKey creates a signing key from bytes read from rand.
func (cs CipherSuite) GenerateSignatureKey(rand io.Reader) (*SignaturePrivateKey, error) {
	s, err := cs.suite()
	if err != nil {
		return nil, err
	}
	size := ed25519.SeedSize
	if s.curve != nil {
		size = (s.curve.Params().BitSize + 7) / 8
	}
	for range 16 { // rejection sampling for ECDSA scalars; Ed25519 takes the first
		raw := make([]byte, size)
		if _, err := io.ReadFull(rand, raw); err != nil {
			return nil, fmt.Errorf("mls: generate signature key: %w", err)
		}
		if s.curve == elliptic.P521() {
			raw[0] &= 0x01
		}
		if k, err := cs.NewSignaturePrivateKey(raw); err == nil {
			return k, nil
		}
	}
	return nil, fmt.Errorf("mls: generate signature key: %w", ErrBadKey)
}

// PublicKey returns the verification key (SignaturePublicKey): RFC 8032
// bytes for Ed25519, an uncompressed point for ECDSA.
func (k *SignaturePrivateKey) PublicKey() SignaturePublicKey { return k.public }

// CipherSuite returns the suite the key belongs to.
func (k *SignaturePrivateKey) CipherSuite() CipherSuite { return k.suite }

// Bytes returns the private key in the format NewSignaturePrivateKey
// parses, for storage by the caller.
func (k *SignaturePrivateKey) Bytes() []byte {
	if k.ec != nil {
		b, _ := k.ec.Bytes()
		return b
	}
	return k.ed.Seed()
}

// String redacts the key.
func (k SignaturePrivateKey) String() string { return "mls.SignaturePrivateKey(redacted)" }

// Format redacts the key for every verb.
func (k SignaturePrivateKey) Format(f fmt.State, _ rune) { io.WriteString(f, k.String()) }

// sign signs msg. Ed25519 is deterministic; ECDSA draws its nonce from
// crypto/rand (Go 1.26 ignores any injected reader).
func (s *suite) sign(k *SignaturePrivateKey, msg []byte) ([]byte, error) {
	if k.suite != s.id {
		return nil, fmt.Errorf("%w: signing key for suite %v", ErrBadKey, k.suite)
	}
	if k.ec == nil {
		return ed25519.Sign(k.ed, msg), nil
	}
	h := s.sigHash.New()
	h.Write(msg)
	return ecdsa.SignASN1(nil, k.ec, h.Sum(nil))
}

// verify checks sig over msg with pub.
func (s *suite) verify(pub []byte, msg, sig []byte) error {
	if s.curve == nil {
		if len(pub) != ed25519.PublicKeySize || !ed25519.Verify(ed25519.PublicKey(pub), msg, sig) {
			return ErrBadSignature
		}
		return nil
	}
	pk, err := ecdsa.ParseUncompressedPublicKey(s.curve, pub)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrBadSignature, err)
	}
	h := s.sigHash.New()
	h.Write(msg)
	if !ecdsa.VerifyASN1(pk, h.Sum(nil), sig) {
		return ErrBadSignature
	}
	return nil
}

// signWithLabel is SignWithLabel (RFC 9420, Section 5.1.2) for callers
// holding only a CipherSuite.
func signWithLabel(cs CipherSuite, k SignaturePrivateKey, label string, content []byte) ([]byte, error) {
	s, err := cs.suite()
	if err != nil {
		return nil, err
	}
	return s.signWithLabel(&k, label, content)
}

// verifyWithLabel is VerifyWithLabel for callers holding only a
// CipherSuite; failures wrap ErrBadSignature.
func verifyWithLabel(cs CipherSuite, pub []byte, label string, content, sig []byte) error {
	s, err := cs.suite()
	if err != nil {
		return err
	}
	return s.verifyWithLabel(pub, label, content, sig)
}

// signWithLabel is SignWithLabel (RFC 9420, Section 5.1.2).
func (s *suite) signWithLabel(k *SignaturePrivateKey, label string, content []byte) ([]byte, error) {
	return s.sign(k, labeledContent(label, content))
}

// verifyWithLabel is VerifyWithLabel; it returns ErrBadSignature on
// failure.
func (s *suite) verifyWithLabel(pub []byte, label string, content, sig []byte) error {
	return s.verify(pub, labeledContent(label, content), sig)
}

// HPKEPrivateKey is an HPKE decryption key (a leaf, path or init key).
// It never prints its contents.
type HPKEPrivateKey struct {
	k hpke.PrivateKey
}

// PublicKey returns the serialized public key (HPKEPublicKey).
func (k *HPKEPrivateKey) PublicKey() HPKEPublicKey { return k.k.PublicKey().Bytes() }

// Bytes returns the RFC 9180 SerializePrivateKey form, for storage.
func (k *HPKEPrivateKey) Bytes() ([]byte, error) { return k.k.Bytes() }

// String redacts the key.
func (k HPKEPrivateKey) String() string { return "mls.HPKEPrivateKey(redacted)" }

// Format redacts the key for every verb.
func (k HPKEPrivateKey) Format(f fmt.State, _ rune) { io.WriteString(f, k.String()) }

// NewHPKEPrivateKey parses a serialized HPKE private key for cs.
func (cs CipherSuite) NewHPKEPrivateKey(raw []byte) (*HPKEPrivateKey, error) {
	s, err := cs.suite()
	if err != nil {
		return nil, err
	}
	return s.hpkePrivateKey(raw)
}

func (s *suite) hpkePrivateKey(raw []byte) (*HPKEPrivateKey, error) {
	// NIST-curve scalars sometimes arrive without leading zero bytes.
	if s.curve != nil {
		if size := (s.curve.Params().BitSize + 7) / 8; len(raw) < size {
			raw = append(make([]byte, size-len(raw)), raw...)
		}
	}
	k, err := s.kem.NewPrivateKey(raw)
	if err != nil {
		return nil, fmt.Errorf("%w: hpke private key: %v", ErrBadKey, err)
	}
	return &HPKEPrivateKey{k: k}, nil
}

// deriveKeyPair is KEM.DeriveKeyPair(ikm) (RFC 9180, Section 7.1.3), used
// for node keys from path secrets and for the external key pair.
func (s *suite) deriveKeyPair(ikm []byte) (*HPKEPrivateKey, error) {
	k, err := s.kem.DeriveKeyPair(ikm)
	if err != nil {
		return nil, fmt.Errorf("mls: derive key pair: %w", err)
	}
	return &HPKEPrivateKey{k: k}, nil
}

// generateHPKEKey derives a fresh key pair from Nsk... bytes of rand.
func (s *suite) generateHPKEKey(rand io.Reader) (*HPKEPrivateKey, error) {
	ikm := make([]byte, 64)
	if _, err := io.ReadFull(rand, ikm); err != nil {
		return nil, fmt.Errorf("mls: generate hpke key: %w", err)
	}
	return s.deriveKeyPair(ikm)
}

// encryptWithLabel is EncryptWithLabel (RFC 9420, Section 5.1.3). HPKE
// draws its ephemeral key from crypto/rand; Go 1.26 offers no way to
// inject it.
func (s *suite) encryptWithLabel(pub []byte, label string, context, plaintext []byte) (kemOutput, ciphertext []byte, err error) {
	pk, err := s.kem.NewPublicKey(pub)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: hpke public key: %v", ErrBadKey, err)
	}
	enc, sender, err := hpke.NewSender(pk, s.kdf, s.hpkeAEAD, labeledContent(label, context))
	if err != nil {
		return nil, nil, fmt.Errorf("mls: hpke setup: %w", err)
	}
	ct, err := sender.Seal(nil, plaintext)
	if err != nil {
		return nil, nil, fmt.Errorf("mls: hpke seal: %w", err)
	}
	return enc, ct, nil
}

// decryptWithLabel is DecryptWithLabel; failures wrap ErrDecrypt.
func (s *suite) decryptWithLabel(k *HPKEPrivateKey, label string, context, kemOutput, ciphertext []byte) ([]byte, error) {
	r, err := hpke.NewRecipient(kemOutput, k.k, s.kdf, s.hpkeAEAD, labeledContent(label, context))
	if err != nil {
		return nil, fmt.Errorf("%w: hpke setup: %v", ErrDecrypt, err)
	}
	pt, err := r.Open(nil, ciphertext)
	if err != nil {
		return nil, fmt.Errorf("%w: hpke open", ErrDecrypt)
	}
	return pt, nil
}
