package sframe

import (
	"bytes"
	"errors"
	"testing"
)

// FuzzParseHeader checks that ParseHeader never panics, that whatever it
// accepts re-encodes to exactly the bytes it read (one encoding per
// header), and that it rejects only with the two header sentinels.
func FuzzParseHeader(f *testing.F) {
	for _, v := range loadVectors(f).Header {
		f.Add([]byte(v.Encoded))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		h, n, err := ParseHeader(b)
		if err != nil {
			if !errors.Is(err, ErrTruncatedHeader) && !errors.Is(err, ErrNonMinimalHeader) {
				t.Fatalf("ParseHeader(%x): unexpected error %v", b, err)
			}
			return
		}
		if enc := h.Append(nil); !bytes.Equal(enc, b[:n]) || h.Len() != n {
			t.Fatalf("ParseHeader(%x) = %+v, %d; re-encodes to %x", b, h, n, enc)
		}
		var h2 Header
		if err := h2.UnmarshalBinary(b[:n]); err != nil || h2 != h {
			t.Fatalf("UnmarshalBinary(%x) = %+v, %v", b[:n], h2, err)
		}
	})
}

// fuzzKIDs are the KIDs the fuzz receiver holds keys for.
var fuzzKIDs = []uint64{0, 7, 0x1234}

// FuzzDecrypt feeds arbitrary frames to a Receiver holding keys for
// fuzzKIDs (base key testBaseKey(32)). Decrypt must never panic; a failure
// must be a sentinel and change nothing; a success must be authentic, so
// the same frame then fails as a replay.
func FuzzDecrypt(f *testing.F) {
	for _, s := range supportedSuites() {
		for _, kid := range fuzzKIDs {
			snd, _ := NewSender(s, kid, testBaseKey(32))
			snd.ctr = kid * 3
			frame, _ := snd.Encrypt(nil, []byte("md"), []byte("seed frame"))
			f.Add(uint16(s), []byte("md"), frame)
		}
	}
	f.Fuzz(func(t *testing.T, suite uint16, md, frame []byte) {
		s := Suite(suite%5 + 1)
		r, err := NewReceiver(s, Config{ReplayWindow: 16})
		if err != nil {
			t.Fatal(err)
		}
		for _, kid := range fuzzKIDs {
			if err := r.AddKey(kid, testBaseKey(32)); err != nil {
				t.Fatal(err)
			}
		}
		before := receiverState(r)
		pt, err := r.Decrypt(nil, md, frame)
		if err != nil {
			if !isFrameError(err) || receiverState(r) != before {
				t.Fatalf("Decrypt(%x): %v, state changed: %v", frame, err, receiverState(r) != before)
			}
			return
		}
		if _, err := r.Decrypt(nil, md, frame); !errors.Is(err, ErrReplay) {
			t.Fatalf("frame decrypted to %x, then replay gave %v", pt, err)
		}
	})
}

// FuzzMLSDecrypt feeds arbitrary frames to member 0 of a 3-member group
// holding epochs 1 and 2. As for FuzzDecrypt: no panic, failures are
// sentinels that change nothing, successes are authentic.
func FuzzMLSDecrypt(f *testing.F) {
	s := AES_128_GCM_SHA256_128
	for i := range 3 {
		m, _ := NewMLSKeys(s, uint32(i), MLSConfig{})
		_ = m.AddEpoch(2, 3, exporterSecret(s, 2))
		snd, _ := m.NewSender(uint64(i))
		frame, _ := snd.Encrypt(nil, nil, []byte("seed"))
		f.Add(frame)
	}
	f.Fuzz(func(t *testing.T, frame []byte) {
		m, err := NewMLSKeys(s, 0, MLSConfig{})
		if err != nil {
			t.Fatal(err)
		}
		for e := uint64(1); e <= 2; e++ {
			if err := m.AddEpoch(e, 3, exporterSecret(s, e)); err != nil {
				t.Fatal(err)
			}
		}
		before := mlsState(m)
		if _, err := m.Decrypt(nil, nil, frame); err != nil {
			if !isFrameError(err) || mlsState(m) != before {
				t.Fatalf("Decrypt(%x): %v, state changed: %v", frame, err, mlsState(m) != before)
			}
			return
		}
		if _, err := m.Decrypt(nil, nil, frame); !errors.Is(err, ErrReplay) {
			t.Fatalf("replay of %x gave %v", frame, err)
		}
	})
}
