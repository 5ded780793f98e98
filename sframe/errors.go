package sframe

import "errors"

// Sentinel errors. Callers branch on them with errors.Is. Every error the
// package returns wraps one of them in a context that starts "sframe: ",
// e.g. "sframe: kid 7: ctr 0: replayed counter".
var (
	// ErrTruncatedHeader reports a header that ends before its KID or CTR.
	ErrTruncatedHeader = errors.New("truncated header")
	// ErrNonMinimalHeader reports a KID or CTR not in its shortest encoding.
	ErrNonMinimalHeader = errors.New("non-minimal header")
	// ErrUnsupportedSuite reports a cipher suite this package does not offer.
	ErrUnsupportedSuite = errors.New("unsupported cipher suite")
	// ErrInvalidKey reports a base key or exporter secret of a bad length,
	// or a KID given a second key.
	ErrInvalidKey = errors.New("invalid key")
	// ErrInvalidConfig reports a configuration value out of range.
	ErrInvalidConfig = errors.New("invalid config")
	// ErrUnknownKID reports a frame whose KID has no decryption key. The RFC
	// allows callers to buffer such a frame and retry once the key arrives.
	ErrUnknownKID = errors.New("unknown key id")
	// ErrShortFrame reports a frame shorter than its header plus the tag.
	ErrShortFrame = errors.New("frame shorter than tag")
	// ErrReplay reports a CTR that was already accepted for this KID.
	ErrReplay = errors.New("replayed counter")
	// ErrTooOld reports a CTR below the replay window for this KID.
	ErrTooOld = errors.New("counter below replay window")
	// ErrAuth reports a frame whose authentication tag does not verify.
	ErrAuth = errors.New("authentication failed")
	// ErrCounterExhausted reports a sender whose next CTR would wrap and
	// reuse a nonce. The sender needs a new key (a new KID).
	ErrCounterExhausted = errors.New("counter exhausted")
	// ErrFrameTooLarge reports a plaintext too long for the AEAD.
	ErrFrameTooLarge = errors.New("frame too large")
)

// ErrEpoch reports an MLS epoch that is not newer than the newest one held,
// or that is not held at all.
var ErrEpoch = errors.New("bad mls epoch")

// ErrSenderExists reports a second Sender for the same MLS epoch and
// context, which would restart the counter and reuse nonces.
var ErrSenderExists = errors.New("sender already exists for this kid")
