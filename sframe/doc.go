// Package sframe implements SFrame, the end-to-end encryption of media frames
// defined in RFC 9605, and the MLS-based key layout of its §5.2.
//
// The package is pure: it does no I/O, starts no goroutines and keeps no
// package-level state. A [Sender] or [Receiver] holds per-key state (counters,
// replay windows, scratch buffers) and must not be used by two goroutines at
// once; use one per media stream, or serialise calls.
//
// # Wire format
//
// An SFrame ciphertext is a header, then the AEAD ciphertext of the frame,
// then the AEAD tag (RFC 9605 §4.2):
//
//	+--------+----------+----------+---------------------+-------------+
//	| config | KID      | CTR      | encrypted frame     | tag (Nt)    |
//	| 1 byte | 0-8 B    | 0-8 B    | len(plaintext) B    | 4-16 bytes  |
//	+--------+----------+----------+---------------------+-------------+
//	 \______ header (AAD, with the caller's metadata) __/
//
// The config byte (RFC 9605 §4.3), bit 0 being the most significant:
//
//	bit 0     X  1 if KID is carried in the bytes after the config byte
//	bits 1-3  K  KID itself (X = 0), or the KID's length in bytes minus 1 (X = 1)
//	bit 4     Y  1 if CTR is carried in the bytes after the KID
//	bits 5-7  C  CTR itself (Y = 0), or the CTR's length in bytes minus 1 (Y = 1)
//
// Then come the KID bytes (if X = 1) and the CTR bytes (if Y = 1), each an
// unsigned big-endian integer of 1 to 8 bytes. Examples from the RFC's
// vectors: KID 0, CTR 1 is 01; KID 1, CTR 255 is 18 ff; KID 255, CTR 0 is 80 ff.
//
// [ParseHeader] is strict, and each check has a purpose:
//   - A header cut short ([ErrTruncatedHeader]) is rejected before any key
//     lookup, so no read goes past the input.
//   - A value carried in extended form must use the minimum number of bytes
//     (no leading zero byte, and no extended form for values 0-7); otherwise
//     [ErrNonMinimalHeader]. This gives every (KID, CTR) exactly one encoding,
//     so the header that is authenticated as AAD is the only header a
//     receiver accepts for that nonce, and a relay cannot make one frame look
//     like two distinct frames to a replay filter or a log.
//
// # Keys and nonces
//
// Each KID names a base_key. From it, RFC 9605 §4.4.2 derives
//
//	sframe_secret = HKDF-Extract(salt = "", ikm = base_key)
//	sframe_key    = HKDF-Expand(sframe_secret, "SFrame 1.0 Secret key "  || KID(8) || suite(2), Nk)
//	sframe_salt   = HKDF-Expand(sframe_secret, "SFrame 1.0 Secret salt " || KID(8) || suite(2), Nn)
//
// with KID and suite big-endian and the suite's hash. The nonce of a frame is
// sframe_salt XOR the CTR written big-endian in Nn = 12 bytes (§4.4.3). The
// AEAD is keyed once per KID and cached; nothing is derived per frame.
//
// # Cipher suites
//
// All five suites of RFC 9605 §4.5 are provided, built from crypto/aes,
// crypto/cipher, crypto/hmac, crypto/sha256, crypto/sha512 and crypto/hkdf:
// AES-128-CTR with HMAC-SHA-256 truncated to 80, 64 or 32 bits (encrypt then
// MAC, §4.5.1), AES-128-GCM with SHA-256, and AES-256-GCM with SHA-512.
//
// # What the receiver checks
//
// [Receiver.Decrypt] rejects, without changing any state:
//   - unknown KIDs ([ErrUnknownKID]), which the RFC lets callers buffer and
//     retry once the key arrives;
//   - frames shorter than header plus tag ([ErrShortFrame]);
//   - CTRs that fall below the replay window, that is ReplayWindow or more
//     below the highest CTR accepted for the KID ([ErrTooOld]), and CTRs
//     already accepted ([ErrReplay]), so a relay cannot replay media;
//   - frames whose tag does not verify ([ErrAuth]): any changed bit of the
//     header, the metadata, the ciphertext or the tag.
//
// The replay window is updated only after the tag has verified, so forged
// frames cannot move it.
//
// # MLS
//
// [MLSKeys] implements RFC 9605 §5.2. For every MLS epoch the caller exports
//
//	base_key = MLS-Exporter("SFrame 1.0 Base Key", "", Nk)
//
// that is, label [MLSExporterLabel], an empty context, and length
// [Suite.KeySize] of the SFrame suite in use, and hands the bytes to
// [MLSKeys.AddEpoch]. The KID of member index i in epoch e is
//
//	KID = context << (S+E) | i << E | e mod 2^E
//
// where E is [MLSConfig.EpochBits] and S the fewest bits that hold every leaf
// index of the epoch's tree. Each sender's sframe_key and sframe_salt then
// follow from the shared base_key and its own KID as in §4.4.2. A receiver
// derives a sender's key when that sender's first frame arrives and keeps it
// only if the frame authenticates; a forged frame under a new KID therefore
// costs one HKDF and one AES key schedule, and changes nothing. A member
// who knows base_key can authenticate frames under any context, so a
// receiver keeps keys for at most [MLSConfig.ContextsPerSender] contexts of
// each sender per epoch (16 by default) and refuses frames of further ones.
package sframe
