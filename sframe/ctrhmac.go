package sframe

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/sha512"
	"encoding/binary"
	"errors"
	"hash"
)

// ctrHMAC is the AEAD of RFC 9605 §4.5.1: AES-CTR, then HMAC over
// len(aad) || len(ct) || Nt (8 bytes each, big-endian) || nonce || aad || ct,
// truncated to Nt bytes. The counter block is nonce || 0x00000000.
//
// It keeps scratch buffers, so unlike crypto/cipher's AEADs it must not be
// used by two goroutines at once; Sender and Receiver own one each.
type ctrHMAC struct {
	block  cipher.Block
	mac    hash.Hash
	tagLen int
	iv     [aes.BlockSize]byte
	lens   [24]byte
	sum    [sha512.Size]byte
}

var errOpen = errors.New("sframe: message authentication failed")

func (a *ctrHMAC) NonceSize() int { return nonceSize }

func (a *ctrHMAC) Overhead() int { return a.tagLen }

// Seal encrypts then MACs plaintext and appends ciphertext and tag to dst.
func (a *ctrHMAC) Seal(dst, nonce, plaintext, aad []byte) []byte {
	if len(nonce) != nonceSize {
		panic("sframe: incorrect nonce length")
	}
	ret, out := sliceForAppend(dst, len(plaintext)+a.tagLen)
	ct := out[:len(plaintext)]
	a.xorKeyStream(ct, plaintext, nonce)
	copy(out[len(plaintext):], a.tag(nonce, aad, ct))
	return ret
}

// Open checks the tag in constant time before decrypting anything.
func (a *ctrHMAC) Open(dst, nonce, ciphertext, aad []byte) ([]byte, error) {
	if len(nonce) != nonceSize {
		panic("sframe: incorrect nonce length")
	}
	if len(ciphertext) < a.tagLen || uint64(len(ciphertext)-a.tagLen) > maxPlaintext {
		return nil, errOpen
	}
	ct, tag := ciphertext[:len(ciphertext)-a.tagLen], ciphertext[len(ciphertext)-a.tagLen:]
	if !hmac.Equal(a.tag(nonce, aad, ct), tag) {
		return nil, errOpen
	}
	ret, out := sliceForAppend(dst, len(ct))
	a.xorKeyStream(out, ct, nonce)
	return ret, nil
}

// tag is compute_tag of §4.5.1. The result aliases a.sum.
func (a *ctrHMAC) tag(nonce, aad, ct []byte) []byte {
	binary.BigEndian.PutUint64(a.lens[0:], uint64(len(aad)))
	binary.BigEndian.PutUint64(a.lens[8:], uint64(len(ct)))
	binary.BigEndian.PutUint64(a.lens[16:], uint64(a.tagLen))
	a.mac.Reset()
	a.mac.Write(a.lens[:])
	a.mac.Write(nonce)
	a.mac.Write(aad)
	a.mac.Write(ct)
	return a.mac.Sum(a.sum[:0])[:a.tagLen]
}

// xorKeyStream runs AES-CTR from the counter block nonce || 0x00000000.
func (a *ctrHMAC) xorKeyStream(dst, src, nonce []byte) {
	copy(a.iv[:], nonce)
	clear(a.iv[nonceSize:])
	cipher.NewCTR(a.block, a.iv[:]).XORKeyStream(dst, src)
}

// sliceForAppend extends in by n bytes, reusing its capacity when it can,
// and returns the whole slice and the n new bytes.
func sliceForAppend(in []byte, n int) (head, tail []byte) {
	if total := len(in) + n; cap(in) >= total {
		head = in[:total]
	} else {
		head = make([]byte, total)
		copy(head, in)
	}
	return head, head[len(in):]
}
