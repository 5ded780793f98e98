package sframe

import (
	"bytes"
	"errors"
	"fmt"
	"maps"
	"math"
	"slices"
	"strings"
	"testing"
)

// testBaseKey returns a fixed base key of n bytes for tests.
func testBaseKey(n int) []byte {
	k := make([]byte, n)
	for i := range k {
		k[i] = byte(i*7 + 1)
	}
	return k
}

func newPair(t testing.TB, s Suite, kid uint64, cfg Config) (*Sender, *Receiver) {
	t.Helper()
	snd, err := NewSender(s, kid, testBaseKey(32))
	if err != nil {
		t.Fatal(err)
	}
	rcv, err := NewReceiver(s, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := rcv.AddKey(kid, testBaseKey(32)); err != nil {
		t.Fatal(err)
	}
	return snd, rcv
}

// receiverState renders everything in r that decides future outcomes: the
// KIDs held and each replay window.
func receiverState(r *Receiver) string {
	var b strings.Builder
	for _, kid := range slices.Sorted(maps.Keys(r.keys)) {
		w := r.keys[kid].replay
		fmt.Fprintf(&b, "%d:%d:%v:%x;", kid, w.top, w.any, w.bits)
	}
	return b.String()
}

func TestRoundTripAllSuites(t *testing.T) {
	sizes := []int{0, 1, 15, 16, 17, 60, 1200, 5000}
	kids := []uint64{0, 7, 8, 0x1234, math.MaxUint64}
	for _, s := range supportedSuites() {
		for _, kid := range kids {
			t.Run(fmt.Sprintf("%v/kid=%d", s, kid), func(t *testing.T) {
				snd, rcv := newPair(t, s, kid, Config{})
				for i, n := range sizes {
					md := []byte(nil)
					if i%2 == 1 {
						md = []byte("rtp header extension")
					}
					roundTrip(t, snd, rcv, md, bytes.Repeat([]byte{byte(n)}, n))
				}
			})
		}
	}
}

func roundTrip(t *testing.T, snd *Sender, rcv *Receiver, md, pt []byte) {
	t.Helper()
	want := snd.Overhead() + len(pt)
	frame, err := snd.Encrypt([]byte("prefix"), md, pt)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(frame, []byte("prefix")) || len(frame)-6 != want {
		t.Fatalf("Encrypt: %d bytes after prefix, want %d", len(frame)-6, want)
	}
	got, err := rcv.Decrypt([]byte("out:"), md, frame[6:])
	if err != nil || !bytes.Equal(got, append([]byte("out:"), pt...)) {
		t.Fatalf("Decrypt = %q, %v", got, err)
	}
}

func TestOutOfOrderWithinWindow(t *testing.T) {
	snd, rcv := newPair(t, AES_128_GCM_SHA256_128, 3, Config{ReplayWindow: 64})
	var frames [][]byte
	for i := range 256 {
		f, err := snd.Encrypt(nil, nil, []byte{byte(i)})
		if err != nil {
			t.Fatal(err)
		}
		frames = append(frames, f)
	}
	// Deliver blocks of 64 in reverse order: each frame is at most 63
	// counters behind the highest one accepted.
	for blk := 0; blk < len(frames); blk += 64 {
		for i := blk + 63; i >= blk; i-- {
			if pt, err := rcv.Decrypt(nil, nil, frames[i]); err != nil || pt[0] != byte(i) {
				t.Fatalf("frame %d: %v", i, err)
			}
		}
	}
	for i, f := range frames {
		want := ErrReplay
		if i < 256-64 {
			want = ErrTooOld
		}
		if _, err := rcv.Decrypt(nil, nil, f); !errors.Is(err, want) {
			t.Fatalf("replay of frame %d: err = %v, want %v", i, err, want)
		}
	}
}

func TestReplayWindowEdges(t *testing.T) {
	for _, w := range []int{1, 2, 63, 64, 65, 128, 1000, MaxReplayWindow} {
		t.Run(fmt.Sprint(w), func(t *testing.T) {
			win := newReplayWindow(w)
			top := uint64(3 * MaxReplayWindow)
			mustAccept(t, &win, top)
			if err := win.check(top - uint64(w)); !errors.Is(err, ErrTooOld) {
				t.Fatalf("ctr top-%d: err = %v, want ErrTooOld", w, err)
			}
			if w > 1 {
				mustAccept(t, &win, top-uint64(w)+1) // the lowest counter in the window
			}
			mustAccept(t, &win, top+uint64(w)) // jump by a whole window
			if err := win.check(top); !errors.Is(err, ErrTooOld) {
				t.Fatalf("old top after jump: err = %v", err)
			}
			mustAccept(t, &win, math.MaxUint64)
			if err := win.check(math.MaxUint64); !errors.Is(err, ErrReplay) {
				t.Fatalf("max ctr twice: err = %v", err)
			}
		})
	}
}

func mustAccept(t *testing.T, w *replayWindow, ctr uint64) {
	t.Helper()
	if err := w.check(ctr); err != nil {
		t.Fatalf("ctr %d: %v", ctr, err)
	}
	w.accept(ctr)
	if err := w.check(ctr); !errors.Is(err, ErrReplay) {
		t.Fatalf("ctr %d accepted twice: %v", ctr, err)
	}
}

func TestConfig(t *testing.T) {
	tests := []struct {
		window, want int
		err          error
	}{
		{0, DefaultReplayWindow, nil},
		{1, 1, nil},
		{MaxReplayWindow, MaxReplayWindow, nil},
		{-1, 0, ErrInvalidConfig},
		{MaxReplayWindow + 1, 0, ErrInvalidConfig},
	}
	for _, tc := range tests {
		r, err := NewReceiver(AES_128_GCM_SHA256_128, Config{ReplayWindow: tc.window})
		if !errors.Is(err, tc.err) || (err == nil && r.window != tc.want) {
			t.Errorf("window %d: %v, %v", tc.window, r, err)
		}
	}
}

func TestSenderCounterExhausted(t *testing.T) {
	snd, rcv := newPair(t, AES_128_CTR_HMAC_SHA256_32, 9, Config{})
	snd.ctr = math.MaxUint64 - 1
	for range 2 {
		f, err := snd.Encrypt(nil, nil, []byte("x"))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := rcv.Decrypt(nil, nil, f); err != nil {
			t.Fatal(err)
		}
	}
	for range 2 {
		if f, err := snd.Encrypt(nil, nil, []byte("x")); !errors.Is(err, ErrCounterExhausted) || f != nil {
			t.Fatalf("Encrypt after last counter = %x, %v", f, err)
		}
	}
	if snd.Counter() != math.MaxUint64 {
		t.Fatalf("Counter() = %d", snd.Counter())
	}
}

func TestKeyManagement(t *testing.T) {
	snd, rcv := newPair(t, AES_256_GCM_SHA512_128, 42, Config{})
	if err := rcv.AddKey(42, testBaseKey(32)); !errors.Is(err, ErrInvalidKey) {
		t.Fatalf("AddKey twice: %v", err)
	}
	if err := rcv.AddKey(43, testBaseKey(15)); !errors.Is(err, ErrInvalidKey) {
		t.Fatalf("AddKey short key: %v", err)
	}
	if _, err := NewSender(AES_256_GCM_SHA512_128, 1, nil); !errors.Is(err, ErrInvalidKey) {
		t.Fatalf("NewSender empty key: %v", err)
	}
	f, _ := snd.Encrypt(nil, nil, []byte("hi"))
	if _, err := rcv.Decrypt(nil, nil, f); err != nil {
		t.Fatal(err)
	}
	if !rcv.RemoveKey(42) || rcv.RemoveKey(42) || rcv.HasKey(42) {
		t.Fatal("RemoveKey did not remove exactly once")
	}
	f, _ = snd.Encrypt(nil, nil, []byte("hi"))
	if _, err := rcv.Decrypt(nil, nil, f); !errors.Is(err, ErrUnknownKID) {
		t.Fatalf("Decrypt after RemoveKey: %v", err)
	}
}

func TestFrameTooLarge(t *testing.T) {
	if err := checkFrameLen(maxPlaintext); err != nil {
		t.Errorf("frame at the limit: %v", err)
	}
	if err := checkFrameLen(maxPlaintext + 1); !errors.Is(err, ErrFrameTooLarge) {
		t.Errorf("frame over the limit: %v", err)
	}
}

// supportedSuites lists the suites the public API accepts, by probing the
// whole code point space.
func supportedSuites() []Suite {
	var out []Suite
	for s := range 1 << 16 {
		if Suite(s).Supported() {
			out = append(out, Suite(s))
		}
	}
	return out
}
