package attachment

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"strings"
	"testing"
)

func testMetadata() Metadata {
	m := Metadata{
		BlobID: "b_0123456789abcdef", Key: testKey(9), PlaintextSize: ChunkSize + 1,
		SHA256: sha256.Sum256([]byte("ciphertext")), Name: "holiday photo.png", MediaType: "image/png",
	}
	m.CiphertextSize, _ = CiphertextSize(m.PlaintextSize)
	return m
}

func TestMetadataRoundTrip(t *testing.T) {
	empty := testMetadata()
	empty.Name, empty.MediaType, empty.PlaintextSize, empty.CiphertextSize = "", "", 0, 89
	long := testMetadata()
	long.BlobID, long.Name = strings.Repeat("x", MaxBlobIDLen), strings.Repeat("é", MaxNameLen/2)
	long.MediaType = "application/vnd.openxmlformats-officedocument.wordprocessingml.doc"
	for _, m := range []Metadata{testMetadata(), empty, long} {
		b, err := m.MarshalBinary()
		if err != nil {
			t.Fatalf("MarshalBinary(%q): %v", m.Name, err)
		}
		got, err := ParseMetadata(b)
		if err != nil || got != m {
			t.Fatalf("ParseMetadata = %+v, %v; want %+v", got, err, m)
		}
	}
}

func TestMetadataLayout(t *testing.T) {
	m := testMetadata()
	b, _ := m.MarshalBinary()
	want := []byte(metadataLabel)
	want = append(append(want, byte(len(m.BlobID))), m.BlobID...)
	want = append(want, m.Key[:]...)
	want = binary.BigEndian.AppendUint64(want, uint64(m.PlaintextSize))
	want = binary.BigEndian.AppendUint64(want, uint64(m.CiphertextSize))
	want = append(want, m.SHA256[:]...)
	want = append(append(want, byte(len(m.Name))), m.Name...)
	want = append(append(want, byte(len(m.MediaType))), m.MediaType...)
	if !bytes.Equal(b, want) {
		t.Fatalf("encoding\n got %x\nwant %x", b, want)
	}
}

func TestMetadataRefused(t *testing.T) {
	tests := []struct {
		name string
		edit func(*Metadata)
	}{
		{"empty blob id", func(m *Metadata) { m.BlobID = "" }},
		{"blob id with space", func(m *Metadata) { m.BlobID = "a b" }},
		{"blob id too long", func(m *Metadata) { m.BlobID = strings.Repeat("x", MaxBlobIDLen+1) }},
		{"negative size", func(m *Metadata) { m.PlaintextSize = -1 }},
		{"size over MaxSize", func(m *Metadata) { m.PlaintextSize = MaxSize + 1 }},
		{"sizes disagree", func(m *Metadata) { m.CiphertextSize++ }},
		{"slash in name", func(m *Metadata) { m.Name = "../etc/passwd" }},
		{"backslash in name", func(m *Metadata) { m.Name = `..\boot.ini` }},
		{"dot dot", func(m *Metadata) { m.Name = ".." }},
		{"NUL in name", func(m *Metadata) { m.Name = "a\x00b" }},
		{"newline in name", func(m *Metadata) { m.Name = "a\nb" }},
		{"RTL override in name", func(m *Metadata) { m.Name = "photo\u202egnp.exe" }},
		{"invalid UTF-8 name", func(m *Metadata) { m.Name = "a\xffb" }},
		{"name too long", func(m *Metadata) { m.Name = strings.Repeat("a", MaxNameLen+1) }},
		{"media type without subtype", func(m *Metadata) { m.MediaType = "image" }},
		{"media type upper case", func(m *Metadata) { m.MediaType = "Image/PNG" }},
		{"media type with parameters", func(m *Metadata) { m.MediaType = "text/plain; charset=utf-8" }},
		{"media type too long", func(m *Metadata) { m.MediaType = "a/" + strings.Repeat("b", 126) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := testMetadata()
			tt.edit(&m)
			if _, err := m.MarshalBinary(); !errors.Is(err, ErrMetadata) {
				t.Fatalf("MarshalBinary = %v, want ErrMetadata", err)
			}
			if _, err := ParseMetadata(encodeUnchecked(m)); !errors.Is(err, ErrMetadata) {
				t.Fatalf("ParseMetadata = %v, want ErrMetadata", err)
			}
		})
	}
}

// encodeUnchecked encodes m like MarshalBinary without checking it
// (lengths are cut to a byte, as a hostile sender could).
func encodeUnchecked(m Metadata) []byte {
	b := []byte(metadataLabel)
	b = append(append(b, byte(len(m.BlobID))), m.BlobID...)
	b = append(b, m.Key[:]...)
	b = binary.BigEndian.AppendUint64(b, uint64(m.PlaintextSize))
	b = binary.BigEndian.AppendUint64(b, uint64(m.CiphertextSize))
	b = append(b, m.SHA256[:]...)
	b = append(append(b, byte(len(m.Name))), m.Name...)
	return append(append(b, byte(len(m.MediaType))), m.MediaType...)
}

func TestParseMetadataMalformed(t *testing.T) {
	good, _ := testMetadata().MarshalBinary()
	for n := range len(good) {
		if _, err := ParseMetadata(good[:n]); !errors.Is(err, ErrMetadata) {
			t.Fatalf("ParseMetadata(first %d bytes) = %v, want ErrMetadata", n, err)
		}
	}
	bad := map[string][]byte{
		"trailing byte": append(bytes.Clone(good), 0),
		"other version": bytes.Replace(good, []byte("/v1/"), []byte("/v2/"), 1),
		"huge size":     bytes.Replace(good, binary.BigEndian.AppendUint64(nil, ChunkSize+1), bytes.Repeat([]byte{0xff}, 8), 1),
	}
	for name, b := range bad {
		if _, err := ParseMetadata(b); !errors.Is(err, ErrMetadata) {
			t.Errorf("%s: ParseMetadata = %v, want ErrMetadata", name, err)
		}
	}
}

func TestNormalizeMediaType(t *testing.T) {
	tests := map[string]string{
		"image/png":                 "image/png",
		"Text/Plain; charset=utf-8": "text/plain",
		"application/vnd.api+json":  "application/vnd.api+json",
		"":                          "",
		"nonsense":                  "",
		"a/b/c":                     "",
		"image/ png":                "",
	}
	for in, want := range tests {
		if got := NormalizeMediaType(in); got != want {
			t.Errorf("NormalizeMediaType(%q) = %q, want %q", in, got, want)
		}
	}
}
