package mls

import (
	"bytes"
	"errors"
	"testing"
)

type passiveClientCase struct {
	suiteField
	ExternalPSKs []struct {
		PSKID hexBytes `json:"psk_id"`
		PSK   hexBytes `json:"psk"`
	} `json:"external_psks"`
	KeyPackage                hexBytes `json:"key_package"`
	SignaturePriv             hexBytes `json:"signature_priv"`
	EncryptionPriv            hexBytes `json:"encryption_priv"`
	InitPriv                  hexBytes `json:"init_priv"`
	Welcome                   hexBytes `json:"welcome"`
	RatchetTree               hexBytes `json:"ratchet_tree"`
	InitialEpochAuthenticator hexBytes `json:"initial_epoch_authenticator"`
	Epochs                    []struct {
		Proposals          []hexBytes `json:"proposals"`
		Commit             hexBytes   `json:"commit"`
		EpochAuthenticator hexBytes   `json:"epoch_authenticator"`
	} `json:"epochs"`
}

// joinParams decodes the vector's key package, keys, Welcome, tree and
// PSKs, checking that the private keys match the key package.
func (tc *passiveClientCase) joinParams(t *testing.T, s *suite) JoinParams {
	kpMsg, err := ParseMLSMessage(tc.KeyPackage)
	must(t, err)
	wMsg, err := ParseMLSMessage(tc.Welcome)
	must(t, err)
	if kpMsg.KeyPackage == nil || wMsg.Welcome == nil {
		t.Fatalf("wire formats %d, %d", kpMsg.WireFormat, wMsg.WireFormat)
	}
	kp := kpMsg.KeyPackage
	sig, err := s.id.NewSignaturePrivateKey(tc.SignaturePriv)
	must(t, err)
	checkHex(t, "signature key", sig.PublicKey(), kp.LeafNode.SignatureKey)
	enc, err := s.hpkePrivateKey(tc.EncryptionPriv)
	must(t, err)
	checkHex(t, "encryption key", enc.PublicKey(), kp.LeafNode.EncryptionKey)
	init, err := s.hpkePrivateKey(tc.InitPriv)
	must(t, err)
	checkHex(t, "init key", init.PublicKey(), kp.InitKey)
	p := JoinParams{
		Welcome: wMsg.Welcome, KeyPackage: kp, SignatureKey: sig,
		Private: &KeyPackagePrivate{InitKey: init, EncryptionKey: enc},
		PSK: func(id *PreSharedKeyID) ([]byte, error) {
			for _, e := range tc.ExternalPSKs {
				if id.Type == PSKExternal && bytes.Equal(id.ID, e.PSKID) {
					return e.PSK, nil
				}
			}
			return nil, ErrInvalidProposal
		},
	}
	if tc.RatchetTree != nil {
		p.RatchetTree, err = ParseRatchetTree(s.id, tc.RatchetTree)
		must(t, err)
	}
	return p
}

func TestPassiveClientWelcomeVectors(t *testing.T) {
	runVectors(t, "passive-client-welcome.json", func(t *testing.T, s *suite, tc *passiveClientCase) {
		if len(tc.Epochs) != 0 {
			t.Fatalf("%d epochs in a welcome-only case", len(tc.Epochs))
		}
		g, err := Join(Config{}, tc.joinParams(t, s))
		must(t, err)
		checkHex(t, "initial_epoch_authenticator", g.EpochAuthenticator(), tc.InitialEpochAuthenticator)
	})
}

func TestJoinRejects(t *testing.T) {
	tcs := loadVectors[passiveClientCase](t, "passive-client-welcome.json")
	var tc *passiveClientCase
	for i := range tcs {
		if tcs[i].CipherSuite == 1 && len(tcs[i].ExternalPSKs) > 0 && tcs[i].RatchetTree != nil {
			tc = &tcs[i]
			break
		}
	}
	if tc == nil {
		t.Fatal("no suite-1 case with PSKs and an external tree")
	}
	s, _ := DefaultCipherSuite.suite()
	tests := []struct {
		name string
		edit func(p *JoinParams)
		want error
	}{
		{"no PSK", func(p *JoinParams) { p.PSK = nil }, ErrInvalidProposal},
		{"no tree", func(p *JoinParams) { p.RatchetTree = nil }, ErrInvalidTree},
		{"wrong init key", func(p *JoinParams) { p.Private.InitKey = p.Private.EncryptionKey }, ErrDecrypt},
		{"other key package", func(p *JoinParams) { p.KeyPackage.InitKey = []byte("x") }, ErrUnknownSender},
		{"tampered encrypted group info", func(p *JoinParams) { p.Welcome.EncryptedGroupInfo[0] ^= 1 }, ErrDecrypt},
	}
	for _, tt := range tests {
		p := tc.joinParams(t, s)
		tt.edit(&p)
		if _, err := Join(Config{}, p); !errors.Is(err, tt.want) {
			t.Errorf("%s: got %v, want %v", tt.name, err, tt.want)
		}
	}
}

// TestPassiveClientCommitVectors joins by Welcome, then follows every
// epoch's proposals and Commit, checking each epoch authenticator.
func TestPassiveClientCommitVectors(t *testing.T) {
	runVectors(t, "passive-client-handling-commit.json", func(t *testing.T, s *suite, tc *passiveClientCase) {
		cfg := Config{PSK: func(id []byte) ([]byte, error) {
			for _, e := range tc.ExternalPSKs {
				if bytes.Equal(id, e.PSKID) {
					return e.PSK, nil
				}
			}
			return nil, ErrInvalidProposal
		}}
		g, err := Join(cfg, tc.joinParams(t, s))
		must(t, err)
		checkHex(t, "initial_epoch_authenticator", g.EpochAuthenticator(), tc.InitialEpochAuthenticator)
		for i, ep := range tc.Epochs {
			for j, p := range ep.Proposals {
				rcv, err := g.Process(p)
				if err != nil {
					t.Fatalf("epoch %d proposal %d: %v", i, j, err)
				}
				if rcv.ProposalRef == nil || rcv.Proposal == nil {
					t.Fatalf("epoch %d proposal %d: not a proposal", i, j)
				}
			}
			rcv, err := g.Process(ep.Commit)
			if err != nil {
				t.Fatalf("epoch %d commit: %v", i, err)
			}
			if rcv.Commit == nil || rcv.Commit.RemovedSelf {
				t.Fatalf("epoch %d: commit result %+v", i, rcv.Commit)
			}
			checkHex(t, "epoch_authenticator", g.EpochAuthenticator(), ep.EpochAuthenticator)
		}
	})
}
