// Package pii protects personal fields at rest with envelope encryption and
// finds users by a keyed blind index.
//
// Keys:
//
//   - The key-encryption key (KEK) is 32 random bytes in a file (mode 0600),
//     created on first start. Two working keys are derived from it with
//     HKDF-SHA-256: the wrap key (info "sealine/v1/kek/wrap") and the blind
//     index key (info "sealine/v1/kek/index"; the first one derived is then
//     kept in the key store, see ring.go, so it survives KEK rotation, and
//     also indexes contacts, see contact.go). The KEK's id is
//     "v1:" + hex(SHA-256("sealine/v1/kek/id" || KEK)[:8]); it names which
//     KEK wrapped a data key without revealing anything about it.
//   - Each user has a 256-bit data key, stored only wrapped by the KEK (see
//     store.KeyStore). Deleting it crypto-shreds every field sealed under it.
//
// Wire formats (all AEADs are XChaCha20-Poly1305, nonces 24 random bytes):
//
//	wrapped data key = 0x01 || nonce || Seal(wrapKey, dataKey, AD)
//	    AD = 0x01 || "sealine/v1/wrap" || lp(userID) || lp(kekID)
//	sealed field     = 0x01 || nonce || Seal(dataKey, plaintext, AD)
//	    AD = 0x01 || "sealine/v1/field" || lp(rowID) || lp(fieldName)
//	blind index      = HMAC-SHA-256(indexKey, "sealine/v1/username" || 0x00 || name)
//
// lp(x) is x prefixed with its length as a 2-byte big-endian integer, so no
// two (id, name) pairs produce the same AD. 0x01 is the format version, bound
// into the AD. A ciphertext moved to another user, row or field, or under
// another KEK, fails to open.
//
// Keys are typed, print as "[redacted]" and are never logged.
package pii

import (
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"

	"golang.org/x/crypto/chacha20poly1305"
)

// Sentinel errors that callers branch on.
var (
	// ErrKeyDestroyed: the user's data key was deleted (crypto-shredded).
	ErrKeyDestroyed = errors.New("pii: data key destroyed")
	// ErrDecrypt: a ciphertext is malformed, tampered with, or was sealed
	// for another user, row, field or KEK.
	ErrDecrypt = errors.New("pii: decryption failed")
	// ErrUnknownKEK: a data key was wrapped by a KEK this server lacks.
	ErrUnknownKEK = errors.New("pii: unknown key-encryption key")
)

const (
	formatV1 = 0x01
	keySize  = 32

	labelWrap   = "sealine/v1/wrap"
	labelField  = "sealine/v1/field"
	labelIndex  = "sealine/v1/username"
	infoWrapKey = "sealine/v1/kek/wrap"
	infoIndex   = "sealine/v1/kek/index"
	labelKEKID  = "sealine/v1/kek/id"
)

// DataKey is a per-user 256-bit data key.
type DataKey struct{ k [keySize]byte }

// String hides the key.
func (DataKey) String() string { return "[redacted]" }

// LogValue hides the key from slog.
func (DataKey) LogValue() slog.Value { return slog.StringValue("[redacted]") }

// NewDataKey draws a fresh data key from rand.
func NewDataKey(rand io.Reader) (DataKey, error) {
	var dk DataKey
	if _, err := io.ReadFull(rand, dk.k[:]); err != nil {
		return DataKey{}, fmt.Errorf("pii: data key: %w", err)
	}
	return dk, nil
}

// Keyring holds the working keys derived from one KEK.
type Keyring struct {
	id    string
	wrap  [keySize]byte
	index [keySize]byte
}

// String hides the keys.
func (*Keyring) String() string { return "[redacted]" }

// LogValue hides the keys from slog.
func (*Keyring) LogValue() slog.Value { return slog.StringValue("[redacted]") }

// NewKeyring derives the working keys from a 32-byte KEK.
func NewKeyring(kek []byte) (*Keyring, error) {
	if len(kek) != keySize {
		return nil, fmt.Errorf("pii: KEK must be %d bytes, got %d", keySize, len(kek))
	}
	r := &Keyring{}
	if err := derive(kek, infoWrapKey, r.wrap[:]); err != nil {
		return nil, err
	}
	if err := derive(kek, infoIndex, r.index[:]); err != nil {
		return nil, err
	}
	sum := sha256.Sum256(append([]byte(labelKEKID), kek...))
	r.id = "v1:" + hex.EncodeToString(sum[:8])
	return r, nil
}

