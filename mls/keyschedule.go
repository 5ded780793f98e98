package mls

import (
	"crypto/hpke"
	"crypto/subtle"
	"fmt"
	"io"
)

// secret is key material derived by the key schedule, the secret tree or
// TreeKEM. It never prints its contents and compares in constant time.
type secret []byte

func (s secret) String() string             { return "mls.secret(redacted)" }
func (s secret) Format(f fmt.State, _ rune) { io.WriteString(f, s.String()) }
func (s secret) equal(o secret) bool        { return subtle.ConstantTimeCompare(s, o) == 1 }
func (s secret) GoString() string           { return s.String() }
func zeroSecret(s *suite) secret            { return make(secret, s.hashLen()) }
func orZero(s secret, su *suite) secret {
	if s == nil {
		return zeroSecret(su)
	}
	return s
}

// GroupContext summarizes the state of a group in an epoch (RFC 9420,
// Section 8.1). Its encoding is bound into the key schedule, so two
// members derive the same keys only if they agree on every field.
type GroupContext struct {
	Version                 ProtocolVersion
	CipherSuite             CipherSuite
	GroupID                 []byte
	Epoch                   uint64
	TreeHash                []byte
	ConfirmedTranscriptHash []byte
	Extensions              []Extension
}

func (gc *GroupContext) encode(w *writer) {
	w.Uint16(uint16(gc.Version))
	w.Uint16(uint16(gc.CipherSuite))
	w.Opaque(gc.GroupID)
	w.Uint64(gc.Epoch)
	w.Opaque(gc.TreeHash)
	w.Opaque(gc.ConfirmedTranscriptHash)
	writeExtensions(w, gc.Extensions)
}

func decodeGroupContext(r *reader) GroupContext {
	gc := GroupContext{
		Version:                 ProtocolVersion(r.Uint16()),
		CipherSuite:             CipherSuite(r.Uint16()),
		GroupID:                 r.Opaque(),
		Epoch:                   r.Uint64(),
		TreeHash:                r.Opaque(),
		ConfirmedTranscriptHash: r.Opaque(),
		Extensions:              readExtensions(r),
	}
	if r.Err() == nil && gc.Version != ProtocolVersionMLS10 {
		r.fail(fmt.Errorf("%w: protocol version %d", ErrMalformed, gc.Version))
	}
	return gc
}

// Marshal returns the wire form of the GroupContext.
func (gc *GroupContext) Marshal() ([]byte, error) { return marshal(gc) }

// ParseGroupContext decodes a GroupContext, rejecting trailing bytes.
func ParseGroupContext(data []byte) (*GroupContext, error) {
	var gc GroupContext
	if err := unmarshal(data, func(r *reader) { gc = decodeGroupContext(r) }); err != nil {
		return nil, fmt.Errorf("group context: %w", err)
	}
	return &gc, nil
}

// epochSecrets are the secrets of one epoch (RFC 9420, Section 8).
type epochSecrets struct {
	joiner        secret
	welcome       secret
	senderData    secret
	encryption    secret
	exporter      secret
	external      secret
	confirmation  secret
	membership    secret
	resumption    secret
	authenticator secret
	init          secret // init_secret for the next epoch
}

// joinerSecret is ExpandWithLabel(Extract(init_secret, commit_secret),
// "joiner", GroupContext, Nh). A nil commitSecret is the zero vector.
func (s *suite) joinerSecret(initSecret, commitSecret secret, groupContext []byte) (secret, error) {
	prk, err := s.extract(initSecret, orZero(commitSecret, s))
	if err != nil {
		return nil, err
	}
	out, err := s.expandWithLabel(prk, "joiner", groupContext, uint16(s.hashLen()))
	return secret(out), err
}

// epochFromJoiner derives the epoch's secrets from joiner_secret and
// psk_secret (nil means no PSKs, the zero vector).
func (s *suite) epochFromJoiner(joiner, pskSecret secret, groupContext []byte) (*epochSecrets, error) {
	member, err := s.extract(joiner, orZero(pskSecret, s))
	if err != nil {
		return nil, err
	}
	e := &epochSecrets{joiner: joiner}
	if e.welcome, err = s.derive(member, "welcome"); err != nil {
		return nil, err
	}
	epoch, err := s.expandWithLabel(member, "epoch", groupContext, uint16(s.hashLen()))
	if err != nil {
		return nil, err
	}
	return e, s.fromEpochSecret(e, epoch)
}

