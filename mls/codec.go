package mls

import (
	"bytes"
	"encoding/binary"
	"fmt"
)

// Codec for the TLS presentation language as extended by RFC 9420,
// Section 2.1: fixed-size big-endian integers, optional<T> (one presence
// octet, 0 or 1), and vectors with a variable-size length header (the
// QUIC varint of RFC 9000, Section 16, restricted to 1, 2 or 4 bytes and
// to the minimal encoding).
//
// The writer and reader carry a sticky error so that encoders and
// decoders of structs read as straight-line code: call the field methods
// in wire order, then check Bytes (writer) or Finish (reader) once.
// For mls-B and later helpers, the API in one place:
//
//	w := new(writer)              r := newReader(data)
//	w.Uint8/16/32/64(v)           v := r.Uint8/16/32/64()
//	w.Opaque(b)  // opaque<V>     b := r.Opaque()          // copy
//	w.Vector(func(w *writer){..}) r.Vector(func(r *reader){ one element })
//	w.Optional(ok, func(w){..})   if r.Optional() { ... }
//	b, err := w.Bytes()           err := r.Finish() // trailing bytes => ErrMalformed
//
// Generic helpers: writeVector, readVector, writeOptional, readOptional,
// marshal(encoder) and unmarshal(data, func(*reader)).

// DefaultMaxVectorLen bounds the length of any single vector read from
// the wire unless a reader is given another bound.
const DefaultMaxVectorLen = 1 << 24

// maxVarint is the largest value the MLS varint can carry (2^30 - 1).
const maxVarint = 1<<30 - 1

// An encoder writes itself in wire form.
type encoder interface {
	encode(w *writer)
}

// marshal returns the wire form of v.
func marshal(v encoder) ([]byte, error) {
	var w writer
	v.encode(&w)
	return w.Bytes()
}

// unmarshal runs decode over data and requires it to consume every byte.
func unmarshal(data []byte, decode func(r *reader)) error {
	r := newReader(data)
	decode(r)
	return r.Finish()
}

// writer appends wire encodings to a buffer. The first error sticks.
type writer struct {
	b   []byte
	err error
}

// Bytes returns the encoding, or the first error met while writing.
func (w *writer) Bytes() ([]byte, error) {
	if w.err != nil {
		return nil, w.err
	}
	return w.b, nil
}

func (w *writer) Uint8(v uint8)   { w.b = append(w.b, v) }
func (w *writer) Uint16(v uint16) { w.b = binary.BigEndian.AppendUint16(w.b, v) }
func (w *writer) Uint32(v uint32) { w.b = binary.BigEndian.AppendUint32(w.b, v) }
func (w *writer) Uint64(v uint64) { w.b = binary.BigEndian.AppendUint64(w.b, v) }

// Raw appends b with no length header.
func (w *writer) Raw(b []byte) { w.b = append(w.b, b...) }

// Varint appends v in the minimal MLS varint encoding.
func (w *writer) Varint(v uint64) {
	b, err := appendVarint(w.b, v)
	if err != nil {
		w.fail(err)
		return
	}
	w.b = b
}

// appendVarint appends v in the minimal MLS varint encoding to b.
func appendVarint(b []byte, v uint64) ([]byte, error) {
	switch {
	case v <= 0x3f:
		return append(b, byte(v)), nil
	case v <= 0x3fff:
		return binary.BigEndian.AppendUint16(b, uint16(v)|0x4000), nil
	case v <= maxVarint:
		return binary.BigEndian.AppendUint32(b, uint32(v)|0x80000000), nil
	}
	return b, fmt.Errorf("%w: varint %d", ErrTooLarge, v)
}

// Opaque appends opaque<V>: a varint length then b.
func (w *writer) Opaque(b []byte) {
	w.Varint(uint64(len(b)))
	w.b = append(w.b, b...)
}

// Vector appends a vector<V> whose elements fn writes. fn writes in
// place after a one-octet length; a longer length moves the elements
// up, so nesting costs no allocation.
func (w *writer) Vector(fn func(w *writer)) {
	start := len(w.b)
	w.b = append(w.b, 0)
	fn(w)
	if w.err != nil {
		return
	}
	n := len(w.b) - start - 1
	var head [4]byte
	var h []byte
	switch {
	case n <= 0x3f:
		w.b[start] = byte(n)
		return
	case n <= 0x3fff:
		h = binary.BigEndian.AppendUint16(head[:0], uint16(n)|0x4000)
	case n <= maxVarint:
		h = binary.BigEndian.AppendUint32(head[:0], uint32(n)|0x80000000)
	default:
		w.fail(fmt.Errorf("%w: vector of %d bytes", ErrTooLarge, n))
		return
	}
	w.b = append(w.b, h[1:]...) // room for the longer length
	copy(w.b[start+len(h):], w.b[start+1:start+1+n])
	copy(w.b[start:], h)
}

// Optional appends optional<T>: a presence octet, then fn's output if
// present.
func (w *writer) Optional(present bool, fn func(w *writer)) {
	if !present {
		w.Uint8(0)
		return
	}
	w.Uint8(1)
	fn(w)
}

func (w *writer) fail(err error) {
	if w.err == nil {
		w.err = err
	}
}

// writeVector writes items as a vector<V>, each with enc.
func writeVector[T any](w *writer, items []T, enc func(w *writer, v T)) {
	w.Vector(func(w *writer) {
		for _, it := range items {
			enc(w, it)
		}
	})
}

