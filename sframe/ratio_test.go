package sframe

import (
	"crypto/cipher"
	"fmt"
	"slices"
	"testing"
	"time"
)

// BenchmarkVsBareGCM measures SFrame's GCM suites against bare AES-GCM
// (crypto/cipher, no additional data) of the same key size, on a shared,
// busy machine: each iteration times a block of bare operations and a block
// of SFrame operations back to back, in alternating order, and the
// benchmark reports the median per-block ratio (x-bare) and the median
// cost per frame of each side. Contention hits both halves of a block alike,
// so the ratio stays meaningful when absolute times are noisy.
func BenchmarkVsBareGCM(b *testing.B) {
	for _, s := range []Suite{AES_128_GCM_SHA256_128, AES_256_GCM_SHA512_128} {
		for _, n := range benchSizes {
			b.Run(fmt.Sprintf("%v/%d/Encrypt", s, n), func(b *testing.B) { ratioEncrypt(b, s, n) })
			b.Run(fmt.Sprintf("%v/%d/Decrypt", s, n), func(b *testing.B) { ratioDecrypt(b, s, n) })
		}
	}
}

// ratioBlock is how many frames each side processes per timed block.
const ratioBlock = 64

func ratioEncrypt(b *testing.B, s Suite, n int) {
	snd, err := NewSender(s, 0x1234, testBaseKey(32))
	if err != nil {
		b.Fatal(err)
	}
	aead := bareGCM(b, s.KeySize())
	nonce, pt := make([]byte, 12), make([]byte, n)
	dst := make([]byte, 0, n+MaxHeaderLen+16)
	bare := func() { aead.Seal(dst, nonce, pt, nil) }
	sf := func() {
		if _, err := snd.Encrypt(dst, nil, pt); err != nil {
			b.Fatal(err)
		}
	}
	runRatio(b, bare, sf)
}

func ratioDecrypt(b *testing.B, s Suite, n int) {
	snd, rcv := newPair(b, s, 0x1234, Config{})
	snd.ctr = 1 << 20
	frames := make([][]byte, ringFrames)
	for i := range frames {
		frames[i], _ = snd.Encrypt(nil, nil, make([]byte, n))
	}
	aead := bareGCM(b, s.KeySize())
	nonce, dst := make([]byte, 12), make([]byte, 0, n)
	ct := aead.Seal(nil, nonce, make([]byte, n), nil)
	bare := func() { mustOpen(b, aead, dst, nonce, ct) }
	i := 0
	sf := func() {
		if i == len(frames) {
			resetWindows(rcv)
			i = 0
		}
		if _, err := rcv.Decrypt(dst, nil, frames[i]); err != nil {
			b.Fatal(err)
		}
		i++
	}
	runRatio(b, bare, sf)
}

func mustOpen(b *testing.B, aead cipher.AEAD, dst, nonce, ct []byte) {
	if _, err := aead.Open(dst, nonce, ct, nil); err != nil {
		b.Fatal(err)
	}
}

// ratioSamples is how many of the latest blocks the medians are taken over;
// the buffers are allocated before timing starts.
const ratioSamples = 4096

// runRatio times blocks of bare and sf alternately and reports medians.
func runRatio(b *testing.B, bare, sf func()) {
	ratios := make([]float64, 0, ratioSamples)
	bareNs := make([]float64, 0, ratioSamples)
	sfNs := make([]float64, 0, ratioSamples)
	b.ReportAllocs()
	for round := 0; b.Loop(); round++ {
		var tb, ts time.Duration
		if round%2 == 0 {
			tb = timeBlock(bare)
			ts = timeBlock(sf)
		} else {
			ts = timeBlock(sf)
			tb = timeBlock(bare)
		}
		if round >= ratioSamples {
			ratios, bareNs, sfNs = ratios[:0], bareNs[:0], sfNs[:0]
			round = 0
		}
		ratios = append(ratios, float64(ts)/float64(tb))
		bareNs = append(bareNs, float64(tb)/ratioBlock)
		sfNs = append(sfNs, float64(ts)/ratioBlock)
	}
	b.ReportMetric(median(ratios), "x-bare")
	b.ReportMetric(median(bareNs), "bare-ns/frame")
	b.ReportMetric(median(sfNs), "sframe-ns/frame")
}

func timeBlock(f func()) time.Duration {
	start := time.Now()
	for range ratioBlock {
		f()
	}
	return time.Since(start)
}

func median(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	slices.Sort(v)
	return v[len(v)/2]
}
