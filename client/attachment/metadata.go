package attachment

import (
	"crypto/sha256"
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/crypto/cryptobyte"
)

// metadataLabel starts every encoded Metadata.
const metadataLabel = "sealine/v1/attachment-metadata"

// Limits of the Metadata fields.
const (
	MaxBlobIDLen    = 128
	MaxNameLen      = 255
	MaxMediaTypeLen = 127
)

// Metadata is what a recipient needs to fetch and open an attachment. It
// travels inside an MLS application message; the Key is secret.
type Metadata struct {
	BlobID         string // the server's id for the ciphertext
	Key            Key
	PlaintextSize  int64
	CiphertextSize int64             // always CiphertextSize(PlaintextSize)
	SHA256         [sha256.Size]byte // of the whole ciphertext, header included
	Name           string            // advisory file name, may be empty
	MediaType      string            // e.g. "image/png", may be empty
}

// MarshalBinary encodes m, after checking it as ParseMetadata would:
//
//	label            30 bytes  "sealine/v1/attachment-metadata"
//	blob_id          uint8 length (1..128) || printable ASCII, no space
//	key              32 bytes
//	plaintext_size   uint64 big-endian, <= MaxSize
//	ciphertext_size  uint64 big-endian, = CiphertextSize(plaintext_size)
//	sha256           32 bytes
//	name             uint8 length (0..255) || UTF-8 without control or
//	                 format characters, '/' or '\', and not "." or ".."
//	media_type       uint8 length (0..127) || "" or type "/" subtype, each
//	                 1..63 RFC 6838 restricted-name characters, lower case
//
// and nothing after. Each field appears once, in this order, so the
// encoding of a Metadata is unique.
func (m Metadata) MarshalBinary() ([]byte, error) {
	if err := m.check(); err != nil {
		return nil, err
	}
	var b cryptobyte.Builder
	b.AddBytes([]byte(metadataLabel))
	addString8(&b, m.BlobID)
	b.AddBytes(m.Key[:])
	b.AddUint64(uint64(m.PlaintextSize))
	b.AddUint64(uint64(m.CiphertextSize))
	b.AddBytes(m.SHA256[:])
	addString8(&b, m.Name)
	addString8(&b, m.MediaType)
	return b.Bytes()
}

func addString8(b *cryptobyte.Builder, s string) {
	b.AddUint8LengthPrefixed(func(b *cryptobyte.Builder) { b.AddBytes([]byte(s)) })
}

// ParseMetadata decodes an encoded Metadata strictly; every failure wraps
// ErrMetadata.
func ParseMetadata(data []byte) (Metadata, error) {
	s := cryptobyte.String(data)
	var m Metadata
	var lbl, key, sum, id, name, media []byte
	var psize, csize uint64
	if !s.ReadBytes(&lbl, len(metadataLabel)) || string(lbl) != metadataLabel {
		return Metadata{}, fmt.Errorf("%w: unknown label or version", ErrMetadata)
	}
	if !s.ReadUint8LengthPrefixed((*cryptobyte.String)(&id)) || !s.ReadBytes(&key, KeySize) ||
		!s.ReadUint64(&psize) || !s.ReadUint64(&csize) || !s.ReadBytes(&sum, sha256.Size) ||
		!s.ReadUint8LengthPrefixed((*cryptobyte.String)(&name)) ||
		!s.ReadUint8LengthPrefixed((*cryptobyte.String)(&media)) {
		return Metadata{}, fmt.Errorf("%w: truncated", ErrMetadata)
	}
	if !s.Empty() {
		return Metadata{}, fmt.Errorf("%w: trailing bytes", ErrMetadata)
	}
	if psize > uint64(MaxSize) || csize > uint64(MaxSize)*2 {
		return Metadata{}, fmt.Errorf("%w: size out of range", ErrMetadata)
	}
	m.BlobID, m.Name, m.MediaType = string(id), string(name), string(media)
	m.PlaintextSize, m.CiphertextSize = int64(psize), int64(csize)
	copy(m.Key[:], key)
	copy(m.SHA256[:], sum)
	if err := m.check(); err != nil {
		return Metadata{}, err
	}
	return m, nil
}

// check applies the field rules of MarshalBinary.
func (m Metadata) check() error {
	want, err := CiphertextSize(m.PlaintextSize)
	switch {
	case !validBlobID(m.BlobID):
		return fmt.Errorf("%w: bad blob id", ErrMetadata)
	case err != nil:
		return fmt.Errorf("%w: plaintext size %d out of range", ErrMetadata, m.PlaintextSize)
	case m.CiphertextSize != want:
		return fmt.Errorf("%w: ciphertext size %d does not match plaintext size %d", ErrMetadata, m.CiphertextSize, m.PlaintextSize)
	case !ValidName(m.Name):
		return fmt.Errorf("%w: bad file name", ErrMetadata)
	case !validMediaType(m.MediaType):
		return fmt.Errorf("%w: bad media type", ErrMetadata)
	}
	return nil
}

func validBlobID(id string) bool {
	if len(id) == 0 || len(id) > MaxBlobIDLen {
		return false
	}
	for i := range len(id) {
		if id[i] <= ' ' || id[i] > '~' {
			return false
		}
	}
	return true
}

// ValidName reports whether name is acceptable as Metadata.Name: at most
// MaxNameLen bytes of UTF-8 with no control or format characters (such as
// U+202E, which can disguise an extension), no path separator, and not
// "." or "..". The empty name is valid.
func ValidName(name string) bool {
	if len(name) > MaxNameLen || !utf8.ValidString(name) || name == "." || name == ".." {
		return false
	}
	return !strings.ContainsFunc(name, func(r rune) bool {
		return r == '/' || r == '\\' || unicode.IsControl(r) || unicode.Is(unicode.Cf, r)
	})
}

// validMediaType accepts "" or a lower-case type/subtype without
// parameters, per RFC 6838 §4.2.
func validMediaType(mt string) bool {
	if mt == "" {
		return true
	}
	typ, sub, ok := strings.Cut(mt, "/")
	return ok && len(mt) <= MaxMediaTypeLen && restrictedName(typ) && restrictedName(sub)
}

func restrictedName(s string) bool {
	if len(s) == 0 || len(s) > 63 || !isAlnum(s[0]) {
		return false
	}
	for i := range len(s) {
		if !isAlnum(s[i]) && !strings.ContainsRune("!#$&-^_.+", rune(s[i])) {
			return false
		}
	}
	return true
}

func isAlnum(c byte) bool { return 'a' <= c && c <= 'z' || '0' <= c && c <= '9' }

// NormalizeMediaType returns mt lower-cased and without parameters (as
// mime.TypeByExtension returns "text/plain; charset=utf-8"), or "" when it
// is not a valid media type for Metadata.
func NormalizeMediaType(mt string) string {
	mt, _, _ = strings.Cut(mt, ";")
	mt = strings.ToLower(strings.TrimSpace(mt))
	if !validMediaType(mt) {
		return ""
	}
	return mt
}
