package mls

import (
	"bytes"
	"encoding/hex"
	"errors"
	"testing"
)

func TestVarintRoundTrip(t *testing.T) {
	tests := []struct {
		v    uint64
		wire string
	}{
		{0, "00"}, {37, "25"}, {63, "3f"}, {64, "4040"}, {15293, "7bbd"},
		{16383, "7fff"}, {16384, "80004000"}, {494878333, "9d7f3e7d"}, {maxVarint, "bfffffff"},
	}
	for _, tt := range tests {
		var w writer
		w.Varint(tt.v)
		got, err := w.Bytes()
		if err != nil || hex.EncodeToString(got) != tt.wire {
			t.Errorf("Varint(%d) = %x, %v; want %s", tt.v, got, err, tt.wire)
		}
		r := newReader(got)
		if v := r.Varint(); v != tt.v || r.Finish() != nil {
			t.Errorf("read %s = %d, %v", tt.wire, v, r.Finish())
		}
	}
}

func TestWriterVarintTooLarge(t *testing.T) {
	var w writer
	w.Varint(maxVarint + 1)
	if _, err := w.Bytes(); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("got %v, want ErrTooLarge", err)
	}
}

func TestReaderRejects(t *testing.T) {
	tests := []struct {
		name string
		wire string
		read func(r *reader)
		want error
	}{
		{"non-minimal 2-byte varint", "4025", func(r *reader) { r.Varint() }, ErrMalformed},
		{"non-minimal 4-byte varint", "80003fff", func(r *reader) { r.Varint() }, ErrMalformed},
		{"non-minimal zero", "4000", func(r *reader) { r.Varint() }, ErrMalformed},
		{"prefix 11", "c0000000000000", func(r *reader) { r.Varint() }, ErrMalformed},
		{"truncated varint", "80", func(r *reader) { r.Varint() }, ErrMalformed},
		{"trailing bytes", "0100", func(r *reader) { r.Uint8() }, ErrMalformed},
		{"truncated uint32", "000000", func(r *reader) { r.Uint32() }, ErrMalformed},
		{"opaque longer than input", "0501020304", func(r *reader) { r.Opaque() }, ErrMalformed},
		{"oversize length", "81000001" + "00", func(r *reader) { r.Opaque() }, ErrTooLarge},
		{"optional presence 2", "02", func(r *reader) { r.Optional() }, ErrMalformed},
		{"vector element overruns", "020300", func(r *reader) { readVector(r, (*reader).Opaque) }, ErrMalformed},
		{"vector trailing inside", "03010000", func(r *reader) { r.Vector(func(r *reader) { r.Uint16() }) }, ErrMalformed},
		{"vector element reads nothing", "0100", func(r *reader) { r.Vector(func(*reader) {}) }, ErrMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, _ := hex.DecodeString(tt.wire)
			err := unmarshal(b, tt.read)
			if !errors.Is(err, tt.want) {
				t.Fatalf("got %v, want %v", err, tt.want)
			}
		})
	}
}

func TestReaderLimit(t *testing.T) {
	data := append([]byte{0x40, 0x64}, make([]byte, 100)...)
	if err := unmarshal(data, func(r *reader) { r.Opaque() }); err != nil {
		t.Fatalf("default limit: %v", err)
	}
	r := newReaderLimit(data, 99)
	r.Opaque()
	if err := r.Finish(); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("limit 99: got %v, want ErrTooLarge", err)
	}
}

func TestStructRoundTrip(t *testing.T) {
	type item struct {
		a uint16
		b []byte
	}
	items := []item{{1, []byte("x")}, {2, nil}, {0xffff, bytes.Repeat([]byte{9}, 70)}}
	opt := &item{3, []byte("opt")}
	var w writer
	w.Uint64(1 << 40)
	writeVector(&w, items, func(w *writer, it item) { w.Uint16(it.a); w.Opaque(it.b) })
	writeOptional(&w, opt, func(w *writer, it *item) { w.Uint16(it.a); w.Opaque(it.b) })
	writeOptional[item](&w, nil, nil)
	wire, err := w.Bytes()
	must(t, err)

	dec := func(r *reader) item { return item{r.Uint16(), r.Opaque()} }
	var gotItems []item
	var gotOpt, gotNone *item
	var big uint64
	must(t, unmarshal(wire, func(r *reader) {
		big = r.Uint64()
		gotItems = readVector(r, dec)
		gotOpt = readOptional(r, dec)
		gotNone = readOptional(r, dec)
	}))
	if big != 1<<40 || len(gotItems) != 3 || gotItems[2].a != 0xffff || !bytes.Equal(gotItems[2].b, items[2].b) {
		t.Fatalf("round trip mismatch: %d %+v", big, gotItems)
	}
	if gotOpt == nil || gotOpt.a != 3 || string(gotOpt.b) != "opt" || gotNone != nil {
		t.Fatalf("optional mismatch: %+v %+v", gotOpt, gotNone)
	}
}

func TestOpaqueCopies(t *testing.T) {
	data := []byte{0x01, 0xaa}
	var out []byte
	must(t, unmarshal(data, func(r *reader) { out = r.Opaque() }))
	data[1] = 0
	if out[0] != 0xaa {
		t.Fatal("Opaque aliases its input")
	}
}

// FuzzReader checks that decoding never panics and that whatever decodes
// as a vector of opaque values re-encodes to the same bytes.
func FuzzReader(f *testing.F) {
	f.Add([]byte{0x03, 0x01, 0xaa, 0x00})
	f.Add([]byte{0x40, 0x01, 0x00})
	f.Add([]byte{0xc0})
	f.Fuzz(func(t *testing.T, data []byte) {
		var vals [][]byte
		if err := unmarshal(data, func(r *reader) { vals = readVector(r, (*reader).Opaque) }); err != nil {
			return
		}
		var w writer
		writeVector(&w, vals, func(w *writer, b []byte) { w.Opaque(b) })
		out, err := w.Bytes()
		if err != nil || !bytes.Equal(out, data) {
			t.Fatalf("re-encode %x = %x, %v", data, out, err)
		}
	})
}

type deserializationCase struct {
	VLBytesHeader hexBytes `json:"vlbytes_header"`
	Length        uint64   `json:"length"`
}

// TestDeserializationVectors decodes every varint length header of
// deserialization.json and re-encodes it.
func TestDeserializationVectors(t *testing.T) {
	cases := loadVectors[deserializationCase](t, "deserialization.json")
	for _, tc := range cases {
		r := newReader(tc.VLBytesHeader)
		got := r.Varint()
		if err := r.Finish(); err != nil || got != tc.Length {
			t.Errorf("header %x: got %d, %v; want %d", tc.VLBytesHeader, got, err, tc.Length)
		}
		var w writer
		w.Varint(tc.Length)
		checkHex(t, "re-encoded header", w.b, tc.VLBytesHeader)
	}
	t.Logf("deserialization.json: %d cases ran, 0 skipped (not per suite)", len(cases))
}
