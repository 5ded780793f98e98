package mls

import "errors"

// Sentinel errors. Callers branch on them with errors.Is; every error
// returned by this package that reports one of these outcomes wraps the
// matching sentinel.
var (
	// ErrMalformed reports bytes that do not decode as the expected
	// structure: a truncated field, a non-minimal varint, an invalid
	// optional or enum value, or trailing bytes.
	ErrMalformed = errors.New("mls: malformed encoding")
	// ErrTooLarge reports a length read from the wire above the
	// decoder's bound.
	ErrTooLarge = errors.New("mls: length exceeds limit")
	// ErrUnsupportedSuite reports a cipher suite this package does not
	// implement (suites 4 and 6, which need X448/Ed448, and unknown ids).
	ErrUnsupportedSuite = errors.New("mls: unsupported cipher suite")
	// ErrWrongEpoch reports a message for an epoch other than the
	// group's current one.
	ErrWrongEpoch = errors.New("mls: wrong epoch")
	// ErrWrongGroup reports a message for another group id.
	ErrWrongGroup = errors.New("mls: wrong group")
	// ErrReplay reports a ratchet generation that was already used and
	// whose key has been deleted.
	ErrReplay = errors.New("mls: generation already used")
	// ErrGenerationTooFar reports a ratchet generation beyond the
	// allowed forward jump or older than the out-of-order window.
	ErrGenerationTooFar = errors.New("mls: generation outside window")
	// ErrUnknownSender reports a sender that is not a member (or not an
	// allowed external sender) of the group.
	ErrUnknownSender = errors.New("mls: unknown sender")
	// ErrBadSignature reports a signature that does not verify.
	ErrBadSignature = errors.New("mls: bad signature")
	// ErrBadMembershipTag reports a PublicMessage membership tag that
	// does not verify.
	ErrBadMembershipTag = errors.New("mls: bad membership tag")
	// ErrBadConfirmationTag reports a confirmation tag that does not
	// verify.
	ErrBadConfirmationTag = errors.New("mls: bad confirmation tag")
	// ErrDecrypt reports an AEAD or HPKE open failure.
	ErrDecrypt = errors.New("mls: decryption failed")
	// ErrInvalidProposal reports a proposal or proposal list that fails
	// validation (RFC 9420, Section 12.2).
	ErrInvalidProposal = errors.New("mls: invalid proposal")
	// ErrInvalidContent reports content that is not allowed in its
	// wire format or for its sender (for example an application message
	// sent as a PublicMessage).
	ErrInvalidContent = errors.New("mls: invalid content for wire format")
	// ErrInvalidLeafNode reports a leaf node that fails validation
	// (RFC 9420, Section 7.3).
	ErrInvalidLeafNode = errors.New("mls: invalid leaf node")
	// ErrExpired reports a key package lifetime that does not cover the
	// current time.
	ErrExpired = errors.New("mls: lifetime expired")
	// ErrRemoved reports that a Commit removed this member; the group
	// can no longer be used.
	ErrRemoved = errors.New("mls: removed from the group")
	// ErrReInit reports that a committed ReInit proposal closed the
	// group for sending; members wait for the new group's Welcome.
	ErrReInit = errors.New("mls: group is being reinitialized")
	// ErrBadKey reports a public or private key that does not parse for
	// the cipher suite.
	ErrBadKey = errors.New("mls: bad key")
)
