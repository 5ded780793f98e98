package mls

import (
	"bytes"
	"crypto/rand"
	"errors"
	"testing"
)

// member is a client in an end-to-end test.
type member struct {
	name string
	kp   *KeyPackage
	priv *KeyPackagePrivate
	sig  *SignaturePrivateKey
	g    *Group
}

func newTestMember(t *testing.T, cs CipherSuite, name string) *member {
	return newTestMemberTB(t, cs, name)
}

func newTestMemberTB(t testing.TB, cs CipherSuite, name string) *member {
	kp, priv, sig := newMember(t, cs, name)
	return &member{name: name, kp: kp, priv: priv, sig: sig}
}

func (m *member) join(t *testing.T, cfg Config, welcome []byte) {
	t.Helper()
	msg, err := ParseMLSMessage(welcome)
	must(t, err)
	m.g, err = Join(cfg, JoinParams{Welcome: msg.Welcome, KeyPackage: m.kp, Private: m.priv, SignatureKey: m.sig})
	must(t, err)
}

// commitAndDeliver has committer commit, merges it and delivers the
// commit to others.
func commitAndDeliver(t *testing.T, committer *member, params CommitParams, others ...*member) *PendingCommit {
	t.Helper()
	pc, err := committer.g.Commit(params)
	must(t, err)
	must(t, committer.g.MergeCommit(pc))
	for _, o := range others {
		rcv, err := o.g.Process(pc.Commit)
		if err != nil {
			t.Fatalf("%s processing %s's commit: %v", o.name, committer.name, err)
		}
		if rcv.Commit == nil || rcv.Commit.Epoch != committer.g.Epoch() {
			t.Fatalf("%s: commit info %+v", o.name, rcv.Commit)
		}
	}
	return pc
}

// checkAgree fails unless all members share the epoch and authenticator
// and can message each other.
func checkAgree(t *testing.T, ms ...*member) {
	t.Helper()
	for _, m := range ms[1:] {
		if m.g.Epoch() != ms[0].g.Epoch() || !bytes.Equal(m.g.EpochAuthenticator(), ms[0].g.EpochAuthenticator()) {
			t.Fatalf("%s disagrees with %s at epoch %d/%d", m.name, ms[0].name, m.g.Epoch(), ms[0].g.Epoch())
		}
	}
	for _, from := range ms {
		wire, err := from.g.Encrypt([]byte("hi from "+from.name), nil)
		must(t, err)
		for _, to := range ms {
			if to == from {
				continue
			}
			rcv, err := to.g.Process(wire)
			if err != nil || string(rcv.Application.Data) != "hi from "+from.name {
				t.Fatalf("%s -> %s: %v", from.name, to.name, err)
			}
		}
	}
}

func TestGroupLifecycle(t *testing.T) {
	for _, tc := range []struct {
		cs     CipherSuite
		public bool
	}{{1, false}, {1, true}, {2, false}, {3, true}, {5, false}, {7, false}, {0x004D, false}} {
		t.Run(tc.cs.String(), func(t *testing.T) {
			cfg := Config{PublicHandshake: tc.public, PaddingBlock: 32}
			alice, bob, carol, dave := newTestMember(t, tc.cs, "alice"), newTestMember(t, tc.cs, "bob"),
				newTestMember(t, tc.cs, "carol"), newTestMember(t, tc.cs, "dave")
			var err error
			alice.g, err = NewGroup(cfg, []byte("team"), alice.kp, alice.priv, alice.sig, nil)
			must(t, err)

			pc := commitAndDeliver(t, alice, CommitParams{Add: []*KeyPackage{bob.kp, carol.kp}})
			bob.join(t, cfg, pc.Welcome)
			carol.join(t, cfg, pc.Welcome)
			checkAgree(t, alice, bob, carol)

			// Bob proposes an update; Carol commits it by reference.
			up, err := bob.g.ProposeUpdate()
			must(t, err)
			for _, m := range []*member{alice, carol} {
				_, err := m.g.Process(up)
				must(t, err)
			}
			commitAndDeliver(t, carol, CommitParams{}, alice, bob)
			checkAgree(t, alice, bob, carol)

			// Alice removes Carol and adds Dave without the tree in the Welcome.
			pc = commitAndDeliver(t, alice, CommitParams{Remove: []LeafIndex{carol.g.LeafIndex()}, Add: []*KeyPackage{dave.kp}}, bob)
			rcv, err := carol.g.Process(pc.Commit)
			must(t, err)
			if !rcv.Commit.RemovedSelf {
				t.Fatal("carol not told she was removed")
			}
			if _, err := carol.g.Encrypt([]byte("x"), nil); !errors.Is(err, ErrRemoved) {
				t.Fatal("removed member can still encrypt")
			}
			dave.join(t, cfg, pc.Welcome)
			checkAgree(t, alice, bob, dave)

			// An empty commit from Dave refreshes his path.
			commitAndDeliver(t, dave, CommitParams{}, alice, bob)
			checkAgree(t, alice, bob, dave)
		})
	}
}

