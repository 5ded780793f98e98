package sframe

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/binary"
	"fmt"
	"hash"
)

// Suite is an SFrame cipher suite, numbered as in the IANA "SFrame Cipher
// Suites" registry (RFC 9605 §8.1).
type Suite uint16

// The cipher suites of RFC 9605 §4.5, with their IANA values. The names
// follow the RFC, as crypto/tls does for TLS suites.
const (
	AES_128_CTR_HMAC_SHA256_80 Suite = 0x0001
	AES_128_CTR_HMAC_SHA256_64 Suite = 0x0002
	AES_128_CTR_HMAC_SHA256_32 Suite = 0x0003
	AES_128_GCM_SHA256_128     Suite = 0x0004
	AES_256_GCM_SHA512_128     Suite = 0x0005
)

// Code points 6-8 carry the AES-256-CTR / HMAC-SHA-512 construction in the
// shared test vectors. RFC 9605 does not register them, so they are only
// reachable from this package's tests; the public API refuses them.
const (
	aes256CTRHMACSHA512_80 Suite = 0x0006
	aes256CTRHMACSHA512_64 Suite = 0x0007
	aes256CTRHMACSHA512_32 Suite = 0x0008
)

// nonceSize is AEAD.Nn, the same for every suite.
const nonceSize = 12

// minBaseKeyLen is the shortest base_key accepted: 128 bits.
const minBaseKeyLen = 16

// maxPlaintext bounds a frame so that neither the AES-GCM block counter nor
// the 32-bit block counter of the AES-CTR suites (nonce || 0x00000000) wraps.
const maxPlaintext = ((1 << 32) - 2) * aes.BlockSize

// suiteParams holds the constants of RFC 9605 §4.5 for one suite.
type suiteParams struct {
	hash       func() hash.Hash
	nh         int // Hash.Nh
	nka        int // AEAD.Nka: AES key size in the CTR+HMAC suites, 0 for GCM
	nk         int // AEAD.Nk
	nt         int // AEAD.Nt
	registered bool
}

// params returns the constants of s, and false if s is not known at all.
func (s Suite) params() (suiteParams, bool) {
	switch s {
	case AES_128_CTR_HMAC_SHA256_80, AES_128_CTR_HMAC_SHA256_64, AES_128_CTR_HMAC_SHA256_32:
		nt := [...]int{10, 8, 4}[s-AES_128_CTR_HMAC_SHA256_80]
		return suiteParams{sha256.New, 32, 16, 48, nt, true}, true
	case AES_128_GCM_SHA256_128:
		return suiteParams{sha256.New, 32, 0, 16, 16, true}, true
	case AES_256_GCM_SHA512_128:
		return suiteParams{sha512.New, 64, 0, 32, 16, true}, true
	case aes256CTRHMACSHA512_80, aes256CTRHMACSHA512_64, aes256CTRHMACSHA512_32:
		nt := [...]int{10, 8, 4}[s-aes256CTRHMACSHA512_80]
		return suiteParams{sha512.New, 64, 32, 96, nt, false}, true
	}
	return suiteParams{}, false
}

func (s Suite) name() string {
	names := [...]string{"", "AES_128_CTR_HMAC_SHA256_80", "AES_128_CTR_HMAC_SHA256_64",
		"AES_128_CTR_HMAC_SHA256_32", "AES_128_GCM_SHA256_128", "AES_256_GCM_SHA512_128",
		"AES_256_CTR_HMAC_SHA512_80", "AES_256_CTR_HMAC_SHA512_64", "AES_256_CTR_HMAC_SHA512_32"}
	if int(s) < len(names) && s != 0 {
		return names[s]
	}
	return fmt.Sprintf("Suite(%#04x)", uint16(s))
}

// String returns the RFC name of s.
func (s Suite) String() string { return s.name() }

// Supported reports whether s is one of the five suites of RFC 9605.
func (s Suite) Supported() bool {
	p, ok := s.params()
	return ok && p.registered
}

// KeySize returns AEAD.Nk, the length of sframe_key, which is also the
// length of the MLS exporter output for §5.2. It is 0 for unsupported suites.
func (s Suite) KeySize() int { return s.supported().nk }

