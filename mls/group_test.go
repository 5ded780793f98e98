package mls

import (
	"bytes"
	"crypto/rand"
	"errors"
	mrand "math/rand/v2"
	"testing"
	"testing/cryptotest"
)

// seededRand is a deterministic reader for tests.
func seededRand(seed uint64) *mrand.ChaCha8 {
	var s [32]byte
	s[0] = byte(seed)
	return mrand.NewChaCha8(s)
}

func newMember(t testing.TB, cs CipherSuite, name string) (*KeyPackage, *KeyPackagePrivate, *SignaturePrivateKey) {
	t.Helper()
	sig, err := cs.GenerateSignatureKey(rand.Reader)
	must(t, err)
	kp, priv, err := NewKeyPackage(KeyPackageParams{
		CipherSuite: cs, Credential: Credential{Type: CredentialBasic, Identity: []byte(name)},
		SignatureKey: sig, Lifetime: Lifetime{NotBefore: 0, NotAfter: 1 << 62}, Rand: rand.Reader,
	})
	must(t, err)
	return kp, priv, sig
}

// twoMembers returns the groups of two members, at leaves 0 and 1, in
// the same epoch, built directly from a shared epoch secret (commits
// are not part of this skeleton).
func twoMembers(t testing.TB, cs CipherSuite, cfg Config) (a, b *Group) {
	t.Helper()
	s, err := cs.suite()
	must(t, err)
	kpA, privA, sigA := newMember(t, cs, "alice")
	kpB, privB, sigB := newMember(t, cs, "bob")
	tree, err := NewRatchetTree(cs, &kpA.LeafNode)
	must(t, err)
	_, err = tree.AddLeaf(&kpB.LeafNode)
	must(t, err)
	secrets := new(epochSecrets)
	must(t, s.fromEpochSecret(secrets, bytes.Repeat([]byte{7}, s.hashLen())))
	gc := GroupContext{Version: ProtocolVersionMLS10, CipherSuite: cs, GroupID: []byte("group"), Epoch: 5}
	mk := func(leaf LeafIndex, enc *HPKEPrivateKey, sig *SignaturePrivateKey) *Group {
		tp, err := NewTreePrivate(cs, leaf, enc)
		must(t, err)
		g := &Group{cfg: cfg, s: s, priv: tp, sigKey: sig}
		must(t, g.newEpoch(gc, tree.Clone(), secrets))
		return g
	}
	return mk(0, privA.EncryptionKey, sigA), mk(1, privB.EncryptionKey, sigB)
}

func TestNewGroup(t *testing.T) {
	for _, cs := range []CipherSuite{1, 2, 3, 5, 7, 0x004D} {
		t.Run(cs.String(), func(t *testing.T) {
			kp, priv, sig := newMember(t, cs, "alice")
			g, err := NewGroup(Config{Rand: seededRand(1)}, []byte("gid"), kp, priv, sig, nil)
			must(t, err)
			if g.Epoch() != 0 || g.LeafIndex() != 0 || g.CipherSuite() != cs || string(g.GroupID()) != "gid" {
				t.Fatalf("state: epoch %d leaf %d suite %v", g.Epoch(), g.LeafIndex(), g.CipherSuite())
			}
			th, err := g.Tree().TreeHash()
			must(t, err)
			checkHex(t, "tree hash in context", g.gc.TreeHash, th)
			k1, err := g.Export("sframe", nil, 16)
			must(t, err)
			k2, err := g.Export("sframe", []byte("x"), 16)
			must(t, err)
			if len(k1) != 16 || bytes.Equal(k1, k2) {
				t.Fatalf("exporter: %x %x", k1, k2)
			}
			if len(g.EpochAuthenticator()) != g.s.hashLen() {
				t.Fatal("epoch authenticator length")
			}
			if g.secrets.encryption != nil || g.secrets.joiner != nil || g.secrets.welcome != nil {
				t.Fatal("consumed epoch secrets kept")
			}
		})
	}
}

func TestNewGroupRejectsWrongKey(t *testing.T) {
	kp, priv, _ := newMember(t, DefaultCipherSuite, "alice")
	_, _, other := newMember(t, DefaultCipherSuite, "mallory")
	if _, err := NewGroup(Config{}, []byte("g"), kp, priv, other, nil); !errors.Is(err, ErrBadKey) {
		t.Fatalf("got %v, want ErrBadKey", err)
	}
}

func TestGroupApplicationMessages(t *testing.T) {
	for _, cs := range []CipherSuite{1, 2, 3, 5, 7, 0x004D} {
		t.Run(cs.String(), func(t *testing.T) {
			a, b := twoMembers(t, cs, Config{PaddingBlock: 16})
			var wires [][]byte
			for _, msg := range []string{"one", "two", "three"} {
				w, err := a.Encrypt([]byte(msg), []byte("ad"))
				must(t, err)
				wires = append(wires, w)
			}
			for _, i := range []int{2, 0, 1} { // out of order
				got, err := b.Decrypt(wires[i])
				must(t, err)
				if got.Sender != 0 || string(got.AuthenticatedData) != "ad" || string(got.Data) != []string{"one", "two", "three"}[i] {
					t.Fatalf("message %d: %+v", i, got)
				}
			}
			if _, err := b.Decrypt(wires[0]); !errors.Is(err, ErrReplay) {
				t.Fatalf("replay: got %v, want ErrReplay", err)
			}
			w, err := b.Encrypt([]byte("reply"), nil)
			must(t, err)
			got, err := a.Decrypt(w)
			must(t, err)
			if got.Sender != 1 || string(got.Data) != "reply" {
				t.Fatalf("reply: %+v", got)
			}
			ea, _ := a.Export("x", nil, 32)
			eb, _ := b.Export("x", nil, 32)
			checkHex(t, "export agrees", ea, eb)
		})
	}
}

