package mls

import (
	"errors"
	"testing"
)

func TestExternalJoin(t *testing.T) {
	for _, cs := range []CipherSuite{1, 2, 0x004D} {
		t.Run(cs.String(), func(t *testing.T) {
			cfg := Config{AllowExternalCommits: true}
			alice, bob, carol := newTestMember(t, cs, "alice"), newTestMember(t, cs, "bob"), newTestMember(t, cs, "carol")
			var err error
			alice.g, err = NewGroup(cfg, []byte("g"), alice.kp, alice.priv, alice.sig, nil)
			must(t, err)
			pc := commitAndDeliver(t, alice, CommitParams{Add: []*KeyPackage{bob.kp}})
			bob.join(t, cfg, pc.Welcome)

			gi, err := alice.g.GroupInfo(true)
			must(t, err)
			var commit []byte
			carol.g, commit, err = JoinExternal(cfg, ExternalJoinParams{GroupInfo: gi, Credential: carol.kp.LeafNode.Credential, SignatureKey: carol.sig})
			must(t, err)
			for _, m := range []*member{alice, bob} {
				rcv, err := m.g.Process(commit)
				must(t, err)
				if len(rcv.Commit.Added) != 1 || rcv.Commit.Added[0] != carol.g.LeafIndex() {
					t.Fatalf("%s: added %v", m.name, rcv.Commit.Added)
				}
			}
			checkAgree(t, alice, bob, carol)

			// Bob lost his state: he rejoins, removing his old leaf.
			gi, err = carol.g.GroupInfo(false)
			must(t, err)
			old := bob.g.LeafIndex()
			bob2 := &member{name: "bob2", sig: bob.sig}
			bob2.g, commit, err = JoinExternal(cfg, ExternalJoinParams{GroupInfo: gi, RatchetTree: carol.g.Tree(),
				Credential: bob.kp.LeafNode.Credential, SignatureKey: bob.sig, Resync: &old})
			must(t, err)
			for _, m := range []*member{alice, carol} {
				rcv, err := m.g.Process(commit)
				must(t, err)
				if len(rcv.Commit.Removed) != 1 || rcv.Commit.Removed[0] != old {
					t.Fatalf("%s: removed %v", m.name, rcv.Commit.Removed)
				}
			}
			checkAgree(t, alice, bob2, carol)
		})
	}
}

func TestExternalJoinRejected(t *testing.T) {
	alice, bob, carol := newTestMember(t, 1, "alice"), newTestMember(t, 1, "bob"), newTestMember(t, 1, "carol")
	var err error
	alice.g, err = NewGroup(Config{}, []byte("g"), alice.kp, alice.priv, alice.sig, nil)
	must(t, err)
	pc := commitAndDeliver(t, alice, CommitParams{Add: []*KeyPackage{bob.kp}})
	bob.join(t, Config{}, pc.Welcome)
	gi, err := alice.g.GroupInfo(true)
	must(t, err)
	_, commit, err := JoinExternal(Config{}, ExternalJoinParams{GroupInfo: gi, Credential: carol.kp.LeafNode.Credential, SignatureKey: carol.sig})
	must(t, err)
	if _, err := alice.g.Process(commit); !errors.Is(err, ErrInvalidContent) {
		t.Fatalf("external commit without permission: got %v", err)
	}
	// Resyncing someone else's leaf is refused.
	other := bob.g.LeafIndex()
	_, commit, err = JoinExternal(Config{}, ExternalJoinParams{GroupInfo: gi, Credential: carol.kp.LeafNode.Credential, SignatureKey: carol.sig, Resync: &other})
	must(t, err)
	alice.g.cfg.AllowExternalCommits = true
	if _, err := alice.g.Process(commit); !errors.Is(err, ErrInvalidProposal) {
		t.Fatalf("resync of another client: got %v", err)
	}
	gi.GroupContext.Epoch++
	if _, _, err := JoinExternal(Config{}, ExternalJoinParams{GroupInfo: gi, Credential: carol.kp.LeafNode.Credential, SignatureKey: carol.sig}); !errors.Is(err, ErrBadSignature) {
		t.Fatalf("tampered group info: got %v", err)
	}
}