// TagSize returns AEAD.Nt, the bytes the tag adds to every frame.
func (s Suite) TagSize() int { return s.supported().nt }

func (s Suite) supported() suiteParams {
	if p, ok := s.params(); ok && p.registered {
		return p
	}
	return suiteParams{}
}

// checkSuite returns the parameters of a suite offered by the public API.
func checkSuite(s Suite) (suiteParams, error) {
	p, ok := s.params()
	if !ok || !p.registered {
		return suiteParams{}, fmt.Errorf("sframe: suite %v: %w", s, ErrUnsupportedSuite)
	}
	return p, nil
}

// frameKey is the keyed AEAD and the salt of one KID.
type frameKey struct {
	aead cipher.AEAD
	tag  int // AEAD.Nt
	salt [nonceSize]byte
}

// newFrameKey derives sframe_key and sframe_salt for kid (§4.4.2) and keys
// the suite's AEAD once, so that no frame derives or allocates keys.
func newFrameKey(s Suite, p suiteParams, kid uint64, baseKey []byte) (*frameKey, error) {
	if len(baseKey) < minBaseKeyLen {
		return nil, fmt.Errorf("base key of %d bytes, want at least %d: %w", len(baseKey), minBaseKeyLen, ErrInvalidKey)
	}
	key, salt, err := deriveKeySalt(s, p, kid, baseKey)
	if err != nil {
		return nil, err
	}
	aead, err := p.newAEAD(key)
	if err != nil {
		return nil, err
	}
	k := &frameKey{aead: aead, tag: p.nt}
	copy(k.salt[:], salt)
	return k, nil
}

// nonce writes sframe_salt XOR CTR (big-endian in Nn bytes) to dst (§4.4.3).
func (k *frameKey) nonce(dst *[nonceSize]byte, ctr uint64) {
	*dst = k.salt
	binary.BigEndian.PutUint64(dst[4:], binary.BigEndian.Uint64(k.salt[4:])^ctr)
}

// deriveKeySalt is derive_key_salt of RFC 9605 §4.4.2.
func deriveKeySalt(s Suite, p suiteParams, kid uint64, baseKey []byte) (key, salt []byte, err error) {
	secret, err := hkdf.Extract(p.hash, baseKey, nil)
	if err != nil {
		return nil, nil, fmt.Errorf("sframe_secret: %w", err)
	}
	key, err = hkdf.Expand(p.hash, secret, kdfLabel("SFrame 1.0 Secret key ", kid, s), p.nk)
	if err != nil {
		return nil, nil, fmt.Errorf("sframe_key: %w", err)
	}
	salt, err = hkdf.Expand(p.hash, secret, kdfLabel("SFrame 1.0 Secret salt ", kid, s), nonceSize)
	if err != nil {
		return nil, nil, fmt.Errorf("sframe_salt: %w", err)
	}
	return key, salt, nil
}

// kdfLabel is prefix || KID as 8 bytes || suite as 2 bytes, big-endian.
func kdfLabel(prefix string, kid uint64, s Suite) string {
	b := append([]byte(prefix), make([]byte, 10)...)
	binary.BigEndian.PutUint64(b[len(prefix):], kid)
	binary.BigEndian.PutUint16(b[len(prefix)+8:], uint16(s))
	return string(b)
}

// newAEAD keys the suite's AEAD with sframe_key: AES-GCM from crypto/cipher,
// or the AES-CTR + HMAC composition of §4.5.1.
func (p suiteParams) newAEAD(key []byte) (cipher.AEAD, error) {
	if p.nka == 0 {
		block, err := aes.NewCipher(key)
		if err != nil {
			return nil, fmt.Errorf("aes: %w", err)
		}
		return cipher.NewGCM(block)
	}
	block, err := aes.NewCipher(key[:p.nka])
	if err != nil {
		return nil, fmt.Errorf("aes: %w", err)
	}
	return &ctrHMAC{block: block, mac: hmac.New(p.hash, key[p.nka:]), tagLen: p.nt}, nil
}
