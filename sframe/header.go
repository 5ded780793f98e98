package sframe

import (
	"encoding/binary"
	"fmt"
	"math/bits"
)

// MaxHeaderLen is the longest SFrame header: the config byte plus an
// 8-byte KID and an 8-byte CTR.
const MaxHeaderLen = 17

// Header is an SFrame header (RFC 9605 §4.3): the key ID that selects the
// key, and the counter that makes the nonce unique under that key.
type Header struct {
	KID uint64
	CTR uint64
}

// Len returns the length of h's encoding in bytes.
func (h Header) Len() int {
	return 1 + valueLen(h.KID) + valueLen(h.CTR)
}

// Append appends the shortest encoding of h to dst and returns the result.
func (h Header) Append(dst []byte) []byte {
	dst = append(dst, configField(h.KID)<<4|configField(h.CTR))
	dst = appendValue(dst, h.KID)
	return appendValue(dst, h.CTR)
}

// MarshalBinary returns the encoding of h.
func (h Header) MarshalBinary() ([]byte, error) {
	return h.Append(make([]byte, 0, h.Len())), nil
}

// UnmarshalBinary decodes a header that fills all of b.
func (h *Header) UnmarshalBinary(b []byte) error {
	parsed, n, err := ParseHeader(b)
	if err != nil {
		return err
	}
	if n != len(b) {
		return fmt.Errorf("sframe: %d trailing bytes after header", len(b)-n)
	}
	*h = parsed
	return nil
}

// ParseHeader decodes the header at the start of b and returns it with its
// length. It rejects headers that are cut short (ErrTruncatedHeader) and
// KID or CTR values not in their shortest form (ErrNonMinimalHeader).
func ParseHeader(b []byte) (Header, int, error) {
	if len(b) == 0 {
		return Header{}, 0, fmt.Errorf("sframe: header config byte: %w", ErrTruncatedHeader)
	}
	kid, off, err := readValue(b, 1, b[0]>>4)
	if err != nil {
		return Header{}, 0, fmt.Errorf("sframe: header kid: %w", err)
	}
	ctr, off, err := readValue(b, off, b[0]&0x0f)
	if err != nil {
		return Header{}, 0, fmt.Errorf("sframe: header ctr: %w", err)
	}
	return Header{KID: kid, CTR: ctr}, off, nil
}

// valueLen is the number of bytes v takes after the config byte: none for
// 0-7, which fit in the config byte, else the minimum big-endian length.
func valueLen(v uint64) int {
	if v < 8 {
		return 0
	}
	return (bits.Len64(v) + 7) / 8
}

// configField is the 4-bit half of the config byte for v: the flag bit and
// either v itself or its length minus one.
func configField(v uint64) byte {
	if v < 8 {
		return byte(v)
	}
	return 0x8 | byte(valueLen(v)-1)
}

func appendValue(dst []byte, v uint64) []byte {
	for i := valueLen(v) - 1; i >= 0; i-- {
		dst = append(dst, byte(v>>(8*i)))
	}
	return dst
}

// readValue decodes the value described by the 4-bit config field f, whose
// extra bytes (if any) start at b[off].
func readValue(b []byte, off int, f byte) (uint64, int, error) {
	if f&0x8 == 0 {
		return uint64(f), off, nil
	}
	n := int(f&0x7) + 1
	if len(b)-off < n {
		return 0, 0, ErrTruncatedHeader
	}
	v := bigEndian(b, off, n)
	if valueLen(v) != n {
		return 0, 0, ErrNonMinimalHeader
	}
	return v, off + n, nil
}

// bigEndian decodes b[off:off+n], 1 to 8 bytes, as an unsigned big-endian
// integer. With 8 bytes to spare it loads one word and shifts.
func bigEndian(b []byte, off, n int) uint64 {
	if len(b)-off >= 8 {
		return binary.BigEndian.Uint64(b[off:]) >> (64 - 8*n)
	}
	var v uint64
	for _, x := range b[off : off+n] {
		v = v<<8 | uint64(x)
	}
	return v
}
