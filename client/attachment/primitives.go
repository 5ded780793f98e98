package attachment

import (
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/sha256"
	"encoding/binary"
	"fmt"

	"golang.org/x/crypto/chacha20poly1305"
)

// Every primitive the package uses is composed here.

const (
	label = "sealine/v1/attachment"
	// ChunkSize is the plaintext size of every chunk but the final one.
	ChunkSize = 64 << 10
	// TagSize is the ChaCha20-Poly1305 tag each chunk adds.
	TagSize = chacha20poly1305.Overhead
	// NonceSize is the size of the per-file nonce in the header.
	NonceSize = 16
	// HeaderSize is the size of the ciphertext header.
	HeaderSize = len(label) + 4 + NonceSize + commitSize
	// MaxSize is the largest plaintext, 1 TiB; it keeps every size in an
	// int64 and the chunk counter far from overflow.
	MaxSize = int64(1) << 40

	commitSize   = 32
	encChunkSize = ChunkSize + TagSize
	prefixSize   = len(label) + 4 // label || chunk size: the HKDF info
)

// header returns the 73-byte header and the payload AEAD for key and nonce.
func header(key Key, nonce [NonceSize]byte) ([]byte, cipher.AEAD, error) {
	h := make([]byte, 0, HeaderSize)
	h = append(h, label...)
	h = binary.BigEndian.AppendUint32(h, ChunkSize)
	h = append(h, nonce[:]...)
	aead, commit, err := derive(key, h)
	if err != nil {
		return nil, nil, err
	}
	return append(h, commit...), aead, nil
}

// derive returns the payload AEAD and the key commitment for key and the
// header's first prefixSize+NonceSize bytes.
func derive(key Key, h []byte) (cipher.AEAD, []byte, error) {
	okm, err := hkdf.Key(sha256.New, key[:], h[prefixSize:prefixSize+NonceSize], string(h[:prefixSize]), chacha20poly1305.KeySize+commitSize)
	if err != nil {
		return nil, nil, fmt.Errorf("attachment: hkdf: %w", err)
	}
	aead, err := chacha20poly1305.New(okm[:chacha20poly1305.KeySize])
	if err != nil {
		return nil, nil, fmt.Errorf("attachment: aead: %w", err)
	}
	return aead, okm[chacha20poly1305.KeySize:], nil
}

// chunkNonce returns nonce_i: i as 11 big-endian bytes, then the last flag.
func chunkNonce(i uint64, last bool) []byte {
	var n [chacha20poly1305.NonceSize]byte
	binary.BigEndian.PutUint64(n[3:11], i)
	if last {
		n[11] = 1
	}
	return n[:]
}

// CiphertextSize returns the exact ciphertext size of an n-byte plaintext.
func CiphertextSize(n int64) (int64, error) {
	if n < 0 || n > MaxSize {
		return 0, fmt.Errorf("%w: %d bytes", ErrTooLarge, n)
	}
	chunks := max(1, (n+ChunkSize-1)/ChunkSize)
	return int64(HeaderSize) + n + chunks*TagSize, nil
}
