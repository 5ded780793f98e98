package sframe

import (
	"crypto/aes"
	"crypto/cipher"
	"fmt"
	"testing"
)

// benchSizes are an audio-sized and a video-packet-sized frame.
var benchSizes = []int{60, 1200}

func BenchmarkEncrypt(b *testing.B) {
	for _, s := range supportedSuites() {
		for _, n := range benchSizes {
			b.Run(fmt.Sprintf("%v/%d", s, n), func(b *testing.B) {
				snd, err := NewSender(s, 0x1234, testBaseKey(32))
				if err != nil {
					b.Fatal(err)
				}
				pt := make([]byte, n)
				dst := make([]byte, 0, n+MaxHeaderLen+16)
				b.SetBytes(int64(n))
				b.ReportAllocs()
				for b.Loop() {
					if _, err := snd.Encrypt(dst, nil, pt); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}

// ringFrames is how many distinct frames a decrypt benchmark cycles through.
const ringFrames = 1024

func BenchmarkDecrypt(b *testing.B) {
	for _, s := range supportedSuites() {
		for _, n := range benchSizes {
			b.Run(fmt.Sprintf("%v/%d", s, n), func(b *testing.B) { benchDecrypt(b, s, n) })
		}
	}
}

func benchDecrypt(b *testing.B, s Suite, n int) {
	snd, rcv := newPair(b, s, 0x1234, Config{})
	snd.ctr = 1 << 20 // a 3-byte CTR, as a call some minutes in would have
	frames := make([][]byte, ringFrames)
	for i := range frames {
		frames[i], _ = snd.Encrypt(nil, nil, make([]byte, n))
	}
	dst := make([]byte, 0, n)
	b.SetBytes(int64(n))
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		if i == len(frames) { // costs a few ns per 1024 frames
			resetWindows(rcv)
			i = 0
		}
		if _, err := rcv.Decrypt(dst, nil, frames[i]); err != nil {
			b.Fatal(err)
		}
		i++
	}
}

// resetWindows forgets every accepted counter, so a benchmark can decrypt
// the same frames again.
func resetWindows(r *Receiver) {
	for _, k := range r.keys {
		k.replay.any = false
		clear(k.replay.bits)
	}
}

// BenchmarkBareGCM is the baseline: crypto/cipher AES-GCM with a fixed
// nonce, on the same sizes, with no additional data and with 4 bytes of it
// (as long as the SFrame header of the frames above, which GCM must hash).
func BenchmarkBareGCM(b *testing.B) {
	for _, keyLen := range []int{16, 32} {
		for _, aadLen := range []int{0, 4} {
			for _, n := range benchSizes {
				name := fmt.Sprintf("AES-%d-GCM/aad=%d/%d", keyLen*8, aadLen, n)
				b.Run(name, func(b *testing.B) { benchBareGCM(b, keyLen, aadLen, n) })
			}
		}
	}
}

func benchBareGCM(b *testing.B, keyLen, aadLen, n int) {
	aead := bareGCM(b, keyLen)
	nonce := make([]byte, aead.NonceSize())
	pt, aad := make([]byte, n), make([]byte, aadLen)
	buf := make([]byte, 0, n+aead.Overhead())
	ct := aead.Seal(nil, nonce, pt, aad)
	b.Run("Seal", func(b *testing.B) {
		b.SetBytes(int64(n))
		b.ReportAllocs()
		for b.Loop() {
			aead.Seal(buf, nonce, pt, aad)
		}
	})
	b.Run("Open", func(b *testing.B) {
		b.SetBytes(int64(n))
		b.ReportAllocs()
		for b.Loop() {
			if _, err := aead.Open(buf, nonce, ct, aad); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func bareGCM(b *testing.B, keyLen int) cipher.AEAD {
	block, err := aes.NewCipher(testBaseKey(keyLen))
	if err != nil {
		b.Fatal(err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		b.Fatal(err)
	}
	return aead
}
