package mls

import (
	"crypto/rand"
	"errors"
	"testing"
)

type welcomeCase struct {
	suiteField
	InitPriv   hexBytes `json:"init_priv"`
	SignerPub  hexBytes `json:"signer_pub"`
	KeyPackage hexBytes `json:"key_package"`
	Welcome    hexBytes `json:"welcome"`
}

func TestWelcomeVectors(t *testing.T) {
	runVectors(t, "welcome.json", func(t *testing.T, s *suite, tc *welcomeCase) {
		kpMsg, err := ParseMLSMessage(tc.KeyPackage)
		must(t, err)
		wMsg, err := ParseMLSMessage(tc.Welcome)
		must(t, err)
		if kpMsg.KeyPackage == nil || wMsg.Welcome == nil {
			t.Fatalf("wire formats %d, %d", kpMsg.WireFormat, wMsg.WireFormat)
		}
		initPriv, err := s.hpkePrivateKey(tc.InitPriv)
		must(t, err)
		checkHex(t, "init key", initPriv.PublicKey(), kpMsg.KeyPackage.InitKey)
		open, err := s.openWelcome(wMsg.Welcome, kpMsg.KeyPackage, initPriv, nil)
		must(t, err)
		must(t, s.verifyGroupInfo(open.groupInfo, tc.SignerPub))

		// Tampering with the signed GroupInfo breaks the signature.
		gi := *open.groupInfo
		gi.Signer++
		if err := s.verifyGroupInfo(&gi, tc.SignerPub); !errors.Is(err, ErrBadSignature) {
			t.Errorf("tampered group info: got %v, want ErrBadSignature", err)
		}
	})
}

// TestWelcomeRoundTrip builds a Welcome with the primitives and opens it.
func TestWelcomeRoundTrip(t *testing.T) {
	for _, cs := range []CipherSuite{1, 2, 3, 5, 7, 0x004D} {
		t.Run(cs.String(), func(t *testing.T) {
			s, err := cs.suite()
			must(t, err)
			signer, err := cs.GenerateSignatureKey(rand.Reader)
			must(t, err)
			initPriv, err := s.generateHPKEKey(rand.Reader)
			must(t, err)
			kp := &KeyPackage{Version: 1, CipherSuite: cs, InitKey: initPriv.PublicKey(), LeafNode: LeafNode{
				Credential: Credential{Type: CredentialBasic, Identity: []byte("a")}, Source: LeafNodeSourceKeyPackage}}
			ref, err := kp.Ref()
			must(t, err)

			joiner := make(secret, s.hashLen())
			gi := &GroupInfo{GroupContext: GroupContext{Version: 1, CipherSuite: cs, GroupID: []byte("g"), Epoch: 1}}
			gcBytes, _ := marshal(&gi.GroupContext)
			epoch, err := s.epochFromJoiner(joiner, nil, gcBytes)
			must(t, err)
			gi.ConfirmationTag = s.mac(epoch.confirmation, nil)
			must(t, s.signGroupInfo(gi, signer))
			egi, err := s.encryptGroupInfo(epoch.welcome, gi)
			must(t, err)
			ct, err := s.encryptGroupSecrets(kp.InitKey, egi, &GroupSecrets{JoinerSecret: joiner})
			must(t, err)
			w := &Welcome{CipherSuite: cs, Secrets: []EncryptedGroupSecrets{{NewMember: ref, EncryptedGroupSecrets: ct}}, EncryptedGroupInfo: egi}

			open, err := s.openWelcome(w, kp, initPriv, nil)
			must(t, err)
			must(t, s.verifyGroupInfo(open.groupInfo, signer.PublicKey()))
			checkHex(t, "epoch authenticator", open.epoch.authenticator, epoch.authenticator)

			bad := *open.groupInfo
			bad.ConfirmationTag = []byte("x")
			if _, err := s.checkWelcomeEpoch(open.secrets, &bad, nil); !errors.Is(err, ErrBadConfirmationTag) {
				t.Errorf("bad confirmation tag: got %v", err)
			}
			w.Secrets[0].NewMember = []byte("other")
			if _, err := s.openWelcome(w, kp, initPriv, nil); !errors.Is(err, ErrUnknownSender) {
				t.Errorf("other key package: got %v", err)
			}
		})
	}
}
