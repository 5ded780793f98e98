package mls

import (
	"math/rand/v2"
	"slices"
	"testing"
)

// simMember is one member's private view in the TreeKEM simulation.
type simMember struct {
	priv *TreePrivate
	sig  *SignaturePrivateKey
}

// simGroup drives a group through random epochs of adds, removes,
// updates and path commits, checking after each one that every member
// derives the same commit secret, that every private state matches the
// tree, and that the tree passes full validation (leaf signatures,
// unmerged leaves, parent hashes).
type simGroup struct {
	t       *testing.T
	cs      CipherSuite
	gid     []byte
	epoch   uint64
	tree    *RatchetTree
	members map[LeafIndex]*simMember
	rnd     *rand.Rand    // choices
	keys    *rand.ChaCha8 // key material
	seed    byte
	added   map[LeafIndex]*LeafNode // this epoch's Add proposals
}

func TestTreeKEMSimulation(t *testing.T) {
	for _, cs := range testSuites {
		t.Run(cs.String(), func(t *testing.T) {
			g := newSimGroup(t, cs)
			for range 24 {
				g.runEpoch()
			}
			t.Logf("%d members in %d leaves after %d epochs", len(g.members), g.tree.NumLeaves(), g.epoch)
		})
	}
}

func newSimGroup(t *testing.T, cs CipherSuite) *simGroup {
	g := &simGroup{t: t, cs: cs, gid: []byte("sim"), members: map[LeafIndex]*simMember{}, rnd: rand.New(rand.NewPCG(uint64(cs), 1)), keys: rand.NewChaCha8([32]byte{1: 0xff, 2: byte(cs)})}
	kp, kpPriv, sig := g.newKeyPackage()
	tree, err := NewRatchetTree(cs, &kp.LeafNode)
	if err != nil {
		t.Fatal(err)
	}
	g.tree = tree
	priv, _ := NewTreePrivate(cs, 0, kpPriv.EncryptionKey)
	g.members[0] = &simMember{priv: priv, sig: sig}
	return g
}

func (g *simGroup) newKeyPackage() (*KeyPackage, *KeyPackagePrivate, *SignaturePrivateKey) {
	g.seed++
	return newTestKeyPackage(g.t, g.cs, g.seed)
}

// runEpoch picks a committer and proposals, commits with a path, and has
// every member follow.
func (g *simGroup) runEpoch() {
	t := g.t
	leaves := g.leaves()
	committer := leaves[g.rnd.IntN(len(leaves))]
	prov := g.tree.Clone()
	updated := g.proposeUpdate(prov, leaves, committer)
	removed := g.proposeRemove(prov, leaves, committer, updated)
	joiners, joinerPriv := g.proposeAdds(prov)
	for _, m := range g.members {
		m.priv.Prune(prov)
	}
	pp, err := prov.PrepareUpdatePath(g.members[committer].priv, PathParams{GroupID: g.gid, SignatureKey: g.members[committer].sig, Rand: g.keys})
	if err != nil {
		t.Fatalf("epoch %d: prepare: %v", g.epoch, err)
	}
	gc := g.groupContext(prov)
	up, err := pp.Encrypt(gc, joiners)
	if err != nil {
		t.Fatal(err)
	}
	merged := g.tree.Clone()
	g.replay(merged, updated, removed, joiners)
	if err := merged.MergeUpdatePath(committer, up, g.gid, joiners); err != nil {
		t.Fatalf("epoch %d: merge: %v", g.epoch, err)
	}
	g.followers(merged, committer, removed, joiners, up, gc, pp)
	g.members[committer].priv = pp.Private()
	for i, m := range joinerPriv {
		_, ps, _ := pp.PathSecretFor(i)
		commit, err := m.priv.SetWelcomePathSecret(merged, committer, ps)
		if err != nil || string(commit) != string(pp.CommitSecret()) {
			t.Fatalf("epoch %d: joiner %d: %v", g.epoch, i, err)
		}
		g.members[i] = m
	}
	g.tree = merged
	g.epoch++
	g.check()
}

func (g *simGroup) leaves() []LeafIndex {
	var out []LeafIndex
	for i := range g.members {
		out = append(out, i)
	}
	slices.Sort(out)
	return out
}

