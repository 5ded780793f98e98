package mls

import (
	"bytes"
	"fmt"
)

// Welcome processing primitives (RFC 9420, Section 12.4.3.1). A Welcome
// carries, per new member, the GroupSecrets HPKE-encrypted to the init
// key of the member's KeyPackage, with the encrypted GroupInfo as HPKE
// context (so the secrets cannot be moved to another Welcome), and once
// the GroupInfo AEAD-encrypted under a key derived from the joiner
// secret. The GroupInfo is signed by the committer (binding the
// GroupContext to a member's key) and carries the confirmation tag
// (binding it to the epoch's key schedule).

// signGroupInfo sets g.Signature: SignWithLabel(., "GroupInfoTBS", tbs).
func (s *suite) signGroupInfo(g *GroupInfo, k *SignaturePrivateKey) error {
	var w writer
	g.encodeTBS(&w)
	tbs, err := w.Bytes()
	if err != nil {
		return err
	}
	g.Signature, err = s.signWithLabel(k, "GroupInfoTBS", tbs)
	return err
}

// verifyGroupInfo checks g's signature under the signer's key.
func (s *suite) verifyGroupInfo(g *GroupInfo, pub []byte) error {
	var w writer
	g.encodeTBS(&w)
	tbs, err := w.Bytes()
	if err != nil {
		return err
	}
	if err := s.verifyWithLabel(pub, "GroupInfoTBS", tbs, g.Signature); err != nil {
		return fmt.Errorf("group info: %w", err)
	}
	return nil
}

// findGroupSecrets returns the entry of w addressed to ref.
func findGroupSecrets(w *Welcome, ref KeyPackageRef) (*EncryptedGroupSecrets, error) {
	for i := range w.Secrets {
		if bytes.Equal(w.Secrets[i].NewMember, ref) {
			return &w.Secrets[i], nil
		}
	}
	return nil, fmt.Errorf("%w: welcome has no secrets for this key package", ErrUnknownSender)
}

// encryptGroupSecrets encrypts gs to a new member's init key.
func (s *suite) encryptGroupSecrets(initKey []byte, encryptedGroupInfo []byte, gs *GroupSecrets) (HPKECiphertext, error) {
	pt, err := marshal(gs)
	if err != nil {
		return HPKECiphertext{}, err
	}
	kem, ct, err := s.encryptWithLabel(initKey, "Welcome", encryptedGroupInfo, pt)
	return HPKECiphertext{KEMOutput: kem, Ciphertext: ct}, err
}

// decryptGroupSecrets opens the GroupSecrets of one Welcome entry.
func (s *suite) decryptGroupSecrets(initPriv *HPKEPrivateKey, egs *EncryptedGroupSecrets, encryptedGroupInfo []byte) (*GroupSecrets, error) {
	c := egs.EncryptedGroupSecrets
	pt, err := s.decryptWithLabel(initPriv, "Welcome", encryptedGroupInfo, c.KEMOutput, c.Ciphertext)
	if err != nil {
		return nil, fmt.Errorf("group secrets: %w", err)
	}
	var gs GroupSecrets
	if err := unmarshal(pt, func(r *reader) { gs = decodeGroupSecrets(r) }); err != nil {
		return nil, fmt.Errorf("group secrets: %w", err)
	}
	return &gs, nil
}

// encryptGroupInfo seals gi under the welcome key and nonce.
func (s *suite) encryptGroupInfo(welcome secret, gi *GroupInfo) ([]byte, error) {
	pt, err := marshal(gi)
	if err != nil {
		return nil, err
	}
	key, nonce, err := s.welcomeKeyNonce(welcome)
	if err != nil {
		return nil, err
	}
	aead, err := s.aead(key)
	if err != nil {
		return nil, err
	}
	return aead.Seal(nil, nonce, pt, nil), nil
}