func TestGroupCommitWithPSKAndExtensions(t *testing.T) {
	psks := map[string][]byte{"ext": []byte("pre-shared key")}
	cfg := Config{PSK: func(id []byte) ([]byte, error) {
		if v, ok := psks[string(id)]; ok {
			return v, nil
		}
		return nil, errors.New("no psk")
	}}
	alice, bob := newTestMember(t, 1, "alice"), newTestMember(t, 1, "bob")
	var err error
	alice.g, err = NewGroup(cfg, []byte("g"), alice.kp, alice.priv, alice.sig, nil)
	must(t, err)
	pc := commitAndDeliver(t, alice, CommitParams{Add: []*KeyPackage{bob.kp}})
	bob.join(t, cfg, pc.Welcome)

	nonce := make([]byte, 32)
	rand.Read(nonce)
	psk := PreSharedKeyID{Type: PSKExternal, ID: []byte("ext"), Nonce: nonce}
	commitAndDeliver(t, bob, CommitParams{PSKs: []PreSharedKeyID{psk}}, alice)
	checkAgree(t, alice, bob)

	resumption := PreSharedKeyID{Type: PSKResumption, Usage: ResumptionApplication, GroupID: []byte("g"), Epoch: 1, Nonce: nonce}
	exts := []Extension{{Type: 0xff00, Data: []byte("policy")}}
	commitAndDeliver(t, alice, CommitParams{PSKs: []PreSharedKeyID{resumption}, Extensions: exts}, bob)
	checkAgree(t, alice, bob)
	if len(bob.g.gc.Extensions) != 1 || bob.g.gc.Extensions[0].Type != 0xff00 {
		t.Fatalf("extensions: %+v", bob.g.gc.Extensions)
	}
}

func TestGroupCommitRejects(t *testing.T) {
	alice, bob := newTestMember(t, 1, "alice"), newTestMember(t, 1, "bob")
	var err error
	alice.g, err = NewGroup(Config{}, []byte("g"), alice.kp, alice.priv, alice.sig, nil)
	must(t, err)
	pc := commitAndDeliver(t, alice, CommitParams{Add: []*KeyPackage{bob.kp}})
	bob.join(t, Config{}, pc.Welcome)

	// Two commits for one epoch: the Delivery Service accepts Bob's.
	losing, err := alice.g.Commit(CommitParams{})
	must(t, err)
	winning := commitAndDeliver(t, bob, CommitParams{}, alice)
	if err := alice.g.MergeCommit(losing); !errors.Is(err, ErrWrongEpoch) {
		t.Fatalf("merge of a losing commit: got %v", err)
	}
	if _, err := alice.g.Process(winning.Commit); !errors.Is(err, ErrWrongEpoch) {
		t.Fatalf("replayed commit: got %v", err)
	}
	checkAgree(t, alice, bob)

	tests := []struct {
		name   string
		params CommitParams
		want   error
	}{
		{"remove self", CommitParams{Remove: []LeafIndex{alice.g.LeafIndex()}}, ErrInvalidProposal},
		{"remove blank leaf", CommitParams{Remove: []LeafIndex{5}}, ErrInvalidProposal},
		{"add existing member", CommitParams{Add: []*KeyPackage{bob.kp}}, ErrInvalidProposal},
		{"unknown psk", CommitParams{PSKs: []PreSharedKeyID{{Type: PSKExternal, ID: []byte("x"), Nonce: make([]byte, 32)}}}, ErrInvalidProposal},
		{"short psk nonce", CommitParams{PSKs: []PreSharedKeyID{{Type: PSKExternal, ID: []byte("x"), Nonce: []byte{1}}}}, ErrInvalidProposal},
	}
	for _, tt := range tests {
		if _, err := alice.g.Commit(tt.params); !errors.Is(err, tt.want) {
			t.Errorf("%s: got %v, want %v", tt.name, err, tt.want)
		}
	}
}

func TestGroupLateApplicationMessage(t *testing.T) {
	for _, tc := range []struct {
		keep int
		want error
	}{{0, nil}, {2, nil}, {-1, ErrWrongEpoch}} {
		cfg := Config{KeepEpochs: tc.keep}
		alice, bob := newTestMember(t, 1, "alice"), newTestMember(t, 1, "bob")
		var err error
		alice.g, err = NewGroup(cfg, []byte("g"), alice.kp, alice.priv, alice.sig, nil)
		must(t, err)
		pc := commitAndDeliver(t, alice, CommitParams{Add: []*KeyPackage{bob.kp}})
		bob.join(t, cfg, pc.Welcome)
		late, err := alice.g.Encrypt([]byte("sent before the commit"), nil)
		must(t, err)
		commitAndDeliver(t, bob, CommitParams{}, alice)
		rcv, err := bob.g.Process(late)
		if !errors.Is(err, tc.want) {
			t.Fatalf("keep %d: got %v, want %v", tc.keep, err, tc.want)
		}
		if err == nil && string(rcv.Application.Data) != "sent before the commit" {
			t.Fatalf("keep %d: got %q", tc.keep, rcv.Application.Data)
		}
		commitAndDeliver(t, alice, CommitParams{}, bob)
		if _, err := bob.g.Process(late); tc.keep < 2 && !errors.Is(err, ErrWrongEpoch) && !errors.Is(err, ErrReplay) {
			t.Fatalf("keep %d: two epochs later: got %v", tc.keep, err)
		}
	}
}