func TestGroupDecryptRejects(t *testing.T) {
	a, b := twoMembers(t, DefaultCipherSuite, Config{MaxVectorLen: 150})
	w, err := a.Encrypt([]byte("hello"), nil)
	must(t, err)
	big, err := a.Encrypt(make([]byte, 200), nil)
	must(t, err)
	flipped := bytes.Clone(w)
	flipped[len(flipped)-1] ^= 1
	proposal := bytes.Clone(w)
	proposal[4+1+len("group")+8] = byte(ContentProposal) // content_type of the PrivateMessage
	tests := []struct {
		name string
		wire []byte
		want error
	}{
		{"flipped ciphertext", flipped, ErrDecrypt},
		{"trailing byte", append(bytes.Clone(w), 0), ErrMalformed},
		{"over the vector bound", big, ErrTooLarge},
		{"handshake content", proposal, ErrInvalidContent},
		{"garbage", []byte{1, 2, 3}, ErrMalformed},
	}
	for _, tt := range tests {
		if _, err := b.Decrypt(tt.wire); !errors.Is(err, tt.want) {
			t.Errorf("%s: got %v, want %v", tt.name, err, tt.want)
		}
	}
	if got, err := b.Decrypt(w); err != nil || string(got.Data) != "hello" {
		t.Fatalf("after rejects: %v", err)
	}
}

func TestGroupWrongEpoch(t *testing.T) {
	a, b := twoMembers(t, DefaultCipherSuite, Config{})
	w, err := a.Encrypt([]byte("hello"), nil)
	must(t, err)
	b.gc.Epoch++
	if _, err := b.Decrypt(w); !errors.Is(err, ErrWrongEpoch) {
		t.Fatalf("got %v, want ErrWrongEpoch", err)
	}
}

func TestGroupInfo(t *testing.T) {
	a, b := twoMembers(t, DefaultCipherSuite, Config{})
	gi, err := a.GroupInfo(true)
	must(t, err)
	wire, err := marshal(&MLSMessage{WireFormat: WireFormatGroupInfo, GroupInfo: gi})
	must(t, err)
	m, err := ParseMLSMessage(wire)
	must(t, err)
	must(t, b.s.verifyGroupInfo(m.GroupInfo, b.Tree().Leaf(0).SignatureKey))
	if !b.s.verifyMAC(b.secrets.confirmation, m.GroupInfo.GroupContext.ConfirmedTranscriptHash, m.GroupInfo.ConfirmationTag) {
		t.Fatal("confirmation tag")
	}
	treeData, ok := findExtension(m.GroupInfo.Extensions, ExtensionRatchetTree)
	if !ok {
		t.Fatal("no ratchet_tree extension")
	}
	tree, err := ParseRatchetTree(DefaultCipherSuite, treeData)
	must(t, err)
	th, _ := tree.TreeHash()
	checkHex(t, "tree hash", th, m.GroupInfo.GroupContext.TreeHash)
	pubData, ok := findExtension(m.GroupInfo.Extensions, ExtensionExternalPub)
	if !ok {
		t.Fatal("no external_pub extension")
	}
	pub, err := parseExternalPub(pubData)
	must(t, err)
	_, initA, err := b.s.externalInit(pub)
	must(t, err)
	if len(initA) != b.s.hashLen() {
		t.Fatal("external init")
	}
}

// TestDeterministic runs the same scenario twice with the global random
// source fixed (it covers HPKE and ECDSA, which cannot take an injected
// reader) and a seeded Config.Rand: the wire bytes must be identical.
func TestDeterministic(t *testing.T) {
	var runs [2][]byte
	for i := range runs {
		t.Run("", func(t *testing.T) {
			cryptotest.SetGlobalRandom(t, 42)
			cfg := Config{Rand: seededRand(3)}
			alice, bob := newTestMember(t, 2, "alice"), newTestMember(t, 2, "bob")
			var err error
			alice.g, err = NewGroup(cfg, []byte("g"), alice.kp, alice.priv, alice.sig, nil)
			must(t, err)
			pc, err := alice.g.Commit(CommitParams{Add: []*KeyPackage{bob.kp}})
			must(t, err)
			must(t, alice.g.MergeCommit(pc))
			app, err := alice.g.Encrypt([]byte("hi"), nil)
			must(t, err)
			runs[i] = bytes.Join([][]byte{pc.Commit, pc.Welcome, app}, nil)
		})
	}
	if !bytes.Equal(runs[0], runs[1]) {
		t.Fatal("same seeds gave different messages")
	}
}
