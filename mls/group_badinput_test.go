package mls

import (
	"bytes"
	"crypto/rand"
	"errors"
	"testing"
	"time"
)

// Bad input, in one place: each hostile or broken message must fail
// with its sentinel error and leave the receiver's state byte for byte
// as it was (MarshalState before and after), and the receiver must
// still work afterwards.

// badInputNow is the receivers' injected clock.
var badInputNow = time.Unix(1_800_000_000, 0)

// badInput is a group of alice, bob and carol at epoch 3 (bob's vectors
// bounded by maxVec) with a proposal from epoch 2 and an application
// message from epoch 1, which bob no longer keeps.
type badInput struct {
	alice, bob, carol   *member
	oldProposal, oldApp []byte
}

func newBadInput(t *testing.T, public bool, maxVec int) *badInput {
	t.Helper()
	cfg := Config{PublicHandshake: public, Now: func() time.Time { return badInputNow }}
	bobCfg := cfg
	bobCfg.MaxVectorLen = maxVec
	alice, bob, carol := newTestMember(t, 1, "alice"), newTestMember(t, 1, "bob"), newTestMember(t, 1, "carol")
	var err error
	alice.g, err = NewGroup(cfg, []byte("g"), alice.kp, alice.priv, alice.sig, nil)
	must(t, err)
	pc := commitAndDeliver(t, alice, CommitParams{Add: []*KeyPackage{bob.kp, carol.kp}})
	bob.join(t, bobCfg, pc.Welcome)
	carol.join(t, cfg, pc.Welcome)
	f := &badInput{alice: alice, bob: bob, carol: carol}
	f.oldApp, err = carol.g.Encrypt([]byte("epoch 1"), nil)
	must(t, err)
	commitAndDeliver(t, carol, CommitParams{}, alice, bob)
	f.oldProposal, err = alice.g.Propose(&Proposal{Type: ProposalRemove, Removed: carol.g.LeafIndex()})
	must(t, err)
	commitAndDeliver(t, bob, CommitParams{}, alice, carol)
	return f
}

// forgeCommit has from sign and protect a Commit of props by value and
// path, bypassing its own validation: a hostile member's commit. The
// confirmation tag is zero: receivers must reject it earlier.
func forgeCommit(t *testing.T, from *Group, path *UpdatePath, props ...*Proposal) []byte {
	t.Helper()
	c := from.frame(ContentCommit)
	c.Commit = &Commit{Path: path}
	for _, p := range props {
		c.Commit.Proposals = append(c.Commit.Proposals, ProposalOrRef{Proposal: p})
	}
	ac, err := from.framer.sign(c, from.handshakeWireFormat(), from.sigKey)
	must(t, err)
	ac.Auth.ConfirmationTag = make([]byte, from.s.hashLen())
	wire, err := from.protect(ac)
	must(t, err)
	return wire
}

// forgeSigned has from frame content signed with key instead of its own.
func forgeSigned(t *testing.T, from *Group, key *SignaturePrivateKey, wf WireFormat, c FramedContent) []byte {
	t.Helper()
	ac, err := from.framer.sign(c, wf, key)
	must(t, err)
	if c.ContentType == ContentCommit {
		ac.Auth.ConfirmationTag = make([]byte, from.s.hashLen())
	}
	wire, err := from.protect(ac)
	must(t, err)
	return wire
}

// tamperedPath returns a Commit from alice whose UpdatePath has a node
// key changed: the leaf's signed parent_hash no longer matches the path.
func tamperedPath(t *testing.T, alice *Group) []byte {
	t.Helper()
	pv, err := alice.applyProposals(nil)
	must(t, err)
	priv := alice.priv.Clone()
	priv.Prune(pv.tree)
	pp, err := pv.tree.PrepareUpdatePath(priv, PathParams{GroupID: alice.gc.GroupID, SignatureKey: alice.sigKey, Rand: rand.Reader})
	must(t, err)
	gc, err := alice.provisionalContext(pv)
	must(t, err)
	up, err := pp.Encrypt(gc, nil)
	must(t, err)
	top := &up.Nodes[len(up.Nodes)-1]
	top.EncryptionKey = bytes.Clone(top.EncryptionKey)
	top.EncryptionKey[0] ^= 1
	return forgeCommit(t, alice, up)
}