func TestInspect(t *testing.T) {
	for _, public := range []bool{false, true} {
		cfg := Config{PublicHandshake: public}
		alice, bob := newTestMember(t, 1, "alice"), newTestMember(t, 1, "bob")
		var err error
		alice.g, err = NewGroup(cfg, []byte("g"), alice.kp, alice.priv, alice.sig, nil)
		must(t, err)
		pc, err := alice.g.Commit(CommitParams{Add: []*KeyPackage{bob.kp}})
		must(t, err)
		info, err := Inspect(pc.Commit)
		must(t, err)
		if string(info.GroupID) != "g" || info.Epoch != 0 || info.ContentType != ContentCommit || (info.Sender != nil) != public {
			t.Fatalf("public=%v: commit info %+v", public, info)
		}
		info, err = Inspect(pc.Welcome)
		must(t, err)
		if info.WireFormat != WireFormatWelcome || info.CipherSuite != 1 {
			t.Fatalf("welcome info %+v", info)
		}
		kp, _ := marshal(&MLSMessage{WireFormat: WireFormatKeyPackage, KeyPackage: bob.kp})
		if info, err = Inspect(kp); err != nil || info.CipherSuite != 1 {
			t.Fatalf("key package info %+v, %v", info, err)
		}
	}
	if _, err := Inspect([]byte{0, 1}); !errors.Is(err, ErrMalformed) {
		t.Fatalf("truncated: %v", err)
	}
}

func TestCommitIgnoreCachedAndMembers(t *testing.T) {
	alice, bob, carol := newTestMember(t, 1, "alice"), newTestMember(t, 1, "bob"), newTestMember(t, 1, "carol")
	var err error
	alice.g, err = NewGroup(Config{}, []byte("g"), alice.kp, alice.priv, alice.sig, nil)
	must(t, err)
	pc := commitAndDeliver(t, alice, CommitParams{Add: []*KeyPackage{bob.kp}})
	bob.join(t, Config{}, pc.Welcome)
	// Bob proposes adding Carol, but Alice adds her by value too: the
	// list with both is invalid; without the cached one it is fine.
	prop, err := bob.g.Propose(&Proposal{Type: ProposalAdd, KeyPackage: carol.kp})
	must(t, err)
	_, err = alice.g.Process(prop)
	must(t, err)
	if _, err := alice.g.Commit(CommitParams{Add: []*KeyPackage{carol.kp}}); !errors.Is(err, ErrInvalidProposal) {
		t.Fatalf("duplicate add: got %v", err)
	}
	pc = commitAndDeliver(t, alice, CommitParams{Add: []*KeyPackage{carol.kp}, IgnoreCached: true}, bob)
	carol.join(t, Config{}, pc.Welcome)
	checkAgree(t, alice, bob, carol)
	ms := carol.g.Members()
	if len(ms) != 3 || string(ms[2].Credential.Identity) != "carol" || ms[1].Leaf != 1 {
		t.Fatalf("members: %+v", ms)
	}
}

func TestReInitClosesGroup(t *testing.T) {
	alice, bob := newTestMember(t, 1, "alice"), newTestMember(t, 1, "bob")
	var err error
	alice.g, err = NewGroup(Config{}, []byte("g"), alice.kp, alice.priv, alice.sig, nil)
	must(t, err)
	pc := commitAndDeliver(t, alice, CommitParams{Add: []*KeyPackage{bob.kp}})
	bob.join(t, Config{}, pc.Welcome)
	prop, err := alice.g.Propose(&Proposal{Type: ProposalReInit, ReInit: &ReInit{GroupID: []byte("g2"), Version: 1, CipherSuite: 3}})
	must(t, err)
	_, err = bob.g.Process(prop)
	must(t, err)
	pc = commitAndDeliver(t, bob, CommitParams{}, alice)
	if pc.Info.ReInit == nil || string(pc.Info.ReInit.GroupID) != "g2" {
		t.Fatalf("commit info: %+v", pc.Info)
	}
	for _, m := range []*member{alice, bob} {
		if _, err := m.g.Encrypt([]byte("x"), nil); !errors.Is(err, ErrReInit) {
			t.Errorf("%s: encrypt after reinit: %v", m.name, err)
		}
		reload(t, m, Config{})
		if _, err := m.g.Commit(CommitParams{}); !errors.Is(err, ErrReInit) {
			t.Errorf("%s: commit after reinit and reload: %v", m.name, err)
		}
	}
}
