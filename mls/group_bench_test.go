package mls

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"testing"
)

// Group-level commit benchmarks, suite 1, through the public API: a
// member's Commit with an UpdatePath plus its MergeCommit ("create"),
// and another member's Process of that Commit ("process"), for groups
// of 2 to 10,000 members in two shapes:
//
//   - populated: every parent node holds a key, with valid parent
//     hashes and signed leaves, as after churn where members' commits
//     have filled their paths. Each copath resolution is one node, so a
//     path costs one HPKE encryption per level.
//   - fresh: the group was made by one Add commit, so every parent is
//     blank and the committer encrypts to every other leaf: the worst
//     case, paid once per member after a mass add.
//
// BenchmarkGroupAdd adds one member to a group of 10,000: the Commit
// with its Welcome, an existing member's Process, and the joiner's Join.
//
//	go test ./mls -run '^$' -bench 'Group(Commit|Add)' -benchmem
//
// The groups are built once per benchmark function; building the
// 10,000-member fresh group takes a few seconds.

var groupBenchSizes = []int{2, 100, 1000, 10000}

// benchPair is two members of one group: the committer at leaf 0 and a
// receiver at leaf 1, the receiver that derives the most path secrets.
type benchPair struct {
	a, b  *Group
	state []byte // b's state, restored before each Process
	kind  string
}

// seededKey derives a deterministic HPKE key pair, numbered x.
func seededKey(b *testing.B, s *suite, x uint64) *HPKEPrivateKey {
	k, err := s.deriveKeyPair(binary.BigEndian.AppendUint64(make([]byte, 24), x))
	if err != nil {
		b.Fatal(err)
	}
	return k
}

// populatedPair builds an n-member group whose every parent node holds
// a key, with parent hashes that verify and leaves signed over them.
func populatedPair(b *testing.B, n int) *benchPair {
	b.Helper()
	const cs = DefaultCipherSuite
	s, _ := cs.suite()
	groupID := []byte("bench")
	sigs := make([]*SignaturePrivateKey, n)
	leafKeys := make([]*HPKEPrivateKey, n)
	var tree *RatchetTree
	for i := range n {
		var seed [32]byte
		binary.BigEndian.PutUint64(seed[:], uint64(i))
		var err error
		if sigs[i], err = cs.GenerateSignatureKey(rand.NewChaCha8(seed)); err != nil {
			b.Fatal(err)
		}
		leafKeys[i] = seededKey(b, s, uint64(2*i))
		ln := &LeafNode{
			EncryptionKey: leafKeys[i].PublicKey(), SignatureKey: sigs[i].PublicKey(),
			Credential:   Credential{Type: CredentialBasic, Identity: fmt.Appendf(nil, "member-%d", i)},
			Capabilities: defaultCapabilities(cs, CredentialBasic), Source: LeafNodeSourceCommit,
		}
		if i == 0 {
			tree, err = NewRatchetTree(cs, ln)
		} else {
			_, err = tree.AddLeaf(ln)
		}
		if err != nil {
			b.Fatal(err)
		}
	}
	parentKeys := map[NodeIndex]*HPKEPrivateKey{}
	for x := NodeIndex(1); int(x) < len(tree.nodes); x += 2 {
		if !tree.subtreeBlank(x) {
			parentKeys[x] = seededKey(b, s, uint64(x))
			tree.setParent(x, &ParentNode{EncryptionKey: parentKeys[x].PublicKey()})
		}
	}
	stale := s.hash([]byte("stale"))
	fillParentHashes(b, tree, tree.root(), stale, sigs, groupID)
	if err := tree.Validate(TreeCheck{GroupID: groupID}); err != nil {
		b.Fatalf("synthetic tree: %v", err)
	}
	mk := func(leaf LeafIndex) *Group {
		tp, err := NewTreePrivate(cs, leaf, leafKeys[leaf])
		must(b, err)
		for _, x := range directPath(leaf.Node(), tree.NumLeaves()) {
			if k := parentKeys[x]; k != nil {
				tp.keys[x] = k
			}
		}
		return benchGroupAt(b, s, tp, sigs[leaf], tree, groupID)
	}
	return newBenchPair(b, mk(0), mk(LeafIndex(min(1, n-1))), "populated")
}

// fillParentHashes sets the parent_hash of the subtree at x (x's own is
// ph) so that each parent node is linked from its left child, as if the
// leftmost leaf under it had committed last; right children keep a
// stale value. The right subtree is final before the left child's link
// is computed over its tree hash.
func fillParentHashes(b *testing.B, t *RatchetTree, x NodeIndex, ph []byte, sigs []*SignaturePrivateKey, groupID []byte) {
	if x.IsLeaf() {
		i := LeafIndex(x / 2)
		if t.Leaf(i) == nil {
			return
		}
		ln := t.Leaf(i).clone()
		ln.ParentHash = ph
		must(b, ln.Sign(t.cs, sigs[i], groupID, i))
		t.setLeaf(i, ln)
		return
	}
	stale := t.s.hash([]byte("stale"))
	if p := t.Parent(x); p != nil {
		np := *p
		np.ParentHash = ph
		t.setParent(x, &np)
	}
	fillParentHashes(b, t, right(x), stale, sigs, groupID)
	link := stale
	if t.Parent(x) != nil {
		var err error
		link, err = t.parentHashOf(x, right(x))
		must(b, err)
	}
	fillParentHashes(b, t, left(x), link, sigs, groupID)
}

