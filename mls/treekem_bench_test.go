package mls

import (
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"testing"
)

// benchGroup is a synthetic group whose every parent node above a member
// holds a key, the steady state of a group where members commit often:
// each copath resolution is a single node, so a path costs one HPKE
// encryption per level. Parent hashes are not meaningful; the benchmarks
// exercise commit creation and processing, which recompute them for the
// new path only.
type benchGroup struct {
	tree      *RatchetTree
	committer *TreePrivate
	receiver  *TreePrivate // leaf 1: decrypts at the lowest level, derives every key
	sig       *SignaturePrivateKey
	gc        GroupContext
}

// benchGroups caches groups across the repeated runs of a benchmark.
var benchGroups = map[int]*benchGroup{}

func newBenchGroup(b *testing.B, n int) *benchGroup {
	if g := benchGroups[n]; g != nil {
		return g
	}
	s, _ := CipherSuite(1).suite()
	seedKey := func(x int) *HPKEPrivateKey {
		ikm := binary.BigEndian.AppendUint64(make([]byte, 24), uint64(x))
		k, err := s.deriveKeyPair(ikm)
		if err != nil {
			b.Fatal(err)
		}
		return k
	}
	g := &benchGroup{gc: GroupContext{Version: ProtocolVersionMLS10, CipherSuite: 1, GroupID: []byte("bench"), Epoch: 1}}
	leafKeys := make([]*HPKEPrivateKey, n)
	for i := range n {
		var seed [32]byte
		binary.BigEndian.PutUint64(seed[:], uint64(i))
		sk, err := CipherSuite(1).GenerateSignatureKey(rand.NewChaCha8(seed))
		if err != nil {
			b.Fatal(err)
		}
		if i == 0 {
			g.sig = sk
		}
		leafKeys[i] = seedKey(2 * i)
		ln := &LeafNode{
			EncryptionKey: leafKeys[i].PublicKey(), SignatureKey: sk.PublicKey(),
			Credential:   Credential{Type: CredentialBasic, Identity: fmt.Appendf(nil, "member-%d", i)},
			Capabilities: defaultCapabilities(1, CredentialBasic),
			Source:       LeafNodeSourceCommit, ParentHash: make([]byte, 32), Signature: make([]byte, 64),
		}
		if i == 0 {
			g.tree, err = NewRatchetTree(1, ln)
		} else {
			_, err = g.tree.AddLeaf(ln)
		}
		if err != nil {
			b.Fatal(err)
		}
	}
	parentKeys := map[NodeIndex]*HPKEPrivateKey{}
	for x := NodeIndex(1); int(x) < len(g.tree.nodes); x += 2 {
		if !g.tree.subtreeBlank(x) {
			parentKeys[x] = seedKey(int(x))
			g.tree.setParent(x, &ParentNode{EncryptionKey: parentKeys[x].PublicKey(), ParentHash: make([]byte, 32)})
		}
	}
	g.committer, _ = NewTreePrivate(1, 0, leafKeys[0])
	g.receiver, _ = NewTreePrivate(1, LeafIndex(min(1, n-1)), leafKeys[min(1, n-1)])
	for _, x := range directPath(g.receiver.leaf.Node(), g.tree.NumLeaves()) {
		g.receiver.keys[x] = parentKeys[x]
	}
	if _, err := g.tree.TreeHash(); err != nil {
		b.Fatal(err)
	}
	benchGroups[n] = g
	return g
}

// commit creates an UpdatePath from leaf 0 on a copy of the tree.
func (g *benchGroup) commit(b *testing.B) (*RatchetTree, *UpdatePath, []byte, *PendingPath) {
	prov := g.tree.Clone()
	pp, err := prov.PrepareUpdatePath(g.committer, PathParams{GroupID: g.gc.GroupID, SignatureKey: g.sig, Rand: testRand(1)})
	if err != nil {
		b.Fatal(err)
	}
	gc := g.gc
	if gc.TreeHash, err = prov.TreeHash(); err != nil {
		b.Fatal(err)
	}
	gcb, _ := gc.Marshal()
	up, err := pp.Encrypt(gcb, nil)
	if err != nil {
		b.Fatal(err)
	}
	return prov, up, gcb, pp
}

var benchSizes = []int{2, 100, 1000, 10000}

// BenchmarkCommitUpdatePath measures a committer building its path:
// provisional tree copy, new keys, parent hashes, signed leaf, tree hash
// and the HPKE encryptions.
func BenchmarkCommitUpdatePath(b *testing.B) {
	for _, n := range benchSizes {
		b.Run(fmt.Sprintf("leaves=%d", n), func(b *testing.B) {
			g := newBenchGroup(b, n)
			b.ResetTimer()
			for b.Loop() {
				g.commit(b)
			}
		})
	}
}

// BenchmarkProcessUpdatePath measures a member applying a received path:
// tree copy, shape and leaf checks, key uniqueness, parent hash
// verification, new tree hash, decryption and key derivation.
func BenchmarkProcessUpdatePath(b *testing.B) {
	for _, n := range benchSizes {
		b.Run(fmt.Sprintf("leaves=%d", n), func(b *testing.B) {
			g := newBenchGroup(b, n)
			_, up, gcb, pp := g.commit(b)
			b.ResetTimer()
			for b.Loop() {
				tree := g.tree.Clone()
				if err := tree.MergeUpdatePath(0, up, g.gc.GroupID, nil); err != nil {
					b.Fatal(err)
				}
				if _, err := tree.TreeHash(); err != nil {
					b.Fatal(err)
				}
				commit, err := g.receiver.Clone().DecryptUpdatePath(tree, 0, up, gcb, nil)
				if err != nil || string(commit) != string(pp.CommitSecret()) {
					b.Fatalf("decrypt: %v", err)
				}
			}
		})
	}
}

// BenchmarkTreeHashFromScratch measures parsing a tree and hashing every
// node, the one-off cost when a member joins.
func BenchmarkTreeHashFromScratch(b *testing.B) {
	for _, n := range benchSizes {
		b.Run(fmt.Sprintf("leaves=%d", n), func(b *testing.B) {
			data, err := newBenchGroup(b, n).tree.Marshal()
			if err != nil {
				b.Fatal(err)
			}
			b.ResetTimer()
			for b.Loop() {
				tree, err := ParseRatchetTree(1, data)
				if err != nil {
					b.Fatal(err)
				}
				if _, err := tree.TreeHash(); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkTreeHashAfterUpdate measures replacing one leaf and rehashing:
// only the leaf's path is recomputed, the rest comes from the cache.
func BenchmarkTreeHashAfterUpdate(b *testing.B) {
	for _, n := range benchSizes {
		b.Run(fmt.Sprintf("leaves=%d", n), func(b *testing.B) {
			g := newBenchGroup(b, n)
			tree := g.tree.Clone()
			last := LeafIndex(n - 1)
			ln := tree.Leaf(last).clone()
			b.ResetTimer()
			for b.Loop() {
				ln.Signature[0]++
				if err := tree.UpdateLeaf(last, ln); err != nil {
					b.Fatal(err)
				}
				if _, err := tree.TreeHash(); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
