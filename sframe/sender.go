package sframe

import (
	"fmt"
	"math"
)

// Sender encrypts frames under one KID (RFC 9605 §4.4.1). Its counter starts
// at 0 and goes up by one per frame; when the last counter (2^64-1) has been
// used, Encrypt fails with ErrCounterExhausted rather than reuse a nonce.
//
// A base_key must be used by one Sender only, and never also for decryption.
// A Sender must not be used by two goroutines at once.
type Sender struct {
	suite Suite
	kid   uint64
	ctr   uint64 // the next counter to use
	done  bool   // every counter has been used
	key   *frameKey
	nonce [nonceSize]byte
	aad   []byte // scratch: header || metadata
}

// NewSender returns a Sender that encrypts with baseKey under kid. The key
// and salt are derived and the AEAD keyed once, here.
func NewSender(suite Suite, kid uint64, baseKey []byte) (*Sender, error) {
	p, err := checkSuite(suite)
	if err != nil {
		return nil, err
	}
	return newSender(suite, p, kid, baseKey)
}

func newSender(suite Suite, p suiteParams, kid uint64, baseKey []byte) (*Sender, error) {
	key, err := newFrameKey(suite, p, kid, baseKey)
	if err != nil {
		return nil, fmt.Errorf("sframe: sender key: %w", err)
	}
	return &Sender{suite: suite, kid: kid, key: key}, nil
}

// Suite returns the sender's cipher suite.
func (s *Sender) Suite() Suite { return s.suite }

// KID returns the key ID written in every frame.
func (s *Sender) KID() uint64 { return s.kid }

// Counter returns the CTR the next frame will carry.
func (s *Sender) Counter() uint64 { return s.ctr }

// Overhead returns how many bytes the next frame adds to its plaintext:
// the header plus the tag.
func (s *Sender) Overhead() int {
	return Header{KID: s.kid, CTR: s.ctr}.Len() + s.key.tag
}

// Encrypt appends the SFrame ciphertext of plaintext to dst and returns the
// extended slice (RFC 9605 §4.4.3). metadata is authenticated but not sent.
// If dst has room for Overhead()+len(plaintext) more bytes, Encrypt does
// not allocate with the GCM suites; the AES-CTR suites allocate the
// counter-mode state crypto/cipher.NewCTR returns, once per frame. dst's
// spare capacity must not overlap plaintext.
func (s *Sender) Encrypt(dst, metadata, plaintext []byte) ([]byte, error) {
	if s.done {
		return nil, fmt.Errorf("sframe: kid %d: %w", s.kid, ErrCounterExhausted)
	}
	if err := checkFrameLen(uint64(len(plaintext))); err != nil {
		return nil, err
	}
	start := len(dst)
	dst = Header{KID: s.kid, CTR: s.ctr}.Append(dst)
	aad := dst[start:]
	if len(metadata) > 0 {
		s.aad = append(append(s.aad[:0], aad...), metadata...)
		aad = s.aad
	}
	s.key.nonce(&s.nonce, s.ctr)
	dst = s.key.aead.Seal(dst, s.nonce[:], plaintext, aad)
	s.advance()
	return dst, nil
}

// advance moves to the next counter, or marks the sender exhausted after
// the last one.
func (s *Sender) advance() {
	if s.ctr == math.MaxUint64 {
		s.done = true
		return
	}
	s.ctr++
}

// checkFrameLen refuses plaintexts that would wrap the AEAD's block counter.
func checkFrameLen(n uint64) error {
	if n > maxPlaintext {
		return fmt.Errorf("sframe: %d byte frame: %w", n, ErrFrameTooLarge)
	}
	return nil
}