// decryptGroupInfo opens and parses a Welcome's GroupInfo.
func (s *suite) decryptGroupInfo(welcome secret, ciphertext []byte) (*GroupInfo, error) {
	key, nonce, err := s.welcomeKeyNonce(welcome)
	if err != nil {
		return nil, err
	}
	aead, err := s.aead(key)
	if err != nil {
		return nil, err
	}
	pt, err := aead.Open(nil, nonce, ciphertext, nil)
	if err != nil {
		return nil, fmt.Errorf("group info: %w", ErrDecrypt)
	}
	var gi GroupInfo
	if err := unmarshal(pt, func(r *reader) { gi = decodeGroupInfo(r) }); err != nil {
		return nil, fmt.Errorf("group info: %w", err)
	}
	return &gi, nil
}

// welcomeOpening is what a new member learns from a Welcome before it
// builds its group state: the secrets, the still-unverified GroupInfo
// (its signature needs the signer's key from the tree) and the epoch's
// key schedule, with the confirmation tag already checked.
type welcomeOpening struct {
	secrets   *GroupSecrets
	groupInfo *GroupInfo
	epoch     *epochSecrets
}

// openWelcome decrypts w for the holder of kp's init key. psks are the
// PSK values for secrets.PSKs, in order, as resolved by resolvePSK.
func (s *suite) openWelcome(w *Welcome, kp *KeyPackage, initPriv *HPKEPrivateKey, resolvePSK func(*PreSharedKeyID) (secret, error)) (*welcomeOpening, error) {
	if w.CipherSuite != s.id || kp.CipherSuite != s.id {
		return nil, fmt.Errorf("%w: welcome suite %v, key package suite %v", ErrUnsupportedSuite, w.CipherSuite, kp.CipherSuite)
	}
	ref, err := kp.Ref()
	if err != nil {
		return nil, err
	}
	egs, err := findGroupSecrets(w, ref)
	if err != nil {
		return nil, err
	}
	gs, err := s.decryptGroupSecrets(initPriv, egs, w.EncryptedGroupInfo)
	if err != nil {
		return nil, err
	}
	psk, err := s.resolvePSKs(gs.PSKs, resolvePSK)
	if err != nil {
		return nil, err
	}
	welcome, err := s.welcomeSecret(gs.JoinerSecret, psk)
	if err != nil {
		return nil, err
	}
	gi, err := s.decryptGroupInfo(welcome, w.EncryptedGroupInfo)
	if err != nil {
		return nil, err
	}
	return s.checkWelcomeEpoch(gs, gi, psk)
}

// checkWelcomeEpoch derives the epoch from the joiner secret and checks
// the GroupInfo's confirmation tag against it.
func (s *suite) checkWelcomeEpoch(gs *GroupSecrets, gi *GroupInfo, psk secret) (*welcomeOpening, error) {
	if gi.GroupContext.CipherSuite != s.id {
		return nil, fmt.Errorf("%w: group info suite %v", ErrUnsupportedSuite, gi.GroupContext.CipherSuite)
	}
	gc, err := marshal(&gi.GroupContext)
	if err != nil {
		return nil, err
	}
	epoch, err := s.epochFromJoiner(gs.JoinerSecret, psk, gc)
	if err != nil {
		return nil, err
	}
	if !s.verifyMAC(epoch.confirmation, gi.GroupContext.ConfirmedTranscriptHash, gi.ConfirmationTag) {
		return nil, ErrBadConfirmationTag
	}
	return &welcomeOpening{secrets: gs, groupInfo: gi, epoch: epoch}, nil
}

// resolvePSKs looks up each PSK and chains them into psk_secret.
func (s *suite) resolvePSKs(ids []PreSharedKeyID, resolve func(*PreSharedKeyID) (secret, error)) (secret, error) {
	if len(ids) == 0 {
		return nil, nil
	}
	if resolve == nil {
		return nil, fmt.Errorf("%w: %d PSKs but no PSK store", ErrInvalidProposal, len(ids))
	}
	psks := make([]secret, len(ids))
	for i := range ids {
		var err error
		if psks[i], err = resolve(&ids[i]); err != nil {
			return nil, fmt.Errorf("psk %d: %w", i, err)
		}
	}
	return s.pskSecret(ids, psks)
}
