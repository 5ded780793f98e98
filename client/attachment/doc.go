// Package attachment encrypts files for Sealine attachments: each file gets
// a fresh random 256-bit key and is encrypted in 64 KiB chunks with
// ChaCha20-Poly1305 in a STREAM construction (Hoang, Reyhanitabar, Rogaway
// and Vizár, "Online Authenticated-Encryption and its Nonce-Reuse
// Misuse-Resistance", 2015), the same shape as age's payload. The server
// stores only the ciphertext; the key, the ciphertext's SHA-256 and the
// file's name and media type travel inside an MLS application message as
// an encoded Metadata.
//
// # Ciphertext
//
//	header   73 bytes
//	  0  21  "sealine/v1/attachment"
//	 21   4  chunk size, uint32 big-endian; v1 requires 65536
//	 25  16  nonce, random per file
//	 41  32  key commitment
//	chunk 0, chunk 1, ..., chunk N-1
//
// From the file key K (32 bytes) and the header's first 41 bytes H:
//
//	okm            = HKDF-SHA256(secret K, salt nonce, info H[0:25], 64 bytes)
//	payload key    = okm[0:32]
//	key commitment = okm[32:64]
//
// Chunk i (counting from 0) is ChaCha20-Poly1305(payload key, nonce_i,
// plaintext_i, no additional data) with the 12-byte nonce
//
//	nonce_i = i as an 11-byte big-endian integer || last
//
// where last is 0x01 for the final chunk and 0x00 otherwise. Every chunk but
// the final one holds exactly 65536 plaintext bytes (65552 on the wire); the
// final chunk holds 1..65536 bytes, or 0 bytes only when it is chunk 0 (the
// empty file). So the ciphertext of an n-byte file is exactly
// 73 + n + 16*max(1, ceil(n/65536)) bytes (CiphertextSize), and every
// plaintext has exactly one ciphertext per (key, nonce).
//
// # What the checks protect against
//
//   - The label and chunk size in the header are fixed for v1 and bound into
//     the key derivation: a ciphertext claiming another version or chunk
//     size is refused (ErrHeader) and cannot be reinterpreted.
//   - The key commitment is checked (in constant time) before any chunk is
//     opened: a wrong key fails at once with ErrWrongKey, and since
//     ChaCha20-Poly1305 alone does not commit to its key, it stops a sender
//     from crafting one ciphertext that opens to different files under two
//     keys given to different recipients.
//   - The chunk index in the nonce makes reordered or duplicated chunks fail
//     authentication (ErrCorrupt), like any flipped bit.
//   - The last flag makes a stream cut at a chunk boundary fail
//     (ErrTruncated: the chunk now at the end was not sealed as final), and
//     data after the final chunk fail (ErrTrailingData).
//   - A Reader returns plaintext only from chunks that authenticated, and
//     io.EOF only after the final chunk authenticated and the source ended.
//     Output written before an error is incomplete and must be discarded.
//
// Memory is constant: a Writer or Reader holds one chunk of plaintext and
// one of ciphertext whatever the file size. Encryption with a given key and
// nonce is deterministic, which the fuzz tests use: whatever ciphertext a
// Reader accepts is exactly what a Writer produces for its plaintext.
//
// The file key is fresh per file (NewKey); the per-file nonce keeps the
// chunk nonces unique even if a caller reused a key by mistake.
//
// The Metadata wire format is described on Metadata.MarshalBinary.
//
// The package does no network or file I/O of its own and never logs.
package attachment

import "errors"

// Sentinel errors returned (wrapped) by Reader, Writer and ParseMetadata.
var (
	// ErrHeader: the ciphertext does not start with a sealine/v1 attachment
	// header (wrong label or chunk size, or shorter than a header).
	ErrHeader = errors.New("not a sealine/v1 attachment")
	// ErrWrongKey: the key does not match the header's key commitment.
	ErrWrongKey = errors.New("wrong attachment key (or corrupted header)")
	// ErrCorrupt: a chunk failed authentication: modified, reordered or
	// duplicated ciphertext.
	ErrCorrupt = errors.New("attachment chunk failed authentication")
	// ErrTruncated: the ciphertext ends before its final chunk.
	ErrTruncated = errors.New("attachment is truncated")
	// ErrTrailingData: bytes follow the final chunk.
	ErrTrailingData = errors.New("data after the final attachment chunk")
	// ErrTooLarge: the plaintext exceeds MaxSize.
	ErrTooLarge = errors.New("attachment is larger than the maximum size")
	// ErrClosed: Write or Close after Close.
	ErrClosed = errors.New("attachment writer is closed")
	// ErrMetadata: an encoded Metadata is malformed, or a Metadata to
	// encode breaks a rule.
	ErrMetadata = errors.New("malformed attachment metadata")
)
