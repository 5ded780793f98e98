// Package mls implements the core of Messaging Layer Security, RFC 9420:
// the wire codec, cipher suites, ratchet tree and TreeKEM, key schedule,
// secret tree, message framing, proposals, commits and welcomes.
//
// The package is pure: no I/O, no goroutines, no clock and no randomness
// of its own. Randomness comes in as an io.Reader and time as an
// argument or config field, so the same inputs give the same state.
//
// # Cipher suites
//
//	0x0001 MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519        default
//	0x0002 MLS_128_DHKEMP256_AES128GCM_SHA256_P256
//	0x0003 MLS_128_DHKEMX25519_CHACHA20POLY1305_SHA256_Ed25519
//	0x0005 MLS_256_DHKEMP521_AES256GCM_SHA512_P521
//	0x0007 MLS_256_DHKEMP384_AES256GCM_SHA384_P384
//	0x004D MLS_256_XWING_CHACHA20POLY1305_SHA256_Ed25519      hybrid post-quantum
//
// Suites 0x0004 and 0x0006 (X448, Ed448) are NOT supported: neither the
// standard library nor golang.org/x/crypto implements them. They, and
// every unknown value, yield ErrUnsupportedSuite.
//
// 0x004D is NOT registered with IANA. It is the value OpenMLS and ts-mls
// use for X-Wing (HPKE KEM 0x647a, ML-KEM-768 + X25519, Go's
// hpke.MLKEM768X25519) with HKDF-SHA256, ChaCha20-Poly1305 and Ed25519.
// It has no official test vectors; its tests are round trips.
//
// Every primitive is composed in suite.go from crypto/hkdf, crypto/hmac,
// crypto/aes + crypto/cipher (GCM), x/crypto/chacha20poly1305, crypto/hpke
// (DHKEM over X25519, P-256, P-384, P-521 and X-Wing), crypto/ed25519 and
// crypto/ecdsa (DER signatures, SHA-256/384/512 per suite). Labelled
// operations prefix "MLS 1.0 " (RFC 9420, Section 5.1), binding the
// protocol version into every derived key, signature and ciphertext.
//
// # Randomness
//
// Key generation (signature keys, HPKE keys via DeriveKeyPair), reuse
// guards and fresh secrets read the injected io.Reader (Config.Rand; nil
// means crypto/rand.Reader). Two exceptions
// cannot be injected in Go 1.26: crypto/hpke draws the ephemeral
// encapsulation key from crypto/rand, and crypto/ecdsa draws signing
// nonces from it. Tests that need byte-identical output use
// testing/cryptotest.SetGlobalRandom.
//
// # Wire format
//
// Structures are in the TLS presentation language (RFC 8446, Section 3):
// big-endian fixed-size integers and structs as the concatenation of
// their fields. MLS adds (RFC 9420, Section 2.1):
//
//	optional<T>   1 octet present (0 or 1), then T if present
//	opaque x<V>   varint length, then that many octets
//	T x<V>        varint length in bytes, then the encoded elements
//
//	varint        first two bits = log2(size):
//	  00xxxxxx                              0 .. 63
//	  01xxxxxx xxxxxxxx                     64 .. 16383
//	  10xxxxxx xxxxxxxx xxxxxxxx xxxxxxxx   16384 .. 2^30-1
//	  11......                              invalid
//
// The top-level object (RFC 9420, Section 6):
//
//	MLSMessage     = version uint16 (1) | wire_format uint16 | body
//	  wire_format  1 PublicMessage, 2 PrivateMessage, 3 Welcome,
//	               4 GroupInfo, 5 KeyPackage
//	FramedContent  = group_id<V> | epoch uint64 | Sender |
//	                 authenticated_data<V> | content_type uint8 | content
//	  Sender       = sender_type uint8 | leaf_index uint32 (member) |
//	                 sender_index uint32 (external) | nothing (new member)
//	  content      = application_data<V> | Proposal | Commit
//	FramedContentAuthData = signature<V> | confirmation_tag<V> (commits)
//	PublicMessage  = FramedContent | FramedContentAuthData |
//	                 membership_tag<V> (member senders)
//	PrivateMessage = group_id<V> | epoch uint64 | content_type uint8 |
//	                 authenticated_data<V> | encrypted_sender_data<V> |
//	                 ciphertext<V>
//	  ciphertext   = AEAD(key_gen, nonce_gen XOR reuse_guard,
//	                   aad = group_id<V> | epoch | content_type | authenticated_data<V>,
//	                   content | FramedContentAuthData | zero padding)
//	  encrypted_sender_data = AEAD(sender-data key and nonce derived
//	                   from the first Nh bytes of ciphertext,
//	                   aad = group_id<V> | epoch | content_type,
//	                   leaf_index uint32 | generation uint32 | reuse_guard [4])
//
// Proposals, Commit, UpdatePath, Welcome, GroupSecrets and GroupInfo are
// in message.go; KeyPackage, LeafNode and the ratchet tree in
// keypackage.go, leafnode.go and tree_codec.go, each with its layout.
//
// # Checks and what they protect against
//
//   - Decoding is strict: minimal varints, presence octets of 0 or 1,
//     known enum values, no duplicate extensions, no trailing bytes.
//     Every encoding is canonical, so hashes, references and signatures
//     over re-encoded structures match what the sender signed, and two
//     parsers cannot disagree about one message.
//   - Every vector length is bounded (DefaultMaxVectorLen, 16 MiB) before
//     anything is allocated: a 4-byte header cannot claim a gigabyte.
//   - Group id and epoch must match the current GroupContext
//     (ErrWrongGroup, ErrWrongEpoch): old or foreign messages are refused.
//   - The signature covers FramedContentTBS: protocol version, wire
//     format, the content and, for members, the whole GroupContext. A
//     signature cannot be replayed into another group, epoch or wire
//     format (ErrBadSignature).
//   - The membership tag, a MAC under the epoch's membership key, proves
//     a PublicMessage's sender knows the epoch's secrets, even if its
//     signature key has leaked (ErrBadMembershipTag).
//   - Application data is accepted only in PrivateMessages
//     (ErrInvalidContent).
//   - PrivateMessage content is AEAD-encrypted under a key used once; the
//     AAD binds group, epoch, content type and authenticated data. The
//     sender's leaf and generation are encrypted too, so the Delivery
//     Service does not learn who sent what.
//   - The reuse guard, four fresh random bytes XORed into the nonce,
//     avoids nonce reuse if a client loses its ratchet state.
//   - Padding must be all zero (ErrMalformed): padding is not a covert
//     channel.
//   - Per-sender ratchets accept a generation at most DefaultMaxForwardJump
//     ahead (a forged header cannot force millions of hashes) and keep
//     skipped keys for DefaultOutOfOrderWindow generations. A consumed
//     generation is refused with ErrReplay.
//   - Nothing changes state until a message has decrypted, parsed,
//     verified and (for a Commit) been applied in full: a bad message
//     costs the receiver nothing, not even the ratchet key it decrypted
//     under, and MarshalState gives the same bytes before and after.
//   - LoadGroup checks that a saved tree hashes to the saved
//     GroupContext's tree_hash, so a damaged state is refused.
//   - Keys are deleted as they are consumed (RFC 9420, Section 9.2):
//     interior secret-tree nodes once both children are derived, ratchet
//     secrets once advanced, message keys once used (forward secrecy).
//   - A Commit's confirmation tag, a MAC under the new epoch's
//     confirmation key over the confirmed transcript hash, proves that
//     committer and receiver derived the same epoch
//     (ErrBadConfirmationTag).
//   - A Welcome's GroupSecrets are HPKE-encrypted to the joiner's
//     KeyPackage init key with the encrypted GroupInfo as context; the
//     GroupInfo is encrypted under a key derived from the joiner secret,
//     signed by the committer and carries the confirmation tag.
//
// # Using a group
//
//	kp, kpPriv, _ := mls.NewKeyPackage(mls.KeyPackageParams{...})   // publish kp
//	g, _ := mls.NewGroup(cfg, groupID, kp, kpPriv, sigKey, nil)      // creator
//	pc, _ := g.Commit(mls.CommitParams{Add: []*mls.KeyPackage{bobKP}})
//	// send pc.Commit to the group and pc.Welcome to Bob; once the
//	// Delivery Service accepts the commit:
//	g.MergeCommit(pc)
//	bob, _ := mls.Join(cfg, mls.JoinParams{Welcome: w, KeyPackage: bobKP, ...})
//	wire, _ := g.Encrypt([]byte("hi"), nil)
//	rcv, _ := bob.Process(wire) // application, proposal or commit
//	key, _ := g.Export("sframe", nil, 16)
//	state, _ := g.MarshalState() // encrypt, store; mls.LoadGroup restores
//
// Inspect reads a message's public metadata (group, epoch, content
// type) without secrets, for the Delivery Service. A Commit is only
// applied by its author after MergeCommit, so "first commit for an epoch
// wins" can be decided by the server; the loser drops its PendingCommit
// and processes the winner. Config.KeepEpochs past epochs keep their
// application keys for messages sent just before a Commit.
//
// JoinExternal joins from a GroupInfo with an external Commit (also to
// resync after losing state); members accept those only with
// Config.AllowExternalCommits. Not implemented: ReInit and branching
// beyond parsing and validating their proposals.
//
// # Secrets
//
// Secret values are typed (SignaturePrivateKey, HPKEPrivateKey and the
// internal secret), print as "redacted" under every fmt verb, and are
// compared only in constant time.
//
// # Errors
//
// Outcomes callers branch on are sentinel errors (errors.go), wrapped
// with context: ErrMalformed, ErrTooLarge, ErrUnsupportedSuite,
// ErrWrongGroup, ErrWrongEpoch, ErrReplay, ErrGenerationTooFar,
// ErrUnknownSender, ErrBadSignature, ErrBadMembershipTag,
// ErrBadConfirmationTag, ErrDecrypt, ErrInvalidProposal,
// ErrInvalidContent, ErrInvalidLeafNode, ErrExpired, ErrBadKey; the tree
// adds ErrInvalidKeyPackage, ErrInvalidTree, ErrParentHash,
// ErrInvalidUpdatePath and ErrNoPrivateKey.
//
// # Conformance
//
// The tests run the MLS working group's test vectors (testdata/, from
// github.com/mlswg/mls-implementations) for suites 1, 2, 3, 5 and 7,
// skipping only suites 4 and 6.
package mls
