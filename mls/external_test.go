package mls

import (
	"bytes"
	"crypto/rand"
	"errors"
	"testing"
)

// externalGroup makes alice, bob and carol members of a group whose
// external_senders extension lists ds (with withExt), in suite cs.
func externalGroup(t *testing.T, cs CipherSuite, ds *SignaturePrivateKey, withExt bool) (alice, bob, carol *member) {
	t.Helper()
	cfg := Config{}
	alice, bob, carol = newTestMember(t, cs, "alice"), newTestMember(t, cs, "bob"), newTestMember(t, cs, "carol")
	var exts []Extension
	if withExt {
		ext, err := ExternalSendersExtension([]ExternalSender{{SignatureKey: ds.PublicKey(),
			Credential: Credential{Type: CredentialBasic, Identity: []byte("sealine-server")}}})
		must(t, err)
		exts = []Extension{ext}
	}
	var err error
	alice.g, err = NewGroup(cfg, []byte("ext-group"), alice.kp, alice.priv, alice.sig, exts)
	must(t, err)
	pc := commitAndDeliver(t, alice, CommitParams{Add: []*KeyPackage{bob.kp, carol.kp}})
	for i, m := range []*member{bob, carol} {
		if ln := pc.LeafNode(pc.Info.Added[i]); ln == nil || string(ln.Credential.Identity) != m.name {
			t.Fatalf("PendingCommit.LeafNode(%d) = %v, want %s", pc.Info.Added[i], ln, m.name)
		}
	}
	if pc.LeafNode(99) != nil || (*PendingCommit)(nil).LeafNode(0) != nil {
		t.Fatal("LeafNode of a missing leaf or commit is not nil")
	}
	bob.join(t, cfg, pc.Welcome)
	carol.join(t, cfg, pc.Welcome)
	return alice, bob, carol
}

func TestExternalRemoveCommitted(t *testing.T) {
	for _, cs := range []CipherSuite{1, 0x004D} {
		t.Run(cs.String(), func(t *testing.T) {
			ds, err := CipherSuite(1).GenerateSignatureKey(rand.Reader) // suite-1 key signs for 0x004D too
			must(t, err)
			alice, bob, carol := externalGroup(t, cs, ds, true)
			wire, err := NewExternalRemove(ExternalProposalParams{CipherSuite: cs, GroupID: alice.g.GroupID(),
				Epoch: alice.g.Epoch(), SignatureKey: ds}, carol.g.LeafIndex())
			must(t, err)
			info, err := Inspect(wire)
			must(t, err)
			if info.Sender.Type != SenderExternal || info.ContentType != ContentProposal {
				t.Fatalf("inspect: %+v", info)
			}
			for _, m := range []*member{alice, bob, carol} {
				rcv, err := m.g.Process(wire)
				must(t, err)
				if rcv.Proposal.Type != ProposalRemove || rcv.Proposal.Removed != carol.g.LeafIndex() || rcv.Sender.Type != SenderExternal {
					t.Fatalf("%s: received %+v", m.name, rcv)
				}
			}
			pc := commitAndDeliver(t, bob, CommitParams{}, alice)
			if len(pc.Info.Removed) != 1 || pc.Info.Removed[0] != carol.g.LeafIndex() {
				t.Fatalf("commit removed %v", pc.Info.Removed)
			}
			rcv, err := carol.g.Process(pc.Commit)
			must(t, err)
			if !rcv.Commit.RemovedSelf {
				t.Fatal("carol not told she was removed")
			}
			checkAgree(t, alice, bob)
			if n := len(alice.g.Members()); n != 2 {
				t.Fatalf("%d members after the removal", n)
			}
		})
	}
}

func TestExternalProposalRejected(t *testing.T) {
	const cs = CipherSuite(1)
	ds, err := cs.GenerateSignatureKey(rand.Reader)
	must(t, err)
	forger, err := cs.GenerateSignatureKey(rand.Reader)
	must(t, err)
	for _, tc := range []struct {
		name    string
		withExt bool
		key     *SignaturePrivateKey
		index   uint32
		epoch   uint64 // added to the group's epoch
		want    error
	}{
		{"forged signature", true, forger, 0, 0, ErrBadSignature},
		{"unknown sender index", true, ds, 1, 0, ErrUnknownSender},
		{"group without external senders", false, ds, 0, 0, ErrUnknownSender},
		{"stale epoch", true, ds, 0, 1, ErrWrongEpoch},
	} {
		t.Run(tc.name, func(t *testing.T) {
			alice, _, carol := externalGroup(t, cs, ds, tc.withExt)
			wire, err := NewExternalRemove(ExternalProposalParams{CipherSuite: cs, GroupID: alice.g.GroupID(),
				Epoch: alice.g.Epoch() + tc.epoch, SenderIndex: tc.index, SignatureKey: tc.key}, carol.g.LeafIndex())
			must(t, err)
			before, err := alice.g.MarshalState()
			must(t, err)
			if _, err := alice.g.Process(wire); !errors.Is(err, tc.want) {
				t.Fatalf("Process = %v, want %v", err, tc.want)
			}
			after, err := alice.g.MarshalState()
			must(t, err)
			if !bytes.Equal(before, after) {
				t.Fatal("a refused proposal changed the group state")
			}
		})
	}
}

func TestNewExternalProposalRefuses(t *testing.T) {
	ds, err := CipherSuite(1).GenerateSignatureKey(rand.Reader)
	must(t, err)
	p256, err := CipherSuite(2).GenerateSignatureKey(rand.Reader)
	must(t, err)
	ok := ExternalProposalParams{CipherSuite: 1, GroupID: []byte("g"), SignatureKey: ds}
	for _, tc := range []struct {
		name string
		p    ExternalProposalParams
		prop *Proposal
		want error
	}{
		{"update from external", ok, &Proposal{Type: ProposalUpdate}, ErrInvalidProposal},
		{"no proposal", ok, nil, ErrInvalidProposal},
		{"no key", ExternalProposalParams{CipherSuite: 1, GroupID: []byte("g")}, &Proposal{Type: ProposalRemove}, ErrBadKey},
		{"no group id", ExternalProposalParams{CipherSuite: 1, SignatureKey: ds}, &Proposal{Type: ProposalRemove}, ErrBadKey},
		{"key of another scheme", ExternalProposalParams{CipherSuite: 1, GroupID: []byte("g"), SignatureKey: p256}, &Proposal{Type: ProposalRemove}, ErrBadKey},
		{"unknown suite", ExternalProposalParams{CipherSuite: 4, GroupID: []byte("g"), SignatureKey: ds}, &Proposal{Type: ProposalRemove}, ErrUnsupportedSuite},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := NewExternalProposal(tc.p, tc.prop); !errors.Is(err, tc.want) {
				t.Fatalf("NewExternalProposal = %v, want %v", err, tc.want)
			}
		})
	}
}