// fromEpochSecret fills e with the secrets derived from epoch_secret.
func (s *suite) fromEpochSecret(e *epochSecrets, epoch secret) error {
	for _, d := range []struct {
		dst   *secret
		label string
	}{
		{&e.senderData, "sender data"}, {&e.encryption, "encryption"}, {&e.exporter, "exporter"},
		{&e.external, "external"}, {&e.confirmation, "confirm"}, {&e.membership, "membership"},
		{&e.resumption, "resumption"}, {&e.authenticator, "authentication"}, {&e.init, "init"},
	} {
		var err error
		if *d.dst, err = s.derive(epoch, d.label); err != nil {
			return err
		}
	}
	return nil
}

// deriveEpoch runs the whole key schedule for a new epoch.
func (s *suite) deriveEpoch(initSecret, commitSecret, pskSecret secret, groupContext []byte) (*epochSecrets, error) {
	joiner, err := s.joinerSecret(initSecret, commitSecret, groupContext)
	if err != nil {
		return nil, fmt.Errorf("key schedule: %w", err)
	}
	e, err := s.epochFromJoiner(joiner, pskSecret, groupContext)
	if err != nil {
		return nil, fmt.Errorf("key schedule: %w", err)
	}
	return e, nil
}

func (s *suite) derive(sec []byte, label string) (secret, error) {
	out, err := s.deriveSecret(sec, label)
	return secret(out), err
}

// export is MLS-Exporter(label, context, length) (RFC 9420, Section 8.5).
func (s *suite) export(exporterSecret secret, label string, context []byte, length int) ([]byte, error) {
	if length < 0 || length > 0xffff {
		return nil, fmt.Errorf("%w: exporter length %d", ErrTooLarge, length)
	}
	derived, err := s.deriveSecret(exporterSecret, label)
	if err != nil {
		return nil, err
	}
	return s.expandWithLabel(derived, "exported", s.hash(context), uint16(length))
}

// externalKeyPair is KEM.DeriveKeyPair(external_secret).
func (s *suite) externalKeyPair(external secret) (*HPKEPrivateKey, error) {
	return s.deriveKeyPair(external)
}

// welcomeKeyNonce derives the key and nonce that encrypt a Welcome's
// GroupInfo (RFC 9420, Section 12.4.3.1).
func (s *suite) welcomeKeyNonce(welcome secret) (key, nonce []byte, err error) {
	if key, err = s.expandWithLabel(welcome, "key", nil, uint16(s.keyLen)); err != nil {
		return nil, nil, err
	}
	nonce, err = s.expandWithLabel(welcome, "nonce", nil, uint16(s.nonceLen()))
	return key, nonce, err
}

// confirmationTag is MAC(confirmation_key, confirmed_transcript_hash).
func (s *suite) confirmationTag(confirmationKey secret, confirmedTranscriptHash []byte) []byte {
	return s.mac(confirmationKey, confirmedTranscriptHash)
}

// welcomeSecret is DeriveSecret(Extract(joiner_secret, psk_secret),
// "welcome"); a nil pskSecret is the zero vector.
func (s *suite) welcomeSecret(joiner, pskSecret secret) (secret, error) {
	member, err := s.extract(joiner, orZero(pskSecret, s))
	if err != nil {
		return nil, err
	}
	return s.derive(member, "welcome")
}

// externalInitLabel is the HPKE exporter label of external init
// (RFC 9420, Section 8.3).
const externalInitLabel = "MLS 1.0 external init secret"

// externalInit is the joiner's side of an external commit: it
// encapsulates to the group's external_pub and exports the new
// init_secret. kemOutput goes into the ExternalInit proposal.
func (s *suite) externalInit(externalPub []byte) (kemOutput []byte, initSecret secret, err error) {
	pk, err := s.kem.NewPublicKey(externalPub)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: external pub: %v", ErrBadKey, err)
	}
	enc, sender, err := hpke.NewSender(pk, s.kdf, s.hpkeAEAD, nil)
	if err != nil {
		return nil, nil, fmt.Errorf("external init: %w", err)
	}
	out, err := sender.Export(externalInitLabel, s.hashLen())
	return enc, out, err
}

// externalInitSecret is the members' side: it recovers init_secret from
// an ExternalInit proposal's kem_output with the external private key.
func (s *suite) externalInitSecret(external secret, kemOutput []byte) (secret, error) {
	priv, err := s.externalKeyPair(external)
	if err != nil {
		return nil, err
	}
	r, err := hpke.NewRecipient(kemOutput, priv.k, s.kdf, s.hpkeAEAD, nil)
	if err != nil {
		return nil, fmt.Errorf("%w: external init: %v", ErrDecrypt, err)
	}
	return r.Export(externalInitLabel, s.hashLen())
}
