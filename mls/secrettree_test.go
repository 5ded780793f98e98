package mls

import (
	"errors"
	"testing"
)

type secretTreeCase struct {
	suiteField
	SenderData struct {
		SenderDataSecret hexBytes `json:"sender_data_secret"`
		Ciphertext       hexBytes `json:"ciphertext"`
		Key              hexBytes `json:"key"`
		Nonce            hexBytes `json:"nonce"`
	} `json:"sender_data"`
	EncryptionSecret hexBytes `json:"encryption_secret"`
	Leaves           [][]struct {
		Generation       uint32   `json:"generation"`
		HandshakeKey     hexBytes `json:"handshake_key"`
		HandshakeNonce   hexBytes `json:"handshake_nonce"`
		ApplicationKey   hexBytes `json:"application_key"`
		ApplicationNonce hexBytes `json:"application_nonce"`
	} `json:"leaves"`
}

func TestSecretTreeVectors(t *testing.T) {
	runVectors(t, "secret-tree.json", func(t *testing.T, s *suite, tc *secretTreeCase) {
		sd := tc.SenderData
		key, nonce, err := s.senderDataKeyNonce(secret(sd.SenderDataSecret), sd.Ciphertext)
		must(t, err)
		checkHex(t, "sender data key", key, sd.Key)
		checkHex(t, "sender data nonce", nonce, sd.Nonce)

		tree, err := newSecretTree(s, secret(tc.EncryptionSecret), uint32(len(tc.Leaves)), 0, 0)
		must(t, err)
		for i, gens := range tc.Leaves {
			for _, g := range gens {
				hs := receive(t, tree, LeafIndex(i), handshakeRatchet, g.Generation)
				checkHex(t, "handshake key", hs.key, g.HandshakeKey)
				checkHex(t, "handshake nonce", hs.nonce, g.HandshakeNonce)
				app := receive(t, tree, LeafIndex(i), applicationRatchet, g.Generation)
				checkHex(t, "application key", app.key, g.ApplicationKey)
				checkHex(t, "application nonce", app.nonce, g.ApplicationNonce)
			}
		}
	})
}

func receive(t *testing.T, tree *secretTree, leaf LeafIndex, kind ratchetKind, gen uint32) keyNonce {
	t.Helper()
	kn, u, err := tree.receiveKey(leaf, kind, gen)
	must(t, err)
	must(t, tree.apply(&u))
	return kn
}

func testTree(t *testing.T, leaves, maxJump, window uint32) *secretTree {
	s, err := DefaultCipherSuite.suite()
	must(t, err)
	tree, err := newSecretTree(s, make(secret, 32), leaves, maxJump, window)
	must(t, err)
	return tree
}

func TestSecretTreeSendReceiveAgree(t *testing.T) {
	sender, recv := testTree(t, 4, 0, 0), testTree(t, 4, 0, 0)
	for range 3 {
		sent, err := sender.nextSendKey(2, applicationRatchet)
		must(t, err)
		got := receive(t, recv, 2, applicationRatchet, sent.generation)
		checkHex(t, "key", got.key, sent.key)
		checkHex(t, "nonce", got.nonce, sent.nonce)
	}
}

func TestSecretTreeReceiveBounds(t *testing.T) {
	tests := []struct {
		name string
		gens []uint32 // applied in order
		last uint32
		want error
	}{
		{"replay same generation", []uint32{0}, 0, ErrReplay},
		{"replay skipped then used", []uint32{5, 3}, 3, ErrReplay},
		{"out of order within window", []uint32{5}, 2, nil},
		{"older than window", []uint32{20}, 1, ErrGenerationTooFar},
		{"jump at limit", nil, 100, nil},
		{"jump beyond limit", nil, 101, ErrGenerationTooFar},
		{"jump beyond limit after advance", []uint32{10}, 112, ErrGenerationTooFar},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tree := testTree(t, 2, 100, 8)
			for _, g := range tt.gens {
				receive(t, tree, 1, applicationRatchet, g)
			}
			_, _, err := tree.receiveKey(1, applicationRatchet, tt.last)
			if !errors.Is(err, tt.want) && !(err == nil && tt.want == nil) {
				t.Fatalf("got %v, want %v", err, tt.want)
			}
		})
	}
}

func TestSecretTreeNoStateChangeUntilApply(t *testing.T) {
	tree := testTree(t, 2, 0, 0)
	a, _, err := tree.receiveKey(0, applicationRatchet, 3)
	must(t, err)
	b := receive(t, tree, 0, applicationRatchet, 3) // not consumed by the first call
	checkHex(t, "same key", a.key, b.key)
	if _, _, err := tree.receiveKey(0, applicationRatchet, 3); !errors.Is(err, ErrReplay) {
		t.Fatalf("after apply: got %v, want ErrReplay", err)
	}
}

func TestSecretTreeRejects(t *testing.T) {
	tree := testTree(t, 2, 0, 0)
	if _, _, err := tree.receiveKey(2, applicationRatchet, 0); !errors.Is(err, ErrUnknownSender) {
		t.Errorf("leaf out of range: got %v", err)
	}
	s, _ := DefaultCipherSuite.suite()
	if _, err := newSecretTree(s, make(secret, 32), 3, 0, 0); !errors.Is(err, ErrMalformed) {
		t.Errorf("3 leaves: got %v", err)
	}
}
