package sframe

import "errors"

// Sentinel errors. Callers branch on them with errors.Is; the returned
// errors wrap them with a short context.
var (
	// ErrTruncatedHeader reports a header that ends before its KID or CTR.
	ErrTruncatedHeader = errors.New("sframe: truncated header")
	// ErrNonMinimalHeader reports a KID or CTR not in its shortest encoding.
	ErrNonMinimalHeader = errors.New("sframe: non-minimal header")
	// ErrUnsupportedSuite reports a cipher suite this package does not offer.
	ErrUnsupportedSuite = errors.New("sframe: unsupported cipher suite")
	// ErrInvalidKey reports a base key or exporter secret of a bad length.
	ErrInvalidKey = errors.New("sframe: invalid key")
	// ErrInvalidConfig reports a configuration value out of range.
	ErrInvalidConfig = errors.New("sframe: invalid config")
	// ErrUnknownKID reports a frame whose KID has no decryption key. The RFC
	// allows callers to buffer such a frame and retry once the key arrives.
	ErrUnknownKID = errors.New("sframe: unknown key id")
	// ErrShortFrame reports a frame shorter than its header plus the tag.
	ErrShortFrame = errors.New("sframe: frame shorter than tag")
	// ErrReplay reports a CTR that was already accepted for this KID.
	ErrReplay = errors.New("sframe: replayed counter")
	// ErrTooOld reports a CTR below the replay window for this KID.
	ErrTooOld = errors.New("sframe: counter below replay window")
	// ErrAuth reports a frame whose authentication tag does not verify.
	ErrAuth = errors.New("sframe: authentication failed")
	// ErrCounterExhausted reports a sender whose next CTR would wrap and
	// reuse a nonce. The sender needs a new key (a new KID).
	ErrCounterExhausted = errors.New("sframe: counter exhausted")
	// ErrFrameTooLarge reports a plaintext too long for the AEAD.
	ErrFrameTooLarge = errors.New("sframe: frame too large")
)

// ErrEpoch reports an MLS epoch that is not newer than the newest one held,
// or that is not held at all.
var ErrEpoch = errors.New("sframe: bad mls epoch")