// keyPackage returns a key package of suite cs with lifetime lt for a
// client with signature key sig (nil: a fresh client).
func keyPackage(t *testing.T, cs CipherSuite, sig *SignaturePrivateKey, lt Lifetime) *KeyPackage {
	t.Helper()
	if sig == nil {
		var err error
		sig, err = cs.GenerateSignatureKey(rand.Reader)
		must(t, err)
	}
	kp, _, err := NewKeyPackage(KeyPackageParams{
		CipherSuite: cs, Credential: Credential{Type: CredentialBasic, Identity: []byte("dave")},
		SignatureKey: sig, Lifetime: lt, Rand: rand.Reader,
	})
	must(t, err)
	return kp
}

func addProposal(kp *KeyPackage) *Proposal { return &Proposal{Type: ProposalAdd, KeyPackage: kp} }

// badInputCase builds one bad message for bob from the group's members.
type badInputCase struct {
	name  string
	wire  func(t *testing.T, f *badInput) []byte
	want  error
	want2 error // a second sentinel the error must also match, if any
}

var forever = Lifetime{NotBefore: 0, NotAfter: 1 << 62}

func badInputCases() []badInputCase {
	now := uint64(badInputNow.Unix())
	return []badInputCase{
		{name: "forged signature on an application message", want: ErrBadSignature,
			wire: func(t *testing.T, f *badInput) []byte {
				a := f.alice
				_, _, mallory := newMember(t, 1, "mallory")
				c := a.g.frame(ContentApplication)
				c.ApplicationData = []byte("I am alice")
				return forgeSigned(t, a.g, mallory, WireFormatPrivateMessage, c)
			}},
		{name: "forged signature on a commit", want: ErrBadSignature,
			wire: func(t *testing.T, f *badInput) []byte {
				a := f.alice
				_, _, mallory := newMember(t, 1, "mallory")
				c := a.g.frame(ContentCommit)
				c.Commit = &Commit{}
				return forgeSigned(t, a.g, mallory, a.g.handshakeWireFormat(), c)
			}},
		{name: "wrong membership tag", want: ErrBadMembershipTag,
			wire: func(t *testing.T, f *badInput) []byte {
				a := f.alice
				c := a.g.frame(ContentProposal)
				c.Proposal = &Proposal{Type: ProposalRemove, Removed: 2}
				ac, err := a.g.framer.sign(c, WireFormatPublicMessage, a.sig)
				must(t, err)
				pm, err := a.g.framer.protectPublic(ac)
				must(t, err)
				pm.MembershipTag[0] ^= 1
				wire, err := marshal(&MLSMessage{WireFormat: WireFormatPublicMessage, PublicMessage: pm})
				must(t, err)
				return wire
			}},
		{name: "proposal from a past epoch", want: ErrWrongEpoch,
			wire: func(_ *testing.T, f *badInput) []byte { return f.oldProposal }},
		{name: "application message from a forgotten epoch", want: ErrWrongEpoch,
			wire: func(_ *testing.T, f *badInput) []byte { return f.oldApp }},
		{name: "message from a future epoch", want: ErrWrongEpoch,
			wire: func(t *testing.T, f *badInput) []byte {
				a := f.alice
				ahead := reloadCopy(t, a.g)
				pc, err := ahead.Commit(CommitParams{})
				must(t, err)
				must(t, ahead.MergeCommit(pc))
				wire, err := ahead.Encrypt([]byte("from the future"), nil)
				must(t, err)
				return wire
			}},
		{name: "replayed generation", want: ErrReplay,
			wire: func(t *testing.T, f *badInput) []byte {
				a, b := f.alice, f.bob
				wire, err := a.g.Encrypt([]byte("once"), nil)
				must(t, err)
				_, err = b.g.Process(wire)
				must(t, err)
				return wire
			}},
		{name: "truncated message", want: ErrMalformed,
			wire: func(t *testing.T, f *badInput) []byte {
				a := f.alice
				wire, err := a.g.Encrypt([]byte("hello"), nil)
				must(t, err)
				return wire[:len(wire)-1]
			}},
		{name: "truncated header", want: ErrMalformed,
			wire: func(*testing.T, *badInput) []byte { return []byte{0, 1, 0} }},
		{name: "oversized message", want: ErrTooLarge,
			wire: func(t *testing.T, f *badInput) []byte {
				a := f.alice
				wire, err := a.g.Encrypt(make([]byte, 5000), nil)
				must(t, err)
				return wire
			}},
		{name: "length prefix of a gigabyte", want: ErrTooLarge,
			wire: func(*testing.T, *badInput) []byte {
				return []byte{0, 1, 0, 2, 0xbf, 0xff, 0xff, 0xff, 'g'}
			}},
		{name: "commit that removes the committer", want: ErrInvalidProposal,
			wire: func(t *testing.T, f *badInput) []byte {
				a := f.alice
				return forgeCommit(t, a.g, nil, &Proposal{Type: ProposalRemove, Removed: a.g.LeafIndex()})
			}},
		{name: "duplicate add of one key package", want: ErrInvalidProposal,
			wire: func(t *testing.T, f *badInput) []byte {
				a := f.alice
				kp := keyPackage(t, 1, nil, forever)
				return forgeCommit(t, a.g, nil, addProposal(kp), addProposal(kp))
			}},
		{name: "duplicate add of one client", want: ErrInvalidProposal,
			wire: func(t *testing.T, f *badInput) []byte {
				a := f.alice
				sig, err := CipherSuite(1).GenerateSignatureKey(rand.Reader)
				must(t, err)
				return forgeCommit(t, a.g, nil, addProposal(keyPackage(t, 1, sig, forever)), addProposal(keyPackage(t, 1, sig, forever)))
			}},
		{name: "add of a current member", want: ErrInvalidProposal,
			wire: func(t *testing.T, f *badInput) []byte {
				a, b := f.alice, f.bob
				return forgeCommit(t, a.g, nil, addProposal(keyPackage(t, 1, b.sig, forever)))
			}},
		{name: "add of a key package of another suite", want: ErrInvalidProposal, want2: ErrInvalidKeyPackage,
			wire: func(t *testing.T, f *badInput) []byte {
				a := f.alice
				return forgeCommit(t, a.g, nil, addProposal(keyPackage(t, 3, nil, forever)))
			}},
		{name: "add of an expired key package", want: ErrInvalidProposal, want2: ErrExpired,
			wire: func(t *testing.T, f *badInput) []byte {
				a := f.alice
				return forgeCommit(t, a.g, nil, addProposal(keyPackage(t, 1, nil, Lifetime{NotBefore: now - 7200, NotAfter: now - 3600})))
			}},
		{name: "add of a key package not yet valid", want: ErrInvalidProposal, want2: ErrExpired,
			wire: func(t *testing.T, f *badInput) []byte {
				a := f.alice
				return forgeCommit(t, a.g, nil, addProposal(keyPackage(t, 1, nil, Lifetime{NotBefore: now + 3600, NotAfter: now + 7200})))
			}},
		{name: "update path whose parent hash does not verify", want: ErrParentHash,
			wire: func(t *testing.T, f *badInput) []byte { return tamperedPath(t, f.alice.g) }},
	}
}