// writeOptional writes v as optional<T>; nil is absent.
func writeOptional[T any](w *writer, v *T, enc func(w *writer, v *T)) {
	w.Optional(v != nil, func(w *writer) { enc(w, v) })
}

// reader decodes wire encodings strictly. The first error sticks and
// every later read returns zero values.
type reader struct {
	b      []byte
	maxLen int
	err    error
	alias  bool // Opaque and Raw return sub-slices of b instead of copies
}

// newReader returns a reader over data bounding vectors at
// DefaultMaxVectorLen.
func newReader(data []byte) *reader {
	return &reader{b: data, maxLen: DefaultMaxVectorLen}
}

// newReaderLimit returns a reader bounding each vector at maxLen bytes.
func newReaderLimit(data []byte, maxLen int) *reader {
	return &reader{b: data, maxLen: maxLen}
}

// Err returns the first error met.
func (r *reader) Err() error { return r.err }

// Empty reports whether every byte has been read.
func (r *reader) Empty() bool { return len(r.b) == 0 }

// Finish returns the first error, or ErrMalformed if bytes remain.
func (r *reader) Finish() error {
	if r.err != nil {
		return r.err
	}
	if len(r.b) != 0 {
		return fmt.Errorf("%w: %d trailing bytes", ErrMalformed, len(r.b))
	}
	return nil
}

func (r *reader) fail(err error) {
	if r.err == nil {
		r.err = err
	}
	r.b = nil
}

// take consumes n bytes, returning nil (and failing) if fewer remain.
func (r *reader) take(n int) []byte {
	if r.err != nil {
		return nil
	}
	if n < 0 || len(r.b) < n {
		r.fail(fmt.Errorf("%w: truncated", ErrMalformed))
		return nil
	}
	out := r.b[:n:n]
	r.b = r.b[n:]
	return out
}

func (r *reader) Uint8() uint8 {
	if b := r.take(1); b != nil {
		return b[0]
	}
	return 0
}

func (r *reader) Uint16() uint16 {
	if b := r.take(2); b != nil {
		return binary.BigEndian.Uint16(b)
	}
	return 0
}

func (r *reader) Uint32() uint32 {
	if b := r.take(4); b != nil {
		return binary.BigEndian.Uint32(b)
	}
	return 0
}

func (r *reader) Uint64() uint64 {
	if b := r.take(8); b != nil {
		return binary.BigEndian.Uint64(b)
	}
	return 0
}

// Raw reads n bytes with no header (a copy unless aliasing).
func (r *reader) Raw(n int) []byte { return r.clone(r.take(n)) }

func (r *reader) clone(b []byte) []byte {
	if r.alias {
		return b
	}
	return bytes.Clone(b)
}

// Varint reads a minimal MLS varint (RFC 9420, Section 2.1.2).
func (r *reader) Varint() uint64 {
	first := r.take(1)
	if first == nil {
		return 0
	}
	prefix := first[0] >> 6
	if prefix == 3 {
		r.fail(fmt.Errorf("%w: invalid varint prefix", ErrMalformed))
		return 0
	}
	n := 1 << prefix
	v := uint64(first[0] & 0x3f)
	for _, c := range r.take(n - 1) {
		v = v<<8 | uint64(c)
	}
	if prefix >= 1 && v < 1<<(8*(n/2)-2) {
		r.fail(fmt.Errorf("%w: non-minimal varint", ErrMalformed))
		return 0
	}
	return v
}

// length reads a vector length header and checks it against the bound
// and the remaining input.
func (r *reader) length() int {
	n := r.Varint()
	if r.err != nil {
		return 0
	}
	if n > uint64(r.maxLen) {
		r.fail(fmt.Errorf("%w: vector of %d bytes (max %d)", ErrTooLarge, n, r.maxLen))
		return 0
	}
	return int(n)
}

// Opaque reads opaque<V> and returns a copy of its contents.
func (r *reader) Opaque() []byte {
	n := r.length()
	b := r.take(n)
	if r.err != nil {
		return nil
	}
	return r.clone(b)
}

// Vector reads a vector<V> and calls fn once per element until the
// vector's bytes are consumed. fn must read exactly one element.
func (r *reader) Vector(fn func(r *reader)) {
	body := r.take(r.length())
	if r.err != nil {
		return
	}
	sub := &reader{b: body, maxLen: r.maxLen, alias: r.alias}
	for len(sub.b) > 0 && sub.err == nil {
		before := len(sub.b)
		fn(sub)
		if sub.err == nil && len(sub.b) == before {
			sub.fail(fmt.Errorf("%w: empty vector element", ErrMalformed))
		}
	}
	if sub.err != nil {
		r.fail(sub.err)
	}
}

// Optional reads the presence octet of optional<T>; any value other than
// 0 or 1 is malformed.
func (r *reader) Optional() bool {
	switch r.Uint8() {
	case 0:
		return false
	case 1:
		return true
	}
	r.fail(fmt.Errorf("%w: invalid optional presence octet", ErrMalformed))
	return false
}

// readVector reads a vector<V> of elements decoded by dec.
func readVector[T any](r *reader, dec func(r *reader) T) []T {
	var out []T
	r.Vector(func(r *reader) { out = append(out, dec(r)) })
	if r.err != nil {
		return nil
	}
	return out
}

// readOptional reads optional<T>; absent is nil.
func readOptional[T any](r *reader, dec func(r *reader) T) *T {
	if !r.Optional() {
		return nil
	}
	v := dec(r)
	if r.err != nil {
		return nil
	}
	return &v
}