// proposeUpdate has one other member, sometimes, replace its leaf.
func (g *simGroup) proposeUpdate(prov *RatchetTree, leaves []LeafIndex, committer LeafIndex) *updateProp {
	if len(leaves) < 3 || g.rnd.IntN(3) != 0 {
		return nil
	}
	i := leaves[g.rnd.IntN(len(leaves))]
	if i == committer {
		return nil
	}
	m := g.members[i]
	ln, k, err := NewUpdateLeaf(g.cs, prov.Leaf(i), m.sig, g.gid, i, g.keys)
	if err != nil {
		g.t.Fatal(err)
	}
	if err := prov.CheckUpdateLeaf(i, ln); err != nil {
		g.t.Fatal(err)
	}
	if err := prov.UpdateLeaf(i, ln); err != nil {
		g.t.Fatal(err)
	}
	m.priv.SetLeafKey(k)
	return &updateProp{leaf: i, node: ln}
}

type updateProp struct {
	leaf LeafIndex
	node *LeafNode
}

// proposeRemove sometimes removes one member other than the committer
// and the updater.
func (g *simGroup) proposeRemove(prov *RatchetTree, leaves []LeafIndex, committer LeafIndex, up *updateProp) []LeafIndex {
	if len(leaves) < 4 || g.rnd.IntN(2) != 0 {
		return nil
	}
	i := leaves[g.rnd.IntN(len(leaves))]
	if i == committer || (up != nil && up.leaf == i) {
		return nil
	}
	if err := prov.RemoveLeaf(i); err != nil {
		g.t.Fatal(err)
	}
	delete(g.members, i)
	return []LeafIndex{i}
}

// proposeAdds adds zero to three members.
func (g *simGroup) proposeAdds(prov *RatchetTree) ([]LeafIndex, map[LeafIndex]*simMember) {
	var joiners []LeafIndex
	privs := map[LeafIndex]*simMember{}
	g.added = map[LeafIndex]*LeafNode{}
	for range g.rnd.IntN(4) {
		kp, kpPriv, sig := g.newKeyPackage()
		if err := prov.CheckAddLeaf(&kp.LeafNode); err != nil {
			g.t.Fatal(err)
		}
		i, err := prov.AddLeaf(&kp.LeafNode)
		if err != nil {
			g.t.Fatal(err)
		}
		priv, _ := NewTreePrivate(g.cs, i, kpPriv.EncryptionKey)
		g.added[i] = &kp.LeafNode
		joiners = append(joiners, i)
		privs[i] = &simMember{priv: priv, sig: sig}
	}
	return joiners, privs
}

// replay applies the epoch's proposals to a member's copy of the tree, in
// RFC 9420 order (update, remove, add).
func (g *simGroup) replay(tree *RatchetTree, up *updateProp, removed, joiners []LeafIndex) {
	if up != nil {
		if err := tree.UpdateLeaf(up.leaf, up.node); err != nil {
			g.t.Fatal(err)
		}
	}
	for _, i := range removed {
		if err := tree.RemoveLeaf(i); err != nil {
			g.t.Fatal(err)
		}
	}
	for _, i := range joiners {
		if got, err := tree.AddLeaf(g.added[i]); err != nil || got != i {
			g.t.Fatalf("replayed add at %d, want %d (%v)", got, i, err)
		}
	}
}

func (g *simGroup) groupContext(tree *RatchetTree) []byte {
	th, err := tree.TreeHash()
	if err != nil {
		g.t.Fatal(err)
	}
	gc := GroupContext{Version: ProtocolVersionMLS10, CipherSuite: g.cs, GroupID: g.gid, Epoch: g.epoch, TreeHash: th}
	b, _ := gc.Marshal()
	return b
}

// followers has every existing member other than the committer decrypt.
func (g *simGroup) followers(merged *RatchetTree, committer LeafIndex, removed, joiners []LeafIndex, up *UpdatePath, gc []byte, pp *PendingPath) {
	for i, m := range g.members {
		if i == committer {
			continue
		}
		commit, err := m.priv.DecryptUpdatePath(merged, committer, up, gc, joiners)
		if err != nil || string(commit) != string(pp.CommitSecret()) {
			g.t.Fatalf("epoch %d: member %d: %v", g.epoch, i, err)
		}
	}
}

// check validates the tree and every member's private state.
func (g *simGroup) check() {
	if err := g.tree.Validate(TreeCheck{GroupID: g.gid}); err != nil {
		g.t.Fatalf("epoch %d: tree: %v", g.epoch, err)
	}
	for i, m := range g.members {
		if err := m.priv.CheckTree(g.tree); err != nil {
			g.t.Fatalf("epoch %d: member %d: %v", g.epoch, i, err)
		}
		if g.tree.Leaf(i) == nil {
			g.t.Fatalf("epoch %d: member %d has a blank leaf", g.epoch, i)
		}
	}
}