// reloadCopy returns an independent copy of g through its state.
func reloadCopy(t *testing.T, g *Group) *Group {
	t.Helper()
	state, err := g.MarshalState()
	must(t, err)
	c, err := LoadGroup(g.cfg, state)
	must(t, err)
	return c
}

func TestGroupBadInput(t *testing.T) {
	for _, public := range []bool{false, true} {
		name := "private handshake"
		if public {
			name = "public handshake"
		}
		t.Run(name, func(t *testing.T) {
			f := newBadInput(t, public, 4096)
			alice, bob, carol := f.alice, f.bob, f.carol
			for _, tc := range badInputCases() {
				wire := tc.wire(t, f)
				before, err := bob.g.MarshalState()
				must(t, err)
				_, err = bob.g.Process(wire)
				if !errors.Is(err, tc.want) || (tc.want2 != nil && !errors.Is(err, tc.want2)) {
					t.Errorf("%s: got %v, want %v", tc.name, err, tc.want)
				}
				after, err := bob.g.MarshalState()
				must(t, err)
				if !bytes.Equal(before, after) {
					t.Errorf("%s: state changed", tc.name)
				}
			}
			// Bob still follows the group after every rejection.
			commitAndDeliver(t, alice, CommitParams{ForcePath: true}, bob, carol)
			checkAgree(t, alice, bob, carol)
		})
	}
}