// benchGroupAt returns a member's Group in epoch 100 of a group whose
// epoch secret is fixed, so that every member built this way agrees.
func benchGroupAt(b *testing.B, s *suite, tp *TreePrivate, sig *SignaturePrivateKey, tree *RatchetTree, groupID []byte) *Group {
	secrets := new(epochSecrets)
	must(b, s.fromEpochSecret(secrets, bytes.Repeat([]byte{7}, s.hashLen())))
	gc := GroupContext{Version: ProtocolVersionMLS10, CipherSuite: s.id, GroupID: groupID, Epoch: 100,
		ConfirmedTranscriptHash: bytes.Repeat([]byte{1}, s.hashLen())}
	g := &Group{s: s, priv: tp, sigKey: sig}
	must(b, g.newEpoch(gc, tree.Clone(), secrets))
	g.interim = bytes.Repeat([]byte{2}, s.hashLen())
	return g
}

// freshPair builds an n-member group with one Add commit of n-1 key
// packages: every parent node is blank.
func freshPair(b *testing.B, n int) *benchPair {
	b.Helper()
	alice := newTestMemberTB(b, DefaultCipherSuite, "alice")
	var err error
	alice.g, err = NewGroup(Config{}, []byte("bench"), alice.kp, alice.priv, alice.sig, nil)
	must(b, err)
	var kps []*KeyPackage
	var bob *member
	for i := 1; i < n; i++ {
		m := newTestMemberTB(b, DefaultCipherSuite, fmt.Sprintf("m%d", i))
		if i == 1 {
			bob = m
		}
		kps = append(kps, m.kp)
	}
	pc, err := alice.g.Commit(CommitParams{Add: kps})
	must(b, err)
	must(b, alice.g.MergeCommit(pc))
	msg, err := ParseMLSMessage(pc.Welcome)
	must(b, err)
	bob.g, err = Join(Config{}, JoinParams{Welcome: msg.Welcome, KeyPackage: bob.kp, Private: bob.priv, SignatureKey: bob.sig})
	must(b, err)
	return newBenchPair(b, alice.g, bob.g, "fresh")
}

func newBenchPair(b *testing.B, a, r *Group, kind string) *benchPair {
	state, err := r.MarshalState()
	must(b, err)
	return &benchPair{a: a, b: r, state: state, kind: kind}
}

// restore returns a fresh copy of the receiver.
func (p *benchPair) restore(b *testing.B) *Group {
	g, err := LoadGroup(Config{}, p.state)
	must(b, err)
	return g
}

type benchShape struct {
	name  string
	build func(*testing.B, int) *benchPair
}

func benchShapes() []benchShape {
	return []benchShape{{"populated", populatedPair}, {"fresh", freshPair}}
}

func BenchmarkGroupCommit(b *testing.B) {
	for _, shape := range benchShapes() {
		for _, n := range groupBenchSizes {
			b.Run(fmt.Sprintf("%s/members=%d", shape.name, n), func(b *testing.B) {
				benchCommit(b, shape.build(b, n))
			})
		}
	}
}

func benchCommit(b *testing.B, p *benchPair) {
	// One commit for "process", made before "create" moves the
	// committer on.
	pc, err := p.a.Commit(CommitParams{ForcePath: true})
	must(b, err)
	b.Run("create", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			pc, err := p.a.Commit(CommitParams{ForcePath: true})
			if err != nil {
				b.Fatal(err)
			}
			if err := p.a.MergeCommit(pc); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("process", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			b.StopTimer()
			g := p.restore(b)
			b.StartTimer()
			if _, err := g.Process(pc.Commit); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkGroupAdd adds one member to a 10,000-member group: "commit"
// is the Commit with its Welcome (not merged, so it repeats), "process"
// an existing member's Process of it, "join" the joiner's Join, which
// validates the whole tree (a signature check per leaf).
func BenchmarkGroupAdd(b *testing.B) {
	for _, shape := range benchShapes() {
		const n = 10000
		b.Run(fmt.Sprintf("%s/members=%d", shape.name, n), func(b *testing.B) {
			benchAdd(b, shape.build(b, n))
		})
	}
}

func benchAdd(b *testing.B, p *benchPair) {
	dave := newTestMemberTB(b, DefaultCipherSuite, "dave")
	params := CommitParams{Add: []*KeyPackage{dave.kp}}
	pc, err := p.a.Commit(params)
	must(b, err)
	b.Run("commit", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := p.a.Commit(params); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("process", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			b.StopTimer()
			g := p.restore(b)
			b.StartTimer()
			if _, err := g.Process(pc.Commit); err != nil {
				b.Fatal(err)
			}
		}
	})
	msg, err := ParseMLSMessage(pc.Welcome)
	must(b, err)
	b.Run("join", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			jp := JoinParams{Welcome: msg.Welcome, KeyPackage: dave.kp, Private: dave.priv, SignatureKey: dave.sig}
			if _, err := Join(Config{}, jp); err != nil {
				b.Fatal(err)
			}
		}
	})
}