func derive(kek []byte, info string, out []byte) error {
	k, err := hkdf.Key(sha256.New, kek, nil, info, len(out))
	if err != nil {
		return fmt.Errorf("pii: derive key: %w", err)
	}
	copy(out, k)
	return nil
}

// KEKID names the KEK, for store.WrappedKey.KEKID.
func (r *Keyring) KEKID() string { return r.id }

// Wrap encrypts dk for userID under the KEK.
func (r *Keyring) Wrap(dk DataKey, userID string, rand io.Reader) ([]byte, error) {
	return seal(r.wrap[:], dk.k[:], ad(labelWrap, userID, r.id), rand)
}

// Unwrap decrypts a data key wrapped for userID by the KEK named kekID.
func (r *Keyring) Unwrap(wrapped []byte, userID, kekID string) (DataKey, error) {
	if kekID != r.id {
		return DataKey{}, ErrUnknownKEK
	}
	pt, err := open(r.wrap[:], wrapped, ad(labelWrap, userID, kekID))
	if err != nil {
		return DataKey{}, err
	}
	if len(pt) != keySize {
		return DataKey{}, ErrDecrypt
	}
	var dk DataKey
	copy(dk.k[:], pt)
	return dk, nil
}

// BlindIndex returns the keyed blind index of a normalised username.
func (r *Keyring) BlindIndex(normalised string) []byte {
	m := hmac.New(sha256.New, r.index[:])
	m.Write([]byte(labelIndex))
	m.Write([]byte{0})
	m.Write([]byte(normalised))
	return m.Sum(nil)
}

// Seal encrypts a field value of row rowID under dk.
func Seal(dk DataKey, rowID, field string, plaintext []byte, rand io.Reader) ([]byte, error) {
	return seal(dk.k[:], plaintext, ad(labelField, rowID, field), rand)
}

// Open decrypts a field value sealed by Seal for the same row and field.
func Open(dk DataKey, rowID, field string, sealed []byte) ([]byte, error) {
	return open(dk.k[:], sealed, ad(labelField, rowID, field))
}

// ad builds label || lp(a) || lp(b).
func ad(label, a, b string) []byte {
	out := make([]byte, 0, len(label)+4+len(a)+len(b))
	out = append(out, label...)
	out = binary.BigEndian.AppendUint16(out, uint16(min(len(a), 0xffff)))
	out = append(out, a...)
	out = binary.BigEndian.AppendUint16(out, uint16(min(len(b), 0xffff)))
	return append(out, b...)
}

func seal(key, plaintext, ad []byte, rand io.Reader) ([]byte, error) {
	aead, err := chacha20poly1305.NewX(key)
	if err != nil {
		return nil, fmt.Errorf("pii: %w", err)
	}
	out := make([]byte, 1+aead.NonceSize(), 1+aead.NonceSize()+len(plaintext)+aead.Overhead())
	out[0] = formatV1
	if _, err := io.ReadFull(rand, out[1:]); err != nil {
		return nil, fmt.Errorf("pii: nonce: %w", err)
	}
	return aead.Seal(out, out[1:], plaintext, append([]byte{formatV1}, ad...)), nil
}

func open(key, sealed, ad []byte) ([]byte, error) {
	aead, err := chacha20poly1305.NewX(key)
	if err != nil {
		return nil, fmt.Errorf("pii: %w", err)
	}
	if len(sealed) < 1+aead.NonceSize()+aead.Overhead() || sealed[0] != formatV1 {
		return nil, ErrDecrypt
	}
	nonce, ct := sealed[1:1+aead.NonceSize()], sealed[1+aead.NonceSize():]
	pt, err := aead.Open(nil, nonce, ct, append([]byte{formatV1}, ad...))
	if err != nil {
		return nil, ErrDecrypt
	}
	return pt, nil
}
