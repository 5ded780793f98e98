package localstore

import (
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"

	"golang.org/x/crypto/argon2"
	"golang.org/x/crypto/chacha20poly1305"
)

const (
	keySize     = chacha20poly1305.KeySize
	sealVersion = 0x01
	adLabel     = "sealine/v1/localstore"
	saltSize    = 16
)

// sealer encrypts column values under the storage key, and computes
// keyed lookup indexes for the sealed values a query must find.
type sealer struct {
	aead     cipher.AEAD
	indexKey []byte // HKDF-SHA256(storage key, indexLabel)
}

const indexLabel = "sealine/v1/localstore index"

func newSealer(key []byte) (sealer, error) {
	aead, err := chacha20poly1305.NewX(key)
	if err != nil {
		return sealer{}, fmt.Errorf("localstore: key: %w", err)
	}
	ik, err := hkdf.Key(sha256.New, key, nil, indexLabel, sha256.Size)
	if err != nil {
		return sealer{}, fmt.Errorf("localstore: index key: %w", err)
	}
	return sealer{aead: aead, indexKey: ik}, nil
}

// index returns HMAC-SHA256(index key, table 0x00 column 0x00 value): equal
// values give equal indexes, which reveal nothing without the key.
func (k sealer) index(table, column, value string) []byte {
	m := hmac.New(sha256.New, k.indexKey)
	m.Write(ad(table, "", column))
	m.Write([]byte{0})
	m.Write([]byte(value))
	return m.Sum(nil)
}

// ad binds a sealed value to its table, row and column.
func ad(table, row, column string) []byte {
	return appendAD(make([]byte, 0, adSize(table, row, column)), table, row, column)
}

func adSize(table, row, column string) int {
	return len(adLabel) + len(table) + len(row) + len(column) + 3
}

func appendAD(b []byte, table, row, column string) []byte {
	b = append(b, adLabel...)
	for _, s := range []string{table, row, column} {
		b = append(b, 0)
		b = append(b, s...)
	}
	return b
}

// seal encrypts value for (table, row, column).
func (k sealer) seal(rand io.Reader, value []byte, table, row, column string) ([]byte, error) {
	out, b := k.buffers(len(value), adSize(table, row, column))
	return k.sealInto(rand, out, value, appendAD(b, table, row, column))
}

// sealMessage seals a message body: seal(value, "messages",
// messageRow(convID, id), "body") without building the row id apart.
func (k sealer) sealMessage(rand io.Reader, value []byte, convID string, id []byte) ([]byte, error) {
	out, b := k.buffers(len(value), adSize("messages", convID, "body")+1+hex.EncodedLen(len(id)))
	b = append(b, adLabel...)
	b = append(append(b, 0), "messages"...)
	b = append(append(b, 0), convID...)
	b = hex.AppendEncode(append(b, '/'), id)
	b = append(append(b, 0), "body"...)
	return k.sealInto(rand, out, value, b)
}

// buffers makes one allocation for a sealed value of n plaintext bytes
// and the ad it is sealed with (adLen bytes), and returns both empty:
// out with room for exactly the sealed value, ad the rest.
func (k sealer) buffers(n, adLen int) (out, ad []byte) {
	size := 1 + k.aead.NonceSize() + n + k.aead.Overhead()
	b := make([]byte, size, size+adLen)
	return b[:0:size], b[size:size]
}

// sealInto seals value with ad into out, which has room for it.
func (k sealer) sealInto(rand io.Reader, out, value, ad []byte) ([]byte, error) {
	out = out[:1+k.aead.NonceSize()]
	out[0] = sealVersion
	if _, err := io.ReadFull(rand, out[1:]); err != nil {
		return nil, fmt.Errorf("localstore: nonce: %w", err)
	}
	return k.aead.Seal(out, out[1:], value, ad), nil
}

// open decrypts a value sealed for (table, row, column).
func (k sealer) open(sealed []byte, table, row, column string) ([]byte, error) {
	n := k.aead.NonceSize()
	if len(sealed) < 1+n+k.aead.Overhead() || sealed[0] != sealVersion {
		return nil, fmt.Errorf("%w: %s.%s", ErrCorrupt, table, column)
	}
	out, err := k.aead.Open(nil, sealed[1:1+n], sealed[1+n:], ad(table, row, column))
	if err != nil {
		return nil, fmt.Errorf("%w: %s.%s", ErrCorrupt, table, column)
	}
	return out, nil
}

// kdfRecord is the meta value for an Argon2id key:
// time uint32 | memory uint32 | threads uint8 | salt [16].
func kdfRecord(p KDFParams, salt []byte) []byte {
	b := binary.BigEndian.AppendUint32(nil, p.Time)
	b = binary.BigEndian.AppendUint32(b, p.MemoryKiB)
	b = append(b, p.Threads)
	return append(b, salt...)
}

func parseKDFRecord(b []byte) (KDFParams, []byte, error) {
	if len(b) != 9+saltSize {
		return KDFParams{}, nil, errors.New("localstore: malformed kdf record")
	}
	p := KDFParams{Time: binary.BigEndian.Uint32(b), MemoryKiB: binary.BigEndian.Uint32(b[4:]), Threads: b[8]}
	if p.Time == 0 || p.MemoryKiB < 8 || p.Threads == 0 || p.MemoryKiB > 4<<20 || p.Time > 100 {
		return KDFParams{}, nil, errors.New("localstore: kdf parameters out of range")
	}
	return p, b[9:], nil
}

func derive(pass string, p KDFParams, salt []byte) (sealer, error) {
	return newSealer(argon2.IDKey([]byte(pass), salt, p.Time, p.MemoryKiB, p.Threads, keySize))
}

// newPassphraseKey derives a key from a fresh salt and records the KDF.
func (s *Store) newPassphraseKey(tx *Tx, opt Options) error {
	p := DefaultKDF
	if opt.KDF != nil {
		p = *opt.KDF
	}
	salt := make([]byte, saltSize)
	if _, err := io.ReadFull(s.rand, salt); err != nil {
		return fmt.Errorf("localstore: salt: %w", err)
	}
	rec := kdfRecord(p, salt)
	if _, _, err := parseKDFRecord(rec); err != nil {
		return err
	}
	var err error
	if s.key, err = derive(opt.Passphrase, p, salt); err != nil {
		return err
	}
	if err := tx.setMeta("kdf", rec); err != nil {
		return err
	}
	return tx.setMeta("key_source", []byte("argon2id"))
}

// passphraseKey derives the key recorded in meta.
func (s *Store) passphraseKey(tx *Tx, opt Options) error {
	if opt.Passphrase == "" {
		return ErrPassphraseRequired
	}
	rec, err := tx.meta("kdf")
	if err != nil {
		return err
	}
	p, salt, err := parseKDFRecord(rec)
	if err != nil {
		return err
	}
	s.key, err = derive(opt.Passphrase, p, salt)
	return err
}
