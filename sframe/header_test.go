package sframe

import (
	"bytes"
	"encoding/hex"
	"errors"
	"math"
	"testing"
)

func TestParseHeaderRejects(t *testing.T) {
	tests := []struct {
		name string
		hex  string
		want error
	}{
		{"empty", "", ErrTruncatedHeader},
		{"kid length 1, no kid byte", "80", ErrTruncatedHeader},
		{"kid length 8, 7 bytes", "f0ffffffffffffff", ErrTruncatedHeader},
		{"ctr length 1, no ctr byte", "08", ErrTruncatedHeader},
		{"ctr length 8, 7 bytes", "0fffffffffffffff", ErrTruncatedHeader},
		{"kid ok, ctr cut", "8908ff", ErrTruncatedHeader},
		{"kid 0 in extended form", "8000", ErrNonMinimalHeader},
		{"kid 7 in extended form", "8007", ErrNonMinimalHeader},
		{"ctr 7 in extended form", "0807", ErrNonMinimalHeader},
		{"kid 255 in two bytes", "9000ff", ErrNonMinimalHeader},
		{"ctr 8 in two bytes", "090008", ErrNonMinimalHeader},
		{"ctr 2^56-1 in eight bytes", "0f00ffffffffffffff", ErrNonMinimalHeader},
		{"kid and ctr both in eight bytes, kid non-minimal", "ff00ffffffffffffffffffffffffffffff", ErrNonMinimalHeader},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b, _ := hex.DecodeString(tc.hex)
			h, n, err := ParseHeader(b)
			if !errors.Is(err, tc.want) {
				t.Fatalf("ParseHeader(%s) = %+v, %d, %v; want %v", tc.hex, h, n, err, tc.want)
			}
		})
	}
}

func TestHeaderRoundTrip(t *testing.T) {
	values := []uint64{0, 1, 7, 8, 255, 256, 1 << 16, 1<<32 - 1, 1 << 56, math.MaxUint64}
	for _, kid := range values {
		for _, ctr := range values {
			h := Header{KID: kid, CTR: ctr}
			b, _ := h.MarshalBinary()
			b = append(b, 0xaa) // trailing payload is not part of the header
			got, n, err := ParseHeader(b)
			if err != nil || got != h || n != len(b)-1 || n != h.Len() {
				t.Errorf("round trip %+v: got %+v, %d, %v", h, got, n, err)
			}
		}
	}
}

func TestHeaderUnmarshalBinary(t *testing.T) {
	var h Header
	if err := h.UnmarshalBinary([]byte{0x18, 0xff}); err != nil || h != (Header{KID: 1, CTR: 255}) {
		t.Fatalf("UnmarshalBinary = %+v, %v", h, err)
	}
	if err := h.UnmarshalBinary([]byte{0x18, 0xff, 0x00}); err == nil {
		t.Fatal("UnmarshalBinary accepted a trailing byte")
	}
	if err := h.UnmarshalBinary([]byte{0x18}); !errors.Is(err, ErrTruncatedHeader) {
		t.Fatalf("UnmarshalBinary(18) err = %v", err)
	}
	if h != (Header{KID: 1, CTR: 255}) {
		t.Fatalf("failed UnmarshalBinary changed the header to %+v", h)
	}
}

func TestHeaderAppendKeepsPrefix(t *testing.T) {
	got := Header{KID: 0x1ff, CTR: 3}.Append([]byte("ab"))
	if want := []byte{'a', 'b', 0x93, 0x01, 0xff}; !bytes.Equal(got, want) {
		t.Fatalf("Append = %x, want %x", got, want)
	}
}
