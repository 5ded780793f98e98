package sframe

import (
	"bytes"
	"errors"
	"math/rand/v2"
	"testing"
)

// frameErrors are the outcomes a damaged frame may have; which one depends
// on where the damage is (a flipped KID bit names another key, a flipped
// flag bit changes the header's shape).
var frameErrors = []error{ErrAuth, ErrUnknownKID, ErrTruncatedHeader, ErrNonMinimalHeader, ErrShortFrame, ErrReplay, ErrTooOld}

func isFrameError(err error) bool {
	for _, e := range frameErrors {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}

// decryptFails checks that frame is rejected with want (or any frame error
// if want is nil), and that the receiver's state and dst are unchanged.
func decryptFails(t *testing.T, r *Receiver, md, frame []byte, want error) {
	t.Helper()
	before := receiverState(r)
	dst := make([]byte, 3, 4096)
	copy(dst, "dst")
	out, err := r.Decrypt(dst, md, frame)
	switch {
	case err == nil:
		t.Fatalf("Decrypt(%x) succeeded", frame)
	case want != nil && !errors.Is(err, want):
		t.Fatalf("Decrypt(%x) err = %v, want %v", frame, err, want)
	case want == nil && !isFrameError(err):
		t.Fatalf("Decrypt(%x) err = %v, not a sentinel", frame, err)
	case out != nil || string(dst) != "dst":
		t.Fatalf("failed Decrypt returned %x, dst %q", out, dst)
	}
	if after := receiverState(r); after != before {
		t.Fatalf("failed Decrypt changed state:\n%s\n%s", before, after)
	}
}

func TestFlippedBitAnywhere(t *testing.T) {
	md := []byte("metadata")
	for _, s := range supportedSuites() {
		t.Run(s.String(), func(t *testing.T) {
			snd, rcv := newPair(t, s, 0x1234, Config{})
			snd.ctr = 300
			frame, err := snd.Encrypt(nil, md, []byte("a frame of media"))
			if err != nil {
				t.Fatal(err)
			}
			for bit := range 8 * len(frame) {
				bad := bytes.Clone(frame)
				bad[bit/8] ^= 1 << (bit % 8)
				decryptFails(t, rcv, md, bad, nil)
			}
			for bit := range 8 * len(md) {
				badMD := bytes.Clone(md)
				badMD[bit/8] ^= 1 << (bit % 8)
				decryptFails(t, rcv, badMD, frame, ErrAuth)
			}
			decryptFails(t, rcv, nil, frame, ErrAuth)
			if _, err := rcv.Decrypt(nil, md, frame); err != nil {
				t.Fatalf("intact frame after %d damaged ones: %v", 8*len(frame), err)
			}
		})
	}
}

func TestBadFrames(t *testing.T) {
	for _, s := range supportedSuites() {
		t.Run(s.String(), func(t *testing.T) { badFrames(t, s) })
	}
}

func badFrames(t *testing.T, s Suite) {
	snd, rcv := newPair(t, s, 0x1234, Config{})
	snd.ctr = 500
	f500, _ := snd.Encrypt(nil, nil, []byte("five hundred"))
	snd.ctr = 500 - DefaultReplayWindow
	fOld, _ := snd.Encrypt(nil, nil, []byte("too old"))
	other, _ := NewSender(s, 99, testBaseKey(32))
	fOther, _ := other.Encrypt(nil, nil, []byte("unknown kid"))
	hdr := Header{KID: 0x1234, CTR: 501}.Append(nil)
	if _, err := rcv.Decrypt(nil, nil, f500); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name  string
		frame []byte
		want  error
	}{
		{"empty", nil, ErrTruncatedHeader},
		{"truncated header", f500[:2], ErrTruncatedHeader},
		{"non-minimal header", append([]byte{0xa9, 0x00, 0x12, 0x34, 0x01, 0xf4}, f500[5:]...), ErrNonMinimalHeader},
		{"unknown kid", fOther, ErrUnknownKID},
		{"replayed ctr", f500, ErrReplay},
		{"ctr below window", fOld, ErrTooOld},
		{"header only", hdr, ErrShortFrame},
		{"shorter than tag", append(hdr, make([]byte, s.TagSize()-1)...), ErrShortFrame},
		{"tag only, forged", append(hdr, make([]byte, s.TagSize())...), ErrAuth},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { decryptFails(t, rcv, nil, tc.frame, tc.want) })
	}
}

// TestReplayWindowMatchesModel checks the ring bitmap against a plain set.
func TestReplayWindowMatchesModel(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, size := range []int{1, 5, 64, 100, 128} {
		w := newReplayWindow(size)
		seen := map[uint64]bool{}
		var top uint64
		for range 20000 {
			ctr := top + uint64(rng.IntN(3*size)) - uint64(min(top, uint64(2*size)))
			want := error(nil)
			switch {
			case len(seen) > 0 && ctr <= top && top-ctr >= uint64(size):
				want = ErrTooOld
			case seen[ctr]:
				want = ErrReplay
			}
			if err := w.check(ctr); !errors.Is(err, want) || (want == nil) != (err == nil) {
				t.Fatalf("size %d ctr %d top %d: err = %v, want %v", size, ctr, top, err, want)
			}
			if want == nil {
				w.accept(ctr)
				seen[ctr], top = true, max(top, ctr)
			}
		}
	}
}