// TestGroupCommitBadInput checks the committer's side: a Commit it must
// not make fails with the sentinel and leaves its state unchanged.
func TestGroupCommitBadInput(t *testing.T) {
	f := newBadInput(t, false, 0)
	alice, bob := f.alice, f.bob
	now := uint64(badInputNow.Unix())
	sig, err := CipherSuite(1).GenerateSignatureKey(rand.Reader)
	must(t, err)
	kp := keyPackage(t, 1, nil, forever)
	tests := []struct {
		name   string
		params CommitParams
		want   error
	}{
		{"remove the committer", CommitParams{Remove: []LeafIndex{alice.g.LeafIndex()}}, ErrInvalidProposal},
		{"duplicate key package", CommitParams{Add: []*KeyPackage{kp, kp}}, ErrInvalidProposal},
		{"duplicate client", CommitParams{Add: []*KeyPackage{keyPackage(t, 1, sig, forever), keyPackage(t, 1, sig, forever)}}, ErrInvalidProposal},
		{"current member", CommitParams{Add: []*KeyPackage{bob.kp}}, ErrInvalidProposal},
		{"other suite", CommitParams{Add: []*KeyPackage{keyPackage(t, 2, nil, forever)}}, ErrInvalidKeyPackage},
		{"expired", CommitParams{Add: []*KeyPackage{keyPackage(t, 1, nil, Lifetime{NotBefore: 0, NotAfter: now - 1})}}, ErrExpired},
	}
	for _, tt := range tests {
		before, err := alice.g.MarshalState()
		must(t, err)
		if _, err := alice.g.Commit(tt.params); !errors.Is(err, tt.want) {
			t.Errorf("%s: got %v, want %v", tt.name, err, tt.want)
		}
		after, err := alice.g.MarshalState()
		must(t, err)
		if !bytes.Equal(before, after) {
			t.Errorf("%s: state changed", tt.name)
		}
	}
}

// TestJoinTamperedParentHash has a hostile committer send a Welcome
// whose ratchet tree carries a parent node with a wrong parent hash,
// consistently signed and hashed into the GroupContext: the joiner
// must refuse it with a *ParentHashError.
func TestJoinTamperedParentHash(t *testing.T) {
	for _, cs := range supportedSuites {
		t.Run(cs.String(), func(t *testing.T) {
			alice, bob, dave := newTestMember(t, cs, "alice"), newTestMember(t, cs, "bob"), newTestMember(t, cs, "dave")
			var err error
			alice.g, err = NewGroup(Config{}, []byte("g"), alice.kp, alice.priv, alice.sig, nil)
			must(t, err)
			pc := commitAndDeliver(t, alice, CommitParams{Add: []*KeyPackage{bob.kp}})
			bob.join(t, Config{}, pc.Welcome)
			commitAndDeliver(t, bob, CommitParams{ForcePath: true}, alice) // fills the root
			root := alice.g.tree.root()
			p := *alice.g.tree.Parent(root)
			p.ParentHash = []byte("tampered")
			alice.g.tree.setParent(root, &p)
			pc, err = alice.g.Commit(CommitParams{Add: []*KeyPackage{dave.kp}})
			must(t, err)
			msg, err := ParseMLSMessage(pc.Welcome)
			must(t, err)
			_, err = Join(Config{}, JoinParams{Welcome: msg.Welcome, KeyPackage: dave.kp, Private: dave.priv, SignatureKey: dave.sig})
			var phe *ParentHashError
			if !errors.As(err, &phe) || !errors.Is(err, ErrParentHash) {
				t.Fatalf("join: got %v, want a *ParentHashError", err)
			}
		})
	}
}
